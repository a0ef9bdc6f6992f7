//! The convolutional GMM as a Burn module: zero-mean stationary Gaussians on the P×P torus,
//! diagonal in the 2-D Fourier domain (models.md §1).

use super::config::ConvGmmConfig;
use crate::readback::to_host_f64;
use crate::{ModelError, SpectralLayout};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

impl ConvGmmConfig {
    /// [`Self::build`] after [`Self::validate`]: the checked entry for a config from outside a
    /// run (a run config is checked once, when it is read, and built with `build`).
    pub fn init(&self, size: usize, device: &Device) -> Result<ConvGmm, ModelError> {
        self.validate()?;
        self.build(size, device)
    }

    /// A layer for P×P images with flat spectra (`S = 1`) and uniform weights; EM's
    /// initialisation then sets real starting values. The config must be
    /// valid ([`Self::validate`]); it is not checked again here.
    pub fn build(&self, size: usize, device: &Device) -> Result<ConvGmm, ModelError> {
        if size == 0 || (size == 1 && self.exclude_dc) {
            return Err(ModelError::InvalidConfig {
                field: "exclude_dc",
                reason: format!("a {size}x{size} image without DC has no frequency left"),
            });
        }
        let layout = SpectralLayout::new(size, self.exclude_dc);
        let k = self.n_components;
        let spectrum = vec![1.0; k * layout.n_bins()];
        let weights = vec![1.0 / k as f64; k];
        Ok(ConvGmm::from_parts(layout, &spectrum, &weights, self, device))
    }
}

/// A convolutional GMM.
///
/// Component c is `N(0, C_c)` with `C_c` circulant; in the Fourier domain (models.md §1)
///
/// ```text
/// log N(x | 0, C_c) = -(D'/2) log 2π - ½ Σ_b w_b log S_c(k_b) - (1/(2D)) Σ_b w_b |X(k_b)|² / S_c(k_b)
/// ```
///
/// over the unique bins `b` of the [`SpectralLayout`]. The "filter" of the component is
/// `f_c` with `|F_c(k)|² = 1/S_c(k)`. The E-step on the precomputed periodograms `|X_n(k_b)|²`
/// is one matrix product.
///
/// # Shapes
/// - `power_spectrum`: `[K, B]`; `log_weights`: `[K]`; encoded input: `[N, B]`.
#[derive(Module, Debug)]
pub struct ConvGmm {
    /// `S_c(k_b)`, the power spectrum of each component on the unique bins, `[K, B]`.
    pub power_spectrum: Param<Tensor<2>>,
    /// `log π_c`, `[K]`.
    pub log_weights: Param<Tensor<1>>,
    /// Which bins the model covers, with their symmetry weights.
    #[module(skip)]
    pub layout: SpectralLayout,
    /// The layer's hyper-parameters, whole (`n_components` follows K when components are
    /// pruned; `spectrum_floor` bounds every `S_c(k)` in the M-step).
    #[module(skip)]
    pub config: ConvGmmConfig,
}

impl ConvGmm {
    /// Builds a layer from host parameters (`spectrum`: `[K, B]` row-major, `weights`: `[K]`)
    /// and its config (K is `weights.len()`).
    pub fn from_parts(
        layout: SpectralLayout,
        spectrum: &[f64],
        weights: &[f64],
        config: &ConvGmmConfig,
        device: &Device,
    ) -> Self {
        let k = weights.len();
        let config =
            ConvGmmConfig { n_components: k, exclude_dc: layout.excludes_dc(), ..config.clone() };
        let b = layout.n_bins();
        assert_eq!(spectrum.len(), k * b, "spectrum must be [K, B]");
        let s: Vec<f32> = spectrum.iter().map(|&v| v.max(config.spectrum_floor) as f32).collect();
        let lw: Vec<f32> = weights.iter().map(|&w| w.max(1e-30).ln() as f32).collect();
        Self {
            power_spectrum: Param::from_data(TensorData::new(s, [k, b]), device),
            log_weights: Param::from_data(TensorData::new(lw, [k]), device),
            layout,
            config,
        }
    }

    /// The power spectra on the host, `[K][B]`.
    pub fn spectra_host(&self) -> Result<Vec<Vec<f64>>, ModelError> {
        let b = self.layout.n_bins();
        let flat = to_host_f64(self.power_spectrum.val())?;
        Ok(flat.chunks(b).map(<[f64]>::to_vec).collect())
    }

    /// Bhattacharyya distances `D_B` between every pair of components, `[K, K]` row-major
    /// ([`crate::filters`]: a sum over frequencies).
    pub fn bhattacharyya_distances(&self) -> Result<Vec<f64>, ModelError> {
        let s = self.spectra_host()?;
        let layout = &self.layout;
        Ok(crate::filters::distance_matrix(s.len(), |i, j| {
            crate::filters::bhattacharyya_stationary(layout, &s[i], &s[j])
        }))
    }

    /// The zero-phase and minimum-phase filters of every component, see [`crate::filters`].
    pub fn filters(&self) -> Result<Vec<crate::filters::ComponentFilters>, ModelError> {
        let layout = &self.layout;
        Ok(self
            .spectra_host()?
            .iter()
            .map(|s| crate::filters::ComponentFilters {
                zero_phase: crate::filters::zero_phase_filter(layout, s),
                minimum_phase: crate::filters::minimum_phase_filter(layout, s),
            })
            .collect())
    }

    /// [`stationary_affine`] of this layer's spectra.
    pub(crate) fn affine(&self) -> (Tensor<2>, Tensor<2>) {
        let s = self.power_spectrum.val();
        stationary_affine(&self.layout, s.clone(), s.log())
    }

    pub(crate) fn device(&self) -> Device {
        self.power_spectrum.val().device()
    }

    /// The hyper-parameters of this layer (K as it is now).
    pub fn config(&self) -> &ConvGmmConfig {
        &self.config
    }
}

/// The stationary Gaussians' log-densities as an affine map of the periodograms (models.md §1):
/// `log N(x_n | c) = (x · A)[n,c] + c_c` with `A[b, c] = -w_b / (2 D S_c(k_b))` (`[B, K]`) and
/// `c_c = -(D'/2) log 2π - ½ Σ_b w_b log S_c(k_b)` (`[1, K]`), for spectra `S` (`[K, B]`) and
/// their logarithms `log S`. The one conv density: EM takes `S` as its parameter, fine-tuning
/// `log S` (on an autodiff device, the gradient flows through both arguments).
pub fn stationary_affine(
    layout: &SpectralLayout,
    spectrum: Tensor<2>,
    log_spectrum: Tensor<2>,
) -> (Tensor<2>, Tensor<2>) {
    let d = layout.pixels() as f64;
    let device = spectrum.device();
    let w: Vec<f32> = layout.weights().iter().map(|&w| w as f32).collect();
    let w = Tensor::<1>::from_data(TensorData::new(w, [layout.n_bins()]), &device)
        .unsqueeze_dim::<2>(0);
    let a = (w.clone() / spectrum).transpose() * (-0.5 / d);
    let log_2pi = (2.0 * std::f64::consts::PI).ln();
    let constant = (w * log_spectrum).sum_dim(1).transpose() * (-0.5)
        - 0.5 * layout.covered_dims() as f64 * log_2pi;
    (a, constant)
}
