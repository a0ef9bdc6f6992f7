//! Seeding, Lloyd's iterations and hard assignments for the full GMM's k-means
//! initialisations.

use crate::ModelError;
use crate::encoded::Encoded;
use crate::host::categorical;
use crate::processes::{self, Part};
use crate::readback::{host_vec, to_host_f64};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// k-means++ seeding (Arthur & Vassilvitskii 2007): the first centre uniformly, each next one
/// with probability proportional to the squared distance to the nearest centre so far,
/// `P(i) ∝ D(x_i)²`. With sample weights `w` (one per row), as scikit-learn's
/// `kmeans_plusplus`: the first centre with `P(i) ∝ w_i`, each next with `P(i) ∝ w_i·D(x_i)²`,
/// so a row of weight 0 is never a centre.
///
/// `rows` (`[n, d]`) are `part` of the whole data set. A shard's draws are those of one
/// process holding every row: the uniform number is walked down the processes' sums of
/// `P` in rank order, then down the rows of the process it lands in, which names the row; the
/// chosen row reaches every process through a sum ([`Encoded::gather_rows`]'s rule).
pub fn kmeans_plus_plus(
    rows: &[f32],
    weights: Option<&[f32]>,
    d: usize,
    k: usize,
    part: Part,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    use rayon::prelude::*;
    let n = rows.len() / d;
    let (first, total) = match part {
        Part::Whole | Part::Alone => (0, n),
        Part::Shard { first, total } => (first, total),
    };
    // One draw of a row of the whole data set with `P(i) ∝ mass_i`.
    let draw = |mass: &[f64], rng: &mut ChaCha8Rng| match part {
        Part::Whole | Part::Alone => {
            let total: f64 = mass.iter().sum();
            if total > 0.0 { categorical(mass, total, rng) } else { rng.random_range(0..n) }
        }
        Part::Shard { .. } => shard_pick(mass, first, total, rng),
    };
    let weights: Option<Vec<f64>> = weights.map(|w| w.iter().map(|&v| f64::from(v)).collect());
    let weight = |i: usize| weights.as_ref().map_or(1.0, |w| w[i]);
    // `w_i · ‖x_i − c‖²`, the draw's mass (`w_i · min_c D² = min_c w_i · D²`, as `w_i ≥ 0`).
    let dist = |i: usize, c: &[f32]| -> f64 {
        let d2: f64 =
            rows[i * d..(i + 1) * d].iter().zip(c).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
        weight(i) * d2
    };
    // Row `i` of the whole data set, on every process.
    let row = |i: usize| -> Vec<f32> {
        let mut out = vec![0f32; d];
        if (first..first + n).contains(&i) {
            out.copy_from_slice(&rows[(i - first) * d..(i - first + 1) * d]);
        }
        match part {
            Part::Shard { .. } => processes::share_rows(&out),
            Part::Whole | Part::Alone => out,
        }
    };
    let mut centres: Vec<f32> = Vec::with_capacity(k * d);
    let pick = match &weights {
        Some(w) => draw(w, rng),
        None => rng.random_range(0..total),
    };
    centres.extend(row(pick));
    // Weighted distances are updated in parallel, element by element; the draws stay
    // sequential.
    let mut nearest: Vec<f64> = (0..n).into_par_iter().map(|i| dist(i, &centres[..d])).collect();
    for _ in 1..k {
        let c = row(draw(&nearest, rng));
        nearest.par_iter_mut().enumerate().for_each(|(i, v)| *v = v.min(dist(i, &c)));
        centres.extend(c);
    }
    centres
}

/// One k-means++ draw over the shards of all processes: the whole data set's row index.
fn shard_pick(nearest: &[f64], first: usize, total: usize, rng: &mut ChaCha8Rng) -> usize {
    let (rank, size) = (processes::rank(), processes::size());
    let mut sums = vec![0.0; size];
    sums[rank] = nearest.iter().sum();
    processes::sum(&mut sums);
    let all: f64 = sums.iter().sum();
    if all <= 0.0 {
        return rng.random_range(0..total);
    }
    let mut u = rng.random::<f64>() * all;
    // The process the draw lands in (rounding past the end: the last one with any mass).
    let last = sums.iter().rposition(|&s| s > 0.0).unwrap_or(size - 1);
    let owner = sums.iter().position(|&s| {
        let inside = u < s;
        if !inside {
            u -= s;
        }
        inside
    });
    let owner = owner.unwrap_or(last);
    // The owner names the row; a sum tells the others.
    let mut pick = [0.0];
    if owner == rank {
        let local = nearest
            .iter()
            .position(|&w| {
                u -= w;
                u < 0.0
            })
            .unwrap_or(nearest.len() - 1);
        pick[0] = (first + local) as f64;
    }
    processes::sum(&mut pick);
    pick[0] as usize
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
/// the device (`onehotᵀ x`, `[K, n]·[n, D]`), several batches at once on a CPU. With sample
/// weights a centre moves to the weighted mean of its rows, `Σ w_i x_i / Σ w_i` (the one-hot
/// rows scaled by `w`); the tolerance stays the unweighted variance's, as scikit-learn's.
pub fn lloyd(data: &Encoded, mut centres: Vec<f32>, k: usize) -> Result<Lloyd, ModelError> {
    let d = data.width;
    let n = data.total() as f64;
    // Mean per-dimension variance, for the tolerance (sums over a shard completed by the
    // other processes', as every sum here).
    let (mut sum, mut sum_sq) = data.fold_batches(
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
    data.sum_shards(&mut sum);
    data.sum_shards(&mut sum_sq);
    let variance = (0..d).map(|j| sum_sq[j] / n - (sum[j] / n).powi(2)).sum::<f64>() / d as f64;
    let tol = LLOYD_TOL * variance.max(0.0);
    let mut iterations = 0;
    while iterations < LLOYD_MAX_ITER {
        iterations += 1;
        let (mut sums, mut counts) = data.fold_batches(
            (vec![0f64; k * d], vec![0f64; k]),
            |b, x| {
                let onehot = data.weigh(b, nearest_centre_responsibilities(x, &centres, k)?);
                let sums = onehot.clone().transpose().matmul(x.clone());
                Ok((to_host_f64(sums)?, to_host_f64(onehot.sum_dim(0))?))
            },
            |(mut s, mut c), (bs, bc)| {
                add_into(&mut s, bs);
                add_into(&mut c, bc);
                Ok((s, c))
            },
        )?;
        data.sum_shards(&mut sums);
        data.sum_shards(&mut counts);
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
