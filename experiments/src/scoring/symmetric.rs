//! Scores under a model averaged over the symmetries of its square patches
//! ([`gmm_datasets::symmetry`]): with `ℓ_gn = log p(g·x_n)` for every element `g` of the group
//! `G`,
//!
//! ```text
//! log q(x_n) = logsumexp_g ℓ_gn − log |G|,
//! π_gn = exp(ℓ_gn − log |G| − log q(x_n))          (the posterior of the element),
//! r_cn = Σ_g π_gn r_cn^(g)                           (the posterior of component c),
//! ```
//!
//! and the MAP component is that of the element with the highest `ℓ_gn`.

use super::report::RowScore;
use gmm_models::host::log_mean_exp;

/// Every row's scores under the averaged model, from its scores under each element
/// (`per_element[g][n]`, the rows of `g·x`).
pub(super) fn combine(per_element: &[Vec<RowScore>]) -> Vec<RowScore> {
    let log_order = (per_element.len() as f64).ln();
    (0..per_element[0].len())
        .map(|n| {
            let logs: Vec<f64> = per_element.iter().map(|s| s[n].log_likelihood).collect();
            let log_likelihood = log_mean_exp(&logs);
            let best = (0..logs.len()).max_by(|&a, &b| logs[a].total_cmp(&logs[b])).unwrap_or(0);
            let k = per_element[0][n].responsibilities.len();
            let mut responsibilities = vec![0.0; k];
            for (g, scores) in per_element.iter().enumerate() {
                let pi = (logs[g] - log_order - log_likelihood).exp();
                for (r, v) in responsibilities.iter_mut().zip(&scores[n].responsibilities) {
                    *r += pi * v;
                }
            }
            RowScore { log_likelihood, component: per_element[best][n].component, responsibilities }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(log_likelihood: f64, component: usize, responsibilities: Vec<f64>) -> RowScore {
        RowScore { log_likelihood, component, responsibilities }
    }

    #[test]
    fn the_average_of_the_elements_densities_and_their_posteriors() {
        // Two elements: densities e^-1 and e^-3 of one row, under two components.
        let got =
            combine(&[vec![row(-1.0, 0, vec![0.9, 0.1])], vec![row(-3.0, 1, vec![0.2, 0.8])]]);
        let (p1, p3) = ((-1f64).exp(), (-3f64).exp());
        let want = ((p1 + p3) / 2.0).ln();
        assert!((got[0].log_likelihood - want).abs() < 1e-12);
        assert_eq!(got[0].component, 0);
        let pi = p1 / (p1 + p3);
        let r0 = pi * 0.9 + (1.0 - pi) * 0.2;
        assert!((got[0].responsibilities[0] - r0).abs() < 1e-12);
        assert!((got[0].responsibilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // One element is the model itself.
        let one = combine(&[vec![row(-2.5, 3, vec![])]]);
        assert_eq!(one, vec![row(-2.5, 3, vec![])]);
    }
}
