//! `gmmzoo select`: one run per K, BIC/AIC/test figures that match each run's metrics, and the
//! argmin/argmax named.

mod common;

use std::process::Command;

#[test]
fn select_trains_every_k_and_names_the_best_by_each_criterion() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sel");
    let run = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .current_dir(common::repo())
        .args(["select", "configs/quickstart.toml", "--components", "1,2,4", "--quiet"])
        .args(["--out", out.to_str().unwrap(), "--data-dir", "data/sample"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let sel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("selection.json")).unwrap()).unwrap();
    let candidates = sel["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 3);
    let mut best = (f64::INFINITY, 0, f64::INFINITY, 0, f64::NEG_INFINITY, 0);
    for (c, k) in candidates.iter().zip([1u64, 2, 4]) {
        assert_eq!(c["n_components"].as_u64(), Some(k));
        // Each candidate is its run folder's metrics.
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("k{k}")).join("metrics.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(c["bic"], m["criteria"]["bic"]);
        assert_eq!(c["test_nats"], m["test"]["nats_per_sample"]);
        let (bic, aic, test) = (
            c["bic"].as_f64().unwrap(),
            c["aic"].as_f64().unwrap(),
            c["test_nats"].as_f64().unwrap(),
        );
        assert!(aic < bic, "ln N > 2 for N = 20000 training patches");
        if bic < best.0 {
            (best.0, best.1) = (bic, k);
        }
        if aic < best.2 {
            (best.2, best.3) = (aic, k);
        }
        if test > best.4 {
            (best.4, best.5) = (test, k);
        }
    }
    assert_eq!(sel["best_bic"].as_u64(), Some(best.1));
    assert_eq!(sel["best_aic"].as_u64(), Some(best.3));
    assert_eq!(sel["best_test"].as_u64(), Some(best.5));
    assert!(stdout.contains(&format!("best K by BIC {}", best.1)), "{stdout}");
    let svg = std::fs::read_to_string(out.join("selection.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 3, "BIC, AIC and test curves");

    // A stack has no single K to choose.
    let stack = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .current_dir(common::repo())
        .args(["select", "configs/mnist_stack_std.toml", "--components", "2", "--quiet"])
        .args(["--out", out.join("stack").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(stack.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stack.stderr).contains("single-layer"));
}
