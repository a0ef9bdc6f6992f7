//! Drawing samples from a trained layer.

use crate::mixture::to_host_f64;
use crate::{Mixture, ModelError, linalg};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A layer that defines a density over its inputs from which samples can be drawn.
pub trait Generative {
    /// Values per sample.
    fn sample_width(&self) -> usize;

    /// The mixing weights `π_c`.
    fn sample_weights(&self) -> Result<Vec<f64>, ModelError>;

    /// `n` samples of component `c`, `[n, width]` row-major.
    fn sample_component(
        &self,
        c: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, ModelError>;

    /// `n` samples of the mixture: a component drawn from `π`, then a sample of it. Returns the
    /// samples (`[n, width]`) and each one's component.
    fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Result<(Vec<f32>, Vec<usize>), ModelError> {
        let weights = self.sample_weights()?;
        let total: f64 = weights.iter().sum();
        let components: Vec<usize> = (0..n).map(|_| categorical(&weights, total, rng)).collect();
        let width = self.sample_width();
        let mut values = vec![0f32; n * width];
        for c in 0..weights.len() {
            let rows: Vec<usize> = (0..n).filter(|&i| components[i] == c).collect();
            if rows.is_empty() {
                continue;
            }
            let drawn = self.sample_component(c, rows.len(), rng)?;
            for (j, &i) in rows.iter().enumerate() {
                values[i * width..(i + 1) * width]
                    .copy_from_slice(&drawn[j * width..(j + 1) * width]);
            }
        }
        Ok((values, components))
    }
}

/// One draw of an index with probability `weights[i] / total` (`total = Σ weights`): a uniform
/// number in `[0, total)` walked down the weights; rounding past the end picks the last index.
pub(crate) fn categorical(weights: &[f64], total: f64, rng: &mut ChaCha8Rng) -> usize {
    let mut u = rng.random::<f64>() * total;
    weights
        .iter()
        .position(|&w| {
            u -= w;
            u < 0.0
        })
        .unwrap_or(weights.len() - 1)
}

impl Generative for crate::FullGmm {
    fn sample_width(&self) -> usize {
        self.dim()
    }

    fn sample_weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights()
    }

    /// `x = μ_c + L_c z`, `z ~ N(0, I)`, with `Σ_c = L_c L_cᵀ` and `L_c = U_c⁻ᵀ` (only
    /// component c's factor is read back and inverted).
    fn sample_component(
        &self,
        c: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, ModelError> {
        use rand_distr::{Distribution, StandardNormal};
        let d = self.dim();
        let u = to_host_f64(self.precision_cholesky.val().narrow(0, c, 1))?;
        let l = linalg::covariance_factor_from_precision_cholesky(&u, d);
        let mu = to_host_f64(self.means.val().narrow(0, c, 1))?;
        let mut out = Vec::with_capacity(n * d);
        for _ in 0..n {
            let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
            for i in 0..d {
                let v = mu[i] + (0..=i).map(|j| l[i * d + j] * z[j]).sum::<f64>();
                out.push(v as f32);
            }
        }
        Ok(out)
    }
}

/// A deep GMM samples as the mixture of its path components: `x = M_p z + μ_p`.
impl Generative for crate::DeepGmm {
    fn sample_width(&self) -> usize {
        self.dim()
    }

    fn sample_weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights()
    }

    fn sample_component(
        &self,
        c: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, ModelError> {
        self.path_mixture()?.sample_component(c, n, rng)
    }
}
