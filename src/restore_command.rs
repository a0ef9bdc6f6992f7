//! `gmmzoo restore`: images restored under a trained patch prior (EPLL), from the command line.

use crate::cli::Common;
use crate::{claim_output, options};
use anyhow::Result;
use gmm_zoo::experiments::restore::{Epll, PatchStep, RestoreRequest, restore_files};
use std::path::PathBuf;

/// The patch step's estimate.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum PatchStepArg {
    /// The Wiener estimate under the patch's most likely component (EPLL's)
    MostLikely,
    /// The posterior-weighted Wiener estimates of every component
    Posterior,
}

/// Arguments of `gmmzoo restore`.
#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// The prior: a run folder or a checkpoint name of a layer trained on image patches (e.g.
    /// bsds300_full200_kmeans)
    model: PathBuf,
    /// An image file, or a folder of images (colour is made gray by Rec. 601)
    input: PathBuf,
    /// The noise's standard deviation, in gray levels (0–255)
    #[arg(long)]
    sigma: f64,
    /// A gray image of the input's size: 255 where a pixel is missing, 0 where it is known
    #[arg(long)]
    mask: Option<PathBuf>,
    /// The clean image: PSNR and SSIM of the input and the result against it
    #[arg(long)]
    clean: Option<PathBuf>,
    /// Add white Gaussian noise of --sigma from this seed to each input first (each input is
    /// then its own clean reference)
    #[arg(long)]
    noise_seed: Option<u64>,
    /// The splitting's schedule, β_j = c_j/σ², one pass each [default: 1,4,8,16,32; with
    /// --mask, c_j from (σ/50)² doubling to 32]
    #[arg(long, value_delimiter = ',')]
    betas: Option<Vec<f64>>,
    /// The patch step's estimate
    #[arg(long, value_enum, default_value = "most-likely")]
    patch_step: PatchStepArg,
    /// Write <stem>.png with 16 bits per pixel
    #[arg(long)]
    sixteen_bit: bool,
    /// Output folder [default: restored/]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the restoration the folder holds (refused otherwise)
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    common: Common,
}

/// `gmmzoo restore …`: every image restored, one line each, then the mean PSNR where known.
pub(crate) fn run(args: &RestoreArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("restored"));
    let opts = options(&args.common, out.clone())?;
    let step = match args.patch_step {
        PatchStepArg::MostLikely => PatchStep::MostLikely,
        PatchStepArg::Posterior => PatchStep::Posterior,
    };
    let schedule = match args.mask {
        Some(_) => Epll::inpainting(args.sigma),
        None => Epll::new(args.sigma),
    };
    let betas = args.betas.clone().unwrap_or(schedule.betas);
    let epll = Epll { sigma: args.sigma, betas, step };
    let request = RestoreRequest {
        model: args.model.clone(),
        input: args.input.clone(),
        mask: args.mask.clone(),
        clean: args.clean.clone(),
        noise_seed: args.noise_seed,
        epll,
        sixteen_bit: args.sixteen_bit,
        out: out.clone(),
    };
    let _claim = claim_output(&out, "restoration", "restore.json", args.overwrite)?;
    let done = restore_files(&request, &opts.device, &opts.progress)?;
    for r in &done {
        println!("{r}");
    }
    let known: Vec<[f64; 2]> = done.iter().filter_map(|r| r.psnr).collect();
    if known.len() > 1 {
        let mean = |i: usize| known.iter().map(|p| p[i]).sum::<f64>() / known.len() as f64;
        println!("mean PSNR over {} images: {:.2} → {:.2} dB", known.len(), mean(0), mean(1));
    }
    println!("wrote {}", out.display());
    Ok(())
}
