use std::path::{Path, PathBuf};

/// Environment variable naming the data root, used when no `--data-dir` is given.
pub const DATA_DIR_ENV: &str = "GMM_ZOO_DATA";

/// The small data root shipped in the repository, relative to the repository root.
pub const SAMPLE_DATA_DIR: &str = "data/sample";

/// Picks the data root: an explicit directory first, then [`DATA_DIR_ENV`], then the shipped
/// sample ([`sample_data_root`]).
pub fn resolve_data_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    sample_data_root()
}

/// The sample data, carried inside the binary ([`crate::bundle`]).
#[derive(rust_embed::Embed)]
#[folder = "../data/sample/"]
struct SampleData;

/// The shipped sample data: `data/sample` here (a source tree), else the copy this binary
/// carries, unpacked once into the user data folder ([`crate::bundle::unpacked`]).
pub fn sample_data_root() -> PathBuf {
    let local = PathBuf::from(SAMPLE_DATA_DIR);
    if local.is_dir() {
        return local;
    }
    let files = SampleData::iter().filter_map(|p| SampleData::get(&p).map(|f| (p, f.data)));
    crate::bundle::unpacked("sample", files).unwrap_or_else(|reason| {
        eprintln!("warning: the shipped sample data could not be unpacked: {reason}");
        local
    })
}
