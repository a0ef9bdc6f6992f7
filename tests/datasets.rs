//! The dataset readers: the shipped sample, the full sets when present, and clear errors on
//! broken files.

mod common;

use common::{full_root, sample_root};
use gmm_zoo::datasets::{Grayscale, ImageSet, Mnist, MnistSplit, read_idx_images, read_idx_labels};
use std::io::Write;

#[test]
fn shipped_mnist_sample_loads_with_labels() {
    let mnist = Mnist::new(&sample_root());
    let train = mnist.load(MnistSplit::Train).unwrap();
    let test = mnist.load(MnistSplit::Test).unwrap();
    assert_eq!((train.len(), train.height, train.width), (2000, 28, 28));
    assert_eq!(test.len(), 500);
    let labels = train.labels.as_ref().unwrap();
    assert!(labels.iter().all(|&l| l < 10));
    assert_eq!(labels[..5], [5, 0, 4, 1, 9], "the first MNIST training labels");
    assert!(train.pixels.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(train.pixels.contains(&1.0), "pixels are scaled by 255");
}

#[test]
fn full_data_has_the_standard_sizes_when_present() {
    let Some(root) = full_root() else {
        eprintln!("full data not present (set GMM_ZOO_DATA); checked on the shipped sample only");
        return;
    };
    let mnist = Mnist::new(&root);
    assert_eq!(mnist.load(MnistSplit::Train).unwrap().len(), 60000);
    assert_eq!(mnist.load(MnistSplit::Test).unwrap().len(), 10000);
    assert_eq!(ImageSet::load(&root, "train").unwrap().images.len(), 200);
    assert_eq!(ImageSet::load(&root, "test").unwrap().images.len(), 100);
}

#[test]
fn shipped_bsds_sample_is_grayscale_in_unit_range() {
    let set = ImageSet::load(&sample_root(), "train").unwrap();
    assert_eq!(set.images.len(), 6);
    for im in &set.images {
        assert_eq!(im.pixels.len(), im.height * im.width);
        assert!(im.height >= 321 && im.width >= 321, "BSDS images are 481x321 or 321x481");
        assert!(im.pixels.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }
}

fn idx_images(n: u32, rows: u32, cols: u32, payload: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for w in [0x803, n, rows, cols] {
        bytes.extend_from_slice(&u32::to_be_bytes(w));
    }
    bytes.extend(std::iter::repeat_n(7u8, payload));
    bytes
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
    path
}

#[test]
fn raw_and_gzipped_idx_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let raw = idx_images(3, 2, 2, 12);
    let a = read_idx_images(&write(&dir, "raw", &raw)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let b = read_idx_images(&write(&dir, "gz", &gz.finish().unwrap())).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.len(), a.height, a.width), (3, 2, 2));
}

#[test]
fn broken_idx_files_get_errors_that_name_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong-magic",
            {
                let mut b = idx_images(1, 2, 2, 4);
                b[3] = 0x01;
                b
            },
            "magic number 0x00000801",
        ),
        ("truncated", idx_images(10, 28, 28, 100), "truncated"),
        ("too-long", idx_images(1, 2, 2, 9), "need 4 bytes"),
        ("empty-dims", idx_images(1, 0, 28, 0), "empty"),
        ("short-header", vec![0, 0, 8], "shorter than its 16-byte header"),
        ("corrupt-gzip", vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6], "corrupt gzip"),
    ];
    for (name, bytes, needle) in cases {
        let path = write(&dir, name, &bytes);
        let err = read_idx_images(&path).unwrap_err().to_string();
        assert!(err.contains(name), "{name}: the error should name the file: {err}");
        assert!(err.contains(needle), "{name}: expected '{needle}' in: {err}");
    }
    let labels_as_images = write(&dir, "labels", &idx_images(1, 2, 2, 4));
    let err = read_idx_labels(&labels_as_images).unwrap_err().to_string();
    assert!(err.contains("magic number 0x00000803, expected 0x00000801"), "{err}");
}

#[test]
fn missing_data_says_where_to_put_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mnist::new(dir.path()).load(MnistSplit::Train).unwrap_err().to_string();
    assert!(err.contains("train-images-idx3-ubyte") && err.contains("--data-dir"), "{err}");
    let err = ImageSet::load(dir.path(), "train").unwrap_err().to_string();
    assert!(err.contains("bsds300") && err.contains("GMM_ZOO_DATA"), "{err}");
}

#[test]
fn a_non_image_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bsds300/train");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("broken.jpg"), b"this is not a jpeg").unwrap();
    let err = ImageSet::load(dir.path(), "train").unwrap_err().to_string();
    assert!(err.contains("broken.jpg"), "{err}");
}

/// The benchmark's gray levels are Rec. 601, `round(0.299 R + 0.587 G + 0.114 B)`; the
/// write-up's patches use Rec. 709 luma.
#[test]
fn rec601_gray_levels_are_the_benchmarks() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bsds300/train");
    std::fs::create_dir_all(&folder).unwrap();
    let colours: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [10, 20, 200], [200, 150, 100]];
    let mut img = image::RgbImage::new(2, 2);
    for (i, c) in colours.iter().enumerate() {
        img.put_pixel(i as u32 % 2, i as u32 / 2, image::Rgb(*c));
    }
    img.save(folder.join("colours.png")).unwrap();
    let levels = ImageSet::load_as(dir.path(), "train", Grayscale::Rec601Levels).unwrap();
    // By hand: 76.245 → 76, 149.685 → 150, 0.299·10 + 0.587·20 + 0.114·200 = 37.53 → 38,
    // 59.8 + 88.05 + 11.4 = 159.25 → 159.
    let want = [76.0, 150.0, 38.0, 159.0];
    for (v, w) in levels.images[0].pixels.iter().zip(want) {
        assert_eq!((v * 255.0).round(), w);
        assert!((v * 255.0 - w).abs() < 1e-4);
    }
    let luma = ImageSet::load(dir.path(), "train").unwrap();
    assert!((luma.images[0].pixels[1] * 255.0 - 182.4).abs() < 1.0, "Rec. 709: 0.7152 · 255");
}

/// `augment` in a bsds300 config: the training rows are the drawn patches mapped by random
/// symmetries (every row a patch of the unaugmented draw's images, some mirrored), the test
/// rows are the benchmark's untouched, a config without the key serialises as before, and an
/// unknown value names its key.
#[test]
fn bsds300_augmentation_touches_the_training_rows_only() {
    use gmm_zoo::training::RunConfig;
    use gmm_zoo::training::config::{Augment, Bsds300Data, DataConfig, Split};
    use gmm_zoo::training::data::load_split;
    let data = |augment| {
        DataConfig::Bsds300(Bsds300Data { n_train: 400, n_test: 100, augment, n_valid: None })
    };
    let load = |augment, split| load_split(&data(augment), &sample_root(), split, 1).unwrap();
    let (plain, mirrored) =
        (load(Augment::None, Split::Train), load(Augment::Mirror, Split::Train));
    assert_eq!(mirrored.len(), 400);
    assert_ne!(plain, mirrored, "the symmetry draws move the stream");
    assert_eq!(load(Augment::None, Split::Test), load(Augment::Dihedral, Split::Test));
    // The first row's patch is drawn before any symmetry: it is the plain first row, or that
    // row's left-right mirror (up to the mean-subtracted last pixel both rows drop).
    let full = |row: &[f32]| -> Vec<f64> {
        let mut v: Vec<f64> = row.iter().map(|&x| x as f64).collect();
        v.push(-v.iter().sum::<f64>());
        v
    };
    let (p, m) = (full(&plain.pixels[..63]), full(&mirrored.pixels[..63]));
    let same = p.iter().zip(&m).all(|(a, b)| (a - b).abs() < 1e-6);
    let flipped = (0..64).all(|i| (p[i] - m[(i / 8) * 8 + 7 - i % 8]).abs() < 1e-6);
    assert!(same != flipped, "first row: the patch or its mirror");
    // Configs: the key round-trips, is left out when "none", and a bad value is named.
    let text = |augment: &str| {
        format!(
            "name = \"b\"\n[data]\ndataset = \"bsds300\"\nn_train = 10\nn_test = 10\n{augment}\n\
             [model]\nkind = \"full\"\nn_components = 2\n[em]\nmax_iter = 2\n"
        )
    };
    let with = RunConfig::parse(&text("augment = \"dihedral\"")).unwrap();
    let small = |augment| {
        DataConfig::Bsds300(Bsds300Data { n_train: 10, n_test: 10, augment, n_valid: None })
    };
    assert_eq!(with.data, small(Augment::Dihedral));
    assert!(with.model_definition().contains("augment = \"dihedral\""));
    // What a checkpoint's fingerprint covers has no `augment` when it is "none".
    let without = RunConfig::parse(&text("")).unwrap();
    assert_eq!(without.data, small(Augment::None));
    assert!(!without.model_definition().contains("augment"), "{}", without.model_definition());
    let err = RunConfig::parse(&text("augment = \"rotate\"")).unwrap_err().to_string();
    assert!(err.contains("rotate") && err.contains("mirror"), "{err}");
}

/// The BSDS300 benchmark rows: 63 values per row, seeded, and refused by a conv layer.
#[test]
fn bsds300_rows_have_63_values_and_need_a_full_layer() {
    use gmm_zoo::training::config::{Bsds300Data, DataConfig, Split};
    use gmm_zoo::training::data::load_split;
    let data = DataConfig::Bsds300(Bsds300Data {
        n_train: 500,
        n_test: 100,
        augment: Default::default(),
        n_valid: None,
    });
    let a = load_split(&data, &sample_root(), Split::Train, 1).unwrap();
    let b = load_split(&data, &sample_root(), Split::Train, 1).unwrap();
    let t = load_split(&data, &sample_root(), Split::Test, 1).unwrap();
    assert_eq!((a.len(), a.height, a.width), (500, 1, 63));
    assert_eq!(a, b, "same seed, same rows");
    assert_eq!(t.len(), 100);
    // Values are (gray + noise)/256 minus the patch mean: within (-1, 1), not all zero.
    assert!(a.pixels.iter().all(|v| v.abs() < 1.0));
    assert!(a.pixels.iter().any(|&v| v != 0.0));
    let config = "name = \"b\"\n[data]\ndataset = \"bsds300\"\nn_train = 10\nn_test = 10\n[model]\nkind = \"conv\"\nn_components = 2\n[em]\nmax_iter = 2\n";
    let err = gmm_zoo::training::RunConfig::parse(config).unwrap_err();
    assert!(err.to_string().contains("bsds300 rows"), "{err}");
}
