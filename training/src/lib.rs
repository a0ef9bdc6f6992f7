//! Training: the one EM driver, run configs, run folders (model, metrics, pictures).
//!
//! Dependencies flow one way: the binary → this crate → `gmm-models`, `gmm-datasets`.

pub mod checkpoint;
pub mod classify;
pub mod config;
pub mod data;
pub mod discriminative;
pub mod em;
mod error;
pub mod features;
pub mod fsio;
pub mod inspect;
pub mod labels;
pub mod layer;
pub mod metrics;
pub mod pictures;
pub mod progress;
pub mod run;
pub mod sampling;
pub mod top;
pub mod topdown;
pub mod zoo;

pub use config::{BsdsData, DataConfig, MnistData, OutputConfig, RunConfig};
pub use em::{Annealing, EmConfig, FitReport, IterationRecord, fit};
pub use error::TrainError;
pub use features::Feature;
pub use layer::{Layer, LayerConfig, SavedLayer, StackLayer};
pub use progress::Progress;
pub use run::{RunOptions, RunOutcome, evaluate_run, train_run};
