//! A whole run: data → layer → EM → scores → run folder (model, config, metrics, pictures).

use crate::config::{RunConfig, Split};
use crate::data::load_split;
use crate::em::{fit, mean_log_likelihood};
use crate::metrics::{Metrics, Score, Timings};
use crate::pictures::{TileScale, component_grid, curve_svg};
use crate::top::top_samples;
use crate::{Layer, Progress, SavedLayer, TrainError, fsio};
use gmm_datasets::Images;
use gmm_models::{ConvGmm, Device, Encoded, Mixture};
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
    let train = load_split(&config.data, &opts.data_root, Split::Train, config.seed)?;
    let test = load_split(&config.data, &opts.data_root, Split::Test, config.seed)?;
    timings.data = t.elapsed().as_secs_f64();
    progress.log(&format!(
        "{} train and {} test samples of {}x{} ({:.2} s)",
        train.len(),
        test.len(),
        train.height,
        train.width,
        timings.data
    ));
    let size = square_side(&train)?;

    let layer = match config.model.init(size, &opts.device)? {
        Layer::Conv(m) => m,
    };
    let t = Instant::now();
    let train_enc = encode(&layer, &train, config.em.batch_size, &opts.device)?;
    let test_enc = encode(&layer, &test, config.em.batch_size, &opts.device)?;
    timings.encode = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (layer, report) = fit(layer, &train_enc, &config.em, config.seed, progress)?;
    timings.fit = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let pixels = train.dim();
    let train_score = Score::new(
        mean_log_likelihood(&layer, &train_enc)?,
        pixels,
        train.len(),
    );
    let test_score = Score::new(mean_log_likelihood(&layer, &test_enc)?, pixels, test.len());
    timings.eval = t.elapsed().as_secs_f64();
    progress.log(&format!(
        "final: train {:.4} nats/sample ({:.4} bits/pixel), test {:.4} nats/sample ({:.4} bits/pixel)",
        train_score.nats_per_sample,
        train_score.bits_per_pixel,
        test_score.nats_per_sample,
        test_score.bits_per_pixel
    ));

    let t = Instant::now();
    let (top_images, top_enc) = match config.top_split() {
        Split::Train => (&train, &train_enc),
        Split::Test => (&test, &test_enc),
    };
    write_pictures(
        &layer,
        config,
        top_images,
        top_enc,
        &report.lower_bounds(),
        &opts.out_dir,
    )?;
    let out_layer = Layer::Conv(layer);
    SavedLayer {
        image_size: size,
        config: config.model.clone(),
    }
    .save(&out_layer, &opts.out_dir)?;
    let config_path = opts.out_dir.join("config.toml");
    let config_text = toml::to_string(config).map_err(|e| TrainError::file(&config_path, e))?;
    fsio::write_atomic(&config_path, config_text.as_bytes())?;
    timings.outputs = t.elapsed().as_secs_f64();
    timings.total = start.elapsed().as_secs_f64();

    let Layer::Conv(ref trained) = out_layer;
    let metrics = Metrics {
        name: config.name.clone(),
        dataset: config.data.name().into(),
        device: opts.device_name.clone(),
        pixels,
        n_components: trained.n_components(),
        iterations: report.iterations,
        converged: report.converged,
        train: train_score,
        test: test_score,
        weights: trained.weights_host()?,
        timings,
    };
    let metrics_path = opts.out_dir.join("metrics.json");
    let json =
        serde_json::to_string_pretty(&metrics).map_err(|e| TrainError::file(&metrics_path, e))?;
    fsio::write_atomic(&metrics_path, json.as_bytes())?;
    progress.log(&format!(
        "wrote {} ({:.1} s in all)",
        opts.out_dir.display(),
        metrics.timings.total
    ));
    Ok(RunOutcome {
        metrics,
        layer: out_layer,
    })
}

/// `components.png` (top samples and filter spectra) and `curve.svg`.
fn write_pictures(
    layer: &ConvGmm,
    config: &RunConfig,
    images: &Images,
    encoded: &Encoded,
    lower_bounds: &[f64],
    dir: &Path,
) -> Result<(), TrainError> {
    let top = top_samples(layer, encoded, config.output.top_samples)?;
    let filters: Vec<Vec<f64>> = layer
        .spectra_host()?
        .iter()
        .map(|s| {
            let inv: Vec<f64> = s.iter().map(|v| 1.0 / v).collect();
            layer.layout.to_full_grid(&inv, 0.0)
        })
        .collect();
    let scale = if config.data.zero_meaned() {
        TileScale::PerTile
    } else {
        TileScale::Fixed(0.0, 1.0)
    };
    let grid = component_grid(
        images,
        &top,
        config.output.top_samples,
        Some(&filters),
        scale,
    );
    let png_path = dir.join("components.png");
    let mut png = Vec::new();
    grid.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| TrainError::file(&png_path, e))?;
    fsio::write_atomic(&png_path, &png)?;
    let title = format!("{}: EM training log-likelihood", config.name);
    fsio::write_atomic(
        &dir.join("curve.svg"),
        curve_svg(lower_bounds, &title).as_bytes(),
    )
}

fn square_side(images: &Images) -> Result<usize, TrainError> {
    if images.height != images.width {
        return Err(gmm_datasets::DataError::Request(format!(
            "the convolutional GMM needs square images, got {}x{}",
            images.height, images.width
        ))
        .into());
    }
    Ok(images.height)
}

/// Scores a trained run folder on one split: mean log-likelihood (nats/sample, bits/pixel).
pub fn evaluate_run(run_dir: &Path, split: Split, opts: &RunOptions) -> Result<Score, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let (_, layer) = SavedLayer::load(run_dir, &opts.device)?;
    let images = load_split(&config.data, &opts.data_root, split, config.seed)?;
    let Layer::Conv(layer) = layer;
    let enc = encode(&layer, &images, config.em.batch_size, &opts.device)?;
    Ok(Score::new(
        mean_log_likelihood(&layer, &enc)?,
        images.dim(),
        images.len(),
    ))
}
