//! The M-step's objective Q as a function of the relative updates of the node transforms
//! (`m_step.rs` states it): its quadratic term and gradient on the host (`quadratic.rs`), its
//! log-determinant term, and the change of coordinates between them.

use super::network::DeepGmm;
use super::quadratic::Moments;
use crate::linalg;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// One path's E-step statistics on the host (the full GMM's, about the path mean `shift`).
#[derive(Debug, Clone)]
pub(crate) struct PathStats {
    /// Path index p.
    pub path: usize,
    /// `N_p`.
    pub n: f64,
    /// `m_p`, `[D]`.
    pub shift: Vec<f64>,
    /// `Σ r (x − m_p)`, `[D]`.
    pub first: Vec<f64>,
    /// `Σ r (x − m_p)(x − m_p)ᵀ`, `[D, D]`.
    pub second: Vec<f64>,
}

/// The constants of one M-step's objective: the start `W⁰`, `c⁰` and every path's
/// statistics (a path without samples has zeros there and adds nothing to Q), in the
/// network's path order: layer 1's node slowest, layer L's fastest.
pub(crate) struct Objective {
    w0: Vec<f64>,
    c0: Vec<f64>,
    moments: Moments,
}

/// Q per sample at a point and its gradient in the relative updates `Δ` `[M, D, D]`, `δ`
/// `[M, D]`, as one vector `(Δ, δ)`.
pub(crate) struct QValue {
    pub q: f64,
    pub gradient: Vec<f64>,
}

impl Objective {
    /// Q per sample at the relative updates `steps = (Δ, δ)` and its gradient (`None` where a
    /// node is singular): `Q = (Σ_m n_m log|det W_m| − ½ quadratic) / N` (`scale` = 1/N),
    /// at `W_m = (I + Δ_m) W⁰_m`, `c_m = c⁰_m + δ_m`, so `∂Q/∂Δ_m = ∂Q/∂W_m · W⁰_mᵀ`.
    pub(crate) fn at(&self, steps: &[f64], log_det: &LogDetTerm, scale: f64) -> Option<QValue> {
        let d = self.moments.d;
        let (dd, m) = (d * d, self.c0.len() / d);
        let (log_det_value, g) = log_det.value_and_gradient(&steps[..m * dd])?;
        let (w, c) = self.maps_at(steps);
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let quad = self.moments.evaluate(&f32s(&w), &f32s(&c));
        let mut gradient = vec![0.0f64; steps.len()];
        for node in 0..m {
            let gw: Vec<f64> =
                quad.w[node * dd..(node + 1) * dd].iter().map(|&v| f64::from(v)).collect();
            let out = &mut gradient[node * dd..(node + 1) * dd];
            product(out, &gw, &self.w0[node * dd..(node + 1) * dd], true, d);
            let count = log_det.counts[node];
            for (o, g) in out.iter_mut().zip(&g[node * dd..(node + 1) * dd]) {
                // n_m G_m − ½ ∂quadratic, per sample.
                *o = (count * g - 0.5 * *o) * scale;
            }
        }
        for (o, g) in gradient[m * dd..].iter_mut().zip(&quad.c) {
            *o = -0.5 * f64::from(*g) * scale;
        }
        Some(QValue { q: (log_det_value - 0.5 * quad.value) * scale, gradient })
    }

    /// The node maps at `steps = (Δ, δ)`: `W_m = (I + Δ_m) W⁰_m` `[M, D, D]` and
    /// `c_m = c⁰_m + δ_m` `[M, D]`.
    pub(crate) fn maps_at(&self, steps: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d = self.moments.d;
        let (delta, shift) = steps.split_at(self.w0.len());
        let mut w = vec![0.0f64; self.w0.len()];
        for ((out, delta), w0) in w
            .chunks_exact_mut(d * d)
            .zip(delta.chunks_exact(d * d))
            .zip(self.w0.chunks_exact(d * d))
        {
            let mut a = delta.to_vec();
            (0..d).for_each(|i| a[i * d + i] += 1.0);
            product(out, &a, w0, false, d);
        }
        (w, self.c0.iter().zip(shift).map(|(a, b)| a + b).collect())
    }
}

/// `out = A B` or `A Bᵀ` of row-major `d×d` matrices (f64).
fn product(out: &mut [f64], a: &[f64], b: &[f64], bt: bool, d: usize) {
    let b = MatRef::from_row_major_slice(b, d, d);
    let b = if bt { b.transpose() } else { b };
    matmul(
        MatMut::from_row_major_slice_mut(out, d, d),
        Accum::Replace,
        MatRef::from_row_major_slice(a, d, d),
        b,
        1.0,
        Par::Seq,
    );
}

/// `Σ_m n_m log|det W_m|` in the relative coordinates `W_m = (I + Δ_m) W⁰_m`, with
/// `n_m = Σ_{p ∋ m} N_p` (`counts`).
pub(crate) struct LogDetTerm {
    pub(crate) counts: Vec<f64>,
    pub(crate) log_det_w0: Vec<f64>,
    pub(crate) d: usize,
}

impl LogDetTerm {
    /// `Σ_m n_m (log|det(I + Δ_m)| + log|det W⁰_m|)` and `G_m = (I + Δ_m)⁻ᵀ` `[M, D, D]`;
    /// `None` where a node is singular.
    fn value_and_gradient(&self, delta: &[f64]) -> Option<(f64, Vec<f64>)> {
        let d = self.d;
        let mut value = 0.0;
        let mut g = Vec::with_capacity(delta.len());
        for (node, count) in self.counts.iter().enumerate() {
            let mut a = delta[node * d * d..(node + 1) * d * d].to_vec();
            (0..d).for_each(|i| a[i * d + i] += 1.0);
            let (inv, ld) = linalg::inverse_and_log_abs_det(&a, d)?;
            value += count * (ld + self.log_det_w0[node]);
            g.extend((0..d * d).map(|k| inv[(k % d) * d + k / d]));
        }
        Some((value, g))
    }
}

/// The objective's constants: the start `W⁰`, `c⁰` and every path's statistics (`S_p` with
/// `reg_covar · N_p` on its diagonal; zeros for a path not in `paths`), in f32 for the
/// quadratic's products.
pub(crate) fn constants(layer: &DeepGmm, w0: &[f64], c0: &[f64], paths: &[PathStats]) -> Objective {
    let d = layer.dim();
    let k: usize = layer.config.nodes.iter().product();
    let reg = layer.config.reg_covar;
    let (mut second, mut first, mut shift, mut counts) =
        (vec![0.0f32; k * d * d], vec![0.0f32; k * d], vec![0.0f32; k * d], vec![0.0; k]);
    let f32s = |out: &mut [f32], v: &[f64]| out.iter_mut().zip(v).for_each(|(o, &x)| *o = x as f32);
    for s in paths {
        let p = s.path;
        let sp = &mut second[p * d * d..(p + 1) * d * d];
        for (e, (o, &v)) in sp.iter_mut().zip(&s.second).enumerate() {
            *o = if e / d == e % d { v + reg * s.n } else { v } as f32;
        }
        f32s(&mut first[p * d..(p + 1) * d], &s.first);
        f32s(&mut shift[p * d..(p + 1) * d], &s.shift);
        counts[p] = s.n;
    }
    let moments = Moments { d, nodes: layer.config.nodes.clone(), second, first, shift, counts };
    Objective { w0: w0.to_vec(), c0: c0.to_vec(), moments }
}

#[cfg(test)]
mod tests {
    use super::super::nodes::NodeParams;
    use super::*;
    use crate::{DeepGmmConfig, PathAssignment, device_from_name};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Q per sample and its gradient (`quadratic.rs` by hand, f32 products) against Q's
    /// definition in f64, path by path (`z_p = W_L(… (W_1 x + c_1) …) + c_L` node by node from
    /// the bottom), and against central differences of that definition, at a point away from
    /// the start; on a network of three layers of unequal widths with one path without
    /// samples.
    #[test]
    fn q_and_its_gradient_equal_the_definition() {
        let (nodes, d, reg) = (vec![3, 2, 4], 5, 1e-3);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let m: usize = nodes.iter().sum();
        let k: usize = nodes.iter().product();
        let (layer, params) = random_network(&nodes, d, reg, &mut rng);
        let paths = random_paths(k, d, &mut rng);
        let (w0, c0, log_det_w0) = params.inverses().unwrap();
        let objective = constants(&layer, &w0, &c0, &paths);
        let mut counts = vec![0.0; m];
        for s in &paths {
            layer.path_nodes(s.path).iter().for_each(|&node| counts[node] += s.n);
        }
        let log_det = LogDetTerm { counts, log_det_w0, d };
        let scale = 1.0 / 300.0;
        let steps: Vec<f64> =
            (0..m * d * d + m * d).map(|_| 0.05 * rng.random_range(-1.0..1.0)).collect();
        let got = objective.at(&steps, &log_det, scale).unwrap();

        // Q by its definition in f64 at (Δ, δ): the nodes' maps, then every path's term.
        let q = |x: &[f64]| -> f64 {
            let (delta, shift) = x.split_at(m * d * d);
            let mut w = vec![0.0; m * d * d];
            let mut ld = 0.0;
            for node in 0..m {
                let mut a = delta[node * d * d..(node + 1) * d * d].to_vec();
                (0..d).for_each(|i| a[i * d + i] += 1.0);
                let wn = linalg::matmul(&a, &w0[node * d * d..(node + 1) * d * d], d);
                ld += log_det.counts[node] * linalg::inverse_and_log_abs_det(&wn, d).unwrap().1;
                w[node * d * d..(node + 1) * d * d].copy_from_slice(&wn);
            }
            let c: Vec<f64> = c0.iter().zip(shift).map(|(a, b)| a + b).collect();
            let quad: f64 = paths
                .iter()
                .map(|s| dense_path_term(s, &layer.path_nodes(s.path), &w, &c, reg))
                .sum();
            (ld - 0.5 * quad) * scale
        };
        let want = q(&steps);
        assert!((got.q - want).abs() <= 1e-5 * want.abs(), "{} vs {want}", got.q);
        let h = 1e-5;
        let largest = got.gradient.iter().fold(0.0f64, |a, g| a.max(g.abs()));
        for i in 0..steps.len() {
            let (mut up, mut down) = (steps.clone(), steps.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (q(&up) - q(&down)) / (2.0 * h);
            assert!(
                (got.gradient[i] - fd).abs() <= 2e-4 * largest,
                "∂Q/∂x[{i}]: {} vs {fd} (largest {largest})",
                got.gradient[i]
            );
        }
    }

    /// A network of `nodes` over `d` dimensions with node transforms near the identity.
    fn random_network(
        nodes: &[usize],
        d: usize,
        reg: f64,
        rng: &mut ChaCha8Rng,
    ) -> (DeepGmm, NodeParams) {
        let m: usize = nodes.iter().sum();
        let a: Vec<f64> = (0..m * d * d)
            .map(|t| {
                f64::from(u8::from(t % (d * d) / d == t % d)) + 0.3 * rng.random_range(-1.0..1.0)
            })
            .collect();
        let b: Vec<f64> = (0..m * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let params = NodeParams { a, b, dim: d };
        let config = DeepGmmConfig {
            nodes: nodes.to_vec(),
            e_step: PathAssignment::Soft,
            beam: 1,
            reg_covar: reg,
            m_step_iters: 1,
            learning_rate: 1e-2,
            init_noise: 0.1,
        };
        let device = device_from_name("cpu").unwrap();
        let k: usize = nodes.iter().product();
        let layer =
            DeepGmm::from_parts(&params, &vec![1.0 / k as f64; k], &config, &device).unwrap();
        (layer, params)
    }

    /// Statistics of every path but one (path 9 has no samples): `S_p = G Gᵀ`, random `s_p`,
    /// `m_p`, `N_p`.
    fn random_paths(k: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<PathStats> {
        (0..k)
            .filter(|&p| p != 9)
            .map(|p| {
                let g: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
                let second = (0..d * d)
                    .map(|t| (0..d).map(|s| g[t / d * d + s] * g[t % d * d + s]).sum())
                    .collect();
                PathStats {
                    path: p,
                    n: rng.random_range(1.0..50.0),
                    shift: (0..d).map(|_| rng.random_range(-1.0..1.0)).collect(),
                    first: (0..d).map(|_| rng.random_range(-1.0..1.0)).collect(),
                    second,
                }
            })
            .collect()
    }

    /// Path `s`'s term of the quadratic by its definition, in f64: `P_p`, `k_p` composed node
    /// by node from the bottom, then `tr(P_p S_p P_pᵀ) + 2 e_pᵀ P_p s_p + N_p ‖e_p‖²` with
    /// `S_p` = the statistics' second moment `+ reg · N_p I`.
    fn dense_path_term(s: &PathStats, nodes: &[usize], w: &[f64], c: &[f64], reg: f64) -> f64 {
        let d = s.shift.len();
        let (mut pm, mut kv) = (vec![0.0; d * d], vec![0.0; d]);
        (0..d).for_each(|i| pm[i * d + i] = 1.0);
        for &node in nodes {
            let wn = &w[node * d * d..(node + 1) * d * d];
            pm = linalg::matmul(wn, &pm, d);
            kv = (0..d)
                .map(|i| (0..d).map(|t| wn[i * d + t] * kv[t]).sum::<f64>() + c[node * d + i])
                .collect();
        }
        let mul = |v: &[f64]| -> Vec<f64> {
            (0..d).map(|i| (0..d).map(|t| pm[i * d + t] * v[t]).sum()).collect()
        };
        let e: Vec<f64> = mul(&s.shift).iter().zip(&kv).map(|(x, y)| x + y).collect();
        let ps = mul(&s.first);
        let mut trace = 0.0;
        for i in 0..d {
            for r in 0..d {
                for t in 0..d {
                    let srt = s.second[r * d + t] + if r == t { reg * s.n } else { 0.0 };
                    trace += pm[i * d + r] * srt * pm[i * d + t];
                }
            }
        }
        let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
        trace + 2.0 * dot(&e, &ps) + s.n * dot(&e, &e)
    }
}
