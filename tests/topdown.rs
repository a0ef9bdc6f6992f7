//! Top-down refinement of a stack: the greedy stack read as a chain has exactly the sum of the
//! greedy layers' log-likelihoods, and joint EM on the chain likelihood never lowers it.

mod common;

use common::device;
use gmm_zoo::experiments::topdown::refine_run;
use gmm_zoo::training::{RunConfig, RunOptions, SavedLayer, train_run};
use std::path::Path;

fn options(out: &Path) -> RunOptions {
    common::sample_options(out)
}

const STACK: &str = r#"
name = "tiny_chain"
seed = 11
[data]
dataset = "mnist"
n_train = 1500
n_test = 400
[[layers]]
kind = "conv"
n_components = 5
exclude_dc = false
[layers.em]
max_iter = 15
[[layers]]
kind = "full"
input = "log_likelihood_standardised"
n_components = 4
zero_mean = true
reg_covar = 1e-3
[layers.em]
max_iter = 15
init = "kmeans++"
[[layers]]
kind = "prob"
input = "posterior_normalised"
n_components = 3
reg_covar = 1e-3
[layers.em]
max_iter = 15
init = "kmeans++"
"#;

#[test]
fn joint_em_starts_at_the_greedy_sum_and_never_decreases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.toml");
    std::fs::write(&path, STACK).unwrap();
    let config = RunConfig::load(&path).unwrap();
    let run = dir.path().join("greedy");
    let outcome = train_run(&config, &options(&run)).unwrap();
    let greedy_train: f64 = outcome.metrics.iter().map(|m| m.train.nats_per_sample).sum();

    let out = dir.path().join("refined");
    let report = refine_run(&run, 8, &options(&out)).unwrap();
    let before = &report.before;
    assert!(
        (before.train_joint - greedy_train).abs() < 1e-3 * greedy_train.abs().max(1.0),
        "chain at independence {} vs greedy sum {greedy_train}",
        before.train_joint
    );
    let greedy_test: f64 = outcome.metrics.iter().map(|m| m.test.nats_per_sample).sum();
    assert!((before.test_joint - greedy_test).abs() < 1e-3 * greedy_test.abs().max(1.0));
    for (l, m) in before.layers.iter().zip(&outcome.metrics) {
        let tol = 1e-3 * m.test.nats_per_sample.abs().max(1.0);
        assert!((l.test_log_likelihood - m.test.nats_per_sample).abs() < tol);
        assert!(l.purity.is_some() && l.nmi.is_some());
    }
    let h = &report.log_likelihood;
    assert_eq!(h.len(), 9);
    for w in h.windows(2) {
        assert!(w[1] >= w[0] - 1e-6 * w[0].abs(), "joint EM lowered the likelihood: {h:?}");
    }
    assert!(h[8] > h[0] + 1e-3, "joint EM did not move: {h:?}");
    // The transitions are distributions over the components below.
    for a in &report.transitions {
        for row in a {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
    // The refined layers are written and load.
    for i in 0..3 {
        SavedLayer::load(&out.join(format!("layer{i}")), &device()).unwrap();
    }
    assert!(out.join("topdown.json").is_file());
}

#[test]
fn a_single_layer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = refine_run(&common::repo().join("checkpoints/quickstart"), 2, &options(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("stack"), "{err}");
}
