//! `gmmzoo zoo verify`: a shipped checkpoint is intact, loads, and reproduces its figure.

use super::Entry;
use super::symmetric::symmetric_reproduced;
use crate::classify::{Labelled, score_classifier};
use gmm_datasets::{Images, sample_data_root};
use gmm_training::SavedLayer;
use gmm_training::checkpoint::data_hash;
use gmm_training::config::{RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::folder::layer_dir;
use gmm_training::{RunOptions, score_run};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_128;

/// How far a recomputed mean test log-likelihood may be from the recorded one, nats/sample.
pub const SCORE_TOLERANCE: f64 = 1e-3;
/// How far a recomputed test accuracy may be from the recorded one (one digit in 5,000).
pub const ACCURACY_TOLERANCE: f64 = 2e-4;
/// xxh3-128 of a split's shape and pixels, hex.
pub fn data_fingerprint(images: &Images) -> String {
    data_hash([images.height, images.width], &images.pixels)
}

/// xxh3-128 of a file's bytes, hex.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:032x}", xxh3_128(bytes))
}

/// The outcome of checking one manifest entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Files intact, model loads, recorded test figure reproduced (recorded, recomputed, and
    /// every layer's recomputed standard error over the test rows; none for a classifier).
    Reproduced(f64, f64, Vec<f64>),
    /// Files intact and every layer loads, but the data it was scored on is not here (why).
    Loaded(String),
    /// Not shipped: nothing to check.
    NotShipped,
    /// Something is wrong; the message says what.
    Failed(String),
}

/// Checks one entry: every file's checksum, then (when the test data it was scored on is at
/// `opts.data_root`, or it was trained on the shipped sample) that every layer loads and the
/// last layer's test figure (or the classifier's accuracy) is reproduced, and its validation
/// figure and its figures averaged over symmetries where they are recorded.
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
    if let Err(why) = checksums_match(&dir, entry) {
        return Verdict::Failed(why);
    }
    let config = match RunConfig::load(&dir.join("config.toml")) {
        Ok(c) => c,
        Err(e) => return Verdict::Failed(e.to_string()),
    };
    let test = match load_split(&config.data, &opts.data_root, Split::Test, config.seed) {
        Ok(test) if data_fingerprint(&test) == entry.test_data => test,
        Ok(_) => {
            let why = format!(
                "the test split drawn from {} differs from the {} data it was scored on (pass \
                 --data-dir with that data; if it is that data, the data pipeline has changed \
                 and the checkpoint must be re-recorded)",
                opts.data_root.display(),
                entry.data_root
            );
            return loaded_only(&dir, &config, entry, opts, why);
        }
        Err(e) => {
            return loaded_only(&dir, &config, entry, opts, format!("test data not here ({e})"));
        }
    };
    let (recorded, got, tolerance, se) = match entry.accuracy {
        Some(recorded) => match Labelled::from_images(test.clone(), &opts.data_root)
            .and_then(|test| score_classifier(&dir, &config, &test, opts))
        {
            Ok((accuracy, _)) => (recorded, accuracy, ACCURACY_TOLERANCE, Vec::new()),
            Err(e) => return Verdict::Failed(e.to_string()),
        },
        None => match score_run(&dir, &config, &test, opts) {
            Ok(scores) => {
                let last = scores.len() - 1;
                let recorded = entry.layers.get(last).map_or(f64::NAN, |l| l.test_nats);
                let tolerance = entry.tolerance.unwrap_or(SCORE_TOLERANCE).max(SCORE_TOLERANCE);
                let se = scores.iter().map(|s| s.standard_error.unwrap_or(f64::NAN)).collect();
                (recorded, scores[last].nats_per_sample, tolerance, se)
            }
            Err(e) => return Verdict::Failed(e.to_string()),
        },
    };
    let test_reproduced = match (got - recorded).abs() <= tolerance {
        true => Ok(()),
        false => Err(format!(
            "test figure {got:.6} differs from the recorded {recorded:.6} by more than {tolerance}"
        )),
    };
    let others = |()| others_reproduced(&dir, &config, entry, &test, opts, tolerance);
    match test_reproduced.and_then(others) {
        Ok(()) => Verdict::Reproduced(recorded, got, se),
        Err(why) => Verdict::Failed(why),
    }
}

/// Every shipped file's checksum is the manifest's.
fn checksums_match(dir: &Path, entry: &Entry) -> Result<(), String> {
    for (rel, expected) in &entry.files {
        let path = dir.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) if checksum(&bytes) == *expected => {}
            Ok(_) => return Err(format!("{}: checksum differs", path.display())),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        }
    }
    Ok(())
}

/// The entry's figures beside the test one: validation, and averaged over symmetries, each
/// split drawn once (`test` is already drawn).
fn others_reproduced(
    dir: &Path,
    config: &RunConfig,
    entry: &Entry,
    test: &Images,
    opts: &RunOptions,
    tolerance: f64,
) -> Result<(), String> {
    let recorded = entry.layers.last().and_then(|l| l.valid_nats);
    let symmetric_valid = entry.symmetric.as_ref().and_then(|s| s.valid_nats);
    let valid = match recorded.is_some() || symmetric_valid.is_some() {
        true => Some(
            load_split(&config.data, &opts.data_root, Split::Valid, config.seed)
                .map_err(|e| format!("validation split: {e}"))?,
        ),
        false => None,
    };
    if let (Some(recorded), Some(valid)) = (recorded, &valid) {
        let scores = score_run(dir, config, valid, opts).map_err(|e| e.to_string())?;
        let got = scores.last().map_or(f64::NAN, |s| s.nats_per_sample);
        if (got - recorded).abs() > tolerance {
            return Err(format!(
                "validation figure {got:.6} differs from the recorded {recorded:.6} by more \
                 than {tolerance}"
            ));
        }
    }
    symmetric_reproduced(dir, config, entry, test, valid.as_ref(), opts, tolerance)
}

/// The verdict when the test data is not at hand: every layer must still load.
fn loaded_only(
    dir: &Path,
    config: &RunConfig,
    entry: &Entry,
    opts: &RunOptions,
    why: String,
) -> Verdict {
    let dirs: Vec<PathBuf> = match entry.accuracy {
        Some(_) => (0..10).map(|c| dir.join(format!("class{c}"))).collect(),
        None => {
            let n = config.stack().len();
            (0..n).map(|i| layer_dir(dir, i, n)).collect()
        }
    };
    for d in dirs {
        if let Err(e) = SavedLayer::load(&d, &opts.device) {
            return Verdict::Failed(e.to_string());
        }
    }
    Verdict::Loaded(why)
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Reproduced(r, g, se) if se.last().is_some_and(|s| s.is_finite()) => {
                write!(f, "ok       recorded {r:.6}, now {g:.6} ± {:.4}", se[se.len() - 1])
            }
            Verdict::Reproduced(r, g, _) => write!(f, "ok       recorded {r:.6}, now {g:.6}"),
            Verdict::Loaded(why) => write!(f, "loaded   checksums ok; not scored: {why}"),
            Verdict::NotShipped => write!(f, "-        not shipped (figures only)"),
            Verdict::Failed(why) => write!(f, "FAILED   {why}"),
        }
    }
}
