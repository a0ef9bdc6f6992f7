//! The convolutional GMM's density against a dense multivariate normal with the explicit
//! circulant covariance (models.md §1), for P = 4 and 5, with and without the DC bin.

mod common;

use common::{SEED, circulant, dense_normal_log_density};
use gmm_zoo::models::{ConvGmm, ConvGmmConfig, Mixture, SpectralLayout, Tensor, TensorData};

/// A conv config with a negligible floor (K is that of the weights `from_parts` gets).
fn floor(exclude_dc: bool) -> ConvGmmConfig {
    ConvGmmConfig { n_components: 1, exclude_dc, spectrum_floor: 1e-9 }
}
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An orthonormal basis of the sum-zero subspace (Helmert), `D × (D-1)` row-major.
fn helmert(d: usize) -> Vec<f64> {
    let mut u = vec![0.0; d * (d - 1)];
    for j in 1..d {
        let norm = ((j * (j + 1)) as f64).sqrt();
        for i in 0..j {
            u[i * (d - 1) + (j - 1)] = 1.0 / norm;
        }
        u[j * (d - 1) + (j - 1)] = -(j as f64) / norm;
    }
    u
}

/// The oracle: `log N(x | 0, C)` in the pixel domain, or of `Uᵀx` under `UᵀCU` without DC.
fn dense_log_density(x: &[f32], spectrum_full: &[f64], p: usize, exclude_dc: bool) -> f64 {
    let d = p * p;
    let c = circulant(spectrum_full, p);
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    if !exclude_dc {
        return dense_normal_log_density(&x, &c);
    }
    let u = helmert(d);
    let m = d - 1;
    let y: Vec<f64> = (0..m).map(|j| (0..d).map(|i| u[i * m + j] * x[i]).sum()).collect();
    let mut cu = vec![0.0; d * m];
    for i in 0..d {
        for j in 0..m {
            cu[i * m + j] = (0..d).map(|k| c[i * d + k] * u[k * m + j]).sum();
        }
    }
    let mut s = vec![0.0; m * m];
    for a in 0..m {
        for b in 0..m {
            s[a * m + b] = (0..d).map(|i| u[i * m + a] * cu[i * m + b]).sum();
        }
    }
    dense_normal_log_density(&y, &s)
}

fn random_case(
    p: usize,
    exclude_dc: bool,
    rng: &mut ChaCha8Rng,
) -> (SpectralLayout, Vec<f64>, Vec<f32>) {
    let layout = SpectralLayout::new(p, exclude_dc);
    let spectrum: Vec<f64> = (0..layout.n_bins()).map(|_| rng.random_range(0.05..3.0)).collect();
    let mut x: Vec<f32> = (0..p * p).map(|_| rng.random_range(-1.0..1.0)).collect();
    if exclude_dc {
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        x.iter_mut().for_each(|v| *v -= mean);
    }
    (layout, spectrum, x)
}

#[test]
fn spectral_formula_matches_dense_circulant_gaussian_in_f64() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for p in [4, 5] {
        for exclude_dc in [false, true] {
            for _ in 0..3 {
                let (layout, spectrum, x) = random_case(p, exclude_dc, &mut rng);
                let full = layout.to_full_grid(&spectrum, 1.0);
                let oracle = dense_log_density(&x, &full, p, exclude_dc);
                let ours = layout.log_density_f64(&x, &spectrum);
                assert!(
                    (ours - oracle).abs() < 1e-9,
                    "P={p} exclude_dc={exclude_dc}: spectral {ours} vs dense {oracle} (diff {:e})",
                    ours - oracle
                );
            }
        }
    }
}

/// The Burn layer works in f32: its log-density agrees with the dense f64 oracle within
/// `1e-4 + 1e-5·|log N|` nats.
#[test]
fn burn_layer_matches_dense_circulant_gaussian_within_f32_tolerance() {
    let device = common::device();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    for p in [4, 5] {
        for exclude_dc in [false, true] {
            // Three components, three samples: every pair checked.
            let cases: Vec<_> = (0..3).map(|_| random_case(p, exclude_dc, &mut rng)).collect();
            let layout = cases[0].0.clone();
            let spectra: Vec<f64> = cases.iter().flat_map(|c| c.1.clone()).collect();
            let layer = ConvGmm::from_parts(
                layout.clone(),
                &spectra,
                &[0.2, 0.3, 0.5],
                &floor(exclude_dc),
                &device,
            );
            let xs: Vec<f32> = cases.iter().flat_map(|c| c.2.clone()).collect();
            let enc = layer.encode(&xs).unwrap();
            let x = Tensor::<2>::from_data(TensorData::new(enc, [3, layout.n_bins()]), &device);
            let lp = gmm_zoo::models::to_host_f64(layer.log_prob(x)).unwrap();
            for (n, case) in cases.iter().enumerate() {
                for (c, comp) in cases.iter().enumerate() {
                    let full = layout.to_full_grid(&comp.1, 1.0);
                    let oracle = dense_log_density(&case.2, &full, p, exclude_dc);
                    let got = lp[n * 3 + c];
                    let tol = 1e-4 + 1e-5 * oracle.abs();
                    assert!(
                        (got - oracle).abs() < tol,
                        "P={p} exclude_dc={exclude_dc} sample {n} component {c}: layer {got} vs dense {oracle}"
                    );
                }
            }
        }
    }
}

/// The layer's density as Gaussians (`density_gaussians`: zero means, circulant covariances over
/// the pixels) is its log-density: the dense oracle computed from the returned covariances
/// matches the layer's spectral formula, with and without DC.
#[test]
fn density_gaussians_are_the_circulant_covariances() {
    use gmm_zoo::training::Family;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);
    for exclude_dc in [false, true] {
        let cases: Vec<_> = (0..2).map(|_| random_case(4, exclude_dc, &mut rng)).collect();
        let layout = cases[0].0.clone();
        let spectra: Vec<f64> = cases.iter().flat_map(|c| c.1.clone()).collect();
        let layer = ConvGmm::from_parts(
            layout.clone(),
            &spectra,
            &[0.4, 0.6],
            &floor(exclude_dc),
            &common::device(),
        );
        let g = layer.density_gaussians().unwrap().expect("a conv layer is Gaussian");
        assert_eq!(g.means, vec![vec![0.0; 16]; 2]);
        assert!((g.weights[0] - 0.4).abs() < 1e-6 && (g.weights[1] - 0.6).abs() < 1e-6);
        for (c, case) in cases.iter().enumerate() {
            let full = layout.to_full_grid(&case.1, 1.0);
            let want = circulant(&full, 4);
            for (a, b) in g.covariances[c].iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "exclude_dc={exclude_dc} component {c}: {a} vs {b}");
            }
            let ours = layout.log_density_f64(&cases[0].2, &case.1);
            let oracle = dense_log_density(&cases[0].2, &full, 4, exclude_dc);
            assert!((ours - oracle).abs() < 1e-9);
        }
    }
}
