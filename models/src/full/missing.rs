//! Rows with missing values (NaN) under a Gaussian layer: each component's marginal density of
//! what a row observes, the conditional Gaussian of what it misses, and EM's expected
//! sufficient statistics (Ghahramani & Jordan 1994, models.md §2).
//!
//! With `o` a row's observed and `m` its missing coordinates, `Λ = Σ⁻¹ = U Uᵀ`,
//! `δ_o = x_o − μ_o`, `A = Λ_mm` and `b = Λ_mo δ_o`:
//!
//! ```text
//! x_m | x_o, c  ~  N(x̂_m, A⁻¹),            x̂_m = μ_m − A⁻¹ b
//! log N(x_o | μ_o, Σ_oo) = −(|o|/2) log 2π + ½ log|Λ| − ½ log|A| − ½ (δ_oᵀ Λ_oo δ_o − bᵀ A⁻¹ b)
//! ```
//!
//! (`Σ_oo⁻¹ = Λ_oo − Λ_om A⁻¹ Λ_mo` and `|Σ| = |Σ_oo| |A⁻¹|`.) Conditioning through the precision
//! costs O(|m|³ + D²) per row and component (`b` and `Λ_oo δ_o` both from one product `Λ δ`),
//! against O(|o|³) through `Σ_oo`: few missing values cost little more than none. A row's
//! missing coordinates are the same under every component, so the E-step conditions its
//! components side by side in vector lanes ([`lockstep`]), and on a CPU at β = 1 the
//! statistics are summed in the same pass ([`fused`]). The M-step is the complete-data one fed with
//! `x̂ = (x_o, x̂_m)` and, in the second moment, the conditional covariance `A⁻¹` on the
//! missing block: `Σ_n r_nc [(x̂ − m_c)(x̂ − m_c)ᵀ + A⁻¹ ⊕ 0]`. EM then climbs the observed-data
//! log-likelihood `Σ_n log Σ_c π_c N(x_o,n | μ_c,o, Σ_c,oo)`. A row without NaN takes the
//! layer's usual path, unchanged.

use super::model::FullGmm;
use super::moments::FullStats;
use super::small_cholesky;
use crate::ModelError;
use crate::mixture::Mixture;
use crate::readback::{host_vec, to_host_f64, with_host_values};
use burn::tensor::{Tensor, TensorData};
use faer::Mat;
use rayon::prelude::*;

mod fused;
mod lockstep;
pub(crate) mod noisy;
pub(crate) mod observed;

/// Rows per task of [`FullGmm::marginal_log_prob_host`].
const MARGINAL_ROWS: usize = 256;

/// Every component as conditioning needs it: `μ_c` `[K·D]`, the dense precision
/// `Λ_c = U_c U_cᵀ` `[K·D·D]` and `½ log|Λ_c| = Σ_i log U_c[i,i]`.
pub(crate) struct Precisions {
    d: usize,
    means: Vec<f64>,
    lambda: Vec<f64>,
    half_log_det: Vec<f64>,
}

/// Which coordinates of a row are observed and which are missing (NaN).
pub(crate) struct Pattern {
    pub observed: Vec<usize>,
    pub missing: Vec<usize>,
}

impl Pattern {
    pub fn of(row: &[f32]) -> Self {
        let (missing, observed) = (0..row.len()).partition(|&i| row[i].is_nan());
        Self { observed, missing }
    }
}

/// One row under one component: `log N(x_o | μ_o, Σ_oo)`, the conditional mean `x̂_m` and,
/// when asked, the Cholesky factor `G` of `A = Λ_mm = G Gᵀ` (`A⁻¹` is the conditional
/// covariance).
pub(crate) struct Conditioned {
    pub log_density: f64,
    pub missing_mean: Vec<f64>,
    pub factor: Option<Mat<f64>>,
}

impl Precisions {
    pub fn of(layer: &FullGmm) -> Result<Self, ModelError> {
        let (k, d, t) = (layer.n_components(), layer.dim(), layer.config.covariance_type);
        let stored = layer.factors_host()?;
        let means = to_host_f64(layer.means.val())?;
        let (mut lambda, mut half_log_det) = (vec![0.0; k * d * d], vec![0.0; k]);
        for c in 0..k {
            let u = t.dense_factor(&stored, c, d);
            half_log_det[c] = (0..d).map(|i| u[i * d + i].ln()).sum();
            let l = &mut lambda[c * d * d..(c + 1) * d * d];
            for i in 0..d {
                for j in 0..=i {
                    // (U Uᵀ)[i][j] = Σ_k U[i][k] U[j][k], k ≥ max(i, j) (U upper triangular).
                    let v: f64 = (i..d).map(|k| u[i * d + k] * u[j * d + k]).sum();
                    l[i * d + j] = v;
                    l[j * d + i] = v;
                }
            }
        }
        Ok(Self { d, means, lambda, half_log_det })
    }

    /// `v = Λ_c δ` for row `x`, with `δ = x − μ_c` on the observed coordinates and 0 on the
    /// missing ones: `b = v_m` and `δ_oᵀ Λ_oo δ_o = δ_o · v_o` (one dense product).
    pub fn lambda_delta(&self, c: usize, x: &[f32]) -> Vec<f64> {
        let d = self.d;
        let mu = &self.means[c * d..(c + 1) * d];
        let lam = &self.lambda[c * d * d..(c + 1) * d * d];
        let delta: Vec<f64> = deviations(x, mu).collect();
        lam.chunks(d).map(|row| row.iter().zip(&delta).map(|(a, b)| a * b).sum()).collect()
    }

    /// Row `x` (pattern `p`, `v = Λ_c δ` its [`Self::lambda_delta`]) under component `c`
    /// (module doc): returns `log N(x_o | μ_o, Σ_oo)`, and leaves in `s` the factor `G` of
    /// `A = Λ_mm` (`s.g`, `m × m` row-major, lower triangle) and `z = G⁻¹ b` (`s.y`, `m`);
    /// `bᵀ A⁻¹ b = zᵀ z`. Nothing is allocated.
    fn condition_into(
        &self,
        c: usize,
        x: &[f32],
        p: &Pattern,
        v: &[f64],
        s: &mut Scratch,
    ) -> Result<f64, ModelError> {
        let d = self.d;
        let mu = &self.means[c * d..(c + 1) * d];
        let lam = &self.lambda[c * d * d..(c + 1) * d * d];
        let quad: f64 = p.observed.iter().map(|&i| (f64::from(x[i]) - mu[i]) * v[i]).sum();
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        let log_density = -0.5 * p.observed.len() as f64 * log_2pi + self.half_log_det[c];
        let m = p.missing.len();
        if m == 0 {
            return Ok(log_density - 0.5 * quad);
        }
        let (g, z) = (&mut s.g[..m * m], &mut s.y[..m]);
        for (r, &i) in p.missing.iter().enumerate() {
            let lam_i = &lam[i * d..(i + 1) * d];
            for (t, &j) in p.missing[..=r].iter().enumerate() {
                g[r * m + t] = lam_i[j];
            }
            z[r] = v[i];
        }
        let half_log_det_a =
            small_cholesky::cholesky(g, m).ok_or_else(|| not_positive_definite(c))?;
        small_cholesky::solve_lower(g, m, z);
        let bz: f64 = z.iter().map(|v| v * v).sum();
        Ok(log_density - half_log_det_a - 0.5 * (quad - bz))
    }

    /// Row `x` (pattern `p`, `v` its [`Self::lambda_delta`]) under component `c` (module
    /// doc); `want_factor` keeps `G`.
    pub fn condition(
        &self,
        c: usize,
        x: &[f32],
        p: &Pattern,
        v: &[f64],
        want_factor: bool,
    ) -> Result<Conditioned, ModelError> {
        let mut s = Scratch::new(self.d);
        let log_density = self.condition_into(c, x, p, v, &mut s)?;
        let m = p.missing.len();
        small_cholesky::solve_upper_transposed(&s.g, m, &mut s.y[..m]);
        let mu = &self.means[c * self.d..(c + 1) * self.d];
        let missing_mean = p.missing.iter().zip(&s.y).map(|(&i, y)| mu[i] - y).collect();
        let factor = (want_factor && m > 0)
            .then(|| Mat::<f64>::from_fn(m, m, |r, t| if t <= r { s.g[r * m + t] } else { 0.0 }));
        Ok(Conditioned { log_density, missing_mean, factor })
    }

    /// [`Self::condition`] of one row, its product formed here.
    pub fn condition_row(
        &self,
        c: usize,
        x: &[f32],
        p: &Pattern,
        want_factor: bool,
    ) -> Result<Conditioned, ModelError> {
        self.condition(c, x, p, &self.lambda_delta(c, x), want_factor)
    }
}

/// Buffers for conditioning a row of width `D` (any number missing): `G` (`D·D`) and
/// `z`/`A⁻¹ b` (`D`).
struct Scratch {
    g: Vec<f64>,
    y: Vec<f64>,
}

impl Scratch {
    fn new(d: usize) -> Self {
        Self { g: vec![0.0; d * d], y: vec![0.0; d] }
    }
}

/// `x_i − μ_i` where `x_i` is observed, 0 where it is missing.
fn deviations<'a>(x: &'a [f32], mu: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
    x.iter().zip(mu).map(|(&v, m)| if v.is_nan() { 0.0 } else { f64::from(v) - m })
}

/// Whether a batch holds a NaN: on a CPU a scan of its values in place, elsewhere one integer
/// flag read back, not the batch (a read-back that fails counts as none, and NaN rows then
/// stay NaN for the EM driver to report).
pub(crate) fn has_missing(x: &Tensor<2>) -> bool {
    if crate::is_cpu(&x.device()) {
        // No early exit: NaN-free, the common case, is a whole scan, which this vectorises.
        return with_host_values(x, |v| v.iter().fold(false, |a, f| a | f.is_nan()))
            .unwrap_or(false);
    }
    let flag = x.clone().is_nan().any().int().try_into_data();
    host_vec::<i64, _>(flag).is_ok_and(|v| v.first() == Some(&1))
}

impl FullGmm {
    /// `log N(x_o,n | μ_c,o, Σ_c,oo)` for every row and component (module doc): each row's
    /// components side by side in vector lanes ([`lockstep`]), the rows in parallel;
    /// `[N, K]` row-major.
    pub fn marginal_log_prob_host(&self, rows: &[f32]) -> Result<Vec<f64>, ModelError> {
        let (k, d) = (self.n_components(), self.dim());
        let lanes = lockstep::Interleaved::of(&Precisions::of(self)?);
        let kernel = lockstep::log_densities_for_cpu();
        let mut out = vec![0.0; rows.len() / d * k];
        out.par_chunks_mut(MARGINAL_ROWS * k)
            .zip(rows.par_chunks(MARGINAL_ROWS * d))
            .try_for_each(|(out, rows)| {
                let mut s = lockstep::LockstepScratch::new(&lanes);
                for (out, x) in out.chunks_mut(k).zip(rows.chunks(d)) {
                    (lanes.log_densities(kernel, x, &Pattern::of(x), &mut s, out))
                        .map_err(not_positive_definite)?;
                }
                Ok(())
            })?;
        Ok(out)
    }

    /// [`Mixture::log_prob`] of a batch with NaN: each row's marginal density of what it
    /// observes, as a `[N, K]` tensor on the batch's device.
    pub(crate) fn marginal_log_prob(&self, x: Tensor<2>) -> Result<Tensor<2>, ModelError> {
        let [n, _] = x.dims();
        let device = x.device();
        let rows = host_vec::<f32, _>(x.try_into_data())?;
        let lp: Vec<f32> = self.marginal_log_prob_host(&rows)?.iter().map(|&v| v as f32).collect();
        Ok(Tensor::from_data(TensorData::new(lp, [n, self.n_components()]), &device))
    }

    /// EM's expected statistics of a batch with NaN given its responsibilities `resp`
    /// (`[N, K]`; weighted rows, β ≠ 1): [`FullGmm::missing_pass`].
    pub(crate) fn missing_stats(
        &self,
        x: Tensor<2>,
        resp: Tensor<2>,
    ) -> Result<FullStats, ModelError> {
        let r = host_vec::<f32, _>(resp.try_into_data())?;
        Ok(self.missing_pass(&x, Some(&r))?.1)
    }
}

/// The error of a component whose precision's missing block has no Cholesky factor.
fn not_positive_definite(c: usize) -> ModelError {
    ModelError::NonFinite {
        what: format!("component {c}: its precision is not positive definite"),
        hint: "raise reg_covar".into(),
    }
}
