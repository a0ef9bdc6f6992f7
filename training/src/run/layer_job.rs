//! One layer of a run: encode its inputs, fit it (with checkpoints), score it, draw its
//! pictures, compute the next layer's features, and save it with its `metrics.json`.

use crate::config::{RunConfig, Split};
use crate::em::{FitReport, fit_watched, log_likelihood_summary};
use crate::features::Feature;
use crate::report::labels::{contingency, nmi_of, purity_of};
use crate::report::layer_pictures::{PictureTarget, write_overlap, write_pictures};
use crate::report::metrics::{Criteria, Metrics, Score, Timings};
use crate::report::pictures::TileScale;
use crate::report::top::explain;
use crate::run::checkpoint::{self, Checkpoint, CheckpointMeta, Fingerprint};
use crate::run::clock::{RunClock, peak_memory_mb, process_cpu_seconds};
use crate::run::folder::write_json;
use crate::run::rows::{Rows, SplitData};
use crate::run::start::{LayerStart, layer_seed};
use crate::{Family, RunOptions, SavedLayer, StackLayer, TrainError};
use gmm_models::{Encoded, Part};
use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Instant;

/// One layer's inputs: rows for train and test (the first layer borrows the loaded data's
/// pixels rather than copying them, or reads them from disk; a layer above owns the features
/// of the one below), and their shape.
pub(crate) struct Inputs<'a> {
    pub train: Rows<'a>,
    pub test: Rows<'a>,
    pub shape: [usize; 2],
    /// Which part of the whole split each holds (a data-parallel rank's shard).
    pub parts: [Part; 2],
    /// The training rows' sample weights, scaled to mean 1 over the whole split (every layer
    /// of a stack sees the same rows, so the same weights).
    pub weights: Option<Cow<'a, [f32]>>,
    /// The validation rows (`[data] n_valid`) and which part of the split they are.
    pub valid: Option<(Rows<'a>, Part)>,
}

/// Everything a layer's training needs to know about the run.
pub(crate) struct LayerJob<'a> {
    pub config: &'a RunConfig,
    pub spec: &'a StackLayer,
    pub index: usize,
    pub dir: PathBuf,
    pub opts: &'a RunOptions,
    pub train_split: &'a SplitData,
    pub test_split: &'a SplitData,
    pub valid_split: Option<&'a SplitData>,
    pub inputs: &'a Inputs<'a>,
    pub next_feature: Option<Feature>,
    pub start: LayerStart,
    pub fingerprint: &'a Fingerprint,
    /// Seconds spent loading the data (counted in the first layer's timings).
    pub data_seconds: f64,
    /// The run's clocks, which every checkpoint carries.
    pub clock: &'a RunClock,
}

/// What training one layer produced.
pub(crate) struct LayerResult<M> {
    pub layer: M,
    pub metrics: Metrics,
    pub next: Option<Inputs<'static>>,
}

/// The layer's input rows on the device.
struct Encodings {
    train: Encoded,
    test: Encoded,
    valid: Option<Encoded>,
}

impl Encodings {
    /// The layer's inputs encoded and uploaded in batches of its `batch_size`.
    fn of<M: Family>(layer: &M, job: &LayerJob<'_>) -> Result<Self, TrainError> {
        let (batch, device) = (job.spec.em.batch_size, &job.opts.device);
        let inputs = job.inputs;
        Ok(Self {
            train: inputs
                .train
                .encode(layer, batch, device)?
                .with_part(inputs.parts[0])
                .with_unit_weights(inputs.weights.as_deref()),
            test: inputs.test.encode(layer, batch, device)?.with_part(inputs.parts[1]),
            valid: match &inputs.valid {
                Some((rows, part)) => Some(rows.encode(layer, batch, device)?.with_part(*part)),
                None => None,
            },
        })
    }
}

/// Encode, fit (unless reused or completed), score, draw, compute the next layer's features,
/// and save the layer and its metrics in its folder.
pub(crate) fn train_layer<M: Family>(
    layer: M,
    job: &LayerJob<'_>,
) -> Result<LayerResult<M>, TrainError> {
    let cpu = process_cpu_seconds();
    let mut timings = Timings {
        data: job.data_seconds,
        threads: rayon::current_num_threads(),
        ..Timings::default()
    };
    let t = Instant::now();
    let enc = Encodings::of(&layer, job)?;
    timings.encode = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (layer, report) = fit_layer(layer, job, (&enc.train, enc.valid.as_ref()))?;
    timings.fit = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let dims = job.inputs.shape[0] * job.inputs.shape[1];
    let train = Score::of(log_likelihood_summary(&layer, &enc.train)?, dims);
    let test = Score::of(log_likelihood_summary(&layer, &enc.test)?, dims);
    let valid = match &enc.valid {
        Some(v) => Some(Score::of(log_likelihood_summary(&layer, v)?, dims)),
        None => None,
    };
    timings.eval = t.elapsed().as_secs_f64();
    let valid_line = valid.map_or(String::new(), |v| {
        format!(", validation {} nats/sample ({:.4} bits/dim)", v.with_error(4), v.bits_per_dim)
    });
    job.opts.progress.log(&format!(
        "final: train {} nats/sample ({:.4} bits/dim){valid_line}, test {} nats/sample ({:.4} \
         bits/dim)",
        train.with_error(4),
        train.bits_per_dim,
        test.with_error(4),
        test.bits_per_dim
    ));

    let t = Instant::now();
    let seen = outputs(&layer, job, &enc, &report)?;
    let next = match job.next_feature {
        Some(feature) => Some(Inputs {
            train: Rows::Host(Cow::Owned(feature.compute(&layer, &enc.train)?)),
            test: Rows::Host(Cow::Owned(feature.compute(&layer, &enc.test)?)),
            shape: [1, layer.n_components()],
            parts: job.inputs.parts,
            weights: job.inputs.weights.as_deref().map(|w| Cow::Owned(w.to_vec())),
            valid: match (&enc.valid, &job.inputs.valid) {
                (Some(v), Some((_, part))) => {
                    Some((Rows::Host(Cow::Owned(feature.compute(&layer, v)?)), *part))
                }
                _ => None,
            },
        }),
        None => None,
    };
    let saved = SavedLayer {
        input_shape: job.inputs.shape,
        trained_components: layer.n_components(),
        config: job.spec.layer.clone(),
    };
    saved.save(&layer.clone().into(), &job.dir)?;
    timings.outputs = t.elapsed().as_secs_f64();
    timings.total = timings.data + timings.encode + timings.fit + timings.eval + timings.outputs;
    timings.cpu = process_cpu_seconds() - cpu;
    timings.peak_memory_mb = peak_memory_mb();
    let metrics = layer_metrics(&layer, job, [train, test], valid, report, seen, timings)?;
    write_json(&job.dir.join("metrics.json"), &metrics)?;
    Ok(LayerResult { layer, metrics, next })
}

/// The fitted layer and its report: EM from a fresh start or from the checkpoint, writing a
/// checkpoint every `checkpoint.every` iterations and on Ctrl-C.
fn fit_layer<M: Family>(
    layer: M,
    job: &LayerJob<'_>,
    rows: (&Encoded, Option<&Encoded>),
) -> Result<(M, FitReport), TrainError> {
    let (spec, progress) = (job.spec, &job.opts.progress);
    let ckpt_path = checkpoint::path_in(&job.opts.out_dir);
    let every = job.config.checkpoint.every;
    let mut after_iteration = |layer: &M, report: &FitReport| -> Result<(), TrainError> {
        let n = report.iterations.len();
        let stop = checkpoint::stop_requested();
        // Inside a stepwise EM pass only a stop writes (the cadence counts whole passes).
        if (n.is_multiple_of(every) && !report.mid_pass()) || stop {
            let whole: crate::Layer = layer.clone().into();
            let record = whole.record_bytes().map_err(|e| TrainError::file(&ckpt_path, e))?;
            let meta = CheckpointMeta {
                fingerprint: job.fingerprint.clone(),
                layer_index: job.index,
                layer_kind: spec.layer.kind().into(),
                trained_components: layer.n_components(),
                report: report.clone(),
                spent: job.clock.spent(),
            };
            Checkpoint::write(&ckpt_path, &meta, &record)?;
        }
        if stop {
            return Err(TrainError::Interrupted { iteration: n, checkpoint: ckpt_path.clone() });
        }
        Ok(())
    };
    if let Some(line) = job.start.describe() {
        progress.log(&line);
    }
    let start = match job.start.em_start(layer_seed(job.config, job.index)) {
        Ok(start) => start,
        Err(report) => return Ok((layer, report.unwrap_or_default())),
    };
    fit_watched(layer, rows, &spec.em, start, progress, &mut after_iteration)
}

/// What the pictures' pass measured.
struct Outputs {
    overlap: Option<crate::report::views::OverlapSummary>,
    purity: Option<f64>,
    nmi: Option<f64>,
    used_components: usize,
}

/// Top samples, pictures, overlap and label agreement.
fn outputs<M: Family>(
    layer: &M,
    job: &LayerJob<'_>,
    enc: &Encodings,
    report: &FitReport,
) -> Result<Outputs, TrainError> {
    let config = job.config;
    let (images, encoded) = match (config.top_split(), job.valid_split, &enc.valid) {
        (Split::Valid, Some(images), Some(encoded)) => (images, encoded),
        (Split::Test, ..) => (job.test_split, &enc.test),
        _ => (job.train_split, &enc.train),
    };
    let (top, assignment) = explain(layer, encoded, config.output.top_samples)?;
    let scale =
        if config.data.zero_meaned() { TileScale::PerTile } else { TileScale::Fixed(0.0, 1.0) };
    // Of a shard, the top samples' rows come from every rank (all take part in the sum).
    let (tiles, top) = images.top_images(top)?;
    // Pictures and overlap only where the run folder is written (rank 0 of an MPI job).
    let root = crate::cluster::world().is_root();
    if root {
        let target = PictureTarget {
            dir: &job.dir,
            columns: job.config.output.top_samples,
            on_images: job.index == 0,
            title: format!("{} layer {}: EM training log-likelihood", job.config.name, job.index),
        };
        write_pictures(layer, &target, &tiles, &top, scale, report)?;
    }
    let dims = job.inputs.shape[0] * job.inputs.shape[1];
    let overlap = if root { write_overlap(layer, &job.dir, job.index == 0, dims)? } else { None };
    // Counts over a shard's rows are completed by the other ranks'.
    let k = layer.n_components();
    let (purity, nmi) = match images.labels() {
        Some(labels) => {
            let mut table = contingency(&assignment, labels, k);
            encoded.sum_shards(&mut table);
            (Some(purity_of(&table)), Some(nmi_of(&table)))
        }
        None => (None, None),
    };
    if let (Some(p), Some(n)) = (purity, nmi) {
        job.opts.progress.log(&format!(
            "components vs labels ({} split): purity {p:.4}, NMI {n:.4}",
            config.top_split()
        ));
    }
    let mut used = vec![0.0; k];
    assignment.iter().for_each(|&c| used[c] = 1.0);
    encoded.sum_shards(&mut used);
    let used_components = used.iter().filter(|&&u| u > 0.0).count();
    Ok(Outputs { overlap, purity, nmi, used_components })
}

/// The layer's `metrics.json`.
fn layer_metrics<M: Family>(
    layer: &M,
    job: &LayerJob<'_>,
    [train, test]: [Score; 2],
    valid: Option<Score>,
    report: FitReport,
    seen: Outputs,
    timings: Timings,
) -> Result<Metrics, TrainError> {
    let (config, spec) = (job.config, job.spec);
    let p = layer.n_parameters();
    Ok(Metrics {
        name: config.name.clone(),
        layer: job.index,
        kind: spec.layer.kind().into(),
        input: spec.input,
        reused_from: spec.reuse.clone(),
        warm_started_from: spec.em.warm_start.clone(),
        dataset: config.data.name().into(),
        device: job.opts.device_name.clone(),
        adapter: gmm_models::device_description(&job.opts.device_name).unwrap_or_default(),
        dims: job.inputs.shape[0] * job.inputs.shape[1],
        configured_components: spec.layer.n_components(),
        n_components: layer.n_components(),
        iterations: report.iterations,
        converged: report.converged,
        best_iteration: report.best_iteration,
        restarts: report.restarts,
        train,
        valid,
        test,
        weights: layer.weights()?,
        purity: seen.purity,
        nmi: seen.nmi,
        overlap: seen.overlap,
        used_components: seen.used_components,
        n_parameters: Some(p),
        criteria: Some(Criteria::new(train.nats_per_sample, train.n, p)),
        timings,
    })
}
