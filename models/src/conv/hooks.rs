//! The convolutional GMM's [`Mixture`] hooks: periodograms, log-densities (one product),
//! statistics, the closed-form M-step, pruning and initialisation.

use super::config::ConvGmmConfig;
use super::model::ConvGmm;
use super::stats::ConvStats;
use crate::ModelError;
use crate::encoded::Encoded;
use crate::host::renormalised_log_weights;
use crate::mixture::{
    BatchTerms, Init, MStepReport, Mixture, default_e_step_batch, init_random_responsibilities,
};
use crate::readback::{check_rows, select_rows, to_host_f64};
use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

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
        check_rows(samples, self.layout.pixels(), "pixel value")?;
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
                spectrum[c * b + j] = (t[c * b + j] / (d * nc)).max(self.config.spectrum_floor);
            }
        }
        let weights: Vec<f64> = nk.iter().map(|&nc| nc / n as f64).collect();
        let device = self.device();
        let layer =
            Self::from_parts(self.layout.clone(), &spectrum, &weights, &self.config, &device);
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
            config: ConvGmmConfig { n_components: keep.len(), ..self.config },
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
            Init::RandomResponsibilities => init_random_responsibilities(self, data, rng),
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
                for b in 0..data.n_batches() {
                    for (m, v) in mean.iter_mut().zip(to_host_f64(data.batch(b)?.sum_dim(0))?) {
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
                Ok(Self::from_parts(self.layout, &spectrum, &weights, &self.config, &device))
            }
        }
    }
}
