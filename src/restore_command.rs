//! `gmmzoo restore`: images restored under a trained patch prior (EPLL), from the command line.

use crate::cli::{InpaintStartArg, PatchStepArg, RestoreArgs};
use crate::{claim_output, options};
use anyhow::Result;
use gmm_zoo::experiments::restore::{Epll, InpaintStart, PatchStep, RestoreRequest, restore_files};
use std::path::PathBuf;

/// `gmmzoo restore …`: every image restored, one line each, then the mean PSNR where known.
pub(crate) fn run(args: &RestoreArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("restored"));
    let opts = options(&args.common, out.clone())?;
    let step = match args.patch_step {
        PatchStepArg::MostLikely => PatchStep::MostLikely,
        PatchStepArg::Posterior => PatchStep::Posterior,
    };
    let start = match args.inpaint_start {
        InpaintStartArg::Conditional => InpaintStart::Conditional,
        InpaintStartArg::Fill => InpaintStart::Fill,
    };
    let schedule = match args.mask {
        Some(_) => Epll::inpainting(args.sigma, start),
        None => Epll::new(args.sigma),
    };
    let betas = args.betas.clone().unwrap_or(schedule.betas);
    let epll = Epll { sigma: args.sigma, betas, step, stride: args.stride, start };
    let request = RestoreRequest {
        model: args.model.clone(),
        input: args.input.clone(),
        mask: args.mask.clone(),
        clean: args.clean.clone(),
        noise_seed: args.noise_seed,
        epll,
        custom_betas: args.betas.is_some(),
        gray: args.gray,
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
