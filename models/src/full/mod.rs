//! The Gaussian GMM (models.md §2) with full, tied, diagonal or spherical covariances, computed through precision Cholesky factors: its
//! config, the Burn module, the E-step's products cut into blocks, the sufficient statistics
//! and per-component M-step, the [`crate::Mixture`] hooks and sampling.

mod blocks;
mod config;
mod covariance;
mod density;
mod diagonal;
mod diagonal_kernels;
mod fused;
mod hooks;
mod host_distances;
mod impute;
mod m_step;
mod missing;
mod model;
mod moments;
mod recentre;
mod sample;
mod small_cholesky;
#[cfg(test)]
mod test_layers;
mod tied;

pub use blocks::{GROUP_BUDGET, HOST_ROWS, TRIANGLE_BLOCK};
pub use config::{EmptyPolicy, FullGmmConfig};
pub use covariance::CovarianceType;
pub use impute::{Draws, check_missing_rows};
pub use missing::noisy::{NoisyGaussians, NoisyScratch};
pub use model::{FullGmm, RESP_FLOOR};
pub use moments::FullStats;
