//! The full-covariance GMM as a Burn module (models.md §2), built from host parameters.

use super::config::FullGmmConfig;
use super::covariance::CovarianceType;
use crate::ModelError;
use crate::mixture::Mixture;
use crate::readback::to_host_f64;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

impl FullGmmConfig {
    /// [`Self::build`] after [`Self::validate`]: the checked entry for a config from outside a
    /// run (a run config is checked once, when it is read, and built with `build`).
    pub fn init(&self, dim: usize, device: &Device) -> Result<FullGmm, ModelError> {
        self.validate()?;
        self.build(dim, device)
    }

    /// A layer over `dim`-dimensional rows: zero means, identity covariances, uniform weights;
    /// EM's initialisation then sets real starting values. The config must be
    /// valid ([`Self::validate`]); it is not checked again here.
    pub fn build(&self, dim: usize, device: &Device) -> Result<FullGmm, ModelError> {
        if dim == 0 {
            return Err(ModelError::InvalidConfig {
                field: "input",
                reason: "has no dimensions".into(),
            });
        }
        let (k, t) = (self.n_components, self.covariance_type);
        let eye = t.identity_factors(k, dim);
        Ok(FullGmm::from_parts(&vec![0.0; k * dim], &eye, &vec![1.0 / k as f64; k], self, device))
    }
}

/// A Gaussian mixture with full covariances:
///
/// ```text
/// log N(x | μ_c, Σ_c) = -(D/2) log 2π + Σ_i log U_c[i,i] - ½ ‖(x - μ_c)ᵀ U_c‖²,   Σ_c⁻¹ = U_c U_cᵀ
/// ```
///
/// `U_c` is the upper-triangular precision Cholesky factor (scikit-learn's
/// `precisions_cholesky_`): the log-determinant comes from its diagonal and the Mahalanobis
/// distance from one matrix product, so no inverse or determinant is ever formed.
///
/// With a constrained `covariance_type` the factors are stored as
/// [`CovarianceType::factor_shape`] says (one shared `U` when tied, the diagonals alone when
/// diagonal or spherical).
///
/// # Shapes
/// - `means`: `[K, D]`; `precision_cholesky`: `[K, D, D]` (full), `[1, D, D]` (tied),
///   `[K, 1, D]` (diag, spherical); `log_weights`: `[K]`; input `[N, D]`.
#[derive(Module, Debug)]
pub struct FullGmm {
    /// `μ_c`, `[K, D]` (zeros with `zero_mean`).
    pub means: Param<Tensor<2>>,
    /// `U_c`, upper triangular with `Σ_c⁻¹ = U_c U_cᵀ`, in the layout of the covariance type.
    pub precision_cholesky: Param<Tensor<3>>,
    /// `log π_c`, `[K]`.
    pub log_weights: Param<Tensor<1>>,
    /// The layer's hyper-parameters, whole (`n_components` follows K when components are
    /// pruned): zero means, `reg_covar` for the M-step, what an emptied component becomes.
    #[module(skip)]
    pub config: FullGmmConfig,
}

/// Responsibilities below this count as zero in the sufficient statistics, so that each
/// component's second moment is accumulated over the rows it actually explains (on MNIST
/// almost every posterior is 0 or 1, and this divides the M-step's work by about K). The
/// mass left out is below `N · 1e-8`, under f32 resolution for any component holding a sample.
pub const RESP_FLOOR: f32 = 1e-8;

impl FullGmm {
    /// Builds a layer from host parameters: `means` `[K, D]`, `precision_cholesky` in the
    /// layout of `config.covariance_type` ([`CovarianceType::factor_shape`]), `weights` `[K]`,
    /// all row-major.
    pub fn from_parts(
        means: &[f64],
        precision_cholesky: &[f64],
        weights: &[f64],
        config: &FullGmmConfig,
        device: &Device,
    ) -> Self {
        let k = weights.len();
        let d = means.len() / k.max(1);
        let shape = config.covariance_type.factor_shape(k, d);
        let len: usize = shape.iter().product();
        assert_eq!(precision_cholesky.len(), len, "precision_cholesky must be {shape:?}");
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let lw: Vec<f32> = weights.iter().map(|&w| w.max(1e-30).ln() as f32).collect();
        Self {
            means: Param::from_data(TensorData::new(f(means), [k, d]), device),
            precision_cholesky: Param::from_data(
                TensorData::new(f(precision_cholesky), shape),
                device,
            ),
            log_weights: Param::from_data(TensorData::new(lw, [k]), device),
            config: FullGmmConfig { n_components: k, ..config.clone() },
        }
    }

    /// Input dimension D.
    pub fn dim(&self) -> usize {
        self.means.val().dims()[1]
    }

    /// Bhattacharyya distances `D_B` between every pair of components, `[K, K]` row-major
    /// ([`crate::filters::bhattacharyya_full`]); O(K² D³), meant for inspection.
    pub fn bhattacharyya_distances(&self) -> Result<Vec<f64>, ModelError> {
        let (means, covs) = (self.means_host()?, self.covariances_host()?);
        let n = means.first().map_or(0, Vec::len);
        Ok(crate::filters::distance_matrix(means.len(), |i, j| {
            crate::filters::bhattacharyya_full(&means[i], &covs[i], &means[j], &covs[j], n)
                .unwrap_or(f64::INFINITY)
        }))
    }

    /// The means on the host, `[K][D]`.
    pub fn means_host(&self) -> Result<Vec<Vec<f64>>, ModelError> {
        let d = self.dim();
        Ok(to_host_f64(self.means.val())?.chunks(d).map(<[f64]>::to_vec).collect())
    }

    /// The covariances on the host, `[K][D·D]`: `Σ_c = (U_c U_cᵀ)⁻¹ = U_c⁻ᵀ U_c⁻¹`
    /// ([`CovarianceType::dense_covariance`]).
    pub fn covariances_host(&self) -> Result<Vec<Vec<f64>>, ModelError> {
        let (d, t) = (self.dim(), self.config.covariance_type);
        let u = self.factors_host()?;
        Ok((0..self.n_components()).map(|c| t.dense_covariance(&u, c, d)).collect())
    }

    /// The stored precision factors on the host, in the covariance type's layout.
    pub fn factors_host(&self) -> Result<Vec<f64>, ModelError> {
        to_host_f64(self.precision_cholesky.val())
    }

    /// Every component's `U_c` as a `[K, D, D]` tensor: the stored one for `full`, the shared
    /// one repeated for `tied`, the diagonal ones laid on a diagonal for `diag` and `spherical`
    /// (whose E-step does not need them: `FullGmm::mahalanobis_diagonal`).
    pub(crate) fn dense_factors(&self) -> Tensor<3> {
        let u = self.precision_cholesky.val();
        let [_, d, e] = u.dims();
        let k = self.n_components();
        match self.config.covariance_type {
            CovarianceType::Full => u,
            CovarianceType::Tied => u.expand([k, d, e]),
            CovarianceType::Diag | CovarianceType::Spherical => {
                let eye = CovarianceType::Full.identity_factors(1, e);
                let eye: Vec<f32> = eye.into_iter().map(|v| v as f32).collect();
                let eye = Tensor::<3>::from_data(TensorData::new(eye, [1, e, e]), &self.device());
                u * eye
            }
        }
    }

    /// Numbers per component in the statistics' second moment: `D·D`, or `D` (its diagonal)
    /// for the diagonal types.
    pub(crate) fn second_len(&self) -> usize {
        self.config.covariance_type.factor_len(self.dim())
    }

    pub(crate) fn device(&self) -> Device {
        self.means.val().device()
    }

    /// The same layer with other means (`[K, D]` row-major); zero-mean layers keep 0.
    pub(crate) fn with_means(self, means: &[f32]) -> Self {
        if self.config.zero_mean {
            return self;
        }
        let [k, d] = self.means.val().dims();
        let device = self.device();
        Self { means: Param::from_data(TensorData::new(means.to_vec(), [k, d]), &device), ..self }
    }
}
