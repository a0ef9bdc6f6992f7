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
    // 8x8 patches without DC: (64 − 4 self-conjugate bins)/2 + 4 − 1 = 33 bins per spectrum.
    let p = 16 * 33 + 15;
    assert_eq!(metrics["n_parameters"].as_u64(), Some(p as u64));
    let n = metrics["train"]["n"].as_f64().unwrap();
    let log_l = n * metrics["train"]["nats_per_sample"].as_f64().unwrap();
    let bic = metrics["criteria"]["bic"].as_f64().unwrap();
    let aic = metrics["criteria"]["aic"].as_f64().unwrap();
    assert!((bic - (-2.0 * log_l + p as f64 * n.ln())).abs() < 1e-6 * bic.abs());
    assert!((aic - (-2.0 * log_l + 2.0 * p as f64)).abs() < 1e-6 * aic.abs());

    let adapter = metrics["adapter"].as_str().unwrap_or_default();
    assert!(!adapter.is_empty(), "metrics.json names what computed: {metrics}");

    let png = image::open(out.join("components.png")).unwrap();
    assert!(png.height() > png.width(), "one row per component (16 rows, 11 columns)");

    let eval = gmmzoo(&["eval", out.to_str().unwrap(), "--split", "test"]);
    assert!(eval.status.success(), "eval failed: {}", stderr(&eval));
    let score: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let recorded = metrics["test"]["nats_per_sample"].as_f64().unwrap();
    let got = score["nats_per_sample"].as_f64().unwrap();
    assert!((got - recorded).abs() < 1e-9, "eval {got} vs recorded {recorded}");
    let bpp = score["bits_per_dim"].as_f64().unwrap();
    assert!((bpp + got / (64.0 * std::f64::consts::LN_2)).abs() < 1e-12);

    // The standard error over the test rows, from `score`'s per-row log-likelihoods.
    let csv = out.join("rows.csv");
    let rows = gmmzoo(&["score", out.to_str().unwrap(), "test", "--out", csv.to_str().unwrap()]);
    assert!(rows.status.success(), "score failed: {}", stderr(&rows));
    let text = std::fs::read_to_string(&csv).unwrap();
    let ll: Vec<f64> =
        text.lines().skip(1).map(|l| l.split(',').nth(4).unwrap().parse().unwrap()).collect();
    let n = ll.len() as f64;
    let mean = ll.iter().sum::<f64>() / n;
    let se = (ll.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    // `score`'s rows are the rows `eval` sums (to the CSV's 6 decimals).
    assert!((mean - got).abs() < 1e-6, "score's mean {mean} vs eval's {got}");
    for (what, value) in
        [("eval", &score["standard_error"]), ("metrics", &metrics["test"]["standard_error"])]
    {
        let value = value.as_f64().unwrap_or_else(|| panic!("{what} has no standard_error"));
        assert!((value - se).abs() < 1e-4 * se, "{what}: {value} vs {se} from the rows");
    }
    let printed = String::from_utf8_lossy(&rows.stdout);
    let figures: Vec<f64> = printed
        .split("mean log p(x) ")
        .nth(1)
        .and_then(|rest| rest.split(" nats").next())
        .map(|f| f.split(" ± ").filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(figures.len(), 2, "score prints its mean ± standard error: {printed}");
    assert!((figures[0] - mean).abs() < 1e-4 && (figures[1] - se).abs() < 1e-4, "{printed}");
}

/// A run's failure as the user sees it: exit 1, one `error:` line naming the device, no panic.
fn fails_with(args: &[&str], env: &[(&str, &str)], needle: &str) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gmmzoo"));
    command.args(args).current_dir(repo()).env_remove("GMM_ZOO_DEVICE");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("the binary runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
    // Mesa's software Vulkan driver warns on a headless machine; that line is not ours.
    let ours = err.lines().filter(|l| l.starts_with("error") && !l.contains("XDG_RUNTIME_DIR"));
    assert_eq!(ours.count(), 1, "{err}");
}

/// Device names: a CPU takes no index, an index must be a number, a GPU this build lacks says
/// how to get it; with the GPU features, a machine without a Vulkan driver (the loader pointed
/// at no driver) or an index past its adapters is one clear sentence, and `gmmzoo devices`
/// lists what there is.
#[test]
fn device_names_are_checked_and_a_missing_gpu_is_one_clear_error() {
    let train = |device: &'static str| ["train", "configs/quickstart.toml", "--device", device];
    fails_with(&train("flex:1"), &[], "takes no index");
    fails_with(&train("tpu"), &[], "not available in this build");
    if cfg!(feature = "wgpu") {
        fails_with(&train("vulkan:x"), &[], "is not an adapter index");
        fails_with(&train("vulkan:99"), &[], "adapter(s)");
        let no_driver =
            [("VK_DRIVER_FILES", "/nonexistent.json"), ("VK_ICD_FILENAMES", "/nonexistent.json")];
        fails_with(&train("vulkan"), &no_driver, "no Vulkan adapter");
        let listed = gmmzoo(&["devices"]);
        let text = String::from_utf8_lossy(&listed.stdout).into_owned();
        assert!(listed.status.success() && text.contains("vulkan:0"), "{text}");
    } else {
        fails_with(&train("vulkan"), &[], "not available in this build");
    }
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
            vec![write_config(
                d,
                "huge.toml",
                &GOOD.replace("n_train = 2000", "n_train = 100000000000"),
            )],
            vec!["huge.toml", "data.n_train", "GB", "at most"],
        ),
        (
            vec![write_config(d, "top.toml", &format!("{GOOD}[output]\ntop_samples = 5000\n"))],
            vec!["top.toml", "output.top_samples", "1000"],
        ),
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

/// `sample --n` of a size no picture (or machine) holds is refused before anything is drawn.
#[test]
fn absurd_sample_counts_are_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("s.png");
    let png = png.to_str().unwrap();
    for (args, needle) in [
        (vec!["sample", "quickstart", "--n", "100000000", "--out", png], "at most 100000"),
        (
            vec!["sample", "quickstart", "--n", "50000", "--per-component", "--out", png],
            "per component",
        ),
    ] {
        let run = gmmzoo(&args);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle) && err.contains("--n"), "{args:?}: {err}");
    }
    assert!(!Path::new(png).exists());
}

#[test]
fn eval_of_a_folder_without_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = gmmzoo(&["eval", dir.path().to_str().unwrap()]);
    assert!(!run.status.success());
    let err = stderr(&run);
    assert!(err.contains("config.toml") && err.contains("cannot read"), "{err}");
}

/// Broken data files, through the command line: exit status 1, the file named, no panic.
#[test]
fn broken_data_files_fail_cleanly() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mnist = "name = \"m\"\n[data]\ndataset = \"mnist\"\n[model]\nkind = \"conv\"\nn_components = 2\nexclude_dc = false\n[em]\nmax_iter = 2\n";
    let bsds = GOOD;
    let header = |magic: u32, dims: &[u32]| -> Vec<u8> {
        let mut b = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|v| b.extend_from_slice(&v.to_be_bytes()));
        b
    };
    let gz = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let good_labels = [header(0x801, &[2]), vec![1, 2]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "magic",
            [header(0x802, &[2, 28, 28]), vec![0; 2 * 784]].concat(),
            "magic number 0x00000802",
        ),
        ("dims", [header(0x803, &[2, 28, 28]), vec![0; 784]].concat(), "truncated"),
        ("gzip", vec![0x1f, 0x8b, 8, 0, 9, 9, 9, 9], "corrupt gzip"),
    ];
    for (name, images, needle) in cases {
        let root = d.join(name);
        std::fs::create_dir_all(root.join("mnist")).unwrap();
        let images = if name == "gzip" { images } else { gz(&images) };
        std::fs::write(root.join("mnist/train-images-idx3-ubyte.gz"), images).unwrap();
        std::fs::write(root.join("mnist/train-labels-idx1-ubyte.gz"), gz(&good_labels)).unwrap();
        let config = write_config(d, &format!("{name}.toml"), mnist);
        let run = gmmzoo(&[
            "train",
            &config,
            "--data-dir",
            root.to_str().unwrap(),
            "--out",
            d.join("o").to_str().unwrap(),
        ]);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(needle) && err.contains("train-images-idx3-ubyte.gz"),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let root = d.join("bsds");
    std::fs::create_dir_all(root.join("bsds300/train")).unwrap();
    std::fs::write(root.join("bsds300/train/12345.jpg"), b"\xff\xd8\xff\xe0 truncated jpeg")
        .unwrap();
    let config = write_config(d, "bsds.toml", bsds);
    let run = gmmzoo(&[
        "train",
        &config,
        "--data-dir",
        root.to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("12345.jpg") && !err.contains("panicked"), "{err}");
    let stack = "name = \"s\"\n[data]\ndataset = \"mnist\"\n[[layers]]\nkind = \"conv\"\nn_components = 2\nexclude_dc = false\n[layers.em]\nmax_iter = 2\n[[layers]]\nkind = \"prob\"\ninput = \"log_likelihood\"\nn_components = 2\n[layers.em]\nmax_iter = 2\n";
    let config = write_config(d, "stack.toml", stack);
    let run = gmmzoo(&["train", &config]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("stack.toml") && err.contains("layers[1].input"), "{err}");
}

/// A newcomer's three commands: train a conv GMM on a folder of their own images, score new
/// images (per-image summary, one CSV row per tile), and a clear failure for input the model
/// cannot take.
#[test]
fn own_images_train_then_score_in_three_commands() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("nested")).unwrap();
    for name in ["100075.jpg", "103041.jpg", "105053.jpg", "106025.jpg"] {
        let from = repo().join("data/sample/bsds300/train").join(name);
        std::fs::copy(&from, photos.join("nested").join(name)).unwrap();
    }
    let config = write_config(
        dir.path(),
        "mine.toml",
        &format!(
            "name = \"mine\"\n[data]\ndataset = \"images\"\ntrain = \"{}\"\npatch_size = 8\n\
             n_train = 4000\nn_test = 500\n[model]\nkind = \"conv\"\nn_components = 4\n\
             exclude_dc = true\n[em]\nmax_iter = 5\n",
            photos.display()
        ),
    );
    let run = dir.path().join("run");
    let out = gmmzoo(&["train", &config, "--out", run.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let new = repo().join("data/sample/bsds300/test");
    let csv = dir.path().join("scores.csv");
    let args =
        ["score", run.to_str().unwrap(), new.to_str().unwrap(), "--out", csv.to_str().unwrap()];
    let out = gmmzoo(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches(".jpg").count(), 3, "one summary line per test image:\n{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows = text.lines().count() - 1;
    assert!(rows > 1000 && stdout.contains(&format!("wrote {rows} rows")), "{stdout}");

    let matrix = dir.path().join("wrong.csv");
    std::fs::write(&matrix, "1,2,3\n4,5,6\n").unwrap();
    let out = gmmzoo(&["score", run.to_str().unwrap(), matrix.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("wrong.csv") && err.contains("rows of 3 values; the model takes 64"),
        "{err}"
    );
    let out = gmmzoo(&["score", run.to_str().unwrap(), "test", "--layer", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("--layer 2: the run at") && err.contains("layers 0 to 0"), "{err}");
    // Layers count from 0: the old meaning of `--layer 1` (the first layer) is refused here,
    // naming the change.
    let out = gmmzoo(&["score", run.to_str().unwrap(), "test", "--layer", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("layers count from 0") && err.contains("--layer 0"), "{err}");
}
