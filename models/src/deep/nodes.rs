//! The nodes' parameters on the host, and the path affine maps and inverses made of them.

use crate::{ModelError, linalg};

/// The nodes' parameters on the host: `a` = `A_m` `[M, D, D]`, `b` = `b_m` `[M, D]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeParams {
    /// `A_m`, `[M, D, D]`.
    pub a: Vec<f64>,
    /// `b_m`, `[M, D]`.
    pub b: Vec<f64>,
    /// D.
    pub dim: usize,
}

impl NodeParams {
    /// Path `(m_1, …, m_L)`'s mean and factor: `μ = b_1 + A_1 b_2 + A_1 A_2 b_3 + …`,
    /// `M = A_1 A_2 ⋯ A_L` (`[D]`, `[D, D]`).
    pub fn path_affine(&self, nodes: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let mut m: Vec<f64> = (0..d * d).map(|k| if k / d == k % d { 1.0 } else { 0.0 }).collect();
        let mut mu = vec![0.0; d];
        for &node in nodes {
            let b = &self.b[node * d..(node + 1) * d];
            for i in 0..d {
                mu[i] += (0..d).map(|t| m[i * d + t] * b[t]).sum::<f64>();
            }
            m = linalg::matmul(&m, &self.a[node * d * d..(node + 1) * d * d], d);
        }
        (mu, m)
    }

    /// `W_m = A_m⁻¹`, `c_m = −W_m b_m` and `log|det W_m|` of every node; an error names a
    /// singular node.
    pub fn inverses(&self) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>), ModelError> {
        let d = self.dim;
        let count = self.b.len() / d;
        let (mut w, mut c, mut log_det) = (Vec::new(), Vec::new(), Vec::new());
        for m in 0..count {
            let (inv, ld) = linalg::inverse_and_log_abs_det(&self.a[m * d * d..(m + 1) * d * d], d)
                .ok_or_else(|| ModelError::NonFinite {
                    what: format!("inverse of node {m}'s transform (singular)"),
                    hint: "raise reg_covar or lower learning_rate".into(),
                })?;
            let b = &self.b[m * d..(m + 1) * d];
            c.extend((0..d).map(|i| -(0..d).map(|t| inv[i * d + t] * b[t]).sum::<f64>()));
            w.extend(inv);
            log_det.push(-ld);
        }
        Ok((w, c, log_det))
    }

    /// The nodes of `W_m`, `c_m` back as `A_m = W_m⁻¹`, `b_m = −A_m c_m`.
    pub(crate) fn from_inverses(w: &[f64], c: &[f64], d: usize) -> Result<Self, ModelError> {
        let inverse = NodeParams { a: w.to_vec(), b: c.iter().map(|v| -v).collect(), dim: d };
        // inverses() of (W, −c) gives (W⁻¹, −W⁻¹(−c)) = (A, A c); b = −A c.
        let (a, ac, _) = inverse.inverses()?;
        Ok(NodeParams { a, b: ac.iter().map(|v| -v).collect(), dim: d })
    }
}
