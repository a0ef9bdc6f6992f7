//! Data-parallel EM over MPI (`--features mpi`): `mpirun -n 2 gmmzoo train` gives the model a
//! single process gives — train and test log-likelihood within 1e-5 relative (1e-5 nats per
//! dimension for figures near 0), the same components alive, the same iterations — for a conv
//! layer, a full GMM of each covariance type, a three-layer stack, an annealed and pruned
//! probability-vector GMM, one on weighted rows, one on rows each rank reads from disk and a
//! deep GMM, and only rank 0 writes the run folder;
//! `classify` spread over the ranks gives the single-process classifier; a job one of whose
//! ranks is killed ends with a non-zero exit and resumes from its checkpoint to the model of an
//! uninterrupted job. Run by `.ci/run` where Open MPI is installed.
#![cfg(feature = "mpi")]

mod common;

use common::repo;
use std::path::Path;
use std::process::Command;

/// `mpirun`, when this machine has one.
fn mpirun_available() -> bool {
    Command::new("mpirun").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Whether this machine lacks `mpirun` (then the test says so and passes without running).
fn skip_without_mpirun() -> bool {
    let missing = !mpirun_available();
    if missing {
        eprintln!("mpirun not found (install openmpi-bin); the MPI tests were skipped");
    }
    missing
}

/// `gmmzoo`, alone or under `mpirun -n ranks`, in the repository without `GMM_ZOO_DATA`.
fn gmmzoo(ranks: Option<usize>) -> Command {
    let bin = env!("CARGO_BIN_EXE_gmmzoo");
    let mut command = match ranks {
        None => Command::new(bin),
        Some(n) => {
            let mut c = Command::new("mpirun");
            c.args(["--allow-run-as-root", "--oversubscribe", "-n", &n.to_string(), bin]);
            c
        }
    };
    command.current_dir(repo()).env_remove("GMM_ZOO_DATA");
    command
}

/// `text` written to `<dir>/<name>` (a config, or the rows it names).
fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A `TMPDIR` for the ranks' scratch folders, under `dir`.
fn scratch_root(dir: &Path) -> std::path::PathBuf {
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    tmp
}

/// The ranks' scratch folders left in `tmp`.
fn scratch_left(tmp: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|name| name.to_string_lossy().starts_with("gmmzoo-rank"))
        .collect()
}

/// Trains `config` into `out`, alone or under `mpirun -n ranks`, and returns its metrics.
/// The ranks' scratch folders go under `tmp` (`TMPDIR`).
fn train(config: &Path, out: &Path, ranks: Option<usize>, tmp: &Path) -> serde_json::Value {
    let args = ["train", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"];
    let output = gmmzoo(ranks).args(args).env("TMPDIR", tmp).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(out.join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every layer's metrics (one for a single layer).
fn layers(metrics: &serde_json::Value) -> Vec<serde_json::Value> {
    match metrics.get("layers") {
        Some(list) => list.as_array().unwrap().clone(),
        None => vec![metrics.clone()],
    }
}

/// `first_layer`: the relative tolerance of a first layer's figures (1e-5 for f32 rounding);
/// `start`: of its first E-step, which scores the initial parameters.
fn assert_same_model(config_text: &str, name: &str, [first_layer, start]: [f64; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), &format!("{name}.toml"), config_text);
    let tmp = scratch_root(dir.path());
    let single = layers(&train(&config, &dir.path().join("one"), None, &tmp));
    let two = layers(&train(&config, &dir.path().join("two"), Some(2), &tmp));
    assert_eq!(single.len(), two.len());
    for (a, b) in single.iter().zip(&two) {
        for split in ["train", "test"] {
            let (x, y) = (
                a[split]["nats_per_sample"].as_f64().unwrap(),
                b[split]["nats_per_sample"].as_f64().unwrap(),
            );
            // f32 tolerance: 1e-5 relative, or 1e-5 nats per dimension for figures near 0. A
            // layer above the first fits features of a layer that already differs by f32
            // rounding, and EM does not shrink such differences: 1e-4 there (measured on this
            // stack: 3e-8, 7e-6 and 3e-5 of the scale for its three layers).
            let scale = x.abs().max(a["dims"].as_f64().unwrap());
            let tolerance = if a["layer"] == 0 { first_layer } else { 1e-4 };
            assert!(
                (x - y).abs() <= tolerance * scale,
                "{name} layer {}: {split} {x} vs {y}",
                a["layer"]
            );
        }
        // A first layer's first E-step scores the initialisation, which the ranks compute from
        // their shards (sums in another order than one process's): its figure agrees to
        // rounding whatever the M-steps do afterwards.
        if a["layer"] == 0 {
            let first =
                |m: &serde_json::Value| m["iterations"][0]["log_likelihood"].as_f64().unwrap();
            let scale = first(a).abs().max(a["dims"].as_f64().unwrap());
            let (x, y) = (first(a), first(b));
            assert!((x - y).abs() <= start * scale, "{name}: first E-step {x} vs {y}");
        }
        assert_eq!(a["n_components"], b["n_components"], "{name}: components alive");
        assert_eq!(
            a["iterations"].as_array().unwrap().len(),
            b["iterations"].as_array().unwrap().len()
        );
    }
    assert!(scratch_left(&tmp).is_empty(), "the other ranks' scratch folders are removed");
}

/// conv → full on standardised log-likelihoods → prob on responsibilities, with pruning.
const STACK: &str = r#"
name = "stack"
seed = 5
[data]
dataset = "mnist"
n_train = 1500
n_test = 500
[[layers]]
kind = "conv"
n_components = 8
exclude_dc = false
[layers.em]
max_iter = 10
batch_size = 400
[[layers]]
kind = "full"
input = "log_likelihood_standardised"
n_components = 6
zero_mean = true
reg_covar = 1e-3
[layers.em]
max_iter = 15
batch_size = 400
init = "kmeans"
[[layers]]
kind = "prob"
input = "responsibility"
n_components = 4
reg_covar = 1e-3
[layers.em]
max_iter = 10
batch_size = 400
prune_below = 0.02
"#;

#[test]
fn two_ranks_train_the_single_process_model() {
    if skip_without_mpirun() {
        return;
    }
    let quickstart = std::fs::read_to_string(repo().join("configs/quickstart.toml")).unwrap();
    // Small batches, so that each rank's share holds several.
    let f32_rounding = [1e-5, 1e-6];
    let conv = quickstart.replace("[em]", "[em]\nbatch_size = 3000");
    assert_same_model(&conv, "conv", f32_rounding);
    // Each covariance type: its statistics (a diagonal type's are its own) summed over ranks.
    for covariance_type in ["full", "diag", "tied", "spherical"] {
        assert_same_model(
            &format!(
                "name = \"full\"\nseed = 2\n[data]\ndataset = \"mnist\"\nn_train = 1500\n\
                 n_test = 500\n[model]\nkind = \"full\"\nn_components = 6\nreg_covar = 1e-2\n\
                 covariance_type = \"{covariance_type}\"\n[em]\nmax_iter = 8\nbatch_size = 256\n\
                 init = \"kmeans\"\n"
            ),
            covariance_type,
            f32_rounding,
        );
    }
    assert_same_model(STACK, "stack", f32_rounding);
    // Stepwise EM: mini-batch k is the whole data's batches 2k and 2k + 1, each rank adding
    // the ones its shard holds (1500 rows in 6 batches: 3 mini-batches, the middle one split
    // between the ranks).
    assert_same_model(
        "name = \"stepwise\"\nseed = 2\n[data]\ndataset = \"mnist\"\nn_train = 1500\n\
         n_test = 500\n[model]\nkind = \"full\"\nn_components = 6\nreg_covar = 1e-2\n[em]\n\
         max_iter = 5\nbatch_size = 256\ninit = \"kmeans\"\n[em.stepwise]\nbatches = 2\n",
        "stepwise",
        f32_rounding,
    );
    // Deterministic annealing and pruning on a first layer: a probability-vector GMM on the
    // user's rows (a CSV of 2,400 probability vectors in three groups); 4 of its 8 components
    // are pruned, 3 after the first iteration and 1 during annealing.
    let dir = tempfile::tempdir().unwrap();
    let (mut csv, mut npy) = (String::new(), Vec::new());
    for i in 0..2400usize {
        let raw: Vec<f64> = (0..5)
            .map(|j| 1.0 + ((i * 7 + j * 13) % 17) as f64 + if j == i % 3 { 30.0 } else { 0.0 })
            .collect();
        let total: f64 = raw.iter().sum();
        let row: Vec<String> = raw.iter().map(|v| format!("{:.7}", v / total)).collect();
        csv.push_str(&(row.join(",") + "\n"));
        npy.extend(row.iter().flat_map(|v| v.parse::<f32>().unwrap().to_le_bytes()));
    }
    let rows = write_file(dir.path(), "simplex.csv", &csv);
    let annealed = format!(
        "name = \"annealed\"\nseed = 8\n[data]\ndataset = \"array\"\ntrain = \"{}\"\n\
         [model]\nkind = \"prob\"\nn_components = 8\nreg_covar = 1e-3\n[em]\nmax_iter = 12\n\
         batch_size = 300\nprune_below = 0.1\n[em.annealing]\nbeta0 = 0.3\nstage_max_iter = 4\n",
        rows.display()
    );
    assert_same_model(&annealed, "annealed", f32_rounding);
    // Sample weights (`[data] weights`): scaled over all rows before each rank cuts its block.
    let weights: String = (0..2400).map(|i| format!("{}\n", i % 4)).collect();
    let weights = write_file(dir.path(), "weights.csv", &weights);
    let weighted = format!(
        "name = \"weighted\"\nseed = 8\n[data]\ndataset = \"array\"\ntrain = \"{}\"\n\
         weights = \"{}\"\n[model]\nkind = \"prob\"\nn_components = 3\nreg_covar = 1e-3\n[em]\n\
         max_iter = 8\nbatch_size = 300\n",
        rows.display(),
        weights.display()
    );
    assert_same_model(&weighted, "weighted", f32_rounding);
    // Weighted k-means++ draws and Lloyd's weighted means on the shards.
    let weighted_kmeans = weighted
        .replace("kind = \"prob\"", "kind = \"full\"")
        .replace("[em]\n", "[em]\ninit = \"kmeans\"\n");
    assert_same_model(&weighted_kmeans, "weighted_kmeans", f32_rounding);
    // The same rows read from disk (`stream = true`): each rank reads its own block of the file.
    let file = dir.path().join("simplex.npy");
    common::write_npy(&file, "<f4", false, &[2400, 5], &npy);
    let streamed = weighted_kmeans.replace(
        &format!("train = \"{}\"\n", rows.display()),
        &format!("train = \"{}\"\nstream = true\n", file.display()),
    );
    assert!(streamed.contains("stream = true"));
    assert_same_model(&streamed, "streamed", f32_rounding);
    // The deep GMM: hard EM's path search row by row on each rank's shard, the per-path
    // statistics all-reduced, the same deterministic Adam M-step on every rank. Its
    // initialisation (k-means on the shards, then inverses of the node transforms) already
    // differs from one process's by summation order (measured 1.7e-6 of the first E-step's
    // figure), and Adam divides each gradient by its running magnitude, so such differences
    // move near-zero gradients by whole steps: after 5 iterations the figures differ by 4e-4
    // of their scale (measured), not 1e-7.
    assert_same_model(
        "name = \"deep\"\nseed = 4\n[data]\ndataset = \"bsds\"\npatch_size = 4\nn_train = 3000\n\
         n_test = 1000\n[model]\nkind = \"deep\"\nnodes = [3, 2]\nbeam = 2\nm_step_iters = 20\n\
         [em]\nmax_iter = 5\nbatch_size = 500\ninit = \"kmeans\"\n",
        "deep",
        [1e-3, 1e-5],
    );
}

/// A full GMM long enough to be killed in, a checkpoint after every iteration.
const KILLED: &str = "name = \"killed\"\nseed = 6\n[data]\ndataset = \"mnist\"\nn_train = 1500\n\
    n_test = 500\n[model]\nkind = \"full\"\nn_components = 8\nreg_covar = 1e-2\n[em]\n\
    max_iter = 40\ntol = 0.0\nbatch_size = 256\ninit = \"kmeans++\"\n[checkpoint]\nevery = 1\n";

/// The gmmzoo processes `mpirun` (process `parent`) started.
fn ranks_of(parent: u32) -> Vec<u32> {
    let mut ranks = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid …
        let Some((head, rest)) = stat.rsplit_once(") ") else { continue };
        let ppid = rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        if head.contains("(gmmzoo") && ppid == Some(parent) {
            ranks.push(entry.file_name().to_string_lossy().parse().unwrap());
        }
    }
    ranks
}

#[test]
fn a_killed_rank_ends_the_job_and_the_checkpoint_resumes_to_the_same_model() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    if skip_without_mpirun() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(dir.path(), "killed.toml", KILLED);
    let tmp = scratch_root(dir.path());
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    train(&config, &whole, Some(2), &tmp);

    let mpirun = |extra: &[&str]| {
        let mut c = gmmzoo(Some(2));
        c.arg("train").arg(&config).arg("--out").arg(&broken).args(extra).env("TMPDIR", &tmp);
        c
    };
    // Kill one rank (SIGKILL) once rank 0 has logged iteration 6.
    let mut job = mpirun(&[]).stderr(Stdio::piped()).spawn().unwrap();
    let mut log = String::new();
    for line in BufReader::new(job.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.starts_with("iter    6/") {
            let ranks = ranks_of(job.id());
            assert_eq!(ranks.len(), 2, "two ranks under mpirun: {ranks:?}");
            Command::new("kill").args(["-KILL", &ranks[1].to_string()]).status().unwrap();
        }
    }
    let status = job.wait().unwrap();
    assert!(!status.success(), "the job ends with a non-zero exit when a rank dies:\n{log}");
    assert!(log.contains("signal 9"), "mpirun names the killed rank:\n{log}");
    assert!(broken.join("checkpoint.ckpt").is_file(), "the last checkpoint survives");

    let resumed = mpirun(&["--resume", "--quiet"]).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let metrics = |run: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap()
    };
    let (a, b) = (metrics(&whole), metrics(&broken));
    let history = |m: &serde_json::Value| -> Vec<f64> {
        let iterations = m["iterations"].as_array().unwrap();
        iterations.iter().map(|r| r["log_likelihood"].as_f64().unwrap()).collect()
    };
    assert_eq!(history(&a), history(&b), "the resumed job continues the same EM");
    for key in ["test", "train", "weights", "n_components"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let leftovers = scratch_left(&tmp);
    assert!(leftovers.is_empty(), "the killed rank's scratch folder is removed: {leftovers:?}");
}

#[test]
fn classify_over_two_ranks_gives_the_single_process_classifier() {
    if skip_without_mpirun() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "classify.toml",
        "name = \"classes\"\nseed = 7\n[data]\ndataset = \"mnist\"\nn_train = 2000\n\
         n_test = 500\n[model]\nkind = \"full\"\nn_components = 2\nreg_covar = 0.05\n[em]\n\
         max_iter = 6\ninit = \"kmeans++\"\n",
    );
    let classify = |ranks: Option<usize>, out: &Path| {
        let output = gmmzoo(ranks)
            .args(["classify", config.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .args(["--jobs", "1", "--quiet"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = std::fs::read_to_string(out.join("classify.json")).unwrap();
        (serde_json::from_str::<serde_json::Value>(&text).unwrap(), output.stdout)
    };
    let (one, _) = classify(None, &dir.path().join("one"));
    let (two, stdout) = classify(Some(2), &dir.path().join("two"));
    // Each class model is fitted by one rank alone, as one process fits it: the same bits.
    for key in ["accuracy", "confusion", "own_class_test_log_likelihood", "class_iterations"] {
        assert_eq!(one[key], two[key], "{key}");
    }
    let printed = String::from_utf8_lossy(&stdout);
    assert_eq!(printed.matches("wrote").count(), 1, "rank 0 alone reports: {printed}");
}
