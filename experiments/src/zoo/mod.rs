//! The zoo: trained run folders shipped in `checkpoints/<name>/`, the manifest that describes
//! them (`checkpoints/manifest.toml`: name, config, data, metrics, file checksums), the check
//! that every shipped checkpoint still loads and reproduces its recorded test score, and the
//! README's results table, rendered from the manifest.
//!
//! Every config of the repository has a manifest entry; `shipped = false` marks one whose trained
//! model is too large for the repository (its figures are still recorded and tabled).

mod add;
mod symmetric;
mod table;
mod verify;

pub use add::{AddRequest, Added, RunFiles, add, this_machine};
pub use symmetric::{SymmetricEntry, record_symmetric};
pub use table::{TABLE_BEGIN, TABLE_END, render_table, splice_table};
pub use verify::{
    ACCURACY_TOLERANCE, SCORE_TOLERANCE, Verdict, checksum, data_fingerprint, verify_entry,
};

use gmm_training::TrainError;
use gmm_training::fsio;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name inside the checkpoints folder.
pub const MANIFEST: &str = "manifest.toml";
/// The largest checkpoint (all its files) `add` copies into the repository, bytes.
pub const MAX_SHIPPED_BYTES: u64 = 8 << 20;

/// `checkpoints/manifest.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// One entry per trained config, in table order.
    #[serde(default, rename = "model")]
    pub models: Vec<Entry>,
}

/// One trained config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The run's name (its config's `name`; the checkpoint folder's name).
    pub name: String,
    /// The config it was trained from, relative to the repository root.
    pub config: String,
    /// The dataset and its size, e.g. `mnist 60000/10000`.
    pub data: String,
    /// Which data it was trained on: `sample` (shipped in `data/sample`) or `full`.
    pub data_root: String,
    /// xxh3-128 of the test split it was scored on (shape and f32 pixels), hex: the check
    /// reproduces the test figure only on the same test data.
    pub test_data: String,
    /// Whether the run folder is in `checkpoints/<name>/`.
    pub shipped: bool,
    /// The machine and device that trained it.
    pub machine: String,
    /// Wall time of the whole run (training and scoring), seconds.
    pub wall_seconds: f64,
    /// Test accuracy of a classification run (per-class models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// How far `zoo verify` lets this entry's recomputed test figure be from the recorded one
    /// where [`SCORE_TOLERANCE`] is too tight for it: a figure so sensitive to f32 rounding
    /// that CPUs whose gemm kernels sum in another order (AVX-512 or AVX2) move it by more.
    /// Set by hand, with the measured spread, in the manifest; `zoo add` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Each layer's figures, bottom up (one per class model is not kept: a classification
    /// run records its accuracy and its model's description here as one layer).
    #[serde(default)]
    pub layers: Vec<LayerEntry>,
    /// The model's figures averaged over symmetries of its patches (`zoo symmetric`; a
    /// re-recorded model drops them until they are measured again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetric: Option<SymmetricEntry>,
    /// Every shipped file, relative to the checkpoint folder: its xxh3-128, hex.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// One layer's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerEntry {
    /// Family: `conv`, `full`, `prob`.
    pub kind: String,
    /// The feature taken from the layer below (absent for the first layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Components configured.
    pub configured_components: usize,
    /// Components alive after training.
    pub components: usize,
    /// EM iterations run.
    pub iterations: usize,
    /// Values per sample the densities are over (pixels, or K of the layer below).
    pub dims: usize,
    /// Mean train log-likelihood, nats/sample.
    pub train_nats: f64,
    /// Mean validation log-likelihood (`[data] n_valid`), nats/sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_nats: Option<f64>,
    /// Its standard error over the validation rows, `s/√N` (nats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_standard_error: Option<f64>,
    /// Validation samples scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_n: Option<usize>,
    /// Mean test log-likelihood, nats/sample.
    pub test_nats: f64,
    /// Its standard error over the test rows, `s/√N` (nats); absent for a classifier's
    /// own-class figure (a mean of class means) and in entries recorded before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_standard_error: Option<f64>,
    /// Test samples scored (the check only compares against the same test set).
    pub test_n: usize,
    /// Purity of the MAP assignments (MNIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purity: Option<f64>,
    /// NMI of the MAP assignments (MNIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nmi: Option<f64>,
}

impl LayerEntry {
    fn bits(nats: f64, dims: usize) -> f64 {
        -nats / (dims as f64 * std::f64::consts::LN_2)
    }

    /// The validation figure to two decimals with its standard error, `—` without one.
    pub fn valid_with_error(&self) -> String {
        match (self.valid_nats, self.valid_standard_error) {
            (Some(v), Some(se)) => format!("{v:.2} ± {se:.2}"),
            (Some(v), None) => format!("{v:.2}"),
            (None, _) => "—".into(),
        }
    }

    /// The test figure to two decimals, `± its standard error` where recorded.
    pub fn test_with_error(&self) -> String {
        match self.test_standard_error {
            Some(se) => format!("{:.2} ± {se:.2}", self.test_nats),
            None => format!("{:.2}", self.test_nats),
        }
    }
}

/// The shipped checkpoints, carried inside the binary ([`gmm_datasets::bundle`]).
#[derive(rust_embed::Embed)]
#[folder = "../checkpoints/"]
struct Shipped;

/// The variable naming a checkpoints folder to use instead of the shipped one.
pub const CHECKPOINTS_ENV: &str = "GMM_ZOO_CHECKPOINTS";

/// A checkpoints folder that is a source tree's (and so may be written to): `$GMM_ZOO_CHECKPOINTS`,
/// else `checkpoints/` in the working directory when it holds a manifest.
pub fn source_checkpoints_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CHECKPOINTS_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let here = PathBuf::from("checkpoints");
    here.join(MANIFEST).is_file().then_some(here)
}

/// The checkpoints folder: [`source_checkpoints_dir`], else the checkpoints this binary
/// carries, unpacked once into the user data folder ([`gmm_datasets::bundle::unpacked`]).
pub fn checkpoints_dir() -> PathBuf {
    if let Some(dir) = source_checkpoints_dir() {
        return dir;
    }
    let files = Shipped::iter().filter_map(|p| Shipped::get(&p).map(|f| (p, f.data)));
    gmm_datasets::bundle::unpacked("checkpoints", files).unwrap_or_else(|reason| {
        eprintln!("warning: the shipped checkpoints could not be unpacked: {reason}");
        PathBuf::from("checkpoints")
    })
}

/// The checkpoints folder that `zoo add` and `zoo verify --record-errors` write to: a source
/// tree's, never the unpacked copy of the binary's own.
pub fn writable_checkpoints_dir() -> Result<PathBuf, TrainError> {
    source_checkpoints_dir().ok_or_else(|| {
        TrainError::file(
            Path::new("checkpoints"),
            format!(
                "no checkpoints/manifest.toml in the working directory: the zoo is written in a \
                 source tree's checkpoints/ (run this in the clone), or in the folder \
                 ${CHECKPOINTS_ENV} names"
            ),
        )
    })
}

/// A run folder given on the command line: the folder itself, or a shipped checkpoint's name.
pub fn resolve_run(arg: &Path) -> Result<PathBuf, TrainError> {
    if arg.is_dir() {
        return Ok(arg.to_path_buf());
    }
    let dir = checkpoints_dir();
    let named = dir.join(arg);
    if arg.components().count() == 1 && named.join("config.toml").is_file() {
        return Ok(named);
    }
    let shipped = Manifest::load(&dir)
        .map(|m| m.models.iter().filter(|e| e.shipped).map(|e| e.name.clone()).collect::<Vec<_>>())
        .unwrap_or_default();
    Err(TrainError::file(
        arg,
        format!(
            "no such run folder, nor a shipped checkpoint of that name in {} (shipped: {})",
            dir.display(),
            if shipped.is_empty() { "none".into() } else { shipped.join(", ") }
        ),
    ))
}

impl Manifest {
    /// Reads `<dir>/manifest.toml`.
    pub fn load(dir: &Path) -> Result<Self, TrainError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| TrainError::file(&path, format!("cannot read: {e}")))?;
        toml::from_str(&text)
            .map_err(|e| TrainError::file(&path, gmm_training::config::toml_error(&text, &e)))
    }

    /// Writes `<dir>/manifest.toml` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let path = dir.join(MANIFEST);
        let body = toml::to_string(self).map_err(|e| TrainError::file(&path, e))?;
        let text = format!(
            "# The zoo's trained models. Written by `gmmzoo zoo add`; checked by `gmmzoo zoo \
             verify`;\n# tabled by `gmmzoo zoo table`. Do not edit the checksums by hand.\n\n{body}"
        );
        fsio::write_atomic(&path, text.as_bytes())
    }

    /// Adds or replaces the entry of the same name, keeping the order.
    pub fn upsert(&mut self, entry: Entry) {
        match self.models.iter_mut().find(|e| e.name == entry.name) {
            Some(e) => *e = entry,
            None => self.models.push(entry),
        }
    }
}

/// A test accuracy in per cent with its binomial standard error `√(p(1 − p)/N)` over the
/// `N` test rows of `layer`.
pub fn accuracy_with_error(accuracy: f64, layer: Option<&LayerEntry>) -> String {
    match layer.map(|l| l.test_n).filter(|&n| n > 0) {
        Some(n) => {
            let se = crate::classify::accuracy_standard_error(accuracy, n);
            format!("{:.2} ± {:.2}%", 100.0 * accuracy, 100.0 * se)
        }
        None => format!("{:.2}%", 100.0 * accuracy),
    }
}

impl Entry {
    /// Sets each layer's `test_standard_error` from `errors` (bottom up, as `zoo verify`
    /// measures them), skipping those not measured (NaN); returns how many it set.
    pub fn record_standard_errors(&mut self, errors: &[f64]) -> usize {
        let measured = self.layers.iter_mut().zip(errors).filter(|(_, se)| se.is_finite());
        measured.map(|(layer, se)| layer.test_standard_error = Some(*se)).count()
    }

    /// One line of `gmmzoo zoo list`: name, data, recorded figure, and where it is.
    pub fn list_line(&self, checkpoints: &Path) -> String {
        let test = self.layers.last().map_or("NaN".into(), |l| l.test_with_error());
        let figure = match self.accuracy {
            Some(a) => format!("accuracy {}", accuracy_with_error(a, self.layers.last())),
            None => format!("test {test} nats"),
        };
        let place = match self.shipped {
            true => checkpoints.join(&self.name).display().to_string(),
            false => "not shipped".into(),
        };
        format!("{:<20} {:<44} {figure:<22} {place}", self.name, self.data)
    }
}
