//! The command line, end to end: the quick start, `eval`, and clear failures on bad input.

mod common;

use common::repo;
use std::path::Path;
use std::process::{Command, Output};

fn gmmzoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(args)
        .current_dir(repo())
        .env_remove("GMM_ZOO_DATA")
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const GOOD: &str = r#"
name = "tiny"
seed = 3
[data]
dataset = "bsds"
patch_size = 6
n_train = 2000
n_test = 500
[model]
kind = "conv"
n_components = 4
[em]
max_iter = 5
"#;

#[test]
fn quick_start_trains_writes_a_run_folder_and_eval_reproduces_its_score() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run =
        gmmzoo(&["train", "configs/quickstart.toml", "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(run.status.success(), "train failed: {}", stderr(&run));
    for file in
        ["config.toml", "model.toml", "model.bpk", "metrics.json", "components.png", "curve.svg"]
    {
        assert!(out.join(file).is_file(), "{file} missing from the run folder");
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let iterations = metrics["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 30);
    let k = metrics["n_components"].as_u64().unwrap() as usize;
    let weights: Vec<f64> =
        metrics["weights"].as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
    assert_eq!(weights.len(), k);
    assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-5);

    let png = image::open(out.join("components.png")).unwrap();
    assert!(png.height() > png.width(), "one row per component (16 rows, 11 columns)");

    let eval = gmmzoo(&["eval", out.to_str().unwrap(), "--split", "test"]);
    assert!(eval.status.success(), "eval failed: {}", stderr(&eval));
    let score: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let recorded = metrics["test"]["nats_per_sample"].as_f64().unwrap();
    let got = score["nats_per_sample"].as_f64().unwrap();
    assert!((got - recorded).abs() < 1e-9, "eval {got} vs recorded {recorded}");
    let bpp = score["bits_per_pixel"].as_f64().unwrap();
    assert!((bpp + got / (64.0 * std::f64::consts::LN_2)).abs() < 1e-12);
}

/// Every bad input: non-zero exit, one clear message naming the culprit, no panic.
#[test]
fn bad_input_fails_cleanly_with_a_message_that_names_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec![write_config(
                d,
                "unknown-key.toml",
                &GOOD.replace("seed = 3", "seed = 3\nsede = 4"),
            )],
            vec!["unknown-key.toml", "sede"],
        ),
        (
            vec![write_config(
                d,
                "zero-k.toml",
                &GOOD.replace("n_components = 4", "n_components = 0"),
            )],
            vec!["zero-k.toml", "n_components"],
        ),
        (
            vec![write_config(d, "neg-iter.toml", &GOOD.replace("max_iter = 5", "max_iter = -5"))],
            vec!["neg-iter.toml", "max_iter"],
        ),
        (
            vec![write_config(d, "zero-iter.toml", &GOOD.replace("max_iter = 5", "max_iter = 0"))],
            vec!["zero-iter.toml", "max_iter"],
        ),
        (
            vec![write_config(
                d,
                "floor.toml",
                &GOOD.replace("n_components = 4", "n_components = 4\nspectrum_floor = -1.0"),
            )],
            vec!["floor.toml", "spectrum_floor"],
        ),
        (
            vec![write_config(
                d,
                "type.toml",
                &GOOD.replace("n_train = 2000", "n_train = \"many\""),
            )],
            vec!["type.toml", "n_train"],
        ),
        (
            vec![write_config(
                d,
                "dc.toml",
                &GOOD.replace("kind = \"conv\"", "kind = \"conv\"\nexclude_dc = false"),
            )],
            vec!["dc.toml", "exclude_dc"],
        ),
        (
            vec![write_config(
                d,
                "kind.toml",
                &GOOD.replace("kind = \"conv\"", "kind = \"fancy\""),
            )],
            vec!["kind.toml", "fancy"],
        ),
        (
            vec![write_config(
                d,
                "patch.toml",
                &GOOD.replace("patch_size = 6", "patch_size = 600"),
            )],
            vec!["patch size 600", "larger than every image"],
        ),
        (vec!["configs/does-not-exist.toml".into()], vec!["does-not-exist.toml"]),
        (
            vec![write_config(d, "ok.toml", GOOD), "--device".into(), "tpu".into()],
            vec!["device 'tpu'", "compiled in"],
        ),
        (
            vec![
                write_config(d, "ok2.toml", GOOD),
                "--data-dir".into(),
                d.join("nowhere").display().to_string(),
            ],
            vec!["nowhere", "--data-dir"],
        ),
        (
            vec![write_config(
                d,
                "mnist.toml",
                &GOOD
                    .replace(
                        "dataset = \"bsds\"\npatch_size = 6\nn_train = 2000\nn_test = 500",
                        "dataset = \"mnist\"\nn_train = 60000",
                    )
                    .replace("kind = \"conv\"", "kind = \"conv\"\nexclude_dc = false"),
            )],
            vec!["60000", "--data-dir"],
        ),
    ];
    for (args, needles) in cases {
        let mut full = vec!["train".to_string()];
        full.extend(args.iter().cloned());
        full.extend(["--out".to_string(), out.to_string(), "--quiet".to_string()]);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let run = gmmzoo(&refs);
        let err = stderr(&run);
        assert!(!run.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: expected '{needle}' in: {err}");
        }
    }
    assert!(!Path::new(out).join("model.bpk").exists(), "no model is written by a failed run");
}

#[test]
fn eval_of_a_folder_without_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = gmmzoo(&["eval", dir.path().to_str().unwrap()]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(err.contains("config.toml") && err.contains("cannot read"), "{err}");
}
