//! A whole run: data → layers (greedily, bottom up) → run folder (config, and per layer its
//! model, metrics and pictures; `layer_job.rs` trains one layer).

use crate::config::{RunConfig, Split};
use crate::data::{load_disk_shard, load_shard};
use crate::report::metrics::{Metrics, StackMetrics};
use crate::run::checkpoint::{self, DataHasher, Fingerprint};
use crate::run::clock::{RunClock, Spent};
use crate::run::folder::{create_dir, layer_dir, write_json, write_toml};
use crate::run::layer_job::{Inputs, LayerJob, train_layer};
use crate::run::options::{RunOptions, RunOutcome};
use crate::run::rows::SplitData;
use crate::run::start::{layer_seed, read_checkpoint, start_layer};
use crate::{Layer, TrainError};
use gmm_models::Part;
use std::borrow::Cow;
use std::time::Instant;

/// A run's data, loaded once for all its layers.
struct RunData {
    train: SplitData,
    test: SplitData,
    /// The validation split (`[data] n_valid`).
    valid: Option<SplitData>,
    seconds: f64,
    fingerprint: Fingerprint,
}

/// Trains the run a config describes — one layer, or a stack bottom up — and writes its folder.
///
/// In a data-parallel job every rank calls it alike; only rank 0 writes the run folder
/// ([`crate::run::ranks::rank_options`]).
pub fn train_run(config: &RunConfig, opts: &RunOptions) -> Result<RunOutcome, TrainError> {
    let (opts, _scratch) = crate::run::ranks::rank_options(opts)?;
    let opts = &opts;
    let start = RunClock::start();
    create_dir(&opts.out_dir)?;
    let data = load_data(config, opts)?;
    let ckpt_path = checkpoint::path_in(&opts.out_dir);
    let resume = match opts.resume {
        true => Some(read_checkpoint(&ckpt_path, &data.fingerprint)?),
        false => None,
    };
    // The clocks continue from what the run took before its checkpoint.
    let before = resume.as_ref().map_or(Spent::default(), |c| c.meta.spent);
    let clock = start.continuing(before);
    let stack = config.stack();
    let mut inputs = Inputs {
        train: data.train.rows(),
        test: data.test.rows(),
        shape: data.train.shape(),
        parts: [data.train.part(), data.test.part()],
        weights: data.train.weights().map(Cow::Borrowed),
        valid: data.valid.as_ref().map(|v| (v.rows(), v.part())),
    };
    let (mut all_metrics, mut layers) = (Vec::new(), Vec::new());
    for (index, spec) in stack.iter().enumerate() {
        let dir = layer_dir(&opts.out_dir, index, stack.len());
        create_dir(&dir)?;
        if stack.len() > 1 {
            opts.progress.log(&format!(
                "layer {index}: {} with {} components{}",
                spec.layer.kind(),
                spec.layer.n_components(),
                spec.input.map_or(String::new(), |f| format!(" on {f:?}"))
            ));
        }
        check_size(config, index, &inputs)?;
        let seed = layer_seed(config, index);
        let (start, layer) =
            start_layer(spec, index, &dir, inputs.shape, resume.as_ref(), (opts, seed))?;
        let job = LayerJob {
            config,
            spec,
            index,
            dir,
            opts,
            train_split: &data.train,
            test_split: &data.test,
            valid_split: data.valid.as_ref(),
            inputs: &inputs,
            next_feature: stack.get(index + 1).and_then(|s| s.input),
            start,
            fingerprint: &data.fingerprint,
            data_seconds: if index == 0 { data.seconds } else { 0.0 },
            clock: &clock,
        };
        let (layer, metrics, next) = with_layer!(layer, m => {
            let r = train_layer(m, &job)?;
            (Layer::from(r.layer), r.metrics, r.next)
        });
        all_metrics.push(metrics);
        layers.push(layer);
        if let Some(next) = next {
            inputs = next;
        }
    }
    let spent = clock.spent();
    finish_run(config, opts, &mut all_metrics, spent)?;
    let total_seconds = spent.wall;
    Ok(RunOutcome { metrics: all_metrics, layers, total_seconds, out_dir: opts.out_dir.clone() })
}

/// Layer `index`'s K and batch against memory and its training rows, before it is built.
fn check_size(config: &RunConfig, index: usize, inputs: &Inputs<'_>) -> Result<(), TrainError> {
    let dims = inputs.shape[0] * inputs.shape[1];
    let n_train = match inputs.parts[0] {
        Part::Shard { total, .. } => total,
        Part::Whole | Part::Alone => inputs.train.count(dims),
    };
    crate::run::sizes::check_layer(config, index, dims, n_train)
}

/// The run folder completed: its `config.toml` and `metrics.json` (a stack's summary, or the
/// one layer's with the run's wall and CPU time), and its checkpoint, which has served,
/// removed.
fn finish_run(
    config: &RunConfig,
    opts: &RunOptions,
    all_metrics: &mut [Metrics],
    spent: Spent,
) -> Result<(), TrainError> {
    write_toml(&opts.out_dir.join("config.toml"), config)?;
    if all_metrics.len() > 1 {
        let summary = StackMetrics {
            name: config.name.clone(),
            layers: all_metrics.to_vec(),
            total_seconds: spent.wall,
            cpu_seconds: spent.cpu,
        };
        write_json(&opts.out_dir.join("metrics.json"), &summary)?;
    } else if let Some(m) = all_metrics.first_mut() {
        m.timings.total = spent.wall;
        m.timings.cpu = spent.cpu;
        m.timings.peak_memory_mb = crate::run::clock::peak_memory_mb();
        write_json(&opts.out_dir.join("metrics.json"), m)?;
    }
    let ckpt_path = checkpoint::path_in(&opts.out_dir);
    if ckpt_path.exists() {
        std::fs::remove_file(&ckpt_path)
            .map_err(|e| TrainError::file(&ckpt_path, format!("cannot remove: {e}")))?;
    }
    opts.progress.log(&format!(
        "wrote {} ({:.1} s in all, {}, peak memory {:.0} MB)",
        opts.out_dir.display(),
        spent.wall,
        spent.utilisation(),
        crate::run::clock::peak_memory_mb()
    ));
    Ok(())
}

/// The splits (train, test, and validation where the data have one), and the fingerprint a checkpoint of this run carries.
fn load_data(config: &RunConfig, opts: &RunOptions) -> Result<RunData, TrainError> {
    let t = Instant::now();
    opts.progress.log(&format!(
        "loading {} data from {}",
        config.data.name(),
        opts.data_root.display()
    ));
    // A data-parallel job's ranks each load their block of the rows, in whole batches of the
    // first layer (which then sees the batches of one process).
    let cluster = crate::cluster::world();
    let batch = config.stack().first().map_or(1, |l| l.em.batch_size);
    let ranks = [cluster.rank(), cluster.size()];
    let load = |split| -> Result<SplitData, TrainError> {
        let (seed, data) = (config.seed, &config.data);
        Ok(match data.streamed() {
            true => SplitData::Disk(load_disk_shard(data, split, seed, ranks, batch)?),
            false => {
                let (images, part) = load_shard(data, &opts.data_root, split, seed, ranks, batch)?;
                SplitData::Held(images, part)
            }
        })
    };
    let (train, test) = (load(Split::Train)?, load(Split::Test)?);
    let valid = config.data.n_valid().map(|_| load(Split::Valid)).transpose()?;
    let shards = match cluster.size() {
        1 => String::new(),
        p => format!(" over {p} processes"),
    };
    let valid_count =
        valid.as_ref().map_or(String::new(), |v| format!(", {} validation", v.total()));
    let shape = train.shape();
    let on_disk = if config.data.streamed() { ", read from disk when needed" } else { "" };
    let mut fingerprint = Fingerprint::of_hash(&config.model_definition(), data_hash(&train)?)
        .or_config(&config.model_definition_with_stopping_rule())
        .with_weights(train.weights());
    let seconds = t.elapsed().as_secs_f64();
    opts.progress.log(&format!(
        "{} train{valid_count} and {} test samples of {}x{}{shards}{on_disk} ({seconds:.2} s)",
        train.total(),
        test.total(),
        shape[0],
        shape[1],
    ));
    // A job's ranks hash their shards; the run's data are named by all of them in rank order
    // (so a checkpoint resumes with as many ranks as wrote it).
    fingerprint.data = cluster.combined_hash(&fingerprint.data);
    Ok(RunData { train, test, valid, seconds, fingerprint })
}

/// The training rows' [`checkpoint::data_hash`]; rows on disk are read block by block for it
/// (which also checks every value before EM starts).
fn data_hash(train: &SplitData) -> Result<String, TrainError> {
    let rows = match train {
        SplitData::Held(images, _) => {
            return Ok(checkpoint::data_hash(train.shape(), &images.pixels));
        }
        SplitData::Disk(split) => &split.rows,
    };
    let mut hasher = DataHasher::new(train.shape());
    let block = (1 << 20) / rows.dim().max(1) + 1;
    for start in (0..rows.len()).step_by(block) {
        hasher.update(&rows.read(start..start + block)?);
    }
    Ok(hasher.finish())
}
