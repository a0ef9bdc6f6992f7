//! Samples of a full-covariance GMM.

use super::model::FullGmm;
use crate::ModelError;
use crate::generative::Generative;
use crate::mixture::Mixture;
use crate::readback::to_host_f64;
use rand_chacha::ChaCha8Rng;

impl Generative for FullGmm {
    fn sample_width(&self) -> usize {
        self.dim()
    }

    fn sample_weights(&self) -> Result<Vec<f64>, ModelError> {
        self.weights()
    }

    /// `x = μ_c + L_c z`, `z ~ N(0, I)`, with `Σ_c = L_c L_cᵀ` and `L_c = U_c⁻ᵀ`
    /// ([`crate::CovarianceType::covariance_factor`]: only component c's factor is inverted).
    fn sample_component(
        &self,
        c: usize,
        n: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, ModelError> {
        use rand_distr::{Distribution, StandardNormal};
        let d = self.dim();
        let l = self.config.covariance_type.covariance_factor(&self.factors_host()?, c, d);
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
