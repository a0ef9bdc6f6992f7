//! Staged training (`[[stages]]`): a staged run is, bit for bit, the chain of runs started by
//! hand with `first_layer`, `warm_start` and `widen_from` pointing at the run before; a run
//! killed inside a stage resumes to the same model; stages that cannot follow each other are
//! refused naming their key.

mod common;

use common::runs::{histories, kill_at, parameters, run, write_config};
use std::path::Path;

/// A full GMM, then a deep GMM on it (`first_layer`), then the same network on more rows with
/// another floor (`warm_start`), then the network widened (`widen_from`).
const STAGED: &str = r#"
name = "staged"
seed = 5
[data]
dataset = "bsds300"
n_train = 3000
n_test = 500
[model]
kind = "full"
n_components = 3
[em]
max_iter = 4
batch_size = 1000
init = "kmeans++"
[checkpoint]
every = 1

[[stages]]
[stages.model]
kind = "deep"
nodes = [3, 2]
beam = 2
m_step_iters = 20

[[stages]]
[stages.data]
n_train = 4000
[stages.model]
reg_covar = 1e-5
[stages.em]
max_iter = 3

[[stages]]
[stages.model]
nodes = [3, 4]
init_noise = 0.1
[stages.em]
max_iter = 5
"#;

/// The same four runs as a user writes them by hand, `{prev}` the folder of the one before.
const BY_HAND: [&str; 4] = [
    r#"
name = "staged"
seed = 5
[data]
dataset = "bsds300"
n_train = 3000
n_test = 500
[model]
kind = "full"
n_components = 3
[em]
max_iter = 4
batch_size = 1000
init = "kmeans++"
"#,
    r#"
name = "staged"
seed = 5
[data]
dataset = "bsds300"
n_train = 3000
n_test = 500
[model]
kind = "deep"
nodes = [3, 2]
beam = 2
m_step_iters = 20
first_layer = "{prev}"
[em]
max_iter = 4
batch_size = 1000
init = "kmeans++"
"#,
    r#"
name = "staged"
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
reg_covar = 1e-5
[em]
max_iter = 3
batch_size = 1000
init = "kmeans++"
warm_start = "{prev}"
"#,
    r#"
name = "staged"
seed = 5
[data]
dataset = "bsds300"
n_train = 4000
n_test = 500
[model]
kind = "deep"
nodes = [3, 4]
beam = 2
m_step_iters = 20
reg_covar = 1e-5
init_noise = 0.1
widen_from = "{prev}"
[em]
max_iter = 5
batch_size = 1000
init = "kmeans++"
"#,
];

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every stage's parameters and history equal the hand-started run's, the run folder holds
/// the last stage's model, and `stages.json` lists the four stages and how each started.
#[test]
fn a_staged_run_is_the_chain_of_runs_started_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let staged = dir.path().join("staged");
    let config = write_config(dir.path(), "staged.toml", STAGED);
    let r = run(&config, &staged, &["--quiet"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let mut prev = String::new();
    for (i, text) in BY_HAND.iter().enumerate() {
        let out = dir.path().join(format!("hand{i}"));
        let config =
            write_config(dir.path(), &format!("hand{i}.toml"), &text.replace("{prev}", &prev));
        let r = run(&config, &out, &["--quiet"]);
        assert!(r.status.success(), "hand {i}: {}", String::from_utf8_lossy(&r.stderr));
        let stage = staged.join(format!("stage{i}"));
        assert_eq!(histories(&stage, 1), histories(&out, 1), "stage {i}");
        assert_eq!(parameters(&stage, 1), parameters(&out, 1), "stage {i}");
        prev = out.to_string_lossy().into_owned();
    }
    let last = std::fs::read(staged.join("stage3/model.bpk")).unwrap();
    assert_eq!(std::fs::read(staged.join("model.bpk")).unwrap(), last);
    assert_eq!(parameters(&staged, 1), parameters(&dir.path().join("hand3"), 1));

    let summary = read_json(&staged.join("stages.json"));
    let stages = summary["stages"].as_array().unwrap();
    let starts: Vec<&str> = stages.iter().map(|s| s["start"].as_str().unwrap()).collect();
    assert_eq!(starts, ["config", "first_layer", "warm_start", "widen_from"]);
    let iterations: Vec<u64> = stages.iter().map(|s| s["iterations"].as_u64().unwrap()).collect();
    assert_eq!(iterations, [4, 4, 3, 5]);
    let metrics = read_json(&staged.join("metrics.json"));
    assert_eq!(metrics["test"], stages[3]["test"]);
}

/// Killed in the third stage (SIGKILL), `--resume` keeps the two finished stages, resumes the
/// third from its checkpoint and trains the fourth: the uninterrupted staged run's model.
#[test]
fn a_staged_run_killed_in_a_stage_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    // Slow enough in stage 2 (and 3) to be killed there: 1,000 Adam steps per M-step.
    let text = STAGED.replace("reg_covar = 1e-5\n", "reg_covar = 1e-5\nm_step_iters = 1000\n");
    let config = write_config(dir.path(), "staged.toml", &text);
    assert!(run(&config, &whole, &["--quiet"]).status.success());
    kill_at(&config, &broken, &[], "stage 2 of", 2);
    assert!(broken.join("stage2/checkpoint.ckpt").is_file(), "stage 2 left its checkpoint");
    assert!(!broken.join("stage3").exists());

    let r = run(&config, &broken, &["--resume"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("stage 0: finished") && err.contains("stage 1: finished"), "{err}");
    assert!(err.contains("resuming layer 0"), "{err}");
    for i in 0..4 {
        let (a, b) = (whole.join(format!("stage{i}")), broken.join(format!("stage{i}")));
        assert_eq!(histories(&a, 1), histories(&b, 1), "stage {i}");
        assert_eq!(parameters(&a, 1), parameters(&b, 1), "stage {i}");
    }
    assert_eq!(parameters(&whole, 1), parameters(&broken, 1));

    // A stage trained again takes every later stage with it: their finished runs were built
    // on its old model.
    std::fs::remove_dir_all(broken.join("stage1")).unwrap();
    let r = run(&config, &broken, &["--resume"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("stage 0: finished") && !err.contains("stage 2: finished"), "{err}");
    assert_eq!(parameters(&whole, 1), parameters(&broken, 1));

    // A finished stage trained from another config is refused, not silently kept.
    let other = text.replace("n_train = 4000", "n_train = 3500");
    let other = write_config(dir.path(), "other.toml", &other);
    std::fs::remove_file(broken.join("model.bpk")).unwrap();
    let r = run(&other, &broken, &["--resume", "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("stage2/config.toml") && err.contains("another config"), "{err}");
}

/// Stages that cannot follow each other, or that set what the stages set themselves: one
/// sentence naming the key, exit 1, nothing trained.
#[test]
fn stages_that_cannot_follow_are_refused_naming_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = STAGED.split("[[stages]]").next().unwrap().to_string();
    let cases = [
        ("[[stages]]\n[stages.em]\nwarm_start = \"x\"\n", "stages[0].em.warm_start"),
        (
            "[[stages]]\n[stages.model]\nn_components = 4\n",
            "cannot start from the stage before's full layer",
        ),
        ("[[stages]]\nname = \"other\"\n", "stages[0].name"),
        ("[[stages]]\n[stages.model]\nreg_covar = -1.0\n", "stages[0].model.reg_covar"),
        (
            "[[stages]]\n[stages.model]\nkind = \"deep\"\nnodes = [3, 2]\n\
             [[stages]]\n[stages.model]\nkind = \"full\"\nn_components = 3\n",
            "stages[1].model: a full layer with 3 components cannot start from the stage \
             before's deep layer",
        ),
        ("stages = []\n", "lists no stage"),
    ];
    for (i, (tail, needle)) in cases.iter().enumerate() {
        let text = match tail.starts_with("stages =") {
            true => format!("{tail}{base}"),
            false => format!("{base}{tail}"),
        };
        let config = write_config(dir.path(), &format!("bad{i}.toml"), &text);
        let out = dir.path().join(format!("out{i}"));
        let r = run(&config, &out, &["--quiet"]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
        assert!(err.contains(needle), "case {i}: expected '{needle}' in: {err}");
        assert!(!out.join("stage0").exists(), "case {i}: nothing is trained");
    }
    let stack = "name = \"s\"\n[data]\ndataset = \"mnist\"\n[[layers]]\nkind = \"conv\"\n\
                 n_components = 2\n[layers.em]\nmax_iter = 1\n[[stages]]\n[stages.em]\nmax_iter = 1\n";
    let config = write_config(dir.path(), "stack.toml", stack);
    let r = run(&config, &dir.path().join("stack"), &["--quiet"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot be staged"));
}

/// `zoo add` of a staged run ships its top (the last stage's model), not its stage folders, and
/// records the time and EM iterations of every stage; the shipped copy reproduces its figure.
#[test]
fn a_staged_run_is_added_to_the_zoo_as_one_model() {
    use gmm_zoo::experiments::zoo::{AddRequest, Verdict, add, verify_entry};
    let dir = tempfile::tempdir().unwrap();
    let staged = dir.path().join("staged");
    let config = write_config(dir.path(), "staged.toml", STAGED);
    assert!(run(&config, &staged, &["--quiet"]).status.success());
    let checkpoints = dir.path().join("checkpoints");
    let request = AddRequest {
        run_dir: staged.clone(),
        config: "configs/staged.toml".into(),
        data_root: common::sample_root(),
        ship: true,
        overwrite: false,
        machine: "test".into(),
    };
    let entry = add(&checkpoints, &request).unwrap().entry;
    assert!(entry.files.contains_key("model.bpk") && entry.files.contains_key("stages.json"));
    assert!(entry.files.keys().all(|f| !f.starts_with("stage0/")), "{:?}", entry.files.keys());
    let summary = read_json(&staged.join("stages.json"));
    let total = summary["total_seconds"].as_f64().unwrap();
    assert_eq!(entry.wall_seconds, total);
    let stages = summary["stages"].as_array().unwrap();
    let sum = |key: &str| stages.iter().map(|s| s[key].as_f64().unwrap()).sum::<f64>();
    assert!((total - sum("seconds")).abs() < 1e-9 * total);
    let cpu = summary["cpu_seconds"].as_f64().unwrap();
    assert!((cpu - sum("cpu_seconds")).abs() < 1e-9 * cpu);
    assert!(stages.iter().all(|s| s["cpu_seconds"].as_f64().unwrap() > 0.0));
    assert_eq!(entry.layers[0].iterations, 4 + 4 + 3 + 5);
    let se = entry.layers[0].test_standard_error.unwrap();
    assert_eq!(Some(se), summary["stages"][3]["test"]["standard_error"].as_f64());
    let opts = common::sample_options(&checkpoints);
    assert!(matches!(verify_entry(&checkpoints, &entry, &opts), Verdict::Reproduced(..)));
}
