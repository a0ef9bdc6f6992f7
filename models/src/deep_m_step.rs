//! The deep GMM's M-step: the node transforms that raise the expected complete-data
//! log-likelihood, by Adam steps with gradients from burn-autodiff.
//!
//! Run the network from the data towards `z`: node m maps `y ↦ W_m y + c_m` with
//! `W_m = A_m⁻¹`, `c_m = −A_m⁻¹ b_m`, so path p sends x to `z_p = P_p x + k_p` with
//! `P_p = W_{L} ⋯ W_{1}` and `log N(x | p) = −(D/2) log 2π + Σ_l log|det W_{l}| − ½ ‖z_p‖²`.
//! With the E-step's per-path statistics about the shift `m_p` (`N_p`, `s_p = Σ r (x − m_p)`,
//! `S_p = Σ r (x − m_p)(x − m_p)ᵀ + reg_covar · N_p I`) and `e_p = P_p m_p + k_p`:
//!
//! ```text
//! Q = Σ_m n_m log|det W_m| − ½ Σ_p [ tr(P_p S_p P_pᵀ) + 2 e_pᵀ P_p s_p + N_p ‖e_p‖² ] + const,
//! n_m = Σ_{p ∋ m} N_p
//! ```
//!
//! a smooth function of the W's and c's that never touches the data. Each M-step starts Adam
//! from the current network in relative coordinates, `W_m = (I + Δ_m) W⁰_m`, `c_m = c⁰_m + δ_m`
//! (Δ, δ = 0 at the start; dimensionless, so one learning rate suits every layer whatever the
//! data's scale). The log-determinant's gradient `n_m (I + Δ_m)⁻ᵀ` comes from the host (faer's
//! LU; Burn has no determinant) through the surrogate `n_m ⟨Δ_m, G_m⟩` with `G_m` held fixed.
//! The iterate with the highest Q is kept (the start included), so the M-step never lowers Q
//! and EM never lowers its objective; a step that lowers Q is undone and the rate halved.
//! The steps run on the CPU backend (when the build has one) whatever the data's device.

use crate::deep::DeepGmm;
use crate::mixture::{Ascent, to_host_f64};
use crate::{ModelError, linalg};
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

/// The nodes' parameters on the host: `a` = `A_m` `[M, D, D]`, `b` = `b_m` `[M, D]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeParams {
    /// `A_m`, `[M, D, D]`.
    pub a: Vec<f64>,
    /// `b_m`, `[M, D]`.
    pub b: Vec<f64>,
    /// D.
    pub dim: usize,
}

impl NodeParams {
    /// Path `(m_1, …, m_L)`'s mean and factor: `μ = b_1 + A_1 b_2 + A_1 A_2 b_3 + …`,
    /// `M = A_1 A_2 ⋯ A_L` (`[D]`, `[D, D]`).
    pub fn path_affine(&self, nodes: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let d = self.dim;
        let mut m: Vec<f64> = (0..d * d).map(|k| if k / d == k % d { 1.0 } else { 0.0 }).collect();
        let mut mu = vec![0.0; d];
        for &node in nodes {
            let b = &self.b[node * d..(node + 1) * d];
            for i in 0..d {
                mu[i] += (0..d).map(|t| m[i * d + t] * b[t]).sum::<f64>();
            }
            m = linalg::matmul(&m, &self.a[node * d * d..(node + 1) * d * d], d);
        }
        (mu, m)
    }

    /// `W_m = A_m⁻¹`, `c_m = −W_m b_m` and `log|det W_m|` of every node; an error names a
    /// singular node.
    pub fn inverses(&self) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>), ModelError> {
        let d = self.dim;
        let count = self.b.len() / d;
        let (mut w, mut c, mut log_det) = (Vec::new(), Vec::new(), Vec::new());
        for m in 0..count {
            let (inv, ld) = linalg::inverse_and_log_abs_det(&self.a[m * d * d..(m + 1) * d * d], d)
                .ok_or_else(|| ModelError::NonFinite {
                    what: format!("inverse of node {m}'s transform (singular)"),
                    hint: "raise reg_covar or lower learning_rate".into(),
                })?;
            let b = &self.b[m * d..(m + 1) * d];
            c.extend((0..d).map(|i| -(0..d).map(|t| inv[i * d + t] * b[t]).sum::<f64>()));
            w.extend(inv);
            log_det.push(-ld);
        }
        Ok((w, c, log_det))
    }

    /// The nodes of `W_m`, `c_m` back as `A_m = W_m⁻¹`, `b_m = −A_m c_m`.
    fn from_inverses(w: &[f64], c: &[f64], d: usize) -> Result<Self, ModelError> {
        let inverse = NodeParams { a: w.to_vec(), b: c.iter().map(|v| -v).collect(), dim: d };
        // inverses() of (W, −c) gives (W⁻¹, −W⁻¹(−c)) = (A, A c); b = −A c.
        let (a, ac, _) = inverse.inverses()?;
        Ok(NodeParams { a, b: ac.iter().map(|v| -v).collect(), dim: d })
    }
}

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
struct NodeSteps {
    delta: Param<Tensor<3>>,
    shift: Param<Tensor<2>>,
}

/// The constants of one M-step's objective, on the autodiff device. Every path is a row of
/// the statistics (a path without samples has zeros there and adds nothing to Q), in the
/// network's path order: layer 1's node slowest, layer L's fastest.
struct Objective {
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

/// The nodes after `layer.config.m_step_iters` Adam steps on Q (module docs) from `nodes`, the
/// best iterate kept, and how far the steps climbed Q per sample (its gain, and the gain of the
/// last half of the steps); `paths` are the paths with samples, `n` the number of samples.
pub(crate) fn optimise(
    layer: &DeepGmm,
    nodes: NodeParams,
    paths: &[PathStats],
    n: usize,
) -> Result<(NodeParams, Ascent), ModelError> {
    let t0 = std::time::Instant::now();
    let d = nodes.dim;
    let m = nodes.b.len() / d;
    let config = &layer.config;
    // On the CPU backend whatever the data's device: the problem is small (K·D³ per step,
    // independent of N) and a CPU's reductions are the same on every run, so a resumed fit
    // repeats the uninterrupted one exactly (a GPU's summation order may vary run to run).
    let ad = crate::device::cpu_device().unwrap_or_else(|| layer.device()).autodiff();
    let (w0, c0, log_det_w0) = nodes.inverses()?;
    let objective = constants(layer, &w0, &c0, paths, &ad);
    let mut node_counts = vec![0.0; m];
    for s in paths {
        for node in layer.path_nodes(s.path) {
            node_counts[node] += s.n;
        }
    }
    let scale = 1.0 / n as f64;
    let log_det_part = |delta: &[f64]| -> Option<(f64, Vec<f64>)> {
        // Σ_m n_m (log|det(I + Δ_m)| + log|det W⁰_m|) and G_m = (I + Δ_m)⁻ᵀ.
        let mut value = 0.0;
        let mut g = Vec::with_capacity(m * d * d);
        for node in 0..m {
            let mut a = delta[node * d * d..(node + 1) * d * d].to_vec();
            (0..d).for_each(|i| a[i * d + i] += 1.0);
            let (inv, ld) = linalg::inverse_and_log_abs_det(&a, d)?;
            value += node_counts[node] * (ld + log_det_w0[node]);
            g.extend((0..d * d).map(|k| inv[(k % d) * d + k / d]));
        }
        Some((value, g))
    };
    let mut steps = NodeSteps {
        delta: Param::from_tensor(Tensor::zeros([m, d, d], &ad)),
        shift: Param::from_tensor(Tensor::zeros([m, d], &ad)),
    };
    let counts = Tensor::<1>::from_data(TensorData::new(f32s(&node_counts), [m]), &ad);
    let mut optimizer = AdamConfig::new().init();
    let mut lr = config.learning_rate;
    let mut best: Option<(f64, NodeSteps)> = None;
    let (mut start, mut halfway, mut halvings) = (f64::NAN, f64::NAN, 0);
    for step in 0..=config.m_step_iters {
        if step == config.m_step_iters.div_ceil(2) {
            // Q of the best iterate before the last half of the steps (the start's, for one step).
            halfway = best.as_ref().map_or(f64::NAN, |b| b.0);
        }
        let delta = to_host_f64(steps.delta.val())?;
        let quadratic = objective.quadratic(&steps);
        let q_value = to_host_f64(quadratic.clone())?[0];
        let value = log_det_part(&delta).map(|(ld, g)| ((ld - 0.5 * q_value) * scale, g));
        let improved = match (&value, &best) {
            (Some((v, _)), Some((b, _))) => v.is_finite() && v >= b,
            (Some((v, _)), None) => v.is_finite(),
            (None, _) => false,
        };
        if improved {
            best = Some((value.as_ref().map_or(f64::NAN, |v| v.0), steps.clone()));
            if step == 0 {
                start = best.as_ref().map_or(f64::NAN, |b| b.0);
            }
        } else if let Some((_, kept)) = &best {
            // The step lowered Q (or made a node singular): back to the best, half the rate.
            steps = kept.clone();
            lr *= 0.5;
            halvings += 1;
            continue;
        }
        if step == config.m_step_iters {
            break;
        }
        let Some((_, g)) = value else {
            return Err(ModelError::NonFinite {
                what: "deep GMM M-step objective at the start".into(),
                hint: "raise reg_covar".into(),
            });
        };
        let g = Tensor::<3>::from_data(TensorData::new(f32s(&g), [m, d, d]), &ad);
        let surrogate = (steps.delta.val() * g).sum_dim(2).sum_dim(1).reshape([m]) * counts.clone();
        let loss = (quadratic * 0.5 - surrogate.sum()) * scale;
        let grads = GradientsParams::from_grads(loss.backward(), &steps);
        steps = optimizer.step(lr, steps, grads);
    }
    let (q_best, steps) = best.expect("the start is always evaluated");
    let delta = to_host_f64(steps.delta.val())?;
    let shift = to_host_f64(steps.shift.val())?;
    let mut w = Vec::with_capacity(m * d * d);
    for node in 0..m {
        let mut a = delta[node * d * d..(node + 1) * d * d].to_vec();
        (0..d).for_each(|i| a[i * d + i] += 1.0);
        w.extend(linalg::matmul(&a, &w0[node * d * d..(node + 1) * d * d], d));
    }
    let c: Vec<f64> = c0.iter().zip(&shift).map(|(a, b)| a + b).collect();
    let nodes = NodeParams::from_inverses(&w, &c, d)?;
    let ascent = Ascent {
        steps: config.m_step_iters,
        gain: q_best - start,
        second_half_gain: q_best - halfway,
        halvings,
        seconds: t0.elapsed().as_secs_f64(),
    };
    Ok((nodes, ascent))
}

/// Uploads the start `W⁰`, `c⁰` and every path's statistics (`S_p` with `reg_covar · N_p` on
/// its diagonal; zeros for a path not in `paths`) to the autodiff device `ad`.
fn constants(
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

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[cfg(test)]
mod tests {
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
            first_layer: None,
            widen_from: None,
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

        let mut want = 0.0;
        for s in &paths {
            let (mut pm, mut kv) = (vec![0.0; d * d], vec![0.0; d]);
            (0..d).for_each(|i| pm[i * d + i] = 1.0);
            for node in layer.path_nodes(s.path) {
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
                        let srt = s.second[r * d + t] + if r == t { 1e-3 * s.n } else { 0.0 };
                        trace += pm[i * d + r] * srt * pm[i * d + t];
                    }
                }
            }
            let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>();
            want += trace + 2.0 * dot(&e, &ps) + s.n * dot(&e, &e);
        }
        assert!((got - want).abs() <= 1e-5 * want.abs(), "{got} vs {want}");
    }
}
