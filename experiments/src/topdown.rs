//! Top-down refinement of a greedily trained stack (the write-up: "a top-down training which
//! will take the output from the top layer and use that to refine the EM training of the lower
//! layers").
//!
//! # Which likelihood
//!
//! The mixture of mixtures `p(x) = Σ_t w_t Σ_c π_{t,c} N(x | c)` over one input `x` is not
//! identifiable: it equals the flat mixture with weights `ρ_c = Σ_t w_t π_{t,c}`, so joint EM on
//! it is plain EM on the bottom layer and the upper layer plays no part. What makes the upper
//! layer matter is that it *observes something*: the features `z` it was trained on. The stack
//! then reads as a chain of latent components, top down, each layer emitting its own input,
//!
//! ```text
//! p(x, z₁, …, z_{L−1}) = Σ_{k_{L−1},…,k_0} w_{k_{L−1}} N_{L−1}(z_{L−1} | k_{L−1})
//!                         · Π_{l<L−1} A_l[k_{l+1}, k_l] N_l(z_l | k_l),        z₀ = x,
//! ```
//!
//! a tree-structured (here chain) mixture whose upper components set per-sample weights on the
//! lower ones. The features `z_l` are computed once by the greedy stack and then held fixed as
//! observations (recomputing them from refined layers would make the "data" move with the
//! parameters, and the objective would no longer be a likelihood). With `A_l[t, ·] = π_l` and
//! `w = π_{L−1}` (the greedy weights) the layers are independent and the log-likelihood is
//! exactly the sum of the greedy layers' log-likelihoods; EM from there — forward–backward over
//! the chain for the E-step, each layer's own M-step with the joint posteriors `γ_l[n, k]`,
//! `A_l ∝ Σ_n ξ_l[n, t, c]`, `w ∝ Σ_n γ_{L−1}[n, t]` — can only raise it, and does as soon as
//! the layers' components co-occur non-trivially.

use gmm_models::host::log_sum_exp;
use gmm_models::{Encoded, Mixture, SufficientStats, Tensor, TensorData, to_host_f64};
use gmm_training::config::{RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::encode::encode_rows;
use gmm_training::folder::{create_dir, layer_dir, write_json};
use gmm_training::labels::{nmi, purity};
use gmm_training::{Layer, RunOptions, SavedLayer, TrainError, map_layer, with_layer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// One layer's figures under the chain model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerFigures {
    /// Mean test `log p_l(z_l)` of the layer's input under its marginal mixture
    /// `Σ_k ρ_l[k] N_l(z_l | k)` (`ρ` the chain's marginal weights), nats.
    pub test_log_likelihood: f64,
    /// Purity of `argmax_k p(k_l = k | x, z)` on the test digits (MNIST).
    pub purity: Option<f64>,
    /// NMI of the same.
    pub nmi: Option<f64>,
}

/// The chain's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainFigures {
    /// Mean train `log p(x, z₁, …)`, nats.
    pub train_joint: f64,
    /// Mean test `log p(x, z₁, …)`, nats.
    pub test_joint: f64,
    /// Per layer, bottom up.
    pub layers: Vec<LayerFigures>,
}

/// What refinement did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopDownReport {
    /// Mean train joint log-likelihood at the start of every EM iteration, then at the end.
    pub log_likelihood: Vec<f64>,
    /// The greedy stack read as a chain (independent layers).
    pub before: ChainFigures,
    /// After joint EM.
    pub after: ChainFigures,
    /// `A_l[t, c]`, bottom up: the upper component's weights over the lower components.
    pub transitions: Vec<Vec<Vec<f64>>>,
    /// `w_t`, the top layer's weights.
    pub top_weights: Vec<f64>,
    /// Wall time of the EM iterations, seconds.
    pub seconds: f64,
}

/// The chain's parameters beside the layers'.
#[derive(Debug, Clone)]
struct Chain {
    /// `log A_l`, `[K_{l+1}][K_l]` flattened, for l = 0..L−1.
    log_a: Vec<Vec<f64>>,
    /// `log w`, `[K_{L−1}]`.
    log_w: Vec<f64>,
}

/// Posterior figures of one E-step pass.
struct Posteriors {
    /// Mean joint log-likelihood.
    mean: f64,
    /// `γ_l[n, k]`, per layer, `[N·K_l]`.
    gamma: Vec<Vec<f64>>,
    /// `Σ_n ξ_l[n, t, c]`, `[K_{l+1}·K_l]`.
    xi: Vec<Vec<f64>>,
}

/// Forward–backward over the chain for every sample; `e[l]` holds `log N_l(z_l(n) | k)`
/// (`[N·K_l]`).
fn e_step(chain: &Chain, e: &[Vec<f64>], n: usize) -> Posteriors {
    let layers = e.len();
    let ks: Vec<usize> = e.iter().map(|v| v.len() / n).collect();
    let mut gamma: Vec<Vec<f64>> = ks.iter().map(|&k| vec![0.0; n * k]).collect();
    let mut xi: Vec<Vec<f64>> = (0..layers - 1).map(|l| vec![0.0; ks[l + 1] * ks[l]]).collect();
    let mut total = 0.0;
    let mut beta: Vec<Vec<f64>> = ks.iter().map(|&k| vec![0.0; k]).collect();
    let mut msg: Vec<Vec<f64>> = ks.iter().map(|&k| vec![0.0; k]).collect();
    let mut g: Vec<Vec<f64>> = ks.iter().map(|&k| vec![0.0; k]).collect();
    let mut scratch = Vec::new();
    for s in 0..n {
        // Upward: β_l[t] = e_l[t] + m_l[t], m_l[t] = log Σ_c A_{l−1}[t, c] exp β_{l−1}[c].
        beta[0].copy_from_slice(&e[0][s * ks[0]..(s + 1) * ks[0]]);
        for l in 1..layers {
            for t in 0..ks[l] {
                scratch.clear();
                let row = &chain.log_a[l - 1][t * ks[l - 1]..(t + 1) * ks[l - 1]];
                scratch.extend(row.iter().zip(&beta[l - 1]).map(|(a, b)| a + b));
                msg[l][t] = log_sum_exp(&scratch);
                beta[l][t] = e[l][s * ks[l] + t] + msg[l][t];
            }
        }
        let top = layers - 1;
        scratch.clear();
        scratch.extend(chain.log_w.iter().zip(&beta[top]).map(|(w, b)| w + b));
        let log_p = log_sum_exp(&scratch);
        total += log_p;
        for t in 0..ks[top] {
            g[top][t] = scratch[t] - log_p;
        }
        // Downward: ξ_l[t, c] = exp(γ_{l+1}[t] − m_{l+1}[t] + log A_l[t, c] + β_l[c]).
        for l in (0..top).rev() {
            g[l].iter_mut().for_each(|v| *v = f64::NEG_INFINITY);
            for t in 0..ks[l + 1] {
                let head = g[l + 1][t] - msg[l + 1][t];
                for c in 0..ks[l] {
                    let v = head + chain.log_a[l][t * ks[l] + c] + beta[l][c];
                    xi[l][t * ks[l] + c] += v.exp();
                    let cur = g[l][c];
                    let hi = cur.max(v);
                    g[l][c] = if hi == f64::NEG_INFINITY {
                        hi
                    } else {
                        hi + ((cur - hi).exp() + (v - hi).exp()).ln()
                    };
                }
            }
        }
        for l in 0..layers {
            for k in 0..ks[l] {
                gamma[l][s * ks[l] + k] = g[l][k].exp();
            }
        }
    }
    Posteriors { mean: total / n as f64, gamma, xi }
}

/// A layer of the stack with its fixed train and test inputs.
struct Level {
    layer: Layer,
    /// How the layer was saved (input shape, config), to save the refined one alike.
    saved: SavedLayer,
    train: Encoded,
    test: Encoded,
    /// Components.
    k: usize,
}

/// `log N_l(z | k)` of every sample, `[N·K]` on the host.
fn emissions(layer: &Layer, data: &Encoded) -> Result<Vec<f64>, TrainError> {
    Ok(data.concat_batches(|_, x| with_layer!(layer, m => to_host_f64(m.log_prob(x.clone()))))?)
}

/// The layer's M-step with the joint posteriors `γ` as responsibilities.
fn m_step(layer: Layer, data: &Encoded, gamma: &[f64]) -> Result<Layer, TrainError> {
    Ok(map_layer!(layer, m => m_step_with(m, data, gamma)?))
}

fn m_step_with<M: Mixture>(m: M, data: &Encoded, gamma: &[f64]) -> Result<M, TrainError> {
    let k = m.n_components();
    let offsets = data.offsets();
    let batch = |b: usize, x: &Tensor<2>| {
        let (row, rows) = (offsets[b], x.dims()[0]);
        let r: Vec<f32> = gamma[row * k..(row + rows) * k].iter().map(|&v| v as f32).collect();
        let r = Tensor::<2>::from_data(TensorData::new(r, [rows, k]), &x.device());
        m.batch_stats(x.clone(), r)
    };
    let stats = data.fold_batches(m.zero_stats(), batch, |acc, s| Ok(acc.merge(s)))?;
    Ok(m.m_step(stats, data.n)?.0)
}

fn figures(
    chain: &Chain,
    levels: &[Level],
    labels: Option<&[u8]>,
    train_mean: f64,
) -> Result<ChainFigures, TrainError> {
    let e: Vec<Vec<f64>> =
        levels.iter().map(|l| emissions(&l.layer, &l.test)).collect::<Result<_, _>>()?;
    let n = levels[0].test.n;
    let post = e_step(chain, &e, n);
    // Marginal weights: ρ_top = w, ρ_l[c] = Σ_t ρ_{l+1}[t] A_l[t, c].
    let top = levels.len() - 1;
    let mut rho: Vec<Vec<f64>> = vec![Vec::new(); levels.len()];
    rho[top] = chain.log_w.iter().map(|v| v.exp()).collect();
    for l in (0..top).rev() {
        let kl = levels[l].layer.n_components();
        rho[l] = (0..kl)
            .map(|c| {
                rho[l + 1]
                    .iter()
                    .enumerate()
                    .map(|(t, r)| r * chain.log_a[l][t * kl + c].exp())
                    .sum()
            })
            .collect();
    }
    let mut layers = Vec::new();
    for (l, level) in levels.iter().enumerate() {
        let k = level.layer.n_components();
        let log_rho: Vec<f64> = rho[l].iter().map(|v| v.ln()).collect();
        let mut sum = 0.0;
        let mut buf = vec![0.0; k];
        for s in 0..n {
            for c in 0..k {
                buf[c] = log_rho[c] + e[l][s * k + c];
            }
            sum += log_sum_exp(&buf);
        }
        let assign: Vec<usize> = (0..n)
            .map(|s| {
                let row = &post.gamma[l][s * k..(s + 1) * k];
                (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0)
            })
            .collect();
        layers.push(LayerFigures {
            test_log_likelihood: sum / n as f64,
            purity: labels.map(|y| purity(&assign, y)),
            nmi: labels.map(|y| nmi(&assign, y)),
        });
    }
    Ok(ChainFigures { train_joint: train_mean, test_joint: post.mean, layers })
}

/// Refines a stack run folder by joint EM on the chain likelihood (module docs), `iterations`
/// times; writes the refined layers (`layer<i>/`) and `topdown.json` into `opts.out_dir`.
pub fn refine_run(
    run_dir: &Path,
    iterations: usize,
    opts: &RunOptions,
) -> Result<TopDownReport, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    if config.stack().len() < 2 {
        return Err(TrainError::file(run_dir, "top-down refinement needs a stack of 2+ layers"));
    }
    let test = load_split(&config.data, &opts.data_root, Split::Test, config.seed)?;
    let mut levels = load_levels(run_dir, &config, opts)?;
    let top = levels.len() - 1;
    let mut chain = independent_chain(&levels)?;
    let labels = test.labels.as_deref();
    let n = levels[0].train.n;

    let e: Vec<Vec<f64>> =
        levels.iter().map(|l| emissions(&l.layer, &l.train)).collect::<Result<_, _>>()?;
    let mut post = e_step(&chain, &e, n);
    let before = figures(&chain, &levels, labels, post.mean)?;
    opts.progress.log(&format!("greedy stack as a chain: train joint {:.4} nats", post.mean));
    let mut history = vec![post.mean];
    let t0 = Instant::now();
    for it in 0..iterations {
        m_step_chain(&mut chain, &levels, &post, n);
        for (l, level) in levels.iter_mut().enumerate() {
            level.layer = m_step(level.layer.clone(), &level.train, &post.gamma[l])?;
        }
        let e: Vec<Vec<f64>> =
            levels.iter().map(|l| emissions(&l.layer, &l.train)).collect::<Result<_, _>>()?;
        post = e_step(&chain, &e, n);
        if !post.mean.is_finite() {
            return Err(TrainError::Failed(format!(
                "joint EM of {} diverged at iteration {it}",
                run_dir.display()
            )));
        }
        history.push(post.mean);
        opts.progress.log(&format!("iteration {}: train joint {:.4} nats", it + 1, post.mean));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let after = figures(&chain, &levels, labels, post.mean)?;

    save_levels(&levels, &opts.out_dir)?;
    let report = TopDownReport {
        log_likelihood: history,
        before,
        after,
        transitions: (0..top)
            .map(|l| {
                let kl = levels[l].k;
                chain.log_a[l].chunks(kl).map(|r| r.iter().map(|v| v.exp()).collect()).collect()
            })
            .collect(),
        top_weights: chain.log_w.iter().map(|v| v.exp()).collect(),
        seconds,
    };
    write_json(&opts.out_dir.join("topdown.json"), &report)?;
    Ok(report)
}

/// The greedy stack as a chain of independent layers: `A_l[t, ·] = π_l`, `w = π_top`.
fn independent_chain(levels: &[Level]) -> Result<Chain, TrainError> {
    let mut log_a = Vec::new();
    for l in 0..levels.len() - 1 {
        let pi = levels[l].layer.log_weights()?;
        log_a.push((0..levels[l + 1].k).flat_map(|_| pi.clone()).collect());
    }
    Ok(Chain { log_a, log_w: levels[levels.len() - 1].layer.log_weights()? })
}

/// The refined layers, each in its folder of the run folder `out`.
fn save_levels(levels: &[Level], out: &Path) -> Result<(), TrainError> {
    create_dir(out)?;
    for (i, level) in levels.iter().enumerate() {
        let dir = layer_dir(out, i, levels.len());
        create_dir(&dir)?;
        level.saved.save(&level.layer, &dir)?;
    }
    Ok(())
}

/// Every layer of the stack with its fixed train and test inputs (the greedy features).
fn load_levels(
    run_dir: &Path,
    config: &RunConfig,
    opts: &RunOptions,
) -> Result<Vec<Level>, TrainError> {
    let stack = config.stack();
    let train = load_split(&config.data, &opts.data_root, Split::Train, config.seed)?;
    let test = load_split(&config.data, &opts.data_root, Split::Test, config.seed)?;
    let (mut rows_train, mut rows_test) = (train.pixels, test.pixels);
    let mut levels = Vec::new();
    for (i, spec) in stack.iter().enumerate() {
        let (saved, layer) = SavedLayer::load(&layer_dir(run_dir, i, stack.len()), &opts.device)?;
        let batch = spec.em.batch_size;
        let (tr, te) = with_layer!(&layer, m => (
            encode_rows(m, &rows_train, batch, &opts.device)?,
            encode_rows(m, &rows_test, batch, &opts.device)?,
        ));
        if let Some(next) = stack.get(i + 1).and_then(|s| s.input) {
            rows_train = with_layer!(&layer, m => next.compute(m, &tr)?);
            rows_test = with_layer!(&layer, m => next.compute(m, &te)?);
        }
        let k = layer.n_components();
        levels.push(Level { layer, saved, train: tr, test: te, k });
    }
    Ok(levels)
}

/// The chain's M-step: `w ∝ Σ_n γ_top[n, t]`, `A_l[t, c] ∝ Σ_n ξ_l[n, t, c]`.
fn m_step_chain(chain: &mut Chain, levels: &[Level], post: &Posteriors, n: usize) {
    let top = levels.len() - 1;
    let kt = levels[top].k;
    chain.log_w = (0..kt)
        .map(|t| ((0..n).map(|s| post.gamma[top][s * kt + t]).sum::<f64>() / n as f64).ln())
        .collect();
    for l in 0..top {
        let (ku, kl) = (levels[l + 1].k, levels[l].k);
        for t in 0..ku {
            let row = &post.xi[l][t * kl..(t + 1) * kl];
            let total: f64 = row.iter().sum();
            for (a, &x) in chain.log_a[l][t * kl..(t + 1) * kl].iter_mut().zip(row) {
                *a = (x.max(1e-300) / total.max(1e-300)).ln();
            }
        }
    }
}

impl std::fmt::Display for TopDownReport {
    /// Before and after: the joint likelihoods, and per layer its test likelihood and label
    /// agreement; then the iterations and their time.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (what, c) in [("before", &self.before), ("after", &self.after)] {
            writeln!(
                f,
                "{what}: joint log p(x, z…) train {:.4} test {:.4} nats/sample",
                c.train_joint, c.test_joint
            )?;
            for (i, l) in c.layers.iter().enumerate() {
                let q = match (l.purity, l.nmi) {
                    (Some(p), Some(n)) => format!(", purity {p:.3}, NMI {n:.3}"),
                    _ => String::new(),
                };
                writeln!(f, "  layer {i}: test LL {:.4}{q}", l.test_log_likelihood)?;
            }
        }
        let iterations = self.log_likelihood.len().saturating_sub(1);
        write!(f, "{iterations} joint EM iterations in {:.1} s", self.seconds)
    }
}
