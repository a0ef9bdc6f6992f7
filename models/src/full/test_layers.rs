//! Test layers of the diagonal types: their config, and layers drawn at random.

use crate::{CovarianceType, FullGmm, FullGmmConfig, device_from_name};
use rand::Rng;
use std::ops::Range;

/// K components of `covariance_type`, with means, `reg_covar` 1e-6, empties kept.
pub(crate) fn config(k: usize, covariance_type: CovarianceType) -> FullGmmConfig {
    let (zero_mean, empty_components) = (false, Default::default());
    FullGmmConfig { n_components: k, zero_mean, reg_covar: 1e-6, empty_components, covariance_type }
}

/// A layer of `weights.len()` components over `d` values on the CPU: means `centre ± 1`,
/// factors `1/σ` drawn from `factors` (one per component for `spherical`), drawn in that
/// order from `rng`; with its means and factors (`[K·D]` each).
pub(crate) fn drawn(
    covariance_type: CovarianceType,
    weights: &[f64],
    d: usize,
    centre: f64,
    factors: Range<f64>,
    rng: &mut impl Rng,
) -> (FullGmm, Vec<f64>, Vec<f64>) {
    let k = weights.len();
    let means: Vec<f64> = (0..k * d).map(|_| centre + rng.random_range(-1.0..1.0)).collect();
    let p: Vec<f64> = match covariance_type {
        CovarianceType::Spherical => {
            (0..k).flat_map(|_| vec![rng.random_range(factors.clone()); d]).collect()
        }
        _ => (0..k * d).map(|_| rng.random_range(factors.clone())).collect(),
    };
    let device = device_from_name("cpu").unwrap();
    let layer = FullGmm::from_parts(&means, &p, weights, &config(k, covariance_type), &device);
    (layer, means, p)
}
