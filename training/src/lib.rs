//! The engine: the one EM driver, the layer families and their one dispatch point, run
//! configs, checkpoints, features of a stack, run folders (model, metrics, pictures).
//!
//! Dependencies flow one way: applications (`gmm-experiments`, the binary) → this crate →
//! `gmm-models`, `gmm-datasets`. ARCHITECTURE.md maps the crates and follows one config value
//! from the TOML file to the E-step.

#[macro_use]
pub mod family;
pub mod checkpoint;
pub mod claim;
pub mod cluster;
pub mod config;
pub mod data;
pub mod em;
mod em_config;
mod error;
pub mod features;
pub mod folder;
pub mod fsio;
pub mod inspect;
pub mod labels;
pub mod layer;
mod layer_job;
pub mod layer_pictures;
pub mod metrics;
pub mod pictures;
pub mod progress;
pub mod restarts;
pub mod run;
pub mod score;
pub mod sizes;
pub mod stages;
pub mod start;
pub mod top;

pub use config::{BsdsData, DataConfig, MnistData, OutputConfig, RunConfig};
pub use em::{Annealing, EmConfig, FitReport, IterationRecord, fit};
pub use error::{ConfigError, TrainError};
pub use family::{DeepLayerConfig, Family, FamilyConfig, KINDS, Layer, LayerConfig, LayerInput};
pub use features::Feature;
pub use layer::{SavedLayer, StackLayer};
pub use progress::Progress;
pub use run::{RunOptions, RunOutcome, train_run};
pub use score::{evaluate_run, score_run};
pub use start::TrainedStart;
