//! The small dense algebra of conditioning one row on one component: the Cholesky factor of a
//! row's `m × m` missing block `A = Λ_mm = G Gᵀ` and its two triangular solves.
//!
//! `m` is at most the row width (63 for a BSDS300 patch) and changes from row to row, so each
//! call factors a fresh matrix of a few hundred entries, millions of times per EM iteration.
//! A general dense library's per-call setup (views, stacks, dispatch) costs more than the
//! arithmetic at this size; these loops work in caller-owned row-major buffers, allocate
//! nothing, and are checked against faer in the tests below. Every inner loop is a contiguous
//! dot product or axpy.

/// `Σ a_i b_i` over four running sums (vectorisable; the order is fixed, so the sum is too).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (mut s, n) = ([0.0; 4], a.len().min(b.len()));
    let (a4, b4) = (a[..n].chunks_exact(4), b[..n].chunks_exact(4));
    let (ra, rb) = (a4.remainder(), b4.remainder());
    for (x, y) in a4.zip(b4) {
        for i in 0..4 {
            s[i] += x[i] * y[i];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// `A = G Gᵀ` in place: the lower triangle of the row-major `m × m` `a` becomes `G` (the upper
/// triangle is left as it was and never read). Returns `Σ_i log G_ii = ½ log|A|`, or `None`
/// when `A` is not positive definite.
///
/// `G_jj = √(A_jj − Σ_{k<j} G_jk²)`, `G_ij = (A_ij − Σ_{k<j} G_ik G_jk) / G_jj` for `i > j`.
pub(crate) fn cholesky(a: &mut [f64], m: usize) -> Option<f64> {
    let mut half_log_det = 0.0;
    for j in 0..m {
        let row_j = &a[j * m..j * m + j];
        let s = a[j * m + j] - dot(row_j, row_j);
        if s <= 0.0 || !s.is_finite() {
            return None;
        }
        let g = s.sqrt();
        a[j * m + j] = g;
        half_log_det += g.ln();
        for i in j + 1..m {
            let (head, tail) = a.split_at_mut(i * m);
            let row_i = &mut tail[..m];
            row_i[j] = (row_i[j] - dot(&row_i[..j], &head[j * m..j * m + j])) / g;
        }
    }
    Some(half_log_det)
}

/// `G z = b` in place (`b` becomes `z`): `z_i = (b_i − Σ_{k<i} G_ik z_k) / G_ii`.
pub(crate) fn solve_lower(g: &[f64], m: usize, b: &mut [f64]) {
    for i in 0..m {
        let row = &g[i * m..i * m + i];
        b[i] = (b[i] - dot(row, &b[..i])) / g[i * m + i];
    }
}

/// `Gᵀ y = z` in place (`z` becomes `y`), by columns of `Gᵀ` (rows of `G`): once `y_i` is
/// known, `z_k −= G_ik y_i` for every `k < i`.
pub(crate) fn solve_upper_transposed(g: &[f64], m: usize, z: &mut [f64]) {
    for i in (0..m).rev() {
        let yi = z[i] / g[i * m + i];
        z[i] = yi;
        z[..i].iter_mut().zip(&g[i * m..i * m + i]).for_each(|(zk, gik)| *zk -= gik * yi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::solvers::Solve;
    use faer::{Mat, Side};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn spd(m: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
        let b = Mat::<f64>::from_fn(m, m, |_, _| rng.random_range(-1.0..1.0));
        let mut a = &b * b.transpose();
        (0..m).for_each(|i| a[(i, i)] += 0.1);
        a
    }

    #[test]
    fn factor_and_solves_match_faer() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for m in [1, 2, 3, 5, 8, 19, 33, 63] {
            let a = spd(m, &mut rng);
            let llt = a.llt(Side::Lower).unwrap();
            let want_g = llt.L().to_owned();
            let mut g: Vec<f64> = (0..m * m).map(|i| a[(i / m, i % m)]).collect();
            let half_log_det = cholesky(&mut g, m).unwrap();
            let want_hld: f64 = (0..m).map(|i| want_g[(i, i)].ln()).sum();
            assert!((half_log_det - want_hld).abs() < 1e-10, "m = {m}");
            for i in 0..m {
                for j in 0..=i {
                    assert!((g[i * m + j] - want_g[(i, j)]).abs() < 1e-10, "G[{i},{j}], m = {m}");
                }
            }
            let b: Vec<f64> = (0..m).map(|_| rng.random_range(-2.0..2.0)).collect();
            let want_y = llt.solve(Mat::<f64>::from_fn(m, 1, |r, _| b[r]));
            let mut y = b.clone();
            solve_lower(&g, m, &mut y);
            let z_norm: f64 = y.iter().map(|v| v * v).sum();
            solve_upper_transposed(&g, m, &mut y);
            let by: f64 = (0..m).map(|r| b[r] * want_y[(r, 0)]).sum();
            assert!((z_norm - by).abs() < 1e-8 * by.abs().max(1.0), "bᵀA⁻¹b, m = {m}");
            for r in 0..m {
                assert!((y[r] - want_y[(r, 0)]).abs() < 1e-8, "A⁻¹b[{r}], m = {m}");
            }
        }
    }

    #[test]
    fn an_indefinite_matrix_has_no_factor() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(cholesky(&mut a, 2).is_none());
        assert!(cholesky(&mut [f64::NAN], 1).is_none());
    }
}
