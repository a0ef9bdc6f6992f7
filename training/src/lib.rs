//! The engine: the one EM driver, the layer families and their one dispatch point, run
//! configs, checkpoints, features of a stack, run folders (model, metrics, pictures).
//!
//! Dependencies flow one way: applications (`gmm-experiments`, the binary) → this crate →
//! `gmm-models`, `gmm-datasets`. ARCHITECTURE.md maps the crates and follows one config value
//! from the TOML file to the E-step.

#[macro_use]
pub mod family;
pub mod cluster;
pub mod config;
pub mod data;
pub mod em;
pub mod encode;
mod error;
pub mod features;
pub mod fsio;
pub mod progress;
pub mod report;
pub mod run;
pub mod tables;

pub use config::{BsdsData, DataConfig, MnistData, OutputConfig, RunConfig, StackLayer};
pub use em::{Annealing, EmConfig, FitReport, IterationRecord, Stepwise, fit};
pub use error::{ConfigError, TrainError};
pub use family::{
    DeepLayerConfig, Family, FamilyConfig, GaussianMixture, KINDS, Kind, Layer, LayerConfig,
    LayerInput, TrainedStart,
};
pub use features::Feature;
pub use progress::Progress;
pub use report::{labels, layer_pictures, metrics, pictures, top, views};
pub use run::evaluate::{evaluate_run, score_run, score_run_symmetric};
pub use run::saved_layer::SavedLayer;
pub use run::train_run;
pub use run::{
    RunOptions, RunOutcome, checkpoint, claim, clock, evaluate, folder, sizes, stages, start,
};
