//! The probability-vector GMM (models.md §3): Gaussians on the simplex of the layer below's
//! normalised likelihoods, in an orthonormal basis of the sum-zero subspace.

mod config;
mod model;

pub use config::ProbGmmConfig;
pub use model::{ProbGmm, SIMPLEX_TOLERANCE, helmert_basis};
