//! Seeding, Lloyd's iterations and hard assignments for the full GMM's k-means
//! initialisations.

use crate::ModelError;
use crate::mixture::{Encoded, host_vec, to_host_f64};
use crate::sample::categorical;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre uniformly, each next one
/// with probability proportional to the squared distance to the nearest centre so far.
pub fn kmeans_plus_plus(rows: &[f32], d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    use rayon::prelude::*;
    let n = rows.len() / d;
    let dist = |i: usize, c: &[f32]| -> f64 {
        rows[i * d..(i + 1) * d].iter().zip(c).map(|(a, b)| ((a - b) as f64).powi(2)).sum()
    };
    let mut centres: Vec<f32> = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centres.extend_from_slice(&rows[first * d..(first + 1) * d]);
    // Distances are updated in parallel, element by element; the draws stay sequential.
    let mut nearest: Vec<f64> = (0..n).into_par_iter().map(|i| dist(i, &centres[..d])).collect();
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let pick =
            if total > 0.0 { categorical(&nearest, total, rng) } else { rng.random_range(0..n) };
        let c = rows[pick * d..(pick + 1) * d].to_vec();
        nearest.par_iter_mut().enumerate().for_each(|(i, v)| *v = v.min(dist(i, &c)));
        centres.extend(c);
    }
    centres
}

/// One-hot responsibilities of the nearest centre (squared Euclidean distance), `[n, K]`.
pub fn nearest_centre_responsibilities(
    x: &Tensor<2>,
    centres: &[f32],
    k: usize,
) -> Result<Tensor<2>, ModelError> {
    let [n, d] = x.dims();
    let device = x.device();
    let c = Tensor::<2>::from_data(TensorData::new(centres.to_vec(), [k, d]), &device);
    // ‖x - c‖² = ‖x‖² - 2 x·c + ‖c‖²; the ‖x‖² term does not change the argmin.
    let score =
        x.clone().matmul(c.clone().transpose()) * (-2.0) + (c.clone() * c).sum_dim(1).transpose();
    let nearest = host_vec::<i64, _>(score.argmin(1).try_into_data())?;
    let mut onehot = vec![0f32; n * k];
    for (i, &c) in nearest.iter().enumerate() {
        onehot[i * k + c as usize] = 1.0;
    }
    Ok(Tensor::from_data(TensorData::new(onehot, [n, k]), &device))
}

/// scikit-learn's `KMeans` defaults: at most 300 iterations, relative tolerance 1e-4.
pub const LLOYD_MAX_ITER: usize = 300;
/// Lloyd's iterations stop when `Σ ‖c_new − c_old‖² ≤ LLOYD_TOL · mean_d Var(x_d)`.
pub const LLOYD_TOL: f64 = 1e-4;

/// What Lloyd's k-means ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct Lloyd {
    /// The centres, `[K, D]` row-major.
    pub centres: Vec<f32>,
    /// Iterations run.
    pub iterations: usize,
}

/// Lloyd's k-means from `centres` (`[K, D]`): assign every row to its nearest centre, move each
/// centre to the mean of its rows, until the squared centre shift falls to
/// [`LLOYD_TOL`] times the data's mean variance or [`LLOYD_MAX_ITER`] passes (scikit-learn's
/// rule). A centre that gets no rows stays where it is. Each pass is one product per batch on
/// the device (`onehotᵀ x`, `[K, n]·[n, D]`), several batches at once on a CPU.
pub fn lloyd(data: &Encoded, mut centres: Vec<f32>, k: usize) -> Result<Lloyd, ModelError> {
    let d = data.width;
    let n = data.n as f64;
    // Mean per-dimension variance, for the tolerance.
    let (sum, sum_sq) = data.fold_batches(
        (vec![0f64; d], vec![0f64; d]),
        |_, x| {
            Ok((
                to_host_f64(x.clone().sum_dim(0))?,
                to_host_f64((x.clone() * x.clone()).sum_dim(0))?,
            ))
        },
        |(mut s, mut q), (bs, bq)| {
            add_into(&mut s, bs);
            add_into(&mut q, bq);
            Ok((s, q))
        },
    )?;
    let variance = (0..d).map(|j| sum_sq[j] / n - (sum[j] / n).powi(2)).sum::<f64>() / d as f64;
    let tol = LLOYD_TOL * variance.max(0.0);
    let mut iterations = 0;
    while iterations < LLOYD_MAX_ITER {
        iterations += 1;
        let (sums, counts) = data.fold_batches(
            (vec![0f64; k * d], vec![0f64; k]),
            |_, x| {
                let onehot = nearest_centre_responsibilities(x, &centres, k)?;
                let sums = onehot.clone().transpose().matmul(x.clone());
                Ok((to_host_f64(sums)?, to_host_f64(onehot.sum_dim(0))?))
            },
            |(mut s, mut c), (bs, bc)| {
                add_into(&mut s, bs);
                add_into(&mut c, bc);
                Ok((s, c))
            },
        )?;
        let mut shift = 0.0;
        for c in 0..k {
            if counts[c] == 0.0 {
                continue;
            }
            for j in 0..d {
                let new = (sums[c * d + j] / counts[c]) as f32;
                shift += ((new - centres[c * d + j]) as f64).powi(2);
                centres[c * d + j] = new;
            }
        }
        if shift <= tol {
            break;
        }
    }
    Ok(Lloyd { centres, iterations })
}

/// `acc += b`, element-wise.
fn add_into(acc: &mut [f64], b: Vec<f64>) {
    acc.iter_mut().zip(b).for_each(|(a, b)| *a += b);
}
