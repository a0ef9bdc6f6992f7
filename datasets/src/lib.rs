//! Datasets of the write-up — MNIST digits (IDX files) and BSDS300 natural-image patches — and
//! the user's own: a folder of images ([`ImageSet::files_in`]) or a feature matrix
//! ([`read_array`]).
//!
//! Everything here returns plain host buffers (`Vec<f32>`, row-major, one sample per row);
//! the models and the training driver decide where the numbers go next.
//!
//! Data live under one *data root*:
//!
//! ```text
//! <root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//! <root>/bsds300/{train,test}/*.jpg
//! ```
//!
//! The repository ships a small root at `data/sample` (a few thousand digits, a handful of
//! BSDS images); the full sets are found through `--data-dir` or [`DATA_DIR_ENV`].

mod array;
mod array_blocks;
mod bsds;
pub mod bsds300;
mod budget;
pub mod bundle;
mod error;
mod gray;
mod images;
mod mnist;
mod npy_rows;
mod root;
pub mod symmetry;

pub use array::{read_array, seeded_split, seeded_subset};
pub use array_blocks::ArrayBlocks;
pub use bsds::{PatchSampler, PatchSpec};
pub use budget::{check_f32_count, memory_budget};
pub use error::DataError;
pub use gray::{GrayImage, Grayscale, IMAGE_EXTENSIONS, ImageSet, TileOrigin};
pub use images::Images;
pub use mnist::{Mnist, MnistSplit, read_idx_images, read_idx_labels};
pub use npy_rows::NpyRows;
pub use root::{DATA_DIR_ENV, SAMPLE_DATA_DIR, resolve_data_root, sample_data_root};
