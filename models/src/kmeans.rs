//! Seeding and hard assignments for the full GMM's k-means initialisation.

use crate::ModelError;
use crate::mixture::host_vec;
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
