//! The command line's user-sized numbers, checked before anything is allocated or started: a
//! count with three zeros too many gets one sentence naming its flag, not an abort or a run
//! that never ends. (Config keys are checked when the config is read, and against the data
//! before a layer is built: `gmm_training::sizes`.)

use crate::cli::Command;
use anyhow::{Result, ensure};

/// Most restarts, iterations or steps a flag may ask for.
const MAX_STEPS: usize = 1_000_000;
/// Most values of K one `select` may try.
const MAX_CANDIDATES: usize = 256;

/// `value` of `flag` within `1..=max`.
fn within(flag: &str, value: usize, max: usize) -> Result<()> {
    ensure!((1..=max).contains(&value), "{flag} must be between 1 and {max}, got {value}");
    Ok(())
}

/// Checks the numbers of one command.
pub(crate) fn check(command: &Command) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    match command {
        Command::Classify { jobs: Some(jobs), .. } => within("--jobs", *jobs, 4 * cores)?,
        Command::Finetune { steps, batch, .. } => {
            within("--steps", *steps, MAX_STEPS)?;
            within("--batch", *batch, MAX_STEPS)?;
        }
        Command::Refine { iters, .. } => within("--iters", *iters, MAX_STEPS)?,
        Command::Select { components, .. } => {
            within("the number of --components", components.len(), MAX_CANDIDATES)?;
            for &k in components {
                ensure!(k >= 1, "--components must be at least 1 each, got {k}");
            }
        }
        Command::Bench(args) => {
            within("--iters", args.iters.unwrap_or(1), MAX_STEPS)?;
            within("--reps", args.reps, 10_000)?;
        }
        _ => {}
    }
    Ok(())
}
