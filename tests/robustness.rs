//! Every numeric key of every family and of `[data]`, `[em]`, `[output]` and `[checkpoint]` set
//! to extreme values (0, 1, −1, 2³¹, 2⁶³ − 1, 1e300, NaN, ±inf, a string), trained through the
//! binary on small data: the run ends with exit 0, or exit 1 and one `error:` line — never a
//! signal, never a panic, never more than a bounded peak memory. Keys that only count work
//! (iterations, restarts, Adam steps) may also still be running when the time is up.
#![cfg(unix)]

mod common;

use common::{repo, sample_root};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VALUES: [&str; 11] = [
    "0",
    "1",
    "-1",
    "2147483648",
    "9223372036854775807",
    "1e300",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "\"x\"",
];

/// Peak memory a run may reach on these small data, KiB.
const MAX_RSS_KIB: i64 = 2 << 20;
/// How long one run may take before it must be a key that counts work.
const TIME_LIMIT: Duration = Duration::from_secs(5);

const CONV: &str = r#"name = "extreme"
seed = 1
[data]
dataset = "bsds"
patch_size = 8
n_train = 2000
n_test = 500
min_std = 0.04
[model]
kind = "conv"
n_components = 4
spectrum_floor = 1e-6
[em]
max_iter = 1
tol = 0.0
batch_size = 1000
[output]
top_samples = 2
[checkpoint]
every = 1
"#;

const FULL: &str = r#"name = "extreme"
seed = 1
[data]
dataset = "bsds300"
n_train = 2000
n_test = 500
[model]
kind = "full"
n_components = 3
reg_covar = 1e-6
[em]
max_iter = 1
tol = 0.0
batch_size = 1000
prune_below = 0.01
n_init = 1
[em.annealing]
beta0 = 0.5
growth = 1.5
stage_max_iter = 1
stage_tol = 1e-3
[output]
top_samples = 2
[checkpoint]
every = 1
"#;

const DEEP: &str = r#"name = "extreme"
seed = 1
[data]
dataset = "bsds300"
n_train = 2000
n_test = 500
[model]
kind = "deep"
nodes = [2, 2]
beam = 2
reg_covar = 1e-6
m_step_iters = 2
learning_rate = 0.01
init_noise = 0.1
[em]
max_iter = 1
tol = 0.0
batch_size = 1000
[output]
top_samples = 2
[checkpoint]
every = 1
"#;

/// Keys that count work: a run that is still going at the time limit is not a fault.
const WORK: [&str; 4] = ["max_iter", "n_init", "stage_max_iter", "m_step_iters"];

/// `text` with the line `key = …` of `table` set to `value` (`nodes`: its first entry).
fn with_value(text: &str, table: &str, key: &str, value: &str) -> String {
    let mut current = String::new();
    let mut out = String::new();
    let mut found = false;
    for line in text.lines() {
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).to_string();
        }
        let replaced = match line.split_once(" = ") {
            Some((k, _)) if k == key && current == table => {
                found = true;
                match key {
                    "nodes" => format!("nodes = [{value}, 2]"),
                    _ => format!("{key} = {value}"),
                }
            }
            _ => line.to_string(),
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    assert!(found, "{table}.{key} is in the config");
    out
}

/// How a run ended.
struct Ended {
    /// The exit code, or None when it was ended by a signal.
    code: Option<i32>,
    /// The signal that ended it, ours (the time limit) included.
    signal: Option<i32>,
    timed_out: bool,
    max_rss_kib: i64,
    stderr: String,
}

/// Runs `gmmzoo train <config>` on the shipped sample, on the CPU, under the time limit.
fn train(config: &Path, out: &Path) -> Ended {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["train", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
        .arg("--data-dir")
        .arg(sample_root())
        .current_dir(repo())
        .env_remove("GMM_ZOO_DATA")
        .env_remove("GMM_ZOO_DEVICE")
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 reaps only this child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: pid is our own child, status and usage are valid for writes.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if start.elapsed() > TIME_LIMIT && !timed_out {
            timed_out = true;
            // SAFETY: sending SIGKILL to our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stderr = reader.join().unwrap();
    let (code, signal) = match libc::WIFSIGNALED(status) {
        true => (None, Some(libc::WTERMSIG(status))),
        false => (Some(libc::WEXITSTATUS(status)), None),
    };
    Ended { code, signal, timed_out, max_rss_kib: usage.ru_maxrss, stderr }
}

/// The numeric keys of one base config, as (table, key).
fn keys(text: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            table = line.trim_matches(['[', ']']).to_string();
        } else if let Some((k, v)) = line.split_once(" = ") {
            let numeric = v.starts_with(|c: char| c.is_ascii_digit() || c == '[');
            if numeric && !table.is_empty() || k == "seed" {
                out.push((table.clone(), k.to_string()));
            }
        }
    }
    out
}

#[test]
fn extreme_values_of_every_numeric_key_end_in_a_sentence_or_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Vec::new();
    let mut runs = 0;
    for (family, base) in [("conv", CONV), ("full", FULL), ("deep", DEEP)] {
        for (table, key) in keys(base) {
            for value in VALUES {
                let text = with_value(base, &table, &key, value);
                let config = dir.path().join(format!("c{runs}.toml"));
                std::fs::write(&config, &text).unwrap();
                let out = dir.path().join(format!("o{runs}"));
                let ended = train(&config, &out);
                runs += 1;
                let case = format!("{family}: {table}.{key} = {value}");
                let lines: Vec<&str> = ended.stderr.lines().filter(|l| !l.is_empty()).collect();
                let fault = if ended.stderr.contains("panicked") {
                    Some(format!("panicked: {}", ended.stderr))
                } else if ended.max_rss_kib > MAX_RSS_KIB {
                    Some(format!("peak memory {} MiB", ended.max_rss_kib >> 10))
                } else if ended.timed_out {
                    (!WORK.contains(&key.as_str())).then(|| "still running at the limit".into())
                } else if let Some(signal) = ended.signal {
                    Some(format!("ended by signal {signal}: {}", ended.stderr))
                } else {
                    match ended.code {
                        Some(0) => None,
                        Some(1) if lines.len() == 1 && lines[0].starts_with("error: ") => None,
                        code => Some(format!("exit {code:?} with: {}", ended.stderr)),
                    }
                };
                if let Some(fault) = fault {
                    faults.push(format!("{case}: {fault}"));
                }
                let _ = std::fs::remove_dir_all(&out);
            }
        }
    }
    assert!(runs > 300, "{runs} runs");
    assert!(faults.is_empty(), "{} of {runs} runs failed:\n{}", faults.len(), faults.join("\n"));
}

/// Sizes that used to abort in an allocation, and flags that asked for absurd amounts of
/// work: one sentence naming the key or flag, exit 1, before anything is allocated or trained.
#[test]
fn absurd_sizes_and_flags_are_one_sentence_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let conv = CONV.replace("n_components = 4", "n_components = 100000000");
    let full = FULL
        .replace("dataset = \"bsds300\"", "dataset = \"mnist\"")
        .replace("n_components = 3", "n_components = 1000000000");
    let few = FULL.replace("n_components = 3", "n_components = 2001");
    let deep = DEEP.replace("nodes = [2, 2]", "nodes = [3000, 2]");
    let batch = FULL.replace("batch_size = 1000", "batch_size = 9223372036854775807");
    let cases = [
        (conv, "model.n_components = 100000000 needs"),
        (full, "model.n_components = 1000000000 needs"),
        (few, "model.n_components: 2001 components need at least 2001 training samples, got 2000"),
        (deep, "model.nodes: 3000 components need at least 3000 training samples"),
        (batch, "em.batch_size = 9223372036854775807 needs"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&config, text).unwrap();
        let ended = train(&config, &dir.path().join(format!("o{i}")));
        assert_eq!(ended.code, Some(1), "case {i}: {}", ended.stderr);
        assert!(ended.stderr.contains(needle), "case {i}: expected '{needle}' in {}", ended.stderr);
        assert_eq!(ended.stderr.trim().lines().count(), 1, "case {i}: {}", ended.stderr);
        assert!(ended.max_rss_kib < 512 << 10, "case {i}: {} KiB", ended.max_rss_kib);
    }
    let flags: [(&[&str], &str); 6] = [
        (
            &["train", "configs/quickstart.toml", "--threads", "100000"],
            "--threads 100000 is more than",
        ),
        (&["refine", "mnist_stack_std", "--iters", "0"], "--iters must be between 1 and"),
        (&["finetune", "classify_conv", "--steps", "1000000000000"], "--steps must be between"),
        (&["classify", "configs/classify_conv.toml", "--jobs", "0"], "--jobs must be between 1"),
        (
            &["select", "configs/quickstart.toml", "--components", "0,2"],
            "--components must be at least 1",
        ),
        (&["bench", "configs/bsds16.toml", "--reps", "100000000"], "--reps must be between"),
    ];
    for (args, needle) in flags {
        let out = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
            .args(args)
            .current_dir(repo())
            .env_remove("GMM_ZOO_DEVICE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle) && err.trim().lines().count() == 1, "{args:?}: {err}");
    }
}
