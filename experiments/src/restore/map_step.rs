//! The patch step of EPLL: every patch's estimate under the prior, given its coordinates `w`
//! observed with Gaussian noise of variance `σ²` in every coordinate (`σ² = 1/β`). For rows
//! `W` `[N, P²−1]` and component k ([`PatchPrior`]'s `μ'_k`, `U_k`, `λ_k`):
//!
//! ```text
//! d_nk   = (w_n − μ'_k) U_k
//! s_nk   = log π_k − ½ Σ_i log(λ_ki + σ²) − ½ Σ_i d_nki² / (λ_ki + σ²)   log p(w_n, k) + const
//! ŵ_n|k  = μ'_k + U_k (g_k ⊙ d_nk),   g_ki = λ_ki / (λ_ki + σ²)          the Wiener estimate
//! most likely:  ŵ_n = ŵ_n|k*,   k* = argmax_k s_nk                     (Zoran & Weiss)
//! posterior:    ŵ_n = Σ_k r_nk ŵ_n|k,   r_nk = exp(s_nk − logsumexp_k s_nk)
//! ```
//!
//! The scores of a block of rows under every component are one product through triangular
//! factors of the components' noisy precisions, built once per noise level
//! ([`NoisyFactors`]; a searched deep GMM's deeper candidates one row at a time through the
//! same factors, [`RowFactors`]); the Wiener estimates go through the eigenvectors.

use super::PatchPrior;
use super::noisy_factors::{NoisyFactors, RowFactors};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use std::sync::Arc;

/// Rows per block: each block's products run on one core.
const BLOCK: usize = 256;

/// Which estimate a patch takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PatchStep {
    /// The Wiener estimate under its most likely component (EPLL's).
    #[default]
    MostLikely,
    /// The posterior-weighted Wiener estimates of every component.
    Posterior,
}

/// `d_k = (W − 1 μ'_kᵀ) U_k` for a block of `b` rows.
fn projections(prior: &PatchPrior, k: usize, w: &[f32], b: usize) -> Vec<f32> {
    let m = prior.dims();
    let mu = &prior.means[k];
    let centred: Vec<f32> =
        w.chunks(m).flat_map(|row| row.iter().zip(mu).map(|(x, c)| x - c)).collect();
    let mut d = vec![0f32; b * m];
    matmul(
        MatMut::from_row_major_slice_mut(&mut d, b, m),
        Accum::Replace,
        MatRef::from_row_major_slice(&centred, b, m),
        MatRef::from_row_major_slice(&prior.eigenvectors[k], m, m),
        1.0f32,
        Par::Seq,
    );
    d
}

/// Adds `r · ŵ_n|k` to `out` for every row `n` of a block, `r = weight(n)`.
fn add_wiener(
    prior: &PatchPrior,
    k: usize,
    w: &[f32],
    sigma2: f64,
    weight: impl Fn(usize) -> f32,
    out: &mut [f32],
) {
    let m = prior.dims();
    let b = w.len() / m;
    let gain: Vec<f32> = prior.eigenvalues[k].iter().map(|l| (l / (l + sigma2)) as f32).collect();
    let mut d = projections(prior, k, w, b);
    for (n, row) in d.chunks_mut(m).enumerate() {
        let r = weight(n);
        row.iter_mut().zip(&gain).for_each(|(v, g)| *v *= g * r);
        let mean = &prior.means[k];
        out[n * m..(n + 1) * m].iter_mut().zip(mean).for_each(|(o, c)| *o += r * c);
    }
    matmul(
        MatMut::from_row_major_slice_mut(out, b, m),
        Accum::Add,
        MatRef::from_row_major_slice(&d, b, m),
        MatRef::from_row_major_slice(&prior.eigenvectors[k], m, m).transpose(),
        1.0f32,
        Par::Seq,
    );
}

/// The factors of one noise level: the prior's components (or a searched deep GMM's first
/// layer's prefixes) for blocks of rows, and a searched network's deeper prefixes and paths
/// one row at a time.
struct Factors {
    first: NoisyFactors,
    deeper: Vec<RowFactors>,
}

/// Every row's most likely component: of all (one product for the block), or the path a deep
/// GMM's noise-aware beam search finds.
fn most_likely(prior: &PatchPrior, factors: &Factors, w: &[f32]) -> Vec<usize> {
    let (deeper, factors) = (&factors.deeper, &factors.first);
    let s = factors.scores(w, w.len() / prior.dims());
    match &prior.search {
        None => s
            .chunks(factors.n_components())
            .map(|row| {
                let best = row.iter().enumerate().max_by(|a, c| a.1.total_cmp(c.1));
                best.map_or(0, |(k, _)| k)
            })
            .collect(),
        Some(search) => search.choose(deeper, w, &s),
    }
}

/// One block's estimates into `out` (zeroed).
fn block_step(
    prior: &PatchPrior,
    factors: &Factors,
    w: &[f32],
    sigma2: f64,
    step: PatchStep,
    out: &mut [f32],
) -> Result<(), String> {
    let (m, kk) = (prior.dims(), prior.n_components());
    let b = w.len() / m;
    match step {
        PatchStep::MostLikely => {
            let mut rows_of = vec![Vec::new(); kk];
            for (n, k) in most_likely(prior, factors, w).into_iter().enumerate() {
                rows_of[k].push(n);
            }
            for (k, rows) in rows_of.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
                let sub: Vec<f32> =
                    rows.iter().flat_map(|&n| w[n * m..][..m].iter().copied()).collect();
                let mut estimates = vec![0f32; sub.len()];
                add_wiener(prior, k, &sub, sigma2, |_| 1.0, &mut estimates);
                for (i, &n) in rows.iter().enumerate() {
                    out[n * m..][..m].copy_from_slice(&estimates[i * m..][..m]);
                }
            }
        }
        PatchStep::Posterior => {
            if prior.search.is_some() {
                return Err("the posterior patch step scores every component; a deep GMM's \
                            prior picks each patch's path by its search: use the most likely"
                    .into());
            }
            let mut r = factors.first.scores(w, b);
            for row in r.chunks_mut(kk) {
                let top = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = row.iter().map(|v| (v - top).exp()).sum();
                row.iter_mut().for_each(|v| *v = (*v - top).exp() / total);
            }
            for k in 0..kk {
                if (0..b).any(|n| r[n * kk + k] > 1e-12) {
                    add_wiener(prior, k, w, sigma2, |n| r[n * kk + k] as f32, out);
                }
            }
        }
    }
    Ok(())
}

/// The estimates `Ŵ` `[N, P²−1]` of rows `w` `[N, P²−1]` observed with noise variance
/// `sigma2`, in blocks on every core; the error says why a step cannot be taken.
pub fn patch_step(
    prior: &PatchPrior,
    w: &[f32],
    sigma2: f64,
    step: PatchStep,
) -> Result<Vec<f32>, String> {
    let m = prior.dims();
    let factors = match &prior.search {
        None => prior.noisy.get(sigma2, || Factors {
            first: NoisyFactors::new(prior, sigma2),
            deeper: Vec::new(),
        }),
        Some(search) => Arc::new(Factors {
            first: NoisyFactors::new(&search.levels[0], sigma2),
            deeper: search.levels[1..]
                .iter()
                .chain([prior])
                .map(|level| RowFactors::new(level, sigma2))
                .collect(),
        }),
    };
    let mut out = vec![0f32; w.len()];
    w.par_chunks(BLOCK * m)
        .zip(out.par_chunks_mut(BLOCK * m))
        .try_for_each(|(w, out)| block_step(prior, &factors, w, sigma2, step, out))?;
    Ok(out)
}
