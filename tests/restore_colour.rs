//! `gmmzoo restore` on colour images (restored in opponent channels, written in colour) and on
//! `.npy` arrays of gray levels (NaN: a missing pixel).

mod common;

use common::repo;
use std::path::Path;
use std::process::{Command, Output};

fn gmmzoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gmmzoo")).args(args).current_dir(repo()).output().unwrap()
}

fn psnr_of(out: &Path) -> (f64, f64) {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("restore.json")).unwrap()).unwrap();
    let psnr = &json[0]["psnr"];
    (psnr[0].as_f64().unwrap(), psnr[1].as_f64().unwrap())
}

/// `(shape, values)` of a float32 `.npy`.
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn a_colour_image_is_restored_in_colour() {
    let dir = tempfile::tempdir().unwrap();
    let image = image::open(repo().join("data/sample/bsds300/test/102061.jpg")).unwrap().to_rgb8();
    let crop = image::imageops::crop_imm(&image, 100, 150, 64, 48).to_image();
    let clean = dir.path().join("colour.png");
    crop.save(&clean).unwrap();
    let out = dir.path().join("restored");
    let args = ["restore", "bsds300_full200_kmeans", clean.to_str().unwrap(), "--sigma", "25"];
    let r = gmmzoo(&[&args[..], &["--noise-seed", "3", "--out", out.to_str().unwrap()]].concat());
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (before, after) = psnr_of(&out);
    assert!(before < 22.0 && after > before + 3.0, "PSNR {before} → {after}");
    let png = image::open(out.join("colour.png")).unwrap();
    assert!(png.color().has_color(), "written in colour");
    assert_eq!((png.width(), png.height()), (64, 48));
    let (shape, values) = read_npy(&out.join("colour.npy"));
    assert_eq!(shape, [48, 64, 3]);
    // The channels differ: the colour survived.
    let channel = |c: usize| values.iter().skip(c).step_by(3).copied().collect::<Vec<f32>>();
    assert_ne!(channel(0), channel(2));
}

#[test]
fn an_array_of_gray_levels_with_missing_values_is_inpainted() {
    let dir = tempfile::tempdir().unwrap();
    let gray = image::open(repo().join("data/sample/bsds300/test/102061.jpg")).unwrap().to_luma8();
    let (h, w) = (40usize, 56usize);
    let clean: Vec<f32> = (0..h * w)
        .map(|i| f32::from(gray.get_pixel(100 + (i % w) as u32, 150 + (i / w) as u32).0[0]))
        .collect();
    // Every fifth pixel missing.
    let holes: Vec<f32> =
        clean.iter().enumerate().map(|(i, &v)| if i % 5 == 2 { f32::NAN } else { v }).collect();
    let input = dir.path().join("holes.npy");
    {
        use npyz::WriterBuilder;
        let file = std::fs::File::create(&input).unwrap();
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[h as u64, w as u64])
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .unwrap();
        writer.extend(holes.iter().copied()).unwrap();
        writer.finish().unwrap();
    }
    let out = dir.path().join("filled");
    let r = gmmzoo(&[
        "restore",
        "bsds300_full200_kmeans",
        input.to_str().unwrap(),
        "--sigma",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (shape, values) = read_npy(&out.join("holes.npy"));
    assert_eq!(shape, [h as u64, w as u64]);
    assert!(values.iter().all(|v| v.is_finite()));
    // The same pixels missing by a --mask over the same image as a PNG: the same restoration.
    let png = dir.path().join("holes.png");
    let bytes: Vec<u8> = clean.iter().map(|&v| v as u8).collect();
    image::GrayImage::from_raw(w as u32, h as u32, bytes).unwrap().save(&png).unwrap();
    let mask: Vec<u8> = (0..h * w).map(|i| if i % 5 == 2 { 255 } else { 0 }).collect();
    let mask_path = dir.path().join("mask.png");
    image::GrayImage::from_raw(w as u32, h as u32, mask).unwrap().save(&mask_path).unwrap();
    let masked = dir.path().join("masked");
    let r = gmmzoo(&[
        "restore",
        "bsds300_full200_kmeans",
        png.to_str().unwrap(),
        "--sigma",
        "2",
        "--mask",
        mask_path.to_str().unwrap(),
        "--out",
        masked.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // (The PNG's levels come back as v/255·255 in f32: equal to a few ulps.)
    let by_mask = read_npy(&masked.join("holes.npy")).1;
    let gap = by_mask.iter().zip(&values).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(gap < 1e-2, "the NaN input and the mask differ by up to {gap} gray levels");
    // Far closer to the truth than the known pixels' mean.
    let missing: Vec<usize> = (0..h * w).filter(|i| i % 5 == 2).collect();
    let known = clean.iter().enumerate().filter(|(i, _)| i % 5 != 2).map(|(_, v)| v);
    let mean = known.clone().sum::<f32>() / known.count() as f32;
    let rms = |fill: &dyn Fn(usize) -> f32| {
        let sq = missing.iter().map(|&i| (fill(i) - clean[i]).powi(2)).sum::<f32>();
        (sq / missing.len() as f32).sqrt()
    };
    let (ours, flat) = (rms(&|i| values[i]), rms(&|_| mean));
    assert!(ours < 0.5 * flat, "RMS error of the filled pixels {ours}, of the mean {flat}");
}
