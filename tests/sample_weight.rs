//! Sample weights: integer weights give EM on the rows repeated that many times (from the same
//! start, every covariance type), k-means seeds and Lloyd's means are weighted, `[data]
//! weights` reaches every EM sum of a run, and bad weights are refused with one sentence
//! naming the file or value.

mod common;

use common::SEED;
use gmm_zoo::models::{CovarianceType, EmptyPolicy, Encoded, FullGmm, FullGmmConfig, Init};
use gmm_zoo::training::config::RunConfig;
use gmm_zoo::training::em::{FitReport, Start, fit_with};
use gmm_zoo::training::{EmConfig, Progress, train_run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Three clusters in 4-D and integer weights 0..=3 for each row.
fn clustered(n: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let rows: Vec<f32> =
        (0..n * d).map(|i| ((i / d) % 3) as f32 * 3.0 + rng.random_range(-1.0..1.0)).collect();
    let weights = (0..n).map(|_| rng.random_range(0..4u8) as f32).collect();
    (rows, weights)
}

/// EM from `start` (fitted by k-means on the unweighted rows) for 8 iterations.
fn em_from(start: &FullGmm, data: &Encoded) -> (FullGmm, FitReport) {
    let layer = start.clone();
    let em = EmConfig { tol: 0.0, batch_size: 64, ..EmConfig::iterations(8) };
    let resume = Start::Resume(FitReport::default());
    fit_with(layer, data, &em, resume, &Progress::quiet(), &mut |_, _| Ok(())).unwrap()
}

#[test]
fn integer_weights_equal_repeated_rows_for_every_covariance_type() {
    let (n, d) = (300, 4);
    let (rows, weights) = clustered(n, d);
    let device = common::device();
    let repeated: Vec<f32> = rows
        .chunks(d)
        .zip(&weights)
        .flat_map(|(row, &w)| std::iter::repeat_n(row.to_vec(), w as usize).flatten())
        .collect();
    // Batches of 64 rows: the weighted and the repeated data are cut in different places.
    let weighted = Encoded::from_rows(&rows, d, 64, &device).with_sample_weights(&weights).unwrap();
    let plain = Encoded::from_rows(&repeated, d, 64, &device);
    for t in [
        CovarianceType::Full,
        CovarianceType::Tied,
        CovarianceType::Diag,
        CovarianceType::Spherical,
    ] {
        let config = FullGmmConfig {
            n_components: 3,
            zero_mean: false,
            reg_covar: 1e-4,
            empty_components: EmptyPolicy::Keep,
            covariance_type: t,
        };
        let em = EmConfig { init: Init::Kmeans, ..EmConfig::iterations(1) };
        let unweighted = Encoded::from_rows(&rows, d, 64, &device);
        let (start, _) = gmm_zoo::training::fit(
            config.init(d, &device).unwrap(),
            &unweighted,
            &em,
            SEED,
            &Progress::quiet(),
        )
        .unwrap();
        let (a, ra) = em_from(&start, &weighted);
        let (b, rb) = em_from(&start, &plain);
        for (x, y) in ra.lower_bounds().iter().zip(rb.lower_bounds()) {
            assert!((x - y).abs() < 1e-5 * y.abs(), "{t:?}: {x} vs {y}");
        }
        let (ma, mb) = (a.means_host().unwrap().concat(), b.means_host().unwrap().concat());
        ma.iter().zip(&mb).for_each(|(x, y)| assert!((x - y).abs() < 1e-4, "{t:?}: {x} vs {y}"));
        let (ca, cb) = (a.factors_host().unwrap(), b.factors_host().unwrap());
        ca.iter().zip(&cb).for_each(|(x, y)| assert!((x - y).abs() < 1e-3 * y.abs().max(1.0)));
        // And the weights count: the unweighted rows give another history.
        let (_, ru) = em_from(&start, &unweighted);
        assert!((ru.lower_bounds()[7] - ra.lower_bounds()[7]).abs() > 1e-3, "{t:?}");
    }
}

/// Weighted k-means++ never seeds a row of weight 0 (here far outliers, which the unweighted
/// seeding picks), and weighted Lloyd's iterations from the same seeds end where Lloyd's on
/// the rows repeated by their integer weights end.
#[test]
fn kmeans_seeds_and_lloyds_means_are_weighted() {
    use gmm_zoo::models::Part;
    use gmm_zoo::models::kmeans::{kmeans_plus_plus, lloyd};
    let (n, d, k) = (300, 4, 3);
    let (mut rows, mut weights) = clustered(n, d);
    for i in 0..5 {
        rows.extend([100.0 + 10.0 * i as f32; 4]);
        weights.push(0.0);
    }
    let outlier = |c: &[f32]| c[0] > 50.0;
    let seeds = |w: Option<&[f32]>, seed| {
        kmeans_plus_plus(&rows, w, d, k, Part::Whole, &mut ChaCha8Rng::seed_from_u64(seed))
    };
    let seeded_outliers =
        |w: Option<&[f32]>| (0..20).filter(|&s| seeds(w, s).chunks(d).any(outlier)).count();
    assert_eq!(seeded_outliers(Some(&weights)), 0);
    assert!(seeded_outliers(None) > 10, "{}", seeded_outliers(None));

    let device = common::device();
    let from = seeds(Some(&weights), 3);
    let data = Encoded::from_rows(&rows, d, 64, &device).with_sample_weights(&weights).unwrap();
    let repeated: Vec<f32> = rows
        .chunks(d)
        .zip(&weights)
        .flat_map(|(row, &w)| std::iter::repeat_n(row.to_vec(), w as usize).flatten())
        .collect();
    let plain = Encoded::from_rows(&repeated, d, 64, &device);
    let (a, b) = (lloyd(&data, from.clone(), k).unwrap(), lloyd(&plain, from.clone(), k).unwrap());
    assert_eq!(a.iterations, b.iterations);
    a.centres.iter().zip(&b.centres).for_each(|(x, y)| assert!((x - y).abs() < 1e-4, "{x} {y}"));
    // Unweighted, the outliers pull a centre away.
    let unweighted = Encoded::from_rows(&rows, d, 64, &device);
    let c = lloyd(&unweighted, from, k).unwrap();
    assert!(c.centres.iter().zip(&a.centres).any(|(x, y)| (x - y).abs() > 0.1));
}

fn write_csv(path: &std::path::Path, values: &[f32], width: usize) {
    let text: String = values
        .chunks(width)
        .map(|row| row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

fn config(rows: &std::path::Path, weights: Option<&std::path::Path>) -> String {
    let weights = weights.map_or(String::new(), |w| format!("weights = \"{}\"\n", w.display()));
    format!(
        "name = \"weighted\"\nseed = 4\n[data]\ndataset = \"array\"\ntrain = \"{}\"\n{weights}\
         [model]\nkind = \"full\"\nn_components = 3\ncovariance_type = \"diag\"\n[em]\n\
         max_iter = 6\nbatch_size = 64\n",
        rows.display()
    )
}

/// `[data] weights` through a run: weights of 2 everywhere (scaled to 1) give the unweighted
/// run bit for bit; the file's integer weights give another; bad files are refused naming
/// them.
#[test]
fn data_weights_reach_every_sum_of_a_run_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (n, d) = (400, 4);
    let (rows, weights) = clustered(n, d);
    write_csv(&p("rows.csv"), &rows, d);
    write_csv(&p("twos.csv"), &vec![2.0; n], 1);
    write_csv(&p("weights.csv"), &weights, 1);
    let run = |weights: Option<&str>, out: &str| {
        let text = config(&p("rows.csv"), weights.map(&p).as_deref());
        let outcome =
            train_run(&RunConfig::parse(&text).unwrap(), &common::sample_options(&p(out)));
        outcome.map(|o| (o.metrics[0].iterations.clone(), o.metrics[0].train.nats_per_sample))
    };
    let (plain, plain_train) = run(None, "plain").unwrap();
    let (twos, twos_train) = run(Some("twos.csv"), "twos").unwrap();
    let history = |r: &[gmm_zoo::training::IterationRecord]| -> Vec<f64> {
        r.iter().map(|i| i.log_likelihood).collect()
    };
    assert_eq!(history(&plain), history(&twos));
    assert_eq!(plain_train, twos_train);
    let (weighted, _) = run(Some("weights.csv"), "weighted").unwrap();
    assert_ne!(history(&weighted), history(&plain));

    write_csv(&p("short.csv"), &vec![1.0; n - 1], 1);
    write_csv(&p("negative.csv"), &[vec![1.0; n - 1], vec![-1.0]].concat(), 1);
    write_csv(&p("zeros.csv"), &vec![0.0; n], 1);
    write_csv(&p("wide.csv"), &vec![1.0; 2 * n], 2);
    for (file, expected) in [
        ("short.csv", "holds 399 weights, but"),
        ("negative.csv", "row 399 has weight -1"),
        ("zeros.csv", "sums to 0"),
        ("wide.csv", "has 2 columns"),
    ] {
        let err = run(Some(file), &format!("run_{file}")).unwrap_err().to_string();
        assert!(err.contains(file) && err.contains(expected), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
