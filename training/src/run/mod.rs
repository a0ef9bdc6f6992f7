//! A run: its data loaded once, its layers started (`start.rs`, the one place that decides how a
//! layer begins), fitted and saved bottom up (`train.rs`, `layer_job.rs`) into a run folder
//! claimed by one process (`claim.rs`), with checkpoints to resume from, staged configs
//! (`stages.rs`), the ranks of a data-parallel job (`ranks.rs`), and a finished run scored again
//! (`evaluate.rs`).

pub mod checkpoint;
pub mod claim;
pub mod clock;
pub mod evaluate;
pub mod folder;
mod layer_job;
mod options;
mod ranks;
mod rows;
pub mod saved_layer;
pub mod sizes;
pub mod stages;
pub mod start;
mod train;

pub use options::{RunOptions, RunOutcome};
pub use train::train_run;
