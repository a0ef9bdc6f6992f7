use std::path::{Path, PathBuf};

/// Environment variable naming the data root, used when no `--data-dir` is given.
pub const DATA_DIR_ENV: &str = "GMM_ZOO_DATA";

/// The small data root shipped in the repository, relative to the repository root.
pub const SAMPLE_DATA_DIR: &str = "data/sample";

/// Picks the data root: an explicit directory first, then [`DATA_DIR_ENV`], then the shipped
/// sample (found relative to the working directory, or to this crate's workspace when run
/// from elsewhere, e.g. by `cargo test`).
pub fn resolve_data_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    sample_data_root()
}

/// The shipped sample data: `data/sample` here, else the one of this crate's workspace.
pub fn sample_data_root() -> PathBuf {
    let local = PathBuf::from(SAMPLE_DATA_DIR);
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(SAMPLE_DATA_DIR)
}
