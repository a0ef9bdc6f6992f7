//! Dense f64 linear algebra on the host, through faer: the Cholesky factors of the full GMM.
//!
//! K factorisations of D×D matrices per M-step (32 of 784×784 for MNIST) are a few GFLOP in
//! f64, well under a second here; the E-step's heavy work stays matrix products on the Burn
//! device. (Burn 0.22 has no Cholesky; faer's is blocked and well tested.)

use faer::linalg::triangular_inverse::invert_lower_triangular;
use faer::{Mat, Par, Side};

/// The Cholesky factor `L` (lower triangular, row-major `n×n`) of a symmetric positive-definite
/// matrix, `A = L Lᵀ`. Only the lower triangle of `a` is read. `Err(i)` names the first pivot
/// that was not positive.
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    assert_eq!(a.len(), n * n, "cholesky: matrix is not n×n");
    let m = Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let llt = m.llt(Side::Lower).map_err(|e| match e {
        faer::linalg::cholesky::llt::factor::LltError::NonPositivePivot { index } => index,
    })?;
    let l = llt.L();
    Ok((0..n * n).map(|k| if k % n <= k / n { l[(k / n, k % n)] } else { 0.0 }).collect())
}

/// The precision Cholesky factor `U = L⁻ᵀ` (upper triangular, row-major) of a covariance
/// `Σ = L Lᵀ`, so that `Σ⁻¹ = U Uᵀ` and `(x - μ)ᵀ Σ⁻¹ (x - μ) = ‖(x - μ)ᵀ U‖²`
/// (scikit-learn's `precisions_cholesky_`). Never forms `Σ⁻¹` itself.
pub fn precision_cholesky(cov: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let l = cholesky(cov, n)?;
    let lm = Mat::<f64>::from_fn(n, n, |i, j| l[i * n + j]);
    let mut inv = Mat::<f64>::zeros(n, n);
    invert_lower_triangular(inv.as_mut(), lm.as_ref(), Par::Seq);
    // U[i][j] = (L⁻¹)[j][i], upper triangular.
    Ok((0..n * n).map(|k| if k / n <= k % n { inv[(k % n, k / n)] } else { 0.0 }).collect())
}

/// The covariance's Cholesky factor `L` (lower triangular, row-major) from the precision
/// Cholesky factor `U = L⁻ᵀ`: the inverse of the lower-triangular `Uᵀ = L⁻¹`.
pub fn covariance_factor_from_precision_cholesky(u: &[f64], n: usize) -> Vec<f64> {
    let ut = Mat::<f64>::from_fn(n, n, |i, j| if i >= j { u[j * n + i] } else { 0.0 });
    let mut l = Mat::<f64>::zeros(n, n);
    invert_lower_triangular(l.as_mut(), ut.as_ref(), Par::Seq);
    (0..n * n).map(|k| if k % n <= k / n { l[(k / n, k % n)] } else { 0.0 }).collect()
}

/// The covariance `Σ = L Lᵀ` from its precision Cholesky factor `U = L⁻ᵀ` (row-major): the
/// inverse of the lower-triangular `Uᵀ = L⁻¹` is `L`.
pub fn covariance_from_precision_cholesky(u: &[f64], n: usize) -> Vec<f64> {
    let l = covariance_factor_from_precision_cholesky(u, n);
    let mut cov = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v: f64 = (0..=j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            cov[i * n + j] = v;
            cov[j * n + i] = v;
        }
    }
    cov
}

/// The inverse of a square matrix (row-major `n×n`) and `log |det A|`, from faer's LU
/// factorisation with partial pivoting (`log |det A| = Σ_i log |U_ii|`). `None` if `A` is
/// singular or not finite (the deep GMM's node transforms must stay invertible).
pub fn inverse_and_log_abs_det(a: &[f64], n: usize) -> Option<(Vec<f64>, f64)> {
    use faer::linalg::solvers::DenseSolveCore;
    assert_eq!(a.len(), n * n, "inverse: matrix is not n×n");
    let m = Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let lu = m.partial_piv_lu();
    let u = lu.U();
    let log_det: f64 = (0..n).map(|i| u[(i, i)].abs().ln()).sum();
    if !log_det.is_finite() {
        return None;
    }
    let inv = lu.inverse();
    let out: Vec<f64> = (0..n * n).map(|k| inv[(k / n, k % n)]).collect();
    out.iter().all(|v| v.is_finite()).then_some((out, log_det))
}

/// The product `A B` of row-major `n×n` matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let ma = Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let mb = Mat::<f64>::from_fn(n, n, |i, j| b[i * n + j]);
    let c = &ma * &mb;
    (0..n * n).map(|k| c[(k / n, k % n)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_spd(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let b: Vec<f64> = (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>() / n as f64;
            }
            a[i * n + i] += 1e-2;
        }
        a
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn factor_reconstructs_the_matrix() {
        for (n, seed) in [(1, 1), (5, 2), (64, 3), (784, 4)] {
            let a = random_spd(n, seed);
            let l = cholesky(&a, n).unwrap();
            let mut llt = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    llt[i * n + j] = (0..=i.min(j)).map(|k| l[i * n + k] * l[j * n + k]).sum();
                }
                for j in i + 1..n {
                    assert_eq!(l[i * n + j], 0.0, "L must be lower triangular");
                }
            }
            let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(max_abs_diff(&llt, &a) < 1e-12 * scale * n as f64, "n={n}");
        }
    }

    #[test]
    fn precision_factor_inverts_the_covariance() {
        for (n, seed) in [(3, 5), (50, 6), (200, 7)] {
            let a = random_spd(n, seed);
            let u = precision_cholesky(&a, n).unwrap();
            // Σ · (U Uᵀ) = I
            let mut prec = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    prec[i * n + j] = (0..n).map(|k| u[i * n + k] * u[j * n + k]).sum();
                }
            }
            for i in 0..n {
                for j in 0..n {
                    let v: f64 = (0..n).map(|k| a[i * n + k] * prec[k * n + j]).sum();
                    let expect = if i == j { 1.0 } else { 0.0 };
                    assert!((v - expect).abs() < 1e-8, "n={n} ({i},{j}): {v}");
                }
            }
        }
    }

    #[test]
    fn covariance_round_trips_through_the_precision_factor() {
        let n = 30;
        let a = random_spd(n, 9);
        let back = covariance_from_precision_cholesky(&precision_cholesky(&a, n).unwrap(), n);
        assert!(max_abs_diff(&a, &back) < 1e-9);
    }

    #[test]
    fn indefinite_matrix_names_its_pivot() {
        let a = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&a, 2), Err(1));
    }
    #[test]
    fn inverse_and_log_det_match_a_known_matrix() {
        // [[2, 1], [0, 3]]: det 6, inverse [[1/2, -1/6], [0, 1/3]].
        let (inv, log_det) = inverse_and_log_abs_det(&[2.0, 1.0, 0.0, 3.0], 2).unwrap();
        assert!((log_det - 6f64.ln()).abs() < 1e-14);
        assert!(max_abs_diff(&inv, &[0.5, -1.0 / 6.0, 0.0, 1.0 / 3.0]) < 1e-14);
        let a = random_spd(40, 11);
        let (inv, _) = inverse_and_log_abs_det(&a, 40).unwrap();
        let eye = matmul(&a, &inv, 40);
        for i in 0..40 {
            for j in 0..40 {
                assert!((eye[i * 40 + j] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
        }
        assert!(inverse_and_log_abs_det(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }
}
