//! The start of an inpainting: each patch's missing pixels from its known ones, exactly, under
//! the prior (the conditional Gaussian of EM with missing values, one patch at a time; the
//! piecewise-linear estimate of Yu, Sapiro & Mallat 2012).
//!
//! The prior's components are moved into pixel space. A patch `p` (P² pixels, model units) is
//! `p = m·1 + Hᵀ w` with `w ~ N(μ'_k, Σ'_k)` under component k and its mean `m` flat (a
//! Gaussian of variance [`MEAN_VARIANCE`], a hundred times the pixels' whole range squared):
//!
//! ```text
//! μ_k = Hᵀ μ'_k                       [P²]
//! C_k = Hᵀ U_k Λ_k U_kᵀ H + s² 1 1ᵀ   [P², P²]
//! ```
//!
//! A patch's known pixels `o` carry the image's noise `σ²`. Its component is the most likely
//! given them, `k* = argmax_k log π_k + log N(p_o | μ_k,o, C_k,oo + σ² I)` (every component
//! scored, [`NoisyGaussians`]: through the Cholesky factor of `C_k,oo + σ² I` when the patch
//! knows few pixels, of the noisy precision's missing block when it misses few; or, with the
//! posterior step, the components weighted by their posterior), and its estimate is the
//! conditional mean `E[p | p_o, k*]`. Each missing pixel becomes the mean of the estimates of
//! the patches that cover it and know at least one pixel; a known pixel keeps its value, and a
//! missing pixel no such patch covers keeps `start`.

use super::{PatchPrior, PatchStep};
use faer::Mat;
use gmm_models::{NEGLIGIBLE_LOG_RATIO, NoisyGaussians, NoisyScratch};
use rayon::prelude::*;

/// `s²`, the variance of a patch's mean in model units (pixels in [0, 1]): flat in effect.
pub const MEAN_VARIANCE: f64 = 100.0;

/// The prior's components over a patch's P² pixels (module doc), seen through noise of
/// variance `sigma2`; `None` when one has no Cholesky factor.
fn pixel_components(prior: &PatchPrior, sigma2: f64) -> Option<NoisyGaussians> {
    let (q, m) = (prior.side * prior.side, prior.dims());
    let h = Mat::<f64>::from_fn(m, q, |i, j| f64::from(prior.basis[i * q + j]));
    let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..prior.n_components())
        .into_par_iter()
        .map(|k| {
            let u = Mat::<f64>::from_fn(m, m, |i, j| f64::from(prior.eigenvectors[k][i * m + j]));
            let scaled = Mat::<f64>::from_fn(m, m, |i, j| u[(i, j)] * prior.eigenvalues[k][j]);
            let mixed = h.transpose() * (scaled * u.transpose()) * &h;
            let cov = (0..q * q).map(|x| mixed[(x / q, x % q)]).collect();
            let mean = (0..q)
                .map(|j| (0..m).map(|i| h[(i, j)] * f64::from(prior.means[k][i])).sum())
                .collect();
            (mean, cov)
        })
        .collect();
    let (means, covs): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    NoisyGaussians::new(&prior.log_weights, &means, &covs, MEAN_VARIANCE, sigma2)
}

/// Patch `values` (`[P²]`, NaN where missing)'s estimate (module doc) into `out`; `false` when
/// no component could condition it.
fn patch_estimate(
    lanes: &NoisyGaussians,
    values: &[f32],
    step: PatchStep,
    s: &mut NoisyScratch,
    out: &mut [f64],
) -> bool {
    let mut scores = vec![0.0; lanes.n_components()];
    lanes.scores(values, s, &mut scores);
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return false;
    }
    let mut mean = vec![0.0; values.len()];
    match step {
        PatchStep::MostLikely => {
            let best = scores.iter().position(|&v| v == top).unwrap_or(0);
            lanes.conditional_mean(best, values, s, out).is_some()
        }
        PatchStep::Posterior => {
            let total: f64 = scores.iter().map(|v| (v - top).exp()).sum();
            out.fill(0.0);
            for (k, v) in scores.iter().enumerate() {
                if v - top > NEGLIGIBLE_LOG_RATIO
                    && lanes.conditional_mean(k, values, s, &mut mean).is_some()
                {
                    let r = (v - top).exp() / total;
                    out.iter_mut().zip(&mean).for_each(|(o, m)| *o += r * m);
                }
            }
            true
        }
    }
}

/// `start` (`h × w`, model units) with every missing pixel (`!known`) replaced by the mean of
/// its patches' conditional estimates (module doc) over the patches at corners `rows × cols`,
/// known pixels carrying noise of variance `sigma2` (`start` itself where some component's
/// `C_k + σ² I` has no Cholesky factor).
pub fn conditional_start(
    prior: &PatchPrior,
    start: &[f64],
    known: &[bool],
    (h, w): (usize, usize),
    (rows, cols): (&[usize], &[usize]),
    sigma2: f64,
    step: PatchStep,
) -> Vec<f64> {
    let p = prior.side;
    let Some(lanes) = pixel_components(prior, sigma2) else {
        return start.to_vec();
    };
    let corners: Vec<(usize, usize)> =
        rows.iter().flat_map(|&i| cols.iter().map(move |&j| (i, j))).collect();
    let pixel = |(i, j): (usize, usize), t: usize| (i + t / p) * w + j + t % p;
    // Patches that know some pixels and miss some: only they move a missing pixel.
    let estimates: Vec<Option<Vec<f64>>> = corners
        .par_iter()
        .map_init(NoisyScratch::default, |s, &corner| {
            let values: Vec<f32> = (0..p * p)
                .map(|t| match known[pixel(corner, t)] {
                    true => start[pixel(corner, t)] as f32,
                    false => f32::NAN,
                })
                .collect();
            let n_known = values.iter().filter(|v| !v.is_nan()).count();
            if n_known == 0 || n_known == p * p {
                return None;
            }
            let mut out = vec![0.0; p * p];
            patch_estimate(&lanes, &values, step, s, &mut out).then_some(out)
        })
        .collect();
    let (mut sum, mut count) = (vec![0.0; h * w], vec![0.0; h * w]);
    for (&corner, estimate) in corners.iter().zip(&estimates) {
        for (t, v) in estimate.iter().flatten().enumerate() {
            sum[pixel(corner, t)] += v;
            count[pixel(corner, t)] += 1.0;
        }
    }
    (0..h * w)
        .map(|i| match known[i] || count[i] == 0.0 {
            true => start[i],
            false => sum[i] / count[i],
        })
        .collect()
}
