//! Behaviours a changed line once left every other test green, pinned: a folder holding only
//! the stage folders of a killed staged run is unfinished (a plain `train` refuses it), a
//! checkpoint names the rows' sample weights (`--resume` with other weights is refused), and
//! the size check allows as many components as training rows.

mod common;

use common::runs::{command_on, kill_at, run, write_config};
use gmm_zoo::training::{RunConfig, sizes};

/// A full GMM on the sample's BSDS300 rows, long enough to be killed during its first stage,
/// then a deep GMM on it.
const STAGED: &str = r#"
name = "staged"
seed = 5
[data]
dataset = "bsds300"
n_train = 3000
n_test = 500
[model]
kind = "full"
n_components = 3
[em]
max_iter = 400
tol = 0.0
[checkpoint]
every = 1

[[stages]]
[stages.model]
kind = "deep"
nodes = [3, 2]
m_step_iters = 5
[stages.em]
max_iter = 2
"#;

#[test]
fn a_plain_train_refuses_a_folder_holding_a_killed_staged_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "staged.toml", STAGED);
    let out = dir.path().join("run");
    kill_at(&config, &out, &[], "", 3);
    assert!(out.join("stage0").is_dir() && !out.join("checkpoint.ckpt").exists());
    let before = std::fs::read(out.join("stage0/checkpoint.ckpt")).unwrap();
    let r = run(&config, &out, &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("unfinished") && err.contains("--resume"), "{err}");
    assert_eq!(std::fs::read(out.join("stage0/checkpoint.ckpt")).unwrap(), before);
}

/// Rows in two clusters and one weight per row, as CSV files.
fn weighted_rows(dir: &std::path::Path, weight_of_first_half: f32) -> (String, String) {
    let (n, d) = (20_000, 16);
    let rows: String = (0..n)
        .map(|i| {
            let row: Vec<String> = (0..d)
                .map(|j| (((i * 7 + j * 13) % 31) as f32 / 31.0 + (i % 2) as f32 * 3.0).to_string())
                .collect();
            row.join(",") + "\n"
        })
        .collect();
    let weights: String = (0..n)
        .map(|i| format!("{}\n", if i < n / 2 { weight_of_first_half } else { 1.0 }))
        .collect();
    std::fs::write(dir.join("rows.csv"), rows).unwrap();
    std::fs::write(dir.join("weights.csv"), weights).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    (path("rows.csv"), path("weights.csv"))
}

#[test]
fn resuming_with_other_sample_weights_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, weights) = weighted_rows(dir.path(), 2.0);
    let text = format!(
        "name = \"weighted\"\nseed = 1\n[data]\ndataset = \"array\"\ntrain = \"{rows}\"\n\
         weights = \"{weights}\"\n[model]\nkind = \"full\"\nn_components = 8\n[em]\n\
         max_iter = 2000\ntol = 0.0\n[checkpoint]\nevery = 1\n"
    );
    let config = write_config(dir.path(), "weighted.toml", &text);
    let out = dir.path().join("run");
    kill_at(&config, &out, &[], "", 2);
    let checkpoint = std::fs::read(out.join("checkpoint.ckpt")).unwrap();
    weighted_rows(dir.path(), 3.0); // the same rows, other weights
    let data = common::sample_root();
    let r = command_on(&data, &config, &out, &["--resume"]).output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("different training data"), "{err}");
    assert_eq!(std::fs::read(out.join("checkpoint.ckpt")).unwrap(), checkpoint);
}

#[test]
fn as_many_components_as_training_rows_pass_the_size_check_and_one_more_does_not() {
    for (model, key) in [
        ("kind = \"full\"\nn_components = 50", "model.n_components"),
        ("kind = \"conv\"\nn_components = 50", "model.n_components"),
        ("kind = \"deep\"\nnodes = [50, 2]", "model.nodes"),
    ] {
        let text = format!(
            "name = \"k\"\nseed = 1\n[data]\ndataset = \"bsds\"\npatch_size = 8\n\
             n_train = 50\nn_test = 10\n[model]\n{model}\n[em]\nmax_iter = 5\n"
        );
        let config = RunConfig::parse(&text).unwrap();
        sizes::check_layer(&config, 0, 64, 50).unwrap_or_else(|e| panic!("{model}: {e}"));
        let err = sizes::check_layer(&config, 0, 64, 49).unwrap_err().to_string();
        assert!(
            err.contains(key) && err.contains("need at least 50 training samples, got 49"),
            "{model}: {err}"
        );
    }
}
