//! The convolutional GMM: zero-mean stationary Gaussians on the P×P torus, diagonal in the
//! 2-D Fourier domain (models.md §1).

use crate::mixture::{
    BatchTerms, Encoded, Init, MStepReport, Mixture, SufficientStats, default_e_step_batch,
    renormalised_log_weights, select_rows, to_host_f64,
};
use crate::{ModelError, SpectralLayout};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

fn default_true() -> bool {
    true
}

fn default_floor() -> f64 {
    1e-6
}

/// Hyper-parameters of a [`ConvGmm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvGmmConfig {
    /// Number of components K.
    pub n_components: usize,
    /// Leave the DC bin out (required for zero-meaned data, whose DC is identically 0).
    #[serde(default = "default_true")]
    pub exclude_dc: bool,
    /// Lower bound on every power-spectrum value `S_c(k)`.
    #[serde(default = "default_floor")]
    pub spectrum_floor: f64,
}

impl ConvGmmConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        ModelError::check_components(self.n_components)?;
        ModelError::check_positive("spectrum_floor", self.spectrum_floor)
    }

    /// A layer for P×P images with flat spectra (`S = 1`) and uniform weights; EM's
    /// initialisation then sets real starting values.
    pub fn init(&self, size: usize, device: &Device) -> Result<ConvGmm, ModelError> {
        self.validate()?;
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

    /// The initialisations the convolutional GMM takes: `samples` and
    /// `random_responsibilities` (k-means needs means, and every component's mean is 0).
    pub fn check_init(init: Init) -> Result<(), ModelError> {
        match init {
            Init::Kmeans | Init::KmeansPlusPlus => Err(ModelError::InvalidConfig {
                field: "init",
                reason: "\"kmeans\" and \"kmeans++\" are for full-covariance layers; the \
                         convolutional GMM takes \"samples\" or \"random_responsibilities\""
                    .into(),
            }),
            Init::Samples | Init::RandomResponsibilities => Ok(()),
        }
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
    /// Floor applied to every `S_c(k)` in the M-step.
    #[module(skip)]
    pub spectrum_floor: f64,
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
        let spectrum_floor = config.spectrum_floor;
        let k = weights.len();
        let b = layout.n_bins();
        assert_eq!(spectrum.len(), k * b, "spectrum must be [K, B]");
        let s: Vec<f32> = spectrum.iter().map(|&v| v.max(spectrum_floor) as f32).collect();
        let lw: Vec<f32> = weights.iter().map(|&w| w.max(1e-30).ln() as f32).collect();
        Self {
            power_spectrum: Param::from_data(TensorData::new(s, [k, b]), device),
            log_weights: Param::from_data(TensorData::new(lw, [k]), device),
            layout,
            spectrum_floor,
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

    fn device(&self) -> Device {
        self.power_spectrum.val().device()
    }

    /// The hyper-parameters of this layer (K as it is now).
    pub fn config(&self) -> ConvGmmConfig {
        ConvGmmConfig {
            n_components: self.n_components(),
            exclude_dc: self.layout.excludes_dc(),
            spectrum_floor: self.spectrum_floor,
        }
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

/// Sufficient statistics of the convolutional GMM: `N_c = Σ_n r[n,c]` and
/// `T_c(k_b) = Σ_n r[n,c] |X_n(k_b)|²`.
#[derive(Debug, Clone)]
pub struct ConvStats {
    /// `N_c`, `[K]`.
    pub resp_sum: Tensor<1>,
    /// `T_c(k_b)`, `[K, B]`.
    pub power_sum: Tensor<2>,
}

impl SufficientStats for ConvStats {
    fn merge(self, other: Self) -> Self {
        Self {
            resp_sum: self.resp_sum + other.resp_sum,
            power_sum: self.power_sum + other.power_sum,
        }
    }
}

impl Mixture for ConvGmm {
    type Stats = ConvStats;

    fn n_components(&self) -> usize {
        self.log_weights.val().dims()[0]
    }

    fn encoded_width(&self) -> usize {
        self.layout.n_bins()
    }

    /// The periodograms `|X_n(k_b)|²` (rustfft, once per dataset).
    fn encode(&self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        crate::mixture::check_rows(samples, self.layout.pixels(), "pixel value")?;
        Ok(self.layout.power(samples))
    }

    fn log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        let (a, constant) = self.affine();
        x.matmul(a) + constant
    }

    /// As [`log_prob`](Self::log_prob), with `log π_c` folded into the `[1, K]` constant
    /// rather than added to the `[N, K]` product.
    fn weighted_log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        let (a, constant) = self.affine();
        x.matmul(a) + (constant + self.log_weights.val().unsqueeze_dim(0))
    }

    /// `K·B` spectrum values (one per unique frequency bin) and `K − 1` weights.
    fn n_parameters(&self) -> usize {
        let k = self.n_components();
        k * self.layout.n_bins() + k - 1
    }

    fn log_weights(&self) -> Tensor<1> {
        self.log_weights.val()
    }

    fn zero_stats(&self) -> ConvStats {
        let device = self.device();
        let k = self.n_components();
        ConvStats {
            resp_sum: Tensor::zeros([k], &device),
            power_sum: Tensor::zeros([k, self.layout.n_bins()], &device),
        }
    }

    /// `[N_c (K), T_c(k_b) (K·B)]`.
    fn stats_to_flat(&self, stats: &ConvStats) -> Result<Vec<f64>, ModelError> {
        let mut flat = to_host_f64(stats.resp_sum.clone())?;
        flat.extend(to_host_f64(stats.power_sum.clone())?);
        Ok(flat)
    }

    fn stats_from_flat(&self, flat: &[f64]) -> Result<ConvStats, ModelError> {
        let (k, b) = (self.n_components(), self.layout.n_bins());
        if flat.len() != k + k * b {
            return Err(ModelError::InputShape { expected: k + k * b, got: flat.len() });
        }
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let device = self.device();
        Ok(ConvStats {
            resp_sum: Tensor::from_data(TensorData::new(f32s(&flat[..k]), [k]), &device),
            power_sum: Tensor::from_data(TensorData::new(f32s(&flat[k..]), [k, b]), &device),
        })
    }

    /// On a CPU (burn-flex, β = 1), fused on the host ([`ConvGmm::fused_e_step`]); elsewhere
    /// [`default_e_step_batch`].
    fn e_step_batch(&self, x: &Tensor<2>, beta: f64) -> Result<BatchTerms<ConvStats>, ModelError> {
        if beta == 1.0
            && let Some(terms) = self.e_step_host(x)?
        {
            return Ok(terms);
        }
        default_e_step_batch(self, x, beta)
    }

    fn batch_stats(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<ConvStats, ModelError> {
        Ok(ConvStats {
            resp_sum: resp.clone().sum_dim(0).squeeze_dim(0),
            power_sum: resp.transpose().matmul(x),
        })
    }

    /// `S_c(k) = T_c(k) / (D · N_c)`, floored; `π_c = N_c / N`. Computed on the host in f64
    /// (K·B numbers). A component with `N_c` below `1e-10 · N` keeps its spectrum.
    fn m_step(self, stats: ConvStats, n: usize) -> Result<(Self, MStepReport), ModelError> {
        let nk = to_host_f64(stats.resp_sum)?;
        let t = to_host_f64(stats.power_sum)?;
        if nk.iter().chain(&t).any(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                what: "sufficient statistics in the M-step".into(),
                hint: "the input holds NaN/inf or overflowing values; check the data or raise \
                       spectrum_floor"
                    .into(),
            });
        }
        let b = self.layout.n_bins();
        let d = self.layout.pixels() as f64;
        let mut spectrum = self.spectra_host()?.concat();
        let mut report = MStepReport::default();
        for (c, &nc) in nk.iter().enumerate() {
            if nc <= 1e-10 * n as f64 {
                report.emptied.push(c);
                continue;
            }
            for j in 0..b {
                spectrum[c * b + j] = (t[c * b + j] / (d * nc)).max(self.spectrum_floor);
            }
        }
        let weights: Vec<f64> = nk.iter().map(|&nc| nc / n as f64).collect();
        let device = self.device();
        let layer =
            Self::from_parts(self.layout.clone(), &spectrum, &weights, &self.config(), &device);
        Ok((layer, report))
    }

    fn prune(self, keep: &[usize]) -> Result<Self, ModelError> {
        let log_w = renormalised_log_weights(&to_host_f64(self.log_weights.val())?, keep);
        let device = self.device();
        let spectrum = select_rows(self.power_spectrum.val(), keep);
        let lw: Vec<f32> = log_w.iter().map(|&v| v as f32).collect();
        Ok(Self {
            power_spectrum: Param::from_tensor(spectrum),
            log_weights: Param::from_data(TensorData::new(lw, [keep.len()]), &device),
            layout: self.layout,
            spectrum_floor: self.spectrum_floor,
        })
    }

    /// [`Init::Samples`]: K distinct random samples; component c starts at
    /// `S_c = ½ |X_n|²/D + ½ S̄`, with `S̄` the mean periodogram of all the data.
    fn initialize(
        self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
        match init {
            Init::Kmeans | Init::KmeansPlusPlus => ConvGmmConfig::check_init(init).map(|()| self),
            Init::RandomResponsibilities => {
                crate::mixture::init_random_responsibilities(self, data, rng)
            }
            Init::Samples => {
                let k = self.n_components();
                let n = data.total();
                if n < k {
                    return Err(ModelError::InvalidConfig {
                        field: "n_components",
                        reason: format!("{k} components need at least {k} samples, got {n}"),
                    });
                }
                let b = self.layout.n_bins();
                let d = self.layout.pixels() as f64;
                let mut mean = vec![0.0; b];
                for x in &data.batches {
                    for (m, v) in mean.iter_mut().zip(to_host_f64(x.clone().sum_dim(0))?) {
                        *m += v / (n as f64 * d);
                    }
                }
                data.sum_shards(&mut mean);
                let mut picks = sample(rng, n, k).into_vec();
                picks.sort_unstable();
                let rows = data.gather_rows(&picks)?;
                let mut spectrum = Vec::with_capacity(k * b);
                for row in rows.chunks(data.width) {
                    for (&v, m) in row.iter().zip(&mean) {
                        spectrum.push(0.5 * v as f64 / d + 0.5 * m);
                    }
                }
                let weights = vec![1.0 / k as f64; k];
                let device = self.device();
                let config = self.config();
                Ok(Self::from_parts(self.layout, &spectrum, &weights, &config, &device))
            }
        }
    }
}

impl crate::Generative for ConvGmm {
    fn sample_width(&self) -> usize {
        self.layout.pixels()
    }

    fn sample_weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights()
    }

    /// Stationary Gaussian fields with the component's power spectrum
    /// ([`SpectralLayout::sample_field`]).
    fn sample_component(
        &self,
        c: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, ModelError> {
        let spectrum = &self.spectra_host()?[c];
        Ok((0..n).flat_map(|_| self.layout.sample_field(spectrum, rng)).map(|v| v as f32).collect())
    }
}
