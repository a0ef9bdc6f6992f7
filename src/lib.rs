//! gmm-zoo: deep and convolutional Gaussian mixture models on Burn.
//!
//! - [`models`]: the layers (convolutional GMM, …) and the [`models::Mixture`] hooks;
//! - [`training`]: the engine: the one EM driver, the families' dispatch point, run configs,
//!   checkpoints, run folders and pictures;
//! - [`experiments`]: classifiers, fine-tuning, top-down refinement, sampling, scoring new
//!   data, inspection, the zoo;
//! - [`datasets`]: MNIST IDX files, BSDS300 patches, and the user's own image folders and
//!   `.npy` / `.csv` arrays.
//!
//! The `gmmzoo` binary is a thin command line over these; `examples/` has three programs
//! (a conv GMM on your own image folder, a shipped checkpoint scored and sampled, a two-layer
//! stack built in code).
//!
//! # A full-covariance GMM in a few lines
//!
//! Two well-separated clusters in the plane; EM from k-means (Lloyd's iterations from
//! k-means++ seeds) finds their weights:
//!
//! ```
//! use gmm_zoo::models::{
//!     CovarianceType, DEFAULT_DEVICE, EmptyPolicy, Encoded, FullGmmConfig, Init, Mixture, device_from_name,
//! };
//! use gmm_zoo::training::{EmConfig, Progress, fit};
//!
//! let device = device_from_name(DEFAULT_DEVICE).unwrap();
//! // 300 points near (-5, 0) and 100 near (5, 0), as rows [x, y].
//! let rows: Vec<f32> = (0..400)
//!     .flat_map(|i| {
//!         let wobble = ((i * 37 % 101) as f32 / 101.0 - 0.5, (i * 53 % 97) as f32 / 97.0 - 0.5);
//!         let centre = if i < 300 { -5.0 } else { 5.0 };
//!         [centre + wobble.0, wobble.1]
//!     })
//!     .collect();
//! let data = Encoded::from_rows(&rows, 2, 128, &device);
//!
//! let config = FullGmmConfig {
//!     n_components: 2,
//!     zero_mean: false,
//!     reg_covar: 1e-6,
//!     empty_components: EmptyPolicy::Keep,
//!     covariance_type: CovarianceType::Full,
//! };
//! let em = EmConfig { init: Init::Kmeans, ..EmConfig::iterations(20) };
//! let layer = config.init(2, &device).unwrap();
//! let (gmm, report) = fit(layer, &data, &em, 7, &Progress::quiet()).unwrap();
//!
//! let mut weights = gmm.weights().unwrap();
//! weights.sort_by(f64::total_cmp);
//! assert!((weights[0] - 0.25).abs() < 1e-3 && (weights[1] - 0.75).abs() < 1e-3);
//! // EM never lowers the log-likelihood (up to f32 rounding).
//! let lls = report.lower_bounds();
//! assert!(lls.windows(2).all(|w| w[1] >= w[0] - 1e-4));
//! ```

pub use gmm_datasets as datasets;
pub use gmm_experiments as experiments;
pub use gmm_models as models;
pub use gmm_training as training;

pub mod bench;
pub mod bench_export;
