//! Host (f64) versions of the mixture's two normalisations, for code that has read
//! per-component values back: one log-sum-exp and one softmax for the whole workspace.

/// `log Σ_i exp(a_i)`, shifted by the largest term; `−∞` when every term is (or there are none).
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + a.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `exp(a_c − max) / Σ_c' exp(a_c' − max)`: weights `π_c` from log-weights or logits,
/// posteriors from joint log-probabilities.
pub fn softmax(a: &[f64]) -> Vec<f64> {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = a.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_and_softmax_match_direct_sums() {
        let a = [-1.0, -2.0, -3.0];
        let direct: f64 = a.iter().map(|v: &f64| v.exp()).sum();
        assert!((log_sum_exp(&a) - direct.ln()).abs() < 1e-15);
        let p = softmax(&a);
        for (p, v) in p.iter().zip(a) {
            assert!((p - v.exp() / direct).abs() < 1e-15);
        }
        // Far outside exp's range, still exact.
        assert!((log_sum_exp(&[-1e6, -1e6]) - (-1e6 + 2f64.ln())).abs() < 1e-9);
        assert_eq!(softmax(&[-1e6, -2e3]), vec![0.0, 1.0]);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    }
}
