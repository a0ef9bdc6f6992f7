//! Stepwise (online) EM (`[em.stepwise]`): the full GMM's passes against a dense float64
//! stepwise EM that blends raw moments, a fit stopped inside a pass and resumed equal to the
//! uninterrupted fit, one mini-batch per pass equal to batch EM's first iteration in every
//! family, and its settings checked.

mod common;

use common::{SEED, sample_root};
use gmm_zoo::models::{
    CovarianceType, DeepGmmConfig, EmptyPolicy, Encoded, FullGmm, FullGmmConfig, Init, Mixture,
    to_host_f64,
};
use gmm_zoo::training::config::{BsdsData, DataConfig, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::em::{FitReport, Start, fit_with};
use gmm_zoo::training::encode::encode;
use gmm_zoo::training::{EmConfig, LayerConfig, Progress, Stepwise, TrainError, fit, with_layer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows `[n, 3]` from three well separated, correlated clusters.
fn clusters(n: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let centres = [[0.0, 0.0, 0.0], [4.0, -3.0, 1.0], [-3.0, 4.0, 2.0]];
    let mut x = Vec::with_capacity(n * 3);
    for i in 0..n {
        let c = centres[i % 3];
        let z: [f64; 3] = std::array::from_fn(|_| rng.random::<f64>() * 2.0 - 1.0);
        x.extend([c[0] + z[0], c[1] + 0.5 * z[0] + 0.7 * z[1], c[2] + 0.3 * z[1] + z[2]]);
    }
    x
}

fn stepwise(batches: usize, alpha: f64, max_iter: usize) -> EmConfig {
    EmConfig {
        batch_size: 10,
        init: Init::KmeansPlusPlus,
        stepwise: Some(Stepwise { batches, alpha, warm_up: false }),
        ..EmConfig::iterations(max_iter)
    }
}

/// `(π, μ [K·D], Σ [K·D·D])` of a full layer.
fn parameters(layer: &FullGmm) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let means = layer.means_host().unwrap().concat();
    (layer.weights().unwrap(), means, layer.covariances_host().unwrap().concat())
}

fn log_normal(x: &[f64], mu: &[f64], sigma: &[f64]) -> f64 {
    let d = x.len();
    let y: Vec<f64> = x.iter().zip(mu).map(|(a, b)| a - b).collect();
    common::dense_normal_log_density(&y, &sigma[..d * d])
}

/// Dense f64 stepwise EM: per mini-batch, posteriors, raw moments `(N_c, Σ r x, Σ r x xᵀ)`
/// divided by the mini-batch's rows, blended with `η_0 = 1`, `η_k = (k + 2)^(−α)`, then
/// `π_c = N̄_c`, `μ_c = S̄_c / N̄_c`, `Σ_c = Q̄_c / N̄_c − μ_c μ_cᵀ + reg·I` (its diagonal only
/// for `diagonal`).
fn oracle(
    x: &[f64],
    start: (Vec<f64>, Vec<f64>, Vec<f64>),
    rows_per_step: usize,
    passes: usize,
    alpha: f64,
    reg: f64,
    diagonal: bool,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (d, k) = (3, start.0.len());
    let (mut pi, mut mu, mut sigma) = start;
    let mut blend = vec![0.0; k * (1 + d + d * d)];
    let mut step = 0u64;
    for _ in 0..passes {
        for batch in x.chunks(rows_per_step * d) {
            let nb = (batch.len() / d) as f64;
            let mut s = vec![0.0; blend.len()];
            for row in batch.chunks(d) {
                let logs: Vec<f64> = (0..k)
                    .map(|c| {
                        let sig = &sigma[c * d * d..(c + 1) * d * d];
                        pi[c].ln() + log_normal(row, &mu[c * d..(c + 1) * d], sig)
                    })
                    .collect();
                let top = logs.iter().cloned().fold(f64::MIN, f64::max);
                let norm = top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln();
                for c in 0..k {
                    let r = (logs[c] - norm).exp();
                    let at = c * (1 + d + d * d);
                    s[at] += r / nb;
                    for i in 0..d {
                        s[at + 1 + i] += r * row[i] / nb;
                        for j in 0..d {
                            s[at + 1 + d + i * d + j] += r * row[i] * row[j] / nb;
                        }
                    }
                }
            }
            let eta = if step == 0 { 1.0 } else { (step as f64 + 2.0).powf(-alpha) };
            blend.iter_mut().zip(&s).for_each(|(b, v)| *b = (1.0 - eta) * *b + eta * v);
            step += 1;
            for c in 0..k {
                let at = c * (1 + d + d * d);
                let nc = blend[at];
                pi[c] = nc;
                for i in 0..d {
                    mu[c * d + i] = blend[at + 1 + i] / nc;
                }
                for i in 0..d {
                    for j in 0..d {
                        let q = blend[at + 1 + d + i * d + j] / nc;
                        let v = q - mu[c * d + i] * mu[c * d + j] + if i == j { reg } else { 0.0 };
                        sigma[c * d * d + i * d + j] = if diagonal && i != j { 0.0 } else { v };
                    }
                }
            }
            let total: f64 = pi.iter().sum();
            pi.iter_mut().for_each(|p| *p /= total);
        }
    }
    (pi, mu, sigma)
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{i}]: got {g}, oracle {w}");
    }
}

fn full_layer(k: usize, covariance_type: CovarianceType) -> (FullGmm, FullGmmConfig) {
    let config = FullGmmConfig {
        n_components: k,
        zero_mean: false,
        reg_covar: 1e-6,
        empty_components: EmptyPolicy::Keep,
        covariance_type,
    };
    (config.init(3, &common::device()).unwrap(), config)
}

fn rows(x: &[f64], layer: &FullGmm, batch: usize) -> Encoded {
    let f: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let encoded = layer.encode(&f).unwrap();
    Encoded::from_rows(&encoded, 3, batch, &common::device())
}

/// Two passes of four mini-batches (3 batches of 10 rows each), full and diagonal covariances:
/// the library's parameters, whose moments are taken about the moving means and moved after
/// every M-step, equal the oracle's, which blends raw moments.
#[test]
fn stepwise_em_equals_a_dense_f64_stepwise_em() {
    let x = clusters(120);
    for t in [CovarianceType::Full, CovarianceType::Diag] {
        let (layer, config) = full_layer(3, t);
        let data = rows(&x, &layer, 10);
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let start = layer.initialize(&data, Init::KmeansPlusPlus, &mut rng).unwrap();
        let begin = parameters(&start);
        for alpha in [0.6, 1.0] {
            let em = stepwise(3, alpha, 2);
            let resumed = Start::Resume(FitReport::default());
            let mut hook = |_: &FullGmm, _: &FitReport| Ok(());
            let (fitted, report) =
                fit_with(start.clone(), &data, &em, resumed, &Progress::quiet(), &mut hook)
                    .unwrap();
            assert_eq!(report.iterations.len(), 2, "two passes");
            assert_eq!(report.stepwise.as_ref().unwrap().steps, 8, "four mini-batches a pass");
            let diagonal = t == CovarianceType::Diag;
            let want = oracle(&x, begin.clone(), 30, 2, alpha, config.reg_covar, diagonal);
            let got = parameters(&fitted);
            let what = format!("{}, alpha {alpha}", t.name());
            assert_close(&format!("{what}: weights"), &got.0, &want.0, 1e-4);
            assert_close(&format!("{what}: means"), &got.1, &want.1, 1e-4);
            assert_close(&format!("{what}: covariances"), &got.2, &want.2, 1e-3);
        }
    }
}

/// A fit stopped after any mini-batch inside a pass (the hook's error, as Ctrl-C's checkpoint
/// would stop it) and resumed from the layer and report it stopped with is the uninterrupted
/// fit, bit for bit.
#[test]
fn a_fit_stopped_inside_a_pass_resumes_exactly() {
    let x = clusters(150);
    let (layer, _) = full_layer(3, CovarianceType::Full);
    let data = rows(&x, &layer, 10);
    let em = stepwise(2, 0.7, 3);
    let (whole, whole_report) = fit(layer.clone(), &data, &em, SEED, &Progress::quiet()).unwrap();
    for stop_at in [3, 12] {
        let mut calls = 0;
        let mut kept: Option<(FullGmm, FitReport)> = None;
        let mut hook = |l: &FullGmm, r: &FitReport| {
            calls += 1;
            if calls == stop_at {
                assert!(r.mid_pass(), "call {stop_at} is inside a pass");
                kept = Some((l.clone(), r.clone()));
                return Err(TrainError::Failed("stopped".into()));
            }
            Ok(())
        };
        let fresh = Start::Fresh { seed: SEED };
        assert!(fit_with(layer.clone(), &data, &em, fresh, &Progress::quiet(), &mut hook).is_err());
        let (l, r) = kept.expect("the hook stopped the fit");
        let (resumed, report) =
            fit_with(l, &data, &em, Start::Resume(r), &Progress::quiet(), &mut |_, _| Ok(()))
                .unwrap();
        assert_eq!(report.lower_bounds(), whole_report.lower_bounds(), "stopped at {stop_at}");
        assert_eq!(report.stepwise, whole_report.stepwise);
        assert_eq!(parameters(&resumed), parameters(&whole), "stopped at {stop_at}");
    }
}

/// With one mini-batch per pass, the first pass is batch EM's first iteration (statistics
/// divided by N before the M-step: equal up to rounding) in every family.
#[test]
fn one_mini_batch_per_pass_is_batch_em_in_every_family() {
    let device = common::device();
    let data = DataConfig::Bsds(BsdsData {
        patch_size: 8,
        n_train: 3000,
        n_test: 10,
        min_std: 0.04,
        n_valid: None,
    });
    let images = load_split(&data, &sample_root(), Split::Train, SEED).unwrap();
    let deep = match LayerConfig::with_size("deep", 3) {
        Some(LayerConfig::Deep(mut d)) => {
            d.network = DeepGmmConfig { nodes: vec![3, 2], beam: 2, m_step_iters: 5, ..d.network };
            LayerConfig::Deep(d)
        }
        _ => unreachable!("the deep family is registered"),
    };
    let configs = [
        LayerConfig::with_size("conv", 4).unwrap(),
        LayerConfig::with_size("full", 4).unwrap(),
        deep,
    ];
    for config in configs {
        let batch =
            EmConfig { batch_size: 500, init: Init::KmeansPlusPlus, ..EmConfig::iterations(1) };
        let batch = match config.kind() {
            "conv" => EmConfig { init: Init::Samples, ..batch },
            _ => batch,
        };
        let step = EmConfig {
            stepwise: Some(Stepwise { batches: 6, alpha: 0.7, warm_up: false }),
            ..batch.clone()
        };
        let layer = config.init([8, 8], &device).unwrap();
        let (a, b) = with_layer!(layer, m => {
            let enc = encode(&m, &images, 500, &device).unwrap();
            let (x, _) = fit(m.clone(), &enc, &batch, SEED, &Progress::quiet()).unwrap();
            let (y, _) = fit(m, &enc, &step, SEED, &Progress::quiet()).unwrap();
            let probe = enc.batch(0).unwrap();
            (x.score_samples(probe.clone()), y.score_samples(probe))
        });
        let (a, b) = (to_host_f64(a).unwrap(), to_host_f64(b).unwrap());
        for (i, (p, q)) in a.iter().zip(&b).enumerate() {
            assert!(
                (p - q).abs() <= 2e-3 * p.abs().max(1.0),
                "{}: row {i}: {p} vs {q}",
                config.kind()
            );
        }
    }
}

/// Bad settings are refused naming the key.
#[test]
fn bad_stepwise_settings_are_refused() {
    let cases = [
        (Stepwise { batches: 0, alpha: 0.7, warm_up: false }, None, "stepwise.batches"),
        (Stepwise { batches: 1, alpha: 0.5, warm_up: false }, None, "stepwise.alpha"),
        (Stepwise { batches: 1, alpha: 1.2, warm_up: false }, None, "stepwise.alpha"),
        (Stepwise { batches: 1, alpha: 0.7, warm_up: false }, Some(0.01), "prune_below"),
    ];
    for (s, prune_below, key) in cases {
        let em = EmConfig { stepwise: Some(s), prune_below, ..EmConfig::iterations(3) };
        let err = em.validate().unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
}

/// A stepwise run through the binary: Ctrl-C during a pass writes a checkpoint holding the
/// blend (inside the pass: a pass is 100 mini-batches) and exits with 130; `--resume` then
/// gives the uninterrupted run's parameters and history, bit for bit.
#[test]
fn ctrl_c_inside_a_pass_resumes_to_the_uninterrupted_run() {
    use common::runs::{histories, interrupt_at, parameters, run, write_config};
    use gmm_zoo::training::checkpoint::Checkpoint;
    const CONFIG: &str = r#"
name = "stepwise"
seed = 3
[data]
dataset = "bsds300"
n_train = 50000
n_test = 2000
[model]
kind = "full"
n_components = 6
[em]
max_iter = 6
init = "kmeans++"
batch_size = 500
[em.stepwise]
batches = 1
alpha = 0.7
[checkpoint]
every = 100
"#;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "stepwise.toml", CONFIG);
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    assert!(run(&config, &whole, &["--quiet"]).status.success());
    let (code, stderr) = interrupt_at(&config, &broken, "iter    2/");
    assert_eq!(code, Some(130), "{stderr}");
    let ckpt = Checkpoint::read(&broken.join("checkpoint.ckpt")).unwrap();
    let state = ckpt.meta.report.stepwise.as_ref().expect("the checkpoint holds the blend");
    assert!(state.steps >= 200 && !state.stats.is_empty(), "{} steps", state.steps);
    let done = run(&config, &broken, &["--resume", "--quiet"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(histories(&whole, 1), histories(&broken, 1));
    assert_eq!(parameters(&whole, 1), parameters(&broken, 1));
}
