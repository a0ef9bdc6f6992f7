//! Per-row sample weights (scikit-learn's `sample_weight`): what a row adds to the E-step's
//! sums and to the log-likelihood is multiplied by its weight.
//!
//! Weights are scaled to mean 1 over the whole data set, `w'_n = w_n · N / Σ_m w_m`: every EM
//! estimate is a ratio of weighted sums, so the scale changes none, and with `Σ w' = N` the
//! mean log-likelihood `Σ w'_n ℓ_n / N = Σ w_n ℓ_n / Σ w_n` and the weights `π_c = N_c / N`
//! need no other change. Integer weights then give the fit of the data with each row repeated
//! that many times.

use crate::ModelError;
use crate::encoded::Encoded;
use burn::tensor::{Tensor, TensorData};

/// Checks sample weights for `n` rows and scales them to mean 1: the error names the first
/// weight that is negative or not finite, a length that is not `n`, or weights that sum to 0.
pub fn unit_mean_weights(weights: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
    let bad = |reason: String| ModelError::InvalidConfig { field: "sample_weight", reason };
    if weights.len() != n {
        return Err(bad(format!("has {} values for {n} rows", weights.len())));
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
        return Err(bad(format!(
            "row {i} has weight {}; weights must be finite and not negative",
            weights[i]
        )));
    }
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    if total.is_nan() || total <= 0.0 {
        return Err(bad("sums to 0: no row would count".into()));
    }
    let scale = n as f64 / total;
    Ok(weights.iter().map(|&w| (f64::from(w) * scale) as f32).collect())
}

/// Weights that tell rows apart: `None` when every row has the same weight, which is no
/// weighting at all (every estimate is a ratio of weighted sums), so such rows take the
/// unweighted path and give its figures bit for bit.
pub fn unless_uniform(weights: Vec<f32>) -> Option<Vec<f32>> {
    let first = *weights.first()?;
    weights.iter().any(|&w| w != first).then_some(weights)
}

impl Encoded {
    /// These rows with sample weights (one per row, in row order): checked and scaled to mean
    /// 1 ([`unit_mean_weights`]), and dropped when all equal ([`unless_uniform`]). For the
    /// whole data set; a shard takes its rows' share of
    /// weights already scaled over all rows ([`Encoded::with_unit_weights`]).
    pub fn with_sample_weights(self, weights: &[f32]) -> Result<Self, ModelError> {
        let scaled = unless_uniform(unit_mean_weights(weights, self.n)?);
        Ok(self.with_unit_weights(scaled.as_deref()))
    }

    /// These rows with weights already scaled to mean 1 over the whole data set (`None`: none),
    /// cut at the batches' boundaries.
    pub fn with_unit_weights(self, weights: Option<&[f32]>) -> Self {
        let cut = weights.map(|w| {
            let sizes = (0..self.n_batches()).map(|b| self.batch_len(b));
            let starts = self.offsets();
            starts.into_iter().zip(sizes).map(|(s, m)| w[s..s + m].to_vec()).collect()
        });
        let mut data = self;
        data.weights = cut;
        data
    }

    /// Every row's weight on the host, in row order; `None` when rows are not weighted.
    pub fn host_weights(&self) -> Option<Vec<f32>> {
        self.weights.as_ref().map(|w| w.concat())
    }

    /// Batch `b`'s row weights, `[n_b, 1]` on its device; `None` when rows are not weighted.
    pub fn batch_weights(&self, b: usize) -> Option<Tensor<2>> {
        let w = self.weights.as_ref()?;
        Some(Tensor::from_data(TensorData::new(w[b].clone(), [w[b].len(), 1]), self.device()))
    }

    /// Responsibilities of batch `b` (`[n_b, K]`) times its rows' weights, as its statistics
    /// take them; unchanged when rows are not weighted.
    pub fn weigh(&self, b: usize, resp: Tensor<2>) -> Tensor<2> {
        match self.batch_weights(b) {
            Some(w) => resp * w,
            None => resp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_checked_and_scaled_to_mean_one() {
        assert_eq!(unit_mean_weights(&[1.0, 3.0], 2).unwrap(), vec![0.5, 1.5]);
        let message = |w: &[f32], n| unit_mean_weights(w, n).unwrap_err().to_string();
        assert!(message(&[1.0], 2).contains("1 values for 2 rows"), "{}", message(&[1.0], 2));
        assert!(message(&[1.0, -1.0], 2).contains("row 1 has weight -1"));
        assert!(message(&[f32::NAN, 1.0], 2).contains("row 0 has weight NaN"));
        assert!(message(&[0.0, 0.0], 2).contains("sums to 0"));
        assert_eq!(unless_uniform(vec![2.0; 3]), None);
        assert_eq!(unless_uniform(vec![2.0, 0.0]), Some(vec![2.0, 0.0]));
    }
}
