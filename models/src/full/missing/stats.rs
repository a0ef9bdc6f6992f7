//! EM's expected sufficient statistics of rows with missing values, one component at a time
//! (Ghahramani & Jordan 1994; the parent module's doc has the conditional Gaussian).

use super::{Pattern, Precisions, Scratch, column};
use crate::ModelError;
use crate::full::model::RESP_FLOOR;
use crate::full::small_cholesky::{inverse_from_factor, solve_upper_transposed};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// Rows whose outer products are summed by one matrix product `Yᵀ (W Y)`.
const STATS_BLOCK: usize = 1024;

impl Precisions {
    /// Component `c`'s expected statistics of `rows` (`[N, D]`, NaN where missing) given the
    /// responsibilities `resp` (`[N, K]`), over the rows with `r ≥ RESP_FLOOR`, about `shift`
    /// (`μ_c`, or 0 with `zero_mean`), with `ŷ = (x_o, x̂_m) − shift`:
    ///
    /// ```text
    /// n_c = Σ_n r_n,   first = Σ_n r_n ŷ_n,   second = Σ_n r_n [ŷ_n ŷ_nᵀ + A_n⁻¹ ⊕ 0]
    /// ```
    ///
    /// `second` is `[D·D]`, or its diagonal `[D]` when `diagonal`. The outer products of a
    /// block of rows are one product `Yᵀ (W Y)` (`[D, B]·[B, D]`); `A⁻¹` is added on each
    /// row's missing block. The sums depend on the rows only, not on the number of threads.
    pub(super) fn component_stats(
        &self,
        c: usize,
        rows: &[f32],
        patterns: &[Pattern],
        resp: &[f32],
        zero_mean: bool,
        diagonal: bool,
    ) -> Result<(f64, Vec<f64>, Vec<f64>), ModelError> {
        let d = self.d;
        let k = self.half_log_det.len();
        let mu = &self.means[c * d..(c + 1) * d];
        let shift = if zero_mean { vec![0.0; d] } else { mu.to_vec() };
        let mut s = Scratch::new(d);
        let (mut nc, mut first, mut y) = (0.0, vec![0.0; d], vec![0.0; d]);
        let mut second = vec![0.0; if diagonal { d } else { d * d }];
        let outer_side = if diagonal { 0 } else { d };
        let mut outer = Mat::<f64>::zeros(outer_side, outer_side);
        let (mut y_block, mut wy_block) = (Vec::new(), Vec::new());
        for (b, block) in rows.chunks(STATS_BLOCK * d).enumerate() {
            // The rows this component takes (`r ≥ RESP_FLOOR`), their `Λ_c δ` as one product.
            let kept: Vec<(usize, f64, &[f32])> = (block.chunks(d).enumerate())
                .map(|(j, x)| (b * STATS_BLOCK + j, resp[(b * STATS_BLOCK + j) * k + c], x))
                .filter(|&(_, w, _)| w >= RESP_FLOOR)
                .map(|(n, w, x)| (n, f64::from(w), x))
                .collect();
            let kept_rows: Vec<&[f32]> = kept.iter().map(|&(_, _, x)| x).collect();
            let v = self.lambda_deltas(c, &kept_rows);
            y_block.clear();
            wy_block.clear();
            for (j, &(n, w, x)) in kept.iter().enumerate() {
                let p = &patterns[n];
                self.condition_into(c, x, p, column(&v, j), &mut s)?;
                let m = p.missing.len();
                // z = G⁻¹ b becomes A⁻¹ b, and x̂_m = μ_m − A⁻¹ b.
                solve_upper_transposed(&s.g, m, &mut s.y[..m]);
                y.iter_mut().zip(x).for_each(|(yi, &xi)| *yi = f64::from(xi));
                p.missing.iter().zip(&s.y).for_each(|(&i, a_inv_b)| y[i] = mu[i] - a_inv_b);
                y.iter_mut().zip(&shift).for_each(|(v, s)| *v -= s);
                nc += w;
                first.iter_mut().zip(&y).for_each(|(f, v)| *f += w * v);
                if diagonal {
                    second.iter_mut().zip(&y).for_each(|(s, v)| *s += w * v * v);
                } else {
                    y_block.extend_from_slice(&y);
                    wy_block.extend(y.iter().map(|v| w * v));
                }
                if m > 0 {
                    inverse_from_factor(&s.g, m, &mut s.inv_g, &mut s.inv_a);
                    add_on_missing_block(&mut second, &s.inv_a, &p.missing, w, d, diagonal);
                }
            }
            if !y_block.is_empty() {
                let rows_kept = y_block.len() / d;
                let yt = MatRef::from_row_major_slice(&y_block, rows_kept, d).transpose();
                let wy = MatRef::from_row_major_slice(&wy_block, rows_kept, d);
                matmul(outer.as_mut(), Accum::Add, yt, wy, 1.0, Par::Seq);
            }
        }
        for i in 0..outer_side {
            for j in 0..outer_side {
                second[i * d + j] += outer[(i, j)];
            }
        }
        Ok((nc, first, second))
    }
}

/// `second[m, m] += w A⁻¹` (`inv_a`, `|m| × |m|` row-major) on the missing block of a `[D·D]`
/// second moment, or on its diagonal (`[D]`) when `diagonal`.
fn add_on_missing_block(
    second: &mut [f64],
    inv_a: &[f64],
    missing: &[usize],
    w: f64,
    d: usize,
    diagonal: bool,
) {
    let m = missing.len();
    for (r, &i) in missing.iter().enumerate() {
        if diagonal {
            second[i] += w * inv_a[r * m + r];
            continue;
        }
        for (t, &j) in missing.iter().enumerate() {
            second[i * d + j] += w * inv_a[r * m + t];
        }
    }
}
