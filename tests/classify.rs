//! The generative classifier: hand-computed decisions on known Gaussians, and a run on the
//! shipped MNIST sample.

mod common;

use common::{device, repo, sample_root};
use gmm_zoo::experiments::classify::decide;
use gmm_zoo::models::{FullGmm, FullGmmConfig, Mixture, Tensor, TensorData, linalg, to_host_f64};
use std::process::Command;

/// Two classes on the line: A = N(0, 1) with prior 0.7, B = N(2, 0.5²) with prior 0.3.
/// By hand, `log N(x | μ, σ²) = -½ log(2πσ²) - (x-μ)²/(2σ²)`; the decision boundary falls
/// between 1.3 (A: -2.1206 vs B: -2.4098) and 1.5 (A: -2.4006 vs B: -1.9298).
#[test]
fn decisions_match_hand_computed_ones_on_known_gaussians() {
    let cfg = FullGmmConfig {
        n_components: 1,
        zero_mean: false,
        reg_covar: 1e-9,
        empty_components: Default::default(),
        covariance_type: Default::default(),
    };
    let model = |mu: f64, var: f64| {
        let u = linalg::precision_cholesky(&[var], 1).unwrap();
        FullGmm::from_parts(&[mu], &u, &[1.0], &cfg, &device())
    };
    let (a, b) = (model(0.0, 1.0), model(2.0, 0.25));
    let xs = [1.0f32, 2.0, 3.5, -1.0, 1.3, 1.5];
    let x = Tensor::<2>::from_data(TensorData::new(xs.to_vec(), [xs.len(), 1]), &device());
    let la = to_host_f64(a.score_samples(x.clone())).unwrap();
    let lb = to_host_f64(b.score_samples(x)).unwrap();
    let hand = |x: f64, mu: f64, var: f64| {
        -0.5 * (2.0 * std::f64::consts::PI * var).ln() - (x - mu).powi(2) / (2.0 * var)
    };
    for (i, &x) in xs.iter().enumerate() {
        assert!((la[i] - hand(x as f64, 0.0, 1.0)).abs() < 1e-5, "A at {x}");
        assert!((lb[i] - hand(x as f64, 2.0, 0.25)).abs() < 1e-5, "B at {x}");
    }
    let log_lik: Vec<f64> = la.iter().zip(&lb).flat_map(|(a, b)| [*a, *b]).collect();
    let decisions = decide(&log_lik, &[0.7f64.ln(), 0.3f64.ln()]);
    assert_eq!(decisions, vec![0, 1, 1, 0, 0, 1]);
    // Without the priors, 1.3 goes to B: the prior matters.
    assert_eq!(decide(&log_lik, &[0.0, 0.0])[4], 1);
}

#[test]
fn classify_on_the_sample_writes_a_consistent_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "name = \"c\"\n[data]\ndataset = \"mnist\"\n[model]\nkind = \"full\"\nn_components = 1\nreg_covar = 0.1\n[em]\nmax_iter = 3\ninit = \"kmeans\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args([
            "classify",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            "2",
            "--quiet",
        ])
        .arg("--data-dir")
        .arg(sample_root())
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("classify.json")).unwrap()).unwrap();
    let confusion: Vec<Vec<u64>> = serde_json::from_value(r["confusion"].clone()).unwrap();
    let total: u64 = confusion.iter().flatten().sum();
    let diagonal: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert_eq!(total, 500, "every sample test digit is classified once");
    let accuracy = r["accuracy"].as_f64().unwrap();
    assert!((accuracy - diagonal as f64 / 500.0).abs() < 1e-12);
    assert!(accuracy > 0.6, "a per-class Gaussian should beat chance by far: {accuracy}");
    for file in ["confusion.png", "misclassified.png", "class0/model.bpk", "class9/model.toml"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    // Refused with the reason, exit 1: the stderr.
    let refused = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let run = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
            .args(["classify", config.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .current_dir(repo())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr).into_owned();
        assert_eq!(run.status.code(), Some(1), "{err}");
        err
    };
    // A stack has no density over images.
    let err = refused(
        "name = \"s\"\n[data]\ndataset = \"mnist\"\n[[layers]]\nkind = \"conv\"\nn_components = 2\nexclude_dc = false\n[layers.em]\nmax_iter = 2\n[[layers]]\nkind = \"full\"\ninput = \"log_likelihood\"\nn_components = 2\n[layers.em]\nmax_iter = 2\n",
    );
    assert!(err.contains("density over images"), "{err}");
    // Each class's model starts from its own initialisation: a warm start is refused.
    let err = refused(
        "name = \"w\"\n[data]\ndataset = \"mnist\"\n[model]\nkind = \"full\"\nn_components = 1\n[em]\nmax_iter = 3\nwarm_start = \"out/class0\"\n",
    );
    assert!(err.contains("em.warm_start") && err.contains("own initialisation"), "{err}");
}
