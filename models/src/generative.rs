//! Drawing samples from a trained layer: the trait; each family's form sits in its folder.

use crate::ModelError;
use crate::host::categorical;
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
