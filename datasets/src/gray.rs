//! Decoded grayscale images: the BSDS300 folders and any folder of the user's own pictures.

use crate::DataError;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// One grayscale image in `[0, 1]`, row-major.
#[derive(Debug, Clone)]
pub struct GrayImage {
    /// Pixel values.
    pub pixels: Vec<f32>,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

/// Images of possibly different sizes, decoded to gray, in file-name order.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// The decoded images.
    pub images: Vec<GrayImage>,
    /// The file of each image (empty for images built in memory).
    pub files: Vec<PathBuf>,
    /// The folder they came from (named in messages).
    pub dir: PathBuf,
}

/// How colour pixels become gray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grayscale {
    /// Rec. 709 luma of the sRGB values, as `f32` in `[0, 1]` (the write-up's patches).
    Rec709,
    /// 8-bit gray levels `round(0.299 R + 0.587 G + 0.114 B)` (Rec. 601, what MATLAB's
    /// `rgb2gray` and PIL's `convert("L")` give, hence the BSDS300 benchmark's), stored as
    /// `level / 255`.
    Rec601Levels,
    /// Rec. 601 `0.299 R + 0.587 G + 0.114 B` on the file's values scaled to `[0, 1]`, not
    /// rounded (16-bit files keep their precision): the user's own images.
    Rec601,
}

/// File endings decoded as images (TIFF too; the `image` crate decides what it can read).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

impl ImageSet {
    /// Loads every JPEG or PNG of `<root>/bsds300/<split>` as grayscale in `[0, 1]` (Rec. 709).
    pub fn load(root: &Path, split: &str) -> Result<Self, DataError> {
        Self::load_as(root, split, Grayscale::Rec709)
    }

    /// As [`load`](Self::load), with the grayscale conversion chosen.
    pub fn load_as(root: &Path, split: &str, gray: Grayscale) -> Result<Self, DataError> {
        let dir = root.join("bsds300").join(split);
        let missing = || DataError::Missing {
            what: format!("BSDS300 {split} images"),
            path: dir.clone(),
            hint: "put the BSDS300 JPEGs in bsds300/train and bsds300/test under the data \
                   root, or point --data-dir (or the GMM_ZOO_DATA variable) at such a folder"
                .into(),
        };
        let entries = std::fs::read_dir(&dir).map_err(|_| missing())?;
        let mut paths: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_image(p)).collect();
        if paths.is_empty() {
            return Err(missing());
        }
        paths.sort();
        Self::from_files(paths, dir, gray)
    }

    /// Every image file under `dir` (recursively; [`IMAGE_EXTENSIONS`]), sorted by path.
    pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
        if !dir.is_dir() {
            return Err(DataError::Missing {
                what: "image folder".into(),
                path: dir.to_path_buf(),
                hint: "data.train and data.test name folders of PNG, JPEG or TIFF files".into(),
            });
        }
        let mut paths = Vec::new();
        for entry in walkdir::WalkDir::new(dir).follow_links(true) {
            let entry = entry.map_err(|e| DataError::Io {
                path: e.path().unwrap_or(dir).to_path_buf(),
                error: e.into(),
            })?;
            if entry.file_type().is_file() && is_image(entry.path()) {
                paths.push(entry.into_path());
            }
        }
        if paths.is_empty() {
            return Err(DataError::Request(format!(
                "{} holds no image files (looked recursively for {})",
                dir.display(),
                IMAGE_EXTENSIONS.join(", ")
            )));
        }
        paths.sort();
        Ok(paths)
    }

    /// Decodes `files` (in parallel, kept in order) as grayscale in `[0, 1]`.
    pub fn from_files(
        files: Vec<PathBuf>,
        dir: PathBuf,
        gray: Grayscale,
    ) -> Result<Self, DataError> {
        let images = files.par_iter().map(|p| load_gray(p, gray)).collect::<Result<_, _>>()?;
        Ok(Self { images, files, dir })
    }

    /// The images as equally sized rows (no other processing); an error naming two files of
    /// different sizes when they are not all one size.
    pub fn whole_images(&self) -> Result<crate::Images, DataError> {
        let first = self
            .images
            .first()
            .ok_or_else(|| DataError::Request(format!("{} holds no images", self.dir.display())))?;
        let (h, w) = (first.height, first.width);
        if let Some(i) = self.images.iter().position(|im| (im.height, im.width) != (h, w)) {
            let name = |j: usize| {
                self.files.get(j).map_or(format!("image {j}"), |p| p.display().to_string())
            };
            return Err(DataError::Request(format!(
                "{} is {}x{} but {} is {h}x{w}: images of mixed sizes need data.patch_size",
                name(i),
                self.images[i].height,
                self.images[i].width,
                name(0)
            )));
        }
        let pixels = self.images.iter().flat_map(|im| im.pixels.iter().copied()).collect();
        Ok(crate::Images { pixels, height: h, width: w, labels: None, weights: None })
    }
}

/// Where a tile was cut: image index, top row, left column.
pub type TileOrigin = (usize, usize, usize);

impl ImageSet {
    /// Every non-overlapping P×P tile of every image (row-major within an image, images in
    /// order; a border narrower than P is left out), each with its mean subtracted when
    /// `centred` — the patches of [`crate::PatchSampler`] without the random draw or the
    /// `min_std` test, for scoring whole images patch by patch.
    pub fn tiles(&self, p: usize, centred: bool) -> (crate::Images, Vec<TileOrigin>) {
        let p = p.max(1);
        let mut pixels = Vec::new();
        let mut origins = Vec::new();
        for (i, im) in self.images.iter().enumerate() {
            for top in (0..im.height.saturating_sub(p - 1)).step_by(p) {
                for left in (0..im.width.saturating_sub(p - 1)).step_by(p) {
                    let start = pixels.len();
                    for r in 0..p {
                        let row = (top + r) * im.width + left;
                        pixels.extend_from_slice(&im.pixels[row..row + p]);
                    }
                    if centred {
                        center(&mut pixels[start..]);
                    }
                    origins.push((i, top, left));
                }
            }
        }
        (crate::Images { pixels, height: p, width: p, labels: None, weights: None }, origins)
    }
}

/// Subtracts the mean in place and returns the (population) standard deviation.
pub(crate) fn center(patch: &mut [f32]) -> Option<f32> {
    let n = patch.len() as f64;
    let mean = patch.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mut var = 0.0;
    for v in patch.iter_mut() {
        let c = *v as f64 - mean;
        var += c * c;
        *v = c as f32;
    }
    let std = (var / n).sqrt();
    std.is_finite().then_some(std as f32)
}

/// Decodes an image file to grayscale in `[0, 1]`.
fn load_gray(path: &Path, gray: Grayscale) -> Result<GrayImage, DataError> {
    let bad = |reason: String| DataError::BadImage { path: path.to_path_buf(), reason };
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::Io { path: path.to_path_buf(), error: e })?
        .with_guessed_format()
        .map_err(|e| DataError::Io { path: path.to_path_buf(), error: e })?;
    let decoded = reader.decode().map_err(|e| bad(e.to_string()))?;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let pixels = match gray {
        Grayscale::Rec601Levels => decoded
            .to_rgb8()
            .pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(f64::from);
                (0.299 * r + 0.587 * g + 0.114 * b).round() as f32 / 255.0
            })
            .collect(),
        Grayscale::Rec601 => decoded
            .to_rgb32f()
            .pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(f64::from);
                ((0.299 * r + 0.587 * g + 0.114 * b) as f32).clamp(0.0, 1.0)
            })
            .collect(),
        // The f32 luma weights can overshoot 1 by an ulp; the write-up's range is [0, 1].
        Grayscale::Rec709 => {
            decoded.to_luma32f().into_raw().into_iter().map(|v| v.clamp(0.0, 1.0)).collect()
        }
    };
    Ok(GrayImage { pixels, height, width })
}
