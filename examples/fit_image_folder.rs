//! Fit a convolutional GMM to 8×8 patches of your own images, in about twenty lines.
//!
//! `cargo run --release --example fit_image_folder -- <folder>` (any folder of PNG, JPEG or
//! TIFF files, searched recursively; the shipped BSDS sample when none is given).

use gmm_zoo::datasets::{Grayscale, ImageSet, PatchSampler, PatchSpec, sample_data_root};
use gmm_zoo::models::{ConvGmmConfig, DEFAULT_DEVICE, Mixture, device_from_name};
use gmm_zoo::training::em::mean_log_likelihood;
use gmm_zoo::training::{EmConfig, Progress, encode::encode, fit};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let folder = std::env::args().nth(1).map(PathBuf::from);
    let folder = folder.unwrap_or_else(|| sample_data_root().join("bsds300/train"));
    let device = device_from_name(DEFAULT_DEVICE)?;

    // Gray images → 20,000 random zero-mean 8×8 patches (std ≥ 0.04), seeded.
    let images = ImageSet::from_files(ImageSet::files_in(&folder)?, folder, Grayscale::Rec601)?;
    let spec = PatchSpec { size: 8, count: 20_000, min_std: 0.04, seed: 1 };
    let patches = PatchSampler::new(&images).sample(&spec)?;

    // Eight stationary components (DC left out: the patches are zero-mean), 25 EM iterations.
    let config = ConvGmmConfig { n_components: 8, exclude_dc: true, spectrum_floor: 1e-6 };
    let layer = config.init(8, &device)?;
    let data = encode(&layer, &patches, 4096, &device)?;
    let (layer, report) = fit(layer, &data, &EmConfig::iterations(25), 1, &Progress::quiet())?;

    let nats = mean_log_likelihood(&layer, &data)?;
    println!(
        "{} patches of {} images, {} EM iterations:",
        patches.len(),
        images.images.len(),
        report.iterations.len()
    );
    println!("mean log-likelihood {nats:.3} nats per patch; weights {:.3?}", layer.weights()?);
    Ok(())
}
