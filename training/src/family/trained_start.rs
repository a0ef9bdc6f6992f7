//! A trained model a layer's config names to start from.

use std::path::{Path, PathBuf};

/// A trained model a layer's config names to start its parameters from: a layer folder (a
/// run's, or a shipped checkpoint's), read when training starts (relative paths from the
/// working directory, as a stack's `reuse`), never again.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainedStart {
    /// `first_layer`: a full GMM whose components become a deep GMM's layer-1 nodes.
    FirstLayer(PathBuf),
    /// `widen_from`: a narrower deep GMM whose nodes a wider one copies.
    WidenFrom(PathBuf),
}

impl TrainedStart {
    /// The config key that names it.
    pub fn key(&self) -> &'static str {
        match self {
            TrainedStart::FirstLayer(_) => "first_layer",
            TrainedStart::WidenFrom(_) => "widen_from",
        }
    }

    /// The layer folder.
    pub fn dir(&self) -> &Path {
        match self {
            TrainedStart::FirstLayer(dir) | TrainedStart::WidenFrom(dir) => dir,
        }
    }
}
