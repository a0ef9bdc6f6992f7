//! The diagonal types' distances `Σ_i ((x_i − μ_ci) / σ_ci)²` on a CPU, for any rows: the
//! layer's terms prepared once per E-step, then rows in groups of [`kernels::ROWS`].

use super::blocks::HOST_ROWS;
use super::covariance::CovarianceType;
use super::diagonal_kernels as kernels;
use super::model::FullGmm;
use crate::ModelError;
use crate::mixture::Mixture;
use crate::readback::{to_host_f64, with_host_values};
use burn::tensor::{Tensor, TensorData};

/// A diagonal layer's terms for [`HostDistances::rows`], padded with zeros to whole blocks of
/// [`kernels::LANES`] (a zero adds 0: no scalar tail, which at D = 63 was half the work).
pub(crate) enum HostDistances {
    /// `diag`: `Σ_i (x_i p_ci − s_ci)²` with `p_ci = 1/σ_ci`, `s_ci = μ_ci p_ci` (`[K·w]`
    /// each); a row's `whole` first columns are read in place, the rest from a padded copy.
    Diagonal { p: Vec<f32>, s: Vec<f32>, d: usize, whole: usize, kernel: kernels::BlockDistances },
    /// `spherical`: about a centre `a = Σ_c π_c μ_c` (the data's mean, once EM has moved the
    /// means), `y = x − a`, `m_c = μ_c − a` (`[K·w]`):
    ///
    /// ```text
    /// p_c² ‖x − μ_c‖² = p_c² (‖y‖² + ‖m_c‖² − 2 y·m_c)
    /// ```
    ///
    /// one multiply-add per number and component (the diagonal form takes two); the products
    /// in f32, the norms and the sum in f64, clamped at 0. Centred, the terms cancel no more
    /// than the distances are small against the data's spread (not against its offset from 0).
    Spherical {
        a: Vec<f32>,
        m: Vec<f32>,
        norms: Vec<f64>,
        p2: Vec<f64>,
        kernel: kernels::BlockDots,
    },
}

impl HostDistances {
    /// The terms of `layer`, a diagonal or spherical one, for rows of `d` values.
    pub(crate) fn new(layer: &FullGmm, d: usize) -> Result<Self, ModelError> {
        let k = layer.n_components();
        let means = match layer.config.zero_mean {
            true => vec![0.0; k * d],
            false => to_host_f64(layer.means.val())?,
        };
        let factors = to_host_f64(layer.precision_cholesky.val())?;
        let w = d.div_ceil(kernels::LANES) * kernels::LANES;
        let pad = |v: &[f64]| -> Vec<f32> {
            v.chunks(d)
                .flat_map(|c| c.iter().map(|&v| v as f32).chain(std::iter::repeat_n(0.0, w - d)))
                .collect()
        };
        if layer.config.covariance_type != CovarianceType::Spherical {
            // s = μ p as the f32 products of the f32 parameters.
            let p: Vec<f32> = factors.iter().map(|&p| p as f32).collect();
            let s: Vec<f32> = means.iter().zip(&p).map(|(&m, &p)| m as f32 * p).collect();
            return Ok(Self::diagonal(&p, &s, d));
        }
        let weights: Vec<f64> =
            to_host_f64(layer.log_weights.val())?.iter().map(|w| w.exp()).collect();
        let total: f64 = weights.iter().sum();
        let centre: Vec<f64> = (0..d)
            .map(|i| (0..k).map(|c| weights[c] * means[c * d + i]).sum::<f64>() / total)
            .collect();
        let a: Vec<f32> = centre.iter().map(|&a| a as f32).collect();
        // m_c about the centre the rows are moved by (its f32 value): y − m_c = x − μ_c.
        let centred: Vec<f64> = (means.chunks(d))
            .flat_map(|mu| mu.iter().zip(&a).map(|(mu, &a)| mu - a as f64))
            .collect();
        let m = pad(&centred);
        let norms = m.chunks(w).map(|c| c.iter().map(|&v| v as f64 * v as f64).sum()).collect();
        let p2 = factors.iter().step_by(d).map(|p| p * p).collect();
        Ok(Self::Spherical { a, m, norms, p2, kernel: kernels::dots_for_cpu() })
    }

    /// The `diag` form of factors `p` and shifts `s` (`[K·D]` each): `Σ_i (x_i p_ci − s_ci)²`
    /// (also the tied type's, after its product: unit factors).
    pub(crate) fn diagonal(p: &[f32], s: &[f32], d: usize) -> Self {
        let (lanes, whole) = (kernels::LANES, d / kernels::LANES * kernels::LANES);
        let w = d.div_ceil(lanes) * lanes;
        let pad = |v: &[f32]| -> Vec<f32> {
            v.chunks(d)
                .flat_map(|c| c.iter().copied().chain(std::iter::repeat_n(0.0, w - d)))
                .collect()
        };
        Self::Diagonal { p: pad(p), s: pad(s), d, whole, kernel: kernels::distances_for_cpu() }
    }

    /// `out[r·K + c]`, the distances of rows `xs` (`[R·D]`, any R) to every component
    /// (`out`: `[R·K]`), [`kernels::ROWS`] rows at a time; a row's figures do not depend on the
    /// rows beside it. A row with NaN has NaN distances.
    pub(crate) fn rows(&self, xs: &[f32], out: &mut [f32]) {
        let rows = kernels::ROWS;
        match self {
            Self::Diagonal { p, s, d, whole, kernel } => {
                let (d, whole, lanes) = (*d, *whole, kernels::LANES);
                let (w, n) = (whole + if whole < d { lanes } else { 0 }, xs.len() / d);
                let k = out.len() / n.max(1);
                let mut tail = vec![0.0f32; rows * lanes];
                for (out, xs) in out.chunks_mut(rows * k).zip(xs.chunks(rows * d)) {
                    if out.len() == rows * k {
                        for (t, x) in tail.chunks_mut(lanes).zip(xs.chunks(d)) {
                            t[..d - whole].copy_from_slice(&x[whole..]);
                        }
                        kernel(xs, d, whole, &tail, p, s, out);
                    } else {
                        // The last rows, fewer than `rows`: copied whole into a padded block
                        // (the rows past the end are zeros, their distances dropped).
                        let mut block = vec![0.0f32; rows * w];
                        for (b, x) in block.chunks_mut(w).zip(xs.chunks(d)) {
                            b[..d].copy_from_slice(x);
                        }
                        let mut short = vec![0.0; rows * k];
                        kernel(&block, w, w, &[], p, s, &mut short);
                        out.copy_from_slice(&short[..out.len()]);
                    }
                }
            }
            Self::Spherical { a, m, norms, p2, kernel } => {
                let (d, k) = (a.len(), norms.len());
                let w = m.len() / k;
                let (mut y, mut dot) = (vec![0.0f32; rows * w], vec![0.0f32; rows * k]);
                for (out, xs) in out.chunks_mut(rows * k).zip(xs.chunks(rows * d)) {
                    // Rows past the end are zeros; their distances are dropped.
                    let ny = kernel(xs, a, &mut y, m, &mut dot);
                    for (r, out) in out.chunks_mut(k).enumerate() {
                        for (c, o) in out.iter_mut().enumerate() {
                            let squared = ny[r] + norms[c] - 2.0 * dot[r * k + c] as f64;
                            // max(NaN, 0) would be 0: a missing value must stay NaN.
                            let squared = if squared < 0.0 { 0.0 } else { squared };
                            *o = (p2[c] * squared) as f32;
                        }
                    }
                }
            }
        }
    }

    /// [`Self::rows`] of a whole batch `x` (`[N, D]` on a CPU device) in tasks of [`HOST_ROWS`]
    /// rows over rayon's threads (the same figures on any thread count): `[N, K]`, or
    /// `Ok(None)` where a row holds NaN (a missing value).
    pub(crate) fn all(&self, x: &Tensor<2>, k: usize) -> Result<Option<Tensor<2>>, ModelError> {
        use rayon::prelude::*;
        let [n, d] = x.dims();
        let mut out = vec![0.0f32; n * k];
        with_host_values(x, |xs| {
            (out.par_chunks_mut(HOST_ROWS * k).zip(xs.par_chunks(HOST_ROWS * d)))
                .for_each(|(out, xs)| self.rows(xs, out))
        })?;
        if out.iter().fold(false, |a, v| a | v.is_nan()) {
            return Ok(None);
        }
        Ok(Some(Tensor::from_data(TensorData::new(out, [n, k]), &x.device())))
    }
}

#[cfg(test)]
mod tests {
    use super::HostDistances;
    use crate::full::test_layers::drawn;
    use crate::{CovarianceType, device_from_name, to_host_f64};
    use burn::tensor::{Tensor, TensorData};
    use rand::{Rng, SeedableRng};

    /// Both forms against a float64 sum of squares, on rows far from 0 (an offset of 100
    /// against a spread of 1, where the spherical expansion about 0 would lose every digit),
    /// with an odd K and a last group of rows shorter than the kernels'.
    #[test]
    fn distances_match_a_float64_sum() {
        let (k, d, n) = (5, 45, 4 * 70 + 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let device = device_from_name("cpu").unwrap();
        for covariance_type in [CovarianceType::Diag, CovarianceType::Spherical] {
            let weights = [0.1, 0.3, 0.2, 0.25, 0.15];
            let (layer, means, p) = drawn(covariance_type, &weights, d, 100.0, 0.5..2.0, &mut rng);
            let xs: Vec<f32> = (0..n * d).map(|_| 100.0 + rng.random_range(-1.5f32..1.5)).collect();
            let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [n, d]), &device);
            let terms = HostDistances::new(&layer, d).unwrap();
            let got = to_host_f64(terms.all(&x, k).unwrap().unwrap()).unwrap();
            for (row, c) in (0..n).flat_map(|r| (0..k).map(move |c| (r, c))) {
                let exact: f64 = (0..d)
                    .map(|i| {
                        let (mu, p) = (means[c * d + i] as f32 as f64, p[c * d + i] as f32 as f64);
                        ((xs[row * d + i] as f64 - mu) * p).powi(2)
                    })
                    .sum();
                let got = got[row * k + c];
                assert!(
                    (got - exact).abs() <= 2e-4 * exact.max(1.0),
                    "{covariance_type:?} {got} {exact}"
                );
            }
        }
    }
}
