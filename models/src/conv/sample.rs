//! Samples of a convolutional GMM.

use super::model::ConvGmm;
use crate::ModelError;
use crate::generative::Generative;
use crate::mixture::Mixture;
use rand_chacha::ChaCha8Rng;

impl Generative for ConvGmm {
    fn sample_width(&self) -> usize {
        self.layout.pixels()
    }

    fn sample_weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights()
    }

    /// Stationary Gaussian fields with the component's power spectrum
    /// ([`SpectralLayout::sample_field`]).
    fn sample_component(
        &self,
        c: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, ModelError> {
        let spectrum = &self.spectra_host()?[c];
        Ok((0..n).flat_map(|_| self.layout.sample_field(spectrum, rng)).map(|v| v as f32).collect())
    }
}
