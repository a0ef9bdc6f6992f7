use std::path::PathBuf;

/// What can stop a run. Each message names the file, key or value and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A config file that does not parse or validate.
    #[error("config {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (serde's message names the key).
        reason: String,
    },
    /// Reading the data failed.
    #[error(transparent)]
    Data(#[from] gmm_datasets::DataError),
    /// A layer refused its input or parameters.
    #[error(transparent)]
    Model(#[from] gmm_models::ModelError),
    /// Training was interrupted (Ctrl-C) after a checkpoint was written.
    #[error(
        "interrupted after iteration {iteration}; checkpoint written to {checkpoint}; continue with --resume"
    )]
    Interrupted {
        /// The last finished iteration.
        iteration: usize,
        /// The checkpoint file.
        checkpoint: PathBuf,
    },
    /// Reading or writing a run file failed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl TrainError {
    pub(crate) fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::File { path: path.to_path_buf(), reason: reason.to_string() }
    }
}
