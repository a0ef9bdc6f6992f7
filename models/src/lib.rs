//! The layers of the zoo: Gaussian mixtures as Burn modules with EM hooks.
//!
//! Every family implements [`Mixture`], the hooks that the one EM driver (in `gmm-training`)
//! calls, in the spirit of scikit-learn's `BaseMixture`: per-component log-likelihoods, log
//! weights, sufficient statistics accumulated batch by batch, and an M-step. Each family lives
//! in its folder (`conv/`, `full/`, `prob/`, `deep/`); the pieces they share sit beside them
//! and import nothing from a family but what they are about (the full GMM, which the prob and
//! deep families build on). This file only declares and re-exports, for users of the crate.

mod conv;
mod deep;
mod device;
mod encoded;
mod error;
pub mod factor_groups;
pub mod filters;
mod full;
mod generative;
pub mod host;
pub mod kmeans;
pub mod lane_kernels;
pub mod linalg;
mod mixture;
pub mod pages;
mod prob;
pub mod processes;
mod readback;
mod row_weights;
pub mod spectral;

pub use conv::{CONV_HOST_ROWS, ConvGmm, ConvGmmConfig, ConvStats, stationary_affine};
pub use deep::search as deep_search;
pub use deep::{DeepGmm, DeepGmmConfig, MAX_PATHS, NodeParams, PathAssignment, path_nodes};
#[cfg(feature = "wgpu")]
pub use device::list_adapters;
pub use device::{DEFAULT_DEVICE, compiled_devices, device_description, device_from_name, is_cpu};
pub use encoded::{Encoded, RowSource};
pub use error::ModelError;
pub use full::{
    CovarianceType, Draws, EmptyPolicy, FullGmm, FullGmmConfig, FullStats, GROUP_BUDGET, HOST_ROWS,
    NoisyGaussians, NoisyScratch, RESP_FLOOR, TRIANGLE_BLOCK, check_missing_rows,
};
pub use generative::Generative;
pub use host::{NEGLIGIBLE_LOG_RATIO, renormalised_log_weights};
pub use mixture::{
    Ascent, BatchTerms, EStepRows, Init, MStepReport, Mixture, SufficientStats, complete_stats,
    default_e_step_batch, default_e_step_rows, init_random_responsibilities, log_sum_exp,
    responsibilities, weighted_e_step_batch,
};
pub use prob::{ProbGmm, ProbGmmConfig, SIMPLEX_TOLERANCE, helmert_basis};
pub use processes::Part;
pub use readback::{row_argmax, select_rows, to_host_f64};
pub use row_weights::{unit_mean_weights, unless_uniform};
pub use spectral::SpectralLayout;

/// Burn's tensor and device types, re-exported so that callers need not name `burn` paths.
pub use burn::tensor::{Device, Tensor, TensorData};
