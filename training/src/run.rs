//! A whole run: data → layer → EM → scores → run folder (model, config, metrics, pictures).

use crate::config::{RunConfig, Split};
use crate::data::load_split;
use crate::em::{fit, mean_log_likelihood};
use crate::inspect::Inspect;
use crate::metrics::{Metrics, Score, Timings};
use crate::pictures::{TileScale, component_grid, curve_svg, tile_sheet};
use crate::top::top_samples;
use crate::{FitReport, Layer, Progress, SavedLayer, TrainError, fsio};
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
}

/// What a finished run hands back.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The metrics also written to `metrics.json`.
    pub metrics: Metrics,
    /// The trained layer.
    pub layer: Layer,
}

/// Encodes samples for `layer` and uploads them in batches.
pub fn encode<M: Mixture>(
    layer: &M,
    images: &Images,
    batch_size: usize,
    device: &Device,
) -> Result<Encoded, TrainError> {
    let rows = layer.encode(&images.pixels)?;
    Ok(Encoded::from_rows(
        &rows,
        layer.encoded_width(),
        batch_size,
        device,
    ))
}

/// The data of a run, loaded once.
struct RunData {
    train: Images,
    test: Images,
}

/// Trains the run a config describes and writes its folder.
pub fn train_run(config: &RunConfig, opts: &RunOptions) -> Result<RunOutcome, TrainError> {
    let start = Instant::now();
    let mut timings = Timings::default();
    let progress = &opts.progress;
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| {
        TrainError::file(&opts.out_dir, format!("cannot create the run folder: {e}"))
    })?;

    let t = Instant::now();
    progress.log(&format!(
        "loading {} data from {}",
        config.data.name(),
        opts.data_root.display()
    ));
    let data = RunData {
        train: load_split(&config.data, &opts.data_root, Split::Train, config.seed)?,
        test: load_split(&config.data, &opts.data_root, Split::Test, config.seed)?,
    };
    timings.data = t.elapsed().as_secs_f64();
    progress.log(&format!(
        "{} train and {} test samples of {}x{} ({:.2} s)",
        data.train.len(),
        data.test.len(),
        data.train.height,
        data.train.width,
        timings.data
    ));
    let shape = [data.train.height, data.train.width];
    let (layer, mut metrics) = match config.model.init(shape, &opts.device)? {
        Layer::Conv(m) => train_layer(m, config, opts, &data, timings)
            .map(|(m, metrics)| (Layer::Conv(m), metrics))?,
        Layer::Full(m) => train_layer(m, config, opts, &data, timings)
            .map(|(m, metrics)| (Layer::Full(m), metrics))?,
    };

    let t = Instant::now();
    let saved = SavedLayer {
        input_shape: shape,
        trained_components: metrics.n_components,
        config: config.model.clone(),
    };
    saved.save(&layer, &opts.out_dir)?;
    let config_path = opts.out_dir.join("config.toml");
    let config_text = toml::to_string(config).map_err(|e| TrainError::file(&config_path, e))?;
    fsio::write_atomic(&config_path, config_text.as_bytes())?;
    metrics.timings.outputs += t.elapsed().as_secs_f64();
    metrics.timings.total = start.elapsed().as_secs_f64();
    let metrics_path = opts.out_dir.join("metrics.json");
    let json =
        serde_json::to_string_pretty(&metrics).map_err(|e| TrainError::file(&metrics_path, e))?;
    fsio::write_atomic(&metrics_path, json.as_bytes())?;
    progress.log(&format!(
        "wrote {} ({:.1} s in all)",
        opts.out_dir.display(),
        metrics.timings.total
    ));
    Ok(RunOutcome { metrics, layer })
}

/// Encode, fit, score and draw one layer of any family.
fn train_layer<M: Inspect>(
    layer: M,
    config: &RunConfig,
    opts: &RunOptions,
    data: &RunData,
    mut timings: Timings,
) -> Result<(M, Metrics), TrainError> {
    let progress = &opts.progress;
    let t = Instant::now();
    let train_enc = encode(&layer, &data.train, config.em.batch_size, &opts.device)?;
    let test_enc = encode(&layer, &data.test, config.em.batch_size, &opts.device)?;
    timings.encode = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (layer, report) = fit(layer, &train_enc, &config.em, config.seed, progress)?;
    timings.fit = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let pixels = data.train.dim();
    let train = Score::new(
        mean_log_likelihood(&layer, &train_enc)?,
        pixels,
        data.train.len(),
    );
    let test = Score::new(
        mean_log_likelihood(&layer, &test_enc)?,
        pixels,
        data.test.len(),
    );
    timings.eval = t.elapsed().as_secs_f64();
    progress.log(&format!(
        "final: train {:.4} nats/sample ({:.4} bits/pixel), test {:.4} nats/sample ({:.4} bits/pixel)",
        train.nats_per_sample, train.bits_per_pixel, test.nats_per_sample, test.bits_per_pixel
    ));

    let t = Instant::now();
    let (images, encoded) = match config.top_split() {
        Split::Train => (&data.train, &train_enc),
        Split::Test => (&data.test, &test_enc),
    };
    write_pictures(&layer, config, images, encoded, &report, &opts.out_dir)?;
    timings.outputs = t.elapsed().as_secs_f64();

    let metrics = Metrics {
        name: config.name.clone(),
        dataset: config.data.name().into(),
        device: opts.device_name.clone(),
        pixels,
        n_components: layer.n_components(),
        iterations: report.iterations,
        converged: report.converged,
        train,
        test,
        weights: layer.weights()?,
        timings,
    };
    Ok((layer, metrics))
}

/// `components.png` (top samples and the family's extra column), the family's own pictures
/// (`means.png`), and `curve.svg`.
fn write_pictures<M: Inspect>(
    layer: &M,
    config: &RunConfig,
    images: &Images,
    encoded: &Encoded,
    report: &FitReport,
    dir: &Path,
) -> Result<(), TrainError> {
    let top = top_samples(layer, encoded, config.output.top_samples)?;
    let scale = if config.data.zero_meaned() {
        TileScale::PerTile
    } else {
        TileScale::Fixed(0.0, 1.0)
    };
    let extra = layer.extra_column(scale)?;
    let extra = extra.as_ref().map(|(tiles, s)| (tiles.as_slice(), *s));
    let grid = component_grid(images, &top, config.output.top_samples, extra, scale);
    write_png(&grid, &dir.join("components.png"))?;
    if let Some((name, tiles)) = layer.own_pictures()? {
        write_png(
            &tile_sheet(&tiles, images.height, images.width, 8, scale),
            &dir.join(name),
        )?;
    }
    let title = format!("{}: EM training log-likelihood", config.name);
    fsio::write_atomic(
        &dir.join("curve.svg"),
        curve_svg(&report.lower_bounds(), &title).as_bytes(),
    )
}

fn write_png(image: &image::RgbImage, path: &Path) -> Result<(), TrainError> {
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| TrainError::file(path, e))?;
    fsio::write_atomic(path, &png)
}

/// Scores a trained run folder on one split: mean log-likelihood (nats/sample, bits/pixel).
pub fn evaluate_run(run_dir: &Path, split: Split, opts: &RunOptions) -> Result<Score, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let (_, layer) = SavedLayer::load(run_dir, &opts.device)?;
    let images = load_split(&config.data, &opts.data_root, split, config.seed)?;
    let mean = match &layer {
        Layer::Conv(m) => {
            mean_log_likelihood(m, &encode(m, &images, config.em.batch_size, &opts.device)?)?
        }
        Layer::Full(m) => {
            mean_log_likelihood(m, &encode(m, &images, config.em.batch_size, &opts.device)?)?
        }
    };
    Ok(Score::new(mean, images.dim(), images.len()))
}
