//! Samples converge to the model: the empirical power spectrum of conv samples to `S_c`, the
//! empirical covariance of full samples to `Σ_c`.

mod common;

use common::{SEED, device};
use gmm_zoo::models::{
    ConvGmm, ConvGmmConfig, FullGmm, FullGmmConfig, Generative, SpectralLayout, linalg,
};

/// A conv config with a negligible floor (K is that of the weights `from_parts` gets).
fn conv_config(exclude_dc: bool) -> ConvGmmConfig {
    ConvGmmConfig { n_components: 2, exclude_dc, spectrum_floor: 1e-9 }
}
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// With n samples the mean periodogram of a bin has relative standard deviation about
/// `1/sqrt(n · w_b / 2)` (a χ² with 1 or 2 degrees of freedom per sample); 20,000 samples give
/// ≤ 1 %, and the test allows 5 % per bin and 1 % on the average over bins.
#[test]
fn conv_samples_have_the_component_power_spectrum() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for (p, exclude_dc) in [(6, true), (5, false)] {
        let layout = SpectralLayout::new(p, exclude_dc);
        let b = layout.n_bins();
        let spectra: Vec<f64> = (0..2 * b).map(|_| rng.random_range(0.01..2.0)).collect();
        let layer = ConvGmm::from_parts(
            layout.clone(),
            &spectra,
            &[0.3, 0.7],
            &conv_config(exclude_dc),
            &device(),
        );
        let n = 20000;
        let xs = layer.sample_component(1, n, &mut rng).unwrap();
        if exclude_dc {
            let worst = xs
                .chunks(p * p)
                .map(|x| x.iter().map(|&v| v as f64).sum::<f64>().abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-4, "DC left out: every sample has zero mean ({worst})");
        }
        let power = layout.power_f64(&xs);
        let d = (p * p) as f64;
        let mut mean_rel = 0.0;
        for j in 0..b {
            let est = (0..n).map(|i| power[i * b + j]).sum::<f64>() / (n as f64 * d);
            let want = spectra[b + j];
            let rel = (est - want) / want;
            assert!(rel.abs() < 0.05, "P={p} bin {j}: {est} vs {want}");
            mean_rel += rel / b as f64;
        }
        assert!(mean_rel.abs() < 0.01, "P={p}: average relative error {mean_rel}");
    }
}

/// The empirical covariance of 40,000 samples matches `Σ_c` within 0.03 (entries are O(1)),
/// and the mean matches `μ_c` within 0.03.
#[test]
fn full_samples_have_the_component_mean_and_covariance() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    let d = 4;
    let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mut cov = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            cov[i * d + j] = (0..d).map(|k| b[i * d + k] * b[j * d + k]).sum::<f64>() / 2.0;
        }
        cov[i * d + i] += 0.2;
    }
    let means = [vec![0.0; d], vec![1.0, -2.0, 0.5, 3.0]].concat();
    let precs = [
        linalg::precision_cholesky(&vec_eye(d), d).unwrap(),
        linalg::precision_cholesky(&cov, d).unwrap(),
    ]
    .concat();
    let config = FullGmmConfig {
        n_components: 2,
        zero_mean: false,
        reg_covar: 1e-6,
        empty_components: Default::default(),
        covariance_type: Default::default(),
    };
    let layer = FullGmm::from_parts(&means, &precs, &[0.5, 0.5], &config, &device());
    let n = 40000;
    let xs: Vec<f64> =
        layer.sample_component(1, n, &mut rng).unwrap().into_iter().map(f64::from).collect();
    let mean: Vec<f64> =
        (0..d).map(|i| (0..n).map(|k| xs[k * d + i]).sum::<f64>() / n as f64).collect();
    for i in 0..d {
        assert!((mean[i] - means[d + i]).abs() < 0.03, "mean {i}: {} vs {}", mean[i], means[d + i]);
        for j in 0..d {
            let c =
                (0..n).map(|k| (xs[k * d + i] - mean[i]) * (xs[k * d + j] - mean[j])).sum::<f64>()
                    / n as f64;
            assert!((c - cov[i * d + j]).abs() < 0.03, "cov ({i},{j}): {c} vs {}", cov[i * d + j]);
        }
    }
    // The mixture draws components in proportion to the weights.
    let (_, comps) = layer.sample(10000, &mut rng).unwrap();
    let share = comps.iter().filter(|&&c| c == 1).count() as f64 / 10000.0;
    assert!((share - 0.5).abs() < 0.02, "{share}");
}

fn vec_eye(d: usize) -> Vec<f64> {
    (0..d * d).map(|i| if i % (d + 1) == 0 { 1.0 } else { 0.0 }).collect()
}
