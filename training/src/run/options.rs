//! What a run is told (where it reads and writes, on which device) and what it hands back.

use crate::report::metrics::Metrics;
use crate::{Layer, Progress};
use gmm_models::Device;
use std::path::PathBuf;

/// Where a run reads and writes, and on which device it computes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Data root (`mnist/`, `bsds300/` under it).
    pub data_root: PathBuf,
    /// The run folder.
    pub out_dir: PathBuf,
    /// The Burn device.
    pub device: Device,
    /// Name of the device, for the metrics.
    pub device_name: String,
    /// Log lines and progress bars.
    pub progress: Progress,
    /// Continue from the run folder's checkpoint instead of starting afresh.
    pub resume: bool,
}

/// What a finished run hands back.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The metrics of every layer, bottom up (also written to the run folder).
    pub metrics: Vec<Metrics>,
    /// The trained layers, bottom up.
    pub layers: Vec<Layer>,
    /// Wall time of the whole run, seconds.
    pub total_seconds: f64,
    /// The run folder.
    pub out_dir: PathBuf,
}

impl std::fmt::Display for RunOutcome {
    /// Every layer's figures, then the wall time and the run folder.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for m in &self.metrics {
            match self.metrics.len() {
                1 => writeln!(f, "{}: {m}", m.name)?,
                _ => writeln!(f, "{} layer {}: {m}", m.name, m.layer)?,
            }
        }
        write!(f, "{:.1} s in all; run folder {}", self.total_seconds, self.out_dir.display())
    }
}
