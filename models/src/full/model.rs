//! The full-covariance GMM as a Burn module (models.md §2), built from host parameters.

use super::config::FullGmmConfig;
use crate::readback::to_host_f64;
use crate::{ModelError, linalg};
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
        let k = self.n_components;
        let mut eye = vec![0.0; k * dim * dim];
        for c in 0..k {
            for i in 0..dim {
                eye[c * dim * dim + i * dim + i] = 1.0;
            }
        }
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
/// # Shapes
/// - `means`: `[K, D]`; `precision_cholesky`: `[K, D, D]`; `log_weights`: `[K]`; input `[N, D]`.
#[derive(Module, Debug)]
pub struct FullGmm {
    /// `μ_c`, `[K, D]` (zeros with `zero_mean`).
    pub means: Param<Tensor<2>>,
    /// `U_c`, `[K, D, D]`, upper triangular with `Σ_c⁻¹ = U_c U_cᵀ`.
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
    /// Builds a layer from host parameters: `means` `[K, D]`, `precision_cholesky`
    /// `[K, D, D]`, `weights` `[K]`, all row-major.
    pub fn from_parts(
        means: &[f64],
        precision_cholesky: &[f64],
        weights: &[f64],
        config: &FullGmmConfig,
        device: &Device,
    ) -> Self {
        let k = weights.len();
        let d = means.len() / k.max(1);
        assert_eq!(precision_cholesky.len(), k * d * d, "precision_cholesky must be [K, D, D]");
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let lw: Vec<f32> = weights.iter().map(|&w| w.max(1e-30).ln() as f32).collect();
        Self {
            means: Param::from_data(TensorData::new(f(means), [k, d]), device),
            precision_cholesky: Param::from_data(
                TensorData::new(f(precision_cholesky), [k, d, d]),
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

    /// The covariances on the host, `[K][D·D]`: `Σ_c = (U_c U_cᵀ)⁻¹ = U_c⁻ᵀ U_c⁻¹`.
    pub fn covariances_host(&self) -> Result<Vec<Vec<f64>>, ModelError> {
        let d = self.dim();
        let u = to_host_f64(self.precision_cholesky.val())?;
        Ok(u.chunks(d * d).map(|uc| linalg::covariance_from_precision_cholesky(uc, d)).collect())
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
