//! Build and train a two-layer stack in code: a conv GMM on MNIST digits, then a
//! probability-vector GMM on its normalised posteriors (models.md §4), trained greedily.
//!
//! `cargo run --release --example two_layer_stack` (the shipped MNIST sample).

use gmm_zoo::datasets::{Mnist, MnistSplit, sample_data_root};
use gmm_zoo::experiments::scoring::score_rows;
use gmm_zoo::models::{ConvGmmConfig, DEFAULT_DEVICE, ProbGmmConfig, device_from_name};
use gmm_zoo::training::em::mean_log_likelihood;
use gmm_zoo::training::encode::{encode, encode_rows};
use gmm_zoo::training::labels::purity;
use gmm_zoo::training::{EmConfig, Feature, Progress, fit};

fn main() -> anyhow::Result<()> {
    let device = device_from_name(DEFAULT_DEVICE)?;
    let digits = Mnist::new(&sample_data_root()).load(MnistSplit::Train)?;
    let quiet = Progress::quiet();

    // Layer 1: 16 stationary components on the 28×28 digits (not zero-mean: DC kept).
    let conv = ConvGmmConfig { n_components: 16, exclude_dc: false, spectrum_floor: 1e-6 };
    let layer1 = conv.init(28, &device)?;
    let data1 = encode(&layer1, &digits, 1000, &device)?;
    let (layer1, _) = fit(layer1, &data1, &EmConfig::iterations(15), 1, &quiet)?;

    // Its feature: each digit's normalised likelihoods q[n, c], rows on the simplex.
    let q = Feature::PosteriorNormalised.compute(&layer1, &data1)?;

    // Layer 2: 10 components over the 16-entry probability vectors.
    let prob = ProbGmmConfig { n_components: 10, reg_covar: 1e-4 };
    let layer2 = prob.init(16, &device)?;
    let data2 = encode_rows(&layer2, &q, 1000, &device)?;
    let (layer2, _) = fit(layer2, &data2, &EmConfig::iterations(30), 2, &quiet)?;

    println!("layer 1: {:.3} nats per digit", mean_log_likelihood(&layer1, &data1)?);
    println!("layer 2: {:.3} nats per feature vector", mean_log_likelihood(&layer2, &data2)?);
    // Each digit's MAP component of layer 2, against its label.
    let clusters: Vec<usize> =
        score_rows(&layer2, &data2, false)?.iter().map(|r| r.component).collect();
    let labels = digits.labels.as_deref().unwrap_or_default();
    println!("layer 2 cluster purity against the digit labels: {:.3}", purity(&clusters, labels));
    Ok(())
}
