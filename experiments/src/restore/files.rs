//! `gmmzoo restore`: images restored under a trained run's prior, file by file, into an output
//! folder: `<stem>.png` (8-bit, or 16-bit), `<stem>.npy` (float32 gray levels),
//! `<stem>-compare.png` (the input beside the result) and, when every file is done,
//! `restore.json` (each file's figures).

use super::{Epll, PatchPrior, psnr, restore, ssim};
use crate::zoo::resolve_run;
use gmm_datasets::{Grayscale, ImageSet};
use gmm_models::Device;
use gmm_training::folder::{layer_dir, write_json, write_png};
use gmm_training::{Progress, RunConfig, SavedLayer, TrainError};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to restore and how.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The prior: a run folder or a shipped checkpoint's name (its first layer).
    pub model: PathBuf,
    /// An image file, or a folder of them.
    pub input: PathBuf,
    /// A gray image of the input's size, 255 (above 127) where a pixel is missing.
    pub mask: Option<PathBuf>,
    /// The clean image, for PSNR and SSIM (one input file).
    pub clean: Option<PathBuf>,
    /// Adds white Gaussian noise of `sigma` from this seed to each input first (which is then
    /// also the clean reference): an experiment's noisy images.
    pub noise_seed: Option<u64>,
    /// The restoration's settings.
    pub epll: Epll,
    /// Writes `<stem>.png` with 16 bits.
    pub sixteen_bit: bool,
    /// The output folder.
    pub out: PathBuf,
}

/// One restored file's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    /// The input file.
    pub file: PathBuf,
    /// Height and width.
    pub size: [usize; 2],
    /// PSNR (dB) of the input and of the result against the clean image, where known.
    pub psnr: Option<[f64; 2]>,
    /// SSIM of the input and of the result against the clean image, where known.
    pub ssim: Option<[f64; 2]>,
    /// Wall seconds of the restoration.
    pub seconds: f64,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}×{}): {:.2} s",
            self.file.display(),
            self.size[0],
            self.size[1],
            self.seconds
        )?;
        if let (Some(p), Some(s)) = (self.psnr, self.ssim) {
            write!(f, ", PSNR {:.2} → {:.2} dB, SSIM {:.4} → {:.4}", p[0], p[1], s[0], s[1])?;
        }
        Ok(())
    }
}

/// The prior of a run's first layer.
pub fn load_prior(model: &Path, device: &Device) -> Result<PatchPrior, TrainError> {
    let run = resolve_run(model)?;
    let config = RunConfig::load(&run.join("config.toml"))?;
    let (saved, layer) = SavedLayer::load(&layer_dir(&run, 0, config.stack().len()), device)?;
    let dims = saved.input_shape[0] * saved.input_shape[1];
    PatchPrior::of_layer(&layer, &config.data, dims).map_err(|e| TrainError::file(&run, e))
}

/// An image file as gray levels (colour by Rec. 601, as the BSDS300 benchmark's), with its
/// height and width.
fn gray_levels(path: &Path) -> Result<(Vec<f64>, usize, usize), TrainError> {
    let set =
        ImageSet::from_files(vec![path.to_path_buf()], path.to_path_buf(), Grayscale::Rec601)?;
    let image = &set.images[0];
    Ok((image.pixels.iter().map(|&v| f64::from(v) * 255.0).collect(), image.height, image.width))
}

/// Restores every image of the request into its output folder.
pub fn restore_files(
    request: &RestoreRequest,
    device: &Device,
    progress: &Progress,
) -> Result<Vec<Restored>, TrainError> {
    let prior = load_prior(&request.model, device)?;
    let files = match request.input.is_dir() {
        true => ImageSet::files_in(&request.input)?,
        false => vec![request.input.clone()],
    };
    if files.len() > 1 && (request.clean.is_some() || request.mask.is_some()) {
        let what = if request.clean.is_some() { "--clean" } else { "--mask" };
        return Err(TrainError::file(
            &request.input,
            format!("is a folder: {what} takes one input image"),
        ));
    }
    gmm_training::folder::create_dir(&request.out)?;
    let mut done = Vec::new();
    for file in &files {
        done.push(restore_one(&prior, request, file, progress)?);
    }
    write_json(&request.out.join("restore.json"), &done)?;
    Ok(done)
}

fn restore_one(
    prior: &PatchPrior,
    request: &RestoreRequest,
    file: &Path,
    progress: &Progress,
) -> Result<Restored, TrainError> {
    let (mut image, h, w) = gray_levels(file)?;
    let mut clean = None;
    if let Some(seed) = request.noise_seed {
        clean = Some(image.clone());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, request.epll.sigma.max(0.0))
            .map_err(|e| TrainError::Failed(e.to_string()))?;
        image.iter_mut().for_each(|v| *v += noise.sample(&mut rng));
    }
    if let Some(path) = &request.clean {
        let (c, ch, cw) = gray_levels(path)?;
        if (ch, cw) != (h, w) {
            return Err(TrainError::file(path, format!("is {ch}×{cw}, the input {h}×{w}")));
        }
        clean = Some(c);
    }
    if let Some(path) = &request.mask {
        let (mask, mh, mw) = gray_levels(path)?;
        if (mh, mw) != (h, w) {
            return Err(TrainError::file(path, format!("is a {mh}×{mw} mask for a {h}×{w} image")));
        }
        image.iter_mut().zip(&mask).filter(|(_, m)| **m > 127.5).for_each(|(v, _)| *v = f64::NAN);
    }
    let start = Instant::now();
    let bar = progress.bar(request.epll.betas.len() as u64, "restoring");
    let result = restore(prior, &image, (h, w), &request.epll, &mut |_| bar.inc(1))
        .map_err(|e| TrainError::file(file, e))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    // What was seen: the noisy input, a missing pixel black.
    let seen: Vec<f64> =
        image.iter().map(|v| if v.is_finite() { v.clamp(0.0, 255.0) } else { 0.0 }).collect();
    write_outputs(request, file, &seen, &result, (h, w))?;
    let figures = clean.as_ref().map(|c| {
        let out: Vec<f64> = result.iter().map(|v| v.clamp(0.0, 255.0)).collect();
        ([psnr(&seen, c), psnr(&out, c)], [ssim(&seen, c, (h, w)), ssim(&out, c, (h, w))])
    });
    Ok(Restored {
        file: file.to_path_buf(),
        size: [h, w],
        psnr: figures.map(|f| f.0),
        ssim: figures.map(|f| f.1),
        seconds,
    })
}

/// `<stem>.png`, `<stem>.npy` and `<stem>-compare.png` in the output folder.
fn write_outputs(
    request: &RestoreRequest,
    file: &Path,
    input: &[f64],
    result: &[f64],
    (h, w): (usize, usize),
) -> Result<(), TrainError> {
    let stem = file.file_stem().unwrap_or(file.as_os_str()).to_string_lossy().into_owned();
    let path = |suffix: &str| request.out.join(format!("{stem}{suffix}"));
    let level = |v: f64| v.clamp(0.0, 255.0);
    let bad = |p: PathBuf| move |e: image::ImageError| TrainError::file(&p, e);
    match request.sixteen_bit {
        true => {
            let values = result.iter().map(|&v| (level(v) * 257.0).round() as u16).collect();
            let img = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(
                w as u32, h as u32, values,
            )
            .expect("h × w values");
            img.save(path(".png")).map_err(bad(path(".png")))?;
        }
        false => {
            let values = result.iter().map(|&v| level(v).round() as u8).collect();
            let img = image::GrayImage::from_raw(w as u32, h as u32, values).expect("h × w values");
            img.save(path(".png")).map_err(bad(path(".png")))?;
        }
    }
    let npy = path(".npy");
    let file = std::fs::File::create(&npy).map_err(|e| TrainError::file(&npy, e))?;
    use npyz::WriterBuilder;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[h as u64, w as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(|e| TrainError::file(&npy, e))?;
    writer.extend(result.iter().map(|&v| v as f32)).map_err(|e| TrainError::file(&npy, e))?;
    writer.finish().map_err(|e| TrainError::file(&npy, e))?;
    let gap = 4;
    let mut pair =
        image::RgbImage::from_pixel((2 * w + gap) as u32, h as u32, image::Rgb([255; 3]));
    for (offset, values) in [(0, input), (w + gap, result)] {
        for i in 0..h {
            for j in 0..w {
                let g = level(values[i * w + j]).round() as u8;
                pair.put_pixel((offset + j) as u32, i as u32, image::Rgb([g; 3]));
            }
        }
    }
    write_png(&pair, &path("-compare.png"))
}
