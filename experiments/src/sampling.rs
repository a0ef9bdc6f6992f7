//! Pictures of samples drawn from a trained run.

use gmm_datasets::Images;
use gmm_models::{Device, Generative};
use gmm_training::config::RunConfig;
use gmm_training::folder::layer_dir;
use gmm_training::pictures::{TileScale, component_grid};
use gmm_training::{SavedLayer, TrainError};
use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The most samples one picture holds (a grid of 10,000 rows of ten).
pub const MAX_PICTURE_SAMPLES: u64 = 100_000;

/// What to draw.
#[derive(Debug, Clone, Copy)]
pub struct SampleRequest {
    /// Samples in all (or per component).
    pub n: usize,
    /// One row per component, `n` samples each, instead of `n` draws from the mixture.
    pub per_component: bool,
    /// Seed of the draws.
    pub seed: u64,
}

/// Samples of a run's image model as a picture grid (ten per row, or one row per component).
///
/// A stack generates images through its first layer only: the layers above model features of
/// the layer below (log-likelihoods, posteriors), which no map sends back to pixels, so they
/// define no distribution over images to sample from.
pub fn sample_picture(
    run: &Path,
    request: SampleRequest,
    device: &Device,
) -> Result<RgbImage, TrainError> {
    let config = RunConfig::load(&run.join("config.toml"))?;
    let (saved, layer) = SavedLayer::load(&layer_dir(run, 0, config.stack().len()), device)?;
    let [height, width] = saved.input_shape;
    let k = layer.n_components() as u64;
    let tiles = (request.n as u64).saturating_mul(if request.per_component { k } else { 1 });
    if tiles > MAX_PICTURE_SAMPLES {
        return Err(TrainError::Failed(format!(
            "--n {}{} asks for {tiles} samples in one picture; at most {MAX_PICTURE_SAMPLES} are \
             drawn into a picture",
            request.n,
            if request.per_component {
                format!(" per component ({k} components)")
            } else {
                String::new()
            },
        )));
    }
    gmm_datasets::check_f32_count("--n", tiles, (height * width) as u64)
        .map_err(TrainError::Failed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(request.seed);
    let draw = |g: &dyn Generative,
                rng: &mut ChaCha8Rng|
     -> Result<(Vec<f32>, Vec<Vec<usize>>), TrainError> {
        if request.per_component {
            let k = g.sample_weights()?.len();
            let mut values = Vec::new();
            for c in 0..k {
                values.extend(g.sample_component(c, request.n, rng)?);
            }
            let rows = (0..k).map(|c| (c * request.n..(c + 1) * request.n).collect()).collect();
            Ok((values, rows))
        } else {
            let (values, _) = g.sample(request.n, rng)?;
            let idx: Vec<usize> = (0..request.n).collect();
            Ok((values, idx.chunks(10).map(<[usize]>::to_vec).collect()))
        }
    };
    let Some(generator) = layer.generative() else {
        return Err(TrainError::file(
            run,
            format!("a {} layer does not generate images; nothing to draw", layer.kind()),
        ));
    };
    let (values, rows) = draw(generator, &mut rng)?;
    let images = Images { pixels: values, height, width, labels: None, weights: None };
    let scale =
        if config.data.zero_meaned() { TileScale::PerTile } else { TileScale::Fixed(0.0, 1.0) };
    let columns = if request.per_component { request.n } else { 10 };
    Ok(component_grid(&images, &rows, columns, None, scale))
}
