//! The full family's covariance types (`full`, `tied`, `diag`, `spherical`, scikit-learn's
//! meanings) against dense f64 oracles: log-densities, the M-step from given
//! responsibilities (scikit-learn's formulas), statistics through the flat buffer MPI sums,
//! parameter counts, sampling moments, EM's monotone likelihood, and a run folder that
//! reloads. (Parity with scikit-learn's own EM is `python/tests`.)

mod common;

use common::{SEED, dense_normal_log_density, sample_root};
use gmm_zoo::models::{
    CovarianceType, EmptyPolicy, Encoded, FullGmm, FullGmmConfig, Generative, Init, Mixture,
    SufficientStats, Tensor, TensorData, linalg,
};
use gmm_zoo::training::config::{BsdsData, DataConfig, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::{EmConfig, Progress, fit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TYPES: [CovarianceType; 4] =
    [CovarianceType::Full, CovarianceType::Tied, CovarianceType::Diag, CovarianceType::Spherical];

fn config(k: usize, t: CovarianceType, reg_covar: f64) -> FullGmmConfig {
    FullGmmConfig {
        n_components: k,
        zero_mean: false,
        reg_covar,
        empty_components: EmptyPolicy::Keep,
        covariance_type: t,
    }
}

fn random_spd(d: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            a[i * d + j] = (0..d).map(|t| b[i * d + t] * b[j * d + t]).sum::<f64>();
        }
        a[i * d + i] += 0.5;
    }
    a
}

/// Dense covariances of type `t` (K of them), and the stored factors that encode them.
fn random_covariances(
    t: CovarianceType,
    k: usize,
    d: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<f64>> {
    let diagonal = |v: Vec<f64>| {
        let mut c = vec![0.0; d * d];
        v.iter().enumerate().for_each(|(i, x)| c[i * d + i] = *x);
        c
    };
    match t {
        CovarianceType::Full => (0..k).map(|_| random_spd(d, rng)).collect(),
        CovarianceType::Tied => vec![random_spd(d, rng); k],
        CovarianceType::Diag => {
            (0..k).map(|_| diagonal((0..d).map(|_| rng.random_range(0.2..3.0)).collect())).collect()
        }
        CovarianceType::Spherical => {
            (0..k).map(|_| diagonal(vec![rng.random_range(0.2..3.0); d])).collect()
        }
    }
}

fn stored_factors(t: CovarianceType, covs: &[Vec<f64>], d: usize) -> Vec<f64> {
    let u = |c: &Vec<f64>| linalg::precision_cholesky(c, d).unwrap();
    match t {
        CovarianceType::Full => covs.iter().flat_map(u).collect(),
        CovarianceType::Tied => u(&covs[0]),
        _ => covs.iter().flat_map(|c| (0..d).map(|i| 1.0 / c[i * d + i].sqrt())).collect(),
    }
}

fn tensor(rows: &[f32], d: usize) -> Tensor<2> {
    Tensor::from_data(TensorData::new(rows.to_vec(), [rows.len() / d, d]), &common::device())
}

fn host(t: Tensor<1>) -> Vec<f64> {
    gmm_zoo::models::to_host_f64(t).unwrap()
}

/// `log p(x)` of every type equals `logsumexp_c (log π_c + log N(x | μ_c, Σ_c))` computed
/// densely in f64, and the stored factors give back the covariances.
#[test]
fn log_densities_of_every_type_match_a_dense_oracle() {
    let (k, d, n) = (3, 5, 200);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for t in TYPES {
        let covs = random_covariances(t, k, d, &mut rng);
        let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-2.0..2.0)).collect();
        let weights = [0.5, 0.3, 0.2];
        let layer = FullGmm::from_parts(
            &means,
            &stored_factors(t, &covs, d),
            &weights,
            &config(k, t, 1e-6),
            &common::device(),
        );
        for (got, want) in layer.covariances_host().unwrap().iter().zip(&covs) {
            got.iter()
                .zip(want)
                .for_each(|(a, b)| assert!((a - b).abs() < 1e-5 * b.abs().max(1.0)));
        }
        let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-4.0..4.0)).collect();
        let got = host(layer.score_samples(tensor(&xs, d)));
        for (row, g) in xs.chunks(d).zip(&got) {
            let terms: Vec<f64> = (0..k)
                .map(|c| {
                    let y: Vec<f64> =
                        row.iter().zip(&means[c * d..]).map(|(x, m)| *x as f64 - m).collect();
                    weights[c].ln() + dense_normal_log_density(&y, &covs[c])
                })
                .collect();
            let max = terms.iter().cloned().fold(f64::MIN, f64::max);
            let want = max + terms.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            assert!((g - want).abs() < 1e-4 * want.abs().max(1.0), "{t:?}: {g} vs {want}");
        }
    }
}

/// One M-step from given responsibilities gives scikit-learn's estimates, computed here
/// densely in f64: `N_c = Σ r`, `μ_c = Σ r x / N_c`, and `Σ_c = Σ r (x−μ_c)(x−μ_c)ᵀ/N_c +
/// reg·I` (full), its diagonal (diag), the mean of that diagonal (spherical), or
/// `Σ_c N_c Σ_c / N + reg·I` without the per-component `reg` (tied). The same statistics
/// through the flat buffer (two halves summed, as two processes) give the same step.
#[test]
fn m_step_of_every_type_matches_the_dense_formulas() {
    let (k, d, n, reg) = (3, 4, 600, 1e-3);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    let xs: Vec<f32> = (0..n * d).map(|i| rng.random_range(-1.0..1.0) + (i % 7) as f32).collect();
    let mut r: Vec<f32> = (0..n * k).map(|_| rng.random::<f32>() + 0.01).collect();
    r.chunks_mut(k).for_each(|row| {
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    });
    // The oracle.
    let nk: Vec<f64> = (0..k).map(|c| (0..n).map(|i| r[i * k + c] as f64).sum()).collect();
    let mu: Vec<Vec<f64>> = (0..k)
        .map(|c| {
            (0..d)
                .map(|j| {
                    (0..n).map(|i| r[i * k + c] as f64 * xs[i * d + j] as f64).sum::<f64>() / nk[c]
                })
                .collect()
        })
        .collect();
    let scatter = |c: usize| -> Vec<f64> {
        let mut s = vec![0.0; d * d];
        for i in 0..n {
            for a in 0..d {
                for b in 0..d {
                    let (ya, yb) =
                        (xs[i * d + a] as f64 - mu[c][a], xs[i * d + b] as f64 - mu[c][b]);
                    s[a * d + b] += r[i * k + c] as f64 * ya * yb / nk[c];
                }
            }
        }
        s
    };
    let full: Vec<Vec<f64>> = (0..k).map(scatter).collect();
    for t in TYPES {
        let want: Vec<f64> = match t {
            CovarianceType::Full => full
                .iter()
                .flat_map(|s| {
                    (0..d * d).map(move |i| s[i] + if i % (d + 1) == 0 { reg } else { 0.0 })
                })
                .collect(),
            CovarianceType::Tied => (0..d * d)
                .map(|i| {
                    let pooled: f64 = (0..k).map(|c| nk[c] * full[c][i]).sum::<f64>() / n as f64;
                    pooled + if i % (d + 1) == 0 { reg } else { 0.0 }
                })
                .collect(),
            CovarianceType::Diag => {
                full.iter().flat_map(|s| (0..d).map(move |i| s[i * (d + 1)] + reg)).collect()
            }
            CovarianceType::Spherical => full
                .iter()
                .map(|s| (0..d).map(|i| s[i * (d + 1)] + reg).sum::<f64>() / d as f64)
                .collect(),
        };
        let layer = config(k, t, reg).init(d, &common::device()).unwrap();
        let resp = Tensor::from_data(TensorData::new(r.clone(), [n, k]), &common::device());
        let stats = layer.batch_stats(tensor(&xs, d), resp.clone()).unwrap();
        // Two halves through the flat buffer, summed as `MPI_Allreduce` would.
        let half = |lo: usize, hi: usize| {
            let x = tensor(&xs[lo * d..hi * d], d);
            let s = layer.batch_stats(x, resp.clone().narrow(0, lo, hi - lo)).unwrap();
            layer.stats_to_flat(&s).unwrap()
        };
        let (a, b) = (half(0, 250), half(250, n));
        let summed: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let layer2 = config(k, t, reg).init(d, &common::device()).unwrap();
        let from_flat = layer2.stats_from_flat(&summed).unwrap();
        let merged = layer2.zero_stats().merge(from_flat);
        for (stats, layer) in [(stats, layer), (merged, layer2)] {
            let (fitted, _) = layer.m_step(stats, n).unwrap();
            let got_mu = fitted.means_host().unwrap().concat();
            let want_mu: Vec<f64> = mu.concat();
            got_mu.iter().zip(&want_mu).for_each(|(g, w)| {
                assert!((g - w).abs() < 1e-5 * w.abs().max(1.0), "{t:?} mean {g} vs {w}")
            });
            let got = t.sklearn_covariances(&fitted.factors_host().unwrap(), k, d);
            assert_eq!(got.len(), want.len(), "{t:?}");
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4 * w.abs().max(1e-2), "{t:?} covariance {g} vs {w}");
            }
            let pi = fitted.weights().unwrap();
            pi.iter().zip(&nk).for_each(|(p, m)| assert!((p - m / n as f64).abs() < 1e-5));
        }
    }
}

/// scikit-learn's parameter counts: means `K·D`, weights `K − 1`, and `K·D(D+1)/2`,
/// `D(D+1)/2`, `K·D`, `K` covariance numbers.
#[test]
fn parameter_counts_are_scikit_learns() {
    let (k, d) = (4, 3);
    let count = |t| config(k, t, 1e-6).init(d, &common::device()).unwrap().n_parameters();
    assert_eq!(count(CovarianceType::Full), 12 + 3 + 24);
    assert_eq!(count(CovarianceType::Tied), 12 + 3 + 6);
    assert_eq!(count(CovarianceType::Diag), 12 + 3 + 12);
    assert_eq!(count(CovarianceType::Spherical), 12 + 3 + 4);
}

/// 40,000 samples of one component have its mean and covariance (within sampling error).
#[test]
fn samples_of_every_type_have_the_components_moments() {
    let (d, n) = (3, 40_000);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);
    for t in TYPES {
        let covs = random_covariances(t, 2, d, &mut rng);
        let means = [1.0, -2.0, 0.5, 3.0, 3.0, 3.0];
        let layer = FullGmm::from_parts(
            &means,
            &stored_factors(t, &covs, d),
            &[0.5, 0.5],
            &config(2, t, 1e-6),
            &common::device(),
        );
        let xs = layer.sample_component(1, n, &mut rng).unwrap();
        for a in 0..d {
            let ma = xs.iter().skip(a).step_by(d).map(|&v| v as f64).sum::<f64>() / n as f64;
            assert!((ma - means[3 + a]).abs() < 0.05, "{t:?} mean {ma}");
            for b in 0..d {
                let mb = means[3 + b];
                let cab: f64 = xs
                    .chunks(d)
                    .map(|x| (x[a] as f64 - means[3 + a]) * (x[b] as f64 - mb))
                    .sum::<f64>()
                    / n as f64;
                assert!((cab - covs[1][a * d + b]).abs() < 0.08, "{t:?} cov {cab}");
            }
        }
    }
}

/// EM of every type on real patches climbs (within f32 rounding of the sums) and repeats
/// exactly from its seed; each type's fit ranks as its freedom does (full ≥ diag ≥ spherical).
#[test]
fn em_of_every_type_is_monotone_on_real_patches() {
    let data = DataConfig::Bsds(BsdsData {
        patch_size: 6,
        n_train: 6000,
        n_test: 10,
        min_std: 0.04,
        n_valid: None,
    });
    let images = load_split(&data, &sample_root(), Split::Train, SEED).unwrap();
    let rows: Vec<f32> = images.pixels.chunks(36).flat_map(|p| p[..35].to_vec()).collect();
    let data = Encoded::from_rows(&rows, 35, 2048, &common::device());
    let em = EmConfig { batch_size: 2048, init: Init::Kmeans, ..EmConfig::iterations(10) };
    let mut last = Vec::new();
    for t in TYPES {
        let run = || {
            let layer = config(5, t, 1e-6).init(35, &common::device()).unwrap();
            fit(layer, &data, &em, SEED, &Progress::quiet()).unwrap().1.lower_bounds()
        };
        let lls = run();
        for w in lls.windows(2) {
            assert!(w[1] >= w[0] - 1e-6 * w[0].abs(), "{t:?} fell: {lls:?}");
        }
        assert!(lls.last() > lls.first(), "{t:?}: no progress {lls:?}");
        assert_eq!(lls, run(), "{t:?}: a seeded run must repeat exactly");
        last.push(*lls.last().unwrap());
    }
    assert!(last[0] > last[2] && last[2] > last[3], "full, diag, spherical: {last:?}");
}

/// A run of each constrained type writes a folder whose model reloads with its stored
/// layout and scores to the figure the run recorded.
#[test]
fn a_run_folder_of_each_type_reloads_and_rescores() {
    let dir = tempfile::tempdir().unwrap();
    for t in ["tied", "diag", "spherical"] {
        let text = format!(
            "name = \"{t}\"\nseed = 3\n[data]\ndataset = \"mnist\"\nn_train = 800\nn_test = 300\n\
             [model]\nkind = \"full\"\nn_components = 4\nreg_covar = 1e-2\ncovariance_type = \
             \"{t}\"\n[em]\nmax_iter = 4\ninit = \"kmeans\"\n"
        );
        let config = common::runs::write_config(dir.path(), &format!("{t}.toml"), &text);
        let out = dir.path().join(t);
        let run = common::runs::run(&config, &out, &[]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let model = std::fs::read_to_string(out.join("model.toml")).unwrap();
        assert!(model.contains(&format!("covariance_type = \"{t}\"")), "{model}");
        let eval = std::process::Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
            .args(["eval", out.to_str().unwrap(), "--split", "test", "--data-dir"])
            .arg(sample_root())
            .env_remove("GMM_ZOO_DATA")
            .output()
            .unwrap();
        assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
        let score: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
        let (got, recorded) = (&score["nats_per_sample"], &metrics["test"]["nats_per_sample"]);
        assert_eq!(got.as_f64(), recorded.as_f64(), "{t}: eval against the recorded figure");
        let params = common::runs::parameters(&out, 1);
        let factors = params[0].len() - 4 * 784 - 4;
        let want = match t {
            "tied" => 784 * 784,
            _ => 4 * 784,
        };
        assert_eq!(factors, want, "{t}: stored factor numbers");
    }
}
