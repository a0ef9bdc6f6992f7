//! Run folders are never lost: a finished run of another config or an unfinished run is not
//! replaced without `--overwrite`, a repeated command says the run is there, two processes
//! never write one folder, and the lock of a killed process is taken over.

mod common;

use common::runs::{command, run, write_config};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const FULL: &str = r#"
name = "claims"
seed = 3
[data]
dataset = "bsds300"
n_train = 3000
n_test = 500
[model]
kind = "full"
n_components = 3
[em]
max_iter = 3
init = "kmeans++"
[checkpoint]
every = 1
"#;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn model(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model.bpk")).unwrap()
}

#[test]
fn a_finished_run_is_replaced_only_with_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = write_config(dir.path(), "a.toml", FULL);
    assert!(run(&config, &out, &["--quiet"]).status.success());
    let before = model(&out);
    assert!(!out.join(".lock").exists(), "the lock is released");

    // The same command again: the run is there, nothing is trained.
    let again = run(&config, &out, &["--quiet"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("already holds this config's finished run"), "{said}");
    assert_eq!(model(&out), before);
    // … but a bad device is still refused first.
    let device = run(&config, &out, &["--quiet", "--device", "tpu"]);
    assert_eq!(device.status.code(), Some(1), "{}", stderr(&device));
    assert!(stderr(&device).contains("not available in this build"), "{}", stderr(&device));

    // Another config into it: refused, the model untouched.
    let other =
        write_config(dir.path(), "b.toml", &FULL.replace("n_components = 3", "n_components = 4"));
    let refused = run(&other, &out, &["--quiet"]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("already holds a finished run") && err.contains("--overwrite"), "{err}");
    // One sentence of ours (a software Vulkan driver may add its own warnings about the
    // environment around it).
    let ours = err.lines().filter(|l| !l.is_empty() && !l.contains("XDG_RUNTIME_DIR")).count();
    assert_eq!(ours, 1, "{err}");
    assert_eq!(model(&out), before, "model.bpk is byte-identical");

    // --overwrite replaces it.
    let replaced = run(&other, &out, &["--quiet", "--overwrite"]);
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert_ne!(model(&out), before);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["n_components"], 4);
}

#[test]
fn an_unfinished_run_is_resumed_or_overwritten_not_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let long =
        FULL.replace("max_iter = 3", "max_iter = 400").replace("n_train = 3000", "n_train = 20000");
    let config = write_config(dir.path(), "a.toml", &long);
    common::runs::kill_at(&config, &out, &[], "", 2);
    assert!(out.join("checkpoint.ckpt").is_file());
    let refused = run(&config, &out, &["--quiet"]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("holds an unfinished run") && err.contains("--resume"), "{err}");
    assert!(out.join("checkpoint.ckpt").is_file(), "the checkpoint is kept");
}

#[test]
fn two_processes_never_write_one_folder_and_a_dead_holders_lock_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // Slow enough to be caught running: 400 iterations on 20,000 rows.
    let long =
        FULL.replace("max_iter = 3", "max_iter = 400").replace("n_train = 3000", "n_train = 20000");
    let config = write_config(dir.path(), "a.toml", &long);
    let mut first = command(&config, &out, &["--quiet"]).stderr(Stdio::null()).spawn().unwrap();
    let lock = out.join(".lock");
    let start = Instant::now();
    while !lock.is_file() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = run(&config, &out, &["--quiet"]);
    let err = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("in use by process {}", first.id())), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(lock.is_file(), "a killed process leaves its lock");

    // Its process is gone: the lock is taken over (and the unfinished run replaced).
    let short = write_config(dir.path(), "b.toml", FULL);
    let resumed = run(&short, &out, &["--quiet", "--overwrite"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(out.join("model.bpk").is_file() && !lock.exists());
}

#[test]
fn a_finished_selection_is_not_replaced_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("select");
    let config = write_config(dir.path(), "a.toml", FULL);
    let select = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
            .args(["select", config.to_str().unwrap(), "--components", "1,2", "--quiet"])
            .arg("--out")
            .arg(&out)
            .args(extra)
            .arg("--data-dir")
            .arg(common::sample_root())
            .output()
            .unwrap()
    };
    assert!(select(&[]).status.success());
    let refused = select(&[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("already holds a finished selection"),
        "{}",
        stderr(&refused)
    );
    assert!(select(&["--overwrite"]).status.success());
}
