//! Images restored under a trained patch prior: EPLL denoising and inpainting (Zoran & Weiss
//! 2011) with any layer whose density is a mixture of Gaussians over image patches.

mod conditional;
mod epll;
mod factor_cache;
mod files;
mod layer_prior;
mod map_step;
mod noisy_factors;
mod picture;
mod prior;
mod quality;
mod search;

pub use conditional::{MEAN_VARIANCE, conditional_start};
pub use epll::{DEFAULT_BETAS, Epll, INPAINTING_START, InpaintStart, denoise_patches, restore};
pub use files::{RestoreRequest, Restored, load_prior, restore_files};
pub use layer_prior::SCORED_PATHS;
pub use map_step::{PatchStep, patch_step};
pub use picture::{Picture, restore_picture};
pub use prior::{PatchPrior, PathSearch};
pub use quality::{psnr, ssim};
pub use search::RESTORE_BEAM;
