//! `gmmzoo zoo add`: a trained run folder into the manifest (and, shipped, into the folder).

use super::{Entry, LayerEntry, MANIFEST, MAX_SHIPPED_BYTES, Manifest, checksum, data_fingerprint};
use crate::classify::ClassifyReport;
use gmm_datasets::{Images, sample_data_root};
use gmm_training::config::{DataConfig, RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::folder::read_json;
use gmm_training::metrics::{Metrics, StackMetrics};
use gmm_training::stages::{STAGES_FILE, StagesSummary};
use gmm_training::{TrainError, fsio};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Replace a checkpoint of the same name already shipped (refused otherwise).
    pub overwrite: bool,
    /// The machine that trained it, in words.
    pub machine: String,
}

/// What `add` recorded: the manifest entry, and the pictures (relative path, bytes) it left out
/// of a shipped run over [`MAX_SHIPPED_BYTES`].
#[derive(Debug, Clone)]
pub struct Added {
    /// The run's entry, as written into the manifest.
    pub entry: Entry,
    /// Pictures not shipped so that the checkpoint fits, largest first.
    pub left_out: RunFiles,
}

/// Records a trained run folder in the manifest, and with `ship` copies its files into
/// `<checkpoints>/<name>/` (without its largest pictures where it is over
/// [`MAX_SHIPPED_BYTES`]; refused if still over without them).
pub fn add(checkpoints: &Path, request: &AddRequest) -> Result<Added, TrainError> {
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
        tolerance: None,
        layers: Vec::new(),
        symmetric: None,
        files: BTreeMap::new(),
    };
    let classify = run.join("classify.json");
    match classify.is_file() {
        true => classifier_figures(&mut entry, &config, &read_json(&classify)?, &test),
        false => run_figures(&mut entry, &run.join("metrics.json"))?,
    }
    entry.data = data_description(&config.data, &entry);
    let left_out = match request.ship {
        true => ship_files(checkpoints, run, &mut entry, request.overwrite)?,
        false => Vec::new(),
    };
    let mut manifest = match checkpoints.join(MANIFEST).is_file() {
        true => Manifest::load(checkpoints)?,
        false => Manifest::default(),
    };
    // A tolerance set by hand for this figure outlives re-recording it.
    entry.tolerance =
        manifest.models.iter().find(|e| e.name == entry.name).and_then(|e| e.tolerance);
    manifest.upsert(entry.clone());
    manifest.save(checkpoints)?;
    Ok(Added { entry, left_out })
}

/// A classification run's figures: its accuracy, and the mean own-class test log-likelihood
/// as its one layer's test figure.
fn classifier_figures(
    entry: &mut Entry,
    config: &RunConfig,
    report: &ClassifyReport,
    test: &Images,
) {
    entry.accuracy = Some(report.accuracy);
    entry.wall_seconds = report.train_seconds + report.test_seconds;
    let spec = config.stack().remove(0);
    let own = &report.own_class_test_log_likelihood;
    entry.layers.push(LayerEntry {
        kind: spec.layer.kind().to_string(),
        input: None,
        configured_components: spec.layer.n_components(),
        components: spec.layer.n_components(),
        // The most any class model ran (max_iter for reports that predate the count).
        iterations: report.class_iterations.iter().copied().max().unwrap_or(spec.em.max_iter),
        dims: test.height * test.width,
        train_nats: f64::NAN,
        valid_nats: None,
        valid_standard_error: None,
        valid_n: None,
        test_nats: own.iter().sum::<f64>() / own.len().max(1) as f64,
        test_standard_error: None,
        test_n: report.confusion.iter().flatten().sum(),
        purity: None,
        nmi: None,
    });
}

/// A run's figures from its `metrics.json` (one layer's, or a stack's).
fn run_figures(entry: &mut Entry, path: &Path) -> Result<(), TrainError> {
    let bytes = fsio::read(path)?;
    let (layers, total) = match serde_json::from_slice::<StackMetrics>(&bytes) {
        Ok(s) => (s.layers, s.total_seconds),
        Err(_) => {
            let m: Metrics =
                serde_json::from_slice(&bytes).map_err(|e| TrainError::file(path, e))?;
            let total = m.timings.total;
            (vec![m], total)
        }
    };
    entry.wall_seconds = total;
    entry.layers = layers.iter().map(layer_entry).collect();
    // A staged run: its time and EM iterations are every stage's.
    let stages = path.with_file_name(STAGES_FILE);
    if stages.is_file() {
        let summary: StagesSummary = serde_json::from_slice(&fsio::read(&stages)?)
            .map_err(|e| TrainError::file(&stages, e))?;
        entry.wall_seconds = summary.total_seconds;
        if let Some(last) = entry.layers.last_mut() {
            last.iterations = summary.stages.iter().map(|s| s.iterations).sum();
        }
    }
    Ok(())
}

/// Copies the run folder's files into `<checkpoints>/<name>/` with their checksums. A run over
/// [`MAX_SHIPPED_BYTES`] ships without its largest pictures (`.png`, which nothing that loads
/// or verifies a checkpoint reads) until it fits, and returns them; one that does not fit
/// without them is refused.
fn ship_files(
    checkpoints: &Path,
    run: &Path,
    entry: &mut Entry,
    overwrite: bool,
) -> Result<RunFiles, TrainError> {
    let (files, left_out) = fit_to_ship(run_files(run)?);
    let bytes: u64 = files.iter().map(|(_, len)| len).sum();
    if bytes > MAX_SHIPPED_BYTES {
        return Err(TrainError::file(
            run,
            format!(
                "{:.1} MB is over the {} MB a shipped checkpoint may take, without its pictures; \
                 add it without --ship to record its figures only",
                bytes as f64 / 1e6,
                MAX_SHIPPED_BYTES >> 20
            ),
        ));
    }
    let dest = checkpoints.join(&entry.name);
    if dest.exists() && !overwrite {
        return Err(TrainError::file(
            &dest,
            "already holds a shipped checkpoint of this name; pass --overwrite to replace it",
        ));
    }
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
    Ok(left_out)
}

/// A run folder's files: (path relative to the folder, bytes).
pub type RunFiles = Vec<(String, u64)>;

/// Splits a run's files into those to ship and the pictures left out:
/// while the total is over [`MAX_SHIPPED_BYTES`], the largest `.png` left goes.
fn fit_to_ship(mut files: RunFiles) -> (RunFiles, RunFiles) {
    let mut left_out = Vec::new();
    while files.iter().map(|(_, len)| len).sum::<u64>() > MAX_SHIPPED_BYTES {
        let largest = files
            .iter()
            .enumerate()
            .filter(|(_, (rel, _))| rel.ends_with(".png"))
            .max_by_key(|(_, (_, len))| *len)
            .map(|(i, _)| i);
        match largest {
            Some(i) => left_out.push(files.remove(i)),
            None => break,
        }
    }
    (files, left_out)
}

fn layer_entry(m: &Metrics) -> LayerEntry {
    LayerEntry {
        kind: m.kind.clone(),
        input: m.input.and_then(|f| serde_json::to_value(f).ok()?.as_str().map(String::from)),
        configured_components: m.configured_components,
        components: m.n_components,
        iterations: m.iterations.len(),
        dims: m.dims,
        train_nats: m.train.nats_per_sample,
        valid_nats: m.valid.map(|v| v.nats_per_sample),
        valid_standard_error: m.valid.and_then(|v| v.standard_error),
        valid_n: m.valid.map(|v| v.n),
        test_nats: m.test.nats_per_sample,
        test_standard_error: m.test.standard_error,
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
        DataConfig::Bsds300(b) if b.augment.is_none() => "BSDS300 benchmark (63 dims)".to_string(),
        DataConfig::Bsds300(b) => {
            format!("BSDS300 benchmark (63 dims), {}-augmented train patches", b.augment.name())
        }
        DataConfig::Images(d) => match d.patch_size {
            Some(p) => format!("{p}x{p} patches of {}", d.train.display()),
            None => format!("images of {}", d.train.display()),
        },
        DataConfig::Array(d) => format!("rows of {}", d.train.display()),
    };
    let valid = entry.layers.first().and_then(|l| l.valid_n).map(|n| format!("{n} validation, "));
    format!("{what}, {} ({}{test_n} test)", entry.data_root, valid.unwrap_or_default())
}

/// The files of a run folder worth shipping (all but checkpoints, temporaries and samples),
/// relative paths with their sizes, sorted.
fn run_files(run: &Path) -> Result<RunFiles, TrainError> {
    fn walk(root: &Path, dir: &Path, out: &mut RunFiles) -> Result<(), TrainError> {
        let entries = std::fs::read_dir(dir).map_err(|e| TrainError::file(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| TrainError::file(dir, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name == gmm_training::checkpoint::FILE_NAME {
                continue;
            }
            if path.is_dir() {
                // A staged run ships its last stage, which is at its top; not every stage.
                let stage = name.strip_prefix("stage").is_some_and(|i| i.parse::<usize>().is_ok());
                if !(stage && root.join(STAGES_FILE).is_file()) {
                    walk(root, &path, out)?;
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn names(files: &[(String, u64)]) -> Vec<&str> {
        files.iter().map(|(rel, _)| rel.as_str()).collect()
    }

    #[test]
    fn a_run_over_the_limit_ships_without_its_largest_pictures_only() {
        let run = |png: u64| {
            vec![
                ("components.png".to_string(), png),
                ("means.png".to_string(), MB),
                ("metrics.json".to_string(), MB / 10),
                ("model.bpk".to_string(), 3 * MB),
            ]
        };
        // Fits: nothing left out.
        let (files, left_out) = fit_to_ship(run(3 * MB));
        assert_eq!((files.len(), left_out.len()), (4, 0));
        // components.png alone goes; means.png stays.
        let (files, left_out) = fit_to_ship(run(7 * MB));
        assert_eq!(names(&left_out), ["components.png"]);
        assert_eq!(names(&files), ["means.png", "metrics.json", "model.bpk"]);
        // A model too large without any picture: every picture goes, and the rest is still
        // over the limit (ship_files then refuses it).
        let mut big = run(2 * MB);
        big[3].1 = 9 * MB;
        let (files, left_out) = fit_to_ship(big);
        assert_eq!(names(&left_out), ["components.png", "means.png"]);
        assert!(files.iter().map(|(_, len)| len).sum::<u64>() > MAX_SHIPPED_BYTES);
    }
}
