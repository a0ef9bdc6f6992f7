//! Expected patch log-likelihood (EPLL, Zoran & Weiss 2011) by half-quadratic splitting, for
//! denoising additive white Gaussian noise and inpainting missing pixels. With `y` the observed
//! image and `x` the estimate (in the prior's units), `P_i` the i-th of every overlapping
//! P×P patch, `M` the known pixels and `λ = P²/σ²` (Zoran & Weiss's code), it minimises
//!
//! ```text
//! λ/2 ‖M(x − y)‖² + Σ_i β/2 ‖P_i x − z_i‖² − Σ_i log p(z_i)
//! ```
//!
//! for each β of the schedule `β_j = c_j/σ²` (by default `c = [1, 4, 8, 16, 32]`), one pass
//! each: the patch step sets every `z_i` to its estimate under the prior given `P_i x` with
//! noise variance `1/β` ([`patch_step`]), then the image step sets `x` pixel by pixel,
//!
//! ```text
//! x = (λ M y + β P² z̄) / (λ M + β P²),    z̄ = Σ_i P_iᵀ z_i / c,  c = the patches covering it
//! ```
//!
//! as Zoran & Weiss's code does (`counts = patchSize^2`): each pixel's average of patch
//! estimates weighs as if all P² patches covered it, also near the border, where fewer do. (The
//! exact minimiser, with `c` in place of P², keeps a border pixel nearer its noisy value the
//! fewer patches cover it: 0.28 dB less on BSD68 at σ = 25, on 4 of its images all of it
//! within 8 pixels of the border.)
//!
//! A missing pixel (`M = 0`) starts at the mean of its patches' conditional means given their
//! known pixels under the prior ([`conditional_start`], on the first pass's patches), or at the
//! Gaussian-weighted mean of the known pixels around it (normalised convolution, [`filled`]),
//! and is the average of its patches' estimates after every pass.
//!
//! With a `stride` s > 1 each pass takes only the patches whose corners lie on a grid of step s
//! (shifted by one each pass, the last row and column of corners always kept so that every
//! pixel is covered): about s² times fewer patches, the fast mode of FEPLL (Parameswaran et
//! al. 2019) without its other approximations; `c` then counts the grid's patches.

use super::conditional::conditional_start;
use super::{PatchPrior, PatchStep, patch_step};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Zoran & Weiss's schedule: `β_j = c_j/σ²`.
pub const DEFAULT_BETAS: [f64; 5] = [1.0, 4.0, 8.0, 16.0, 32.0];

/// What a restoration does: the noise of the known pixels and the splitting's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Epll {
    /// The noise's standard deviation in gray levels (0–255).
    pub sigma: f64,
    /// `c_j` of `β_j = c_j/σ²`, one pass each.
    pub betas: Vec<f64>,
    /// The patch step's estimate.
    pub step: PatchStep,
    /// Step of the grid of patch corners (1: every overlapping patch, exact EPLL).
    pub stride: usize,
    /// Where missing pixels start.
    pub start: InpaintStart,
}

/// Where an inpainting's missing pixels start, before the first pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InpaintStart {
    /// Each patch's conditional mean given its known pixels under the prior, averaged
    /// ([`conditional_start`]; a searched deep GMM's prior starts from [`InpaintStart::Fill`]).
    #[default]
    Conditional,
    /// The Gaussian-weighted mean of the known pixels around each ([`filled`]).
    Fill,
}

/// Where the schedule of an inpainting started by [`InpaintStart::Fill`] begins: missing
/// pixels begin as the known pixels' mean, about a natural image's spread (50 gray levels) from
/// their values.
pub const INPAINTING_START: f64 = 50.0;

impl Epll {
    /// Zoran & Weiss's schedule at noise `sigma`, the most likely component's estimate.
    pub fn new(sigma: f64) -> Self {
        let (step, start) = (PatchStep::MostLikely, InpaintStart::Conditional);
        Self { sigma, betas: DEFAULT_BETAS.to_vec(), step, stride: 1, start }
    }

    /// The schedule for missing pixels that start at `start`: from the conditional start,
    /// Zoran & Weiss's ([`Epll::new`]); from the fill, `1/β` from [`INPAINTING_START`]² (when
    /// `sigma` is below it) halving each pass down to Zoran & Weiss's last, `σ²/32`, as `c_j` of
    /// `β_j = c_j/σ²`. The known pixels carry their own noise `sigma` as ever.
    pub fn inpainting(sigma: f64, start: InpaintStart) -> Self {
        if start == InpaintStart::Conditional {
            return Self::new(sigma);
        }
        let mut c = (sigma / INPAINTING_START).powi(2).min(1.0);
        let mut betas = vec![c];
        while c < 32.0 {
            c = (2.0 * c).min(32.0);
            betas.push(c);
        }
        Self { sigma, betas, step: PatchStep::MostLikely, stride: 1, start }
    }

    /// Checks the settings against an image of `height × width` and the prior.
    pub fn check(&self, prior: &PatchPrior, height: usize, width: usize) -> Result<(), String> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(format!(
                "--sigma {}: must be a positive number of gray levels",
                self.sigma
            ));
        }
        if self.betas.is_empty() || self.betas.iter().any(|b| !(b.is_finite() && *b > 0.0)) {
            return Err(format!("--betas {:?}: must be positive numbers", self.betas));
        }
        if self.stride == 0 || self.stride > prior.side {
            return Err(format!(
                "--stride {}: must be from 1 to the patch side, {}",
                self.stride, prior.side
            ));
        }
        if height < prior.side || width < prior.side {
            return Err(format!(
                "the image is {height}×{width}, smaller than the prior's {p}×{p} patches",
                p = prior.side
            ));
        }
        Ok(())
    }
}

/// Spread of the window that fills missing pixels before the first pass, pixels.
const FILL_SPREAD: f64 = 2.0;

/// `y` with each missing pixel replaced by the mean of the known pixels around it, weighted by
/// a Gaussian window of [`FILL_SPREAD`] pixels (normalised convolution: `G∗(M y) / G∗M`,
/// separable, radius 3 spreads); `mean` where no known pixel is within reach.
fn filled(y: &[f64], known: &[bool], (h, w): (usize, usize), mean: f64) -> Vec<f64> {
    let r = (3.0 * FILL_SPREAD).ceil() as usize;
    let g: Vec<f64> =
        (0..=2 * r).map(|t| (-((t as f64 - r as f64) / FILL_SPREAD).powi(2) / 2.0).exp()).collect();
    let blur = |v: Vec<f64>| {
        let mut rows = vec![0.0; h * w];
        for i in 0..h {
            for j in 0..w {
                let (lo, hi) = (j.saturating_sub(r), (j + r).min(w - 1));
                rows[i * w + j] = (lo..=hi).map(|t| g[t + r - j] * v[i * w + t]).sum();
            }
        }
        let mut out = vec![0.0; h * w];
        for i in 0..h {
            let (lo, hi) = (i.saturating_sub(r), (i + r).min(h - 1));
            for j in 0..w {
                out[i * w + j] = (lo..=hi).map(|t| g[t + r - i] * rows[t * w + j]).sum();
            }
        }
        out
    };
    let mask: Vec<f64> = known.iter().map(|&k| f64::from(u8::from(k))).collect();
    let masked: Vec<f64> = y.iter().zip(&mask).map(|(v, m)| v * m).collect();
    let (num, den) = (blur(masked), blur(mask));
    (0..h * w)
        .map(|i| match (known[i], den[i] > 1e-12) {
            (true, _) => y[i],
            (false, true) => num[i] / den[i],
            (false, false) => mean,
        })
        .collect()
}

/// The corners along an axis of `n` pixels of the patches of side `p` that pass `j` takes:
/// every one (`stride` 1), else those at `offset, offset + stride, …` with
/// `offset = j mod stride`, plus the first and the last corner so that every pixel is covered.
fn corners(n: usize, p: usize, stride: usize, j: usize) -> Vec<usize> {
    let last = n - p;
    let mut out: Vec<usize> = (j % stride..=last).step_by(stride).collect();
    if out.first() != Some(&0) {
        out.insert(0, 0);
    }
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// The patches at corners `rows × cols` of `x` (`h × w`), row-major `[N, P²]`, in raster order.
fn extract(x: &[f64], w: usize, (rows, cols): (&[usize], &[usize]), p: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * cols.len() * p * p);
    for &i in rows {
        for &j in cols {
            (0..p).for_each(|a| out.extend(x[(i + a) * w + j..][..p].iter().map(|&v| v as f32)));
        }
    }
    out
}

/// The patches' estimates under the prior: each patch `[P²]` of `rows` observed with noise of
/// variance `sigma2` (the prior's units) keeps its mean; its zero-mean part `r` goes to
/// `w = H r`, takes the patch step's estimate `ŵ`, and comes back as `Hᵀ ŵ`.
pub fn denoise_patches(
    prior: &PatchPrior,
    rows: &[f32],
    sigma2: f64,
    step: PatchStep,
) -> Result<Vec<f32>, String> {
    let (q, m) = (prior.side * prior.side, prior.dims());
    let n = rows.len() / q;
    let mut centred = rows.to_vec();
    let means: Vec<f32> = centred
        .chunks_mut(q)
        .map(|row| {
            let mean = row.iter().sum::<f32>() / q as f32;
            row.iter_mut().for_each(|v| *v -= mean);
            mean
        })
        .collect();
    let basis = MatRef::from_row_major_slice(&prior.basis, m, q);
    let mut coords = vec![0f32; n * m];
    matmul(
        MatMut::from_row_major_slice_mut(&mut coords, n, m),
        Accum::Replace,
        MatRef::from_row_major_slice(&centred, n, q),
        basis.transpose(),
        1.0f32,
        Par::Seq,
    );
    let estimates = patch_step(prior, &coords, sigma2, step)?;
    let mut out: Vec<f32> = means.iter().flat_map(|&v| std::iter::repeat_n(v, q)).collect();
    matmul(
        MatMut::from_row_major_slice_mut(&mut out, n, q),
        Accum::Add,
        MatRef::from_row_major_slice(&estimates, n, m),
        basis,
        1.0f32,
        Par::Seq,
    );
    Ok(out)
}

/// `Σ_i P_iᵀ z_i` and `c`: the patches `[N, P²]` put back where [`extract`] took them, summed,
/// and how many cover each pixel.
fn put_back(
    patches: &[f32],
    (h, w): (usize, usize),
    (rows, cols): (&[usize], &[usize]),
    p: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut sum, mut count) = (vec![0f64; h * w], vec![0f64; h * w]);
    let mut patch = patches.chunks(p * p);
    for &i in rows {
        for &j in cols {
            let values = patch.next().expect("one estimate per patch");
            for a in 0..p {
                let at = (i + a) * w + j;
                let out = &mut sum[at..][..p];
                out.iter_mut().zip(&values[a * p..][..p]).for_each(|(o, &v)| *o += f64::from(v));
                count[at..][..p].iter_mut().for_each(|c| *c += 1.0);
            }
        }
    }
    (sum, count)
}

/// Restores `image` (`h × w` gray levels, row-major; `NaN` where a pixel is missing) under
/// `prior`; `pass(j)` is called after pass j. Returns the estimate in gray levels.
pub fn restore(
    prior: &PatchPrior,
    image: &[f64],
    (h, w): (usize, usize),
    epll: &Epll,
    pass: &mut dyn FnMut(usize),
) -> Result<Vec<f64>, String> {
    epll.check(prior, h, w)?;
    let known: Vec<bool> = image.iter().map(|v| v.is_finite()).collect();
    let n_known = known.iter().filter(|&&k| k).count();
    if n_known == 0 {
        return Err("every pixel of the image is missing".into());
    }
    let y: Vec<f64> =
        image.iter().map(|v| if v.is_finite() { v * prior.scale } else { 0.0 }).collect();
    let mut x = filled(&y, &known, (h, w), y.iter().sum::<f64>() / n_known as f64);
    let sigma2 = (epll.sigma * prior.scale).powi(2);
    let (p, s) = (prior.side, epll.stride);
    if n_known < h * w && epll.start == InpaintStart::Conditional && prior.search.is_none() {
        let grid = (corners(h, p, s, 0), corners(w, p, s, 0));
        x = conditional_start(prior, &x, &known, (h, w), (&grid.0, &grid.1), sigma2, epll.step);
    }
    let full = (p * p) as f64;
    let lambda = full / sigma2;
    for (j, c) in epll.betas.iter().enumerate() {
        let beta = c / sigma2;
        let grid = (corners(h, p, s, j), corners(w, p, s, j));
        let grid = (grid.0.as_slice(), grid.1.as_slice());
        let patches = extract(&x, w, grid, p);
        let estimates = denoise_patches(prior, &patches, 1.0 / beta, epll.step)?;
        let (sum, counts) = put_back(&estimates, (h, w), grid, p);
        for i in 0..h * w {
            let l = if known[i] { lambda } else { 0.0 };
            x[i] = (l * y[i] + beta * full * sum[i] / counts[i]) / (l + beta * full);
        }
        pass(j);
    }
    Ok(x.iter().map(|v| v / prior.scale).collect())
}
