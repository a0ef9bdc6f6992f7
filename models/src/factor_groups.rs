//! Mahalanobis distances of rows under every component of a Gaussian mixture through
//! triangular factors of the precisions, one product per group of the factors' columns for all
//! components at once, skipping the factors' zeros: the full GMM's E-step on a CPU
//! (`U_c` upper triangular, `P_c = U_c U_cᵀ`, models.md §2) and EPLL's patch step (lower
//! triangular factors of the noisy precisions).
//!
//! ```text
//! δ_nc = ‖x_n F_c − s_c‖²,   s_c = μ_cᵀ F_c                       x_n [D], F_c [D, D]
//! columns J_q = q·L … (q+1)·L − 1 (L = LANES):
//!   upper F_c: (x F_c)[J_q] = x[0 … (q+1)L) F_c[0 … (q+1)L), J_q]
//!   lower F_c: (x F_c)[J_q] = x[qL … D)     F_c[qL … D), J_q]
//! δ_nc = Σ_lanes Σ_q ((x_n F_c)[J_q] − s_c[J_q])²     groups added lane by lane in order,
//!                                                      then the L lanes as a tree
//! ```
//!
//! With D = 63 and L = 16 a row and component take 2,544 (upper) or 2,496 (lower)
//! multiply-adds instead of the dense 3,969, and the product of a block of rows has
//! [`SCORE_COLUMNS`] columns (32 components) instead of one component's D.

use crate::lane_kernels::{LANES, lane_totals_for_cpu, square_lanes_for_cpu};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use std::ops::Range;

/// Columns of each product [`FactorGroups::distances`] forms at a time (512 KB of f32 for
/// 256 rows: the product stays in the core's cache while its sums are taken).
const SCORE_COLUMNS: usize = 512;

/// Columns `J_q` of every component's factor.
#[derive(Debug, Clone)]
struct Group {
    /// The rows of the factors (coordinates of `x`) that columns `J_q` use.
    rows: Range<usize>,
    /// `F_c[rows, J_q]` of every component side by side, row-major `[|rows|, K·L]` (columns
    /// past D zero).
    factors: Vec<f32>,
    /// `s_c[J_q]` of every component, `[K·L]` (zero past D).
    shifts: Vec<f32>,
}

/// K triangular factors `F_c` `[D, D]` and shifts `s_c`, cut into groups of columns.
#[derive(Debug, Clone)]
pub struct FactorGroups {
    groups: Vec<Group>,
    k: usize,
    d: usize,
}

impl FactorGroups {
    /// From `factors` (row-major `[K, D, D]`: upper triangular where `upper`, `F_c[i, j] = 0`
    /// for `i > j`; else lower) and `shifts` (`[K, D]`).
    pub fn new(factors: &[f32], shifts: &[f32], k: usize, d: usize, upper: bool) -> Self {
        let width = k * LANES;
        let groups = (0..d)
            .step_by(LANES)
            .map(|first| {
                let end = (first + LANES).min(d);
                let rows = if upper { 0..end } else { first..d };
                let (mut f, mut s) = (vec![0f32; rows.len() * width], vec![0f32; width]);
                for c in 0..k {
                    for j in first..end {
                        let col = c * LANES + j - first;
                        s[col] = shifts[c * d + j];
                        for (r, i) in rows.clone().enumerate() {
                            f[r * width + col] = factors[(c * d + i) * d + j];
                        }
                    }
                }
                Group { rows, factors: f, shifts: s }
            })
            .collect();
        Self { groups, k, d }
    }

    /// `out[n·K + c] = δ_nc` for rows `xs` `[b, D]` (row-major), `out` `[b, K]`: [`SCORE_COLUMNS`]
    /// columns at a time, each group's product into this thread's reused buffer (a fresh one
    /// is zeroed by the kernel first) and its squared differences added lane by lane into a
    /// second one while the product is in the core's cache; after the last group, each
    /// component's lanes summed once. The same operations in the same order for a row whatever
    /// the rows beside it.
    pub fn distances(&self, xs: &[f32], out: &mut [f32]) {
        thread_local! {
            static BUFFERS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
        }
        let (k, d) = (self.k, self.d);
        let b = xs.len() / d;
        let chunk = (SCORE_COLUMNS / LANES).clamp(1, k);
        let (square, total) = (square_lanes_for_cpu(), lane_totals_for_cpu());
        let mut part = vec![0f32; b * chunk];
        BUFFERS.with_borrow_mut(|(projected, lanes)| {
            for k0 in (0..k).step_by(chunk) {
                let g = chunk.min(k - k0);
                let (cols, from) = (g * LANES, k0 * LANES);
                projected.resize(b * cols, 0.0);
                lanes.clear();
                lanes.resize(b * cols, 0.0);
                for group in &self.groups {
                    let rows = group.rows.len();
                    matmul(
                        MatMut::from_row_major_slice_mut(&mut projected[..b * cols], b, cols),
                        Accum::Replace,
                        MatRef::from_row_major_slice_with_stride(
                            &xs[group.rows.start..],
                            b,
                            rows,
                            d,
                        ),
                        MatRef::from_row_major_slice_with_stride(
                            &group.factors[from..],
                            rows,
                            cols,
                            k * LANES,
                        ),
                        1.0f32,
                        Par::Seq,
                    );
                    square(&projected[..b * cols], &group.shifts[from..from + cols], lanes);
                }
                total(lanes, &mut part[..b * g]);
                for (row, part) in out.chunks_exact_mut(k).zip(part.chunks_exact(g)) {
                    row[k0..k0 + g].copy_from_slice(part);
                }
            }
        });
    }
}

/// `s_c = μ_cᵀ F_c` for every component, summed in f64: `means` `[K, D]`, `factors`
/// `[K, D, D]` (one `[D, D]` shared by all where `shared`, the tied type's).
pub fn shifts(means: &[f64], factors: &[f64], k: usize, d: usize, shared: bool) -> Vec<f32> {
    (0..k * d)
        .map(|cj| {
            let (c, j) = (cj / d, cj % d);
            let f = if shared { 0 } else { c * d * d };
            (0..d).map(|i| means[c * d + i] * factors[f + i * d + j]).sum::<f64>() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every group form against a float64 dense sum, upper and lower, for D with a short last
    /// group (21) and a whole one (32), K across a product's chunk (40 > 32).
    #[test]
    fn grouped_distances_match_a_dense_float64_sum() {
        let value = |i: usize| (i * 37 % 101) as f64 / 50.0 - 1.0;
        for (d, upper) in [(21, true), (21, false), (32, true), (32, false)] {
            let (k, b) = (40, 7);
            let factors: Vec<f64> = (0..k * d * d)
                .map(|x| {
                    let (i, j) = ((x / d) % d, x % d);
                    let zero = if upper { i > j } else { i < j };
                    if zero { 0.0 } else { value(x + 5) }
                })
                .collect();
            let means: Vec<f64> = (0..k * d).map(|x| value(x + 9) * 0.5).collect();
            let xs: Vec<f32> = (0..b * d).map(|x| value(x + 1) as f32).collect();
            let f32s: Vec<f32> = factors.iter().map(|&v| v as f32).collect();
            let groups =
                FactorGroups::new(&f32s, &shifts(&means, &factors, k, d, false), k, d, upper);
            let mut out = vec![f32::NAN; b * k];
            groups.distances(&xs, &mut out);
            for (n, c) in (0..b).flat_map(|n| (0..k).map(move |c| (n, c))) {
                let exact: f64 = (0..d)
                    .map(|j| {
                        let y: f64 = (0..d)
                            .map(|i| {
                                (xs[n * d + i] as f64 - means[c * d + i])
                                    * factors[(c * d + i) * d + j]
                            })
                            .sum();
                        y * y
                    })
                    .sum();
                let got = out[n * k + c] as f64;
                assert!(
                    (got - exact).abs() <= 1e-4 * exact.max(1.0),
                    "d {d} {upper}: {got} vs {exact}"
                );
            }
        }
    }
}
