//! The M-step's quadratic term and its gradient, by hand on the host (`m_step.rs` states Q).
//!
//! Path `p = (j, v)`: `j` a node of layer 1, `v = (j_2, …, j_L)` a suffix. The layers above
//! the first compose, from the top down, into `U_v = W_{j_L} ⋯ W_{j_2}` and
//! `κ_v = W_{j_L} ⋯ W_{j_3} c_{j_2} + … + c_{j_L}` ([`Suffixes`]). With `P = U_v W_j`,
//! `k = U_v c_j + κ_v`, `e = P m_p + k`, `a = P s_p` and `T = P S_p`:
//!
//! ```text
//! q_p    = ⟨T, P⟩ + 2 eᵀa + N_p ‖e‖²
//! ∂q_p/∂P = 2 (T + e s_pᵀ + (a + N_p e) m_pᵀ),    ∂q_p/∂k = 2 (a + N_p e)
//! ```
//!
//! and back through `P = U W`, `k = U c + κ` (the same rule takes `∂U`, `∂κ` of a level of
//! suffixes to the level above it):
//!
//! ```text
//! ∂W_j = Σ_v U_vᵀ ∂P_(j,v),   ∂U_v += Σ_j ∂P_(j,v) W_jᵀ + ∂k_(j,v) c_jᵀ,
//! ∂c_j = Σ_v U_vᵀ ∂k_(j,v),   ∂κ_v += Σ_j ∂k_(j,v)
//! ```
//!
//! Four D×D×D products per path: `P` and `∂W_j`, `∂U_v` as one `[n_v·D, D]` product per node
//! for all its suffixes (`U` stacked), `T` one per path. Products in f32 (as the statistics
//! are stored), sums of `q` in f64. Layer 1's nodes are split into a fixed number of groups
//! whatever the thread count, and the groups' sums added in order: the same bits on any
//! number of threads.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Groups of layer 1's nodes summed separately (then in order).
const GROUPS: usize = 16;

/// The statistics of every path in path order, in f32 (`objective.rs` fills them).
pub(crate) struct Moments {
    pub d: usize,
    /// `[N_1, …, N_L]`.
    pub nodes: Vec<usize>,
    /// `S_p` with `reg_covar · N_p` on its diagonal, `[K, D, D]`.
    pub second: Vec<f32>,
    /// `s_p`, `[K, D]`.
    pub first: Vec<f32>,
    /// `m_p`, `[K, D]`.
    pub shift: Vec<f32>,
    /// `N_p`, `[K]` (0 for a path without samples, which adds nothing).
    pub counts: Vec<f64>,
}

/// The quadratic term `Σ_p q_p` and its gradient in the node maps (`[M, D, D]`, `[M, D]`).
pub(crate) struct Gradient {
    pub value: f64,
    pub w: Vec<f32>,
    pub c: Vec<f32>,
}

/// The composed maps of one level of suffixes, `v = (j_l, …, j_L)` numbered with `j_l` most
/// significant: `U_v` `[n, D, D]` and `κ_v` `[n, D]`.
struct Suffixes {
    u: Vec<f32>,
    kappa: Vec<f32>,
}

impl Moments {
    /// `Σ_p q_p` and its gradient at the node maps `w` `[M, D, D]`, `c` `[M, D]` (f32).
    pub(crate) fn evaluate(&self, w: &[f32], c: &[f32]) -> Gradient {
        let d = self.d;
        let offsets: Vec<usize> =
            self.nodes.iter().scan(0, |o, &n| Some(std::mem::replace(o, *o + n))).collect();
        let node = |l: usize, j: usize| offsets[l] + j;
        // levels[i]: the suffixes from layer L − i (levels[0] the empty one, U = I, κ = 0).
        let eye: Vec<f32> = (0..d * d).map(|t| f32::from(u8::from(t / d == t % d))).collect();
        let mut levels = vec![Suffixes { u: eye, kappa: vec![0.0; d] }];
        for l in (1..self.nodes.len()).rev() {
            let above = levels.last().expect("the empty suffix");
            let span = node(l, 0)..node(l, self.nodes[l]);
            levels.push(compose(
                above,
                &w[span.start * d * d..span.end * d * d],
                &c[span.start * d..span.end * d],
                d,
            ));
        }
        let suffixes = levels.last().expect("the empty suffix");
        let (mut grad_w, mut grad_c) = (vec![0.0f32; w.len()], vec![0.0f32; c.len()]);
        let (value, mut grad_u, mut grad_kappa) =
            self.paths(suffixes, w, c, &mut grad_w, &mut grad_c);
        // Back up through the levels: layer l's nodes get their share, the level above its ∂U, ∂κ.
        for (i, l) in (1..self.nodes.len()).enumerate() {
            let above = &levels[levels.len() - 2 - i];
            let span = node(l, 0)..node(l, self.nodes[l]);
            let (gu, gk) = decompose(
                above,
                &w[span.start * d * d..span.end * d * d],
                &c[span.start * d..span.end * d],
                (&grad_u, &grad_kappa),
                (
                    &mut grad_w[span.start * d * d..span.end * d * d],
                    &mut grad_c[span.start * d..span.end * d],
                ),
                d,
            );
            (grad_u, grad_kappa) = (gu, gk);
        }
        Gradient { value, w: grad_w, c: grad_c }
    }

    /// Layer 1: `Σ_p q_p`, layer 1's `∂W_j`, `∂c_j` (written into `grad_w`, `grad_c`) and the
    /// suffixes' `∂U_v`, `∂κ_v`.
    fn paths(
        &self,
        suffixes: &Suffixes,
        w: &[f32],
        c: &[f32],
        grad_w: &mut [f32],
        grad_c: &mut [f32],
    ) -> (f64, Vec<f32>, Vec<f32>) {
        let d = self.d;
        let n1 = self.nodes[0];
        let nv = suffixes.kappa.len() / d;
        let per_group = n1.div_ceil(GROUPS);
        let groups: Vec<_> = grad_w[..n1 * d * d]
            .par_chunks_mut(per_group * d * d)
            .zip(grad_c[..n1 * d].par_chunks_mut(per_group * d))
            .enumerate()
            .map(|(g, (gw, gc))| {
                let mut sums = GroupSums::new(nv, d);
                for (t, (gw, gc)) in
                    gw.chunks_exact_mut(d * d).zip(gc.chunks_exact_mut(d)).enumerate()
                {
                    let j = g * per_group + t;
                    self.node_paths(
                        j,
                        suffixes,
                        &w[j * d * d..(j + 1) * d * d],
                        &c[j * d..(j + 1) * d],
                        gw,
                        gc,
                        &mut sums,
                    );
                }
                sums
            })
            .collect();
        let mut total = GroupSums::new(nv, d);
        for g in groups {
            total.value += g.value;
            total.grad_u.iter_mut().zip(&g.grad_u).for_each(|(a, b)| *a += b);
            total.grad_kappa.iter_mut().zip(&g.grad_kappa).for_each(|(a, b)| *a += b);
        }
        (total.value, total.grad_u, total.grad_kappa)
    }

    /// The paths `(j, ·)` of layer 1's node `j` (maps `wj`, `cj`): their `q_p` and `∂U_v`,
    /// `∂κ_v` added to `sums`, `∂W_j`, `∂c_j` into `gw`, `gc`.
    #[allow(clippy::too_many_arguments)]
    fn node_paths(
        &self,
        j: usize,
        suffixes: &Suffixes,
        wj: &[f32],
        cj: &[f32],
        gw: &mut [f32],
        gc: &mut [f32],
        sums: &mut GroupSums,
    ) {
        let d = self.d;
        let nv = suffixes.kappa.len() / d;
        let (dd, rows) = (d * d, nv * d);
        let stack = MatRef::from_row_major_slice(&suffixes.u, rows, d);
        let wj_ref = MatRef::from_row_major_slice(wj, d, d);
        // P_(j,v) = U_v W_j for every v, [n_v·D, D].
        gemm(&mut sums.p, Accum::Replace, stack, wj_ref);
        for v in 0..nv {
            let path = j * nv + v;
            let dp = &mut sums.dp[v * dd..(v + 1) * dd];
            if self.counts[path] == 0.0 {
                dp.fill(0.0);
                continue;
            }
            let at = Suffix {
                u: &suffixes.u[v * dd..(v + 1) * dd],
                kappa: &suffixes.kappa[v * d..(v + 1) * d],
            };
            let dk =
                self.path_term(path, &sums.p[v * dd..(v + 1) * dd], at, cj, dp, &mut sums.value);
            // ∂κ_v += ∂k, ∂c_j += U_vᵀ ∂k, ∂U_v += ∂k c_jᵀ.
            for (i, &g) in dk.iter().enumerate() {
                sums.grad_kappa[v * d + i] += g;
                let ui = &at.u[i * d..(i + 1) * d];
                gc.iter_mut().zip(ui).for_each(|(x, u)| *x += u * g);
                let gu = &mut sums.grad_u[v * dd + i * d..v * dd + (i + 1) * d];
                gu.iter_mut().zip(cj).for_each(|(x, c)| *x += g * c);
            }
        }
        // ∂W_j = Σ_v U_vᵀ ∂P_(j,v), ∂U_v += ∂P_(j,v) W_jᵀ.
        let dp = MatRef::from_row_major_slice(&sums.dp, rows, d);
        gemm(gw, Accum::Replace, stack.transpose(), dp);
        gemm(&mut sums.grad_u, Accum::Add, dp, wj_ref.transpose());
    }

    /// Path `path = (j, v)` at `P = pv`: `q_p` added to `value`, `∂q_p/∂P` into `dp` and
    /// `∂q_p/∂k` returned (module docs).
    fn path_term(
        &self,
        path: usize,
        pv: &[f32],
        at: Suffix,
        cj: &[f32],
        dp: &mut [f32],
        value: &mut f64,
    ) -> Vec<f32> {
        let d = self.d;
        let (m, s) = (&self.shift[path * d..(path + 1) * d], &self.first[path * d..(path + 1) * d]);
        // e = P m + U_v c_j + κ_v, a = P s.
        let (mut e, mut a) = (vec![0.0f32; d], vec![0.0f32; d]);
        for i in 0..d {
            let (pi, ui) = (&pv[i * d..(i + 1) * d], &at.u[i * d..(i + 1) * d]);
            e[i] = dot(pi, m) + dot(ui, cj) + at.kappa[i];
            a[i] = dot(pi, s);
        }
        // T = P S_p, into ∂P's block.
        let second = &self.second[path * d * d..(path + 1) * d * d];
        gemm(
            dp,
            Accum::Replace,
            MatRef::from_row_major_slice(pv, d, d),
            MatRef::from_row_major_slice(second, d, d),
        );
        let n = self.counts[path];
        let ea: f64 = e.iter().zip(&a).map(|(x, y)| f64::from(x * y)).sum();
        let ee: f64 = e.iter().map(|x| f64::from(x * x)).sum();
        *value += f64::from(dot(pv, dp)) + 2.0 * ea + n * ee;
        // ∂P = 2 (T + e sᵀ + (a + N e) mᵀ), ∂k = 2 (a + N e).
        let nf = n as f32;
        let dk: Vec<f32> = a.iter().zip(&e).map(|(a, e)| 2.0 * (a + nf * e)).collect();
        for i in 0..d {
            let row = &mut dp[i * d..(i + 1) * d];
            for t in 0..d {
                row[t] = 2.0 * (row[t] + e[i] * s[t]) + dk[i] * m[t];
            }
        }
        dk
    }
}

/// Suffix `v` of the level that layer 1's paths end in: `U_v` `[D, D]`, `κ_v` `[D]`.
#[derive(Clone, Copy)]
struct Suffix<'a> {
    u: &'a [f32],
    kappa: &'a [f32],
}

/// `out (=|+=) a b`, row-major, single-threaded (the callers run in parallel; also the host
/// search's).
pub(super) fn gemm(out: &mut [f32], accum: Accum, a: MatRef<'_, f32>, b: MatRef<'_, f32>) {
    let (rows, cols) = (a.nrows(), b.ncols());
    matmul(MatMut::from_row_major_slice_mut(out, rows, cols), accum, a, b, 1.0, Par::Seq);
}

/// One group's sums and its scratch (`P` and `∂P` of one node's paths).
struct GroupSums {
    value: f64,
    grad_u: Vec<f32>,
    grad_kappa: Vec<f32>,
    p: Vec<f32>,
    dp: Vec<f32>,
}

impl GroupSums {
    fn new(nv: usize, d: usize) -> Self {
        let zeros = || vec![0.0f32; nv * d * d];
        GroupSums {
            value: 0.0,
            grad_u: zeros(),
            grad_kappa: vec![0.0; nv * d],
            p: zeros(),
            dp: zeros(),
        }
    }
}

/// The level below `above`: suffix `(j, v)` for each of the layer's nodes (`w` `[n, D, D]`,
/// `c` `[n, D]`) and each suffix `v` of `above`, `U = U_v W_j`, `κ = U_v c_j + κ_v`.
fn compose(above: &Suffixes, w: &[f32], c: &[f32], d: usize) -> Suffixes {
    let (dd, nv) = (d * d, above.kappa.len() / d);
    let nodes = c.len() / d;
    let stack = MatRef::from_row_major_slice(&above.u, nv * d, d);
    let mut u = vec![0.0f32; nodes * nv * dd];
    let mut kappa = vec![0.0f32; nodes * nv * d];
    for j in 0..nodes {
        let out = &mut u[j * nv * dd..(j + 1) * nv * dd];
        let wj = MatRef::from_row_major_slice(&w[j * dd..(j + 1) * dd], d, d);
        gemm(out, Accum::Replace, stack, wj);
        for v in 0..nv {
            for i in 0..d {
                let ui = &above.u[v * dd + i * d..v * dd + (i + 1) * d];
                kappa[(j * nv + v) * d + i] =
                    dot(ui, &c[j * d..(j + 1) * d]) + above.kappa[v * d + i];
            }
        }
    }
    Suffixes { u, kappa }
}

/// [`compose`]'s chain rule: from `∂U`, `∂κ` of the level below `above` (`grads`), the
/// layer's `∂W_j`, `∂c_j` (into `out`) and `above`'s `∂U_v`, `∂κ_v` (returned).
fn decompose(
    above: &Suffixes,
    w: &[f32],
    c: &[f32],
    grads: (&[f32], &[f32]),
    out: (&mut [f32], &mut [f32]),
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (dd, nv) = (d * d, above.kappa.len() / d);
    let nodes = c.len() / d;
    let (gu_below, gk_below) = grads;
    let (gw, gc) = out;
    let stack = MatRef::from_row_major_slice(&above.u, nv * d, d);
    let (mut gu, mut gk) = (vec![0.0f32; nv * dd], vec![0.0f32; nv * d]);
    for j in 0..nodes {
        let block =
            MatRef::from_row_major_slice(&gu_below[j * nv * dd..(j + 1) * nv * dd], nv * d, d);
        let wj = MatRef::from_row_major_slice(&w[j * dd..(j + 1) * dd], d, d);
        gemm(&mut gw[j * dd..(j + 1) * dd], Accum::Replace, stack.transpose(), block);
        gemm(&mut gu, Accum::Add, block, wj.transpose());
        let cj = &c[j * d..(j + 1) * d];
        for v in 0..nv {
            for i in 0..d {
                let g = gk_below[(j * nv + v) * d + i];
                gk[v * d + i] += g;
                let ui = &above.u[v * dd + i * d..v * dd + (i + 1) * d];
                gc[j * d..(j + 1) * d].iter_mut().zip(ui).for_each(|(x, u)| *x += u * g);
                gu[v * dd + i * d..v * dd + (i + 1) * d]
                    .iter_mut()
                    .zip(cj)
                    .for_each(|(x, c)| *x += g * c);
            }
        }
    }
    (gu, gk)
}

/// `Σ a_i b_i` in 16 interleaved partial sums (vectorised; a single running sum would wait
/// on every addition).
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (x, y) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = x.remainder().iter().zip(y.remainder()).map(|(p, q)| p * q).sum();
    for (x, y) in x.zip(y) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}
