//! The EM driver on real data: monotone log-likelihood, exact repeatability, the closed-form
//! M-step, and save/load.

mod common;

use common::{SEED, full_root, sample_root};
use gmm_zoo::datasets::Images;
use gmm_zoo::models::{ConvGmmConfig, Device, EmptyPolicy, FullGmmConfig, Init, Mixture};
use gmm_zoo::training::config::{BsdsData, DataConfig, MnistData, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::em::{log_likelihood_summary, mean_log_likelihood};
use gmm_zoo::training::encode::encode;
use gmm_zoo::training::{EmConfig, Layer, LayerConfig, Progress, SavedLayer, fit, with_layer};
use std::path::Path;

fn device() -> Device {
    common::device()
}

fn bsds(root: &Path, size: usize, n: usize, split: Split) -> Images {
    let data = DataConfig::Bsds(BsdsData {
        patch_size: size,
        n_train: n,
        n_test: n,
        min_std: 0.04,
        n_valid: None,
    });
    load_split(&data, root, split, SEED).unwrap()
}

fn em(max_iter: usize, init: Init) -> EmConfig {
    EmConfig { batch_size: 1000, init, ..EmConfig::iterations(max_iter) }
}

fn conv(k: usize, exclude_dc: bool) -> ConvGmmConfig {
    ConvGmmConfig { n_components: k, exclude_dc, spectrum_floor: 1e-6 }
}

/// EM never decreases the training log-likelihood. The E-step sums in f32, so a "decrease"
/// below `1e-6 · |log-likelihood|` (≈ 1e-4 nats at 100 nats/sample) is rounding, not EM.
fn assert_monotone(lls: &[f64], what: &str) {
    for (t, w) in lls.windows(2).enumerate() {
        let tol = 1e-6 * w[0].abs();
        assert!(
            w[1] >= w[0] - tol,
            "{what}: log-likelihood fell at iteration {}: {} -> {}",
            t + 2,
            w[0],
            w[1]
        );
    }
    assert!(lls.last().unwrap() > lls.first().unwrap(), "{what}: EM made no progress: {lls:?}");
}

fn fit_patches(root: &Path, size: usize, n: usize, k: usize, iters: usize, init: Init) -> Vec<f64> {
    let images = bsds(root, size, n, Split::Train);
    let layer = conv(k, true).init(size, &device()).unwrap();
    let enc = encode(&layer, &images, 1000, &device()).unwrap();
    let (_, report) = fit(layer, &enc, &em(iters, init), SEED, &Progress::quiet()).unwrap();
    report.lower_bounds()
}

#[test]
fn log_likelihood_is_monotone_on_sample_patches() {
    for init in [Init::Samples, Init::RandomResponsibilities] {
        let lls = fit_patches(&sample_root(), 8, 5000, 12, 25, init);
        assert_monotone(&lls, &format!("8x8 sample patches, init {init:?}"));
    }
}

#[test]
fn log_likelihood_is_monotone_on_sample_mnist() {
    let data = DataConfig::Mnist(MnistData { n_train: Some(1500), n_test: None, n_valid: None });
    let images = load_split(&data, &sample_root(), Split::Train, SEED).unwrap();
    let layer = conv(8, false).init(28, &device()).unwrap();
    let enc = encode(&layer, &images, 512, &device()).unwrap();
    let (_, report) = fit(layer, &enc, &em(15, Init::Samples), SEED, &Progress::quiet()).unwrap();
    assert_monotone(&report.lower_bounds(), "sample MNIST");
}

#[test]
fn log_likelihood_is_monotone_on_full_bsds_when_present() {
    let Some(root) = full_root() else {
        eprintln!("full data not present (set GMM_ZOO_DATA); checked on the shipped sample only");
        return;
    };
    let lls = fit_patches(&root, 16, 20000, 16, 15, Init::Samples);
    assert_monotone(&lls, "16x16 full BSDS patches");
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let images = bsds(&sample_root(), 8, 3000, Split::Train);
    let run = |seed: u64| {
        let layer = conv(6, true).init(8, &device()).unwrap();
        let enc = encode(&layer, &images, 1000, &device()).unwrap();
        let (layer, report) =
            fit(layer, &enc, &em(5, Init::Samples), seed, &Progress::quiet()).unwrap();
        (layer.spectra_host().unwrap(), report.lower_bounds())
    };
    let (a, lla) = run(1);
    let (b, llb) = run(1);
    let (c, _) = run(2);
    assert_eq!(a, b, "same seed must give the same spectra");
    assert_eq!(lla, llb, "same seed must give the same log-likelihoods");
    assert_ne!(a, c, "another seed should start elsewhere");
}

/// With one component the M-step has a closed form: `S(k) = mean_n |X_n(k)|² / D`, and the
/// next E-step's log-likelihood is the f64 reference density averaged over the data.
#[test]
fn one_component_m_step_is_the_mean_periodogram() {
    let images = bsds(&sample_root(), 6, 2000, Split::Train);
    let layer = conv(1, true).init(6, &device()).unwrap();
    let layout = layer.layout.clone();
    let enc = encode(&layer, &images, 700, &device()).unwrap();
    let (layer, report) =
        fit(layer, &enc, &em(2, Init::RandomResponsibilities), SEED, &Progress::quiet()).unwrap();
    let power = layout.power_f64(&images.pixels);
    let b = layout.n_bins();
    let n = images.len();
    let expected: Vec<f64> =
        (0..b).map(|j| (0..n).map(|i| power[i * b + j]).sum::<f64>() / (n as f64 * 36.0)).collect();
    let got = &layer.spectra_host().unwrap()[0];
    for (j, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!((g - e).abs() <= 2e-5 * e, "bin {j}: {g} vs {e}");
    }
    let rows: Vec<f64> =
        (0..n).map(|i| layout.log_density_f64(images.image(i), &expected)).collect();
    let reference = rows.iter().sum::<f64>() / n as f64;
    let ll2 = report.lower_bounds()[1];
    assert!((ll2 - reference).abs() < 1e-3, "E-step {ll2} vs f64 reference {reference}");
    let score = mean_log_likelihood(&layer, &enc).unwrap();
    assert!((score - reference).abs() < 1e-3, "score {score} vs f64 reference {reference}");
    // Its standard error over the rows: s/√N with s² = Σ (ℓ_n − m)² / (N − 1).
    let variance = rows.iter().map(|l| (l - reference).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se_reference = (variance / n as f64).sqrt();
    let summary = log_likelihood_summary(&layer, &enc).unwrap();
    assert_eq!(summary.mean, score);
    assert_eq!(summary.n, n);
    assert!(
        (summary.standard_error - se_reference).abs() < 1e-4 * se_reference,
        "standard error {} vs f64 reference {se_reference}",
        summary.standard_error
    );
}

/// Both families: a saved and reloaded layer scores the same data bit-identically.
#[test]
fn saved_model_scores_identically_after_loading() {
    let images = bsds(&sample_root(), 8, 3000, Split::Test);
    let configs = [
        LayerConfig::Conv(conv(5, true)),
        LayerConfig::Full(FullGmmConfig {
            n_components: 3,
            zero_mean: false,
            reg_covar: 1e-4,
            empty_components: EmptyPolicy::Keep,
            covariance_type: Default::default(),
        }),
    ];
    for config in configs {
        let dir = tempfile::tempdir().unwrap();
        let fresh = config.init([8, 8], &device()).unwrap();
        let (before, k) = with_layer!(fresh, m => trained_scores(m, &images, dir.path(), &config));
        let (saved, loaded) = SavedLayer::load(dir.path(), &device()).unwrap();
        assert_eq!((saved.input_shape, saved.trained_components), ([8, 8], k));
        let after = with_layer!(loaded, m => scores(&m, &images));
        assert_eq!(
            before, after,
            "{config:?}: scores must be bit-identical after a save/load round trip"
        );
    }
}

fn scores<M: Mixture>(layer: &M, images: &Images) -> Vec<f64> {
    let enc = encode(layer, images, 1000, &device()).unwrap();
    gmm_zoo::models::to_host_f64(layer.score_samples(enc.batch(0).unwrap())).unwrap()
}

fn trained_scores<M: Mixture>(
    layer: M,
    images: &Images,
    dir: &Path,
    config: &LayerConfig,
) -> (Vec<f64>, usize)
where
    Layer: From<M>,
{
    let enc = encode(&layer, images, 1000, &device()).unwrap();
    let (layer, _) = fit(layer, &enc, &em(4, Init::Samples), SEED, &Progress::quiet()).unwrap();
    let before = scores(&layer, images);
    let k = layer.n_components();
    let saved = SavedLayer { input_shape: [8, 8], trained_components: k, config: config.clone() };
    saved.save(&Layer::from(layer), dir).unwrap();
    (before, k)
}
