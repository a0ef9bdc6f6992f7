//! `gmmzoo restore`: images restored under a trained run's prior, file by file, into an output
//! folder: `<stem>.png` (8-bit, or 16-bit; colour for a colour input), `<stem>.npy` (float32
//! gray levels, `[h, w]` or `[h, w, 3]`),
//! `<stem>-compare.png` (the input beside the result) and, when every file is done,
//! `restore.json` (each file's figures).

use super::picture::{Picture, restore_picture};
use super::{Epll, PatchPrior, psnr, ssim};
use crate::zoo::resolve_run;
use gmm_datasets::ImageSet;
use gmm_models::Device;
use gmm_training::folder::{layer_dir, write_json};
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
    /// Whether `epll.betas` were given (`--betas`); when not, an input whose own values mark
    /// missing pixels (NaN in a `.npy`) takes the inpainting schedule, as a `--mask` does.
    pub custom_betas: bool,
    /// Reads colour images as gray (Rec. 601) instead of restoring them in colour.
    pub gray: bool,
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

/// The picture to restore (noise added with `--noise-seed`, NaN where `--mask` says a pixel is
/// missing) and the clean reference, where there is one.
fn inputs(request: &RestoreRequest, file: &Path) -> Result<(Picture, Option<Picture>), TrainError> {
    let read = |path: &Path| match request.gray && !Picture::is_array(path) {
        true => Picture::gray(path),
        false => Picture::read(path),
    };
    let mut image = read(file)?;
    let (h, w) = image.size();
    let mut clean = None;
    if let Some(seed) = request.noise_seed {
        clean = Some(image.clone());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, request.epll.sigma.max(0.0))
            .map_err(|e| TrainError::Failed(e.to_string()))?;
        image.channels.iter_mut().flatten().for_each(|v| *v += noise.sample(&mut rng));
    }
    if let Some(path) = &request.clean {
        let c = read(path)?;
        if (c.size(), c.channels.len()) != ((h, w), image.channels.len()) {
            let (ch, cw) = c.size();
            let (cn, n) = (c.channels.len(), image.channels.len());
            return Err(TrainError::file(
                path,
                format!("is {ch}×{cw} with {cn} channel(s), the input {h}×{w} with {n}"),
            ));
        }
        clean = Some(c);
    }
    if let Some(path) = &request.mask {
        let mask = Picture::gray(path)?;
        let (mh, mw) = mask.size();
        if (mh, mw) != (h, w) {
            return Err(TrainError::file(path, format!("is a {mh}×{mw} mask for a {h}×{w} image")));
        }
        for channel in &mut image.channels {
            let missing = mask.channels[0].iter().map(|m| *m > 127.5);
            channel.iter_mut().zip(missing).filter(|(_, m)| *m).for_each(|(v, _)| *v = f64::NAN);
        }
    }
    Ok((image, clean))
}

fn restore_one(
    prior: &PatchPrior,
    request: &RestoreRequest,
    file: &Path,
    progress: &Progress,
) -> Result<Restored, TrainError> {
    let (image, clean) = inputs(request, file)?;
    let (h, w) = image.size();
    let mut epll = request.epll.clone();
    let holes = image.channels.iter().flatten().any(|v| v.is_nan());
    if holes && request.mask.is_none() && !request.custom_betas {
        epll.betas = Epll::inpainting(epll.sigma, epll.start).betas;
    }
    let start = Instant::now();
    let passes = epll.betas.len() * image.channels.len();
    let bar = progress.bar(passes as u64, "restoring");
    let result = restore_picture(prior, &image, &epll, &mut |_| bar.inc(1))
        .map_err(|e| TrainError::file(file, e))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    // What was seen: the noisy input, a missing pixel black.
    let seen = Picture {
        channels: image
            .channels
            .iter()
            .map(|c| {
                c.iter().map(|v| if v.is_finite() { v.clamp(0.0, 255.0) } else { 0.0 }).collect()
            })
            .collect(),
        ..image
    };
    write_outputs(request, file, &seen, &result)?;
    let figures = clean.as_ref().map(|c| quality(&seen, &result, c));
    Ok(Restored {
        file: file.to_path_buf(),
        size: [h, w],
        psnr: figures.map(|f| f.0),
        ssim: figures.map(|f| f.1),
        seconds,
    })
}

/// PSNR (over every value of every channel) and SSIM (the channels' mean) of the input and of
/// the result against the clean picture.
fn quality(seen: &Picture, result: &Picture, clean: &Picture) -> ([f64; 2], [f64; 2]) {
    let size = clean.size();
    let all = |p: &Picture| -> Vec<f64> { p.channels.concat() };
    let out = Picture {
        channels: result
            .channels
            .iter()
            .map(|c| c.iter().map(|v| v.clamp(0.0, 255.0)).collect())
            .collect(),
        ..result.clone()
    };
    let mean_ssim = |p: &Picture| {
        let n = p.channels.len() as f64;
        p.channels.iter().zip(&clean.channels).map(|(x, c)| ssim(x, c, size)).sum::<f64>() / n
    };
    let c = all(clean);
    ([psnr(&all(seen), &c), psnr(&all(&out), &c)], [mean_ssim(seen), mean_ssim(&out)])
}

/// `<stem>.png`, `<stem>.npy` and `<stem>-compare.png` in the output folder.
fn write_outputs(
    request: &RestoreRequest,
    file: &Path,
    input: &Picture,
    result: &Picture,
) -> Result<(), TrainError> {
    let stem = file.file_stem().unwrap_or(file.as_os_str()).to_string_lossy().into_owned();
    let path = |suffix: &str| request.out.join(format!("{stem}{suffix}"));
    result.save_png(&path(".png"), request.sixteen_bit)?;
    result.save_npy(&path(".npy"))?;
    input.save_pair(result, &path("-compare.png"))
}
