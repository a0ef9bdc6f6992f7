//! Every family's M-step against its closed form, in f64, on a small data set with given
//! responsibilities (random rows, not EM's own): weights `N_c / N`, weighted power spectra
//! (conv), weighted means and covariances about the weighted mean (full, and prob in its
//! Helmert coordinates). The layers start from means far from the weighted ones, so that the
//! M-step's correction from moments about the current mean to moments about the new mean
//! (`− d_c d_cᵀ`) is exercised.

mod common;

use gmm_zoo::models::{
    ConvGmmConfig, DeepGmm, DeepGmmConfig, EmptyPolicy, FullGmm, FullGmmConfig, Mixture,
    NodeParams, PathAssignment, ProbGmmConfig, SpectralLayout, Tensor, TensorData,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Random responsibility rows `[n, k]` (each row positive, summing to 1).
fn responsibilities(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut r: Vec<f64> = (0..n * k).map(|_| rng.random::<f64>() + 0.05).collect();
    for row in r.chunks_mut(k) {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    r
}

fn tensor(v: &[f64], shape: [usize; 2]) -> Tensor<2> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, shape), &common::device())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{i}]: got {g}, closed form {w}");
    }
}

/// `N_c = Σ_n r[n,c]`.
fn masses(r: &[f64], k: usize) -> Vec<f64> {
    (0..k).map(|c| r.chunks(k).map(|row| row[c]).sum()).collect()
}

/// Weighted means and covariances about them (+ `reg·I`), or raw second moments when
/// `zero_mean`: `μ_c = Σ r x / N_c`, `Σ_c = Σ r (x − μ_c)(x − μ_c)ᵀ / N_c + reg·I`.
fn weighted_gaussians(
    x: &[f64],
    r: &[f64],
    d: usize,
    k: usize,
    reg: f64,
    zero_mean: bool,
) -> (Vec<f64>, Vec<f64>) {
    let nk = masses(r, k);
    let (mut means, mut covs) = (vec![0.0; k * d], vec![0.0; k * d * d]);
    for c in 0..k {
        if !zero_mean {
            for (row, rr) in x.chunks(d).zip(r.chunks(k)) {
                for i in 0..d {
                    means[c * d + i] += rr[c] * row[i] / nk[c];
                }
            }
        }
        let mu = means[c * d..(c + 1) * d].to_vec();
        for (row, rr) in x.chunks(d).zip(r.chunks(k)) {
            for i in 0..d {
                for j in 0..d {
                    covs[c * d * d + i * d + j] +=
                        rr[c] * (row[i] - mu[i]) * (row[j] - mu[j]) / nk[c];
                }
            }
        }
        for i in 0..d {
            covs[c * d * d + i * d + i] += reg;
        }
    }
    (means, covs)
}

#[test]
fn conv_m_step_is_the_weighted_mean_periodogram() {
    let mut rng = ChaCha8Rng::seed_from_u64(common::SEED);
    for (p, exclude_dc) in [(5, false), (4, true)] {
        let (n, k, d) = (40, 3, p * p);
        let mut images: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        if exclude_dc {
            for img in images.chunks_mut(d) {
                let mean = img.iter().sum::<f32>() / d as f32;
                img.iter_mut().for_each(|v| *v -= mean);
            }
        }
        let config = ConvGmmConfig { n_components: k, exclude_dc, spectrum_floor: 1e-12 };
        let layer = config.init(p, &common::device()).unwrap();
        let r = responsibilities(n, k, &mut rng);
        let x = layer.encode(&images).unwrap();
        let b = layer.encoded_width();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let stats = layer.batch_stats(tensor(&x64, [n, b]), tensor(&r, [n, k])).unwrap();
        let (layer, report) = layer.m_step(stats, n).unwrap();
        assert!(report.emptied.is_empty());

        // S_c(k_b) = Σ_n r[n,c] |X_n(k_b)|² / (D N_c), from an f64 periodogram.
        let power = SpectralLayout::new(p, exclude_dc).power_f64(&images);
        let nk = masses(&r, k);
        let mut want = vec![0.0; k * b];
        for (row, rr) in power.chunks(b).zip(r.chunks(k)) {
            for c in 0..k {
                for j in 0..b {
                    want[c * b + j] += rr[c] * row[j] / (d as f64 * nk[c]);
                }
            }
        }
        let got: Vec<f64> = layer.spectra_host().unwrap().concat();
        assert_close(&format!("P={p} spectra"), &got, &want, 1e-4);
        let weights: Vec<f64> = nk.iter().map(|m| m / n as f64).collect();
        assert_close(&format!("P={p} weights"), &layer.weights().unwrap(), &weights, 1e-5);
    }
}

/// D = 4 takes the grouped statistics (every row, components batched), D = 130 the
/// per-component ones over the rows each component explains.
#[test]
fn full_m_step_is_the_weighted_mean_and_covariance() {
    for d in [4, 130] {
        full_m_step_matches_closed_form(d);
    }
}

fn full_m_step_matches_closed_form(d: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(common::SEED + d as u64);
    let (n, k, reg) = (60, 3, 1e-3);
    // Data centred near (3, -2, 1, 0, 3, …), far from the layer's current means (0 and 1).
    let centre = [3.0, -2.0, 1.0, 0.0];
    let x: Vec<f64> = (0..n * d)
        .map(|i| centre[i % 4] + rng.random_range(-1.0..1.0) * (1 + i % 4) as f64)
        .collect();
    let r = responsibilities(n, k, &mut rng);
    for zero_mean in [false, true] {
        let config = FullGmmConfig {
            n_components: k,
            zero_mean,
            reg_covar: reg,
            empty_components: EmptyPolicy::Keep,
            covariance_type: Default::default(),
        };
        let mut eye = vec![0.0; k * d * d];
        (0..k * d).for_each(|i| eye[(i / d) * d * d + (i % d) * (d + 1)] = 1.0);
        let start_means: Vec<f64> =
            (0..k * d).map(|i| if zero_mean { 0.0 } else { (i % 2) as f64 }).collect();
        let layer = FullGmm::from_parts(
            &start_means,
            &eye,
            &[1.0 / k as f64; 3],
            &config,
            &common::device(),
        );
        let stats = layer.batch_stats(tensor(&x, [n, d]), tensor(&r, [n, k])).unwrap();
        let (layer, report) = layer.m_step(stats, n).unwrap();
        assert!(report.emptied.is_empty());

        let (means, covs) = weighted_gaussians(&x, &r, d, k, reg, zero_mean);
        let what = format!("D={d} {}", if zero_mean { "zero-mean" } else { "full" });
        assert_close(&format!("{what} means"), &layer.means_host().unwrap().concat(), &means, 1e-5);
        assert_close(
            &format!("{what} covariances"),
            &layer.covariances_host().unwrap().concat(),
            &covs,
            1e-4,
        );
        let weights: Vec<f64> = masses(&r, k).iter().map(|m| m / n as f64).collect();
        assert_close(&format!("{what} weights"), &layer.weights().unwrap(), &weights, 1e-5);
    }
}

#[test]
fn prob_m_step_is_the_full_m_step_in_helmert_coordinates() {
    let mut rng = ChaCha8Rng::seed_from_u64(common::SEED + 2);
    let (n, k, k_in, reg) = (50, 2, 4, 1e-4);
    // Probability rows leaning towards their first entry, so the weighted means are far from 0.
    let rows: Vec<f32> = responsibilities(n, k_in, &mut rng)
        .chunks(k_in)
        .flat_map(|q| {
            let lean: Vec<f64> =
                q.iter().enumerate().map(|(i, v)| if i == 0 { v + 2.0 } else { *v }).collect();
            let s: f64 = lean.iter().sum();
            lean.into_iter().map(move |v| (v / s) as f32)
        })
        .collect();
    let config = ProbGmmConfig { n_components: k, reg_covar: reg };
    let layer = config.init(k_in, &common::device()).unwrap();
    let z = layer.encode(&rows).unwrap();
    let d = layer.encoded_width();
    let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let r = responsibilities(n, k, &mut rng);
    let stats = layer.batch_stats(tensor(&z, [n, d]), tensor(&r, [n, k])).unwrap();
    let (layer, _) = layer.m_step(stats, n).unwrap();
    let (means, covs) = weighted_gaussians(&z, &r, d, k, reg, false);
    assert_close("prob means", &layer.gaussian.means_host().unwrap().concat(), &means, 1e-5);
    assert_close(
        "prob covariances",
        &layer.gaussian.covariances_host().unwrap().concat(),
        &covs,
        1e-4,
    );
}

/// One node, one path: `x = A z + b`, so Q is maximised where `A Aᵀ = S / N` and `b` is the
/// mean, with `S = Σ (x − m)(x − m)ᵀ + reg_covar · N I` (the regulariser scales with the path's
/// mass, as the full GMM's `+ reg_covar·I` on `S / N`). A large `reg_covar` against few rows
/// tells `reg_covar · N` from `reg_covar` by a factor of N on the diagonal.
#[test]
fn deep_m_step_converges_to_the_mean_and_regularised_covariance() {
    let mut rng = ChaCha8Rng::seed_from_u64(common::SEED + 11);
    let (n, d, reg) = (400, 3, 0.5);
    let x: Vec<f64> = (0..n * d)
        .map(|i| [2.0, -1.0, 0.5][i % d] + rng.random_range(-1.5..1.5) * (1 + i % d) as f64)
        .collect();
    let config = DeepGmmConfig {
        nodes: vec![1],
        e_step: PathAssignment::Soft,
        beam: 1,
        reg_covar: reg,
        m_step_iters: 3000,
        learning_rate: 2e-2,
        init_noise: 0.0,
    };
    let eye: Vec<f64> = (0..d * d).map(|t| f64::from(u8::from(t / d == t % d))).collect();
    let start = NodeParams { a: eye, b: vec![0.0; d], dim: d };
    let layer = DeepGmm::from_parts(&start, &[1.0], &config, &common::device()).unwrap();
    let ones = vec![1.0; n];
    let stats = layer.batch_stats(tensor(&x, [n, d]), tensor(&ones, [n, 1])).unwrap();
    let (layer, report) = layer.m_step(stats, n).unwrap();
    println!("{:?}", report.ascent);
    let nodes = layer.nodes_host().unwrap();
    let a = &nodes.a;
    let cov: Vec<f64> =
        (0..d * d).map(|t| (0..d).map(|s| a[t / d * d + s] * a[t % d * d + s]).sum()).collect();
    let (means, covs) = weighted_gaussians(&x, &ones, d, 1, reg, false);
    assert_close("deep mean", &nodes.b, &means, 1e-2);
    assert_close("deep covariance", &cov, &covs, 1e-2);
}
