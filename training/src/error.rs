use std::path::PathBuf;

/// A config value that is not allowed: its key as the TOML spells it (`data.patch_size`,
/// `layers[1].em.init`, `model.exclude_dc`) and why. Every config check returns this one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key; empty when the text does not parse at all (the reason then says where).
    pub key: String,
    /// What is wrong and what to write instead.
    pub reason: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { key: key.into(), reason: reason.into() }
    }

    /// The same error with its key inside the table `prefix` (`em` + `init` → `em.init`).
    pub fn under(self, prefix: &str) -> Self {
        let key = match self.key.is_empty() {
            true => prefix.to_string(),
            false => format!("{prefix}.{}", self.key),
        };
        Self { key, ..self }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.is_empty() {
            true => f.write_str(&self.reason),
            false => write!(f, "{}: {}", self.key, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<gmm_models::ModelError> for ConfigError {
    /// A layer's own check: `InvalidConfig` names its field; anything else is about the model.
    fn from(e: gmm_models::ModelError) -> Self {
        match e {
            gmm_models::ModelError::InvalidConfig { field, reason } => Self::new(field, reason),
            other => Self::new("model", other.to_string()),
        }
    }
}

/// What can stop a run. Each message names the file, key or value and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A config file that does not parse or validate.
    #[error("config {path}: {error}")]
    Config {
        /// The file (or the run's name, for a config that came from no file).
        path: PathBuf,
        /// The key and what is wrong with it.
        error: ConfigError,
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
    /// Reading or writing a run file failed, or a run folder holds something unusable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A computation that cannot go on (diverged, degenerate), not about any one file.
    #[error("{0}")]
    Failed(String),
}

impl TrainError {
    /// A `File` error about `path`.
    pub fn file(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::File { path: path.to_path_buf(), reason: reason.to_string() }
    }
}
