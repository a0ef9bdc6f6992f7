//! Samples of a deep GMM.

use super::network::DeepGmm;
use crate::ModelError;
use crate::generative::Generative;
use crate::mixture::Mixture;
use rand_chacha::ChaCha8Rng;

/// A deep GMM samples as the mixture of its path components: `x = M_p z + μ_p`.
impl Generative for DeepGmm {
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
