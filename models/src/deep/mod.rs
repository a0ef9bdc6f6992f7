//! The deep GMM of van den Oord & Schrauwen (NIPS 2014; models.md §7): a network of linear
//! transformations whose paths are the components of a Gaussian mixture.
//!
//! The E-step reuses the full-covariance GMM: the K = Π N_l path components are materialised
//! (mean `μ_p`, precision Cholesky factor of `Σ_p`) as a [`crate::FullGmm`] once per parameter
//! set (`network.rs`), and its log-densities and per-path sufficient statistics are used as they
//! are (`hooks.rs`). The M-step (`m_step.rs`) never touches the data: it raises the expected
//! complete-data log-likelihood over the node transformations by gradient steps. The hard
//! E-step's best path is found layer by layer ([`search`]). A network may start from a trained
//! full GMM or a narrower network (`widen.rs`).

mod config;
mod hooks;
mod host_search;
mod m_step;
mod network;
mod nodes;
mod objective;
mod quadratic;
mod sample;
pub mod search;
mod widen;

pub use config::{DeepGmmConfig, MAX_PATHS, PathAssignment};
pub use network::{DeepGmm, path_nodes};
pub use nodes::NodeParams;
