//! Shared test helpers: seeds, data roots, a dense f64 Gaussian oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Seed of every random choice in the tests.
pub const SEED: u64 = 20261127;

/// The device the tests run on: `$GMM_ZOO_DEVICE` (e.g. `wgpu` in a `--features wgpu`
/// build), else this build's default CPU backend.
pub fn device_name() -> String {
    std::env::var("GMM_ZOO_DEVICE").unwrap_or_else(|_| gmm_zoo::models::DEFAULT_DEVICE.to_string())
}

/// The Burn device of [`device_name`].
pub fn device() -> gmm_zoo::models::Device {
    gmm_zoo::models::device_from_name(&device_name())
        .expect("GMM_ZOO_DEVICE names a compiled-in device")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped sample data root.
pub fn sample_root() -> PathBuf {
    repo().join("data/sample")
}

/// The full data root when present: `$GMM_ZOO_DATA`, else `../shared/data` beside the clone.
pub fn full_root() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("GMM_ZOO_DATA").map(PathBuf::from), Some(repo().join("../shared/data"))];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("mnist").is_dir() && p.join("bsds300").is_dir())
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Lower-triangular Cholesky factor of a dense SPD matrix (row-major n×n), in f64.
pub fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                assert!(d > 0.0, "matrix not positive definite at {i}");
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    l
}

/// `log N(y | 0, Σ)` by a dense Cholesky factorisation: the oracle.
pub fn dense_normal_log_density(y: &[f64], sigma: &[f64]) -> f64 {
    let n = y.len();
    let l = cholesky(sigma, n);
    // Solve L z = y.
    let mut z = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * z[k]).sum();
        z[i] = (y[i] - s) / l[i * n + i];
    }
    let maha: f64 = z.iter().map(|v| v * v).sum();
    let log_det: f64 = 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>();
    -0.5 * (n as f64 * (2.0 * std::f64::consts::PI).ln() + log_det + maha)
}

/// The circulant covariance of a stationary field with full-grid spectrum `S` (`[k1][k2]`):
/// `C[n, m] = (1/D) Σ_k S(k) cos(2π ⟨k, n - m⟩ / P)`.
pub fn circulant(spectrum_full: &[f64], p: usize) -> Vec<f64> {
    let d = p * p;
    let mut c = vec![0.0; d * d];
    for n in 0..d {
        for m in 0..d {
            let (dr, dc) = ((n / p) as f64 - (m / p) as f64, (n % p) as f64 - (m % p) as f64);
            let mut acc = 0.0;
            for k1 in 0..p {
                for k2 in 0..p {
                    let phase =
                        2.0 * std::f64::consts::PI * (k1 as f64 * dr + k2 as f64 * dc) / p as f64;
                    acc += spectrum_full[k1 * p + k2] * phase.cos();
                }
            }
            c[n * d + m] = acc / d as f64;
        }
    }
    c
}

/// Run options for the tests: the shipped sample, the device under test, no output.
pub fn sample_options(out: &std::path::Path) -> gmm_zoo::training::RunOptions {
    gmm_zoo::training::RunOptions {
        data_root: sample_root(),
        out_dir: out.to_path_buf(),
        device: device(),
        device_name: device_name(),
        progress: gmm_zoo::training::Progress::quiet(),
        resume: false,
    }
}
pub mod runs;

/// A version-1.0 `.npy` file written by hand from the format's spec (so the reader is checked
/// against the format, not against itself).
pub fn write_npy(path: &Path, descr: &str, fortran: bool, shape: &[usize], data: &[u8]) {
    let shape = shape.iter().map(|s| format!("{s}, ")).collect::<String>();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({}), }}",
        if fortran { "True" } else { "False" },
        shape.trim_end_matches(", ").to_string()
            + if shape.matches(',').count() == 1 { "," } else { "" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// A 3-component mixture over the 8 values of a 3×3 patch with its last pixel dropped.
pub fn patch_mixture(rng: &mut rand_chacha::ChaCha8Rng) -> gmm_zoo::training::GaussianMixture {
    use rand::Rng;
    let d = 8;
    let means = (0..3).map(|_| (0..d).map(|_| rng.random_range(-1.5..1.5)).collect()).collect();
    let covariances = (0..3)
        .map(|_| {
            let a: Vec<f64> = (0..d * d).map(|_| rng.random_range(-0.5..0.5)).collect();
            let mut c = vec![0.0; d * d];
            for i in 0..d {
                for j in 0..d {
                    c[i * d + j] = (0..d).map(|t| a[i * d + t] * a[j * d + t]).sum::<f64>()
                        + if i == j { 0.02 } else { 0.0 };
                }
            }
            c
        })
        .collect();
    gmm_zoo::training::GaussianMixture {
        means,
        covariances,
        weights: vec![0.5, 0.3, 0.2],
        reg_covar: 0.0,
    }
}

/// The weights a patch step gives each component's estimate, from the components' scores: 1 for
/// the most likely and 0 for the rest, or the posterior.
pub fn step_weights(scores: &[f64], step: gmm_zoo::experiments::restore::PatchStep) -> Vec<f64> {
    use gmm_zoo::experiments::restore::PatchStep;
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match step {
        PatchStep::MostLikely => scores.iter().map(|&s| f64::from(u8::from(s == top))).collect(),
        PatchStep::Posterior => {
            let total: f64 = scores.iter().map(|s| (s - top).exp()).sum();
            scores.iter().map(|s| (s - top).exp() / total).collect()
        }
    }
}
