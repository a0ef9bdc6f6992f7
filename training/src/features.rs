//! What a layer hands to the next one in a deep stack (models.md §4).

use gmm_models::host::softmax;
use gmm_models::{Encoded, Mixture, ModelError, to_host_f64};
use serde::{Deserialize, Serialize};

/// A per-sample feature vector made from a layer's K per-component log-likelihoods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// `log N(x_n | c)`, the K log-likelihoods as they are.
    LogLikelihood,
    /// The same, each row shifted to mean 0 and scaled to (population) std 1.
    LogLikelihoodStandardised,
    /// `q[n,c] = N(x_n|c) / Σ_c' N(x_n|c')`: normalised likelihoods, without the weights.
    PosteriorNormalised,
    /// `r[n,c] = π_c N(x_n|c) / Σ_c' π_c' N(x_n|c')`: the posterior, with the weights.
    Responsibility,
}

impl Feature {
    /// The name a config spells (`input = "responsibility"`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// The feature a config's `name` spells; `None` for another name.
    pub fn from_name(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.into())).ok()
    }

    /// Whether the rows are probability vectors (non-negative, summing to 1).
    pub fn is_probability(self) -> bool {
        matches!(self, Feature::PosteriorNormalised | Feature::Responsibility)
    }

    /// The feature of one sample from its log-likelihoods `log N(x|c)` and the layer's
    /// `log π_c`, in f64.
    pub fn of_row(self, log_lik: &[f64], log_weights: &[f64]) -> Vec<f64> {
        match self {
            Feature::LogLikelihood => log_lik.to_vec(),
            Feature::LogLikelihoodStandardised => {
                let k = log_lik.len() as f64;
                let mean = log_lik.iter().sum::<f64>() / k;
                let std = (log_lik.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k).sqrt();
                // A row whose log-likelihoods are all equal has no spread to scale: it maps to 0.
                let scale = if std > 0.0 { 1.0 / std } else { 0.0 };
                log_lik.iter().map(|v| (v - mean) * scale).collect()
            }
            Feature::PosteriorNormalised => softmax(log_lik),
            Feature::Responsibility => {
                softmax(&log_lik.iter().zip(log_weights).map(|(l, w)| l + w).collect::<Vec<_>>())
            }
        }
    }

    /// The feature rows of every sample, `[N, K]` row-major.
    pub fn compute<M: Mixture>(self, layer: &M, data: &Encoded) -> Result<Vec<f32>, ModelError> {
        let log_w = to_host_f64(layer.log_weights())?;
        let k = log_w.len();
        let out = data.concat_batches(|_, x| {
            let lp = to_host_f64(layer.log_prob(x.clone()))?;
            let rows = lp.chunks(k).flat_map(|row| self.of_row(row, &log_w));
            Ok(rows.map(|v| v as f32).collect())
        })?;
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                what: format!("feature {self:?} of sample {}", i / k),
                hint: "the layer below gives non-finite log-likelihoods; check its floors".into(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn features_match_hand_computed_values() {
        let ll = [-1.0, -2.0, -3.0];
        let lw = [0.5f64.ln(), 0.25f64.ln(), 0.25f64.ln()];
        close(&Feature::LogLikelihood.of_row(&ll, &lw), &ll);
        // mean -2, population std sqrt(2/3)
        let s = (2.0f64 / 3.0).sqrt();
        close(&Feature::LogLikelihoodStandardised.of_row(&ll, &lw), &[1.0 / s, 0.0, -1.0 / s]);
        // e^-1, e^-2, e^-3 normalised
        let z = (-1f64).exp() + (-2f64).exp() + (-3f64).exp();
        close(
            &Feature::PosteriorNormalised.of_row(&ll, &lw),
            &[(-1f64).exp() / z, (-2f64).exp() / z, (-3f64).exp() / z],
        );
        // 0.5 e^-1, 0.25 e^-2, 0.25 e^-3 normalised
        let z = 0.5 * (-1f64).exp() + 0.25 * (-2f64).exp() + 0.25 * (-3f64).exp();
        close(
            &Feature::Responsibility.of_row(&ll, &lw),
            &[0.5 * (-1f64).exp() / z, 0.25 * (-2f64).exp() / z, 0.25 * (-3f64).exp() / z],
        );
    }

    #[test]
    fn extreme_log_likelihoods_stay_finite() {
        let ll = [-1e6, -2e3, -1e6 - 5.0];
        let q = Feature::PosteriorNormalised.of_row(&ll, &[0.0; 3]);
        close(&q, &[0.0, 1.0, 0.0]);
        let flat = Feature::LogLikelihoodStandardised.of_row(&[-4.0; 3], &[0.0; 3]);
        close(&flat, &[0.0; 3]);
    }
}
