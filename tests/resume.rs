//! Checkpoints: killed runs resume to exactly the uninterrupted result; Ctrl-C stops cleanly;
//! damaged or foreign checkpoints are refused and left untouched.

mod common;

use common::{SEED, repo, sample_root};
use gmm_zoo::models::to_host_f64;
use gmm_zoo::training::{Layer, SavedLayer};
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A full GMM on the MNIST sample: ~0.2 s an iteration, a checkpoint every 2.
const FULL: &str = r#"
name = "resume-full"
seed = 3
[data]
dataset = "mnist"
[model]
kind = "full"
n_components = 6
reg_covar = 1e-2
[em]
max_iter = 20
init = "kmeans++"
batch_size = 1024
[checkpoint]
every = 2
"#;

/// conv → full on log-likelihoods; the upper layer runs long enough to be killed in.
const STACK: &str = r#"
name = "resume-stack"
seed = 4
[data]
dataset = "mnist"
[[layers]]
kind = "conv"
n_components = 24
exclude_dc = false
[layers.em]
max_iter = 10
[[layers]]
kind = "full"
input = "log_likelihood"
n_components = 12
reg_covar = 1e-2
[layers.em]
max_iter = 300
init = "kmeans++"
[checkpoint]
every = 1
"#;

/// A deep GMM (hard EM, Adam M-steps) on BSDS300-protocol rows of the shipped images.
const DEEP: &str = r#"
name = "resume-deep"
seed = 5
[data]
dataset = "bsds300"
n_train = 4000
n_test = 500
[model]
kind = "deep"
nodes = [3, 2]
beam = 2
m_step_iters = 20
[em]
max_iter = 14
batch_size = 1000
init = "kmeans++"
[checkpoint]
every = 1
"#;

fn command(config: &Path, out: &Path, extra: &[&str]) -> Command {
    command_on(&sample_root(), config, out, extra)
}

fn command_on(data: &Path, config: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gmmzoo"));
    cmd.arg("train").arg(config).arg("--out").arg(out).args(extra).current_dir(repo());
    cmd.env_remove("GMM_ZOO_DATA").arg("--data-dir").arg(data);
    cmd
}

fn run(config: &Path, out: &Path, extra: &[&str]) -> Output {
    command(config, out, extra).output().unwrap()
}

/// Starts a run and kills it (SIGKILL) once its log shows `marker` and then `iter k/`.
fn kill_at(config: &Path, out: &Path, extra: &[&str], marker: &str, k: usize) -> usize {
    let mut child: Child = command(config, out, extra).stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut armed = marker.is_empty();
    let mut seen = 0;
    for line in lines {
        let line = line.unwrap();
        armed |= line.contains(marker);
        if let Some(rest) = line.strip_prefix("iter ") {
            seen = rest.split('/').next().unwrap().trim().parse().unwrap_or(seen);
            if armed && seen >= k {
                child.kill().unwrap();
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run ended before it could be killed (at iteration {seen})");
    seen
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every parameter of every layer in a run folder, exactly.
fn parameters(run: &Path, layers: usize) -> Vec<Vec<f64>> {
    let device = common::device();
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
fn histories(run: &Path, layers: usize) -> Vec<Vec<f64>> {
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

#[test]
fn sigkill_twice_then_resume_gives_the_uninterrupted_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "full.toml", FULL);
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    assert!(run(&config, &whole, &["--quiet"]).status.success());

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let first = rng.random_range(3..8);
    let killed = kill_at(&config, &broken, &[], "", first);
    assert!(broken.join("checkpoint.ckpt").is_file(), "a checkpoint survives the kill");
    let second = rng.random_range(killed + 3..16);
    kill_at(&config, &broken, &["--resume"], "resuming", second);
    let done = run(&config, &broken, &["--resume", "--quiet"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(!broken.join("checkpoint.ckpt").exists(), "a finished run removes its checkpoint");
    assert_eq!(histories(&whole, 1), histories(&broken, 1));
    assert_eq!(parameters(&whole, 1), parameters(&broken, 1));
}

#[test]
fn a_killed_deep_gmm_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "deep.toml", DEEP);
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    assert!(run(&config, &whole, &["--quiet"]).status.success());
    kill_at(&config, &broken, &[], "", 5);
    let done = run(&config, &broken, &["--resume", "--quiet"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(histories(&whole, 1), histories(&broken, 1));
    assert_eq!(parameters(&whole, 1), parameters(&broken, 1));
}

#[test]
fn a_stack_killed_in_its_upper_layer_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "stack.toml", STACK);
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    assert!(run(&config, &whole, &["--quiet"]).status.success());
    kill_at(&config, &broken, &[], "layer 1:", 40);
    let done = run(&config, &broken, &["--resume", "--quiet"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(histories(&whole, 2), histories(&broken, 2));
    assert_eq!(parameters(&whole, 2), parameters(&broken, 2));
}

/// Ctrl-C finishes the iteration, writes a checkpoint and exits with 130; damaged or foreign
/// checkpoints are then refused with a clear error, and nothing is overwritten.
#[test]
fn ctrl_c_checkpoints_and_bad_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "full.toml", FULL);
    let out = dir.path().join("run");
    let mut child = command(&config, &out, &[]).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("iter    3/") {
            let pid = child.id().to_string();
            assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        }
        stderr += &line;
        stderr += "\n";
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume") && !stderr.contains("panicked"), "{stderr}");
    let ckpt = out.join("checkpoint.ckpt");
    let good = std::fs::read(&ckpt).unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let mut version = good.clone();
    version[8..12].copy_from_slice(&7u32.to_le_bytes());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() / 2].to_vec(), "truncated"),
        (good[..10].to_vec(), "truncated"),
        (flipped, "checksum"),
        (version, "format version 7"),
        (b"not a checkpoint at all".to_vec(), "not a gmm-zoo checkpoint"),
    ];
    for (bytes, needle) in cases {
        std::fs::write(&ckpt, &bytes).unwrap();
        let r = run(&config, &out, &["--resume"]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{needle}: {err}");
        assert!(
            err.contains(needle) && err.contains("checkpoint.ckpt"),
            "expected '{needle}' in: {err}"
        );
        assert_eq!(
            std::fs::read(&ckpt).unwrap(),
            bytes,
            "{needle}: the checkpoint must be left as it was"
        );
        assert!(!out.join("model.bpk").exists(), "{needle}: nothing is written");
    }

    // The good checkpoint, but another config, or other data.
    std::fs::write(&ckpt, &good).unwrap();
    let other = write_config(
        dir.path(),
        "other.toml",
        &FULL.replace("n_components = 6", "n_components = 7"),
    );
    let r = run(&other, &out, &["--resume"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("different config"), "{r:?}");
    let data = dir.path().join("data");
    copy_sample_with_one_pixel_changed(&data);
    let r = command_on(&data, &config, &out, &["--resume"]).output().unwrap();
    assert!(String::from_utf8_lossy(&r.stderr).contains("different training data"), "{r:?}");
    assert_eq!(std::fs::read(&ckpt).unwrap(), good);

    // And without one at all.
    let r = run(&config, &dir.path().join("fresh"), &["--resume"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("no checkpoint to resume from"), "{r:?}");

    // Finally the good one resumes.
    let r = run(&config, &out, &["--resume", "--quiet"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

fn copy_sample_with_one_pixel_changed(root: &Path) {
    use std::io::{Read, Write};
    let src = sample_root().join("mnist");
    let dst = root.join("mnist");
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        std::fs::copy(&path, dst.join(&name)).unwrap();
    }
    let images = dst.join("train-images-idx3-ubyte.gz");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&images).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    raw[16 + 14 * 28 + 14] ^= 0x01;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    std::fs::write(&images, gz.finish().unwrap()).unwrap();
}

/// The checkpoint carries the random stream's state after initialisation.
#[test]
fn a_checkpoint_records_the_rng_state() {
    use gmm_zoo::training::checkpoint::Checkpoint;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "full.toml", FULL);
    let out = dir.path().join("run");
    kill_at(&config, &out, &[], "", 4);
    let ckpt = Checkpoint::read(&out.join("checkpoint.ckpt")).unwrap();
    let rng = ckpt.meta.report.rng.expect("the RNG state is recorded");
    assert_eq!(rng.seed, 3, "the layer's seed (config seed + layer index)");
    assert!(rng.word_pos.parse::<u128>().unwrap() > 0, "k-means++ drew from the stream");
    assert!(ckpt.meta.report.iterations.len() >= 2);
    assert_eq!(ckpt.meta.layer_index, 0);
    assert_eq!(ckpt.meta.layer_kind, "full");
}
