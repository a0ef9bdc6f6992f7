//! The full-covariance GMM: density against a naive dense reference, EM on real data, a known
//! answer, empty components and non-positive-definite covariances.

mod common;

use common::{SEED, sample_root};
use gmm_zoo::models::{
    CovarianceType, Device, EmptyPolicy, Encoded, FullGmm, FullGmmConfig, FullStats, Init, Mixture,
    ProbGmmConfig, SufficientStats, Tensor, TensorData, linalg, to_host_f64,
};
use gmm_zoo::training::config::{BsdsData, DataConfig, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::em::{e_step, mean_log_likelihood};
use gmm_zoo::training::{EmConfig, Progress, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn device() -> Device {
    common::device()
}

fn config(k: usize, zero_mean: bool, reg_covar: f64) -> FullGmmConfig {
    FullGmmConfig {
        n_components: k,
        zero_mean,
        reg_covar,
        empty_components: EmptyPolicy::Keep,
        covariance_type: CovarianceType::Full,
    }
}

fn random_spd(d: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            a[i * d + j] = (0..d).map(|k| b[i * d + k] * b[j * d + k]).sum::<f64>();
        }
        a[i * d + i] += 0.3;
    }
    a
}

/// Naive reference: Gauss–Jordan inverse and determinant of a small matrix, then the textbook
/// formula `-½ (D log 2π + log det Σ + (x-μ)ᵀ Σ⁻¹ (x-μ))`.
fn naive_log_density(x: &[f64], mu: &[f64], sigma: &[f64]) -> f64 {
    let d = x.len();
    let mut a = sigma.to_vec();
    let mut inv: Vec<f64> = (0..d * d).map(|i| if i % (d + 1) == 0 { 1.0 } else { 0.0 }).collect();
    let mut det = 1.0;
    for col in 0..d {
        let piv = (col..d)
            .max_by(|&i, &j| a[i * d + col].abs().total_cmp(&a[j * d + col].abs()))
            .unwrap();
        if piv != col {
            for j in 0..d {
                a.swap(piv * d + j, col * d + j);
                inv.swap(piv * d + j, col * d + j);
            }
            det = -det;
        }
        let p = a[col * d + col];
        det *= p;
        for j in 0..d {
            a[col * d + j] /= p;
            inv[col * d + j] /= p;
        }
        for i in 0..d {
            if i != col {
                let f = a[i * d + col];
                for j in 0..d {
                    a[i * d + j] -= f * a[col * d + j];
                    inv[i * d + j] -= f * inv[col * d + j];
                }
            }
        }
    }
    let diff: Vec<f64> = x.iter().zip(mu).map(|(a, b)| a - b).collect();
    let maha: f64 =
        (0..d).map(|i| (0..d).map(|j| diff[i] * inv[i * d + j] * diff[j]).sum::<f64>()).sum();
    -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + det.ln() + maha)
}

#[test]
fn log_density_matches_naive_inverse_and_determinant() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for zero_mean in [false, true] {
        let (k, d, n) = (3, 5, 7);
        let covs: Vec<Vec<f64>> = (0..k).map(|_| random_spd(d, &mut rng)).collect();
        let means: Vec<f64> =
            (0..k * d).map(|_| if zero_mean { 0.0 } else { rng.random_range(-2.0..2.0) }).collect();
        let precs: Vec<f64> =
            covs.iter().flat_map(|c| linalg::precision_cholesky(c, d).unwrap()).collect();
        let layer = FullGmm::from_parts(
            &means,
            &precs,
            &[0.2, 0.3, 0.5],
            &config(k, zero_mean, 1e-6),
            &device(),
        );
        let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        let what = format!("zero_mean={zero_mean}");
        assert_matches_naive(&layer, &xs, &means, &covs, |o| 1e-4 + 1e-5 * o.abs(), &what);
    }
}

/// `layer.log_prob` of the rows `xs` against [`naive_log_density`] of each component
/// (`means` `[K·D]`, `covs` K matrices), within `tolerance(oracle)`.
fn assert_matches_naive(
    layer: &FullGmm,
    xs: &[f32],
    means: &[f64],
    covs: &[Vec<f64>],
    tolerance: impl Fn(f64) -> f64,
    what: &str,
) {
    let (k, d) = (covs.len(), layer.dim());
    let n = xs.len() / d;
    let x = Tensor::<2>::from_data(TensorData::new(xs.to_vec(), [n, d]), &device());
    let lp = to_host_f64(layer.log_prob(x)).unwrap();
    for i in 0..n {
        let xi: Vec<f64> = xs[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
        for c in 0..k {
            let oracle = naive_log_density(&xi, &means[c * d..(c + 1) * d], &covs[c]);
            let got = lp[i * k + c];
            assert!(
                (got - oracle).abs() < tolerance(oracle),
                "{what} sample {i} component {c}: {got} vs naive {oracle}"
            );
        }
    }
}

/// Wider than one triangle block (D = 130 > 128): the CPU's blocked triangular product and a
/// GPU's all-components product (`GMM_ZOO_DEVICE=vulkan`) against the same naive reference.
#[test]
fn log_density_matches_naive_reference_beyond_one_triangle_block() {
    two_random_components_match_naive(SEED + 130, 130, 3);
}

/// More rows than one task of the CPU's host product holds (D = 63, the `bsds300_full200`
/// shape: 256 rows a task; Burn's grouped products hold 2,080): the rows in tasks, the last
/// one short, against the naive reference.
#[test]
fn log_density_in_row_chunks_matches_naive_reference() {
    let (d, n) = (63, 2100);
    assert!(n % gmm_zoo::models::HOST_ROWS != 0, "the last task must be short");
    assert!(n * d > gmm_zoo::models::GROUP_BUDGET, "the rows must not fit one grouped product");
    two_random_components_match_naive(SEED + 63, d, n);
}

/// Two seeded random components in D dimensions (weights 0.4, 0.6) scored on `n` random rows
/// against [`naive_log_density`], within 1e-4 of the density's scale.
fn two_random_components_match_naive(seed: u64, d: usize, n: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = 2;
    let covs: Vec<Vec<f64>> = (0..k).map(|_| random_spd(d, &mut rng)).collect();
    let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let precs: Vec<f64> =
        covs.iter().flat_map(|c| linalg::precision_cholesky(c, d).unwrap()).collect();
    let layer =
        FullGmm::from_parts(&means, &precs, &[0.4, 0.6], &config(k, false, 1e-6), &device());
    let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-3.0..3.0)).collect();
    let what = format!("D = {d}");
    assert_matches_naive(&layer, &xs, &means, &covs, |o| 1e-4 * o.abs().max(1.0), &what);
}

/// The M-step's statistics computed both ways — gathered over the rows each component
/// explains (a CPU's form) and as batched products over all components on the device (a
/// GPU's) — equal a dense f64 oracle, `N_c = Σ r`, `Σ r (x − m_c)`, `Σ r (x − m_c)(x − m_c)ᵀ`
/// over the rows with `r ≥ RESP_FLOOR`; merging batches (and the empty start) keeps them.
#[test]
fn gathered_and_batched_statistics_equal_a_dense_oracle() {
    let data = patches(3000);
    let layer = config(5, false, 1e-3).init(35, &device()).unwrap();
    let layer =
        layer.initialize(&data, Init::Kmeans, &mut ChaCha8Rng::seed_from_u64(SEED)).unwrap();
    let (k, d) = (5, 35);
    let means = to_host_f64(layer.means.val()).unwrap();
    let mut oracle_n = vec![0.0f64; k];
    let mut oracle_first = vec![0.0f64; k * d];
    let mut oracle_second = vec![0.0f64; k * d * d];
    let (mut rows, mut batched) = (FullStats::zeros(k), FullStats::zeros(k));
    for b in 0..data.n_batches() {
        let x = &data.batch(b).unwrap();
        let resp = layer.e_step_rows(x.clone(), 1.0).unwrap().resp;
        let r = to_host_f64(resp.clone()).unwrap();
        let xs = to_host_f64(x.clone()).unwrap();
        for (i, row) in xs.chunks(d).enumerate() {
            for c in 0..k {
                let w = r[i * k + c];
                if (w as f32) < gmm_zoo::models::RESP_FLOOR {
                    continue;
                }
                oracle_n[c] += w;
                let y: Vec<f64> = (0..d).map(|j| row[j] - means[c * d + j]).collect();
                for a in 0..d {
                    oracle_first[c * d + a] += w * y[a];
                    for b in 0..d {
                        oracle_second[(c * d + a) * d + b] += w * y[a] * y[b];
                    }
                }
            }
        }
        rows = rows.merge(layer.stats_by_rows(x.clone(), resp.clone()).unwrap());
        batched = batched.merge(layer.stats_batched(x.clone(), resp));
    }
    assert!(matches!(batched, FullStats::Batched { .. }));
    let scale = oracle_second.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (form, stats) in [("gathered", rows), ("batched", batched)] {
        for (c, (nc, moments)) in stats.into_host().unwrap().into_iter().enumerate() {
            assert!(
                (nc - oracle_n[c]).abs() < 1e-4 * oracle_n[c],
                "{form} N_{c}: {nc} vs {}",
                oracle_n[c]
            );
            let (first, second) = moments.expect("every component explains some rows");
            for (a, v) in first.iter().enumerate() {
                let o = oracle_first[c * d + a];
                assert!((v - o).abs() < 1e-4 * scale, "{form} first moment {c},{a}: {v} vs {o}");
            }
            for (a, v) in second.iter().enumerate() {
                let o = oracle_second[c * d * d + a];
                assert!((v - o).abs() < 1e-4 * scale, "{form} second moment {c},{a}: {v} vs {o}");
            }
        }
    }
}

/// Real, non-degenerate data: 6×6 BSDS patches (mean removed) without their last pixel, so
/// that no direction has zero variance (as in the BSDS300 benchmark's 63-dimensional patches).
fn patches(n: usize) -> Encoded {
    let data = DataConfig::Bsds(BsdsData {
        patch_size: 6,
        n_train: n,
        n_test: n,
        min_std: 0.04,
        n_valid: None,
    });
    let images = load_split(&data, &sample_root(), Split::Train, SEED).unwrap();
    let rows: Vec<f32> = images.pixels.chunks(36).flat_map(|p| p[..35].to_vec()).collect();
    Encoded::from_rows(&rows, 35, 2048, &device())
}

fn em(max_iter: usize, init: Init) -> EmConfig {
    EmConfig { batch_size: 2048, init, ..EmConfig::iterations(max_iter) }
}

/// EM is monotone for the exact maximum-likelihood M-step; `reg_covar` perturbs that step,
/// so the check uses a `reg_covar` (1e-6) far below the data's variances, and allows the f32
/// rounding of the E-step sums (`1e-6 · |log-likelihood|`).
#[test]
fn log_likelihood_is_monotone_on_real_patches_and_repeats_exactly() {
    let data = patches(8000);
    for (zero_mean, init) in
        [(false, Init::Kmeans), (true, Init::RandomResponsibilities), (false, Init::Samples)]
    {
        let run = || {
            let layer = config(6, zero_mean, 1e-6).init(35, &device()).unwrap();
            let (layer, report) =
                fit(layer, &data, &em(12, init), SEED, &Progress::quiet()).unwrap();
            (report.lower_bounds(), layer.means_host().unwrap())
        };
        let (lls, means) = run();
        for (t, w) in lls.windows(2).enumerate() {
            assert!(
                w[1] >= w[0] - 1e-6 * w[0].abs(),
                "{init:?}: fell at iteration {}: {w:?}",
                t + 2
            );
        }
        assert!(lls.last().unwrap() > lls.first().unwrap(), "{init:?}: no progress: {lls:?}");
        let (lls2, means2) = run();
        assert_eq!(lls, lls2, "{init:?}: a seeded run must repeat exactly");
        assert_eq!(means, means2);
    }
}

/// EM recovers a known three-component mixture in 3-D (up to permutation).
#[test]
fn em_recovers_a_known_mixture() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 7);
    let d = 3;
    let true_w = [0.5, 0.3, 0.2];
    let true_mu = [[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-4.0, 5.0, 3.0]];
    let true_cov: Vec<Vec<f64>> = (0..3).map(|_| random_spd(d, &mut rng)).collect();
    let chol: Vec<Vec<f64>> = true_cov.iter().map(|c| linalg::cholesky(c, d).unwrap()).collect();
    let n = 30000;
    let mut xs = Vec::with_capacity(n * d);
    for _ in 0..n {
        let u: f64 = rng.random();
        let c = if u < 0.5 {
            0
        } else if u < 0.8 {
            1
        } else {
            2
        };
        let z: Vec<f64> = (0..d).map(|_| standard_normal(&mut rng)).collect();
        for i in 0..d {
            let v = true_mu[c][i] + (0..=i).map(|j| chol[c][i * d + j] * z[j]).sum::<f64>();
            xs.push(v as f32);
        }
    }
    let data = Encoded::from_rows(&xs, d, 4096, &device());
    let layer = config(3, false, 1e-6).init(d, &device()).unwrap();
    let (layer, _) = fit(layer, &data, &em(100, Init::Kmeans), SEED, &Progress::quiet()).unwrap();
    let means = layer.means_host().unwrap();
    let covs = layer.covariances_host().unwrap();
    let weights = layer.weights().unwrap();
    for (c, mu) in true_mu.iter().enumerate() {
        let found =
            (0..3).min_by(|&a, &b| dist(&means[a], mu).total_cmp(&dist(&means[b], mu))).unwrap();
        assert!(dist(&means[found], mu) < 0.1, "mean {c}: {:?} vs {mu:?}", means[found]);
        assert!(
            (weights[found] - true_w[c]).abs() < 0.015,
            "weight {c}: {} vs {}",
            weights[found],
            true_w[c]
        );
        for (e, (got, want)) in covs[found].iter().zip(&true_cov[c]).enumerate() {
            assert!(
                (got - want).abs() < 0.1 * (1.0 + want.abs()),
                "covariance {c} entry {e}: {got} vs {want}"
            );
        }
    }
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

/// A component that no sample reaches: no NaN; kept (or pruned) and reported.
#[test]
fn an_empty_component_is_reported_kept_or_pruned_never_nan() {
    let d = 2;
    let xs: Vec<f32> = (0..200).map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0).collect();
    let data = Encoded::from_rows(&xs, d, 64, &device());
    let far = [0.0, 0.0, 1e4, 1e4];
    let precs: Vec<f64> = [1.0, 0.0, 0.0, 1.0, 10.0, 0.0, 0.0, 10.0].to_vec();
    for policy in [EmptyPolicy::Keep, EmptyPolicy::Prune] {
        let mut cfg = config(2, false, 1e-6);
        cfg.empty_components = policy;
        let layer = FullGmm::from_parts(&far, &precs, &[0.5, 0.5], &cfg, &device());
        let estep = e_step(&layer, &data, 1.0).unwrap();
        let (layer, report) = layer.m_step(estep.stats, data.n).unwrap();
        assert_eq!(report.emptied, vec![1], "{policy:?}");
        let expected_k = if policy == EmptyPolicy::Keep { 2 } else { 1 };
        assert_eq!(layer.n_components(), expected_k, "{policy:?}");
        let all: Vec<f64> = [
            to_host_f64(layer.means.val()).unwrap(),
            to_host_f64(layer.precision_cholesky.val()).unwrap(),
            to_host_f64(layer.log_weights.val()).unwrap(),
        ]
        .concat();
        assert!(all.iter().all(|v| v.is_finite()), "{policy:?}: non-finite parameter");
        let w = layer.weights().unwrap();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        if policy == EmptyPolicy::Keep {
            assert_eq!(
                to_host_f64(layer.means.val()).unwrap()[2..],
                [1e4, 1e4],
                "kept at its previous mean"
            );
        }
    }
}

/// Statistics whose covariance is indefinite give an error that says what to change.
#[test]
fn an_indefinite_covariance_is_a_clear_error() {
    let layer = config(1, true, 1e-9).init(2, &device()).unwrap();
    let second =
        Tensor::<2>::from_data(TensorData::new(vec![1f32, 2.0, 2.0, 1.0], [2, 2]), &device());
    let first = Tensor::<1>::zeros([2], &device());
    let stats = FullStats::Rows { resp_sum: vec![1.0], moments: vec![Some((first, second))] };
    let err = layer.m_step(stats, 1).unwrap_err().to_string();
    assert!(err.contains("component 0") && err.contains("reg_covar"), "{err}");
}

/// Infinite input values are refused with the sample named, never fitted; NaN is a missing
/// value to a full layer (`tests/missing_values.rs`) and refused by the other families.
#[test]
fn non_finite_inputs_are_refused() {
    let layer = config(2, false, 1e-3).init(3, &device()).unwrap();
    let err = layer.encode(&[0.0, 1.0, 2.0, 3.0, f32::INFINITY, 5.0]).unwrap_err().to_string();
    assert!(err.contains("sample 1") && err.contains("inf"), "{err}");
    assert!(layer.encode(&[0.0, 1.0, 2.0, 3.0, f32::NAN, 5.0]).unwrap()[4].is_nan());
    let prob = gmm_zoo::models::ProbGmmConfig { n_components: 2, reg_covar: 1e-3 }
        .init(3, &device())
        .unwrap();
    let err = prob.encode(&[0.2, 0.3, 0.5, 0.2, f32::INFINITY, 0.0]).unwrap_err().to_string();
    assert!(err.contains("row 1"), "{err}");
    let err = prob.encode(&[0.2, 0.3, 0.4]).unwrap_err().to_string();
    assert!(err.contains("not a probability vector"), "{err}");
    let conv =
        gmm_zoo::models::ConvGmmConfig { n_components: 2, exclude_dc: false, spectrum_floor: 1e-6 }
            .init(2, &device())
            .unwrap();
    let err = conv.encode(&[0.0, 1.0, f32::NEG_INFINITY, 0.0]).unwrap_err().to_string();
    assert!(err.contains("sample 0"), "{err}");
    let err = conv.encode(&[0.0, 1.0, f32::NAN, 0.0]).unwrap_err().to_string();
    assert!(err.contains("sample 0") && err.contains("full layers only"), "{err}");
}

/// BIC's `p`: means, covariance triangles and free weights, counted by hand.
#[test]
fn parameter_counts_of_the_full_and_prob_families() {
    let config = |zero_mean| FullGmmConfig {
        n_components: 2,
        zero_mean,
        reg_covar: 1e-6,
        empty_components: EmptyPolicy::Keep,
        covariance_type: Default::default(),
    };
    // D = 3: 2·3 means + 2·6 covariance entries + 1 free weight.
    assert_eq!(config(false).init(3, &device()).unwrap().n_parameters(), 6 + 12 + 1);
    assert_eq!(config(true).init(3, &device()).unwrap().n_parameters(), 12 + 1);
    // Probability vectors of 4 entries live in 3 simplex coordinates.
    let prob = ProbGmmConfig { n_components: 2, reg_covar: 1e-4 }.init(4, &device()).unwrap();
    assert_eq!(prob.n_parameters(), 6 + 12 + 1);
}

/// `n_init` restarts: restart 0 is the plain fit, the kept model is the restart with the best
/// final log-likelihood, and a selection interrupted inside a later restart resumes to the very
/// same model (the finished restarts refitted from their seeds where needed).
#[test]
fn restarts_keep_the_best_and_resume_exactly() {
    use gmm_zoo::training::TrainError;
    use gmm_zoo::training::em::{FitReport, Start, fit_with, restart_seed};
    let data = patches(3000);
    let layer = || config(6, false, 1e-4).init(35, &device()).unwrap();
    let plain = EmConfig { max_iter: 6, ..em(6, Init::Samples) };
    let restarts = EmConfig { n_init: 3, ..plain.clone() };
    let quiet = Progress::quiet();
    let (single, _) = fit(layer(), &data, &plain, SEED, &quiet).unwrap();
    let (best, report) = fit(layer(), &data, &restarts, SEED, &quiet).unwrap();
    let lls: Vec<f64> = report.restarts.iter().map(|r| r.log_likelihood).collect();
    assert_eq!(lls.len(), 3);
    let seeds: Vec<u64> = report.restarts.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, (0..3).map(|r| restart_seed(SEED, r)).collect::<Vec<_>>());
    let single_ll = mean_log_likelihood(&single, &data).unwrap();
    assert_eq!(lls[0], single_ll, "restart 0 is the plain fit");
    let best_ll = mean_log_likelihood(&best, &data).unwrap();
    assert_eq!(best_ll, lls.iter().cloned().fold(f64::MIN, f64::max), "the best restart is kept");
    assert!(lls.iter().any(|&l| l != lls[0]), "restarts differ: {lls:?}");

    // Interrupt in the last restart's 3rd iteration, keeping what a checkpoint would hold. An
    // earlier restart wins here, so the resumed fit must refit it from its seed.
    assert!(lls[2] < best_ll, "an earlier restart wins: {lls:?}");
    let mut saved: Option<(FullGmm, FitReport)> = None;
    let mut hook = |m: &FullGmm, r: &FitReport| {
        if r.restarts.len() == 2 && r.iterations.len() == 3 {
            saved = Some((m.clone(), r.clone()));
            return Err(TrainError::Failed("stop".into()));
        }
        Ok(())
    };
    let start = Start::Fresh { seed: SEED };
    assert!(fit_with(layer(), &data, &restarts, start, &quiet, &mut hook).is_err());
    let (checkpoint_layer, checkpoint_report) = saved.unwrap();
    let (resumed, resumed_report) = fit_with(
        checkpoint_layer,
        &data,
        &restarts,
        Start::Resume(checkpoint_report),
        &quiet,
        &mut |_, _| Ok(()),
    )
    .unwrap();
    assert_eq!(resumed_report.restarts, report.restarts);
    assert_eq!(
        resumed_report.iterations,
        report
            .iterations
            .iter()
            .map(|r| {
                // Wall times differ between the two fits; everything else is identical.
                let at = resumed_report.iterations.iter().find(|s| s.iter == r.iter).unwrap();
                gmm_zoo::training::IterationRecord { seconds: at.seconds, ..r.clone() }
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(mean_log_likelihood(&resumed, &data).unwrap(), best_ll);
    let err = EmConfig { n_init: 2, prune_below: Some(0.01), ..plain }.validate().unwrap_err();
    assert!(err.to_string().contains("n_init"), "{err}");
}

/// `init = "kmeans"` runs Lloyd's iterations: on well-separated clusters from k-means++ seeds
/// they end at the clusters' sample means (the oracle, from the known labels), with an inertia
/// no larger than the seeds' own.
#[test]
fn lloyd_kmeans_ends_at_the_cluster_means() {
    use gmm_zoo::models::Part;
    use gmm_zoo::models::kmeans::{kmeans_plus_plus, lloyd};
    let (k, d, n) = (4usize, 5usize, 4000usize);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let centres: Vec<f64> = (0..k * d).map(|_| rng.random_range(-20.0..20.0)).collect();
    let mut labels = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n * d);
    for i in 0..n {
        let c = i % k;
        labels.push(c);
        rows.extend((0..d).map(|j| (centres[c * d + j] + standard_normal(&mut rng)) as f32));
    }
    let data = Encoded::from_rows(&rows, d, 1000, &device());
    let seeds = kmeans_plus_plus(&rows, None, d, k, Part::Whole, &mut ChaCha8Rng::seed_from_u64(1));
    let result = lloyd(&data, seeds.clone(), k).unwrap();
    let inertia = |c: &[f32]| -> f64 {
        rows.chunks(d)
            .map(|x| {
                (0..k)
                    .map(|j| x.iter().zip(&c[j * d..]).map(|(a, b)| ((a - b) as f64).powi(2)).sum())
                    .fold(f64::MAX, f64::min)
            })
            .sum()
    };
    assert!(inertia(&result.centres) <= inertia(&seeds));
    for c in 0..k {
        let members: Vec<&[f32]> =
            rows.chunks(d).zip(&labels).filter(|(_, l)| **l == c).map(|(x, _)| x).collect();
        let mean: Vec<f64> = (0..d)
            .map(|j| members.iter().map(|x| x[j] as f64).sum::<f64>() / members.len() as f64)
            .collect();
        let found = (0..k)
            .map(|j| {
                dist(
                    &mean,
                    &result.centres[j * d..(j + 1) * d]
                        .iter()
                        .map(|&v| v as f64)
                        .collect::<Vec<_>>(),
                )
            })
            .fold(f64::MAX, f64::min);
        assert!(found < 1e-3, "cluster {c}: nearest centre {found} from its mean");
    }
    assert!(result.iterations >= 1 && result.iterations < 300);
}
