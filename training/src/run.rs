//! A whole run: data → layers (greedily, bottom up) → EM → scores → run folder (model,
//! config, metrics, pictures per layer).

use crate::checkpoint::{self, Checkpoint, CheckpointMeta, Fingerprint};
use crate::config::{RunConfig, Split};
use crate::data::load_split;
use crate::em::{FitReport, Start, fit_with, mean_log_likelihood};
use crate::features::Feature;
use crate::inspect::{Inspect, OverlapSummary, per_dimension_overlap};
use crate::labels::{nmi, purity};
use crate::metrics::{Metrics, Score, StackMetrics, Timings};
use crate::pictures::{TileScale, component_grid, curve_svg, matrix_picture, tile_sheet};
use crate::top::explain;
use crate::{Layer, Progress, SavedLayer, StackLayer, TrainError, fsio};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use gmm_datasets::Images;
use gmm_models::{Device, Encoded, Mixture};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
}

/// Encodes rows (`[N, D]` host values) for `layer` and uploads them in batches.
pub fn encode_rows<M: Mixture>(
    layer: &M,
    rows: &[f32],
    batch_size: usize,
    device: &Device,
) -> Result<Encoded, TrainError> {
    let encoded = layer.encode(rows)?;
    Ok(Encoded::from_rows(&encoded, layer.encoded_width(), batch_size, device))
}

/// Encodes images for `layer` and uploads them in batches.
pub fn encode<M: Mixture>(
    layer: &M,
    images: &Images,
    batch_size: usize,
    device: &Device,
) -> Result<Encoded, TrainError> {
    encode_rows(layer, &images.pixels, batch_size, device)
}

/// The folder of layer `i` of a stack of `n` (the run folder itself for a single layer).
pub fn layer_dir(run: &Path, i: usize, n: usize) -> PathBuf {
    if n == 1 { run.to_path_buf() } else { run.join(format!("layer{i}")) }
}

/// One layer's inputs: rows for train and test, and their shape.
struct Inputs {
    train: Vec<f32>,
    test: Vec<f32>,
    shape: [usize; 2],
}

/// Everything a layer's training needs to know about the run.
struct LayerJob<'a> {
    config: &'a RunConfig,
    spec: &'a StackLayer,
    index: usize,
    dir: PathBuf,
    opts: &'a RunOptions,
    train_images: &'a Images,
    test_images: &'a Images,
    inputs: &'a Inputs,
    next_feature: Option<Feature>,
    start: LayerStart,
    fingerprint: &'a Fingerprint,
}

/// How a layer of a run begins.
enum LayerStart {
    /// Initialised and fitted.
    Fresh,
    /// Taken as it is from an earlier run's folder.
    Reused(PathBuf),
    /// Completed before an interruption: saved in its folder, with this report.
    Completed(FitReport),
    /// Interrupted: continued from the checkpoint after these iterations.
    Resumed(FitReport),
}

/// What training one layer produced.
struct LayerResult<M> {
    layer: M,
    metrics: Metrics,
    next: Option<Inputs>,
}

/// Trains the run a config describes — one layer, or a stack bottom up — and writes its folder.
pub fn train_run(config: &RunConfig, opts: &RunOptions) -> Result<RunOutcome, TrainError> {
    let start = Instant::now();
    let progress = &opts.progress;
    create_dir(&opts.out_dir)?;
    let t = Instant::now();
    progress.log(&format!("loading {} data from {}", config.data.name(), opts.data_root.display()));
    let train = load_split(&config.data, &opts.data_root, Split::Train, config.seed)?;
    let test = load_split(&config.data, &opts.data_root, Split::Test, config.seed)?;
    let data_seconds = t.elapsed().as_secs_f64();
    progress.log(&format!(
        "{} train and {} test samples of {}x{} ({data_seconds:.2} s)",
        train.len(),
        test.len(),
        train.height,
        train.width,
    ));
    let fingerprint =
        Fingerprint::new(&config.model_definition(), [train.height, train.width], &train.pixels);
    let ckpt_path = checkpoint::path_in(&opts.out_dir);
    let resume = match opts.resume {
        true => Some(read_checkpoint(&ckpt_path, &fingerprint)?),
        false => None,
    };
    let stack = config.stack();
    let mut inputs = Inputs {
        train: train.pixels.clone(),
        test: test.pixels.clone(),
        shape: [train.height, train.width],
    };
    let (mut all_metrics, mut layers) = (Vec::new(), Vec::new());
    for (index, spec) in stack.iter().enumerate() {
        let dir = layer_dir(&opts.out_dir, index, stack.len());
        create_dir(&dir)?;
        if stack.len() > 1 {
            progress.log(&format!(
                "layer {index}: {} with {} components{}",
                spec.layer.kind(),
                spec.layer.n_components(),
                spec.input.map_or(String::new(), |f| format!(" on {f:?}"))
            ));
        }
        let resumed_at = resume.as_ref().map(|c| c.meta.layer_index);
        let (start, layer) = match (&spec.reuse, resumed_at) {
            (Some(from), _) => (
                LayerStart::Reused(from.clone()),
                reused_layer(from, spec, inputs.shape, &opts.device)?,
            ),
            (None, Some(at)) if index < at => {
                let (_, layer) = SavedLayer::load(&dir, &opts.device)?;
                (LayerStart::Completed(completed_report(&dir)?), layer)
            }
            (None, Some(at)) if index == at => {
                let ckpt = resume.as_ref().expect("resuming");
                let layer = restore_layer(&ckpt_path, ckpt, spec, inputs.shape, &opts.device)?;
                progress.log(&format!(
                    "resuming layer {index} after iteration {} from {}",
                    ckpt.meta.report.iterations.len(),
                    ckpt_path.display()
                ));
                (LayerStart::Resumed(ckpt.meta.report.clone()), layer)
            }
            _ => (LayerStart::Fresh, spec.layer.init(inputs.shape, &opts.device)?),
        };
        let job = LayerJob {
            config,
            spec,
            index,
            dir: dir.clone(),
            opts,
            train_images: &train,
            test_images: &test,
            inputs: &inputs,
            next_feature: stack.get(index + 1).and_then(|s| s.input),
            start,
            fingerprint: &fingerprint,
        };
        let (layer, mut metrics, next) = match layer {
            Layer::Conv(m) => unpack(train_layer(m, &job, data_seconds)?),
            Layer::Full(m) => unpack(train_layer(m, &job, data_seconds)?),
            Layer::Prob(m) => unpack(train_layer(m, &job, data_seconds)?),
        };
        let t = Instant::now();
        let saved = SavedLayer {
            input_shape: inputs.shape,
            trained_components: metrics.n_components,
            config: spec.layer.clone(),
        };
        saved.save(&layer, &dir)?;
        metrics.timings.outputs += t.elapsed().as_secs_f64();
        metrics.timings.total = metrics.timings.data
            + metrics.timings.encode
            + metrics.timings.fit
            + metrics.timings.eval
            + metrics.timings.outputs;
        write_json(&dir.join("metrics.json"), &metrics)?;
        all_metrics.push(metrics);
        layers.push(layer);
        if let Some(next) = next {
            inputs = next;
        }
    }
    let config_path = opts.out_dir.join("config.toml");
    let text = toml::to_string(config).map_err(|e| TrainError::file(&config_path, e))?;
    fsio::write_atomic(&config_path, text.as_bytes())?;
    let total_seconds = start.elapsed().as_secs_f64();
    if stack.len() > 1 {
        let summary =
            StackMetrics { name: config.name.clone(), layers: all_metrics.clone(), total_seconds };
        write_json(&opts.out_dir.join("metrics.json"), &summary)?;
    } else if let Some(m) = all_metrics.first_mut() {
        m.timings.total = total_seconds;
        write_json(&opts.out_dir.join("metrics.json"), m)?;
    }
    // The run folder is complete: its checkpoint has served.
    if ckpt_path.exists() {
        std::fs::remove_file(&ckpt_path)
            .map_err(|e| TrainError::file(&ckpt_path, format!("cannot remove: {e}")))?;
    }
    progress.log(&format!("wrote {} ({total_seconds:.1} s in all)", opts.out_dir.display()));
    Ok(RunOutcome { metrics: all_metrics, layers, total_seconds })
}

fn unpack<M: Into<Layer>>(r: LayerResult<M>) -> (Layer, Metrics, Option<Inputs>) {
    (r.layer.into(), r.metrics, r.next)
}

fn create_dir(dir: &Path) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TrainError::file(dir, format!("cannot create the folder: {e}")))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let json = serde_json::to_string_pretty(value).map_err(|e| TrainError::file(path, e))?;
    fsio::write_atomic(path, json.as_bytes())
}

/// A trained layer from an earlier run, checked against what this stack expects there.
fn reused_layer(
    from: &Path,
    spec: &StackLayer,
    shape: [usize; 2],
    device: &Device,
) -> Result<Layer, TrainError> {
    let (saved, layer) = SavedLayer::load(from, device)?;
    if saved.input_shape != shape || saved.config.kind() != spec.layer.kind() {
        return Err(TrainError::file(
            &from.join("model.toml"),
            format!(
                "cannot be reused here: it is a {} layer over inputs of shape {:?}, this layer is a {} \
                 over {:?}",
                saved.config.kind(),
                saved.input_shape,
                spec.layer.kind(),
                shape
            ),
        ));
    }
    Ok(layer)
}

/// Encode, fit (unless reused), score, draw, and compute the next layer's features.
fn train_layer<M: Inspect>(
    layer: M,
    job: &LayerJob<'_>,
    data_seconds: f64,
) -> Result<LayerResult<M>, TrainError> {
    let (config, spec, opts) = (job.config, job.spec, job.opts);
    let progress = &opts.progress;
    let mut timings = Timings {
        data: if job.index == 0 { data_seconds } else { 0.0 },
        threads: rayon::current_num_threads(),
        ..Timings::default()
    };
    let t = Instant::now();
    let batch = spec.em.batch_size;
    let train_enc = encode_rows(&layer, &job.inputs.train, batch, &opts.device)?;
    let test_enc = encode_rows(&layer, &job.inputs.test, batch, &opts.device)?;
    timings.encode = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let ckpt_path = checkpoint::path_in(&opts.out_dir);
    let every = config.checkpoint.every;
    let mut after_iteration = |layer: &M, report: &FitReport| -> Result<(), TrainError> {
        let n = report.iterations.len();
        let stop = checkpoint::stop_requested();
        if n.is_multiple_of(every) || stop {
            let record = layer.clone().into_record().into_bytes().map_err(|e| {
                TrainError::file(&ckpt_path, format!("cannot encode the record: {e:?}"))
            })?;
            let meta = CheckpointMeta {
                fingerprint: job.fingerprint.clone(),
                layer_index: job.index,
                layer_kind: spec.layer.kind().into(),
                trained_components: layer.n_components(),
                report: report.clone(),
            };
            Checkpoint::write(&ckpt_path, &meta, &record)?;
        }
        if stop {
            return Err(TrainError::Interrupted { iteration: n, checkpoint: ckpt_path.clone() });
        }
        Ok(())
    };
    let seed = config.seed.wrapping_add(job.index as u64);
    let (layer, report) = match &job.start {
        LayerStart::Reused(from) => {
            progress.log(&format!("reusing the trained layer of {}", from.display()));
            (layer, FitReport::default())
        }
        LayerStart::Completed(report) => (layer, report.clone()),
        LayerStart::Resumed(report) => {
            let start = Start::Resume(report.clone());
            fit_with(layer, &train_enc, &spec.em, start, progress, &mut after_iteration)?
        }
        LayerStart::Fresh => fit_with(
            layer,
            &train_enc,
            &spec.em,
            Start::Fresh { seed },
            progress,
            &mut after_iteration,
        )?,
    };
    timings.fit = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let dims = job.inputs.shape[0] * job.inputs.shape[1];
    let n_train = train_enc.n;
    let train = Score::new(mean_log_likelihood(&layer, &train_enc)?, dims, n_train);
    let test = Score::new(mean_log_likelihood(&layer, &test_enc)?, dims, test_enc.n);
    timings.eval = t.elapsed().as_secs_f64();
    progress.log(&format!(
        "final: train {:.4} nats/sample ({:.4} bits/dim), test {:.4} nats/sample ({:.4} bits/dim)",
        train.nats_per_sample, train.bits_per_pixel, test.nats_per_sample, test.bits_per_pixel
    ));

    let t = Instant::now();
    let (images, encoded) = match config.top_split() {
        Split::Train => (job.train_images, &train_enc),
        Split::Test => (job.test_images, &test_enc),
    };
    let (top, assignment) = explain(&layer, encoded, config.output.top_samples)?;
    let scale =
        if config.data.zero_meaned() { TileScale::PerTile } else { TileScale::Fixed(0.0, 1.0) };
    write_pictures(&layer, job, images, &top, scale, &report)?;
    let overlap = write_overlap(&layer, &job.dir, job.index == 0, dims)?;
    let (purity_v, nmi_v) = match &images.labels {
        Some(labels) => (Some(purity(&assignment, labels)), Some(nmi(&assignment, labels))),
        None => (None, None),
    };
    let mut used = vec![false; layer.n_components()];
    assignment.iter().for_each(|&c| used[c] = true);
    let next = match job.next_feature {
        Some(feature) => Some(Inputs {
            train: feature.compute(&layer, &train_enc)?,
            test: feature.compute(&layer, &test_enc)?,
            shape: [1, layer.n_components()],
        }),
        None => None,
    };
    timings.outputs = t.elapsed().as_secs_f64();
    if let (Some(p), Some(n)) = (purity_v, nmi_v) {
        progress.log(&format!(
            "components vs labels ({} split): purity {p:.4}, NMI {n:.4}",
            config.top_split()
        ));
    }

    let metrics = Metrics {
        name: config.name.clone(),
        layer: job.index,
        kind: spec.layer.kind().into(),
        input: spec.input,
        reused_from: spec.reuse.clone(),
        dataset: config.data.name().into(),
        device: opts.device_name.clone(),
        pixels: dims,
        configured_components: spec.layer.n_components(),
        n_components: layer.n_components(),
        iterations: report.iterations,
        converged: report.converged,
        train,
        test,
        weights: layer.weights()?,
        purity: purity_v,
        nmi: nmi_v,
        overlap,
        used_components: used.iter().filter(|&&u| u).count(),
        timings,
    };
    Ok(LayerResult { layer, metrics, next })
}

/// `components.png` (top samples and, for a first layer, the family's extra column), the
/// family's own pictures (`means.png`), and `curve.svg`, in the layer's folder.
fn write_pictures<M: Inspect>(
    layer: &M,
    job: &LayerJob<'_>,
    images: &Images,
    top: &[Vec<usize>],
    scale: TileScale,
    report: &FitReport,
) -> Result<(), TrainError> {
    let columns = job.config.output.top_samples;
    let on_images = job.index == 0;
    let extra = if on_images { layer.extra_column(scale)? } else { None };
    let extra = extra.as_ref().map(|(tiles, s)| (tiles.as_slice(), *s));
    write_png(
        &component_grid(images, top, columns, extra, scale),
        &job.dir.join("components.png"),
    )?;
    if let (true, Some((name, tiles))) = (on_images, layer.own_pictures()?) {
        write_png(&tile_sheet(&tiles, images.height, images.width, 8, scale), &job.dir.join(name))?;
    }
    if !report.iterations.is_empty() {
        let title = format!("{} layer {}: EM training log-likelihood", job.config.name, job.index);
        fsio::write_atomic(
            &job.dir.join("curve.svg"),
            curve_svg(&report.lower_bounds(), &title).as_bytes(),
        )?;
    }
    Ok(())
}

/// `overlap.png` (the per-dimension Bhattacharyya coefficient `exp(−D_B/D)` of every pair of
/// components, when the family computes them cheaply) and, for a conv layer on images, `filters.png` (per component: power
/// spectrum of the filter, zero-phase filter, minimum-phase filter). Returns the summary.
pub fn write_overlap<M: Inspect>(
    layer: &M,
    dir: &Path,
    on_images: bool,
    dims: usize,
) -> Result<Option<OverlapSummary>, TrainError> {
    if let (true, Some(tiles)) = (on_images, layer.filter_tiles()?) {
        let p = (tiles[0].len() as f64).sqrt().round() as usize;
        write_png(&tile_sheet(&tiles, p, p, 3, TileScale::PerTile), &dir.join("filters.png"))?;
    }
    let Some(distances) = layer.overlap()? else { return Ok(None) };
    let k = layer.n_components();
    let cell = (512 / k.max(1)).clamp(2, 24) as u32;
    let picture = per_dimension_overlap(&distances, dims);
    write_png(&matrix_picture(&picture, k, cell), &dir.join("overlap.png"))?;
    Ok(OverlapSummary::new(&distances, &layer.weights()?, dims))
}

/// Writes a picture as a PNG, atomically.
pub fn write_png(image: &image::RgbImage, path: &Path) -> Result<(), TrainError> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| TrainError::file(path, e))?;
    fsio::write_atomic(path, &png)
}

/// Scores a trained run folder on one split, layer by layer (each layer on the features of
/// the one below): mean log-likelihood in nats per sample and bits per dimension.
pub fn evaluate_run(
    run_dir: &Path,
    split: Split,
    opts: &RunOptions,
) -> Result<Vec<Score>, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let images = load_split(&config.data, &opts.data_root, split, config.seed)?;
    score_run(run_dir, &config, &images, opts)
}

/// As [`evaluate_run`], on images already loaded for the run's `config`.
pub fn score_run(
    run_dir: &Path,
    config: &RunConfig,
    images: &Images,
    opts: &RunOptions,
) -> Result<Vec<Score>, TrainError> {
    let stack = config.stack();
    let mut rows = images.pixels.clone();
    let mut scores = Vec::new();
    for (i, spec) in stack.iter().enumerate() {
        let (saved, layer) = SavedLayer::load(&layer_dir(run_dir, i, stack.len()), &opts.device)?;
        let dims = saved.input_shape[0] * saved.input_shape[1];
        let next = stack.get(i + 1).and_then(|s| s.input);
        let (mean, next_rows) = match &layer {
            Layer::Conv(m) => score_layer(m, &rows, spec, next, opts)?,
            Layer::Full(m) => score_layer(m, &rows, spec, next, opts)?,
            Layer::Prob(m) => score_layer(m, &rows, spec, next, opts)?,
        };
        scores.push(Score::new(mean, dims, rows.len() / dims));
        if let Some(r) = next_rows {
            rows = r;
        }
    }
    Ok(scores)
}

/// Writes every layer's `overlap.png` (and a conv first layer's `filters.png`) for a trained
/// run folder into `out_dir` (`layer<i>/` for a stack) and returns each layer's overlap summary
/// (`None` where the family's overlap is too costly: a full GMM with K²·D³ over the budget).
pub fn inspect_run(
    run_dir: &Path,
    out_dir: &Path,
    device: &Device,
) -> Result<Vec<Option<OverlapSummary>>, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let n = config.stack().len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (saved, layer) = SavedLayer::load(&layer_dir(run_dir, i, n), device)?;
        let dir = layer_dir(out_dir, i, n);
        create_dir(&dir)?;
        let dims = saved.input_shape[0] * saved.input_shape[1];
        out.push(match &layer {
            Layer::Conv(m) => write_overlap(m, &dir, i == 0, dims)?,
            Layer::Full(m) => write_overlap(m, &dir, i == 0, dims)?,
            Layer::Prob(m) => write_overlap(m, &dir, i == 0, dims)?,
        });
    }
    Ok(out)
}

fn score_layer<M: Mixture>(
    layer: &M,
    rows: &[f32],
    spec: &StackLayer,
    next: Option<Feature>,
    opts: &RunOptions,
) -> Result<(f64, Option<Vec<f32>>), TrainError> {
    let enc = encode_rows(layer, rows, spec.em.batch_size, &opts.device)?;
    let mean = mean_log_likelihood(layer, &enc)?;
    let next_rows = next.map(|f| f.compute(layer, &enc)).transpose()?;
    Ok((mean, next_rows))
}

/// The run folder's checkpoint, verified against this run.
fn read_checkpoint(path: &Path, fingerprint: &Fingerprint) -> Result<Checkpoint, TrainError> {
    if !path.is_file() {
        return Err(TrainError::file(path, "no checkpoint to resume from; train without --resume"));
    }
    let ckpt = Checkpoint::read(path)?;
    ckpt.check_fingerprint(path, fingerprint)?;
    Ok(ckpt)
}

/// The layer being trained when the checkpoint was written, with its parameters.
fn restore_layer(
    path: &Path,
    ckpt: &Checkpoint,
    spec: &StackLayer,
    shape: [usize; 2],
    device: &Device,
) -> Result<Layer, TrainError> {
    if ckpt.meta.layer_kind != spec.layer.kind() {
        return Err(TrainError::file(path, "holds a layer of another kind than the config's"));
    }
    let mut config = spec.layer.clone();
    config.set_n_components(ckpt.meta.trained_components);
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(ckpt.record.clone()))
        .map_err(|e| TrainError::file(path, format!("holds an unreadable record: {e:?}")))?;
    let misfit =
        |e| TrainError::file(path, format!("holds parameters that do not fit the layer: {e:?}"));
    Ok(match config.init(shape, device)? {
        Layer::Conv(m) => Layer::Conv(m.try_load_record(record).map_err(misfit)?),
        Layer::Full(m) => Layer::Full(m.try_load_record(record).map_err(misfit)?),
        Layer::Prob(m) => Layer::Prob(m.try_load_record(record).map_err(misfit)?),
    })
}

/// The report of a layer completed before an interruption, from its `metrics.json`.
fn completed_report(dir: &Path) -> Result<FitReport, TrainError> {
    let path = dir.join("metrics.json");
    let metrics: Metrics = serde_json::from_slice(&fsio::read(&path)?).map_err(|e| {
        TrainError::file(&path, format!("unreadable metrics of a completed layer: {e}"))
    })?;
    Ok(FitReport {
        iterations: metrics.iterations,
        converged: metrics.converged,
        ..FitReport::default()
    })
}
