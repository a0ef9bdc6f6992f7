//! Gaussians conditioned on the few coordinates a row observes, through the covariance's
//! observed block: for rows that miss most of their values (an image patch with most pixels
//! missing), where conditioning through the precision's missing block ([`super::lockstep`])
//! would factor a large `Λ_mm` for a handful of observed values.
//!
//! With `o` the observed coordinates, `δ_o = x_o − μ_o` and noise of variance `ν` on each
//! observed value, `B = Σ_oo + ν I = G Gᵀ` and `z = G⁻¹ δ_o`:
//!
//! ```text
//! log π_c N(x_o | μ_o, Σ_oo + ν I) = log π_c − (|o|/2) log 2π − Σ_j log G_jj − ½ zᵀz
//! E[x | x_o, c]                    = μ + Σ_·o B⁻¹ δ_o = μ + Σ_·o G⁻ᵀ z        (every coordinate)
//! ```
//!
//! O(|o|³) per row and component. A row's observed coordinates are the same under every
//! component, so the scores factor [`LANES`] components' `B` in lockstep, one vector operation
//! per arithmetic step; the conditional mean is taken for the component(s) a caller picks.

use super::lockstep::{LANES, Lanes, factor_lanes, sub_product};
use crate::full::small_cholesky;
use crate::lane_kernels::for_cpu;

/// Components' weights, means and covariances, [`LANES`] side by side: for
/// `c = b·LANES + l`, `cov[(b·D + i)·D + j][l] = Σ_c[i, j]`, `mu[b·D + i][l] = μ_c[i]`,
/// `log_w[b][l] = log π_c` (padding components `N(0, I)` of weight 0).
pub struct ObservedLanes {
    d: usize,
    k: usize,
    cov: Vec<Lanes>,
    mu: Vec<Lanes>,
    log_w: Vec<Lanes>,
}

/// One thread's buffers: `δ_o`, `z` and the factors of one block.
#[derive(Default)]
pub struct ObservedScratch {
    delta: Vec<Lanes>,
    g: Vec<Lanes>,
    dense: Vec<f64>,
    z: Vec<f64>,
}

/// What [`block_scores`] computes, for this CPU.
pub type ObservedScores =
    fn(&ObservedLanes, &[f32], &[usize], f64, &mut ObservedScratch, &mut [f64]);

for_cpu!(
    /// [`block_scores`] compiled for this CPU.
    observed_scores_for_cpu,
    block_scores,
    (t: &ObservedLanes, x: &[f32], o: &[usize], noise: f64, s: &mut ObservedScratch, out: &mut [f64])
);

impl ObservedLanes {
    /// `log π_c`, `μ_c` `[D]` and `Σ_c` (`[D, D]` row-major), every component.
    pub fn new(log_weights: &[f64], means: &[Vec<f64>], covariances: &[Vec<f64>]) -> Self {
        let (k, d) = (log_weights.len(), means.first().map_or(0, Vec::len));
        let blocks = k.div_ceil(LANES);
        let mut cov = vec![[0.0; LANES]; blocks * d * d];
        let mut mu = vec![[0.0; LANES]; blocks * d];
        let mut log_w = vec![[f64::NEG_INFINITY; LANES]; blocks];
        for c in 0..k {
            let (b, l) = (c / LANES, c % LANES);
            for i in 0..d {
                mu[b * d + i][l] = means[c][i];
                for j in 0..d {
                    cov[(b * d + i) * d + j][l] = covariances[c][i * d + j];
                }
            }
            log_w[b][l] = log_weights[c];
        }
        for c in k..blocks * LANES {
            let (b, l) = (c / LANES, c % LANES);
            (0..d).for_each(|i| cov[(b * d + i) * d + i][l] = 1.0);
        }
        Self { d, k, cov, mu, log_w }
    }

    /// `out[c] = log π_c N(x_o | μ_c,o, Σ_c,oo + ν I)` for every component (module doc), through
    /// `kernel` ([`observed_scores_for_cpu`]); `o` the observed coordinates of `x`. A component
    /// whose `B` has no factor scores `−∞`.
    pub fn scores(
        &self,
        kernel: ObservedScores,
        x: &[f32],
        o: &[usize],
        noise: f64,
        s: &mut ObservedScratch,
        out: &mut [f64],
    ) {
        let m = o.len();
        if s.g.len() < m * m {
            s.g.resize(m * m, [0.0; LANES]);
            s.delta.resize(m, [0.0; LANES]);
        }
        kernel(self, x, o, noise, s, out);
    }

    /// `E[x | x_o, c]` (module doc) into `out` (`[D]`, every coordinate, the observed ones
    /// filtered of their noise `ν` too); `None` when `B` has no factor.
    pub fn conditional_mean(
        &self,
        c: usize,
        x: &[f32],
        o: &[usize],
        noise: f64,
        s: &mut ObservedScratch,
        out: &mut [f64],
    ) -> Option<()> {
        let (d, m, b, l) = (self.d, o.len(), c / LANES, c % LANES);
        let cov = |i: usize, j: usize| self.cov[(b * d + i) * d + j][l];
        let mu = |i: usize| self.mu[b * d + i][l];
        s.dense.clear();
        s.dense.resize(m * m, 0.0);
        for (r, &i) in o.iter().enumerate() {
            for (t, &j) in o[..=r].iter().enumerate() {
                s.dense[r * m + t] = cov(i, j) + if r == t { noise } else { 0.0 };
            }
        }
        small_cholesky::cholesky(&mut s.dense, m)?;
        s.z.clear();
        s.z.extend(o.iter().map(|&i| f64::from(x[i]) - mu(i)));
        small_cholesky::solve_lower(&s.dense, m, &mut s.z);
        small_cholesky::solve_upper_transposed(&s.dense, m, &mut s.z);
        for (i, v) in out.iter_mut().enumerate().take(d) {
            *v = mu(i) + o.iter().zip(&s.z).map(|(&j, a)| cov(i, j) * a).sum::<f64>();
        }
        Some(())
    }
}

/// [`ObservedLanes::scores`], block by block of [`LANES`] components: `B` gathered with the
/// noise on its diagonal, factored in lockstep, `z = G⁻¹ δ_o` by forward substitution.
#[inline(always)]
fn block_scores(
    t: &ObservedLanes,
    x: &[f32],
    o: &[usize],
    noise: f64,
    s: &mut ObservedScratch,
    out: &mut [f64],
) {
    let (d, m) = (t.d, o.len());
    let constant = -0.5 * m as f64 * (2.0 * std::f64::consts::PI).ln();
    let (g, delta) = (&mut s.g[..m * m], &mut s.delta[..m]);
    for b in 0..t.log_w.len() {
        let (cov, mu) = (&t.cov[b * d * d..(b + 1) * d * d], &t.mu[b * d..(b + 1) * d]);
        for (r, &i) in o.iter().enumerate() {
            for (c, &j) in o[..=r].iter().enumerate() {
                g[r * m + c] = cov[i * d + j];
            }
            g[r * m + r].iter_mut().for_each(|v| *v += noise);
            let xi = f64::from(x[i]);
            delta[r] = std::array::from_fn(|l| xi - mu[i][l]);
        }
        let (log_det, positive) = factor_lanes(g, m);
        let mut zz = [0.0; LANES];
        for r in 0..m {
            let mut zr = delta[r];
            (0..r).for_each(|c| sub_product(&mut zr, &g[r * m + c], &delta[c]));
            let gr = g[r * m + r];
            delta[r] = std::array::from_fn(|l| zr[l] / gr[l]);
            (0..LANES).for_each(|l| zz[l] += delta[r][l] * delta[r][l]);
        }
        for l in 0..LANES {
            let c = b * LANES + l;
            if c < t.k {
                let ok = positive || (log_det[l].is_finite() && zz[l].is_finite());
                out[c] = match ok {
                    true => t.log_w[b][l] + constant - log_det[l] - 0.5 * zz[l],
                    false => f64::NEG_INFINITY,
                };
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use faer::prelude::Solve;
    use faer::{Mat, Side};

    /// A random SPD `[d, d]` matrix and mean, from a fixed seed.
    pub(in crate::full::missing) fn gaussian(d: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let a = Mat::<f64>::from_fn(d, d, |_, _| next());
        let cov = &a * a.transpose() + Mat::<f64>::identity(d, d) * 0.1;
        let mean = (0..d).map(|_| next()).collect();
        (mean, (0..d * d).map(|x| cov[(x / d, x % d)]).collect())
    }

    /// The scores and conditional means against a dense float64 solve of `Σ_oo + ν I` (faer's
    /// LLT), for 11 components (two blocks, the second padded) and several patterns.
    #[test]
    fn scores_and_conditional_means_equal_a_dense_solve() {
        let (d, k, noise) = (9, 11, 0.05);
        let parts: Vec<_> = (0..k).map(|c| gaussian(d, 7 + c as u64)).collect();
        let log_w: Vec<f64> = (0..k).map(|c| -(1.0 + c as f64 * 0.1)).collect();
        let means: Vec<Vec<f64>> = parts.iter().map(|p| p.0.clone()).collect();
        let covs: Vec<Vec<f64>> = parts.iter().map(|p| p.1.clone()).collect();
        let lanes = ObservedLanes::new(&log_w, &means, &covs);
        let x: Vec<f32> = (0..d).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut s = ObservedScratch::default();
        for o in [vec![0, 1, 2, 3, 4, 5, 6, 7, 8], vec![1, 4, 8], vec![3]] {
            let mut out = vec![0.0; k];
            lanes.scores(observed_scores_for_cpu(), &x, &o, noise, &mut s, &mut out);
            for c in 0..k {
                let m = o.len();
                let b = Mat::<f64>::from_fn(m, m, |r, t| {
                    covs[c][o[r] * d + o[t]] + if r == t { noise } else { 0.0 }
                });
                let llt = b.llt(Side::Lower).expect("SPD");
                let delta = Mat::<f64>::from_fn(m, 1, |r, _| f64::from(x[o[r]]) - means[c][o[r]]);
                let a = llt.solve(&delta);
                let quad: f64 = (0..m).map(|r| delta[(r, 0)] * a[(r, 0)]).sum();
                let log_det: f64 = (0..m).map(|r| llt.L()[(r, r)].ln()).sum();
                let log_2pi = (2.0 * std::f64::consts::PI).ln();
                let want = log_w[c] - 0.5 * m as f64 * log_2pi - log_det - 0.5 * quad;
                assert!((out[c] - want).abs() < 1e-9 * want.abs().max(1.0), "{c}: {}", out[c]);
                let mut mean = vec![0.0; d];
                lanes.conditional_mean(c, &x, &o, noise, &mut s, &mut mean).expect("SPD");
                for i in 0..d {
                    let want = means[c][i]
                        + (0..m).map(|r| covs[c][i * d + o[r]] * a[(r, 0)]).sum::<f64>();
                    assert!((mean[i] - want).abs() < 1e-9, "{c}, {i}: {} against {want}", mean[i]);
                }
            }
        }
    }
}
