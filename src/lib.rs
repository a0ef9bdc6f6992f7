//! gmm-zoo: deep and convolutional Gaussian mixture models on Burn.
//!
//! - [`models`]: the layers (convolutional GMM, …) and the [`models::Mixture`] hooks;
//! - [`training`]: the one EM driver, run configs, run folders and pictures;
//! - [`datasets`]: MNIST IDX files and BSDS300 patches.
//!
//! The `gmmzoo` binary is a thin command line over these.

pub use gmm_datasets as datasets;
pub use gmm_models as models;
pub use gmm_training as training;

pub mod bench;
