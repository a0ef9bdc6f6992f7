//! The deep GMM's M-step: the node transforms that raise the expected complete-data
//! log-likelihood, by Adam steps with gradients taken by hand (`quadratic.rs`).
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
//! data's scale). The log-determinant's gradient `n_m (I + Δ_m)⁻ᵀ` comes from faer's LU.
//! The iterate with the highest Q is kept (the start included), so the M-step never lowers Q
//! and EM never lowers its objective; a step that lowers Q is undone and the rate halved.
//! The steps run on the host whatever the data's device: the problem is small (K·D³ per step,
//! independent of N), and the host's sums are the same on every run and thread count, so a
//! resumed fit repeats the uninterrupted one exactly.

use super::network::DeepGmm;
use super::nodes::NodeParams;
use super::objective::{LogDetTerm, PathStats, constants};
use crate::ModelError;
use crate::mixture::Ascent;

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
    let (w0, c0, log_det_w0) = nodes.inverses()?;
    let objective = constants(layer, &w0, &c0, paths);
    let log_det = LogDetTerm { counts: node_counts(layer, paths, m), log_det_w0, d };
    let scale = 1.0 / n as f64;
    // (Δ, δ) as one vector; Adam is element-wise.
    let mut steps = vec![0.0f64; m * d * d + m * d];
    let mut adam = Adam::new(steps.len());
    let mut lr = config.learning_rate;
    let mut best: Option<(f64, Vec<f64>)> = None;
    let (mut start, mut halfway, mut halvings) = (f64::NAN, f64::NAN, 0);
    for step in 0..=config.m_step_iters {
        if step == config.m_step_iters.div_ceil(2) {
            // Q of the best iterate before the last half of the steps (the start's, for one step).
            halfway = best.as_ref().map_or(f64::NAN, |b| b.0);
        }
        let value = objective.at(&steps, &log_det, scale);
        if improves(value.as_ref().map(|v| v.q), best.as_ref().map(|b| b.0)) {
            best = Some((value.as_ref().map_or(f64::NAN, |v| v.q), steps.clone()));
            if step == 0 {
                start = best.as_ref().map_or(f64::NAN, |b| b.0);
            }
        } else if let Some((_, kept)) = &best {
            // The step lowered Q (or made a node singular): back to the best, half the rate.
            steps.clone_from(kept);
            lr *= 0.5;
            halvings += 1;
            continue;
        }
        if step == config.m_step_iters {
            break;
        }
        let value = value.ok_or_else(|| ModelError::NonFinite {
            what: "deep GMM M-step objective at the start".into(),
            hint: "raise reg_covar".into(),
        })?;
        adam.ascend(&mut steps, &value.gradient, lr);
    }
    let (q_best, steps) = best.expect("the start is always evaluated");
    let (w, c) = objective.maps_at(&steps);
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

/// Adam (Kingma & Ba 2015) with burn's defaults (β₁ = 0.9, β₂ = 0.999, ε = 1e-5), element-wise,
/// climbing the objective whose gradient is `g` (descending its negative, as burn would):
/// `m ← β₁ m + (1 − β₁) g`, `v ← β₂ v + (1 − β₂) g²`, then
/// `x ← x + lr · m √(1 − β₂ᵗ) / (1 − β₁ᵗ) / (√v + ε √(1 − β₂ᵗ))`. Its moments survive an
/// undone step (only the iterate goes back).
struct Adam {
    moment_1: Vec<f64>,
    moment_2: Vec<f64>,
    time: i32,
}

impl Adam {
    const BETA_1: f64 = 0.9;
    const BETA_2: f64 = 0.999;
    const EPSILON: f64 = 1e-5;

    fn new(len: usize) -> Self {
        Adam { moment_1: vec![0.0; len], moment_2: vec![0.0; len], time: 0 }
    }

    fn ascend(&mut self, x: &mut [f64], gradient: &[f64], lr: f64) {
        self.time += 1;
        let bias_2 = (1.0 - Self::BETA_2.powi(self.time)).sqrt();
        let factor = bias_2 / (1.0 - Self::BETA_1.powi(self.time));
        let epsilon = Self::EPSILON * bias_2;
        for (((x, g), m1), m2) in
            x.iter_mut().zip(gradient).zip(&mut self.moment_1).zip(&mut self.moment_2)
        {
            *m1 = Self::BETA_1 * *m1 + (1.0 - Self::BETA_1) * g;
            *m2 = Self::BETA_2 * *m2 + (1.0 - Self::BETA_2) * g * g;
            *x += lr * *m1 * factor / (m2.sqrt() + epsilon);
        }
    }
}

/// Whether an iterate of Q per sample `value` (`None`: a node is singular) is kept over the
/// best so far: a finite value at least as high.
fn improves(value: Option<f64>, best: Option<f64>) -> bool {
    value.is_some_and(|v| v.is_finite() && best.is_none_or(|b| v >= b))
}

/// `n_m = Σ_{p ∋ m} N_p` of each of the `m` nodes.
fn node_counts(layer: &DeepGmm, paths: &[PathStats], m: usize) -> Vec<f64> {
    let mut counts = vec![0.0; m];
    for s in paths {
        for node in layer.path_nodes(s.path) {
            counts[node] += s.n;
        }
    }
    counts
}
