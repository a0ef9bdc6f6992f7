//! The scoring commands: `gmmzoo eval` (a run's splits, as JSON), `gmmzoo score` (per-row
//! scores of any input) and `gmmzoo ensemble` (the mixture of several runs' densities).

use crate::cli::{Common, SplitArg, SymmetryArg};
use crate::options;
use anyhow::{Context, Result};
use gmm_zoo::experiments::scoring::{ScoreInput, score_ensemble, score_stream, score_to_csv};
use gmm_zoo::experiments::zoo;
use gmm_zoo::training::config::Split;
use gmm_zoo::training::em::MeanLogLikelihood;
use gmm_zoo::training::evaluate_run;
use gmm_zoo::training::metrics::Score;
use std::path::{Path, PathBuf};

/// `gmmzoo score`: new rows scored by a trained run, summarised, or written to a CSV file.
pub(crate) fn score(
    run: &Path,
    input: &str,
    out: Option<PathBuf>,
    (layer, symmetry, responsibilities): (usize, SymmetryArg, bool),
    common: &Common,
) -> Result<()> {
    let opts = options(common, PathBuf::new())?;
    let layer = (layer, symmetry.group());
    let input = ScoreInput::parse(input);
    let summary = match &out {
        Some(out) => score_to_csv(run, &input, layer, responsibilities, &opts, out),
        None => score_stream(run, &input, layer, responsibilities, &opts, &mut |_, _| Ok(())),
    }
    .with_context(|| format!("scoring with {}", run.display()))?;
    print!("{summary}");
    if let Some(out) = out {
        println!("wrote {} rows to {}", summary.rows(), out.display());
    }
    Ok(())
}

/// `gmmzoo ensemble`: the mixture of the runs' densities scored on `input`, as JSON.
pub(crate) fn ensemble(
    input: &str,
    runs: &[PathBuf],
    weights_from: &Option<String>,
    (layer, symmetry): (usize, SymmetryArg),
    common: &Common,
) -> Result<()> {
    let opts = options(common, PathBuf::new())?;
    let layer = (layer, symmetry.group());
    let weights_from = weights_from.as_deref();
    let from = weights_from.map(ScoreInput::parse);
    let scored = score_ensemble(runs, &ScoreInput::parse(input), from.as_ref(), layer, &opts)
        .context("scoring the ensemble")?;
    let score = |s: &MeanLogLikelihood| serde_json::json!({"nats_per_sample": s.mean, "standard_error": s.standard_error});
    let members: Vec<_> = scored
        .members
        .iter()
        .map(|m| {
            let mut v = score(&m.score);
            v["run"] = m.run.display().to_string().into();
            v["weight"] = m.weight.into();
            v
        })
        .collect();
    let mut out = score(&scored.score);
    out["input"] = input.into();
    out["n"] = scored.score.n.into();
    out["weights_from"] = weights_from.map_or(serde_json::Value::Null, Into::into);
    out["symmetry"] = layer.1.name().into();
    out["members"] = members.into();
    println!("{out}");
    Ok(())
}

/// Prints the first layer's score on the data as JSON, with every layer's for a stack.
pub(crate) fn eval(run: &Path, split: SplitArg, common: &Common) -> Result<()> {
    let run = zoo::resolve_run(run)?;
    let opts = options(common, run.clone())?;
    let split = match split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
        SplitArg::Valid => Split::Valid,
    };
    let scores = evaluate_run(&run, split, &opts)
        .with_context(|| format!("evaluating {}", run.display()))?;
    let json = |s: &Score| serde_json::to_value(s).unwrap_or_default();
    let mut out = json(&scores[0]);
    out["run"] = run.display().to_string().into();
    out["split"] = split.to_string().into();
    if scores.len() > 1 {
        out["layers"] = scores.iter().map(json).collect();
    }
    println!("{out}");
    Ok(())
}
