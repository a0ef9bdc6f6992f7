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
use crate::mixture::to_host_f64;
use crate::{ModelError, linalg};
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};

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

/// The constants of one M-step's objective, on the autodiff device.
struct Objective {
    w0: Tensor<3>,
    c0: Tensor<2>,
    /// Node index of every path's layer l, `[K']` each.
    layer_nodes: Vec<Tensor<1, Int>>,
    second: Tensor<3>,
    first: Tensor<2>,
    shift: Tensor<2>,
    counts: Tensor<1>,
    eye: Tensor<3>,
}

impl Objective {
    /// `Σ_p [tr(P_p S_p P_pᵀ) + 2 e_pᵀ P_p s_p + N_p ‖e_p‖²]`, `[1]`.
    fn quadratic(&self, steps: &NodeSteps) -> Tensor<1> {
        let w = (self.eye.clone() + steps.delta.val()).matmul(self.w0.clone());
        let c = self.c0.clone() + steps.shift.val();
        let mut p = w.clone().select(0, self.layer_nodes[0].clone());
        let mut k = c.clone().select(0, self.layer_nodes[0].clone());
        for nodes in &self.layer_nodes[1..] {
            let wl = w.clone().select(0, nodes.clone());
            k = wl.clone().matmul(k.unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2)
                + c.clone().select(0, nodes.clone());
            p = wl.matmul(p);
        }
        let e = p.clone().matmul(self.shift.clone().unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2) + k;
        let trace = (p.clone().matmul(self.second.clone()) * p.clone()).sum();
        let ps = p.matmul(self.first.clone().unsqueeze_dim::<3>(2)).squeeze_dim::<2>(2);
        let cross = (e.clone() * ps).sum() * 2.0;
        let quad = (e.clone() * e).sum_dim(1).squeeze_dim::<1>(1) * self.counts.clone();
        trace + cross + quad.sum()
    }
}

/// The nodes after `layer.config.m_step_iters` Adam steps on Q (module docs) from `nodes`, the
/// best iterate kept; `paths` are the paths with samples, `n` the number of samples.
pub(crate) fn optimise(
    layer: &DeepGmm,
    nodes: NodeParams,
    paths: &[PathStats],
    n: usize,
) -> Result<NodeParams, ModelError> {
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
    for step in 0..=config.m_step_iters {
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
        } else if let Some((_, kept)) = &best {
            // The step lowered Q (or made a node singular): back to the best, half the rate.
            steps = kept.clone();
            lr *= 0.5;
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
    let (_, steps) = best.expect("the start is always evaluated");
    let delta = to_host_f64(steps.delta.val())?;
    let shift = to_host_f64(steps.shift.val())?;
    let mut w = Vec::with_capacity(m * d * d);
    for node in 0..m {
        let mut a = delta[node * d * d..(node + 1) * d * d].to_vec();
        (0..d).for_each(|i| a[i * d + i] += 1.0);
        w.extend(linalg::matmul(&a, &w0[node * d * d..(node + 1) * d * d], d));
    }
    let c: Vec<f64> = c0.iter().zip(&shift).map(|(a, b)| a + b).collect();
    NodeParams::from_inverses(&w, &c, d)
}

/// Uploads the start `W⁰`, `c⁰`, each path's node indices and statistics (`S_p` with
/// `reg_covar · N_p` on its diagonal) to the autodiff device `ad`.
fn constants(
    layer: &DeepGmm,
    w0: &[f64],
    c0: &[f64],
    paths: &[PathStats],
    ad: &Device,
) -> Objective {
    let d = layer.dim();
    let m = c0.len() / d;
    let k = paths.len();
    let reg = layer.config.reg_covar;
    let depth = layer.depth();
    let mut layer_nodes = vec![Vec::with_capacity(k); depth];
    let (mut second, mut first, mut shift, mut counts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in paths {
        for (l, node) in layer.path_nodes(s.path).into_iter().enumerate() {
            layer_nodes[l].push(node as i64);
        }
        let mut sp = s.second.clone();
        (0..d).for_each(|i| sp[i * d + i] += reg * s.n);
        second.extend(sp);
        first.extend(&s.first);
        shift.extend(&s.shift);
        counts.push(s.n);
    }
    let t3 =
        |v: &[f64], shape: [usize; 3]| Tensor::<3>::from_data(TensorData::new(f32s(v), shape), ad);
    let t2 =
        |v: &[f64], shape: [usize; 2]| Tensor::<2>::from_data(TensorData::new(f32s(v), shape), ad);
    Objective {
        w0: t3(w0, [m, d, d]),
        c0: t2(c0, [m, d]),
        layer_nodes: layer_nodes
            .into_iter()
            .map(|v| Tensor::<1, Int>::from_data(TensorData::new(v, [k]), ad))
            .collect(),
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
