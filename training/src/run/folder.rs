//! Run folders: where each layer's files go, and the writes every run, report and picture
//! shares (atomic, with the file named in every error).

pub use crate::fsio::write_png;
use crate::{TrainError, fsio};
use std::path::{Path, PathBuf};

/// The folder of layer `i` of a stack of `n` (the run folder itself for a single layer).
pub fn layer_dir(run: &Path, i: usize, n: usize) -> PathBuf {
    if n == 1 { run.to_path_buf() } else { run.join(format!("layer{i}")) }
}

/// Creates a folder and its parents.
pub fn create_dir(dir: &Path) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TrainError::file(dir, format!("cannot create the folder: {e}")))
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let json = serde_json::to_string_pretty(value).map_err(|e| TrainError::file(path, e))?;
    fsio::write_atomic(path, json.as_bytes())
}

/// Reads a JSON file written by [`write_json`].
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    serde_json::from_slice(&fsio::read(path)?).map_err(|e| TrainError::file(path, e))
}

/// Writes a value as TOML (a run's `config.toml`), atomically.
pub fn write_toml<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let text = toml::to_string(value).map_err(|e| TrainError::file(path, e))?;
    fsio::write_atomic(path, text.as_bytes())
}
