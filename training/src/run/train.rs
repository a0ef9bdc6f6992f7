//! A whole run: data → layers (greedily, bottom up) → run folder (config, and per layer its
//! model, metrics and pictures; `layer_job.rs` trains one layer).

use crate::config::{RunConfig, Split};
use crate::data::load_shard;
use crate::report::metrics::{Metrics, StackMetrics};
use crate::run::checkpoint::{self, Fingerprint};
use crate::run::clock::{RunClock, Spent};
use crate::run::folder::{create_dir, layer_dir, write_json, write_toml};
use crate::run::layer_job::{Inputs, LayerJob, train_layer};
use crate::run::options::{RunOptions, RunOutcome};
use crate::run::start::{layer_seed, read_checkpoint, start_layer};
use crate::{Layer, TrainError};
use gmm_datasets::Images;
use gmm_models::Part;
use std::borrow::Cow;
use std::time::Instant;

/// A run's data, loaded once for all its layers.
struct RunData {
    train: Images,
    test: Images,
    /// The validation split (`[data] n_valid`) and which part of it this process holds.
    valid: Option<(Images, Part)>,
    /// Which part of each split this process holds (train, test).
    parts: [Part; 2],
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
        train: Cow::Borrowed(&data.train.pixels),
        test: Cow::Borrowed(&data.test.pixels),
        shape: [data.train.height, data.train.width],
        parts: data.parts,
        weights: data.train.weights.as_deref().map(Cow::Borrowed),
        valid: data.valid.as_ref().map(|(v, part)| (Cow::Borrowed(&v.pixels[..]), *part)),
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
            train_images: &data.train,
            test_images: &data.test,
            valid_images: data.valid.as_ref().map(|(v, _)| v),
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
        Part::Whole | Part::Alone => inputs.train.len() / dims.max(1),
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
        write_json(&opts.out_dir.join("metrics.json"), m)?;
    }
    let ckpt_path = checkpoint::path_in(&opts.out_dir);
    if ckpt_path.exists() {
        std::fs::remove_file(&ckpt_path)
            .map_err(|e| TrainError::file(&ckpt_path, format!("cannot remove: {e}")))?;
    }
    opts.progress.log(&format!(
        "wrote {} ({:.1} s in all, {})",
        opts.out_dir.display(),
        spent.wall,
        spent.utilisation()
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
    let load = |split| {
        let ranks = [cluster.rank(), cluster.size()];
        load_shard(&config.data, &opts.data_root, split, config.seed, ranks, batch)
    };
    let ((train, train_part), (test, test_part)) = (load(Split::Train)?, load(Split::Test)?);
    let valid = config.data.n_valid().map(|_| load(Split::Valid)).transpose()?;
    let seconds = t.elapsed().as_secs_f64();
    let total = |images: &Images, part: Part| match part {
        Part::Whole | Part::Alone => images.len(),
        Part::Shard { total, .. } => total,
    };
    let shards = match cluster.size() {
        1 => String::new(),
        p => format!(" over {p} processes"),
    };
    let valid_count = valid
        .as_ref()
        .map_or(String::new(), |(v, part)| format!(", {} validation", total(v, *part)));
    opts.progress.log(&format!(
        "{} train{valid_count} and {} test samples of {}x{}{shards} ({seconds:.2} s)",
        total(&train, train_part),
        total(&test, test_part),
        train.height,
        train.width,
    ));
    let shape = [train.height, train.width];
    let mut fingerprint = Fingerprint::new(&config.model_definition(), shape, &train.pixels)
        .or_config(&config.model_definition_with_stopping_rule())
        .with_weights(train.weights.as_deref());
    // A job's ranks hash their shards; the run's data are named by all of them in rank order
    // (so a checkpoint resumes with as many ranks as wrote it).
    fingerprint.data = cluster.combined_hash(&fingerprint.data);
    let parts = [train_part, test_part];
    Ok(RunData { train, test, valid, parts, seconds, fingerprint })
}
