//! The processes a data set is spread over: one, or the ranks of a data-parallel (MPI) job.
//!
//! This crate holds no MPI binding. A launcher's world (`gmm-training`'s `cluster`) installs
//! its rank, size and element-wise sum here once; the initialisations that read data
//! ([`crate::kmeans`], [`crate::init_random_responsibilities`], the families' `Samples`)
//! complete their sums through [`sum`] when their [`Encoded`](crate::Encoded) holds a
//! [`Part::Shard`] of the rows. Without an installed world every function here is the
//! identity of a job of one.

use std::ops::Range;
use std::sync::OnceLock;

/// Which rows of the whole data set a process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every row, and every process of the job holds them all: each sums its block of the
    /// batches ([`crate::Encoded::own_batches`]) and the sums are added.
    Whole,
    /// Every row, fitted by this process alone (one of several independent fits a job spreads
    /// over its processes, e.g. one class model each): nothing is summed over processes.
    Alone,
    /// Rows `first..first + n` of `total`: the other processes hold the rest.
    Shard {
        /// Index of this process's first row in the whole data set.
        first: usize,
        /// Rows of the whole data set.
        total: usize,
    },
}

/// What a launcher's world provides.
#[derive(Debug, Clone, Copy)]
pub struct World {
    /// This process's rank, `0..size`.
    pub rank: usize,
    /// Processes in the job.
    pub size: usize,
    /// Replaces the buffer by its element-wise sum over the processes (every process calls it
    /// with the same length, in the same order).
    pub sum: fn(&mut [f64]),
}

static WORLD: OnceLock<World> = OnceLock::new();

/// Installs the job's world (once; later calls are ignored).
pub fn install(world: World) {
    let _ = WORLD.set(world);
}

/// This process's rank (0 without a job).
pub fn rank() -> usize {
    WORLD.get().map_or(0, |w| w.rank)
}

/// Processes in the job (1 without one).
pub fn size() -> usize {
    WORLD.get().map_or(1, |w| w.size)
}

/// Element-wise sum of `values` over the processes; the identity in a job of one.
pub fn sum(values: &mut [f64]) {
    if let Some(w) = WORLD.get().filter(|w| w.size > 1) {
        (w.sum)(values)
    }
}

/// The contiguous block of `0..n` that `rank` of `size` takes: the first `n mod size` ranks
/// one more. Used for rows (a shard) and for batches (a share of replicated data).
pub fn block(n: usize, rank: usize, size: usize) -> Range<usize> {
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// The rows of `0..n` that `rank` of `size` holds when rows go in whole batches of `batch`:
/// its [`block`] of the batches, so that its batches are exactly those one process would form.
pub fn batch_block(n: usize, batch: usize, rank: usize, size: usize) -> Range<usize> {
    let batches = block(n.div_ceil(batch.max(1)), rank, size);
    (batches.start * batch).min(n)..(batches.end * batch).min(n)
}

/// This process's block of `0..n` ([`block`] with the installed world's rank and size).
pub fn own_block(n: usize) -> Range<usize> {
    block(n, rank(), size())
}

/// `values` where this process holds them, zeros elsewhere, summed: every process gets the
/// values of whichever process held them (f32 through f64 and back is exact).
pub fn share_rows(local: &[f32]) -> Vec<f32> {
    let mut buf: Vec<f64> = local.iter().map(|&v| v as f64).collect();
    sum(&mut buf);
    buf.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_index_once_in_order() {
        for size in 1..5 {
            for n in 0..11 {
                let ranges: Vec<_> = (0..size).map(|rank| block(n, rank, size)).collect();
                let all: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "size {size}, n {n}");
                let lens: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
                for batch in 1..4 {
                    let rows: Vec<usize> =
                        (0..size).flat_map(|rank| batch_block(n, batch, rank, size)).collect();
                    assert_eq!(rows, (0..n).collect::<Vec<_>>(), "size {size}, n {n}, {batch}");
                    for rank in 0..size {
                        // Whole batches: every block starts on a batch boundary (or is empty at
                        // the end).
                        let start = batch_block(n, batch, rank, size).start;
                        assert!(start.is_multiple_of(batch) || start == n);
                    }
                }
            }
        }
    }
}
