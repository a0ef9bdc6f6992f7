//! Missing values filled in under a Gaussian layer: the conditional mean
//! `E[x_m | x_o] = Σ_c p(c | x_o) x̂_m,c` or a draw from `p(x_m | x_o)` (a component from
//! `p(c | x_o)`, then `x_m ~ N(x̂_m,c, A_c⁻¹)`), with `x̂_m,c` and `A_c = Λ_c,mm` of
//! [`super::missing`]; the checks rows with missing values must pass; and the mean-filled
//! data EM's initialisation starts from.

use super::missing::{Pattern, Precisions, has_missing};
use super::model::FullGmm;
use crate::ModelError;
use crate::encoded::Encoded;
use crate::host;
use crate::mixture::Mixture;
use crate::readback::{host_vec, to_host_f64};
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Rows `[N, D]` whose NaN mark missing values: every other value finite, and every row with
/// at least one observed value. The error names the first row that is not. Rows in parallel,
/// each one's two flags folded over all its values (no early exit: a whole pass vectorises).
pub fn check_missing_rows(samples: &[f32], d: usize) -> Result<(), ModelError> {
    if d == 0 || !samples.len().is_multiple_of(d) {
        return Err(ModelError::InputShape { expected: d, got: samples.len() });
    }
    let flags = |row: &[f32]| {
        row.iter()
            .fold((false, true), |(inf, all_nan), v| (inf | v.is_infinite(), all_nan & v.is_nan()))
    };
    let Some(n) = samples.par_chunks(d).position_first(|row| flags(row) != (false, false)) else {
        return Ok(());
    };
    let row = &samples[n * d..(n + 1) * d];
    match row.iter().find(|v| v.is_infinite()) {
        Some(v) => Err(ModelError::NonFinite {
            what: format!("value {v} in sample {n}"),
            hint: "NaN marks a missing value, every other value must be finite".into(),
        }),
        None => Err(ModelError::NonFinite {
            what: format!("sample {n}: every value is missing (NaN)"),
            hint: "drop the rows that observe nothing".into(),
        }),
    }
}

/// Where imputation draws from: a seed, and the index of the first row handed over in the
/// whole data (row `n` draws from stream `first_row + n` of the seed, so that a file imputed
/// block by block, on any number of threads, gets the same values).
#[derive(Debug, Clone, Copy)]
pub struct Draws {
    pub seed: u64,
    pub first_row: u64,
}

impl FullGmm {
    /// Rows `[N, D]` with their NaN replaced, and each row's `log p(x_o)` of what it observes:
    /// the conditional mean under the mixture, or with `draws` one draw from the conditional
    /// distribution. Observed values are returned as they are.
    pub fn impute(
        &self,
        rows: &[f32],
        draws: Option<Draws>,
    ) -> Result<(Vec<f32>, Vec<f64>), ModelError> {
        let (k, d) = (self.n_components(), self.dim());
        check_missing_rows(rows, d)?;
        let prec = Precisions::of(self)?;
        let log_w = to_host_f64(self.log_weights.val())?;
        let filled: Vec<Result<(Vec<f32>, f64), ModelError>> = rows
            .par_chunks(d)
            .enumerate()
            .map(|(n, x)| {
                let p = Pattern::of(x);
                let conds = (0..k)
                    .map(|c| prec.condition_row(c, x, &p, draws.is_some() && !p.missing.is_empty()))
                    .collect::<Result<Vec<_>, _>>()?;
                let logits: Vec<f64> =
                    conds.iter().zip(&log_w).map(|(c, w)| c.log_density + w).collect();
                let log_p = host::log_sum_exp(&logits);
                if p.missing.is_empty() {
                    return Ok((x.to_vec(), log_p));
                }
                let post = host::softmax(&logits);
                let values = match draws {
                    None => (0..p.missing.len())
                        .map(|r| conds.iter().zip(&post).map(|(c, w)| w * c.missing_mean[r]).sum())
                        .collect(),
                    Some(Draws { seed, first_row }) => {
                        let mut rng = ChaCha8Rng::seed_from_u64(seed);
                        rng.set_stream(first_row + n as u64);
                        draw(&conds, &post, &mut rng)
                    }
                };
                let mut out = x.to_vec();
                p.missing.iter().zip(values).for_each(|(&i, v): (&usize, f64)| out[i] = v as f32);
                Ok((out, log_p))
            })
            .collect();
        let (mut out, mut log_p) =
            (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len() / d));
        for row in filled {
            let (row, lp) = row?;
            out.extend(row);
            log_p.push(lp);
        }
        Ok((out, log_p))
    }
}

/// One draw of `x_m`: a component `c ~ post`, then `x̂_m,c + G_c⁻ᵀ z` with `z ~ N(0, I)`
/// (`A_c = G_c G_cᵀ`, so `G_c⁻ᵀ z` has covariance `A_c⁻¹`), by back-substitution.
fn draw(conds: &[super::missing::Conditioned], post: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    let cond = &conds[host::categorical(post, 1.0, rng)];
    let g = cond.factor.as_ref().expect("draws condition with the factor");
    let m = cond.missing_mean.len();
    let z: Vec<f64> = (0..m).map(|_| StandardNormal.sample(rng)).collect();
    // Solve Gᵀ e = z (Gᵀ upper triangular).
    let mut e = vec![0.0; m];
    for r in (0..m).rev() {
        let s: f64 = (r + 1..m).map(|t| g[(t, r)] * e[t]).sum();
        e[r] = (z[r] - s) / g[(r, r)];
    }
    cond.missing_mean.iter().zip(e).map(|(a, b)| a + b).collect()
}

/// The data with every NaN replaced by its column's mean over the observed values (of every
/// process's rows): where EM on rows with missing values starts its initialisation. `None`
/// when no value is missing (the data are used as they are).
pub(crate) fn mean_filled(data: &Encoded) -> Result<Option<Encoded>, ModelError> {
    // Whether any process's rows hold a NaN, from one flag per batch: complete data (every
    // fit without missing values) are never read back here.
    let mut flagged = [0.0];
    for b in 0..data.n_batches() {
        flagged[0] += f64::from(u8::from(has_missing(&data.batch(b)?)));
    }
    data.sum_shards(&mut flagged);
    if flagged[0] == 0.0 {
        return Ok(None);
    }
    let d = data.width;
    // [Σ observed values (D), observed counts (D)], completed over the shards.
    let mut sums = vec![0f64; 2 * d];
    for b in 0..data.n_batches() {
        let rows = host_vec::<f32, _>(data.batch(b)?.try_into_data())?;
        for row in rows.chunks(d) {
            for (i, &v) in row.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
                sums[i] += f64::from(v);
                sums[d + i] += 1.0;
            }
        }
    }
    data.sum_shards(&mut sums);
    if sums[d..].iter().all(|&c| c == data.total() as f64) {
        return Ok(None);
    }
    let means: Vec<f32> = (0..d)
        .map(|i| if sums[d + i] > 0.0 { (sums[i] / sums[d + i]) as f32 } else { 0.0 })
        .collect();
    let filled = data.map_batches(|x| {
        let (shape, device) = (x.dims(), x.device());
        let mut rows = host_vec::<f32, _>(x.try_into_data())?;
        for row in rows.chunks_mut(d) {
            row.iter_mut().zip(&means).filter(|(v, _)| v.is_nan()).for_each(|(v, m)| *v = *m);
        }
        Ok(Tensor::from_data(TensorData::new(rows, shape), &device))
    })?;
    Ok(Some(filled))
}
