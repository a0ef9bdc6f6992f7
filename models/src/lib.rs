//! The layers of the zoo: Gaussian mixtures as Burn modules with EM hooks.
//!
//! Every family implements [`Mixture`], the hooks that the one EM driver (in `gmm-training`)
//! calls, in the spirit of scikit-learn's `BaseMixture`: per-component log-likelihoods, log
//! weights, sufficient statistics accumulated batch by batch, and an M-step.

mod conv;
mod conv_host;
mod deep;
mod deep_m_step;
pub mod deep_search;
mod device;
mod error;
pub mod filters;
mod full;
mod full_density;
mod full_moments;
#[cfg(feature = "wgpu")]
mod gpu;
pub mod host;
pub mod kmeans;
pub mod linalg;
mod mixture;
mod prob;
pub mod processes;
mod sample;
pub mod spectral;

pub use conv::{ConvGmm, ConvGmmConfig, ConvStats, stationary_affine};
pub use conv_host::CONV_HOST_ROWS;
pub use deep::{DeepGmm, DeepGmmConfig, MAX_PATHS, PathAssignment, path_nodes};
pub use deep_m_step::NodeParams;
pub use device::{DEFAULT_DEVICE, compiled_devices, device_description, device_from_name, is_cpu};
pub use error::ModelError;
pub use full::{EmptyPolicy, FullGmm, FullGmmConfig, RESP_FLOOR};
pub use full_density::{GROUP_BUDGET, HOST_ROWS, TRIANGLE_BLOCK};
pub use full_moments::FullStats;
#[cfg(feature = "wgpu")]
pub use gpu::list_adapters;
pub use mixture::{
    Ascent, BatchTerms, EStepRows, Encoded, Init, MStepReport, Mixture, NEGLIGIBLE_LOG_RATIO,
    SufficientStats, complete_stats, default_e_step_batch, default_e_step_rows,
    init_random_responsibilities, log_sum_exp, renormalised_log_weights, responsibilities,
    row_argmax, select_rows, to_host_f64,
};
pub use prob::{ProbGmm, ProbGmmConfig, SIMPLEX_TOLERANCE, helmert_basis};
pub use processes::Part;
pub use sample::Generative;
pub use spectral::SpectralLayout;

/// Burn's tensor and device types, re-exported so that callers need not name `burn` paths.
pub use burn::tensor::{Device, Tensor, TensorData};
