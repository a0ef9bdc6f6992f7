//! The samples that a component explains best: the write-up's "top samples".

use gmm_models::host::log_sum_exp;
use gmm_models::{Encoded, Mixture, ModelError, to_host_f64};

/// For each component, up to `k` samples whose most probable component it is, best first;
/// and every sample's most probable component (its MAP assignment).
///
/// Samples are ranked by their log posterior `log r[n,c]`, computed in f64 on the host (in
/// f32 many posteriors are exactly 1), ties broken by the log-likelihood `log N(x_n | c)`.
/// A component that is no sample's most probable one gets an empty list (its row stays
/// visible, empty, in the pictures).
pub fn explain<M: Mixture>(
    layer: &M,
    data: &Encoded,
    k: usize,
) -> Result<(Vec<Vec<usize>>, Vec<usize>), ModelError> {
    let n_comp = layer.n_components();
    let log_w = to_host_f64(layer.log_weights())?;
    // (log posterior, log-likelihood, sample index), kept sorted best first.
    let mut best: Vec<Vec<(f64, f64, usize)>> = vec![Vec::new(); n_comp];
    // Per batch (in parallel on a CPU): each row's MAP component, log posterior and
    // log-likelihood; then the ranking, in sample order.
    let offsets = data.offsets();
    let batch = |b: usize, x: &gmm_models::Tensor<2>| {
        let weighted = to_host_f64(layer.weighted_log_prob(x.clone()))?;
        let offset = offsets[b];
        Ok(weighted
            .chunks(n_comp)
            .enumerate()
            .map(|(i, row)| {
                let (c, &top) = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .expect("at least one component");
                (c, (top - log_sum_exp(row), top - log_w[c], offset + i))
            })
            .collect::<Vec<_>>())
    };
    let assignment =
        data.fold_batches(Vec::with_capacity(data.n), batch, |mut assignment, rows| {
            for (c, entry) in rows {
                assignment.push(c);
                let list = &mut best[c];
                let pos = list.partition_point(|e| (e.0, e.1) >= (entry.0, entry.1));
                if pos < k {
                    list.insert(pos, entry);
                    list.truncate(k);
                }
            }
            Ok(assignment)
        })?;
    let top = best.into_iter().map(|l| l.into_iter().map(|e| e.2).collect()).collect();
    Ok((top, assignment))
}
