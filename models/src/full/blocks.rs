//! How the full GMM's E-step products are cut into blocks: sizes measured, one place.

/// Column-block width of the triangular E-step product (see `Mixture::log_prob` of [`FullGmm`]).
pub const TRIANGLE_BLOCK: usize = 128;

/// Most numbers in one grouped product of `FullGmm::mahalanobis_grouped` on a CPU (512 KB of
/// f32, rows in chunks where one component's product would be larger): the product `Y` and the
/// passes over it (squares, sums) stay in a core's L2 cache. Measured on `bsds300_full200`
/// (8192-row batches, D = 63), interleaved runs of `gmmzoo bench … --iters 3` on 2 cores: 20.2 s
/// per EM iteration against 25.4 s with 16 MB products (medians of three runs each).
pub const GROUP_BUDGET: usize = 1 << 17;

/// The same on a GPU (1 GB of f32): all K components of a batch in one product where they fit
/// (`bsds300_full200`: 8192 × 200·63 = 103 M numbers; `mnist_full32`: 4096 × 32·784).
pub const GPU_GROUP_BUDGET: usize = 1 << 28;

/// `[start, end)` column blocks of width about [`TRIANGLE_BLOCK`] covering `0..d`.
pub(crate) fn triangle_blocks(d: usize) -> Vec<(usize, usize)> {
    let m = d.div_ceil(TRIANGLE_BLOCK).max(1);
    (0..m).map(|j| (j * d / m, (j + 1) * d / m)).filter(|(s, e)| e > s).collect()
}

/// Rows per task of `FullGmm::mahalanobis_host`: one task's product `[rows, D]` stays in a
/// core's L1/L2 cache (64 KB at D = 63), and the split, hence every figure, is the same for
/// any thread count.
pub const HOST_ROWS: usize = 256;

/// Blocks of rows that `FullGmm::diagonal_stats` sums apart and adds in order, whatever the
/// thread count: work for every thread, a buffer of `K·(2D + 1)` f64 each (400 KB at MNIST's
/// K = 32, D = 784).
pub const STAT_BLOCKS: usize = 16;
