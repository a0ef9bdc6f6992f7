//! Spatial filters of a convolutional component, and the overlap of two components.
//!
//! A component only determines its filter's *power spectrum* `|F_c(k)|² = 1/S_c(k)` (models.md
//! §1: the Gaussian is phase-blind). Two filters with that power spectrum are canonical:
//!
//! - the **zero-phase** filter, `F(k) = S(k)^{-1/2}` real and positive: `f` is real and even,
//!   `f(n) = f(−n)`, and filtering with it leaves the phase of every Fourier coefficient of the
//!   input unchanged (`Y(k) = F(k) X(k)` with `F(k) > 0`);
//! - the **minimum-phase** filter, by the homomorphic (cepstral) method: the real cepstrum of
//!   the gain, `ĉ(n) = IDFT[log |F|](n)`, is even; folding it onto the nonsymmetric half-plane
//!   (NSHP) — `ĉ_min(n) = 2ĉ(n)` on the half-plane, `ĉ(n)` where `n ≡ −n`, 0 elsewhere — keeps
//!   its even part, so `|exp DFT[ĉ_min]| = |F|`, and gives a filter whose log-spectrum is
//!   supported on the half-plane: recursively computable and stably invertible in the NSHP
//!   order, with its energy packed towards the origin. References: D. E. Dudgeon and R. M.
//!   Mersereau, *Multidimensional Digital Signal Processing* (Prentice-Hall, 1984), §4.4 (2-D
//!   complex cepstrum); M. P. Ekstrom and J. W. Woods, "Two-dimensional spectral factorization
//!   with applications in recursive digital filtering", IEEE Trans. ASSP 24(2), 1976. On the
//!   P×P torus the cepstrum is aliased: the result is exact when the true cepstrum dies out
//!   within P/2 of the origin, and close when it decays fast (the tests measure both).
//!
//! A model that leaves out DC (zero-meaned data) says nothing about the DC gain; the filters
//! use the geometric mean of the other gains there, so that they stay invertible.
//!
//! Overlap: for two components that are zero-mean and diagonal in the same (Fourier) basis, the
//! Bhattacharyya distance is a sum over frequencies,
//!
//! ```text
//! D_B(c, c') = ½ Σ_k [ log((S_c(k) + S_c'(k)) / 2) − ½ log S_c(k) − ½ log S_c'(k) ]
//! ```
//!
//! and the Bhattacharyya coefficient `BC = exp(−D_B) = ∫ √(p_c p_c')` ∈ (0, 1] is their overlap
//! (1 for identical components).

use crate::spectral::SpectralLayout;
use rustfft::{FftPlanner, num_complex::Complex};

/// The two canonical spatial filters of one component, P×P row-major, origin at `[0]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentFilters {
    /// [`zero_phase_filter`].
    pub zero_phase: Vec<f64>,
    /// [`minimum_phase_filter`].
    pub minimum_phase: Vec<f64>,
}

/// In-place 2-D DFT of a P×P grid (row-major `[k1][k2]`); the inverse is normalised by `1/D`.
pub fn fft2(grid: &mut [Complex<f64>], p: usize, inverse: bool) {
    let mut planner = FftPlanner::<f64>::new();
    let fft = match inverse {
        true => planner.plan_fft_inverse(p),
        false => planner.plan_fft_forward(p),
    };
    fft.process(grid);
    let mut t = vec![Complex::new(0.0, 0.0); p * p];
    for r in 0..p {
        for c in 0..p {
            t[c * p + r] = grid[r * p + c];
        }
    }
    fft.process(&mut t);
    let scale = if inverse { 1.0 / (p * p) as f64 } else { 1.0 };
    for r in 0..p {
        for c in 0..p {
            grid[r * p + c] = t[c * p + r] * scale;
        }
    }
}

/// The filter gain `|F(k)| = S(k)^{-1/2}` on the full P×P grid; an excluded DC bin takes the
/// geometric mean of the other gains.
pub fn gain(layout: &SpectralLayout, spectrum: &[f64]) -> Vec<f64> {
    let inv_sqrt: Vec<f64> = spectrum.iter().map(|&s| 1.0 / s.sqrt()).collect();
    let weights = layout.weights();
    let (mut sum, mut count) = (0.0, 0.0);
    for (&g, &w) in inv_sqrt.iter().zip(weights) {
        sum += w * g.ln();
        count += w;
    }
    let fill = if count > 0.0 { (sum / count).exp() } else { 1.0 };
    layout.to_full_grid(&inv_sqrt, fill)
}

/// The zero-phase filter (real, even), P×P row-major, origin at `[0]`.
pub fn zero_phase_filter(layout: &SpectralLayout, spectrum: &[f64]) -> Vec<f64> {
    let p = layout.size();
    let mut grid: Vec<Complex<f64>> =
        gain(layout, spectrum).into_iter().map(|g| Complex::new(g, 0.0)).collect();
    fft2(&mut grid, p, true);
    grid.into_iter().map(|z| z.re).collect()
}

/// The weight that folds an even cepstrum onto the nonsymmetric half-plane, at lag `(n1, n2)`
/// of the P×P torus: 1 where `n ≡ −n`, 2 on the half-plane `{m1 > 0} ∪ {m1 = 0, m2 > 0}` of
/// the centred lags `m ∈ (−P/2, P/2]`, 0 on the other half.
pub fn half_plane_weight(n1: usize, n2: usize, p: usize) -> f64 {
    let (r1, r2) = ((p - n1) % p, (p - n2) % p);
    if (r1, r2) == (n1, n2) {
        return 1.0;
    }
    let centred = |i: usize| if 2 * i <= p { i as i64 } else { i as i64 - p as i64 };
    if (centred(n1), centred(n2)) > (centred(r1), centred(r2)) { 2.0 } else { 0.0 }
}

/// The minimum-phase filter with power spectrum `1/S` (cepstral method, see the module), P×P
/// row-major, origin at `[0]`.
pub fn minimum_phase_filter(layout: &SpectralLayout, spectrum: &[f64]) -> Vec<f64> {
    let p = layout.size();
    let mut cepstrum: Vec<Complex<f64>> =
        gain(layout, spectrum).into_iter().map(|g| Complex::new(g.ln(), 0.0)).collect();
    fft2(&mut cepstrum, p, true);
    for n1 in 0..p {
        for n2 in 0..p {
            let w = half_plane_weight(n1, n2, p);
            cepstrum[n1 * p + n2] = Complex::new(cepstrum[n1 * p + n2].re * w, 0.0);
        }
    }
    fft2(&mut cepstrum, p, false);
    let mut response: Vec<Complex<f64>> = cepstrum.into_iter().map(Complex::exp).collect();
    fft2(&mut response, p, true);
    response.into_iter().map(|z| z.re).collect()
}

/// `|DFT f|²` of a real P×P filter on the full grid (to check a filter against `1/S`).
pub fn power_spectrum_of(filter: &[f64], p: usize) -> Vec<f64> {
    let mut grid: Vec<Complex<f64>> = filter.iter().map(|&v| Complex::new(v, 0.0)).collect();
    fft2(&mut grid, p, false);
    grid.into_iter().map(|z| z.norm_sqr()).collect()
}

/// The Bhattacharyya distance between two zero-mean stationary components (module formula),
/// over the frequencies the layout covers.
pub fn bhattacharyya_stationary(layout: &SpectralLayout, s1: &[f64], s2: &[f64]) -> f64 {
    let mut d = 0.0;
    for ((&w, &a), &b) in layout.weights().iter().zip(s1).zip(s2) {
        d += w * (((a + b) / 2.0).ln() - 0.5 * a.ln() - 0.5 * b.ln());
    }
    0.5 * d
}

/// The Bhattacharyya distance between two full Gaussians:
/// `D_B = ⅛ (μ₁−μ₂)ᵀ Σ⁻¹ (μ₁−μ₂) + ½ log det Σ − ¼ log det Σ₁ − ¼ log det Σ₂`, `Σ = (Σ₁+Σ₂)/2`,
/// through Cholesky factors (log-dets from their diagonals, the quadratic form by a triangular
/// solve). `None` when a covariance is not positive definite.
pub fn bhattacharyya_full(
    mu1: &[f64],
    cov1: &[f64],
    mu2: &[f64],
    cov2: &[f64],
    n: usize,
) -> Option<f64> {
    let log_det = |l: &[f64]| 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>();
    let l1 = crate::linalg::cholesky(cov1, n).ok()?;
    let l2 = crate::linalg::cholesky(cov2, n).ok()?;
    let mean: Vec<f64> = cov1.iter().zip(cov2).map(|(a, b)| 0.5 * (a + b)).collect();
    let l = crate::linalg::cholesky(&mean, n).ok()?;
    // Forward substitution: L y = μ₁ − μ₂, so that the quadratic form is ‖y‖².
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|j| l[i * n + j] * y[j]).sum();
        y[i] = (mu1[i] - mu2[i] - s) / l[i * n + i];
    }
    let quad: f64 = y.iter().map(|v| v * v).sum();
    Some(quad / 8.0 + 0.5 * log_det(&l) - 0.25 * log_det(&l1) - 0.25 * log_det(&l2))
}

/// A symmetric `[K, K]` matrix (row-major) of a distance over component pairs; the diagonal
/// is 0.
pub fn distance_matrix(k: usize, mut distance: impl FnMut(usize, usize) -> f64) -> Vec<f64> {
    let mut m = vec![0.0; k * k];
    for i in 0..k {
        for j in i + 1..k {
            let d = distance(i, j);
            m[i * k + j] = d;
            m[j * k + i] = d;
        }
    }
    m
}

/// How broad a filter is: the perplexity of its normalised power spectrum over the D' covered
/// frequencies, as a fraction of D',
///
/// ```text
/// p(k) = |F(k)|² / Σ_k' |F(k')|²,   bandwidth = exp(−Σ_k p(k) log p(k)) / D'   ∈ (0, 1],
/// ```
///
/// 1 for a flat (white) filter, 1/D' for a single frequency: smaller is more narrow-band.
pub fn effective_bandwidth(layout: &SpectralLayout, spectrum: &[f64]) -> f64 {
    let weights = layout.weights();
    let total: f64 = weights.iter().zip(spectrum).map(|(w, s)| w / s).sum();
    let entropy: f64 = weights
        .iter()
        .zip(spectrum)
        .map(|(w, s)| {
            let p = 1.0 / (s * total);
            if p > 0.0 { -w * p * p.ln() } else { 0.0 }
        })
        .sum();
    entropy.exp() / layout.covered_dims() as f64
}
