//! The full-covariance GMM (models.md §2), computed through precision Cholesky factors: its
//! config, the Burn module, the E-step's products cut into blocks, the sufficient statistics
//! and per-component M-step, the [`crate::Mixture`] hooks and sampling.

mod blocks;
mod config;
mod density;
mod hooks;
mod model;
mod moments;
mod sample;

pub use blocks::{GROUP_BUDGET, HOST_ROWS, TRIANGLE_BLOCK};
pub use config::{EmptyPolicy, FullGmmConfig};
pub use model::{FullGmm, RESP_FLOOR};
pub use moments::FullStats;
