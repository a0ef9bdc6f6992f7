//! EM with missing values (NaN) in the full family, every covariance type, against a dense
//! f64 oracle that conditions through `Σ_oo⁻¹` row by row (the library conditions through the
//! precision): marginal log-densities, one whole EM step, the monotone observed-data
//! likelihood, complete rows unchanged, imputation's conditional means and draws, bad rows.

mod common;

use common::{SEED, dense_normal_log_density};
use gmm_zoo::models::{
    CovarianceType, Draws, EmptyPolicy, Encoded, FullGmm, FullGmmConfig, Init, Mixture, Tensor,
    TensorData, linalg, responsibilities,
};
use gmm_zoo::training::{EmConfig, Progress, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TYPES: [CovarianceType; 4] =
    [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical];
const D: usize = 5;

fn config(k: usize, t: CovarianceType) -> FullGmmConfig {
    FullGmmConfig {
        n_components: k,
        zero_mean: false,
        reg_covar: 1e-6,
        empty_components: EmptyPolicy::Keep,
        covariance_type: t,
    }
}

/// A random layer of type `t`: its weights, means `[K][D]` and dense covariances `[K][D·D]`.
struct Truth {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    covs: Vec<Vec<f64>>,
}

fn random_truth(t: CovarianceType, k: usize, rng: &mut ChaCha8Rng) -> Truth {
    let spd = |rng: &mut ChaCha8Rng| {
        let b: Vec<f64> = (0..D * D).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; D * D];
        for i in 0..D {
            for j in 0..D {
                a[i * D + j] = (0..D).map(|s| b[i * D + s] * b[j * D + s]).sum::<f64>();
            }
            a[i * D + i] += 0.5;
        }
        a
    };
    let diagonal = |v: Vec<f64>| {
        let mut c = vec![0.0; D * D];
        v.iter().enumerate().for_each(|(i, x)| c[i * D + i] = *x);
        c
    };
    let tied = spd(rng);
    let covs = (0..k)
        .map(|_| match t {
            CovarianceType::Full => spd(rng),
            CovarianceType::Tied => tied.clone(),
            CovarianceType::Diag => diagonal((0..D).map(|_| rng.random_range(0.3..2.0)).collect()),
            CovarianceType::Spherical => diagonal(vec![rng.random_range(0.3..2.0); D]),
        })
        .collect();
    let means = (0..k).map(|_| (0..D).map(|_| rng.random_range(-2.0..2.0)).collect()).collect();
    let raw: Vec<f64> = (0..k).map(|_| rng.random_range(0.5..1.5)).collect();
    let total: f64 = raw.iter().sum();
    Truth { weights: raw.iter().map(|w| w / total).collect(), means, covs }
}

fn layer_of(t: CovarianceType, truth: &Truth) -> FullGmm {
    let u = |c: &Vec<f64>| linalg::precision_cholesky(c, D).unwrap();
    let stored: Vec<f64> = match t {
        CovarianceType::Full => truth.covs.iter().flat_map(u).collect(),
        CovarianceType::Tied => u(&truth.covs[0]),
        _ => truth.covs.iter().flat_map(|c| (0..D).map(|i| 1.0 / c[i * D + i].sqrt())).collect(),
    };
    let means: Vec<f64> = truth.means.concat();
    FullGmm::from_parts(&means, &stored, &truth.weights, &config(truth.weights.len(), t), &device())
}

fn device() -> gmm_zoo::models::Device {
    common::device()
}

/// Rows drawn near the truth's means, a fraction `missing` of values set to NaN (never a whole
/// row).
fn rows_with_nan(n: usize, missing: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut rows: Vec<f32> = (0..n * D).map(|_| rng.random_range(-3.0..3.0)).collect();
    for row in rows.chunks_mut(D) {
        for v in row.iter_mut() {
            if rng.random::<f64>() < missing {
                *v = f32::NAN;
            }
        }
        if row.iter().all(|v| v.is_nan()) {
            row[rng.random_range(0..D)] = rng.random_range(-3.0..3.0);
        }
    }
    rows
}

fn tensor(rows: &[f32]) -> Tensor<2> {
    Tensor::from_data(TensorData::new(rows.to_vec(), [rows.len() / D, D]), &device())
}

fn host(t: Tensor<2>) -> Vec<f64> {
    gmm_zoo::models::to_host_f64(t).unwrap()
}

/// The oracle's conditioning of row `x` on component `c`: `log N(x_o | μ_o, Σ_oo)`,
/// `x̂ = (x_o, μ_m + Σ_mo Σ_oo⁻¹ δ_o)` and the conditional covariance
/// `Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om` on the missing block of a `D×D` zero matrix.
fn condition(truth: &Truth, c: usize, x: &[f32]) -> (f64, Vec<f64>, Vec<f64>) {
    let (mu, s) = (&truth.means[c], &truth.covs[c]);
    let o: Vec<usize> = (0..D).filter(|&i| !x[i].is_nan()).collect();
    let m: Vec<usize> = (0..D).filter(|&i| x[i].is_nan()).collect();
    let delta: Vec<f64> = o.iter().map(|&i| f64::from(x[i]) - mu[i]).collect();
    let s_oo: Vec<f64> = o.iter().flat_map(|&i| o.iter().map(move |&j| s[i * D + j])).collect();
    let log_n = dense_normal_log_density(&delta, &s_oo);
    let (inv, _) = linalg::inverse_and_log_abs_det(&s_oo, o.len()).unwrap();
    let solved: Vec<f64> =
        (0..o.len()).map(|a| (0..o.len()).map(|b| inv[a * o.len() + b] * delta[b]).sum()).collect();
    let mut xhat: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut cov = vec![0.0; D * D];
    for &i in &m {
        xhat[i] = mu[i] + o.iter().zip(&solved).map(|(&j, v)| s[i * D + j] * v).sum::<f64>();
        for &j in &m {
            let mut v = s[i * D + j];
            for (a, &p) in o.iter().enumerate() {
                for (b, &q) in o.iter().enumerate() {
                    v -= s[i * D + p] * inv[a * o.len() + b] * s[q * D + j];
                }
            }
            cov[i * D + j] = v;
        }
    }
    (log_n, xhat, cov)
}

/// Every row's marginal log-density under every component is the oracle's.
#[test]
fn marginal_densities_match_the_dense_oracle() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for t in TYPES {
        let truth = random_truth(t, 3, &mut rng);
        let rows = rows_with_nan(40, 0.4, &mut rng);
        let got = host(layer_of(t, &truth).log_prob(tensor(&rows)));
        for (n, x) in rows.chunks(D).enumerate() {
            for c in 0..3 {
                let want = condition(&truth, c, x).0;
                let g = got[n * 3 + c];
                assert!(
                    (g - want).abs() < 2e-4 * want.abs().max(1.0),
                    "{t:?} row {n} c {c}: {g} vs {want}"
                );
            }
        }
    }
}

/// One EM step (E-step on what each row observes, M-step with the conditional means and the
/// covariance correction, projected onto the type) equals the oracle's, in two passes
/// (`log_prob`, then `batch_stats`) and in the one-pass `e_step_batch` (K = 9: two lane blocks
/// of components, the second part padding), whose objective is the oracle's log-likelihood.
#[test]
fn one_em_step_matches_the_dense_oracle() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    for (t, two_pass) in TYPES.into_iter().flat_map(|t| [(t, true), (t, false)]) {
        let (k, n) = (9, 60);
        let truth = random_truth(t, k, &mut rng);
        let rows = rows_with_nan(n, 0.3, &mut rng);
        let layer = layer_of(t, &truth);
        let (stats, objective) = if two_pass {
            let (resp, _) = responsibilities(layer.weighted_log_prob(tensor(&rows))).unwrap();
            (layer.batch_stats(tensor(&rows), resp).unwrap(), None)
        } else {
            let terms = layer.e_step_batch(&tensor(&rows), 1.0).unwrap();
            let objective: Vec<f32> = terms.objective.into_data().try_to_vec().unwrap();
            (terms.stats, Some(f64::from(objective[0])))
        };
        let (next, _) = layer.m_step(stats, n).unwrap();
        // The oracle.
        let mut nk = vec![0.0; k];
        let (mut means, mut scatter) = (vec![vec![0.0; D]; k], vec![vec![0.0; D * D]; k]);
        let conds: Vec<Vec<_>> =
            rows.chunks(D).map(|x| (0..k).map(|c| condition(&truth, c, x)).collect()).collect();
        let resp: Vec<Vec<f64>> = conds
            .iter()
            .map(|cs| {
                let a: Vec<f64> =
                    cs.iter().zip(&truth.weights).map(|(c, w)| c.0 + w.ln()).collect();
                let max = a.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = a.iter().map(|v| (v - max).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            })
            .collect();
        if let Some(objective) = objective {
            let want: f64 = conds
                .iter()
                .map(|cs| {
                    let a: Vec<f64> =
                        cs.iter().zip(&truth.weights).map(|(c, w)| c.0 + w.ln()).collect();
                    let max = a.iter().cloned().fold(f64::MIN, f64::max);
                    max + a.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
                })
                .sum();
            assert!((objective - want).abs() < 1e-5 * want.abs(), "{t:?}: {objective} vs {want}");
        }
        for (cs, r) in conds.iter().zip(&resp) {
            for c in 0..k {
                nk[c] += r[c];
                means[c].iter_mut().zip(&cs[c].1).for_each(|(m, v)| *m += r[c] * v);
            }
        }
        means.iter_mut().zip(&nk).for_each(|(m, n)| m.iter_mut().for_each(|v| *v /= n));
        for (cs, r) in conds.iter().zip(&resp) {
            for c in 0..k {
                let (xhat, cov) = (&cs[c].1, &cs[c].2);
                for i in 0..D {
                    for j in 0..D {
                        let e = (xhat[i] - means[c][i]) * (xhat[j] - means[c][j]) + cov[i * D + j];
                        scatter[c][i * D + j] += r[c] * e;
                    }
                }
            }
        }
        let covs: Vec<Vec<f64>> = (0..k)
            .map(|c| {
                let project = |i: usize, j: usize| match t {
                    CovarianceType::Full => scatter[c][i * D + j] / nk[c],
                    CovarianceType::Tied => {
                        (0..k).map(|b| scatter[b][i * D + j]).sum::<f64>() / n as f64
                    }
                    CovarianceType::Diag if i == j => scatter[c][i * D + i] / nk[c],
                    CovarianceType::Spherical if i == j => {
                        (0..D).map(|a| scatter[c][a * D + a]).sum::<f64>() / (D as f64 * nk[c])
                    }
                    _ => 0.0,
                };
                (0..D * D)
                    .map(|e| project(e / D, e % D) + if e / D == e % D { 1e-6 } else { 0.0 })
                    .collect()
            })
            .collect();
        let got_w = next.weights().unwrap();
        let (got_m, got_c) = (next.means_host().unwrap(), next.covariances_host().unwrap());
        for c in 0..k {
            assert!((got_w[c] - nk[c] / n as f64).abs() < 1e-5, "{t:?} weight {c}");
            for i in 0..D {
                assert!((got_m[c][i] - means[c][i]).abs() < 1e-4, "{t:?} mean {c},{i}");
            }
            for e in 0..D * D {
                let (g, w) = (got_c[c][e], covs[c][e]);
                assert!((g - w).abs() < 2e-4 * (1.0 + w.abs()), "{t:?} cov {c},{e}: {g} vs {w}");
            }
        }
    }
}

/// EM from a mean-filled k-means start climbs the observed-data log-likelihood at every
/// iteration, and a seeded fit repeats exactly, on 1 worker thread as on 2 (the one-pass
/// E-step sums its blocks of rows in order).
#[test]
fn em_with_missing_values_is_monotone_and_repeatable() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);
    let truth = random_truth(CovarianceType::Full, 3, &mut rng);
    let layer = layer_of(CovarianceType::Full, &truth);
    let (complete, _) = gmm_zoo::models::Generative::sample(&layer, 1500, &mut rng).unwrap();
    let rows: Vec<f32> = complete
        .chunks(D)
        .flat_map(|row| {
            let keep = rng.random_range(0..D);
            row.iter()
                .enumerate()
                .map(|(i, &v)| if i != keep && rng.random::<f64>() < 0.3 { f32::NAN } else { v })
                .collect::<Vec<_>>()
        })
        .collect();
    let data = Encoded::from_rows(&rows, D, 256, &device());
    let em = EmConfig { init: Init::Kmeans, ..EmConfig::iterations(25) };
    for t in TYPES {
        let run = || {
            let layer = config(3, t).init(D, &device()).unwrap();
            fit(layer, &data, &em, SEED, &Progress::quiet()).unwrap().1.lower_bounds()
        };
        let lls = run();
        assert!(lls.iter().all(|v| v.is_finite()), "{t:?}: {lls:?}");
        for w in lls.windows(2) {
            assert!(w[1] >= w[0] - 1e-6 * w[0].abs(), "{t:?} fell: {lls:?}");
        }
        assert!(lls.last() > lls.first(), "{t:?}: no progress {lls:?}");
        let on_threads = |threads| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(run)
        };
        assert_eq!(lls, on_threads(1), "{t:?}: a seeded run must repeat exactly on 1 thread");
        assert_eq!(lls, on_threads(2), "{t:?}: a seeded run must repeat exactly on 2 threads");
    }
}

/// A complete row scores the same inside a batch with missing values (the marginal path) as
/// in a complete batch (the usual path).
#[test]
fn complete_rows_score_the_same_on_either_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 3);
    for t in TYPES {
        let truth = random_truth(t, 4, &mut rng);
        let layer = layer_of(t, &truth);
        let complete = rows_with_nan(20, 0.0, &mut rng);
        let mut mixed = complete.clone();
        mixed[3] = f32::NAN;
        let (a, b) =
            (host(layer.log_prob(tensor(&complete))), host(layer.log_prob(tensor(&mixed))));
        for (i, (x, y)) in a.iter().zip(&b).enumerate().skip(4) {
            assert!((x - y).abs() < 1e-4 * x.abs().max(1.0), "{t:?} entry {i}: {x} vs {y}");
        }
    }
}

/// `impute` gives the posterior-weighted conditional mean of the oracle, leaves observed
/// values alone, and its draws have the conditional mean and covariance (K = 1, 4,000 draws
/// of one row).
#[test]
fn imputation_is_the_conditional_gaussian() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 4);
    let truth = random_truth(CovarianceType::Full, 3, &mut rng);
    let layer = layer_of(CovarianceType::Full, &truth);
    let rows = rows_with_nan(30, 0.4, &mut rng);
    let (filled, log_p) = layer.impute(&rows, None).unwrap();
    for ((x, got), lp) in rows.chunks(D).zip(filled.chunks(D)).zip(log_p) {
        let conds: Vec<_> = (0..3).map(|c| condition(&truth, c, x)).collect();
        let a: Vec<f64> = conds.iter().zip(&truth.weights).map(|(c, w)| c.0 + w.ln()).collect();
        let max = a.iter().cloned().fold(f64::MIN, f64::max);
        let total: f64 = a.iter().map(|v| (v - max).exp()).sum();
        assert!((lp - max - total.ln()).abs() < 1e-4 * lp.abs().max(1.0), "log p(x_o) {lp}");
        for i in 0..D {
            let want: f64 =
                conds.iter().zip(&a).map(|(c, v)| (v - max).exp() / total * c.1[i]).sum();
            if x[i].is_nan() {
                assert!((f64::from(got[i]) - want).abs() < 1e-4 * (1.0 + want.abs()), "{got:?}");
            } else {
                assert_eq!(got[i], x[i]);
            }
        }
    }
    let one = Truth {
        weights: vec![1.0],
        means: vec![truth.means[0].clone()],
        covs: vec![truth.covs[0].clone()],
    };
    let layer = layer_of(CovarianceType::Full, &one);
    let row = [0.5f32, f32::NAN, -1.0, f32::NAN, 0.3];
    let (_, xhat, cov) = condition(&one, 0, &row);
    let n = 4000;
    let seeded = |first_row| Some(Draws { seed: SEED, first_row });
    let draws = layer.impute(&row.repeat(n), seeded(0)).unwrap().0;
    let tail = layer.impute(&row.repeat(n - 100), seeded(100)).unwrap().0;
    assert_eq!(draws[100 * D..], tail[..], "row n draws from stream n, whatever the block");
    for i in [1, 3] {
        let v: Vec<f64> = draws.chunks(D).map(|r| f64::from(r[i])).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let se = (cov[i * D + i] / n as f64).sqrt();
        assert!((mean - xhat[i]).abs() < 4.0 * se, "draw mean {mean} vs {}", xhat[i]);
        assert!(
            (var / cov[i * D + i] - 1.0).abs() < 0.1,
            "draw variance {var} vs {}",
            cov[i * D + i]
        );
    }
}

/// A row with nothing observed, or an infinite value, is one clear error naming the row.
#[test]
fn rows_that_observe_nothing_are_refused() {
    let layer = config(2, CovarianceType::Full).init(D, &device()).unwrap();
    let mut rows = vec![0.5f32; 3 * D];
    rows[D..2 * D].iter_mut().for_each(|v| *v = f32::NAN);
    let err = layer.encode(&rows).unwrap_err().to_string();
    assert!(err.contains("sample 1") && err.contains("every value is missing"), "{err}");
    let err = layer.impute(&rows, None).unwrap_err().to_string();
    assert!(err.contains("sample 1"), "{err}");
    rows[D..2 * D].iter_mut().for_each(|v| *v = 1.0);
    rows[2 * D + 1] = f32::INFINITY;
    let err = layer.encode(&rows).unwrap_err().to_string();
    assert!(err.contains("inf in sample 2"), "{err}");
}
