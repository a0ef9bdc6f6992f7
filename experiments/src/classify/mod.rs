//! Per-class models as a generative classifier: one model per digit class, decisions by the
//! largest `log p(x | class) + log p(class)`.

mod config;
mod figures;
mod labelled;
mod pictures;
mod score;
mod train;

pub use config::single_layer;
pub use figures::{ClassFigures, ClassifyReport, accuracy_standard_error, decide};
pub use labelled::Labelled;
pub use score::{class_log_likelihoods, evaluate_classifier, score_classifier};
pub use train::{classify_run, write_classifier};
