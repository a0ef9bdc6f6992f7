//! Rows read from disk when a pass needs them (`[data] stream = true`): the same batches as
//! rows held in memory, so the same EM to the last bit (batch and stepwise EM, sample
//! weights, seeded test and validation draws); peak memory that does not grow with the rows
//! (measured by the run itself, `metrics.json`'s `peak_memory_mb`); bad files refused in one
//! sentence.

mod common;

use common::runs::{histories, parameters, run, write_config};
use common::write_npy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// `n` rows of `d` values from four well-separated Gaussian clusters, as a float32 `.npy`.
fn write_rows(path: &Path, n: usize, d: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..4 * d).map(|_| rng.random_range(-4.0..4.0)).collect();
    let mut bytes = Vec::with_capacity(n * d * 4);
    for _ in 0..n {
        let c = rng.random_range(0..4);
        for j in 0..d {
            let v = centres[c * d + j] + rng.random_range(-1.0f32..1.0);
            bytes.extend(v.to_le_bytes());
        }
    }
    write_npy(path, "<f4", false, &[n, d], &bytes);
}

fn config(name: &str, data: &str, model: &str) -> String {
    format!(
        "name = \"{name}\"\nseed = 5\n[data]\ndataset = \"array\"\n{data}\n[model]\nkind = \
         \"full\"\n{model}\n"
    )
}

fn metrics(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap()
}

#[test]
fn rows_from_disk_give_the_same_em_as_rows_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    write_rows(&p("rows.npy"), 3000, 6, 1);
    let weights: Vec<u8> =
        (0..3000).flat_map(|i| (0.5f32 + (i % 7) as f32 / 4.0).to_le_bytes()).collect();
    write_npy(&p("w.npy"), "<f4", false, &[3000], &weights);
    let rows = p("rows.npy").display().to_string();
    let w = p("w.npy").display().to_string();
    let cases = [
        // Seeded test and validation draws, sample weights, k-means, full covariances.
        (
            format!("train = \"{rows}\"\nweights = \"{w}\"\nn_valid = 300"),
            "n_components = 4\n[em]\nmax_iter = 6\ntol = 0.0\nbatch_size = 256\ninit = \"kmeans\"",
        ),
        // The first n_train rows, diagonal covariances, stepwise EM over mini-batches.
        (
            format!("train = \"{rows}\"\nn_train = 2000"),
            "n_components = 3\ncovariance_type = \"diag\"\n[em]\nmax_iter = 3\nbatch_size = \
             200\n[em.stepwise]\nbatches = 2\nalpha = 0.7",
        ),
    ];
    for (i, (data, model)) in cases.iter().enumerate() {
        let outs = ["false", "true"].map(|stream| {
            let text = config("same", &format!("{data}\nstream = {stream}"), model);
            let cfg = write_config(dir.path(), &format!("c{i}_{stream}.toml"), &text);
            let out = p(&format!("run{i}_{stream}"));
            let o = run(&cfg, &out, &[]);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            out
        });
        assert_eq!(histories(&outs[0], 1), histories(&outs[1], 1), "case {i}: EM's history");
        assert_eq!(parameters(&outs[0], 1), parameters(&outs[1], 1), "case {i}: parameters");
        let [held, disk] = [&outs[0], &outs[1]].map(|o| metrics(o));
        for split in ["train", "valid", "test"] {
            assert_eq!(held[split], disk[split], "case {i}: the {split} figure");
        }
    }
}

/// Two runs read their rows from disk, the second on ten times the rows (more than k-means++
/// seeds from, so it seeds from a sample): their peaks differ by little; the same rows held in
/// memory peak far higher (so the measurement can tell).
#[test]
fn peak_memory_of_rows_from_disk_does_not_grow_with_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let d = 64;
    write_rows(&p("small.npy"), 30_000, d, 2);
    write_rows(&p("large.npy"), 300_000, d, 3); // 19.2 million values, 77 MB
    write_rows(&p("test.npy"), 2_000, d, 4);
    let peak = |file: &str, stream: bool| {
        let data = format!(
            "train = \"{}\"\ntest = \"{}\"\nstream = {stream}",
            p(file).display(),
            p("test.npy").display()
        );
        let model = "n_components = 4\n[em]\nmax_iter = 2\nbatch_size = 4096\ninit = \"kmeans++\"";
        let cfg = write_config(dir.path(), "peak.toml", &config("peak", &data, model));
        let out = p(&format!("run_{file}_{stream}"));
        let o = run(&cfg, &out, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        metrics(&out)["timings"]["peak_memory_mb"].as_f64().unwrap()
    };
    let (small, large, held) =
        (peak("small.npy", true), peak("large.npy", true), peak("large.npy", false));
    eprintln!(
        "peaks: from disk {small:.1} MB (30,000 rows), {large:.1} MB (300,000), held {held:.1} MB"
    );
    assert!(
        large - small < 25.0,
        "from disk: {small:.1} MB on 30,000 rows, {large:.1} MB on 300,000"
    );
    assert!(held - large > 100.0, "held {held:.1} MB, from disk {large:.1} MB on 300,000 rows");
}

#[test]
fn files_that_cannot_be_read_from_disk_are_one_sentence_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    std::fs::write(p("rows.csv"), "1,2\n3,4\n5,6\n").unwrap();
    write_npy(&p("fortran.npy"), "<f4", true, &[2, 2], &[0; 16]);
    write_npy(&p("big_endian.npy"), ">f4", false, &[2, 2], &[0; 16]);
    write_npy(&p("short.npy"), "<f4", false, &[9, 2], &[0; 16]);
    let mut inf = vec![0u8; 16];
    inf[12..].copy_from_slice(&f32::INFINITY.to_le_bytes());
    write_npy(&p("inf.npy"), "<f4", false, &[8, 2], &[inf.clone(), vec![0; 48]].concat());
    let cases = [
        ("rows.csv", "data.stream: reads rows from .npy files only"),
        ("fortran.npy", "Fortran order"),
        ("big_endian.npy", "dtype >f4 cannot be read from disk"),
        ("short.npy", "it is truncated"),
        ("inf.npy", "row 1 holds inf"),
    ];
    for (file, expected) in cases {
        let data = format!("train = \"{}\"\nstream = true", p(file).display());
        let model = "n_components = 1\n[em]\nmax_iter = 1";
        let cfg = write_config(dir.path(), "bad.toml", &config("bad", &data, model));
        let o = run(&cfg, &p(&format!("run_{file}")), &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{file}: {err}");
        assert!(err.contains(expected), "{file}: {err}");
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
}
