//! Checkpoints: killed runs resume to exactly the uninterrupted result; Ctrl-C stops cleanly;
//! damaged or foreign checkpoints are refused and left untouched. Warm starts (`em.warm_start`):
//! a finished run continued from its folder is the longer run; misfits are refused. A run
//! resumes under a changed stopping rule (`max_iter`, `tol`).

mod common;

use common::runs::{command_on, histories, interrupt_at, kill_at, parameters, run, write_config};
use common::{SEED, copy_dir, sample_root};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// A full GMM on BSDS300-protocol rows of the shipped images: ~0.05 s an iteration on 2 CPU
/// cores (slow enough to be killed at a chosen iteration, the log-likelihood still rising at
/// the 20th), ~6 s on a software Vulkan driver, where the 784-pixel MNIST digits took 20 s.
const FULL: &str = r#"
name = "resume-full"
seed = 3
[data]
dataset = "bsds300"
n_train = 50000
n_test = 2000
[model]
kind = "full"
n_components = 6
[em]
max_iter = 20
tol = 0.0
init = "kmeans++"
batch_size = 4096
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
    let (code, stderr) = interrupt_at(&config, &out, "iter    3/");
    assert_eq!(code, Some(130), "{stderr}");
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

/// The shipped sample under `root`, one training image with one pixel changed (and the file
/// written again, so the JPEG's decoded values move a little everywhere).
fn copy_sample_with_one_pixel_changed(root: &Path) {
    copy_dir(&sample_root().join("bsds300"), &root.join("bsds300"));
    let first = root.join("bsds300/train/100075.jpg");
    let mut image = image::open(&first).unwrap().to_rgb8();
    let pixel = image.get_pixel_mut(40, 40);
    pixel.0 = pixel.0.map(|v| v ^ 0x20);
    image.save(&first).unwrap();
}

/// The checkpoint carries the random stream's state after initialisation, and the wall and CPU
/// time the run took until it, which the resumed run's `metrics.json` adds to its own.
#[test]
fn a_checkpoint_records_the_rng_state_and_the_time_spent() {
    use gmm_zoo::training::checkpoint::Checkpoint;
    use gmm_zoo::training::clock::Spent;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "full.toml", FULL);
    let out = dir.path().join("run");
    kill_at(&config, &out, &[], "", 4);
    let ckpt = Checkpoint::read(&out.join("checkpoint.ckpt")).unwrap();
    let rng = ckpt.meta.report.rng.clone().expect("the RNG state is recorded");
    assert_eq!(rng.seed, 3, "the layer's seed (config seed + layer index)");
    assert!(rng.word_pos.parse::<u128>().unwrap() > 0, "k-means++ drew from the stream");
    assert!(ckpt.meta.report.iterations.len() >= 2);
    assert_eq!(ckpt.meta.layer_index, 0);
    assert_eq!(ckpt.meta.layer_kind, "full");
    let spent = ckpt.meta.spent;
    assert!(spent.wall > 0.0 && spent.cpu > 0.0, "{spent:?}");

    // As if the killed process had run for a day at 150 % CPU.
    let mut meta = ckpt.meta.clone();
    meta.spent = Spent { wall: 86_400.0, cpu: 129_600.0 };
    Checkpoint::write(&out.join("checkpoint.ckpt"), &meta, &ckpt.record).unwrap();
    let t = std::time::Instant::now();
    let done = run(&config, &out, &["--resume", "--quiet"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let this_process = t.elapsed().as_secs_f64();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let (total, cpu) =
        (m["timings"]["total"].as_f64().unwrap(), m["timings"]["cpu"].as_f64().unwrap());
    assert!(total > 86_400.0 && total < 86_400.0 + this_process, "{total}");
    assert!(cpu > 129_600.0 && cpu < 129_600.0 + 64.0 * this_process, "{cpu}");
}

/// A run resumes under a config that changes only its stopping rule: killed in a 20-iteration
/// run, resumed with `max_iter = 12`, it is the fresh 12-iteration run bit for bit; resumed
/// with fewer iterations than its checkpoint holds, it is refused naming the file and the key;
/// and a checkpoint of an earlier build (its config hashed with the stopping rule) resumes.
#[test]
fn a_run_resumes_under_a_changed_stopping_rule() {
    use gmm_zoo::training::RunConfig;
    use gmm_zoo::training::checkpoint::{Checkpoint, Fingerprint};
    let dir = tempfile::tempdir().unwrap();
    let long = write_config(dir.path(), "long.toml", FULL);
    let short = write_config(dir.path(), "short.toml", &with_iterations(FULL, 20, 12, None));
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    assert!(run(&short, &whole, &["--quiet"]).status.success());
    kill_at(&long, &broken, &[], "", 7);
    let done = run(&short, &broken, &["--resume", "--quiet"]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(histories(&whole, 1)[0].len(), 12);
    assert_eq!(histories(&whole, 1), histories(&broken, 1));
    assert_eq!(parameters(&whole, 1), parameters(&broken, 1));

    let (past, ckpt) = (dir.path().join("past"), dir.path().join("past/checkpoint.ckpt"));
    kill_at(&long, &past, &[], "", 9);
    let good = std::fs::read(&ckpt).unwrap();
    let four = write_config(dir.path(), "four.toml", &with_iterations(FULL, 20, 4, None));
    let r = run(&four, &past, &["--resume"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("checkpoint.ckpt")
            && err.contains("em.max_iter = 4")
            && err.contains("holds 8"),
        "{err}"
    );
    assert_eq!(std::fs::read(&ckpt).unwrap(), good, "the checkpoint is left as it was");

    // Re-labelled as an earlier build wrote it, it resumes under the config that wrote it only.
    let config = RunConfig::load(&long).unwrap();
    let hash = |text: &str| Fingerprint::new(text, [0, 0], &[]).config;
    let written = Checkpoint::read(&ckpt).unwrap();
    assert_eq!(written.meta.fingerprint.config, hash(&config.model_definition()));
    let mut meta = written.meta.clone();
    meta.fingerprint.config = hash(&config.model_definition_with_stopping_rule());
    Checkpoint::write(&ckpt, &meta, &written.record).unwrap();
    let r = run(&short, &past, &["--resume"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("different config"), "{r:?}");
    let r = run(&long, &past, &["--resume", "--quiet"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(histories(&past, 1)[0].len(), 20);
}

/// `text` with `max_iter = from` set to `to` and, when given, `warm_start = "<dir>"` in `[em]`.
fn with_iterations(text: &str, from: usize, to: usize, warm: Option<&Path>) -> String {
    let text = text.replace(&format!("max_iter = {from}\n"), &format!("max_iter = {to}\n"));
    match warm {
        Some(dir) => text.replace("[em]\n", &format!("[em]\nwarm_start = {:?}\n", dir)),
        None => text,
    }
}

/// 8 iterations, then the rest warm-started from that run's folder, are the one longer run:
/// the same log-likelihood at every iteration and the same parameters, bit for bit (a full GMM,
/// and a deep GMM whose Adam M-steps start afresh each iteration anyway).
#[test]
fn a_warm_start_continues_a_finished_run_exactly() {
    for (name, text, total) in [("full", FULL, 20), ("deep", DEEP, 14)] {
        let dir = tempfile::tempdir().unwrap();
        let (whole, first, rest) =
            (dir.path().join("whole"), dir.path().join("first"), dir.path().join("rest"));
        let config = write_config(dir.path(), "whole.toml", text);
        assert!(run(&config, &whole, &["--quiet"]).status.success());
        let config = write_config(dir.path(), "first.toml", &with_iterations(text, total, 8, None));
        assert!(run(&config, &first, &["--quiet"]).status.success());
        let warm = with_iterations(text, total, total - 8, Some(&first));
        let config = write_config(dir.path(), "rest.toml", &warm);
        let r = run(&config, &rest, &[]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success(), "{name}: {err}");
        assert!(err.contains("starting EM from the trained layer of"), "{name}: {err}");

        let (whole_h, first_h, rest_h) = (
            histories(&whole, 1).remove(0),
            histories(&first, 1).remove(0),
            histories(&rest, 1).remove(0),
        );
        assert_eq!(whole_h.len(), total, "{name}");
        assert_eq!(rest_h.len(), total - 8, "{name}: only this run's iterations are recorded");
        assert_eq!([first_h, rest_h].concat(), whole_h, "{name}");
        assert_eq!(parameters(&rest, 1), parameters(&whole, 1), "{name}");
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(rest.join("metrics.json")).unwrap()).unwrap();
        assert_eq!(m["warm_started_from"].as_str(), first.to_str(), "{name}");
    }
}

/// A warm start from a layer that does not fit, or beside a setting that contradicts it
/// (restarts, a deep GMM's `first_layer`, a stack layer's `reuse`): one error naming the file
/// or key, exit 1, nothing written.
#[test]
fn a_warm_start_that_does_not_fit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (trained, network) = (dir.path().join("trained"), dir.path().join("network"));
    let config = write_config(dir.path(), "full.toml", &with_iterations(FULL, 20, 2, None));
    assert!(run(&config, &trained, &["--quiet"]).status.success());
    let config = write_config(dir.path(), "deep.toml", &with_iterations(DEEP, 14, 2, None));
    assert!(run(&config, &network, &["--quiet"]).status.success());
    let toml = trained.join("model.toml");
    let toml = toml.to_str().unwrap();
    let missing = dir.path().join("nowhere");
    let warm_full = |text: &str| with_iterations(text, 20, 2, Some(&trained));
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            warm_full(&FULL.replace("n_components = 6", "n_components = 5")),
            vec![toml, "configured with 6 components, this layer with 5"],
        ),
        (
            // As many nodes and paths, so as many parameters of the same shapes: not the same.
            with_iterations(DEEP, 14, 2, Some(&network)).replace("[3, 2]", "[2, 3]"),
            vec![
                "network/model.toml",
                "configured with nodes = [3, 2], this layer with nodes = [2, 3]",
            ],
        ),
        (
            with_iterations(DEEP, 14, 2, Some(&trained)),
            vec![toml, "it is a full layer", "this layer is a deep"],
        ),
        (with_iterations(FULL, 20, 2, Some(&missing)), vec!["nowhere/model.toml"]),
        (
            warm_full(&FULL.replace("[em]\n", "[em]\nn_init = 2\n")),
            vec!["em.warm_start", "restarts"],
        ),
        (
            with_iterations(DEEP, 14, 2, Some(&trained))
                .replace("kind = \"deep\"", "kind = \"deep\"\nfirst_layer = \"x\""),
            vec!["first_layer", "remove first_layer"],
        ),
        (
            format!(
                "name = \"s\"\n[data]\ndataset = \"bsds300\"\nn_train = 2000\nn_test = 500\n\
                 [[layers]]\nkind = \"full\"\n\
                 n_components = 6\nreuse = {trained:?}\n[layers.em]\nmax_iter = 2\n\
                 warm_start = {trained:?}\n"
            ),
            vec!["layers[0].em.warm_start", "`reuse`", "use one of the two"],
        ),
    ];
    for (i, (text, needles)) in cases.into_iter().enumerate() {
        let config = write_config(dir.path(), &format!("bad{i}.toml"), &text);
        let out = dir.path().join(format!("out{i}"));
        let r = run(&config, &out, &["--quiet"]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
        for needle in needles {
            assert!(err.contains(needle), "case {i}: expected '{needle}' in: {err}");
        }
        assert!(!out.join("model.bpk").exists(), "case {i}: nothing is written");
    }
}
