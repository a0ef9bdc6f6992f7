//! Validation rows (`[data] n_valid`) and early stopping on them (`[em] stop_on = "valid"`):
//! each dataset's validation split is its own draw (or its own rows, left out of training),
//! EM that watches it stops at its first fall and keeps the iteration before, a fit stopped
//! there or just before resumes exactly, restarts are chosen by it, and bad settings name their
//! key.

mod common;

use common::runs::{run, write_config};
use common::{SEED, sample_root};
use gmm_zoo::datasets::{Grayscale, ImageSet, Images, bsds300};
use gmm_zoo::models::{CovarianceType, EmptyPolicy, FullGmm, FullGmmConfig, Init, Mixture};
use gmm_zoo::training::config::{
    ArrayData, Augment, Bsds300Data, DataConfig, MnistData, RunConfig, Split,
};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::em::{FitReport, Start, StopOn, fit_watched, mean_log_likelihood};
use gmm_zoo::training::encode::encode;
use gmm_zoo::training::report::metrics::Metrics;
use gmm_zoo::training::{EmConfig, Progress, TrainError};

fn load(data: &DataConfig, split: Split) -> Result<Images, String> {
    load_split(data, &sample_root(), split, SEED).map_err(|e| e.to_string())
}

#[test]
fn benchmark_rows_for_validation_are_a_fifth_stream_from_the_training_images() {
    let data = |n_valid| {
        DataConfig::Bsds300(Bsds300Data {
            n_train: 300,
            n_test: 50,
            augment: Augment::Mirror,
            n_valid,
        })
    };
    // The training rows are the same with or without a validation split.
    assert_eq!(load(&data(Some(200)), Split::Train), load(&data(None), Split::Train));
    // Drawn from the training images with seed + 4, and never augmented.
    let images = ImageSet::load_as(&sample_root(), "train", Grayscale::Rec601Levels).unwrap();
    let valid = load(&data(Some(200)), Split::Valid).unwrap();
    assert_eq!(valid, bsds300::sample(&images, 200, SEED + 4).unwrap());
    assert_ne!(valid.rows(0..50), load(&data(None), Split::Train).unwrap().rows(0..50));
    let err = load(&data(None), Split::Valid).unwrap_err();
    assert!(err.contains("set data.n_valid"), "{err}");
}

#[test]
fn mnist_validation_digits_are_the_training_files_last_ones() {
    let data =
        |n_train, n_valid| DataConfig::Mnist(MnistData { n_train, n_test: Some(10), n_valid });
    let all = load(&data(None, None), Split::Train).unwrap();
    assert_eq!(all.len(), 2000, "the shipped sample's training digits");
    assert_eq!(load(&data(None, Some(500)), Split::Valid).unwrap(), all.clone().rows(1500..2000));
    assert_eq!(load(&data(None, Some(500)), Split::Train).unwrap(), all.clone().rows(0..1500));
    assert_eq!(load(&data(Some(100), Some(500)), Split::Train).unwrap(), all.rows(0..100));
    let err = load(&data(Some(1600), Some(500)), Split::Train).unwrap_err();
    assert!(err.contains("1600") && err.contains("500 of them validation digits"), "{err}");
    let err = load(&data(None, Some(2000)), Split::Valid).unwrap_err();
    assert!(err.contains("data.n_valid = 2000 leaves no training digits"), "{err}");
}

#[test]
fn array_validation_rows_are_taken_out_of_the_training_rows() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let text: String = (0..40).map(|i| format!("{i},{}\n", 2 * i)).collect();
    std::fs::write(&csv, text).unwrap();
    let data = |n_valid| {
        DataConfig::Array(ArrayData {
            train: csv.clone(),
            test: None,
            n_train: None,
            n_test: None,
            weights: None,
            n_valid,
            stream: false,
        })
    };
    let first =
        |images: Images| -> Vec<usize> { images.pixels.chunks(2).map(|r| r[0] as usize).collect() };
    let [train, valid, test] =
        [Split::Train, Split::Valid, Split::Test].map(|s| first(load(&data(Some(8)), s).unwrap()));
    assert_eq!((train.len(), valid.len(), test.len()), (28, 8, 4));
    let mut all: Vec<usize> = [&train[..], &valid[..], &test[..]].concat();
    all.sort_unstable();
    assert_eq!(all, (0..40).collect::<Vec<_>>(), "the three splits partition the rows");
    // The test split does not move; the training rows lose exactly the validation rows.
    assert_eq!(first(load(&data(None), Split::Test).unwrap()), test);
    let before = first(load(&data(None), Split::Train).unwrap());
    assert_eq!(before.iter().filter(|r| !valid.contains(r)).copied().collect::<Vec<_>>(), train);
    let err = load(&data(Some(36)), Split::Train).unwrap_err();
    assert!(err.contains("data.n_valid = 36 leaves no training rows"), "{err}");
}

/// Benchmark rows of the shipped sample that a 40-component full GMM overfits within a few
/// iterations, and the validation rows beside them.
fn overfit_rows() -> (FullGmm, gmm_zoo::models::Encoded, gmm_zoo::models::Encoded) {
    let data = DataConfig::Bsds300(Bsds300Data {
        n_train: 2000,
        n_test: 10,
        augment: Augment::None,
        n_valid: Some(2000),
    });
    let config = FullGmmConfig {
        n_components: 40,
        zero_mean: false,
        reg_covar: 1e-6,
        empty_components: EmptyPolicy::Keep,
        covariance_type: CovarianceType::Full,
    };
    let device = common::device();
    let layer = config.init(63, &device).unwrap();
    let [train, valid] = [Split::Train, Split::Valid]
        .map(|s| encode(&layer, &load(&data, s).unwrap(), 1000, &device).unwrap());
    (layer, train, valid)
}

fn watching(max_iter: usize) -> EmConfig {
    EmConfig {
        init: Init::KmeansPlusPlus,
        stop_on: StopOn::Valid,
        ..EmConfig::iterations(max_iter)
    }
}

fn parameters(layer: &FullGmm) -> Vec<f64> {
    let mut all = layer.weights().unwrap();
    all.extend(layer.means_host().unwrap().concat());
    all.extend(layer.covariances_host().unwrap().concat());
    all
}

#[test]
fn em_watching_validation_rows_keeps_the_iteration_before_their_first_fall() {
    let (layer, train, valid) = overfit_rows();
    let em = watching(40);
    let quiet = Progress::quiet();
    let fresh = Start::Fresh { seed: SEED };
    let (fitted, report) =
        fit_watched(layer.clone(), (&train, Some(&valid)), &em, fresh, &quiet, &mut |_, _| Ok(()))
            .unwrap();
    let v: Vec<f64> = report.iterations.iter().map(|r| r.valid_log_likelihood.unwrap()).collect();
    let n = v.len();
    assert!((3..40).contains(&n), "stopped early, after a few iterations: {v:?}");
    assert!(v.windows(2).take(n - 2).all(|w| w[1] >= w[0]), "rose until the last: {v:?}");
    assert!(v[n - 1] < v[n - 2], "the last iteration lowered it: {v:?}");
    assert!(report.converged);
    assert_eq!(report.best_iteration, Some(n - 1));
    // The fit holds iteration n − 1's parameters: its validation figure, and the training
    // figure iteration n started from.
    assert_eq!(mean_log_likelihood(&fitted, &valid).unwrap(), v[n - 2]);
    let train_now = mean_log_likelihood(&fitted, &train).unwrap();
    let started = report.iterations[n - 1].log_likelihood;
    assert!((train_now - started).abs() < 1e-3, "{train_now} {started}");

    // Stopped by a hook (Ctrl-C's checkpoint) just before the stop or at it, and resumed from
    // the layer and report the hook saw: the uninterrupted fit, bit for bit.
    for stop_at in [n - 1, n] {
        let mut kept: Option<(FullGmm, FitReport)> = None;
        let mut hook = |l: &FullGmm, r: &FitReport| {
            if r.iterations.len() == stop_at {
                kept = Some((l.clone(), r.clone()));
                return Err(TrainError::Failed("stopped".into()));
            }
            Ok(())
        };
        let fresh = Start::Fresh { seed: SEED };
        let rows = (&train, Some(&valid));
        assert!(fit_watched(layer.clone(), rows, &em, fresh, &quiet, &mut hook).is_err());
        let (l, r) = kept.unwrap();
        let resume = Start::Resume(r);
        let (resumed, again) =
            fit_watched(l, rows, &em, resume, &quiet, &mut |_, _| Ok(())).unwrap();
        assert_eq!(again.iterations.len(), n, "stopped at {stop_at}");
        let v_again: Vec<_> = again.iterations.iter().map(|r| r.valid_log_likelihood).collect();
        assert_eq!(
            v_again,
            report.iterations.iter().map(|r| r.valid_log_likelihood).collect::<Vec<_>>()
        );
        assert_eq!(again.best_iteration, report.best_iteration);
        assert_eq!(parameters(&resumed), parameters(&fitted), "stopped at {stop_at}");
    }
}

#[test]
fn restarts_watching_validation_rows_keep_the_best_on_them() {
    let (layer, train, valid) = overfit_rows();
    let em = EmConfig { n_init: 3, ..watching(40) };
    let fresh = Start::Fresh { seed: SEED };
    let rows = (&train, Some(&valid));
    let (fitted, report) =
        fit_watched(layer, rows, &em, fresh, &Progress::quiet(), &mut |_, _| Ok(())).unwrap();
    let scores: Vec<f64> =
        report.restarts.iter().map(|r| r.valid_log_likelihood.unwrap()).collect();
    assert_eq!(scores.len(), 3);
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(mean_log_likelihood(&fitted, &valid).unwrap(), best, "{scores:?}");
    // The restarts differ, so the choice was a real one.
    assert!(scores.iter().any(|&s| s != best), "{scores:?}");
}

#[test]
fn a_run_records_its_validation_figure_and_stops_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "valid.toml",
        "name = \"valid\"\nseed = 3\n[data]\ndataset = \"bsds300\"\nn_train = 2000\nn_valid = \
         2000\nn_test = 500\n[model]\nkind = \"full\"\nn_components = 40\n[em]\nmax_iter = 40\n\
         stop_on = \"valid\"\ninit = \"kmeans++\"\nbatch_size = 1000\n",
    );
    let out = dir.path().join("run");
    let done = run(&config, &out, &[]);
    let log = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{log}");
    assert!(log.contains("2000 train, 2000 validation and 500 test samples"), "{log}");
    let text = std::fs::read_to_string(out.join("metrics.json")).unwrap();
    let metrics: Metrics = serde_json::from_str(&text).unwrap();
    let valid = metrics.valid.expect("a validation score");
    assert_eq!((valid.n, valid.standard_error.is_some()), (2000, true));
    let n = metrics.iterations.len();
    assert_eq!(metrics.best_iteration, Some(n - 1));
    assert_eq!(Some(valid.nats_per_sample), metrics.iterations[n - 2].valid_log_likelihood);
    // `gmmzoo evaluate --split valid` scores the same rows with the same model.
    let eval = std::process::Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["eval", "--split", "valid", "--data-dir"])
        .arg(sample_root())
        .arg(&out)
        .output()
        .unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(printed["nats_per_sample"].as_f64(), Some(valid.nats_per_sample));
    assert_eq!(printed["split"], "valid");
}

#[test]
fn validation_settings_name_their_key() {
    let base = "name = \"v\"\n[model]\nkind = \"full\"\nn_components = 2\n[em]\nmax_iter = 3\n";
    let cases = [
        ("[data]\ndataset = \"mnist\"\n", "stop_on = \"valid\"\n", "em.stop_on"),
        ("[data]\ndataset = \"mnist\"\nn_valid = 0\n", "", "data.n_valid"),
        ("[data]\ndataset = \"mnist\"\n", "[output]\ntop_from = \"valid\"\n", "output.top_from"),
    ];
    for (data, extra, key) in cases {
        let err = RunConfig::parse(&format!("{base}{extra}{data}")).unwrap_err();
        assert_eq!(err.key, key, "{err}");
    }
}
