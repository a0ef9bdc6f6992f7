//! Ensembles (`gmmzoo ensemble`): the mixture of several runs' densities, scored row by row
//! against the members' own scores; weights fitted on validation rows; runs that draw other rows
//! refused.

mod common;

use common::runs::{run, write_config};
use common::sample_root;
use gmm_zoo::datasets::bsds300::Augment;
use gmm_zoo::experiments::scoring::{ScoreInput, score_ensemble, score_stream};
use gmm_zoo::training::RunOptions;
use gmm_zoo::training::config::Split;
use std::path::{Path, PathBuf};

/// Trains a full GMM of `k` components on the sample's benchmark rows (seed `seed`).
fn trained(dir: &Path, name: &str, k: usize, seed: u64) -> PathBuf {
    let text = format!(
        "name = \"{name}\"\nseed = {seed}\n[data]\ndataset = \"bsds300\"\nn_train = 3000\nn_valid \
         = 1000\nn_test = 800\n[model]\nkind = \"full\"\nn_components = {k}\n[em]\nmax_iter = 6\n\
         init = \"kmeans++\"\n"
    );
    let config = write_config(dir, &format!("{name}.toml"), &text);
    let out = dir.join(name);
    let done = run(&config, &out, &[]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    out
}

fn rows(run: &Path, split: Split, opts: &RunOptions) -> Vec<f64> {
    let mut all = Vec::new();
    score_stream(
        run,
        &ScoreInput::Split(split),
        (0, Augment::None),
        false,
        opts,
        &mut |_, scores| {
            all.extend(scores.iter().map(|s| s.log_likelihood));
            Ok(())
        },
    )
    .unwrap();
    all
}

#[test]
fn an_ensemble_is_the_mixture_of_its_members_densities() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (trained(dir.path(), "a", 2, 5), trained(dir.path(), "b", 6, 5));
    let opts: RunOptions = common::sample_options(dir.path());
    let test = ScoreInput::Split(Split::Test);
    let (la, lb) = (rows(&a, Split::Test, &opts), rows(&b, Split::Test, &opts));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;

    // A run mixed with itself is that run.
    let same =
        score_ensemble(&[a.clone(), a.clone()], &test, None, (0, Augment::None), &opts).unwrap();
    assert!((same.score.mean - mean(&la)).abs() < 1e-9);
    assert_eq!(same.score.n, 800);

    // Equal weights: log(½ p_a + ½ p_b), row by row.
    let both =
        score_ensemble(&[a.clone(), b.clone()], &test, None, (0, Augment::None), &opts).unwrap();
    let want: Vec<f64> = la
        .iter()
        .zip(&lb)
        .map(|(x, y)| {
            let top = x.max(*y);
            top + (0.5 * ((x - top).exp() + (y - top).exp())).ln()
        })
        .collect();
    assert!((both.score.mean - mean(&want)).abs() < 1e-9, "{} {}", both.score.mean, mean(&want));
    assert_eq!(both.members.iter().map(|m| m.weight).collect::<Vec<_>>(), [0.5, 0.5]);
    assert!((both.members[1].score.mean - mean(&lb)).abs() < 1e-12);

    // Weights fitted on the validation rows sum to one and score them at least as well.
    let valid = ScoreInput::Split(Split::Valid);
    let fitted =
        score_ensemble(&[a.clone(), b.clone()], &valid, Some(&valid), (0, Augment::None), &opts)
            .unwrap();
    let equal =
        score_ensemble(&[a.clone(), b.clone()], &valid, None, (0, Augment::None), &opts).unwrap();
    let w: Vec<f64> = fitted.members.iter().map(|m| m.weight).collect();
    assert!((w[0] + w[1] - 1.0).abs() < 1e-12 && w[0] > 0.0 && w[1] > 0.0, "{w:?}");
    assert!(fitted.score.mean >= equal.score.mean, "{w:?}");
    assert_ne!(w, [0.5, 0.5]);

    // Runs that draw other test rows (another seed) cannot be mixed row by row.
    let other = trained(dir.path(), "c", 2, 6);
    let err = score_ensemble(&[a, other], &test, None, (0, Augment::None), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("draws other test rows"), "{err}");
}

#[test]
fn the_command_prints_the_ensemble_and_its_members_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (trained(dir.path(), "a", 2, 5), trained(dir.path(), "b", 3, 5));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["ensemble", "test"])
        .args([&a, &b])
        .args(["--weights-from", "valid", "--quiet", "--data-dir"])
        .arg(sample_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["n"], 800);
    assert_eq!(json["weights_from"], "valid");
    assert_eq!(json["members"].as_array().unwrap().len(), 2);
    assert!(json["standard_error"].as_f64().unwrap() > 0.0);
    let one = std::process::Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["ensemble", "test"])
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(2), "clap refuses a single run");
}
