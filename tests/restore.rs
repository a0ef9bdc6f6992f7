//! EPLL restoration: the patch step against a dense float64 solve in another basis of the
//! patches' zero-mean part, a whole restoration of a tiny image against a direct float64
//! implementation of the same splitting (with a missing pixel), `gmmzoo restore` with the
//! shipped flat prior on a sample image (denoising and inpainting), and bad input.

mod common;

use common::{cholesky, patch_mixture as mixture, repo, step_weights};
use gmm_zoo::experiments::restore::{
    Epll, InpaintStart, PatchPrior, PatchStep, denoise_patches, restore,
};
use gmm_zoo::training::GaussianMixture;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::process::{Command, Output};

const P: usize = 3;
const Q: usize = P * P;

/// An orthonormal basis of the zero-mean vectors of R^Q (Gram–Schmidt on `e_i − 1/Q`), rows.
fn zero_mean_basis() -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for i in 0..Q - 1 {
        let mut v: Vec<f64> =
            (0..Q).map(|j| f64::from(u8::from(i == j)) - 1.0 / Q as f64).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        basis.push(v.iter().map(|x| x / norm).collect());
    }
    basis
}

/// `a⁻¹ b` and `log det a` for a dense SPD `a` (n × n), by its Cholesky factor.
fn solve(a: &[f64], b: &[f64], n: usize) -> (Vec<f64>, f64) {
    let l = cholesky(a, n);
    let mut y = b.to_vec();
    for i in 0..n {
        y[i] = (y[i] - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    for i in (0..n).rev() {
        y[i] = (y[i] - (i + 1..n).map(|k| l[k * n + i] * y[k]).sum::<f64>()) / l[i * n + i];
    }
    (y, 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>())
}

/// The patch's estimate in f64: every component moved into `basis` coordinates, the Wiener
/// estimate under the most likely one (or all, weighted by their posterior), back to pixels.
fn oracle_patch(g: &GaussianMixture, patch: &[f64], sigma2: f64, step: PatchStep) -> Vec<f64> {
    let (basis, m, d) = (zero_mean_basis(), Q - 1, Q - 1);
    let mean = patch.iter().sum::<f64>() / Q as f64;
    let w: Vec<f64> =
        basis.iter().map(|b| b.iter().zip(patch).map(|(x, p)| x * (p - mean)).sum()).collect();
    // A = B T, T = [I; −1ᵀ] (the last pixel dropped).
    let a: Vec<f64> = (0..m * d).map(|x| basis[x / d][x % d] - basis[x / d][Q - 1]).collect();
    let (mut scores, mut estimates) = (Vec::new(), Vec::new());
    for k in 0..g.weights.len() {
        let mu: Vec<f64> =
            (0..m).map(|i| (0..d).map(|j| a[i * d + j] * g.means[k][j]).sum()).collect();
        let c = &g.covariances[k];
        let s: Vec<f64> = (0..m * m)
            .map(|x| {
                let (i, j) = (x / m, x % m);
                (0..d)
                    .map(|p| {
                        (0..d).map(|q| a[i * d + p] * c[p * d + q] * a[j * d + q]).sum::<f64>()
                    })
                    .sum()
            })
            .collect();
        let noisy: Vec<f64> =
            (0..m * m).map(|x| s[x] + if x / m == x % m { sigma2 } else { 0.0 }).collect();
        let diff: Vec<f64> = w.iter().zip(&mu).map(|(x, y)| x - y).collect();
        let (z, log_det) = solve(&noisy, &diff, m);
        let maha: f64 = diff.iter().zip(&z).map(|(x, y)| x * y).sum();
        scores.push(g.weights[k].ln() - 0.5 * (log_det + maha));
        estimates.push(
            (0..m)
                .map(|i| mu[i] + (0..m).map(|j| s[i * m + j] * z[j]).sum::<f64>())
                .collect::<Vec<_>>(),
        );
    }
    let r = step_weights(&scores, step);
    let west: Vec<f64> =
        (0..m).map(|i| (0..r.len()).map(|k| r[k] * estimates[k][i]).sum()).collect();
    (0..Q).map(|p| mean + (0..m).map(|i| basis[i][p] * west[i]).sum::<f64>()).collect()
}

#[test]
fn the_patch_step_is_the_dense_wiener_estimate_of_the_most_likely_or_every_component() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let g = mixture(&mut rng);
    let prior = PatchPrior::from_mixture(&g, P, 1.0, true);
    let rows: Vec<f64> = (0..300 * Q).map(|_| rng.random_range(-2.0..2.0)).collect();
    let rows32: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
    for (step, sigma2) in
        [(PatchStep::MostLikely, 0.3), (PatchStep::Posterior, 0.3), (PatchStep::Posterior, 0.01)]
    {
        let ours = denoise_patches(&prior, &rows32, sigma2, step).unwrap();
        for (n, patch) in rows.chunks(Q).enumerate() {
            let want = oracle_patch(&g, patch, sigma2, step);
            for (a, b) in ours[n * Q..(n + 1) * Q].iter().zip(&want) {
                assert!(
                    (f64::from(*a) - b).abs() < 2e-4,
                    "{step:?} σ²={sigma2} patch {n}: {a} vs {b}"
                );
            }
        }
    }
}

/// The corners the oracle takes along an axis of `n`: all, or the grid of `stride` shifted by
/// the pass, with the first and last corner.
fn oracle_corners(n: usize, stride: usize, pass: usize) -> Vec<usize> {
    (0..=n - P).filter(|&a| a == 0 || a == n - P || a % stride == pass % stride).collect()
}

#[test]
fn a_restoration_is_the_splitting_done_densely_in_float64() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let g = mixture(&mut rng);
    let prior = PatchPrior::from_mixture(&g, P, 1.0, true);
    let (h, w) = (7, 6);
    let mut image: Vec<f64> = (0..h * w).map(|_| rng.random_range(-1.5..1.5)).collect();
    image[2 * w + 3] = f64::NAN; // one missing pixel
    for stride in [1, 2] {
        let betas = vec![1.0, 4.0, 16.0];
        let (step, start) = (PatchStep::Posterior, InpaintStart::Fill);
        let epll = Epll { sigma: 0.4, betas, step, stride, start };
        let ours = restore(&prior, &image, (h, w), &epll, &mut |_| {}).unwrap();

        let known: Vec<bool> = image.iter().map(|v| v.is_finite()).collect();
        // The missing pixel starts at the known pixels' mean weighted by a Gaussian of spread
        // 2 pixels around it (every pixel of this image is within the window's reach).
        let weight = |p: usize| {
            let (di, dj) = ((p / w) as f64 - 2.0, (p % w) as f64 - 3.0);
            (-(di * di + dj * dj) / 8.0).exp()
        };
        let known_pixels = || (0..h * w).filter(|&p| image[p].is_finite());
        let fill = known_pixels().map(|p| weight(p) * image[p]).sum::<f64>()
            / known_pixels().map(weight).sum::<f64>();
        let mut x: Vec<f64> = image.iter().map(|&v| if v.is_finite() { v } else { fill }).collect();
        let (sigma2, lambda) = (0.16, Q as f64 / 0.16);
        for (pass, c) in epll.betas.iter().enumerate() {
            let beta = c / sigma2;
            let (mut sum, mut count) = (vec![0.0; h * w], vec![0.0; h * w]);
            for i in oracle_corners(h, stride, pass) {
                for j in oracle_corners(w, stride, pass) {
                    let patch: Vec<f64> = (0..Q).map(|t| x[(i + t / P) * w + j + t % P]).collect();
                    let z = oracle_patch(&g, &patch, 1.0 / beta, epll.step);
                    for t in 0..Q {
                        sum[(i + t / P) * w + j + t % P] += z[t];
                        count[(i + t / P) * w + j + t % P] += 1.0;
                    }
                }
            }
            for p in 0..h * w {
                let l = if known[p] { lambda } else { 0.0 };
                let y = if known[p] { image[p] } else { 0.0 };
                // Zoran & Weiss's image step: the patches' mean weighs as P² patches would.
                x[p] = (l * y + beta * Q as f64 * sum[p] / count[p]) / (l + beta * Q as f64);
            }
        }
        for (p, (a, b)) in ours.iter().zip(&x).enumerate() {
            assert!((a - b).abs() < 1e-3, "stride {stride} pixel {p}: {a} vs {b}");
        }
    }
}

/// PSNR before and after `prior` denoises the crop at σ = 25 (noise of seed 3).
fn denoised_crop(prior: &str) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let clean = crop(dir.path());
    let out = dir.path().join("out");
    let args = ["restore", prior, &clean, "--sigma", "25", "--noise-seed", "3", "--quiet", "--out"];
    let r = gmmzoo(&[&args[..], &[out.to_str().unwrap()]].concat());
    assert!(r.status.success(), "{prior}: {}", String::from_utf8_lossy(&r.stderr));
    let psnr = &restored(&out)[0]["psnr"];
    (psnr[0].as_f64().unwrap(), psnr[1].as_f64().unwrap())
}

/// A conv GMM is a prior too, through its stationary components' circulant covariances: the
/// quick start's 16 components on 8×8 BSDS patches gain over 2 dB on the crop, and the
/// 200-component flat GMM more.
#[test]
fn a_conv_prior_restores_and_the_flat_prior_restores_better() {
    let (noisy, conv) = denoised_crop("quickstart");
    let (_, flat) = denoised_crop("bsds300_full200_kmeans");
    assert!(conv > noisy + 2.0 && flat > conv, "noisy {noisy}, conv {conv}, flat {flat} dB");
}

fn gmmzoo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gmmzoo")).args(args).current_dir(repo()).output().unwrap()
}

fn restored(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("restore.json")).unwrap()).unwrap()
}

/// A 64×64 crop of a shipped sample image, as a PNG.
fn crop(dir: &std::path::Path) -> String {
    let image = image::open(repo().join("data/sample/bsds300/test/102061.jpg")).unwrap().to_luma8();
    let crop = image::imageops::crop_imm(&image, 100, 150, 64, 64).to_image();
    let path = dir.join("crop.png");
    crop.save(&path).unwrap();
    path.display().to_string()
}

#[test]
fn the_shipped_flat_prior_denoises_and_inpaints_a_sample_image() {
    let dir = tempfile::tempdir().unwrap();
    let clean = crop(dir.path());
    let out = dir.path().join("denoised");
    let r = gmmzoo(&[
        "restore",
        "bsds300_full200_kmeans",
        &clean,
        "--sigma",
        "25",
        "--noise-seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let psnr = &restored(&out)[0]["psnr"];
    let (before, after) = (psnr[0].as_f64().unwrap(), psnr[1].as_f64().unwrap());
    // σ = 25 on a detailed crop (a castle's windows): EPLL gains about 3 dB there.
    assert!(before < 22.0 && after > before + 2.0, "PSNR {before} → {after}");
    for file in ["crop.png", "crop.npy", "crop-compare.png"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    // Again into the same folder: refused without --overwrite.
    let r = gmmzoo(&[
        "restore",
        "bsds300_full200_kmeans",
        &clean,
        "--sigma",
        "25",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));

    // Half the pixels missing at random.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mask = image::GrayImage::from_fn(64, 64, |_, _| {
        image::Luma([if rng.random_bool(0.5) { 255 } else { 0 }])
    });
    let mask_path = dir.path().join("mask.png");
    mask.save(&mask_path).unwrap();
    let mut gains = Vec::new();
    for start in ["fill", "conditional"] {
        let out = dir.path().join(start);
        let r = gmmzoo(&[
            "restore",
            "bsds300_full200_kmeans",
            &clean,
            "--sigma",
            "2",
            "--mask",
            mask_path.to_str().unwrap(),
            "--clean",
            &clean,
            "--inpaint-start",
            start,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let psnr = &restored(&out)[0]["psnr"];
        gains.push([psnr[0].as_f64().unwrap(), psnr[1].as_f64().unwrap()]);
    }
    // The missing pixels black before; on this detailed crop about 21.7 dB after from the fill,
    // and over a decibel more from each patch's conditional mean.
    let [[before, fill], [_, conditional]] = gains[..] else { unreachable!() };
    assert!(before < 12.0 && fill > 20.0, "inpainting: PSNR {before} → {fill}");
    assert!(conditional > fill + 0.5, "conditional start {conditional} dB, fill {fill} dB");
}

#[test]
fn bad_input_is_one_sentence_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let clean = crop(dir.path());
    let small = dir.path().join("small.png");
    image::GrayImage::new(5, 5).save(&small).unwrap();
    let wrong_mask = dir.path().join("mask.png");
    image::GrayImage::new(10, 10).save(&wrong_mask).unwrap();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["bsds300_full200_kmeans".into(), clean.clone(), "--sigma".into(), "0".into()],
            "--sigma 0: must be a positive",
        ),
        (
            vec![
                "bsds300_full200_kmeans".into(),
                clean.clone(),
                "--sigma".into(),
                "25".into(),
                "--stride".into(),
                "9".into(),
            ],
            "--stride 9: must be from 1 to the patch side, 8",
        ),
        (
            vec![
                "bsds300_full200_kmeans".into(),
                clean.clone(),
                "--sigma".into(),
                "25".into(),
                "--mask".into(),
                wrong_mask.display().to_string(),
            ],
            "is a 10×10 mask for a 64×64 image",
        ),
        (
            vec![
                "bsds300_full200_kmeans".into(),
                small.display().to_string(),
                "--sigma".into(),
                "25".into(),
            ],
            "smaller than the prior's 8×8 patches",
        ),
        (
            vec!["mnist32".into(), clean.clone(), "--sigma".into(), "25".into()],
            "is not a prior of image patches",
        ),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let mut all: Vec<&str> = vec!["restore"];
        all.extend(args.iter().map(String::as_str));
        let o = out(&format!("out{i}"));
        all.extend(["--out", &o]);
        let r = gmmzoo(&all);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{needle}: {err}");
        // A GPU device's loader may add its own warnings; ours is one sentence.
        let ours = err.lines().filter(|l| !l.is_empty() && !l.contains("XDG_RUNTIME_DIR")).count();
        assert!(err.contains(needle) && ours == 1, "{needle}: {err}");
    }
}

/// A deep GMM's noise-aware search over its prefixes, with a beam as wide as the prefixes of
/// all but its last layer, finds the path that scoring every path picks: the patch step under
/// the searched prior is the dense estimate of the best of all paths.
#[test]
fn a_deep_priors_search_finds_the_best_path_of_every_noisy_patch() {
    use gmm_zoo::experiments::restore::PathSearch;
    use gmm_zoo::models::{DeepGmm, NodeParams};
    use gmm_zoo::training::{Family, Kind, LayerConfig};
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let d = Q - 1;
    let Some(LayerConfig::Deep(layer)) = LayerConfig::with_size(DeepGmm::KIND, 3) else { panic!() };
    let config = gmm_zoo::models::DeepGmmConfig { nodes: vec![3, 2, 2], beam: 6, ..layer.network };
    let m = 7;
    let a = (0..m * d * d)
        .map(|x| if (x % (d * d)) / d == x % d { 0.6 } else { 0.0 } + rng.random_range(-0.3..0.3))
        .collect();
    let b = (0..m * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let weights: Vec<f64> = (1..=12).map(|p| p as f64 / 78.0).collect();
    let nodes = NodeParams { a, b, dim: d };
    let network = DeepGmm::from_parts(&nodes, &weights, &config, &common::device()).unwrap();
    let g = network.density_gaussians().unwrap().unwrap();
    let mut prior = PatchPrior::from_mixture(&g, P, 1.0, true);
    prior.search = Some(PathSearch::new(&network, &g.weights, (P, 1.0, true)).unwrap());
    let rows: Vec<f64> = (0..200 * Q).map(|_| rng.random_range(-2.0..2.0)).collect();
    let rows32: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
    for sigma2 in [0.05, 0.5] {
        let ours = denoise_patches(&prior, &rows32, sigma2, PatchStep::MostLikely).unwrap();
        for (n, patch) in rows.chunks(Q).enumerate() {
            let want = oracle_patch(&g, patch, sigma2, PatchStep::MostLikely);
            for (a, b) in ours[n * Q..(n + 1) * Q].iter().zip(&want) {
                assert!((f64::from(*a) - b).abs() < 2e-4, "σ²={sigma2} patch {n}: {a} vs {b}");
            }
        }
    }
    let refused = denoise_patches(&prior, &rows32, 0.5, PatchStep::Posterior).unwrap_err();
    assert!(refused.contains("most likely"), "{refused}");
}
