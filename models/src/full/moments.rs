//! The full GMM's sufficient statistics, computed two ways, and its per-component M-step
//! (models.md §2).

use super::covariance::CovarianceType;
use super::model::{FullGmm, RESP_FLOOR};
use crate::mixture::{Mixture, SufficientStats};
use crate::readback::{host_vec, to_host_f64};
use crate::{ModelError, linalg};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Most numbers in one `[G, N, D]` block of [`FullGmm::stats_batched`] (512 MB of f32): G
/// components' shifted rows at once.
pub const BATCHED_STATS_BUDGET: usize = 1 << 27;

/// Sufficient statistics of the full GMM over the rows each component explains (responsibility
/// at least [`RESP_FLOOR`]): `N_c = Σ_n r[n,c]`, and the first and second moments about the
/// component's current mean `m_c` (0 for zero-mean layers), `Σ_n r[n,c] (x_n - m_c)` and
/// `Σ_n r[n,c] (x_n - m_c)(x_n - m_c)ᵀ`. Shifting by `m_c` keeps the f32 sums free of the
/// cancellation that raw moments suffer on data far from the origin (raw log-likelihood
/// features sit near −600).
#[derive(Debug, Clone)]
pub enum FullStats {
    /// Component by component over the rows each explains ([`FullGmm::stats_by_rows`], the
    /// CPU's form: posteriors are sparse, so the gathers divide the work by up to K).
    Rows {
        /// `N_c`, accumulated in f64 on the host.
        resp_sum: Vec<f64>,
        /// Per component: `(Σ r (x - m), Σ r (x - m)(x - m)ᵀ)` as `[D]` and `[D, D]`, or
        /// `None` if no row.
        moments: Vec<Option<(Tensor<1>, Tensor<2>)>>,
    },
    /// Every component at once, left on the device ([`FullGmm::stats_batched`], a GPU's form:
    /// batched products, no host round trip before the M-step).
    Batched {
        /// `N_c`, `[K]`.
        resp_sum: Tensor<1>,
        /// `Σ r (x - m_c)`, `[K, D]`.
        first: Tensor<2>,
        /// `Σ r (x - m_c)(x - m_c)ᵀ`, `[K, D, D]`.
        second: Tensor<3>,
    },
    /// The diagonal covariance types' statistics on the host, f64
    /// ([`FullGmm::diagonal_stats`]): only the diagonal of the second moment.
    Diagonal {
        /// `N_c`, `[K]`.
        resp_sum: Vec<f64>,
        /// `Σ r (x - m_c)`, `[K·D]`.
        first: Vec<f64>,
        /// `Σ r (x - m_c)²` elementwise, `[K·D]`.
        second: Vec<f64>,
    },
}

/// One component's statistics read back to the host: `N_c`, and its first (`[D]`) and second
/// (`[D·D]`, row-major; `[D]`, its diagonal, for the diagonal types) moments where some row
/// reached it.
pub type HostMoments = (f64, Option<(Vec<f64>, Vec<f64>)>);

impl FullStats {
    /// No rows seen yet, for K components.
    pub fn zeros(k: usize) -> Self {
        Self::Rows { resp_sum: vec![0.0; k], moments: vec![None; k] }
    }

    /// Whether no row has reached any component (a fold's starting value).
    fn is_empty(&self) -> bool {
        matches!(self, Self::Rows { moments, .. } if moments.iter().all(Option::is_none))
    }

    /// The statistics read back to the host, component by component (one read-back of each
    /// tensor for [`FullStats::Batched`]: a component counts as reached where `N_c > 0`).
    pub fn into_host(self) -> Result<Vec<HostMoments>, ModelError> {
        match self {
            Self::Rows { resp_sum, moments } => resp_sum
                .into_iter()
                .zip(moments)
                .map(|(nc, m)| {
                    let m = m.map(|(f, s)| Ok::<_, ModelError>((to_host_f64(f)?, to_host_f64(s)?)));
                    Ok((nc, m.transpose()?))
                })
                .collect(),
            Self::Batched { resp_sum, first, second } => {
                let [k, d] = first.dims();
                let nk = to_host_f64(resp_sum)?;
                let (first, second) = (to_host_f64(first)?, to_host_f64(second)?);
                Ok((0..k)
                    .map(|c| {
                        let m = (nk[c] > 0.0).then(|| {
                            let f = first[c * d..(c + 1) * d].to_vec();
                            (f, second[c * d * d..(c + 1) * d * d].to_vec())
                        });
                        (nk[c], m)
                    })
                    .collect())
            }
            Self::Diagonal { resp_sum, first, second } => {
                let d = first.len() / resp_sum.len().max(1);
                Ok((resp_sum.iter().enumerate())
                    .map(|(c, &nc)| {
                        let at = c * d..(c + 1) * d;
                        (nc, (nc > 0.0).then(|| (first[at.clone()].to_vec(), second[at].to_vec())))
                    })
                    .collect())
            }
        }
    }

    /// [`FullStats::Rows`] as [`FullStats::Batched`] (zeros for components no row reached).
    fn into_batched(self, d: usize, device: &Device) -> Self {
        match self {
            Self::Rows { resp_sum, moments } => {
                let k = resp_sum.len();
                let nk: Vec<f32> = resp_sum.iter().map(|&v| v as f32).collect();
                let (first, second): (Vec<_>, Vec<_>) = moments
                    .into_iter()
                    .map(|m| match m {
                        Some((f, s)) => (f, s),
                        None => (Tensor::zeros([d], device), Tensor::zeros([d, d], device)),
                    })
                    .unzip();
                Self::Batched {
                    resp_sum: Tensor::from_data(TensorData::new(nk, [k]), device),
                    first: Tensor::stack(first, 0),
                    second: Tensor::stack(second, 0),
                }
            }
            other => other,
        }
    }
}

impl SufficientStats for FullStats {
    fn merge(self, other: Self) -> Self {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        match (self, other) {
            (
                Self::Rows { resp_sum: n1, moments: m1 },
                Self::Rows { resp_sum: n2, moments: m2 },
            ) => {
                let resp_sum = n1.iter().zip(&n2).map(|(a, b)| a + b).collect();
                let moments = m1
                    .into_iter()
                    .zip(m2)
                    .map(|pair| match pair {
                        (Some((a1, a2)), Some((b1, b2))) => Some((a1 + b1, a2 + b2)),
                        (a, None) => a,
                        (None, b) => b,
                    })
                    .collect();
                Self::Rows { resp_sum, moments }
            }
            (
                Self::Batched { resp_sum: n1, first: f1, second: s1 },
                Self::Batched { resp_sum: n2, first: f2, second: s2 },
            ) => Self::Batched { resp_sum: n1 + n2, first: f1 + f2, second: s1 + s2 },
            (
                Self::Diagonal { resp_sum: n1, first: f1, second: s1 },
                Self::Diagonal { resp_sum: n2, first: f2, second: s2 },
            ) => {
                let add = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(x, y)| x + y).collect();
                Self::Diagonal { resp_sum: add(n1, n2), first: add(f1, f2), second: add(s1, s2) }
            }
            (Self::Diagonal { .. }, _) | (_, Self::Diagonal { .. }) => {
                unreachable!("a layer's statistics are diagonal or not, in every batch")
            }
            (Self::Batched { resp_sum, first, second }, rows)
            | (rows, Self::Batched { resp_sum, first, second }) => {
                let (d, device) = (first.dims()[1], first.device());
                Self::Batched { resp_sum, first, second }.merge(rows.into_batched(d, &device))
            }
        }
    }
}

impl FullGmm {
    /// [`FullStats::Rows`]: each component over the rows it explains (responsibility at least
    /// [`RESP_FLOOR`]), gathered with one read-back of the responsibilities. Posteriors are
    /// sparse (on MNIST almost all 0 or 1; on BSDS300 patches a few components per row), which
    /// divides the work by up to K against products over every row.
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; `resp`: `[N, K]`.
    pub fn stats_by_rows(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<FullStats, ModelError> {
        let k = self.n_components();
        let r = host_vec::<f32, _>(resp.try_into_data())?;
        // Every component's rows in one row-major pass (not K strided scans of `r`).
        let mut rows_of = vec![Vec::new(); k];
        for (i, row) in r.chunks_exact(k).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                if v >= RESP_FLOOR {
                    rows_of[c].push((i, v));
                }
            }
        }
        self.stats_of_rows(x, rows_of)
    }

    /// [`FullStats::Rows`] from each component's rows and their responsibilities, rows in
    /// increasing order (what [`FullGmm::stats_by_rows`] gathers from a dense `[N, K]`; a
    /// family whose E-step names few components per row hands them over without forming it).
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; `rows_of`: K lists of `(row, r[row, c])`, `r ≥` [`RESP_FLOOR`].
    pub fn stats_of_rows(
        &self,
        x: Tensor<2>,
        rows_of: Vec<Vec<(usize, f32)>>,
    ) -> Result<FullStats, ModelError> {
        let [n, _] = x.dims();
        let k = self.n_components();
        if rows_of.len() != k {
            return Err(ModelError::InputShape { expected: k, got: rows_of.len() });
        }
        let device = x.device();
        let mut resp_sum = vec![0.0; k];
        let mut moments = Vec::with_capacity(k);
        let shift = (!self.config.zero_mean).then(|| self.means.val());
        for (c, rows) in rows_of.into_iter().enumerate() {
            if rows.is_empty() {
                moments.push(None);
                continue;
            }
            let w: Vec<f32> = rows.iter().map(|&(_, v)| v).collect();
            resp_sum[c] = w.iter().map(|&v| v as f64).sum();
            let m = rows.len();
            let xs = if m == n {
                x.clone()
            } else {
                let idx: Vec<i64> = rows.iter().map(|&(i, _)| i as i64).collect();
                x.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(idx, [m]), &device))
            };
            let xs = match &shift {
                Some(means) => xs - means.clone().narrow(0, c, 1),
                None => xs,
            };
            let w = Tensor::<1>::from_data(TensorData::new(w, [m]), &device).unsqueeze_dim::<2>(1);
            let xw = xs.clone() * w;
            let first = xw.clone().sum_dim(0).squeeze_dim(0);
            let second = xw.transpose().matmul(xs);
            moments.push(Some((first, second)));
        }
        Ok(FullStats::Rows { resp_sum, moments })
    }

    /// [`FullStats::Batched`]: every component at once on the device, with the same
    /// responsibility floor as [`FullGmm::stats_by_rows`] (`r < RESP_FLOOR` counts as 0):
    /// `Y_c = x - m_c` and `W_c = r_c ∘ Y_c` as `[G, N, D]` blocks of G components
    /// (`BATCHED_STATS_BUDGET`), then `Σ_n W_c` and the batched product `W_cᵀ Y_c`. No value
    /// leaves the device.
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; `resp`: `[N, K]`; result: `[K]`, `[K, D]`, `[K, D, D]`.
    pub fn stats_batched(&self, x: Tensor<2>, resp: Tensor<2>) -> FullStats {
        let (mut firsts, mut seconds) = (Vec::new(), Vec::new());
        let resp = self.for_shifted_blocks(&x, resp, |y, w| {
            firsts.push(w.clone().sum_dim(1).squeeze_dim(1));
            seconds.push(w.swap_dims(1, 2).matmul(y));
        });
        let k = resp.dims()[1];
        FullStats::Batched {
            resp_sum: resp.sum_dim(0).reshape([k]),
            first: Tensor::cat(firsts, 0),
            second: Tensor::cat(seconds, 0),
        }
    }

    /// `f(Y, W)` for blocks of G components, `Y_c = x − m_c` and `W_c = r_c ∘ Y_c` as
    /// `[G, N, D]` (G within [`BATCHED_STATS_BUDGET`]), with `r < RESP_FLOOR` counted as 0;
    /// returns the floored responsibilities `[N, K]`.
    pub(crate) fn for_shifted_blocks(
        &self,
        x: &Tensor<2>,
        resp: Tensor<2>,
        mut f: impl FnMut(Tensor<3>, Tensor<3>),
    ) -> Tensor<2> {
        let [n, d] = x.dims();
        let k = resp.dims()[1];
        let resp = resp.clone().mask_fill(resp.lower_elem(RESP_FLOOR), 0.0);
        let g = (BATCHED_STATS_BUDGET / (n.max(1) * d.max(1))).clamp(1, k);
        let means = (!self.config.zero_mean).then(|| self.means.val());
        for c0 in (0..k).step_by(g) {
            let gs = g.min(k - c0);
            let mut y = x.clone().unsqueeze_dim::<3>(0).expand([gs, n, d]);
            if let Some(means) = &means {
                y = y - means.clone().narrow(0, c0, gs).unsqueeze_dim::<3>(1);
            }
            // r_c as [G, N, 1].
            let r = resp.clone().narrow(1, c0, gs).transpose().unsqueeze_dim::<3>(2);
            f(y.clone(), y * r);
        }
        resp
    }

    /// Component c's M-step from its statistics about `shift` (its current mean): with
    /// `d_c = first / N_c`, `μ_c = shift + d_c` (zero-mean: `μ_c = 0`, `d_c = 0`) and the
    /// scatter `S_c / N_c = second / N_c − d_c d_cᵀ` (`Σ r (x − μ_c)(x − μ_c)ᵀ / N_c`), returns
    /// `μ_c` and, by covariance type (host, f64):
    /// - `full`: `U_c`, the precision Cholesky factor of `Σ_c = S_c / N_c + reg_covar·I`;
    /// - `diag`: `1/σ_ci` with `σ²_ci = S_c[i,i] / N_c + reg_covar` (`second` is the diagonal);
    /// - `spherical`: `1/σ_c` in every entry, `σ²_c` the mean of those `σ²_ci`;
    /// - `tied`: `S_c / N_c` (`[D·D]`), which [`FullGmm::tied_factor`] pools over components.
    pub(crate) fn component_m_step(
        &self,
        c: usize,
        nc: f64,
        first: &[f64],
        second: &[f64],
        shift: &[f64],
    ) -> Result<(Vec<f64>, Vec<f64>), ModelError> {
        let d = shift.len();
        if first.iter().chain(second).any(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                what: format!("sufficient statistics of component {c}"),
                hint: "the input holds NaN/inf or overflowing values; scale the data".into(),
            });
        }
        let delta: Vec<f64> = match self.config.zero_mean {
            true => vec![0.0; d],
            false => first.iter().map(|v| v / nc).collect(),
        };
        let mu: Vec<f64> = match self.config.zero_mean {
            true => vec![0.0; d],
            false => shift.iter().zip(&delta).map(|(m, e)| m + e).collect(),
        };
        let reg = self.config.reg_covar;
        let t = self.config.covariance_type;
        if t.is_diagonal() {
            let variances: Vec<f64> =
                (0..d).map(|i| second[i] / nc - delta[i] * delta[i] + reg).collect();
            if let Some(pivot) = variances.iter().position(|v| !(*v > 0.0)) {
                return Err(not_positive_definite(c, pivot));
            }
            return Ok((mu, t.diagonal_factor(&variances)));
        }
        let mut cov = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..=i {
                // Symmetrised.
                let s = 0.5 * (second[i * d + j] + second[j * d + i]) / nc - delta[i] * delta[j];
                cov[i * d + j] = s;
                cov[j * d + i] = s;
            }
        }
        if t == CovarianceType::Tied {
            return Ok((mu, cov));
        }
        Ok((mu, regularised_factor(c, cov, reg, d)?))
    }

    /// A tied layer's one factor `U` from the components' masses `N_c` and covariances
    /// `S_c / N_c`: `Σ = Σ_c S_c / Σ_c N_c + reg_covar·I` (scikit-learn's tied M-step).
    pub(crate) fn tied_factor(&self, covs: &[(f64, &[f64])]) -> Result<Vec<f64>, ModelError> {
        let d = self.dim();
        let mass: f64 = covs.iter().map(|e| e.0).sum();
        let mut pooled = vec![0.0; d * d];
        for (nc, cov) in covs {
            pooled.iter_mut().zip(cov.iter()).for_each(|(p, v)| *p += nc * v / mass);
        }
        regularised_factor(0, pooled, self.config.reg_covar, d)
    }
}

/// `U` of `cov + reg·I`; an error naming `component` if it is not positive definite.
fn regularised_factor(
    component: usize,
    mut cov: Vec<f64>,
    reg: f64,
    d: usize,
) -> Result<Vec<f64>, ModelError> {
    (0..d).for_each(|i| cov[i * d + i] += reg);
    linalg::precision_cholesky(&cov, d).map_err(|pivot| not_positive_definite(component, pivot))
}

fn not_positive_definite(component: usize, pivot: usize) -> ModelError {
    ModelError::NotPositiveDefinite {
        component,
        pivot,
        hint: "increase reg_covar, decrease n_components, or scale the input data".into(),
    }
}
