//! `gmmzoo impute` and `gmmzoo train` on rows with missing values, from the command line (the
//! numbers themselves are checked against a dense oracle in `tests/missing_values.rs`).

mod common;

use common::SEED;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const D: usize = 5;

/// Rows of two clusters whose values are strongly correlated (`x = centre + L z`, `L` lower
/// triangular with ones below the diagonal): what one value says about another is what
/// imputation uses.
fn correlated_clusters(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut rows = Vec::with_capacity(n * D);
    for _ in 0..n {
        let centre = if rng.random::<f64>() < 0.4 { -3.0 } else { 3.0 };
        let z: Vec<f64> = (0..D).map(|_| rng.random_range(-1.0..1.0)).collect();
        for i in 0..D {
            let v: f64 = z[..=i].iter().sum::<f64>() * if i == 0 { 1.0 } else { 0.7 };
            rows.push((centre + v) as f32);
        }
    }
    rows
}

fn device() -> gmm_zoo::models::Device {
    common::device()
}

/// From the command line: `gmmzoo train` on a CSV with empty fields, `gmmzoo impute` of it
/// (the library's conditional means, observed values kept, far closer to the truth than
/// column means), an existing output refused, a conv run refused.
#[test]
fn the_cli_trains_on_missing_values_and_imputes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 5);
    let complete = correlated_clusters(800, &mut rng);
    let mut rows = complete.clone();
    for row in rows.chunks_mut(D) {
        let keep = rng.random_range(0..D);
        (0..D).filter(|&i| i != keep && rng.random::<f64>() < 0.3).for_each(|i| row[i] = f32::NAN);
    }
    let text: String = rows
        .chunks(D)
        .map(|r| {
            let f: Vec<String> =
                r.iter().map(|v| if v.is_nan() { String::new() } else { v.to_string() }).collect();
            f.join(",") + "\n"
        })
        .collect();
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, text).unwrap();
    let config = common::runs::write_config(
        dir.path(),
        "gaps.toml",
        &format!(
            "name = \"gaps\"\nseed = 3\n[data]\ndataset = \"array\"\ntrain = {:?}\n\
             [model]\nkind = \"full\"\nn_components = 2\n[em]\nmax_iter = 200\ntol = 1e-5\n",
            csv.display().to_string()
        ),
    );
    let run = dir.path().join("run");
    let trained = common::runs::run(&config, &run, &["--quiet"]);
    assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
    let out = dir.path().join("filled.npy");
    let impute = |run: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
            .arg("impute")
            .arg(run)
            .arg(&csv)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .output()
            .unwrap()
    };
    let done = impute(&run);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let stdout = String::from_utf8_lossy(&done.stdout);
    let missing = rows.iter().filter(|v| v.is_nan()).count();
    assert!(stdout.contains(&format!("800 rows, {missing} missing values")), "{stdout}");
    let filled = gmm_zoo::datasets::read_array(&out).unwrap().pixels;
    let layer0 = gmm_zoo::training::folder::layer_dir(&run, 0, 1);
    let (_, saved) = gmm_zoo::training::SavedLayer::load(&layer0, &device()).unwrap();
    let gmm_zoo::training::Layer::Full(fitted) = saved else { panic!("a full layer") };
    assert_eq!(filled, fitted.impute(&rows, None).unwrap().0, "the library's imputation");
    let (mut err_gmm, mut err_mean) = (0.0, 0.0);
    for i in 0..D {
        let col: Vec<f32> =
            rows.iter().skip(i).step_by(D).copied().filter(|v| !v.is_nan()).collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        for n in (0..800).filter(|&n| rows[n * D + i].is_nan()) {
            err_gmm += f64::from(filled[n * D + i] - complete[n * D + i]).powi(2);
            err_mean += f64::from(mean - complete[n * D + i]).powi(2);
        }
    }
    for (f, r) in filled.iter().zip(&rows).filter(|(_, r)| !r.is_nan()) {
        assert_eq!(f, r, "observed values are kept");
    }
    assert!(err_gmm < 0.7 * err_mean, "squared error {err_gmm} vs column means' {err_mean}");
    let again = impute(&run);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && err.contains("exists; pass --overwrite"), "{err}");
    std::fs::remove_file(&out).unwrap();
    let conv = impute(&common::repo().join("checkpoints/bsds8"));
    let err = String::from_utf8_lossy(&conv.stderr);
    assert!(!conv.status.success() && err.contains("only a full layer imputes"), "{err}");
    // One sentence of ours (a GPU loader may add its own warnings on a GPU build).
    let ours = err.lines().filter(|l| !l.is_empty() && !l.contains("XDG_RUNTIME_DIR")).count();
    assert_eq!(ours, 1, "{err}");
    assert!(!out.exists(), "nothing written");
}
