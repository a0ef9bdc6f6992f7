//! The full GMM's E-step products (models.md §2): Mahalanobis distances through the
//! triangular precision factors, grouped over components for small D, and the
//! log-determinants.

use crate::FullGmm;
use burn::tensor::{Int, Tensor, TensorData};

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

impl FullGmm {
    /// `‖(x_n - μ_c)ᵀ U_c‖²` component by component over the whole batch, and block column by
    /// block column of the triangular `U_c`: block `J` of `xᵀU_c` needs only the rows of `U_c`
    /// above the block's end, so about `(m+1)/(2m)` of a dense product's work is done with `m`
    /// blocks (large D: 784 for MNIST).
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; result: `[N, K]`.
    pub(crate) fn mahalanobis_triangular(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, d] = x.dims();
        let u = self.precision_cholesky.val();
        let k = u.dims()[0];
        let means = (!self.zero_mean).then(|| self.means.val());
        let blocks = triangle_blocks(d);
        let columns = (0..k)
            .map(|c| {
                let uc = u.clone().narrow(0, c, 1).reshape([d, d]);
                let mu = means.as_ref().map(|m| m.clone().narrow(0, c, 1));
                let mut blocks = blocks.iter().map(|&(start, end)| {
                    let ub = uc.clone().narrow(0, 0, end).narrow(1, start, end - start);
                    let mut y = x.clone().narrow(1, 0, end).matmul(ub.clone());
                    if let Some(mu) = &mu {
                        y = y - mu.clone().narrow(1, 0, end).matmul(ub);
                    }
                    (y.clone() * y).sum_dim(1)
                });
                let first = blocks.next().expect("triangle_blocks covers d ≥ 1 with a block");
                blocks.fold(first, |a, b| a + b)
            })
            .collect();
        Tensor::cat(columns, 1)
    }

    /// `‖(x_n - μ_c)ᵀ U_c‖²` for G components per product (small D, where one component's
    /// `[N, D]·[D, D]` product is too small to keep a CPU or GPU busy):
    /// `Y = x [U_c … U_{c+G-1}] - [μ_cᵀU_c … ]`, one `[N, D]·[D, G·D]` product, then the squares
    /// of `Y` summed over each component's D columns. G keeps `Y` under `budget` numbers
    /// ([`GROUP_BUDGET`] on a CPU, [`GPU_GROUP_BUDGET`] on a GPU).
    ///
    /// # Shapes
    /// - `x`: `[N, D]`; result: `[N, K]`.
    pub(crate) fn mahalanobis_grouped(&self, x: Tensor<2>, budget: usize) -> Tensor<2> {
        let [n, d] = x.dims();
        // Rows in chunks where even one component's `Y` would pass the budget (a CPU's 8192-row
        // batch of D = 63: 2080 rows at a time).
        let rows = (budget / d.max(1)).max(1);
        if rows < n {
            let chunks = (0..n)
                .step_by(rows)
                .map(|r0| {
                    self.mahalanobis_grouped(x.clone().narrow(0, r0, rows.min(n - r0)), budget)
                })
                .collect();
            return Tensor::cat(chunks, 0);
        }
        let u = self.precision_cholesky.val();
        let k = u.dims()[0];
        // W = [U_1 … U_K], `[D, K·D]`; the means' images `μ_cᵀU_c`, `[1, K·D]`.
        let w = u.clone().swap_dims(0, 1).reshape([d, k * d]);
        let shift = (!self.zero_mean)
            .then(|| self.means.val().unsqueeze_dim::<3>(1).matmul(u).reshape([1, k * d]));
        let g = (budget / (n.max(1) * d)).clamp(1, k);
        let parts = (0..k)
            .step_by(g)
            .map(|c0| {
                let gs = g.min(k - c0);
                let mut y = x.clone().matmul(w.clone().narrow(1, c0 * d, gs * d));
                if let Some(shift) = &shift {
                    y = y - shift.clone().narrow(1, c0 * d, gs * d);
                }
                (y.clone() * y).reshape([n, gs, d]).sum_dim(2).reshape([n, gs])
            })
            .collect();
        Tensor::cat(parts, 1)
    }

    /// `Σ_i log U_c[i,i]` (half the log-determinant of `Σ_c⁻¹`), `[1, K]`.
    pub(crate) fn half_log_det(&self) -> Tensor<2> {
        let [k, d, _] = self.precision_cholesky.val().dims();
        let idx: Vec<i64> = (0..d).map(|i| (i * (d + 1)) as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [d]), &self.device());
        self.precision_cholesky
            .val()
            .reshape([k, d * d])
            .select(1, idx)
            .log()
            .sum_dim(1)
            .transpose()
    }
}
