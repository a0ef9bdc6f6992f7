//! The thread count changes the speed, not the figures. The EM driver maps row batches in
//! parallel but folds their statistics in batch order, the patch sampler and the periodograms
//! work image by image, and the full GMM's Cholesky factors component by component: so on 1
//! and on 2 worker threads the data, every iteration's log-likelihood and the test score are
//! the same, bit for bit on a CPU backend (on a GPU, where batches go one at a time, within
//! 1e-4 relative, the bound README promises across thread counts).

mod common;

use common::{SEED, sample_root};
use gmm_zoo::datasets::Images;
use gmm_zoo::models::{ConvGmmConfig, EmptyPolicy, FullGmmConfig, Init, is_cpu};
use gmm_zoo::training::config::{BsdsData, DataConfig, MnistData, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::em::mean_log_likelihood;
use gmm_zoo::training::encode::encode;
use gmm_zoo::training::{EmConfig, LayerConfig, Progress, fit, with_layer};

/// `f` on a rayon pool of `threads` workers (Burn's CPU backends and every parallel step of
/// the library use the pool they are called from).
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

/// The data, the log-likelihood of every EM iteration and the test score.
fn train(data: &DataConfig, config: &LayerConfig, em: &EmConfig) -> (Images, Vec<f64>, f64) {
    let train = load_split(data, &sample_root(), Split::Train, SEED).unwrap();
    let test = load_split(data, &sample_root(), Split::Test, SEED).unwrap();
    let device = common::device();
    macro_rules! fit_and_score {
        ($layer:expr) => {{
            let layer = $layer;
            let enc = encode(&layer, &train, em.batch_size, &device).unwrap();
            let (layer, report) = fit(layer, &enc, em, SEED, &Progress::quiet()).unwrap();
            let test_enc = encode(&layer, &test, em.batch_size, &device).unwrap();
            (report.lower_bounds(), mean_log_likelihood(&layer, &test_enc).unwrap())
        }};
    }
    let fresh = config.init([train.height, train.width], &device).unwrap();
    let (lls, test_ll) = with_layer!(fresh, m => fit_and_score!(m));
    (train, lls, test_ll)
}

fn assert_thread_count_free(what: &str, data: DataConfig, config: LayerConfig, em: EmConfig) {
    let (images1, lls1, test1) = on_threads(1, || train(&data, &config, &em));
    let (images2, lls2, test2) = on_threads(2, || train(&data, &config, &em));
    assert_eq!(images1, images2, "{what}: the data must not depend on the thread count");
    assert_eq!(lls1.len(), lls2.len());
    if is_cpu(&common::device()) {
        assert_eq!(lls1, lls2, "{what}: log-likelihoods on 1 vs 2 threads");
        assert_eq!(test1, test2, "{what}: test log-likelihood on 1 vs 2 threads");
    } else {
        for (a, b) in lls1.iter().zip(&lls2).chain([(&test1, &test2)]) {
            assert!((a - b).abs() <= 1e-4 * a.abs(), "{what}: {a} on 1 thread, {b} on 2");
        }
    }
    assert!(lls1.last() > lls1.first(), "{what}: EM made progress: {lls1:?}");
}

#[test]
fn conv_em_gives_the_same_figures_on_one_and_two_threads() {
    let data = DataConfig::Bsds(BsdsData {
        patch_size: 8,
        n_train: 20000,
        n_test: 5000,
        min_std: 0.04,
        n_valid: None,
    });
    let config = LayerConfig::Conv(ConvGmmConfig {
        n_components: 8,
        exclude_dc: true,
        spectrum_floor: 1e-6,
    });
    // Batches of 1,500 rows: 14 batches, mapped two at a time on two threads.
    let em = EmConfig { batch_size: 1500, ..EmConfig::iterations(6) };
    assert_thread_count_free("conv on BSDS patches", data, config, em);
}

#[test]
fn full_em_gives_the_same_figures_on_one_and_two_threads() {
    let data =
        DataConfig::Mnist(MnistData { n_train: Some(1200), n_test: Some(300), n_valid: None });
    let config = LayerConfig::Full(FullGmmConfig {
        n_components: 4,
        zero_mean: false,
        reg_covar: 1e-2,
        empty_components: EmptyPolicy::Keep,
        covariance_type: Default::default(),
    });
    let em =
        EmConfig { batch_size: 250, init: Init::RandomResponsibilities, ..EmConfig::iterations(4) };
    assert_thread_count_free("full GMM on MNIST digits", data, config, em);
}
