//! The precision route of [`NoisyGaussians::scores`] (the parent module's doc has the
//! formulas), [`LANES`] components side by side in vector registers.

use super::super::lockstep::{LANES, Lanes, factor_lanes, sub_product};
use super::{NoisyGaussians, NoisyScratch};
use crate::lane_kernels::for_cpu;

/// Rows of `v_δ` and `v_1` whose sums run side by side (independent chains of additions).
const ROWS: usize = 4;

/// Rows `i..i + R` of `v_δ = P_·o δ_o` and `v_1 = P 1 − P_·m 1_m` (`P` symmetric, one block
/// of lanes). Plain loops: a closure would not be compiled for the CPU's vector unit.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn products<const R: usize>(
    p: &[Lanes],
    d: usize,
    i: usize,
    o: &[usize],
    m: &[usize],
    delta: &[Lanes],
    p_one: &[Lanes],
    v: &mut [Lanes],
    v_one: &mut [Lanes],
) {
    let mut acc = [[0.0; LANES]; R];
    let mut one: [Lanes; R] = std::array::from_fn(|r| p_one[i + r]);
    for &j in o {
        let dj = delta[j];
        for r in 0..R {
            let pij = p[(i + r) * d + j];
            for l in 0..LANES {
                acc[r][l] += pij[l] * dj[l];
            }
        }
    }
    for &j in m {
        for r in 0..R {
            let pij = p[(i + r) * d + j];
            for l in 0..LANES {
                one[r][l] -= pij[l];
            }
        }
    }
    v[i..i + R].copy_from_slice(&acc);
    v_one[i..i + R].copy_from_slice(&one);
}

/// What [`precision_scores`] computes, for this CPU.
pub(super) type PrecisionScores =
    fn(&NoisyGaussians, &[f32], &[usize], &[usize], &mut NoisyScratch, &mut [f64]);

for_cpu!(
    /// [`precision_scores`] compiled for this CPU.
    precision_scores_for_cpu,
    precision_scores,
    (t: &NoisyGaussians, y: &[f32], o: &[usize], m: &[usize], s: &mut NoisyScratch, out: &mut [f64])
);

/// [`NoisyGaussians::scores`] through the precision (module doc), block by block of
/// [`LANES`] components: `v_δ = P_·o δ_o`, `v_1 = P 1 − P_·m 1_m`, `A = P_mm = G Gᵀ` factored
/// in lockstep, `z_δ` and `z_1` by forward substitution, then `q`, `g` and `a`.
#[inline(always)]
fn precision_scores(
    t: &NoisyGaussians,
    y: &[f32],
    o: &[usize],
    m: &[usize],
    s: &mut NoisyScratch,
    out: &mut [f64],
) {
    let (d, n_m) = (t.d, m.len());
    let constant = -0.5 * o.len() as f64 * (2.0 * std::f64::consts::PI).ln();
    s.delta.resize(d, [0.0; LANES]);
    s.v.resize(d, [0.0; LANES]);
    s.v_one.resize(d, [0.0; LANES]);
    s.g.resize(n_m * n_m, [0.0; LANES]);
    let NoisyScratch { delta, v, v_one, g, .. } = s;
    for b in 0..t.lanes_log_w.len() {
        let p = &t.lanes_p[b * d * d..(b + 1) * d * d];
        let (mu, p_one) = (&t.lanes_mu[b * d..(b + 1) * d], &t.lanes_p_one[b * d..(b + 1) * d]);
        for &j in o {
            let yj = f64::from(y[j]);
            delta[j] = std::array::from_fn(|l| yj - mu[j][l]);
        }
        let mut i = 0;
        while i + ROWS <= d {
            products::<ROWS>(p, d, i, o, m, delta, p_one, v, v_one);
            i += ROWS;
        }
        for i in i..d {
            products::<1>(p, d, i, o, m, delta, p_one, v, v_one);
        }
        let (mut q, mut gd, mut a1) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
        for &j in o {
            for l in 0..LANES {
                q[l] += delta[j][l] * v[j][l];
                gd[l] += v[j][l];
                a1[l] += v_one[j][l];
            }
        }
        for (r, &i) in m.iter().enumerate() {
            for (c, &j) in m[..=r].iter().enumerate() {
                g[r * n_m + c] = p[i * d + j];
            }
        }
        let (log_det_a, positive) = factor_lanes(g, n_m);
        subtract_solved(g, m, v, v_one, [&mut q, &mut gd, &mut a1]);
        for l in 0..LANES {
            let c = b * LANES + l;
            if c < t.k {
                let spread = 1.0 + t.offset * a1[l];
                let quad = q[l] - t.offset / spread * gd[l] * gd[l];
                let score =
                    t.lanes_log_w[b][l] + constant - log_det_a[l] - 0.5 * spread.ln() - 0.5 * quad;
                out[c] = if positive || score.is_finite() { score } else { f64::NEG_INFINITY };
            }
        }
    }
}

/// `z_δ = G⁻¹ (v_δ)_m` and `z_1 = G⁻¹ (v_1)_m` by forward substitution in place of `(v_δ)_m`
/// and `(v_1)_m`, and `q −= z_δᵀ z_δ`, `g −= z_1ᵀ z_δ`, `a −= z_1ᵀ z_1` (module doc).
#[inline(always)]
fn subtract_solved(
    g: &[Lanes],
    m: &[usize],
    v: &mut [Lanes],
    v_one: &mut [Lanes],
    [q, gd, a1]: [&mut Lanes; 3],
) {
    let n_m = m.len();
    for r in 0..n_m {
        let (mut zd, mut z1) = (v[m[r]], v_one[m[r]]);
        for c in 0..r {
            sub_product(&mut zd, &g[r * n_m + c], &v[m[c]]);
            sub_product(&mut z1, &g[r * n_m + c], &v_one[m[c]]);
        }
        let gr = g[r * n_m + r];
        zd = std::array::from_fn(|l| zd[l] / gr[l]);
        z1 = std::array::from_fn(|l| z1[l] / gr[l]);
        (v[m[r]], v_one[m[r]]) = (zd, z1);
        for l in 0..LANES {
            q[l] -= zd[l] * zd[l];
            gd[l] -= z1[l] * zd[l];
            a1[l] -= z1[l] * z1[l];
        }
    }
}
