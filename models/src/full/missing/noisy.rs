//! Gaussians seen through white noise of variance `ν` on the coordinates a row observes (an
//! image patch whose known pixels are noisy and whose other pixels are missing), with a common
//! offset of variance `s²` along `1` (a patch's mean, all but flat), each row conditioned by the
//! cheaper of two exact routes.
//!
//! Component c is `x ~ N(μ, Σ + s² 1 1ᵀ)` and the row sees `y_o = x_o + n`, `n ~ N(0, ν I)`.
//! With `S = Σ + ν I` (without the offset: its condition stays that of `Σ`), `δ_o = y_o − μ_o`
//! and `S_oo⁻¹ r` for `r = δ_o` and `r = 1_o`,
//!
//! ```text
//! q = δ_oᵀ S_oo⁻¹ δ_o,   g = 1_oᵀ S_oo⁻¹ δ_o,   a = 1_oᵀ S_oo⁻¹ 1_o,   t = s² / (1 + s² a)
//! log N(y_o | μ_o, S_oo + s² 1 1ᵀ) = −(|o|/2) log 2π − ½ log|S_oo| − ½ log(1 + s² a) − ½ (q − t g²)
//! w = (S_oo + s² 1 1ᵀ)⁻¹ δ_o = S_oo⁻¹ δ_o − t g S_oo⁻¹ 1_o
//! E[x | y_o] = μ + (Σ + s² 1 1ᵀ)_·o w
//! ```
//!
//! (Sherman–Morrison and the matrix determinant lemma). `S_oo⁻¹` comes by one of two routes:
//! through the Cholesky factor of `S_oo + s² 1 1ᵀ` itself (`O(|o|³)` per row and component,
//! [`ObservedLanes`]) for a row that knows few coordinates, or for one that misses few through
//! the precision `P = S⁻¹` and the factor `A = P_mm = G Gᵀ` of its missing block (`O(D·|o| +
//! |m|³)`), since `S_oo` is the observed block of `S`:
//!
//! ```text
//! v_r = P_·o r_o,   z_r = G⁻¹ (v_r)_m,   rᵀ S_oo⁻¹ r' = r_oᵀ (v_r')_o − z_rᵀ z_r',
//! S_oo⁻¹ r = (v_r)_o − P_om A⁻¹ (v_r)_m,   log|S_oo| = −log|P| + log|A|
//! ```
//!
//! [`Route::of`] compares the two costs' leading terms.

use super::Pattern;
use super::lockstep::{LANES, Lanes};
use super::observed::{ObservedLanes, ObservedScores, ObservedScratch, observed_scores_for_cpu};
use crate::full::small_cholesky;
use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use kernel::{PrecisionScores, precision_scores_for_cpu};

mod kernel;

/// Weighted Gaussians `π_c N(μ_c, Σ_c + s² 1 1ᵀ)` observed through noise `ν` (module doc).
pub struct NoisyGaussians {
    d: usize,
    k: usize,
    noise: f64,
    offset: f64,
    /// `μ_c`, `Σ_c` and `P_c` of every component, dense (`[K·D]`, `[K·D·D]`).
    means: Vec<f64>,
    sigma: Vec<f64>,
    precision: Vec<f64>,
    /// [`LANES`] components side by side (`c = b·LANES + l`): `P` `[(b·D + i)·D + j]`, `μ` and
    /// `P 1` `[b·D + i]`, and `log π_c + ½ log|P_c|` `[b]` (padding: `N(0, I)`, weight 0).
    lanes_p: Vec<Lanes>,
    lanes_mu: Vec<Lanes>,
    lanes_p_one: Vec<Lanes>,
    lanes_log_w: Vec<Lanes>,
    observed: ObservedLanes,
    observed_kernel: ObservedScores,
    precision_kernel: PrecisionScores,
}

/// One thread's buffers for [`NoisyGaussians`].
#[derive(Default)]
pub struct NoisyScratch {
    observed: ObservedScratch,
    delta: Vec<Lanes>,
    v: Vec<Lanes>,
    v_one: Vec<Lanes>,
    g: Vec<Lanes>,
}

/// How a row is conditioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Through the Cholesky factor of `S_oo + s² 1 1ᵀ`.
    Observed,
    /// Through the Cholesky factor of `P_mm`.
    Precision,
}

impl Route {
    /// The cheaper route for `o` observed and `m` missing of `d` coordinates: `|o|³/6 + |o|²/2`
    /// multiply-adds (factor and gather) against `d·(|o| + |m|) + |m|³/6 + |m|²` (`v_δ`, `v_1`,
    /// factor, gather, two solves).
    fn of(o: usize, m: usize, d: usize) -> Self {
        let (o, m, d) = (o as f64, m as f64, d as f64);
        match d * (o + m) + m.powi(3) / 6.0 + m * m < o.powi(3) / 6.0 + o * o / 2.0 {
            true => Route::Precision,
            false => Route::Observed,
        }
    }
}

impl NoisyGaussians {
    /// `log π_c`, `μ_c` `[D]` and `Σ_c` (`[D, D]` row-major) of every component, the offset's
    /// variance `s²` and the noise variance `ν`; `None` when some `Σ_c + ν I` is not positive
    /// definite.
    pub fn new(
        log_weights: &[f64],
        means: &[Vec<f64>],
        covariances: &[Vec<f64>],
        offset: f64,
        noise: f64,
    ) -> Option<Self> {
        let (k, d) = (log_weights.len(), means.first().map_or(0, Vec::len));
        let mut precision = Vec::with_capacity(k * d * d);
        let mut half_log_det = Vec::with_capacity(k);
        for cov in covariances {
            let s =
                Mat::<f64>::from_fn(d, d, |i, j| cov[i * d + j] + if i == j { noise } else { 0.0 });
            let llt = s.llt(Side::Lower).ok()?;
            half_log_det.push(-(0..d).map(|i| llt.L()[(i, i)].ln()).sum::<f64>());
            let p = llt.inverse();
            precision.extend((0..d * d).map(|x| p[(x / d, x % d)]));
        }
        let blocks = k.div_ceil(LANES);
        let mut lanes_p = vec![[0.0; LANES]; blocks * d * d];
        let mut lanes_mu = vec![[0.0; LANES]; blocks * d];
        let mut lanes_p_one = vec![[0.0; LANES]; blocks * d];
        let mut lanes_log_w = vec![[f64::NEG_INFINITY; LANES]; blocks];
        for c in 0..blocks * LANES {
            let (b, l) = (c / LANES, c % LANES);
            for i in 0..d {
                for j in 0..d {
                    let v = match c < k {
                        true => precision[(c * d + i) * d + j],
                        false => f64::from(u8::from(i == j)),
                    };
                    lanes_p[(b * d + i) * d + j][l] = v;
                    lanes_p_one[b * d + i][l] += v;
                }
                lanes_mu[b * d + i][l] = if c < k { means[c][i] } else { 0.0 };
            }
            if c < k {
                lanes_log_w[b][l] = log_weights[c] + half_log_det[c];
            }
        }
        let with_offset: Vec<Vec<f64>> =
            covariances.iter().map(|c| c.iter().map(|v| v + offset).collect()).collect();
        Some(Self {
            d,
            k,
            noise,
            offset,
            means: means.concat(),
            sigma: covariances.concat(),
            precision,
            lanes_p,
            lanes_mu,
            lanes_p_one,
            lanes_log_w,
            observed: ObservedLanes::new(log_weights, means, &with_offset),
            observed_kernel: observed_scores_for_cpu(),
            precision_kernel: precision_scores_for_cpu(),
        })
    }

    /// K.
    pub fn n_components(&self) -> usize {
        self.k
    }

    /// `out[c] = log π_c N(y_o | μ_c,o, Σ_c,oo + s² 1 1ᵀ + ν I)` of row `y` (`[D]`, NaN where
    /// missing) for every component (module doc); `−∞` for a component that cannot condition it.
    pub fn scores(&self, y: &[f32], s: &mut NoisyScratch, out: &mut [f64]) {
        let Pattern { observed: o, missing: m } = Pattern::of(y);
        match Route::of(o.len(), m.len(), self.d) {
            Route::Precision => (self.precision_kernel)(self, y, &o, &m, s, out),
            Route::Observed => {
                let (kernel, noise) = (self.observed_kernel, self.noise);
                self.observed.scores(kernel, y, &o, noise, &mut s.observed, out);
            }
        }
    }

    /// `E[x | y_o, c]` of row `y` (`[D]`, NaN where missing) into `out` (`[D]`, every
    /// coordinate, the observed ones filtered of their noise); `None` when component `c`
    /// cannot condition it.
    pub fn conditional_mean(
        &self,
        c: usize,
        y: &[f32],
        s: &mut NoisyScratch,
        out: &mut [f64],
    ) -> Option<()> {
        let Pattern { observed: o, missing: m } = Pattern::of(y);
        let d = self.d;
        if Route::of(o.len(), m.len(), d) == Route::Observed {
            let noise = self.noise;
            return self.observed.conditional_mean(c, y, &o, noise, &mut s.observed, out);
        }
        let mu = &self.means[c * d..(c + 1) * d];
        let p = &self.precision[c * d * d..(c + 1) * d * d];
        // S_oo⁻¹ r for r = δ_o and 1_o, through A = P_mm.
        let mut a = Vec::with_capacity(m.len() * m.len());
        m.iter().for_each(|&i| a.extend(m.iter().map(|&j| p[i * d + j])));
        small_cholesky::cholesky(&mut a, m.len())?;
        let solve = |r: &dyn Fn(usize) -> f64| -> Vec<f64> {
            let v: Vec<f64> =
                (0..d).map(|i| o.iter().map(|&j| p[i * d + j] * r(j)).sum()).collect();
            let mut x: Vec<f64> = m.iter().map(|&i| v[i]).collect();
            small_cholesky::solve_lower(&a, m.len(), &mut x);
            small_cholesky::solve_upper_transposed(&a, m.len(), &mut x);
            o.iter()
                .map(|&i| v[i] - m.iter().zip(&x).map(|(&j, x)| p[i * d + j] * x).sum::<f64>())
                .collect()
        };
        let s_delta = solve(&|j| f64::from(y[j]) - mu[j]);
        let s_one = solve(&|_| 1.0);
        let (g, a1): (f64, f64) = (s_delta.iter().sum(), s_one.iter().sum());
        let t = self.offset / (1.0 + self.offset * a1);
        let w: Vec<f64> = s_delta.iter().zip(&s_one).map(|(x, u)| x - t * g * u).collect();
        let (sigma, w_sum) = (&self.sigma[c * d * d..(c + 1) * d * d], w.iter().sum::<f64>());
        for (i, out) in out.iter_mut().enumerate().take(d) {
            let row = &sigma[i * d..(i + 1) * d];
            *out = mu[i]
                + self.offset * w_sum
                + o.iter().zip(&w).map(|(&j, w)| row[j] * w).sum::<f64>();
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::observed::tests::gaussian;
    use super::*;

    /// Both routes give the scores and conditional means of the observed block's (itself
    /// checked against a dense solve) with the offset in the covariance: rows that miss one
    /// coordinate (through the precision) and most (through the observed block).
    #[test]
    fn both_routes_agree_with_the_observed_block() {
        let (d, k, noise) = (9, 11, 0.05);
        let parts: Vec<_> = (0..k).map(|c| gaussian(d, 3 + c as u64)).collect();
        let log_w: Vec<f64> = (0..k).map(|c| -(1.0 + c as f64 * 0.2)).collect();
        let means: Vec<Vec<f64>> = parts.iter().map(|p| p.0.clone()).collect();
        let covs: Vec<Vec<f64>> = parts.iter().map(|p| p.1.clone()).collect();
        let offset = 2.0;
        let noisy =
            NoisyGaussians::new(&log_w, &means, &covs, offset, noise).expect("positive definite");
        let with_offset: Vec<Vec<f64>> =
            covs.iter().map(|c| c.iter().map(|v| v + offset).collect()).collect();
        let lanes = ObservedLanes::new(&log_w, &means, &with_offset);
        let (mut s, mut o_s) = (NoisyScratch::default(), ObservedScratch::default());
        let x: Vec<f32> = (0..d).map(|i| (i as f32 * 0.61).cos()).collect();
        let mut routes = Vec::new();
        for missing in [vec![4], vec![8], vec![0, 1, 2, 3, 5, 6, 7]] {
            let y: Vec<f32> =
                (0..d).map(|i| if missing.contains(&i) { f32::NAN } else { x[i] }).collect();
            let Pattern { observed: o, missing: m } = Pattern::of(&y);
            routes.push(Route::of(o.len(), m.len(), d));
            let (mut got, mut want) = (vec![0.0; k], vec![0.0; k]);
            noisy.scores(&y, &mut s, &mut got);
            lanes.scores(observed_scores_for_cpu(), &y, &o, noise, &mut o_s, &mut want);
            for c in 0..k {
                assert!((got[c] - want[c]).abs() < 1e-9 * want[c].abs().max(1.0), "{c}: {got:?}");
                let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
                noisy.conditional_mean(c, &y, &mut s, &mut a).expect("conditioned");
                lanes.conditional_mean(c, &y, &o, noise, &mut o_s, &mut b);
                (0..d).for_each(|i| assert!((a[i] - b[i]).abs() < 1e-9, "{c}, {i}: {a:?} {b:?}"));
            }
        }
        assert_eq!(routes, [Route::Precision, Route::Precision, Route::Observed]);
    }
}
