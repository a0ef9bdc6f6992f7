//! The samples that a component explains best: the write-up's "top samples".

use gmm_datasets::Images;
use gmm_models::host::log_sum_exp;
use gmm_models::processes::{self, Part};
use gmm_models::{Encoded, Mixture, ModelError, to_host_f64};
use std::borrow::Cow;

/// For each component, up to `k` samples whose most probable component it is, best first;
/// and every sample's most probable component (its MAP assignment).
///
/// Samples are ranked by their log posterior `log r[n,c]`, computed in f64 on the host (in
/// f32 many posteriors are exactly 1), ties broken by the log-likelihood `log N(x_n | c)`.
/// A component that is no sample's most probable one gets an empty list (its row stays
/// visible, empty, in the pictures).
///
/// Of a shard ([`Part::Shard`]): the assignment of this process's rows, and the best samples
/// of the whole data set (their indices in it), merged over the processes.
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
    if let Part::Shard { first, .. } = data.part {
        best.iter_mut().flatten().for_each(|e| e.2 += first);
        best = merge_shards(best, k);
    }
    let top = best.into_iter().map(|l| l.into_iter().map(|e| e.2).collect()).collect();
    Ok((top, assignment))
}

/// Every process's best `k` per component (sample indices of the whole data set), merged: the
/// lists go through one sum (each process fills its own slots, `[process][component][k]` ×
/// (present, log posterior, log-likelihood, index)) and every process keeps the best `k` of
/// their union, ties to the earlier sample as one process would.
fn merge_shards(best: Vec<Vec<(f64, f64, usize)>>, k: usize) -> Vec<Vec<(f64, f64, usize)>> {
    let (rank, size, n_comp) = (processes::rank(), processes::size(), best.len());
    let slot = n_comp * k * 4;
    let mut buf = vec![0.0; size * slot];
    for (c, list) in best.iter().enumerate() {
        for (j, e) in list.iter().enumerate() {
            let o = rank * slot + (c * k + j) * 4;
            buf[o..o + 4].copy_from_slice(&[1.0, e.0, e.1, e.2 as f64]);
        }
    }
    processes::sum(&mut buf);
    (0..n_comp)
        .map(|c| {
            let mut all: Vec<(f64, f64, usize)> = (0..size)
                .flat_map(|r| (0..k).map(move |j| r * slot + (c * k + j) * 4))
                .filter(|&o| buf[o] == 1.0)
                .map(|o| (buf[o + 1], buf[o + 2], buf[o + 3] as usize))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
            all.truncate(k);
            all
        })
        .collect()
}

/// The rows `top` names (indices of the whole data set) as pictures need them: with `images`
/// a shard (`part`), the named rows gathered from every process into a small set, and `top`
/// renumbered into it; whole images as they are.
pub fn top_images(
    images: &Images,
    part: Part,
    top: Vec<Vec<usize>>,
) -> (Cow<'_, Images>, Vec<Vec<usize>>) {
    let Part::Shard { first, .. } = part else {
        return (Cow::Borrowed(images), top);
    };
    let picks: Vec<usize> = top.iter().flatten().copied().collect();
    let d = images.dim();
    let mut rows = vec![0f32; picks.len() * d];
    for (slot, &i) in picks.iter().enumerate() {
        if (first..first + images.len()).contains(&i) {
            rows[slot * d..(slot + 1) * d].copy_from_slice(images.image(i - first));
        }
    }
    let pixels = processes::share_rows(&rows);
    let mut slots = 0..;
    let top = top.iter().map(|list| slots.by_ref().take(list.len()).collect()).collect();
    (
        Cow::Owned(Images {
            pixels,
            height: images.height,
            width: images.width,
            labels: None,
            weights: None,
        }),
        top,
    )
}
