//! Deep stacks: configs, annealing, pruning, monotone stages, save/load/score, reuse.

mod common;

use common::{SEED, repo, sample_root};
use gmm_zoo::models::{
    ConvGmm, ConvGmmConfig, Device, Encoded, Init, Mixture, SpectralLayout, to_host_f64,
};

/// A conv config with `k` components, DC left out and a negligible floor.
fn conv_config(k: usize) -> ConvGmmConfig {
    ConvGmmConfig { n_components: k, exclude_dc: true, spectrum_floor: 1e-9 }
}
use gmm_zoo::training::config::Split;
use gmm_zoo::training::em::{e_step, prune_weak};
use gmm_zoo::training::metrics::Metrics;
use gmm_zoo::training::{
    Annealing, EmConfig, IterationRecord, Progress, RunConfig, RunOptions, evaluate_run, fit,
    train_run,
};
use std::path::Path;

fn device() -> Device {
    common::device()
}

fn options(out: &Path) -> RunOptions {
    common::sample_options(out)
}

/// Three layers on the shipped MNIST sample: conv → prob (annealed) → prob (pruned).
const PROB_STACK: &str = r#"
name = "prob-stack"
seed = 5
[data]
dataset = "mnist"
[[layers]]
kind = "conv"
n_components = 8
exclude_dc = false
[layers.em]
max_iter = 15
[[layers]]
kind = "prob"
input = "posterior_normalised"
n_components = 6
reg_covar = 1e-3
[layers.em]
max_iter = 20
init = "kmeans++"
[layers.em.annealing]
beta0 = 0.2
growth = 2.0
stage_max_iter = 10
stage_tol = 1e-3
[[layers]]
kind = "prob"
input = "posterior_normalised"
n_components = 6
reg_covar = 1e-3
[layers.em]
max_iter = 20
init = "kmeans++"
prune_below = 0.1
"#;

const FULL_STACK: &str = r#"
name = "full-stack"
seed = 5
[data]
dataset = "mnist"
[[layers]]
kind = "conv"
n_components = 8
exclude_dc = false
[layers.em]
max_iter = 15
[[layers]]
kind = "full"
input = "log_likelihood_standardised"
n_components = 5
zero_mean = true
reg_covar = 1e-3
[layers.em]
max_iter = 15
init = "kmeans++"
"#;

/// Within each β stage the annealed objective never decreases, and at β = 1 it is the
/// log-likelihood. Allowance `5e-5 · |value|`: EM's guarantee holds for the exact M-step, and
/// `reg_covar` (needed here: posterior rows pile up at the simplex's corners) perturbs it
/// (seen: decreases of 2e-6 relative on flex, 1.2e-5 on wgpu, both near the end of a β stage);
/// f32 rounding adds ~1e-7. Iterations that pruned a component are excluded, since removing
/// one removes its mass.
fn assert_stages_monotone(iterations: &[IterationRecord], what: &str) {
    for w in iterations.windows(2) {
        if w[0].beta != w[1].beta || !w[0].pruned.is_empty() {
            continue;
        }
        let tol = 5e-5 * w[0].objective.abs().max(1.0);
        assert!(
            w[1].objective >= w[0].objective - tol,
            "{what}: objective fell at iteration {}: {w:?}",
            w[1].iter
        );
        if w[1].beta == 1.0 {
            assert_eq!(w[1].objective, w[1].log_likelihood);
        }
    }
}

#[test]
fn a_prob_stack_trains_anneals_prunes_and_scores_identically_after_loading() {
    let dir = tempfile::tempdir().unwrap();
    let config = RunConfig::parse(PROB_STACK).unwrap();
    let outcome = train_run(&config, &options(dir.path())).unwrap();
    assert_eq!(outcome.metrics.len(), 3);
    for (i, m) in outcome.metrics.iter().enumerate() {
        assert_stages_monotone(&m.iterations, &format!("layer {i}"));
        for file in ["model.bpk", "model.toml", "metrics.json", "components.png", "curve.svg"] {
            assert!(dir.path().join(format!("layer{i}/{file}")).is_file(), "layer{i}/{file}");
        }
        let (p, n) = (m.purity.unwrap(), m.nmi.unwrap());
        assert!(
            (0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&n),
            "layer {i}: purity {p}, NMI {n}"
        );
    }
    // The annealed layer ran stages at β = 0.2, 0.4, 0.8, then 1.
    let betas: Vec<f64> = outcome.metrics[1].iterations.iter().map(|r| r.beta).collect();
    assert_eq!(betas[0], 0.2);
    assert!(betas.windows(2).all(|w| w[1] >= w[0]));
    assert_eq!(*betas.last().unwrap(), 1.0);
    // The pruned layer recorded each removal, and ended with fewer components, all above the
    // threshold, weights summing to 1.
    let top = &outcome.metrics[2];
    let removed: usize = top.iterations.iter().map(|r| r.pruned.len()).sum();
    assert_eq!(top.n_components, 6 - removed);
    assert!(top.weights.iter().all(|&w| w >= 0.1 - 1e-6), "{:?}", top.weights);
    assert!((top.weights.iter().sum::<f64>() - 1.0).abs() < 1e-5);

    // Saved and loaded, the stack scores the test split exactly as recorded, layer by layer.
    let scores = evaluate_run(dir.path(), Split::Test, &options(dir.path())).unwrap();
    for (s, m) in scores.iter().zip(&outcome.metrics) {
        assert_eq!(s.nats_per_sample, m.test.nats_per_sample, "layer {}", m.layer);
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("metrics.json")).unwrap()).unwrap();
    assert_eq!(summary["layers"].as_array().unwrap().len(), 3);
}

#[test]
fn a_reused_lower_layer_gives_the_same_stack() {
    let first = tempfile::tempdir().unwrap();
    let config = RunConfig::parse(FULL_STACK).unwrap();
    let a = train_run(&config, &options(first.path())).unwrap();
    let reused = FULL_STACK.replace(
        "[layers.em]\nmax_iter = 15\n[[layers]]",
        &format!(
            "reuse = {:?}\n[layers.em]\nmax_iter = 15\n[[layers]]",
            first.path().join("layer0")
        ),
    );
    let second = tempfile::tempdir().unwrap();
    let b = train_run(&RunConfig::parse(&reused).unwrap(), &options(second.path())).unwrap();
    assert!(b.metrics[0].iterations.is_empty(), "the reused layer is not retrained");
    assert_eq!(b.metrics[0].reused_from.as_deref(), Some(first.path().join("layer0").as_path()));
    let strip = |m: &Metrics| (m.test.nats_per_sample, m.weights.clone(), m.purity);
    assert_eq!(strip(&a.metrics[0]), strip(&b.metrics[0]));
    assert_eq!(strip(&a.metrics[1]), strip(&b.metrics[1]));
    assert_eq!(a.metrics[1].iterations.len(), b.metrics[1].iterations.len());
}

fn patches_layer(k: usize) -> (ConvGmm, Encoded) {
    let images = gmm_zoo::training::data::load_split(
        &gmm_zoo::training::config::DataConfig::Bsds(gmm_zoo::training::config::BsdsData {
            patch_size: 6,
            n_train: 3000,
            n_test: 10,
            min_std: 0.04,
            n_valid: None,
        }),
        &sample_root(),
        Split::Train,
        SEED,
    )
    .unwrap();
    let layer =
        gmm_zoo::models::ConvGmmConfig { n_components: k, exclude_dc: true, spectrum_floor: 1e-6 }
            .init(6, &device())
            .unwrap();
    let enc = gmm_zoo::training::encode::encode(&layer, &images, 1000, &device()).unwrap();
    (layer, enc)
}

/// With β0 = 1 the schedule is ordinary EM, iteration for iteration.
#[test]
fn annealing_that_starts_at_one_is_ordinary_em() {
    let (layer, data) = patches_layer(5);
    let plain = EmConfig { batch_size: 1000, ..EmConfig::iterations(8) };
    let annealed = EmConfig {
        annealing: Some(Annealing { beta0: 1.0, growth: 2.0, stage_max_iter: 5, stage_tol: 0.0 }),
        ..plain.clone()
    };
    let (a, ra) = fit(layer.clone(), &data, &plain, SEED, &Progress::quiet()).unwrap();
    let (b, rb) = fit(layer, &data, &annealed, SEED, &Progress::quiet()).unwrap();
    assert_eq!(ra.lower_bounds(), rb.lower_bounds());
    assert_eq!(a.spectra_host().unwrap(), b.spectra_host().unwrap());
}

/// The tempered E-step: at β = 1 it is the ordinary one; as β → 0 every component takes an
/// equal share of every sample.
#[test]
fn tempered_responsibilities_flatten_as_beta_falls() {
    let (layer, data) = patches_layer(4);
    let (layer, _) = fit(
        layer,
        &data,
        &EmConfig { batch_size: 1000, ..EmConfig::iterations(5) },
        SEED,
        &Progress::quiet(),
    )
    .unwrap();
    let one = e_step(&layer, &data, 1.0).unwrap();
    assert_eq!(one.objective_sum, one.log_likelihood_sum);
    let tiny = e_step(&layer, &data, 1e-9).unwrap();
    let nk = to_host_f64(tiny.stats.resp_sum).unwrap();
    for v in &nk {
        assert!((v - data.n as f64 / 4.0).abs() < 1e-2 * data.n as f64, "{nk:?}");
    }
    assert!(
        (tiny.log_likelihood_sum - one.log_likelihood_sum).abs()
            < 1e-6 * one.log_likelihood_sum.abs()
    );
}

#[test]
fn pruning_removes_exactly_the_weak_components_and_renormalises() {
    let layout = SpectralLayout::new(4, true);
    let b = layout.n_bins();
    let spectra: Vec<f64> = (0..5 * b).map(|i| 0.1 + (i % 7) as f64).collect();
    let weights = [0.4, 0.009, 0.3, 0.001, 0.29];
    let layer = ConvGmm::from_parts(layout, &spectra, &weights, &conv_config(5), &device());
    let (pruned, removed) = prune_weak(layer, 0.01).unwrap();
    assert_eq!(removed.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3]);
    let w = pruned.weights().unwrap();
    let kept = 0.4 + 0.3 + 0.29;
    for (got, want) in w.iter().zip([0.4 / kept, 0.3 / kept, 0.29 / kept]) {
        assert!((got - want).abs() < 1e-6, "{w:?}");
    }
    let s = pruned.spectra_host().unwrap();
    for (row, c) in s.iter().zip([0, 2, 4]) {
        let want: Vec<f64> = spectra[c * b..(c + 1) * b].to_vec();
        for (g, e) in row.iter().zip(&want) {
            assert!((g - e).abs() < 1e-6 * e);
        }
    }
    let (same, none) = prune_weak(pruned, 0.01).unwrap();
    assert!(none.is_empty());
    assert_eq!(same.n_components(), 3);
}

#[test]
fn impossible_stacks_are_refused_when_the_config_is_read() {
    let cases = [
        (
            FULL_STACK
                .replace("kind = \"full\"", "kind = \"conv\"")
                .replace("zero_mean = true\nreg_covar = 1e-3", "exclude_dc = false"),
            "layers[1].kind",
        ),
        (
            FULL_STACK
                .replace("kind = \"full\"", "kind = \"prob\"")
                .replace("zero_mean = true\n", ""),
            "layers[1].input",
        ),
        (
            FULL_STACK.replace("log_likelihood_standardised", "posterior_normalised"),
            "layers[1].input",
        ),
        (FULL_STACK.replace("input = \"log_likelihood_standardised\"\n", ""), "layers[1].input"),
        (FULL_STACK.replace("log_likelihood_standardised", "likelihood"), "input"),
        (
            FULL_STACK.replacen(
                "[layers.em]\nmax_iter = 15",
                "[layers.em]\nmax_iter = 15\nmax_iters = 3",
                1,
            ),
            "max_iters",
        ),
        (
            FULL_STACK.replacen(
                "kind = \"conv\"",
                "kind = \"conv\"\ninput = \"log_likelihood\"",
                1,
            ),
            "layers[0].input",
        ),
        (FULL_STACK.replace("zero_mean = true", "zero_mean = true\nfilters = 3"), "filters"),
        (FULL_STACK.replace("[layers.em]\nmax_iter = 15\ninit = \"kmeans++\"", ""), "em"),
        (
            FULL_STACK.replace("init = \"kmeans++\"", "init = \"kmeans++\"\nprune_below = 1.5"),
            "prune_below",
        ),
    ];
    for (text, needle) in cases {
        let err = RunConfig::parse(&text).unwrap_err();
        assert!(err.to_string().contains(needle), "expected '{needle}' in: {err}");
    }
    assert!(RunConfig::parse(FULL_STACK).is_ok());
    let _ = (repo(), Init::Kmeans);
}
