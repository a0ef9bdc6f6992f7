//! Every component's marginal density of what one row observes, the components side by side in
//! vector lanes: a row's missing coordinates are the same under every component, so the `K`
//! blocks `A_c = Λ_c,mm` have one shape and are factored in lockstep, each arithmetic step one
//! vector operation over [`LANES`] components (the parent module's doc has the formula).

use super::{Pattern, Precisions};
use crate::lane_kernels::for_cpu;

/// Components conditioned side by side: one AVX-512 register of f64.
pub(super) const LANES: usize = 8;
/// One value of [`LANES`] components.
pub(super) type Lanes = [f64; LANES];

/// `a[l] += b[l] · c[l]` (no fused multiply-add: the same bits on any CPU).
#[inline(always)]
fn add_product(a: &mut Lanes, b: &Lanes, c: &Lanes) {
    for l in 0..LANES {
        a[l] += b[l] * c[l];
    }
}

/// `a[l] −= b[l] · c[l]`.
#[inline(always)]
pub(super) fn sub_product(a: &mut Lanes, b: &Lanes, c: &Lanes) {
    for l in 0..LANES {
        a[l] -= b[l] * c[l];
    }
}

/// The components' precisions and means [`LANES`] at a time: for `c = b·LANES + l`,
/// `lam[(b·D + i)·D + j][l] = Λ_c[i, j]`, `mu[b·D + j][l] = μ_c[j]` and
/// `half_log_det[b][l] = ½ log|Λ_c|`. Components past `K` (padding) are `N(0, I)`.
pub(super) struct Interleaved {
    d: usize,
    k: usize,
    lam: Vec<Lanes>,
    mu: Vec<Lanes>,
    half_log_det: Vec<Lanes>,
}

/// One thread's buffers for a row's conditioning: `δ` (per observed coordinate) and
/// `v = Λ δ` (`D` each), and for each block `b` of [`LANES`] components its factor `G`
/// (`g[b·m²..]`, `m × m`) and `z = G⁻¹ v_m` (`z[b·D..]`, `m`); `x` and `inv` (`m × m`) hold
/// `G⁻¹` and `A⁻¹` of one block ([`conditionals_for_cpu`]).
pub(super) struct LockstepScratch {
    delta: Vec<Lanes>,
    v: Vec<Lanes>,
    z: Vec<Lanes>,
    g: Vec<Lanes>,
    x: Vec<Lanes>,
    pub inv: Vec<Lanes>,
}

impl LockstepScratch {
    pub fn new(t: &Interleaved) -> Self {
        let (d, blocks) = (t.d, t.half_log_det.len());
        let lanes = |n| vec![[0.0; LANES]; n];
        Self {
            delta: lanes(d),
            v: lanes(d),
            z: lanes(blocks * d),
            g: Vec::new(),
            x: Vec::new(),
            inv: Vec::new(),
        }
    }

    /// `A_c⁻¹ b_c` of component `c = b·LANES + l`, coordinate `r` of the missing ones, once
    /// [`conditionals_for_cpu`] ran on block `b`.
    pub fn a_inv_b(&self, d: usize, b: usize, l: usize, r: usize) -> f64 {
        self.z[b * d + r][l]
    }
}

impl Interleaved {
    pub fn of(p: &Precisions) -> Self {
        let (d, k) = (p.d, p.half_log_det.len());
        let blocks = k.div_ceil(LANES);
        let mut lam = vec![[0.0; LANES]; blocks * d * d];
        let mut mu = vec![[0.0; LANES]; blocks * d];
        let mut half_log_det = vec![[0.0; LANES]; blocks];
        for b in 0..blocks {
            for l in 0..LANES {
                let c = b * LANES + l;
                for i in 0..d {
                    for j in 0..d {
                        let padding = if i == j { 1.0 } else { 0.0 };
                        let v = if c < k { p.lambda[(c * d + i) * d + j] } else { padding };
                        lam[(b * d + i) * d + j][l] = v;
                    }
                    mu[b * d + i][l] = if c < k { p.means[c * d + i] } else { 0.0 };
                }
                half_log_det[b][l] = if c < k { p.half_log_det[c] } else { 0.0 };
            }
        }
        Self { d, k, lam, mu, half_log_det }
    }

    /// Blocks of [`LANES`] components.
    pub fn blocks(&self) -> usize {
        self.half_log_det.len()
    }

    /// `μ_c[i]` of component `c = b·LANES + l`.
    pub fn mean(&self, b: usize, l: usize, i: usize) -> f64 {
        self.mu[b * self.d + i][l]
    }

    /// `out[c] = log N(x_o | μ_c,o, Σ_c,oo)` for every component `c` of row `x` (pattern `p`),
    /// through [`log_densities_for_cpu`]. `Err(c)`: component `c`'s `Λ_c,mm` is not positive
    /// definite.
    pub fn log_densities(
        &self,
        kernel: LogDensities,
        x: &[f32],
        p: &Pattern,
        s: &mut LockstepScratch,
        out: &mut [f64],
    ) -> Result<(), usize> {
        // The factors' buffers grow to the most missing values met, not to `D²` per block.
        let m = p.missing.len();
        if s.g.len() < self.blocks() * m * m {
            s.g.resize(self.blocks() * m * m, [0.0; LANES]);
            s.x.resize(m * m, [0.0; LANES]);
            s.inv.resize(m * m, [0.0; LANES]);
        }
        match kernel(self, x, p, s, out) {
            usize::MAX => Ok(()),
            c => Err(c),
        }
    }
}

/// What [`row_log_densities`] computes, for this CPU.
pub(super) type LogDensities =
    fn(&Interleaved, &[f32], &Pattern, &mut LockstepScratch, &mut [f64]) -> usize;

for_cpu!(
    /// [`row_log_densities`] compiled for this CPU.
    log_densities_for_cpu,
    row_log_densities,
    (t: &Interleaved, x: &[f32], p: &Pattern, s: &mut LockstepScratch, out: &mut [f64]) -> usize
);

/// [`Interleaved::log_densities`], block by block of [`LANES`] components:
///
/// ```text
/// δ_j = x_j − μ_j (j ∈ o),   v = Λ_·,o δ_o,   quad = δ_oᵀ v_o
/// A = Λ_mm = G Gᵀ,   z = G⁻¹ v_m,   log N = −(|o|/2) log 2π + ½ log|Λ| − Σ log G_jj − ½ (quad − zᵀz)
/// ```
///
/// Returns the first component whose `A` has no factor, or `usize::MAX`. Inlined into each
/// compiled form of [`log_densities_for_cpu`].
#[inline(always)]
fn row_log_densities(
    t: &Interleaved,
    x: &[f32],
    p: &Pattern,
    s: &mut LockstepScratch,
    out: &mut [f64],
) -> usize {
    let (d, m) = (t.d, p.missing.len());
    let LockstepScratch { delta, v, z: z_all, g: g_all, .. } = s;
    let constant = -0.5 * p.observed.len() as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut failed = usize::MAX;
    for b in 0..t.half_log_det.len() {
        let (lam, mu) = (&t.lam[b * d * d..(b + 1) * d * d], &t.mu[b * d..(b + 1) * d]);
        for (dj, &j) in delta.iter_mut().zip(&p.observed) {
            let xj = f64::from(x[j]);
            *dj = std::array::from_fn(|l| xj - mu[j][l]);
        }
        for (i, vi) in v.iter_mut().enumerate() {
            let row = &lam[i * d..(i + 1) * d];
            let mut acc = [0.0; LANES];
            p.observed
                .iter()
                .zip(delta.iter())
                .for_each(|(&j, dj)| add_product(&mut acc, &row[j], dj));
            *vi = acc;
        }
        let mut quad = [0.0; LANES];
        p.observed.iter().zip(delta.iter()).for_each(|(&i, di)| add_product(&mut quad, di, &v[i]));
        let g = &mut g_all[b * m * m..(b + 1) * m * m];
        let z = &mut z_all[b * d..b * d + m];
        for (r, &i) in p.missing.iter().enumerate() {
            for (c, &j) in p.missing[..=r].iter().enumerate() {
                g[r * m + c] = lam[i * d + j];
            }
        }
        let (log_det_a, positive) = factor_lanes(g, m);
        let mut zz = [0.0; LANES];
        for (r, &i) in p.missing.iter().enumerate() {
            let mut zr = v[i];
            (0..r).for_each(|c| sub_product(&mut zr, &g[r * m + c], &z[c]));
            let gr = g[r * m + r];
            z[r] = std::array::from_fn(|l| zr[l] / gr[l]);
            add_product(&mut zz, &z[r], &z[r]);
        }
        for l in 0..LANES {
            let c = b * LANES + l;
            if c < t.k {
                let hld = t.half_log_det[b][l];
                out[c] = constant + hld - log_det_a[l] - 0.5 * (quad[l] - zz[l]);
            }
        }
        if !positive && failed == usize::MAX {
            failed = (0..LANES)
                .map(|l| b * LANES + l)
                .find(|&c| c < t.k && !out[c].is_finite())
                .unwrap_or(b * LANES);
        }
    }
    failed
}

/// `A = G Gᵀ` of [`LANES`] `m × m` matrices in lockstep, in place in the lower triangle of
/// `g` (row-major), by columns as [`crate::full::small_cholesky`] has it; returns
/// `Σ_j log G_jj` (through products of 8 diagonal entries, one log each) and whether every
/// lane was positive definite.
#[inline(always)]
pub(super) fn factor_lanes(g: &mut [Lanes], m: usize) -> (Lanes, bool) {
    let (mut log_det_a, mut product) = ([0.0; LANES], [1.0; LANES]);
    let mut positive = true;
    for j in 0..m {
        let mut sj = g[j * m + j];
        for c in 0..j {
            let gjc = g[j * m + c];
            sub_product(&mut sj, &gjc, &gjc);
        }
        positive &= sj.iter().all(|&v| v > 0.0 && v.is_finite());
        let gj: Lanes = std::array::from_fn(|l| sj[l].sqrt());
        let inv: Lanes = std::array::from_fn(|l| 1.0 / gj[l]);
        g[j * m + j] = gj;
        (0..LANES).for_each(|l| product[l] *= gj[l]);
        if j % 8 == 7 {
            (0..LANES).for_each(|l| log_det_a[l] += product[l].ln());
            product = [1.0; LANES];
        }
        for i in j + 1..m {
            let (head, tail) = g.split_at_mut(i * m);
            let mut a = tail[j];
            (0..j).for_each(|c| sub_product(&mut a, &tail[c], &head[j * m + c]));
            tail[j] = std::array::from_fn(|l| a[l] * inv[l]);
        }
    }
    (0..LANES).for_each(|l| log_det_a[l] += product[l].ln());
    (log_det_a, positive)
}

for_cpu!(
    /// [`block_conditionals`] compiled for this CPU.
    conditionals_for_cpu,
    block_conditionals,
    (p: &Pattern, s: &mut LockstepScratch, d: usize, b: usize, diagonal: bool)
);

/// Block `b`'s conditional Gaussians of row pattern `p` after [`row_log_densities`], its
/// components in lockstep: `z` becomes `A⁻¹ b = G⁻ᵀ z` (back-substitution), and the lower
/// triangle of `inv` (its diagonal when `diagonal`) `A⁻¹ = Xᵀ X` with `X = G⁻¹` in `x`:
///
/// ```text
/// X_i = (e_i − Σ_{k<i} G_ik X_k) / G_ii,     A⁻¹[r, s] = Σ_{t ≥ r} X[t, r] X[t, s]  (s ≤ r)
/// ```
#[inline(always)]
fn block_conditionals(p: &Pattern, s: &mut LockstepScratch, d: usize, b: usize, diagonal: bool) {
    let m = p.missing.len();
    let LockstepScratch { z, g, x, inv, .. } = s;
    let g = &g[b * m * m..(b + 1) * m * m];
    let z = &mut z[b * d..b * d + m];
    for i in (0..m).rev() {
        let gi = g[i * m + i];
        let yi: Lanes = std::array::from_fn(|l| z[i][l] / gi[l]);
        z[i] = yi;
        (0..i).for_each(|k| sub_product(&mut z[k], &g[i * m + k], &yi));
    }
    let x = &mut x[..m * m];
    for i in 0..m {
        let (done, row) = x.split_at_mut(i * m);
        let row = &mut row[..=i];
        row.fill([0.0; LANES]);
        row[i] = [1.0; LANES];
        for k in 0..i {
            let gik = g[i * m + k];
            row[..=k].iter_mut().zip(&done[k * m..k * m + k + 1]).for_each(|(v, xk)| {
                sub_product(v, &gik, xk);
            });
        }
        let gi = g[i * m + i];
        row.iter_mut().for_each(|v| *v = std::array::from_fn(|l| v[l] / gi[l]));
    }
    let inv = &mut inv[..m * m];
    for r in 0..m {
        let columns = if diagonal { r..r + 1 } else { 0..r + 1 };
        inv[r * m..(r + 1) * m][columns.clone()].fill([0.0; LANES]);
        for t in r..m {
            let xtr = x[t * m + r];
            columns.clone().for_each(|c| add_product(&mut inv[r * m + c], &xtr, &x[t * m + c]));
        }
    }
}
