//! EM's E-step and expected statistics of a CPU batch with missing values in one pass
//! ([`crate::Mixture::e_step_batch`]): each row's components are conditioned once, in
//! lockstep ([`super::lockstep`]), for its marginal densities, its responsibilities and what
//! it adds to the statistics, instead of once for the densities and again for the statistics.

use super::lockstep::{
    Interleaved, LANES, LockstepScratch, conditionals_for_cpu, log_densities_for_cpu,
};
use super::{Pattern, Precisions, not_positive_definite};
use crate::full::blocks::STAT_BLOCKS;
use crate::full::model::{FullGmm, RESP_FLOOR};
use crate::full::moments::FullStats;
use crate::mixture::{BatchTerms, Mixture};
use crate::readback::{host_vec, with_host_values};
use crate::{ModelError, host};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// Bytes of statistics that the blocks of a batch may hold at once (each block sums its rows
/// into its own `K·(1 + D + D(D+1)/2)` values).
const BLOCK_SUMS_BUDGET: usize = 256 << 20;

/// `i(i+1)/2 + j`: entry `(i, j)`, `j ≤ i`, of a packed lower triangle.
fn packed(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

impl FullGmm {
    /// [`crate::default_e_step_batch`] at β = 1 of a batch with NaN on a CPU, in one pass:
    /// for each row, every component's `log N(x_o | μ_c,o, Σ_c,oo)` in the f32 steps of
    /// `log_prob` and `weighted_log_prob`, the responsibilities and `log p(x_n)` of
    /// [`host::responsibilities_in_place`], then the statistics ([`Self::missing_pass`]).
    ///
    /// # Shapes
    /// - `x`: `[N, D]` on a CPU device, NaN where a value is missing.
    pub(crate) fn fused_missing_batch(
        &self,
        x: &Tensor<2>,
    ) -> Result<BatchTerms<FullStats>, ModelError> {
        let [n, _] = x.dims();
        let (objective, stats) = self.missing_pass(x, None)?;
        let objective = Tensor::<2>::from_data(TensorData::new(objective, [n, 1]), &x.device());
        Ok(BatchTerms {
            objective: objective.sum_dim(0).squeeze_dim(0),
            log_likelihood: None,
            stats,
        })
    }

    /// EM's expected statistics of a batch with NaN (the parent module's doc), about the
    /// current means as the complete-data statistics are: for every row and component with
    /// `r ≥ RESP_FLOOR`, with `ŷ = (x_o, x̂_m) − shift_c`,
    ///
    /// ```text
    /// n_c += r,   first_c += r ŷ,   second_c += r [ŷ ŷᵀ + A⁻¹ ⊕ 0]
    /// ```
    ///
    /// with `r` the given responsibilities `resp` (`[N, K]`: weighted rows, β ≠ 1), or, without
    /// them, the posterior computed in the same pass (and each row's `log p(x_n)` returned,
    /// zeros otherwise). Each row's components are conditioned once, side by side
    /// ([`super::lockstep`]). The rows are cut into at most [`STAT_BLOCKS`] blocks (fewer where
    /// their sums would pass [`BLOCK_SUMS_BUDGET`]), each summed in row order on one of rayon's
    /// threads, the blocks added in order: the same figures on any number of threads.
    pub(crate) fn missing_pass(
        &self,
        x: &Tensor<2>,
        resp: Option<&[f32]>,
    ) -> Result<(Vec<f32>, FullStats), ModelError> {
        let [n, d] = x.dims();
        let k = self.n_components();
        let diagonal = self.config.covariance_type.is_diagonal();
        let lanes = Interleaved::of(&Precisions::of(self)?);
        let (densities, conditionals) = (log_densities_for_cpu(), conditionals_for_cpu());
        let log_weights: Vec<f32> = host_vec(self.log_weights.val().try_into_data())?;
        let width = 1 + d + if diagonal { d } else { d * (d + 1) / 2 };
        let blocks = (BLOCK_SUMS_BUDGET / (8 * k * width).max(1)).clamp(1, STAT_BLOCKS);
        let block_rows = n.div_ceil(blocks).max(1);
        let summing = Summing {
            lanes: &lanes,
            conditionals,
            width,
            zero_mean: self.config.zero_mean,
            diagonal,
        };
        let mut objective = vec![0.0f32; n];
        let sums: Vec<Result<Vec<f64>, ModelError>> = with_host_values(x, |xs| {
            (xs.par_chunks(block_rows * d).zip(objective.par_chunks_mut(block_rows)))
                .enumerate()
                .map(|(block, (xs, objective))| {
                    let mut sums = vec![0.0; k * width];
                    let mut s = LockstepScratch::new(&lanes);
                    let (mut lp, mut a, mut y) = (vec![0.0; k], vec![0.0f32; k], vec![0.0; d]);
                    for (row, (x, objective)) in xs.chunks(d).zip(objective.iter_mut()).enumerate()
                    {
                        let p = Pattern::of(x);
                        // Also factors every component's missing block, for the conditionals.
                        (lanes.log_densities(densities, x, &p, &mut s, &mut lp))
                            .map_err(not_positive_definite)?;
                        if let Some(resp) = resp {
                            let at = (block * block_rows + row) * k;
                            a.copy_from_slice(&resp[at..at + k]);
                        } else {
                            for ((a, lp), w) in a.iter_mut().zip(&lp).zip(&log_weights) {
                                *a = *lp as f32 + w;
                            }
                            *objective = host::responsibilities_in_place(&mut a, k)[0];
                        }
                        summing.add(x, &p, &a, &mut s, &mut y, &mut sums);
                    }
                    Ok(sums)
                })
                .collect()
        })?;
        let mut total = vec![0.0; k * width];
        for block in sums {
            total.iter_mut().zip(block?).for_each(|(t, b)| *t += b);
        }
        Ok((objective, unpack(&total, k, d, diagonal, &x.device())))
    }
}

/// What [`FullGmm::missing_pass`] sums per row.
struct Summing<'a> {
    lanes: &'a Interleaved,
    conditionals: fn(&Pattern, &mut LockstepScratch, usize, usize, bool),
    /// Sums per component: `1 + D + D(D+1)/2`, or `1 + 2D` when `diagonal`.
    width: usize,
    zero_mean: bool,
    diagonal: bool,
}

impl Summing<'_> {
    /// Row `x`'s (pattern `p`) statistics into `sums` (`[K, width]`) for every component with
    /// `r = a_c ≥ RESP_FLOOR`; `s` holds the row's factored blocks ([`super::lockstep`]), `y`
    /// is scratch of `D`.
    fn add(
        &self,
        x: &[f32],
        p: &Pattern,
        a: &[f32],
        s: &mut LockstepScratch,
        y: &mut [f64],
        sums: &mut [f64],
    ) {
        let (d, k, lanes, width) = (x.len(), a.len(), self.lanes, self.width);
        for b in 0..lanes.blocks() {
            let components = b * LANES..((b + 1) * LANES).min(k);
            if !components.clone().any(|c| a[c] >= RESP_FLOOR) {
                continue;
            }
            if !p.missing.is_empty() {
                (self.conditionals)(p, s, d, b, self.diagonal);
            }
            for c in components.filter(|&c| a[c] >= RESP_FLOOR) {
                let (w, l) = (f64::from(a[c]), c - b * LANES);
                y.iter_mut().zip(x).for_each(|(y, &v)| *y = f64::from(v));
                for (r, &i) in p.missing.iter().enumerate() {
                    y[i] = lanes.mean(b, l, i) - s.a_inv_b(d, b, l, r);
                }
                if !self.zero_mean {
                    (0..d).for_each(|i| y[i] -= lanes.mean(b, l, i));
                }
                let sc = &mut sums[c * width..(c + 1) * width];
                add_row(sc, y, w, self.diagonal);
                add_conditional(sc, s, &p.missing, d, l, w, self.diagonal);
            }
        }
    }
}

/// One row's `n_c += w`, `first += w y` and `second += w y yᵀ` (packed lower triangle, or the
/// diagonal `w y²`) into a component's `[1 + D + …]` sums.
fn add_row(sc: &mut [f64], y: &[f64], w: f64, diagonal: bool) {
    let d = y.len();
    let (head, second) = sc.split_at_mut(1 + d);
    head[0] += w;
    head[1..].iter_mut().zip(y).for_each(|(f, v)| *f += w * v);
    if diagonal {
        second.iter_mut().zip(y).for_each(|(s, v)| *s += w * v * v);
        return;
    }
    for (i, &yi) in y.iter().enumerate() {
        let wy = w * yi;
        second[packed(i, 0)..=packed(i, i)].iter_mut().zip(y).for_each(|(s, v)| *s += wy * v);
    }
}

/// `second[m, m] += w A⁻¹` of the component in lane `l` of `s.inv` on the row's missing
/// block (ascending coordinates, so `(missing[r], missing[t])` with `t ≤ r` is in the lower
/// triangle), or on the diagonal when `diagonal`.
fn add_conditional(
    sc: &mut [f64],
    s: &LockstepScratch,
    missing: &[usize],
    d: usize,
    l: usize,
    w: f64,
    diagonal: bool,
) {
    let m = missing.len();
    let second = &mut sc[1 + d..];
    for (r, &i) in missing.iter().enumerate() {
        if diagonal {
            second[i] += w * s.inv[r * m + r][l];
            continue;
        }
        for (t, &j) in missing[..=r].iter().enumerate() {
            second[packed(i, j)] += w * s.inv[r * m + t][l];
        }
    }
}

/// The summed blocks as [`FullStats`]: `Diagonal` (f64), or `Rows` with each packed second
/// moment made whole (`[D, D]`, f32), as the complete-data statistics are.
fn unpack(
    total: &[f64],
    k: usize,
    d: usize,
    diagonal: bool,
    device: &burn::tensor::Device,
) -> FullStats {
    let width = total.len() / k.max(1);
    let component = |c: usize| &total[c * width..(c + 1) * width];
    let resp_sum: Vec<f64> = (0..k).map(|c| component(c)[0]).collect();
    if diagonal {
        let part = |range: std::ops::Range<usize>| -> Vec<f64> {
            (0..k).flat_map(|c| component(c)[range.clone()].to_vec()).collect()
        };
        return FullStats::Diagonal {
            resp_sum,
            first: part(1..1 + d),
            second: part(1 + d..1 + 2 * d),
        };
    }
    let moments = (0..k)
        .map(|c| {
            (resp_sum[c] > 0.0).then(|| {
                let sc = component(c);
                let first: Vec<f32> = sc[1..1 + d].iter().map(|&v| v as f32).collect();
                let second: Vec<f32> = (0..d * d)
                    .map(|e| {
                        let (i, j) = (e / d, e % d);
                        sc[1 + d + packed(i.max(j), i.min(j))] as f32
                    })
                    .collect();
                (
                    Tensor::from_data(TensorData::new(first, [d]), device),
                    Tensor::from_data(TensorData::new(second, [d, d]), device),
                )
            })
        })
        .collect();
    FullStats::Rows { resp_sum, moments }
}
