//! The convolutional GMM (models.md §1): zero-mean stationary Gaussians on the P×P torus,
//! diagonal in the 2-D Fourier domain. Its config, the Burn module and its affine density,
//! the statistics, the fused CPU E-step, the [`crate::Mixture`] hooks and sampling.

mod config;
mod cpu_e_step;
mod hooks;
mod model;
mod sample;
mod stats;

pub use config::ConvGmmConfig;
pub use cpu_e_step::CONV_HOST_ROWS;
pub use model::{ConvGmm, stationary_affine};
pub use stats::ConvStats;
