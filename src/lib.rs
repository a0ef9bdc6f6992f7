//! gmm-zoo: deep and convolutional Gaussian mixture models on Burn.
//!
//! - [`models`]: the layers (convolutional GMM, …) and the [`models::Mixture`] hooks;
//! - [`training`]: the engine: the one EM driver, the families' dispatch point, run configs,
//!   checkpoints, run folders and pictures;
//! - [`experiments`]: classifiers, fine-tuning, top-down refinement, sampling, inspection, the
//!   zoo;
//! - [`datasets`]: MNIST IDX files and BSDS300 patches.
//!
//! The `gmmzoo` binary is a thin command line over these.

pub use gmm_datasets as datasets;
pub use gmm_experiments as experiments;
pub use gmm_models as models;
pub use gmm_training as training;

pub mod bench;
