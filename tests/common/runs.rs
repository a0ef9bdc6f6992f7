//! Training runs through the binary: start one, kill one at an iteration, read back its
//! parameters and log-likelihood history.

use super::{repo, sample_root};
use gmm_zoo::models::to_host_f64;
use gmm_zoo::training::{Layer, SavedLayer};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// `gmmzoo train <config> --out <out> <extra>` on the shipped sample.
pub fn command(config: &Path, out: &Path, extra: &[&str]) -> Command {
    command_on(&sample_root(), config, out, extra)
}

/// `gmmzoo train <config> --out <out> <extra>` on the data root `data`.
pub fn command_on(data: &Path, config: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gmmzoo"));
    cmd.arg("train").arg(config).arg("--out").arg(out).args(extra).current_dir(repo());
    cmd.env_remove("GMM_ZOO_DATA").arg("--data-dir").arg(data);
    cmd
}

/// Runs `gmmzoo train` to its end on the shipped sample.
pub fn run(config: &Path, out: &Path, extra: &[&str]) -> Output {
    command(config, out, extra).output().unwrap()
}

/// Starts a run and kills it (SIGKILL) once its log shows `marker` and then `iter k/`.
pub fn kill_at(config: &Path, out: &Path, extra: &[&str], marker: &str, k: usize) -> usize {
    let mut child: Child = command(config, out, extra).stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut armed = marker.is_empty();
    let mut seen = 0;
    for line in lines {
        let line = line.unwrap();
        armed |= line.contains(marker);
        // A progress line `iter    k/max …`, not a note such as `iter k: component …`.
        let Some(rest) = line.strip_prefix("iter ") else { continue };
        let Ok(iteration) = rest.split('/').next().unwrap().trim().parse() else { continue };
        seen = iteration;
        if armed && seen >= k {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run ended before it could be killed (at iteration {seen})");
    seen
}

/// Starts a run, sends it SIGINT (Ctrl-C) once its log has a line starting with `prefix`,
/// and returns its exit code and its whole log.
pub fn interrupt_at(config: &Path, out: &Path, prefix: &str) -> (Option<i32>, String) {
    let mut child = command(config, out, &[]).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with(prefix) {
            let pid = child.id().to_string();
            assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        }
        stderr += &line;
        stderr += "\n";
    }
    (child.wait().unwrap().code(), stderr)
}

/// Writes a config file into `dir`.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every parameter of every layer in a run folder, exactly.
pub fn parameters(run: &Path, layers: usize) -> Vec<Vec<f64>> {
    let device = super::device();
    (0..layers)
        .map(|i| {
            let dir = if layers == 1 { run.to_path_buf() } else { run.join(format!("layer{i}")) };
            let tensors: Vec<Vec<f64>> = match SavedLayer::load(&dir, &device).unwrap().1 {
                Layer::Conv(m) => vec![
                    to_host_f64(m.power_spectrum.val()).unwrap(),
                    to_host_f64(m.log_weights.val()).unwrap(),
                ],
                Layer::Full(m) => vec![
                    to_host_f64(m.means.val()).unwrap(),
                    to_host_f64(m.precision_cholesky.val()).unwrap(),
                    to_host_f64(m.log_weights.val()).unwrap(),
                ],
                Layer::Prob(m) => vec![to_host_f64(m.gaussian.means.val()).unwrap()],
                Layer::Deep(m) => vec![
                    to_host_f64(m.transforms.val()).unwrap(),
                    to_host_f64(m.biases.val()).unwrap(),
                    to_host_f64(m.log_weights.val()).unwrap(),
                ],
            };
            tensors.concat()
        })
        .collect()
}

/// The log-likelihood history of every layer.
pub fn histories(run: &Path, layers: usize) -> Vec<Vec<f64>> {
    (0..layers)
        .map(|i| {
            let dir = if layers == 1 { run.to_path_buf() } else { run.join(format!("layer{i}")) };
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
            m["iterations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["log_likelihood"].as_f64().unwrap())
                .collect()
        })
        .collect()
}
