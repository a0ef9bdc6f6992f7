//! The M-step's objective Q as a function of the relative updates of the node transforms
//! (`m_step.rs` states it): its constants on the autodiff device, its quadratic term by
//! broadcasting over the paths, and the log-determinant term on the host.

use super::network::DeepGmm;
use crate::readback::to_host_f64;
use crate::{ModelError, linalg};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

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

/// The relative updates Adam optimises: `Δ_m` `[M, D, D]` and `δ_m` `[M, D]`.
#[derive(Module, Debug)]
pub(crate) struct NodeSteps {
    pub(crate) delta: Param<Tensor<3>>,
    pub(crate) shift: Param<Tensor<2>>,
}

/// The constants of one M-step's objective, on the autodiff device. Every path is a row of
/// the statistics (a path without samples has zeros there and adds nothing to Q), in the
/// network's path order: layer 1's node slowest, layer L's fastest.
pub(crate) struct Objective {
    w0: Tensor<3>,
    c0: Tensor<2>,
    /// `[N_1, …, N_L]`.
    nodes: Vec<usize>,
    /// `S_p` (with `reg_covar · N_p I`), `[K, D, D]`.
    second: Tensor<3>,
    /// `s_p`, `[K, D]`.
    first: Tensor<2>,
    /// `m_p`, `[K, D]`.
    shift: Tensor<2>,
    /// `N_p`, `[K]`.
    counts: Tensor<1>,
    eye: Tensor<3>,
}

impl Objective {
    /// The quadratic term `[1]` at `steps`, and `Q` per sample with `G_m` (`None` where a node
    /// is singular): `Q = (Σ_m n_m log|det W_m| − ½ quadratic) / N`.
    pub(crate) fn q_per_sample(
        &self,
        steps: &NodeSteps,
        log_det: &LogDetTerm,
        scale: f64,
    ) -> Result<(Tensor<1>, Option<(f64, Vec<f64>)>), ModelError> {
        let delta = to_host_f64(steps.delta.val())?;
        let quadratic = self.quadratic(steps);
        let q_value = to_host_f64(quadratic.clone())?[0];
        let value =
            log_det.value_and_gradient(&delta).map(|(ld, g)| ((ld - 0.5 * q_value) * scale, g));
        Ok((quadratic, value))
    }

    /// `Σ_p [tr(P_p S_p P_pᵀ) + 2 e_pᵀ P_p s_p + N_p ‖e_p‖²]`, `[1]`.
    ///
    /// Path `p = (j_1, u)` sends x to `z_p = U_u (W_{j_1} x + c_{j_1}) + κ_u`, where the layers
    /// above the first compose, from the top down, into `U_u = W_{j_L} ⋯ W_{j_2}` and
    /// `κ_u = W_{j_L} ⋯ W_{j_3} c_{j_2} + … + c_{j_L}` for each of the `N_2 ⋯ N_L` suffixes
    /// `u = (j_2, …, j_L)`: `(U, κ) ← (U W_l, U c_l + κ)` for l = L … 2 from `(I, 0)`. So
    /// `P_p = U_u W_{j_1}` and `k_p = U_u c_{j_1} + κ_u`, one product per path, the nodes
    /// broadcast to the paths through them (no gathers: their gradients are sums).
    fn quadratic(&self, steps: &NodeSteps) -> Tensor<1> {
        let w = (self.eye.clone() + steps.delta.val()).matmul(self.w0.clone());
        let c = self.c0.clone() + steps.shift.val();
        let d = self.eye.dims()[1];
        let device = self.eye.device();
        let offsets: Vec<usize> = self
            .nodes
            .iter()
            .scan(0, |o, &n| {
                *o += n;
                Some(*o - n)
            })
            .collect();
        // Row (j, s) of n nodes over `inner` suffixes, j slowest (path order): a node's
        // transform spread over the suffixes below it, or a suffix's repeated for each node.
        let spread = |t: Tensor<3>, n: usize, inner: usize| {
            t.unsqueeze_dim::<4>(1).expand([n, inner, d, d]).reshape([n * inner, d, d])
        };
        let repeat = |t: Tensor<3>, n: usize, inner: usize| {
            t.unsqueeze_dim::<4>(0).expand([n, inner, d, d]).reshape([n * inner, d, d])
        };
        let spread_vec = |t: Tensor<2>, n: usize, inner: usize| {
            t.unsqueeze_dim::<3>(1).expand([n, inner, d]).reshape([n * inner, d])
        };
        let repeat_vec = |t: Tensor<2>, n: usize, inner: usize| {
            t.unsqueeze_dim::<3>(0).expand([n, inner, d]).reshape([n * inner, d])
        };
        let apply =
            |a: Tensor<3>, v: Tensor<2>| a.matmul(v.unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2);
        // (U, κ) from the top down; the last step, layer 1, leaves (P_p, k_p) of every path.
        let (mut p, mut k) = (self.eye.clone(), Tensor::<2>::zeros([1, d], &device));
        for l in (0..self.nodes.len()).rev() {
            let (n, inner) = (self.nodes[l], p.dims()[0]);
            let wl = spread(w.clone().narrow(0, offsets[l], n), n, inner);
            let cl = spread_vec(c.clone().narrow(0, offsets[l], n), n, inner);
            let ul = repeat(p, n, inner);
            k = apply(ul.clone(), cl) + repeat_vec(k, n, inner);
            p = ul.matmul(wl);
        }
        let e = apply(p.clone(), self.shift.clone()) + k;
        let trace = (p.clone().matmul(self.second.clone()) * p.clone()).sum();
        let ps = apply(p, self.first.clone());
        let cross = (e.clone() * ps).sum() * 2.0;
        let quad = (e.clone() * e).sum_dim(1).squeeze_dim::<1>(1) * self.counts.clone();
        trace + cross + quad.sum()
    }
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

/// Uploads the start `W⁰`, `c⁰` and every path's statistics (`S_p` with `reg_covar · N_p` on
/// its diagonal; zeros for a path not in `paths`) to the autodiff device `ad`.
pub(crate) fn constants(
    layer: &DeepGmm,
    w0: &[f64],
    c0: &[f64],
    paths: &[PathStats],
    ad: &Device,
) -> Objective {
    let d = layer.dim();
    let m = c0.len() / d;
    let k: usize = layer.config.nodes.iter().product();
    let reg = layer.config.reg_covar;
    let (mut second, mut first, mut shift, mut counts) =
        (vec![0.0; k * d * d], vec![0.0; k * d], vec![0.0; k * d], vec![0.0; k]);
    for s in paths {
        let p = s.path;
        let sp = &mut second[p * d * d..(p + 1) * d * d];
        sp.copy_from_slice(&s.second);
        (0..d).for_each(|i| sp[i * d + i] += reg * s.n);
        first[p * d..(p + 1) * d].copy_from_slice(&s.first);
        shift[p * d..(p + 1) * d].copy_from_slice(&s.shift);
        counts[p] = s.n;
    }
    let t3 =
        |v: &[f64], shape: [usize; 3]| Tensor::<3>::from_data(TensorData::new(f32s(v), shape), ad);
    let t2 =
        |v: &[f64], shape: [usize; 2]| Tensor::<2>::from_data(TensorData::new(f32s(v), shape), ad);
    Objective {
        w0: t3(w0, [m, d, d]),
        c0: t2(c0, [m, d]),
        nodes: layer.config.nodes.clone(),
        second: t3(&second, [k, d, d]),
        first: t2(&first, [k, d]),
        shift: t2(&shift, [k, d]),
        counts: Tensor::<1>::from_data(TensorData::new(f32s(&counts), [k]), ad),
        eye: Tensor::<2>::eye(d, ad).unsqueeze_dim::<3>(0),
    }
}

pub(crate) fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::super::nodes::NodeParams;
    use super::*;
    use crate::{DeepGmmConfig, PathAssignment, device_from_name};
    use rand::{Rng, SeedableRng};

    /// The broadcast composition of `Objective::quadratic` against the definition in f64, path
    /// by path: `z_p = W_L(… (W_1 x + c_1) …) + c_L` node by node from the bottom, on a
    /// network of three layers of unequal widths, one path without samples.
    #[test]
    fn the_objective_equals_its_definition_path_by_path() {
        let (nodes, d) = (vec![3, 2, 4], 5);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let m: usize = nodes.iter().sum();
        let a: Vec<f64> = (0..m * d * d)
            .map(|t| {
                f64::from(u8::from(t % (d * d) / d == t % d)) + 0.3 * rng.random_range(-1.0..1.0)
            })
            .collect();
        let b: Vec<f64> = (0..m * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let params = NodeParams { a, b, dim: d };
        let config = DeepGmmConfig {
            nodes: nodes.clone(),
            e_step: PathAssignment::Soft,
            beam: 1,
            reg_covar: 1e-3,
            m_step_iters: 1,
            learning_rate: 1e-2,
            init_noise: 0.1,
        };
        let device = device_from_name("cpu").unwrap();
        let k: usize = nodes.iter().product();
        let layer =
            DeepGmm::from_parts(&params, &vec![1.0 / k as f64; k], &config, &device).unwrap();
        let paths: Vec<PathStats> = (0..k)
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
            .collect();
        let (w, c, _) = params.inverses().unwrap();
        let ad = device.autodiff();
        let objective = constants(&layer, &w, &c, &paths, &ad);
        let steps = NodeSteps {
            delta: Param::from_tensor(Tensor::zeros([m, d, d], &ad)),
            shift: Param::from_tensor(Tensor::zeros([m, d], &ad)),
        };
        let got = to_host_f64(objective.quadratic(&steps)).unwrap()[0];

        let want: f64 =
            paths.iter().map(|s| dense_path_term(s, &layer.path_nodes(s.path), &w, &c, 1e-3)).sum();
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs {want}");
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
