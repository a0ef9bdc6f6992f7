//! Discriminative fine-tuning of per-class conv GMMs with burn-autodiff: the objective at the
//! start is the classifier's conditional log-likelihood as the EM path computes it, Adam raises
//! it, and the written classifier reloads to the figures reported.

mod common;

use gmm_zoo::experiments::classify::{classify_run, evaluate_classifier};
use gmm_zoo::experiments::finetune::{FinetuneConfig, finetune_run};
use gmm_zoo::training::RunConfig;
use std::path::PathBuf;

fn options(out_dir: PathBuf) -> gmm_zoo::training::RunOptions {
    common::sample_options(&out_dir)
}

#[test]
fn finetuning_raises_the_conditional_likelihood_and_the_result_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    std::fs::write(
        &path,
        r#"
name = "tiny_classify"
seed = 5
[data]
dataset = "mnist"
n_train = 1000
n_test = 300
[model]
kind = "conv"
n_components = 2
exclude_dc = false
[em]
max_iter = 10
"#,
    )
    .unwrap();
    let config = RunConfig::load(&path).unwrap();
    let em_dir = dir.path().join("em");
    classify_run(&config, &options(em_dir.clone()), 2).unwrap();

    // One batch = the whole training set: the first objective value is the EM classifier's
    // mean log p(y | x) on it, computed by a different path (f32 autodiff vs the f64 scorer).
    let settings = FinetuneConfig { steps: 40, learning_rate: 0.02, batch_size: 1000, seed: 3 };
    let out = dir.path().join("tuned");
    let report = finetune_run(&em_dir, settings, &options(out.clone())).unwrap();
    let start = report.objective[0];
    let before = report.before.train_conditional_log_likelihood;
    assert!((start - before).abs() < 1e-3 * before.abs().max(1.0), "{start} vs {before}");
    let last = *report.objective.last().unwrap();
    assert!(last > start + 0.1, "Adam did not raise log p(y|x): {start} → {last}");
    let after = report.after.train_conditional_log_likelihood;
    assert!(after > before + 0.1, "train log p(y|x) {before} → {after}");
    assert!(report.after.accuracy.is_finite() && report.after.within_class_overlap.mean >= 0.0);

    // The written folder is a classification run: it reloads to the reported accuracy.
    let (accuracy, n) = evaluate_classifier(&out, &options(out.clone())).unwrap();
    assert_eq!(n, 300);
    assert!((accuracy - report.after.accuracy).abs() < 1e-12, "{accuracy}");
    assert!(out.join("finetune.json").is_file());

    // Same seed, same result (to the last bits on a CPU; GPU reductions may round in another
    // order).
    let again = finetune_run(&em_dir, settings, &options(dir.path().join("again"))).unwrap();
    for (a, b) in again.objective.iter().zip(&report.objective) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn finetuning_refuses_bad_settings_and_other_families() {
    let dir = tempfile::tempdir().unwrap();
    let bad = FinetuneConfig { steps: 0, learning_rate: 0.02, batch_size: 10, seed: 0 };
    let err = finetune_run(
        &common::repo().join("checkpoints/classify_conv"),
        bad,
        &options(dir.path().into()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("steps"), "{err}");
    let err = finetune_run(
        &common::repo().join("checkpoints/mnist32"),
        FinetuneConfig { steps: 1, ..bad },
        &options(dir.path().into()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("classify.json"), "{err}");
}
