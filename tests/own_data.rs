//! The user's own data: image folders (patches or whole images), `.npy` / `.csv` arrays, the
//! seeded test split, clear errors naming the file, and `score` on new data.

mod common;

use common::write_npy;

use gmm_zoo::datasets::bsds300::Augment;
use gmm_zoo::datasets::{ImageSet, read_array, seeded_split};
use gmm_zoo::experiments::scoring::{ScoreInput, score_input};
use gmm_zoo::training::config::{RunConfig, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::train_run;
use image::{ImageBuffer, Luma, Rgb};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// A seeded smooth-ish gray texture (sums of a few random waves plus noise).
fn texture(rng: &mut ChaCha8Rng, h: u32, w: u32) -> ImageBuffer<Luma<u8>, Vec<u8>> {
    let waves: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| (rng.random_range(0.05..0.6), rng.random_range(0.05..0.6), rng.random()))
        .collect();
    ImageBuffer::from_fn(w, h, |x, y| {
        let v: f32 =
            waves.iter().map(|(a, b, p)| ((a * x as f32 + b * y as f32) + 6.0 * p).sin()).sum();
        let noise: f32 = rng.random_range(-0.3..0.3);
        Luma([(128.0 + 25.0 * (v + noise)).clamp(0.0, 255.0) as u8])
    })
}

/// `n` textures of `h`×`w` under `dir`, half of them in a sub-folder.
fn image_folder(dir: &Path, n: usize, h: u32, w: u32, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("more")).unwrap();
    for i in 0..n {
        let sub = if i % 2 == 0 { dir.to_path_buf() } else { dir.join("more") };
        texture(&mut rng, h, w).save(sub.join(format!("img{i:02}.png"))).unwrap();
    }
}

#[test]
fn a_folder_of_images_trains_a_conv_gmm_and_new_images_are_scored() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    image_folder(&photos, 10, 48, 40, 1);
    let config = RunConfig::parse(&format!(
        r#"
name = "own"
seed = 4
[data]
dataset = "images"
train = "{}"
patch_size = 6
n_train = 3000
n_test = 500
[model]
kind = "conv"
n_components = 4
exclude_dc = true
[em]
max_iter = 8
"#,
        photos.display()
    ))
    .unwrap();
    // No test folder: a seeded 10 % of the 10 images (one) is held out.
    let root = common::sample_root();
    let train = load_split(&config.data, &root, Split::Train, 4).unwrap();
    let test = load_split(&config.data, &root, Split::Test, 4).unwrap();
    assert_eq!((train.len(), test.len(), train.height), (3000, 500, 6));
    for set in [&train, &test] {
        for i in 0..set.len() {
            let mean: f32 = set.image(i).iter().sum::<f32>() / 36.0;
            assert!(mean.abs() < 1e-5, "patches are zero-mean as BSDS's");
        }
    }
    let (held_train, held_test) = seeded_split(10, 4 + 3).unwrap();
    assert_eq!((held_train.len(), held_test.len()), (9, 1));

    let out = dir.path().join("run");
    let outcome = train_run(&config, &common::sample_options(&out)).unwrap();
    let test_score = outcome.metrics[0].test.nats_per_sample;

    // Scoring the run's own test split gives the recorded figure, row by row.
    let opts = common::sample_options(&out);
    let report = score_input(&out, &ScoreInput::Split(Split::Test), 0, false, &opts).unwrap();
    let mean = report.rows.iter().map(|r| r.log_likelihood).sum::<f64>() / report.rows.len() as f64;
    assert!((mean - test_score).abs() < 1e-4 * test_score.abs().max(1.0), "{mean} vs {test_score}");

    // New images: every non-overlapping 6×6 tile, each row with its image, with posteriors.
    let new = dir.path().join("new");
    image_folder(&new, 2, 30, 25, 9);
    let report = score_input(&out, &ScoreInput::Images(new.clone()), 0, true, &opts).unwrap();
    assert_eq!(report.rows.len(), 2 * 5 * 4, "5 × 4 tiles of 30×25 per image");
    let summaries = report.summaries();
    assert_eq!(summaries.len(), 2);
    assert!(summaries.iter().all(|s| s.rows == 20 && s.min <= s.mean));
    for row in &report.rows {
        let total: f64 = row.responsibilities.iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        let best = row.responsibilities.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(row.responsibilities[row.component], best, "the MAP component");
    }
    let csv = report.to_csv();
    assert_eq!(csv.lines().count(), 41);
    assert!(csv.lines().next().unwrap().ends_with("component,r_0,r_1,r_2,r_3"));
}

#[test]
fn whole_images_are_rows_when_they_share_one_size_and_gray_is_rec601() {
    let dir = tempfile::tempdir().unwrap();
    let colour = ImageBuffer::from_fn(5, 4, |_, _| Rgb([200u8, 100, 50]));
    colour.save(dir.path().join("a.png")).unwrap();
    colour.save(dir.path().join("b.tif")).unwrap();
    let files = ImageSet::files_in(dir.path()).unwrap();
    let set = ImageSet::from_files(files, dir.path().into(), gmm_zoo::datasets::Grayscale::Rec601)
        .unwrap()
        .whole_images()
        .unwrap();
    assert_eq!((set.len(), set.height, set.width), (2, 4, 5));
    let expected = (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0) / 255.0;
    assert!(
        set.pixels.iter().all(|&v| (v as f64 - expected).abs() < 1e-6),
        "Rec. 601, PNG and TIFF"
    );

    ImageBuffer::from_fn(6, 4, |_, _| Luma([9u8])).save(dir.path().join("c.png")).unwrap();
    let files = ImageSet::files_in(dir.path()).unwrap();
    let mixed =
        ImageSet::from_files(files, dir.path().into(), gmm_zoo::datasets::Grayscale::Rec601)
            .unwrap();
    let err = mixed.whole_images().unwrap_err().to_string();
    assert!(err.contains("c.png is 4x6") && err.contains("patch_size"), "{err}");
}

#[test]
fn image_folder_errors_name_the_folder_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = ImageSet::files_in(dir.path()).unwrap_err().to_string();
    assert!(err.contains("holds no image files"), "{err}");
    let err = ImageSet::files_in(&dir.path().join("nowhere")).unwrap_err().to_string();
    assert!(err.contains("nowhere"), "{err}");
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    let files = ImageSet::files_in(dir.path()).unwrap();
    let err = ImageSet::from_files(files, dir.path().into(), gmm_zoo::datasets::Grayscale::Rec601)
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.png"), "{err}");
}

#[test]
fn npy_in_every_supported_layout_and_csv_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect(); // 4 × 3
    let f4: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f8: Vec<u8> = rows.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect();
    let fortran: Vec<u8> = (0..3)
        .flat_map(|j| (0..4).map(move |i| i * 3 + j))
        .flat_map(|k| rows[k].to_le_bytes())
        .collect();
    let p = |name: &str| dir.path().join(name);
    write_npy(&p("f4.npy"), "<f4", false, &[4, 3], &f4);
    write_npy(&p("f8.npy"), "<f8", false, &[4, 3], &f8);
    write_npy(&p("fortran.npy"), "<f4", true, &[4, 3], &fortran);
    let csv: String = rows.chunks(3).map(|r| format!("{},{},{}\n", r[0], r[1], r[2])).collect();
    std::fs::write(p("rows.csv"), format!("a, b, c\n{csv}")).unwrap();
    for name in ["f4.npy", "f8.npy", "fortran.npy", "rows.csv"] {
        let set = read_array(&p(name)).unwrap();
        assert_eq!((set.len(), set.width, &set.pixels), (4, 3, &rows), "{name}");
    }
    write_npy(&p("u1.npy"), "|u1", false, &[2, 2], &[0, 1, 254, 255]);
    assert_eq!(read_array(&p("u1.npy")).unwrap().pixels, [0.0, 1.0, 254.0, 255.0]);

    // The seeded split: 10 % held out, disjoint, complete, the same for the same seed.
    let (train, test) = seeded_split(95, 7).unwrap();
    assert_eq!((train.len(), test.len()), (86, 9));
    let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..95).collect::<Vec<_>>());
    assert_eq!(seeded_split(95, 7).unwrap(), (train, test));
    assert_ne!(seeded_split(95, 8).unwrap().1, seeded_split(95, 7).unwrap().1);
}

#[test]
fn bad_arrays_fail_with_one_sentence_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    write_npy(&p("i8.npy"), "<i8", false, &[2, 1], &[0; 16]);
    write_npy(&p("cube.npy"), "<f4", false, &[2, 1, 1], &[0; 8]);
    write_npy(&p("inf.npy"), "<f4", false, &[2, 1], &[0, 0, 0, 0, 0, 0, 0x80, 0x7f]);
    std::fs::write(p("ragged.csv"), "1,2,3\n4,5\n").unwrap();
    std::fs::write(p("words.csv"), "1,2\n3,x\n").unwrap();
    std::fs::write(p("rows.txt"), "1,2\n").unwrap();
    let cases = [
        ("i8.npy", "not float32, float64 or uint8"),
        ("cube.npy", "need 2-D"),
        ("inf.npy", "row 1 holds inf"),
        ("ragged.csv", "line 2 has 2 values but the rows above have 3"),
        ("words.csv", "line 2: `x` is not a number"),
        ("rows.txt", "must end in .npy or .csv"),
        ("absent.npy", "cannot read"),
    ];
    for (name, expected) in cases {
        let err = read_array(&p(name)).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(expected), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // NaN, an empty CSV field, `NA`: a missing value (tests/missing_values.rs), read as NaN.
    write_npy(&p("nan.npy"), "<f4", false, &[2, 1], &[0, 0, 0, 0, 0, 0, 0xc0, 0x7f]);
    std::fs::write(p("gaps.csv"), "a,b\n1,\nNA,2\n").unwrap();
    assert!(read_array(&p("nan.npy")).unwrap().pixels[1].is_nan());
    let gaps = read_array(&p("gaps.csv")).unwrap().pixels;
    assert!(gaps[0] == 1.0 && gaps[1].is_nan() && gaps[2].is_nan() && gaps[3] == 2.0);
}

#[test]
fn a_full_gmm_on_an_array_separates_known_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, d) = (1000usize, 3usize);
    let labels: Vec<usize> = (0..n).map(|_| usize::from(rng.random::<f32>() < 0.4)).collect();
    let rows: Vec<f32> = labels
        .iter()
        .flat_map(|&l| {
            let centre = if l == 0 { -2.0 } else { 3.0 };
            (0..d).map(|_| centre + rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>()
        })
        .collect();
    let data: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    let file = dir.path().join("rows.npy");
    write_npy(&file, "<f4", false, &[n, d], &data);
    let config = RunConfig::parse(&format!(
        "name = \"rows\"\n[data]\ndataset = \"array\"\ntrain = \"{}\"\n[model]\nkind = \"full\"\n\
         n_components = 2\n[em]\nmax_iter = 30\n",
        file.display()
    ))
    .unwrap();
    let out = dir.path().join("run");
    let outcome = train_run(&config, &common::sample_options(&out)).unwrap();
    assert_eq!(outcome.metrics[0].dims, 3);
    let opts = common::sample_options(&out);
    let report = score_input(&out, &ScoreInput::Array(file), 0, false, &opts).unwrap();
    assert_eq!(report.rows.len(), n);
    // The MAP components are the true clusters, up to their order.
    let map: Vec<usize> = report.rows.iter().map(|r| r.component).collect();
    let agree = map.iter().zip(&labels).filter(|(a, b)| a == b).count();
    assert!(agree == n || agree == 0, "{agree} of {n} rows in their true cluster");
    // A conv layer cannot sit on rows; the config says so and names the key.
    let err = RunConfig::parse(&format!(
        "name = \"rows\"\n[data]\ndataset = \"array\"\ntrain = \"{}\"\n[model]\nkind = \"conv\"\n\
         n_components = 2\n[em]\nmax_iter = 3\n",
        dir.path().join("rows.npy").display()
    ))
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("model.kind: array rows are vectors"), "{err}");
}

/// `score` streams an array file in blocks: 150,000 rows (three blocks) give every row once, in
/// order, the CSV written as they are scored, and the mean of the whole file scored at once by
/// EM's own scorer. A `.npy` cut short is refused naming the rows its header promises and the
/// bytes present, and leaves no CSV.
#[test]
fn score_streams_an_array_in_blocks_and_refuses_a_truncated_npy() {
    use gmm_zoo::experiments::scoring::{BLOCK_ROWS, score_to_csv};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (n, d) = (150_000usize, 3usize);
    assert!(n > 2 * BLOCK_ROWS);
    let rows: Vec<f32> =
        (0..n * d).map(|i| (i % d) as f32 + rng.random_range(-1.0f32..1.0)).collect();
    let data: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    let file = dir.path().join("many.npy");
    write_npy(&file, "<f4", false, &[n, d], &data);
    let config = RunConfig::parse(&format!(
        "name = \"many\"\n[data]\ndataset = \"array\"\ntrain = \"{}\"\nn_train = 5000\n\
         [model]\nkind = \"full\"\nn_components = 3\n[em]\nmax_iter = 5\n",
        file.display()
    ))
    .unwrap();
    let out = dir.path().join("run");
    train_run(&config, &common::sample_options(&out)).unwrap();
    let opts = common::sample_options(&out);

    let csv = dir.path().join("scores.csv");
    let summary = score_to_csv(
        &out,
        &ScoreInput::Array(file.clone()),
        (0, Augment::None),
        false,
        &opts,
        &csv,
    )
    .unwrap();
    assert_eq!(summary.rows(), n);
    let text = std::fs::read_to_string(&csv).unwrap();
    let indices: Vec<usize> =
        text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(indices, (0..n).collect::<Vec<_>>(), "every row once, in order");

    // The whole file at once, through EM's scorer (the same batches: blocks are whole batches).
    let (_, layer) = gmm_zoo::training::SavedLayer::load(&out, &common::device()).unwrap();
    let whole = read_array(&file).unwrap();
    let mean = match layer {
        gmm_zoo::training::Layer::Full(m) => {
            let enc =
                gmm_zoo::training::encode::encode_rows(&m, &whole.pixels, 16384, &common::device())
                    .unwrap();
            gmm_zoo::training::em::log_likelihood_summary(&m, &enc).unwrap()
        }
        _ => unreachable!("a full GMM"),
    };
    let streamed = summary.mean();
    assert!((streamed.mean - mean.mean).abs() < 1e-9 * mean.mean.abs(), "{streamed:?} vs {mean:?}");
    assert!(
        (streamed.standard_error - mean.standard_error).abs() < 1e-9,
        "{streamed:?} vs {mean:?}"
    );

    // Cut short: refused before scoring, naming what the header promises; no CSV is left.
    std::fs::write(&file, &std::fs::read(&file).unwrap()[..100_000]).unwrap();
    let csv2 = dir.path().join("cut.csv");
    let err = score_to_csv(
        &out,
        &ScoreInput::Array(file.clone()),
        (0, Augment::None),
        false,
        &opts,
        &csv2,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("many.npy") && err.contains("promises 150000 rows of 3 values"), "{err}");
    assert!(err.contains("holds 99872 bytes of data"), "{err}");
    assert!(!csv2.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
}
