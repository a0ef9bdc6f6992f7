//! The zoo: trained run folders shipped in `checkpoints/<name>/`, the manifest that describes
//! them (`checkpoints/manifest.toml`: name, config, data, metrics, file checksums), the check
//! that every shipped checkpoint still loads and reproduces its recorded test score, and the
//! README's results table, rendered from the manifest.
//!
//! Every config of the repository has a manifest entry; `shipped = false` marks one whose trained
//! model is too large for the repository (its figures are still recorded and tabled).

use crate::classify::{ClassifyReport, evaluate_classifier};
use crate::config::{DataConfig, RunConfig, Split};
use crate::data::load_split;
use crate::metrics::{Metrics, StackMetrics};
use crate::run::{RunOptions, evaluate_run, layer_dir};
use crate::{SavedLayer, TrainError, fsio};
use gmm_datasets::{Images, sample_data_root};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_128;

/// The manifest's file name inside the checkpoints folder.
pub const MANIFEST: &str = "manifest.toml";
/// The largest checkpoint (all its files) `add` copies into the repository, bytes.
pub const MAX_SHIPPED_BYTES: u64 = 8 << 20;
/// How far a recomputed mean test log-likelihood may be from the recorded one, nats/sample.
pub const SCORE_TOLERANCE: f64 = 1e-3;
/// How far a recomputed test accuracy may be from the recorded one (one digit in 5,000).
pub const ACCURACY_TOLERANCE: f64 = 2e-4;
/// The README's table sits between these two lines.
pub const TABLE_BEGIN: &str = "<!-- zoo-table:begin (gmmzoo zoo table --write README.md) -->";
/// See [`TABLE_BEGIN`].
pub const TABLE_END: &str = "<!-- zoo-table:end -->";

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
    /// Each layer's figures, bottom up (one per class model is not kept: a classification
    /// run records its accuracy and its model's description here as one layer).
    #[serde(default)]
    pub layers: Vec<LayerEntry>,
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
    /// Mean test log-likelihood, nats/sample.
    pub test_nats: f64,
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
}

/// The checkpoints folder: `$GMM_ZOO_CHECKPOINTS`, else `checkpoints/` here, else the one of
/// the source tree this binary was built from.
pub fn checkpoints_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GMM_ZOO_CHECKPOINTS") {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from("checkpoints");
    if here.join(MANIFEST).is_file() {
        return here;
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../checkpoints");
    if built.join(MANIFEST).is_file() { built } else { here }
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
        toml::from_str(&text).map_err(|e| TrainError::Config { path, reason: e.to_string() })
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

/// What `add` is told beside the run folder.
#[derive(Debug, Clone)]
pub struct AddRequest {
    /// The trained run folder (`runs/<name>`).
    pub run_dir: PathBuf,
    /// The config it was trained from, as the manifest should name it.
    pub config: String,
    /// The data root it was trained on (its test split is fingerprinted).
    pub data_root: PathBuf,
    /// Copy the run folder into the checkpoints folder (else record its figures only).
    pub ship: bool,
    /// The machine that trained it, in words.
    pub machine: String,
}

/// Records a trained run folder in the manifest, and with `ship` copies its files into
/// `<checkpoints>/<name>/` (refusing runs over [`MAX_SHIPPED_BYTES`]).
pub fn add(checkpoints: &Path, request: &AddRequest) -> Result<Entry, TrainError> {
    let run = &request.run_dir;
    let config = RunConfig::load(&run.join("config.toml"))?;
    let test = load_split(&config.data, &request.data_root, Split::Test, config.seed)?;
    let sample = sample_data_root().canonicalize().ok();
    let data_root = match request.data_root.canonicalize().ok() == sample {
        true => "sample",
        false => "full",
    };
    let mut entry = Entry {
        name: config.name.clone(),
        config: request.config.clone(),
        data: String::new(),
        data_root: data_root.into(),
        test_data: data_fingerprint(&test),
        shipped: request.ship,
        machine: request.machine.clone(),
        wall_seconds: 0.0,
        accuracy: None,
        layers: Vec::new(),
        files: BTreeMap::new(),
    };
    let classify = run.join("classify.json");
    if classify.is_file() {
        let report: ClassifyReport = serde_json::from_slice(&fsio::read(&classify)?)
            .map_err(|e| TrainError::file(&classify, e))?;
        entry.accuracy = Some(report.accuracy);
        entry.wall_seconds = report.train_seconds + report.test_seconds;
        let spec = config.stack().into_iter().next().ok_or_else(|| TrainError::Config {
            path: run.join("config.toml"),
            reason: "no layer".into(),
        })?;
        let test_n = report.confusion.iter().flatten().sum();
        let own = &report.own_class_test_log_likelihood;
        let mean_own = own.iter().sum::<f64>() / own.len().max(1) as f64;
        entry.layers.push(LayerEntry {
            kind: spec.layer.kind().to_string(),
            input: None,
            configured_components: spec.layer.n_components(),
            components: spec.layer.n_components(),
            iterations: spec.em.max_iter,
            dims: 784,
            train_nats: f64::NAN,
            test_nats: mean_own,
            test_n,
            purity: None,
            nmi: None,
        });
    } else {
        let path = run.join("metrics.json");
        let bytes = fsio::read(&path)?;
        let (layers, total) = match serde_json::from_slice::<StackMetrics>(&bytes) {
            Ok(s) => (s.layers, s.total_seconds),
            Err(_) => {
                let m: Metrics =
                    serde_json::from_slice(&bytes).map_err(|e| TrainError::file(&path, e))?;
                let total = m.timings.total;
                (vec![m], total)
            }
        };
        entry.wall_seconds = total;
        entry.layers = layers.iter().map(layer_entry).collect();
    }
    entry.data = data_description(&config.data, &entry);
    if request.ship {
        let files = run_files(run)?;
        let bytes: u64 = files.iter().map(|(_, len)| len).sum();
        if bytes > MAX_SHIPPED_BYTES {
            return Err(TrainError::file(
                run,
                format!(
                    "{:.1} MB is over the {} MB a shipped checkpoint may take; add it without \
                     --ship to record its figures only",
                    bytes as f64 / 1e6,
                    MAX_SHIPPED_BYTES >> 20
                ),
            ));
        }
        let dest = checkpoints.join(&entry.name);
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| TrainError::file(&dest, format!("cannot replace: {e}")))?;
        }
        for (rel, _) in &files {
            let (from, to) = (run.join(rel), dest.join(rel));
            let parent = to.parent().expect("a file in a folder");
            std::fs::create_dir_all(parent).map_err(|e| TrainError::file(parent, e))?;
            let bytes = fsio::read(&from)?;
            fsio::write_atomic(&to, &bytes)?;
            entry.files.insert(rel.clone(), checksum(&bytes));
        }
    }
    let mut manifest = match checkpoints.join(MANIFEST).is_file() {
        true => Manifest::load(checkpoints)?,
        false => Manifest::default(),
    };
    manifest.upsert(entry.clone());
    manifest.save(checkpoints)?;
    Ok(entry)
}

fn layer_entry(m: &Metrics) -> LayerEntry {
    LayerEntry {
        kind: m.kind.clone(),
        input: m.input.and_then(|f| serde_json::to_value(f).ok()?.as_str().map(String::from)),
        configured_components: m.configured_components,
        components: m.n_components,
        iterations: m.iterations.len(),
        dims: m.pixels,
        train_nats: m.train.nats_per_sample,
        test_nats: m.test.nats_per_sample,
        test_n: m.test.n,
        purity: m.purity,
        nmi: m.nmi,
    }
}

fn data_description(data: &DataConfig, entry: &Entry) -> String {
    let test_n = entry.layers.first().map_or(0, |l| l.test_n);
    let what = match data {
        DataConfig::Mnist(_) => "MNIST".to_string(),
        DataConfig::Bsds(b) => format!("BSDS {}x{} patches", b.patch_size, b.patch_size),
        DataConfig::Bsds300(_) => "BSDS300 benchmark (63 dims)".to_string(),
    };
    format!("{what}, {} ({test_n} test)", entry.data_root)
}

/// The files of a run folder worth shipping (all but checkpoints, temporaries and samples),
/// relative paths with their sizes, sorted.
fn run_files(run: &Path) -> Result<Vec<(String, u64)>, TrainError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> Result<(), TrainError> {
        let entries = std::fs::read_dir(dir).map_err(|e| TrainError::file(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TrainError::file(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name == crate::checkpoint::FILE_NAME {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if name != "samples.png" {
                let rel = path.strip_prefix(root).expect("under root");
                let len = entry.metadata().map_err(|e| TrainError::file(&path, e))?.len();
                out.push((rel.to_string_lossy().replace('\\', "/"), len));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(run, run, &mut out)?;
    out.sort();
    Ok(out)
}

/// xxh3-128 of a split's shape and pixels, hex.
pub fn data_fingerprint(images: &Images) -> String {
    let mut bytes = Vec::with_capacity(16 + 4 * images.pixels.len());
    bytes.extend_from_slice(&(images.height as u64).to_le_bytes());
    bytes.extend_from_slice(&(images.width as u64).to_le_bytes());
    for v in &images.pixels {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    checksum(&bytes)
}

/// xxh3-128 of a file's bytes, hex.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:032x}", xxh3_128(bytes))
}

/// The outcome of checking one manifest entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Files intact, model loads, recorded test figure reproduced (recorded, recomputed).
    Reproduced(f64, f64),
    /// Files intact and every layer loads, but the data it was scored on is not here (why).
    Loaded(String),
    /// Not shipped: nothing to check.
    NotShipped,
    /// Something is wrong; the message says what.
    Failed(String),
}

/// Checks one entry: every file's checksum, then (when the test data it was scored on is at
/// `opts.data_root`, or it was trained on the shipped sample) that every layer loads and the
/// last layer's test figure (or the classifier's accuracy) is reproduced.
pub fn verify_entry(checkpoints: &Path, entry: &Entry, opts: &RunOptions) -> Verdict {
    let sample_opts;
    let opts = match entry.data_root.as_str() {
        "sample" => {
            sample_opts = RunOptions { data_root: sample_data_root(), ..opts.clone() };
            &sample_opts
        }
        _ => opts,
    };
    if !entry.shipped {
        return Verdict::NotShipped;
    }
    let dir = checkpoints.join(&entry.name);
    if entry.files.is_empty() {
        return Verdict::Failed("the manifest lists no files".into());
    }
    for (rel, expected) in &entry.files {
        let path = dir.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) if checksum(&bytes) == *expected => {}
            Ok(_) => return Verdict::Failed(format!("{}: checksum differs", path.display())),
            Err(e) => return Verdict::Failed(format!("{}: cannot read: {e}", path.display())),
        }
    }
    let config = match RunConfig::load(&dir.join("config.toml")) {
        Ok(c) => c,
        Err(e) => return Verdict::Failed(e.to_string()),
    };
    let absent = match load_split(&config.data, &opts.data_root, Split::Test, config.seed) {
        Err(e) => Some(format!("test data not here ({e})")),
        Ok(test) if data_fingerprint(&test) != entry.test_data => Some(format!(
            "the test split drawn from {} differs from the {} data it was scored on (pass \
             --data-dir with that data; if it is that data, the data pipeline has changed and \
             the checkpoint must be re-recorded)",
            opts.data_root.display(),
            entry.data_root
        )),
        Ok(_) => None,
    };
    if let Some(why) = absent {
        let dirs: Vec<PathBuf> = match entry.accuracy {
            Some(_) => (0..10).map(|c| dir.join(format!("class{c}"))).collect(),
            None => {
                let n = config.stack().len();
                (0..n).map(|i| layer_dir(&dir, i, n)).collect()
            }
        };
        for d in dirs {
            if let Err(e) = SavedLayer::load(&d, &opts.device) {
                return Verdict::Failed(e.to_string());
            }
        }
        return Verdict::Loaded(why);
    }
    let (recorded, got, tolerance) = match entry.accuracy {
        Some(recorded) => match evaluate_classifier(&dir, opts) {
            Ok((accuracy, _)) => (recorded, accuracy, ACCURACY_TOLERANCE),
            Err(e) => return Verdict::Failed(e.to_string()),
        },
        None => match evaluate_run(&dir, Split::Test, opts) {
            Ok(scores) => {
                let last = scores.len() - 1;
                let recorded = entry.layers.get(last).map_or(f64::NAN, |l| l.test_nats);
                (recorded, scores[last].nats_per_sample, SCORE_TOLERANCE)
            }
            Err(e) => return Verdict::Failed(e.to_string()),
        },
    };
    if (got - recorded).abs() <= tolerance {
        Verdict::Reproduced(recorded, got)
    } else {
        Verdict::Failed(format!(
            "test figure {got:.6} differs from the recorded {recorded:.6} by more than {tolerance}"
        ))
    }
}

/// The README's results table (markdown), from the manifest.
pub fn render_table(manifest: &Manifest) -> String {
    let mut out = String::from(
        "| config | model | data | train LL nats (bits/dim) | test LL nats (bits/dim) | \
         accuracy | purity / NMI | components alive | EM iterations | wall time | shipped |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in &manifest.models {
        for (i, l) in e.layers.iter().enumerate() {
            let name = match e.layers.len() {
                1 => format!("[{}]({})", e.name, e.config),
                _ => format!("[{}]({}) layer {i}", e.name, e.config),
            };
            let model = match &l.input {
                Some(f) => format!("{} on {f}", l.kind),
                None => l.kind.clone(),
            };
            let score = |nats: f64| match nats.is_finite() {
                true => format!("{nats:.2} ({:.3})", LayerEntry::bits(nats, l.dims)),
                false => "—".into(),
            };
            let test = match e.accuracy {
                Some(_) => format!("{} own class", score(l.test_nats)),
                None => score(l.test_nats),
            };
            let accuracy = e.accuracy.map_or("—".into(), |a| format!("{:.2}%", 100.0 * a));
            let clusters = match (l.purity, l.nmi) {
                (Some(p), Some(n)) => format!("{p:.3} / {n:.3}"),
                _ => "—".into(),
            };
            let wall = match i {
                0 => format!("{:.1} s", e.wall_seconds),
                _ => "″".into(),
            };
            let shipped = match (e.shipped, i) {
                (true, 0) => format!("[yes](checkpoints/{})", e.name),
                (false, 0) => "no (too large)".into(),
                _ => "″".into(),
            };
            let alive = match e.accuracy {
                Some(_) => format!("{} per class", l.components),
                None => format!("{} / {}", l.components, l.configured_components),
            };
            out.push_str(&format!(
                "| {name} | {model} | {} | {} | {test} | {accuracy} | {clusters} | {alive} | {} | \
                 {wall} | {shipped} |\n",
                e.data,
                score(l.train_nats),
                l.iterations,
            ));
        }
    }
    let machines: Vec<&str> = {
        let mut m: Vec<&str> = manifest.models.iter().map(|e| e.machine.as_str()).collect();
        m.sort();
        m.dedup();
        m
    };
    out.push_str(&format!(
        "\nMachine: {}. Bits/dim is −LL/(D·ln 2) over the D values a layer models (pixels, or \
         the K features of the layer below). Classification rows give the mean test LL of each \
         digit under its own class's model and the EM iteration cap.\n",
        machines.join("; ")
    ));
    out
}

/// `text` with the part between [`TABLE_BEGIN`] and [`TABLE_END`] replaced by `table`.
pub fn splice_table(text: &str, table: &str) -> Result<String, String> {
    let begin = text.find(TABLE_BEGIN).ok_or(format!("no line {TABLE_BEGIN}"))?;
    let end = text.find(TABLE_END).ok_or(format!("no line {TABLE_END}"))?;
    if end < begin {
        return Err(format!("{TABLE_END} comes before {TABLE_BEGIN}"));
    }
    let head = &text[..begin + TABLE_BEGIN.len()];
    Ok(format!("{head}\n{table}{}", &text[end..]))
}

/// The machine this process runs on, in words (CPU model and cores).
pub fn this_machine(device: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores, device {device}")
}
