//! The deep GMM of van den Oord & Schrauwen (NIPS 2014; models.md §7): a network of linear
//! transformations whose paths are the components of a Gaussian mixture.
//!
//! The E-step reuses the full-covariance GMM: the K = Π N_l path components are materialised
//! (mean `μ_p`, precision Cholesky factor of `Σ_p`) as a [`FullGmm`] once per parameter set, and
//! its log-densities and per-path sufficient statistics are used as they are. The M-step
//! ([`crate::deep_m_step`]) never touches the data: it raises the expected complete-data
//! log-likelihood over the node transformations by gradient steps. The hard E-step's best path
//! is found layer by layer ([`crate::deep_search`]).

use crate::deep_m_step::{NodeParams, PathStats};
use crate::mixture::{
    BatchTerms, EStepRows, Encoded, Init, MStepReport, Mixture, check_rows, default_e_step_batch,
    default_e_step_rows, host_vec, responsibilities, to_host_f64,
};
use crate::{FullGmm, FullGmmConfig, FullStats, ModelError, RESP_FLOOR, is_cpu, linalg};
use burn::module::{Module, Param};
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// How the E-step assigns samples to paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathAssignment {
    /// The paper's hard EM: each sample goes to its best path, found layer by layer with
    /// `beam` partial paths kept per layer ([`crate::deep_search`]); the per-iteration
    /// figure is the best-path bound `mean_n max_p log π_p N(x_n | p)`.
    #[default]
    Hard,
    /// Exact EM: posteriors over every path (Π N_l log-densities per sample); the
    /// per-iteration figure is the log-likelihood itself.
    Soft,
    /// Sparse EM (Neal & Hinton's restricted posteriors): each sample's posterior over the
    /// `min(beam, N_1 ⋯ N_{L−1}) · N_L` whole paths the hard E-step's search scores at its last
    /// layer, zero elsewhere; `N_1 + beam · (N_2 + … + N_L)` node transforms per sample instead
    /// of Π N_l. The per-iteration figure is the bound `mean_n log Σ_{p reached} π_p N(x_n | p)`
    /// (≤ the log-likelihood, equal to it with a full beam); the final figures are the exact
    /// density.
    SoftBeam,
}

fn default_reg() -> f64 {
    1e-6
}
fn default_beam() -> usize {
    16
}
fn default_m_step_iters() -> usize {
    100
}
fn default_learning_rate() -> f64 {
    1e-2
}
fn default_init_noise() -> f64 {
    0.1
}

/// Hyper-parameters of a [`DeepGmm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepGmmConfig {
    /// Nodes per layer, `[N_1, …, N_L]`; layer 1 is the one nearest the data.
    pub nodes: Vec<usize>,
    /// `e_step = "hard"` (best path, the paper's), `"soft"` (every path) or `"soft_beam"` (the
    /// paths the hard E-step's search reaches).
    #[serde(default)]
    pub e_step: PathAssignment,
    /// Partial paths kept per sample after each layer of the `hard` and `soft_beam` E-steps'
    /// search; with `beam ≥ N_1 ⋯ N_{L−1}` the search is exhaustive.
    #[serde(default = "default_beam")]
    pub beam: usize,
    /// Added to every path's covariance statistics, `C_p + reg_covar·I` (the full GMM's
    /// `reg_covar`, applied where the M-step sees the data).
    #[serde(default = "default_reg")]
    pub reg_covar: f64,
    /// Adam steps of each M-step.
    #[serde(default = "default_m_step_iters")]
    pub m_step_iters: usize,
    /// Adam's learning rate on the relative updates `(I + Δ)` of the node transforms.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Scale of the seeded perturbation of the identity that starts the layers above the first.
    #[serde(default = "default_init_noise")]
    pub init_noise: f64,
    /// A trained full-covariance GMM of `N_1` components (a layer folder: a run's, or a shipped
    /// checkpoint's) whose components become layer 1's nodes instead of a flat GMM fitted from
    /// `init`; read when training starts (relative paths from the working directory, as a
    /// stack's `reuse`), never again (a trained network holds its own nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_layer: Option<std::path::PathBuf>,
    /// A trained deep GMM (a layer folder) of as many layers, layer l with `N'_l` nodes
    /// dividing this network's `N_l`, whose nodes this one starts from, each copied
    /// `N_l / N'_l` times with antithetic perturbations ([`DeepGmm::widening`]): a network
    /// grown from a trained narrower one; read when training starts, as `first_layer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widen_from: Option<std::path::PathBuf>,
}

/// The most paths (components) a network may have: each is a D×D factorisation per M-step
/// and a column of every E-step's `[N, K]` posteriors. 16,384 admits `nodes = [200, 8, 8]`
/// (12,800 paths) on BSDS300 (D = 63): its M-step holds a few `[K, D, D]` f32 tensors
/// (203 MB each) and an 8192-row batch's posteriors take 420 MB.
pub const MAX_PATHS: usize = 16_384;

impl DeepGmmConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |field, reason: String| Err(ModelError::InvalidConfig { field, reason });
        if self.nodes.is_empty() || self.nodes.contains(&0) {
            return bad(
                "nodes",
                format!("needs at least one layer of at least one node, got {:?}", self.nodes),
            );
        }
        match self.n_paths() {
            Some(k) if k <= MAX_PATHS => {}
            _ => {
                return bad(
                    "nodes",
                    format!("{:?} makes more than {MAX_PATHS} paths (components)", self.nodes),
                );
            }
        }
        if self.beam == 0 {
            return bad("beam", "must be at least 1".into());
        }
        if self.m_step_iters == 0 {
            return bad("m_step_iters", "must be at least 1".into());
        }
        if self.first_layer.is_some() && self.widen_from.is_some() {
            return bad(
                "widen_from",
                "starts every layer from a narrower network, first_layer only layer 1 from a \
                 flat GMM; remove one of the two"
                    .into(),
            );
        }
        ModelError::check_positive("reg_covar", self.reg_covar)?;
        ModelError::check_positive("learning_rate", self.learning_rate)?;
        ModelError::check_positive("init_noise", self.init_noise)
    }

    /// `Π N_l`, or `None` on overflow.
    pub fn n_paths(&self) -> Option<usize> {
        self.nodes.iter().try_fold(1usize, |k, &n| k.checked_mul(n))
    }

    /// A network over `dim`-dimensional rows: identity transforms, zero biases, uniform path
    /// weights; EM's initialisation sets real starting values.
    pub fn init(&self, dim: usize, device: &Device) -> Result<DeepGmm, ModelError> {
        self.validate()?;
        if dim == 0 {
            return Err(ModelError::InvalidConfig {
                field: "input",
                reason: "has no dimensions".into(),
            });
        }
        let m: usize = self.nodes.iter().sum();
        let eye: Vec<f64> =
            (0..dim * dim).map(|k| if k / dim == k % dim { 1.0 } else { 0.0 }).collect();
        let k = self.n_paths().unwrap_or(1);
        let nodes = NodeParams { a: eye.repeat(m), b: vec![0.0; m * dim], dim };
        DeepGmm::from_parts(&nodes, &vec![1.0 / k as f64; k], self, device)
    }
}

/// A deep GMM: L layers of nodes, node j of layer l a transform `x ↦ A_{l,j} x + b_{l,j}`;
/// a path `p = (j_1, …, j_L)` is the Gaussian component
///
/// ```text
/// x = A_{1,j1}(A_{2,j2}(… (A_{L,jL} z + b_{L,jL}) …) + b_{2,j2}) + b_{1,j1},   z ~ N(0, I_D)
/// x | p ~ N(μ_p, M_p M_pᵀ),  M_p = A_{1,j1} ⋯ A_{L,jL},  μ_p = b_{1,j1} + A_{1,j1} b_{2,j2} + …
/// p(x) = Σ_p π_p N(x | μ_p, M_p M_pᵀ)
/// ```
///
/// with free path weights `π_p` (K − 1 parameters; the M-step sets `π_p = N_p / N`). Paths
/// are numbered with layer 1 most significant: `p = ((j_1 N_2 + j_2) N_3 + j_3) …`.
///
/// # Shapes
/// - `transforms`: `[M, D, D]` and `biases`: `[M, D]`, `M = Σ N_l` nodes, layer 1's first;
///   `log_weights`: `[K]`, `K = Π N_l`; input `[N, D]`.
#[derive(Module, Debug)]
pub struct DeepGmm {
    /// `A_{l,j}`, `[M, D, D]` row-major, layer 1's nodes first.
    pub transforms: Param<Tensor<3>>,
    /// `b_{l,j}`, `[M, D]`.
    pub biases: Param<Tensor<2>>,
    /// `log π_p`, `[K]`.
    pub log_weights: Param<Tensor<1>>,
    /// The hyper-parameters (nodes per layer, E-step, M-step settings).
    #[module(skip)]
    pub config: DeepGmmConfig,
    /// The path components and node inverses, built from the parameters on first use.
    #[module(skip)]
    materialised: OnceLock<Result<Materialised, String>>,
    /// Where [`Mixture::initialize`] takes the start from when it is a trained model rather
    /// than a flat GMM fitted there; not a parameter, not saved.
    #[module(skip)]
    start: Option<Start>,
}

/// A trained model a network starts from.
#[derive(Debug, Clone)]
enum Start {
    /// Layer 1's nodes are its components ([`DeepGmm::starting_from`]).
    FirstLayer(FullGmm),
    /// Every node is a copy of one of its nodes ([`DeepGmm::widening`]).
    Narrower(Box<DeepGmm>),
}

/// What the E-step uses, derived from the parameters.
#[derive(Debug, Clone)]
pub(crate) struct Materialised {
    /// The K path components as a full-covariance GMM.
    pub paths: FullGmm,
    /// Per layer l, its nodes' inverses `W_m = A_m⁻¹` side by side, `[D, N_l·D]` with entry
    /// `(i, j·D + o) = (W_{o_l + j})_{o i}`, so that one product `y [R, D] · maps[l]` gives every
    /// node's `W_j y` (the search runs the network from the data to `z`).
    pub maps: Vec<Tensor<2>>,
    /// Per layer l, `c_m = −A_m⁻¹ b_m` of its nodes, `[N_l, D]`, so that node m maps
    /// `y ↦ W_m y + c_m` towards `z`.
    pub offsets: Vec<Tensor<2>>,
    /// Per layer l, `log |det W_m|` of its nodes, `[N_l]`.
    pub log_det_inverse: Vec<Tensor<1>>,
    /// Per layer l, `log Σ_{paths starting with the prefix} π_p` of every prefix
    /// `(j_1, …, j_l)`, `[N_1 ⋯ N_l]` ([`DeepGmm::prefix_log_weights`]).
    pub prefix_log_weights: Vec<Tensor<1>>,
}

impl DeepGmm {
    /// Builds a network from host parameters (row-major `A` `[M, D, D]`, `b` `[M, D]`) and path
    /// weights `[K]`.
    pub fn from_parts(
        nodes: &NodeParams,
        weights: &[f64],
        config: &DeepGmmConfig,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let d = nodes.dim;
        let m: usize = config.nodes.iter().sum();
        let k = config.n_paths().unwrap_or(0);
        if nodes.a.len() != m * d * d || nodes.b.len() != m * d || weights.len() != k {
            return Err(ModelError::InputShape { expected: m * d * d, got: nodes.a.len() });
        }
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let lw: Vec<f32> = weights.iter().map(|&w| w.max(1e-30).ln() as f32).collect();
        Ok(Self {
            transforms: Param::from_data(TensorData::new(f(&nodes.a), [m, d, d]), device),
            biases: Param::from_data(TensorData::new(f(&nodes.b), [m, d]), device),
            log_weights: Param::from_data(TensorData::new(lw, [k]), device),
            config: config.clone(),
            materialised: OnceLock::new(),
            start: None,
        })
    }

    /// This network, to be started by [`Mixture::initialize`] from `first`'s components as
    /// layer 1's nodes (node j: `b = μ_j`, `A = L_j` with `Σ_j = L_j L_jᵀ`) instead of a flat
    /// GMM fitted there; `first` must have `N_1` components over the network's `D`.
    pub fn starting_from(mut self, first: FullGmm) -> Result<Self, ModelError> {
        let (n1, d) = (self.config.nodes[0], self.dim());
        let (k, first_d) = (first.n_components(), first.dim());
        if k != n1 || first_d != d {
            return Err(ModelError::InvalidConfig {
                field: "first_layer",
                reason: format!(
                    "a full GMM of {k} components over {first_d} dimensions, but this network's \
                     first layer has {n1} nodes over {d}"
                ),
            });
        }
        self.start = Some(Start::FirstLayer(first));
        Ok(self)
    }

    /// This network, to be started by [`Mixture::initialize`] from `narrower`'s nodes
    /// ([`DeepGmm::widened`]): as many layers over the same `D`, each of its `N'_l` dividing
    /// this network's `N_l`.
    pub fn widening(mut self, narrower: DeepGmm) -> Result<Self, ModelError> {
        let (ours, theirs) = (&self.config.nodes, &narrower.config.nodes);
        let fits = ours.len() == theirs.len()
            && ours.iter().zip(theirs).all(|(&n, &n_src)| n % n_src == 0)
            && narrower.dim() == self.dim();
        if !fits {
            return Err(ModelError::InvalidConfig {
                field: "widen_from",
                reason: format!(
                    "a network of nodes = {theirs:?} over {} dimensions, but this one has nodes = \
                     {ours:?} over {}: it needs as many layers, each with a divisor of this \
                     one's nodes",
                    narrower.dim(),
                    self.dim()
                ),
            });
        }
        self.start = Some(Start::Narrower(Box::new(narrower)));
        Ok(self)
    }

    /// This network's start from the trained `narrower` one (N'_l nodes in layer l, `f_l =
    /// N_l / N'_l`): node j of layer l copies `narrower`'s node `j / f_l`, and the copies
    /// `2i` and `2i + 1` of a node are perturbed antithetically,
    ///
    /// ```text
    /// A' = A (I ± E),  b' = b ± A e,   E = init_noise · G / √D,  e = init_noise · g
    /// ```
    ///
    /// (one seeded standard normal `G` `[D, D]` and `g` `[D]` per pair; an odd last copy, and
    /// so every node of a layer that is not widened, is the node itself), so that a pair's
    /// mean is its node and each copy is the node applied after `x ↦ (I ± E) x ± e`. Path
    /// `(j_1, …, j_L)` takes the weight of `narrower`'s path `(j_1 / f_1, …, j_L / f_L)`
    /// divided by `Π f_l`: with `init_noise → 0` the density is `narrower`'s.
    fn widened(&self, narrower: &DeepGmm, rng: &mut ChaCha8Rng) -> Result<Self, ModelError> {
        use rand_distr::{Distribution, StandardNormal};
        let d = self.dim();
        let source = narrower.nodes_host()?;
        let (ours, theirs) = (&self.config.nodes, &narrower.config.nodes);
        let noise = self.config.init_noise;
        let scale = noise / (d as f64).sqrt();
        let m: usize = ours.iter().sum();
        let (mut a, mut b) = (Vec::with_capacity(m * d * d), Vec::with_capacity(m * d));
        let mut first = 0;
        for (&n, &n_src) in ours.iter().zip(theirs) {
            let copies = n / n_src;
            for node in first..first + n_src {
                let a_src = &source.a[node * d * d..(node + 1) * d * d];
                let b_src = &source.b[node * d..(node + 1) * d];
                for _ in 0..copies / 2 {
                    let e_mat: Vec<f64> = (0..d * d)
                        .map(|_| scale * Distribution::<f64>::sample(&StandardNormal, &mut *rng))
                        .collect();
                    let e_vec: Vec<f64> = (0..d)
                        .map(|_| noise * Distribution::<f64>::sample(&StandardNormal, &mut *rng))
                        .collect();
                    let ae_mat = linalg::matmul(a_src, &e_mat, d);
                    for sign in [1.0, -1.0] {
                        a.extend(a_src.iter().zip(&ae_mat).map(|(x, y)| x + sign * y));
                        for r in 0..d {
                            let ae: f64 = (0..d).map(|t| a_src[r * d + t] * e_vec[t]).sum();
                            b.push(b_src[r] + sign * ae);
                        }
                    }
                }
                if copies % 2 == 1 {
                    a.extend_from_slice(a_src);
                    b.extend_from_slice(b_src);
                }
            }
            first += n_src;
        }
        let w_src = narrower.weights()?;
        let copies: usize = ours.iter().zip(theirs).map(|(n, n_src)| n / n_src).product();
        let weights: Vec<f64> = (0..self.n_components())
            .map(|p| {
                let q = path_locals(ours, p)
                    .iter()
                    .zip(ours.iter().zip(theirs))
                    .fold(0, |q, (&j, (&n, &n_src))| q * n_src + j / (n / n_src));
                w_src[q] / copies as f64
            })
            .collect();
        Self::from_parts(&NodeParams { a, b, dim: d }, &weights, &self.config, &self.device())
    }

    /// Input dimension D.
    pub fn dim(&self) -> usize {
        self.biases.val().dims()[1]
    }

    /// Layers L.
    pub fn depth(&self) -> usize {
        self.config.nodes.len()
    }

    pub(crate) fn device(&self) -> Device {
        self.biases.val().device()
    }

    /// The nodes' `A` and `b` on the host, in f64.
    pub fn nodes_host(&self) -> Result<NodeParams, ModelError> {
        Ok(NodeParams {
            a: to_host_f64(self.transforms.val())?,
            b: to_host_f64(self.biases.val())?,
            dim: self.dim(),
        })
    }

    /// The global node indices `[j_1 + o_1, …, j_L + o_L]` of path `p` (`o_l = Σ_{l'<l} N_l'`).
    pub fn path_nodes(&self, p: usize) -> Vec<usize> {
        path_nodes(&self.config.nodes, p)
    }

    /// The path components as a full-covariance GMM (the dense oracle of the density).
    pub fn path_mixture(&self) -> Result<&FullGmm, ModelError> {
        Ok(&self.materialised()?.paths)
    }

    pub(crate) fn materialised(&self) -> Result<&Materialised, ModelError> {
        self.materialised
            .get_or_init(|| self.materialise().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| ModelError::NonFinite {
                what: format!("deep GMM path components ({e})"),
                hint: "raise reg_covar or lower learning_rate".into(),
            })
    }

    /// `μ_p`, `Σ_p = M_p M_pᵀ` for every path (host f64, paths in parallel), their precision
    /// Cholesky factors, and the node inverses.
    fn materialise(&self) -> Result<Materialised, ModelError> {
        use rayon::prelude::*;
        let nodes = self.nodes_host()?;
        let d = nodes.dim;
        let k = self.n_components();
        let parts: Vec<Result<(Vec<f64>, Vec<f64>), ModelError>> = (0..k)
            .into_par_iter()
            .map(|p| {
                let (mu, m) = nodes.path_affine(&self.path_nodes(p));
                let mut cov = vec![0.0; d * d];
                for i in 0..d {
                    for j in 0..=i {
                        let v: f64 = (0..d).map(|t| m[i * d + t] * m[j * d + t]).sum();
                        cov[i * d + j] = v;
                        cov[j * d + i] = v;
                    }
                }
                let u = linalg::precision_cholesky(&cov, d).map_err(|pivot| {
                    ModelError::NotPositiveDefinite {
                        component: p,
                        pivot,
                        hint: "a node transform became singular; raise reg_covar".into(),
                    }
                })?;
                Ok((mu, u))
            })
            .collect();
        let mut means = Vec::with_capacity(k * d);
        let mut precs = Vec::with_capacity(k * d * d);
        for part in parts {
            let (mu, u) = part?;
            means.extend(mu);
            precs.extend(u);
        }
        let weights = self.weights()?;
        let full = FullGmmConfig {
            n_components: k,
            zero_mean: false,
            reg_covar: self.config.reg_covar,
            empty_components: Default::default(),
        };
        let device = self.device();
        let paths = FullGmm::from_parts(&means, &precs, &weights, &full, &device);
        let (w, c, log_det) = nodes.inverses()?;
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let (mut maps, mut offsets, mut log_dets) = (Vec::new(), Vec::new(), Vec::new());
        let mut first = 0;
        for &nl in &self.config.nodes {
            let mut map = vec![0f32; d * nl * d];
            for j in 0..nl {
                let wj = &w[(first + j) * d * d..(first + j + 1) * d * d];
                for o in 0..d {
                    for i in 0..d {
                        map[i * nl * d + j * d + o] = wj[o * d + i] as f32;
                    }
                }
            }
            maps.push(Tensor::from_data(TensorData::new(map, [d, nl * d]), &device));
            let c_l = f(&c[first * d..(first + nl) * d]);
            offsets.push(Tensor::from_data(TensorData::new(c_l, [nl, d]), &device));
            let ld = f(&log_det[first..first + nl]);
            log_dets.push(Tensor::from_data(TensorData::new(ld, [nl]), &device));
            first += nl;
        }
        Ok(Materialised {
            paths,
            maps,
            offsets,
            log_det_inverse: log_dets,
            prefix_log_weights: self
                .prefix_log_weights()?
                .iter()
                .map(|w| Tensor::from_data(TensorData::new(f(w), [w.len()]), &device))
                .collect(),
        })
    }

    /// Log-weights of every path prefix: entry l (0-based) is `[N_1 ⋯ N_{l+1}]`,
    /// `log Σ_{paths starting with the prefix} π_p`; the last is `log π_p` itself.
    fn prefix_log_weights(&self) -> Result<Vec<Vec<f64>>, ModelError> {
        let mut level = to_host_f64(self.log_weights.val())?;
        let mut out = vec![level.clone()];
        for &n in self.config.nodes[1..].iter().rev() {
            level = level.chunks(n).map(crate::host::log_sum_exp).collect();
            out.push(level.clone());
        }
        out.reverse();
        Ok(out)
    }
}

/// The node of each layer, `[j_1, …, j_L]` (`j_l < nodes[l]`), of path
/// `p = ((j_1 N_2 + j_2) N_3 + j_3) …`.
fn path_locals(nodes: &[usize], p: usize) -> Vec<usize> {
    let mut rest = p;
    let mut local = vec![0; nodes.len()];
    for (l, &n) in nodes.iter().enumerate().rev() {
        local[l] = rest % n;
        rest /= n;
    }
    local
}

/// The global node indices of path `p` in a network with `nodes[l]` nodes in layer l.
pub fn path_nodes(nodes: &[usize], p: usize) -> Vec<usize> {
    let mut offset = 0;
    path_locals(nodes, p)
        .iter()
        .zip(nodes)
        .map(|(&j, &n)| {
            let g = offset + j;
            offset += n;
            g
        })
        .collect()
}

impl Mixture for DeepGmm {
    type Stats = FullStats;

    fn n_components(&self) -> usize {
        self.log_weights.val().dims()[0]
    }

    fn encoded_width(&self) -> usize {
        self.dim()
    }

    /// Rows are used as they are (after a finiteness check), as the full GMM's.
    fn encode(&self, samples: &[f32]) -> Result<Vec<f32>, ModelError> {
        check_rows(samples, self.dim(), "value")?;
        Ok(samples.to_vec())
    }

    /// `log N(x | μ_p, Σ_p)` of every path, by the materialised full GMM. A network whose
    /// components cannot be formed scores −∞ (the fit stops with the reason).
    fn log_prob(&self, x: Tensor<2>) -> Tensor<2> {
        match self.materialised() {
            Ok(m) => m.paths.log_prob(x),
            Err(_) => {
                let [n, _] = x.dims();
                Tensor::full([n, self.n_components()], f32::NEG_INFINITY, &x.device())
            }
        }
    }

    fn log_weights(&self) -> Tensor<1> {
        self.log_weights.val()
    }

    /// `M (D² + D)` node parameters and `K − 1` path weights (of the `D²` of the top layer's
    /// transforms only `D(D+1)/2` combinations reach the density; all are counted, as free).
    fn n_parameters(&self) -> usize {
        let (d, m) = (self.dim(), self.config.nodes.iter().sum::<usize>());
        m * (d * d + d) + self.n_components() - 1
    }

    fn zero_stats(&self) -> FullStats {
        FullStats::zeros(self.n_components())
    }

    /// Per path: `N_p`, `Σ r (x − μ_p)`, `Σ r (x − μ_p)(x − μ_p)ᵀ` (the full GMM's statistics).
    fn batch_stats(&self, x: Tensor<2>, resp: Tensor<2>) -> Result<FullStats, ModelError> {
        self.materialised()?.paths.batch_stats(x, resp)
    }

    fn stats_to_flat(&self, stats: &FullStats) -> Result<Vec<f64>, ModelError> {
        self.materialised()?.paths.stats_to_flat(stats)
    }

    fn stats_from_flat(&self, flat: &[f64]) -> Result<FullStats, ModelError> {
        self.materialised()?.paths.stats_from_flat(flat)
    }

    /// `π_p = N_p / N`, then the node transforms by Adam steps (`deep_m_step.rs`) from the
    /// current ones. Paths that received no sample are reported as emptied; they keep a
    /// vanishing weight (their nodes are shared with other paths and still move).
    fn m_step(self, stats: FullStats, n: usize) -> Result<(Self, MStepReport), ModelError> {
        let k = self.n_components();
        let mut report = MStepReport::default();
        let shifts = to_host_f64(self.materialised()?.paths.means.val())?;
        let d = self.dim();
        let mut paths = Vec::new();
        for (p, (nc, moments)) in stats.into_host()?.into_iter().enumerate() {
            match moments.filter(|_| nc > 1e-10 * n as f64) {
                Some((first, second)) => paths.push(PathStats {
                    path: p,
                    n: nc,
                    shift: shifts[p * d..(p + 1) * d].to_vec(),
                    first,
                    second,
                }),
                None => report.emptied.push(p),
            }
        }
        if paths.is_empty() {
            return Err(ModelError::NonFinite {
                what: "deep GMM: every path emptied".into(),
                hint: "check the data".into(),
            });
        }
        let weights: Vec<f64> = {
            let mut w = vec![0.0; k];
            for s in &paths {
                w[s.path] = s.n / n as f64;
            }
            let total: f64 = w.iter().sum();
            w.iter().map(|v| v / total).collect()
        };
        let (nodes, ascent) = crate::deep_m_step::optimise(&self, self.nodes_host()?, &paths, n)?;
        report.ascent = Some(ascent);
        let layer = Self::from_parts(&nodes, &weights, &self.config, &self.device())?;
        layer.materialised()?;
        Ok((layer, report))
    }

    /// Paths share nodes, so a network is never pruned (configs refuse `prune_below`).
    fn prune(self, _keep: &[usize]) -> Result<Self, ModelError> {
        Err(ModelError::InvalidConfig {
            field: "prune_below",
            reason: "a deep GMM's paths share their nodes and cannot be pruned".into(),
        })
    }

    /// Layer 1 from a flat GMM of `N_1` components: the trained one of
    /// [`DeepGmm::starting_from`] if given, else one started by `init` (k-means++, Lloyd's
    /// k-means or random samples, then one M-step): node j's `b = μ_j`, `A = L_j` with
    /// `Σ_j = L_j L_jᵀ`. The layers above start at the identity plus seeded noise,
    /// `A = I + init_noise · G / √D`, `b = init_noise · g` (G, g standard normal), which breaks
    /// the symmetry between the nodes of a layer; `π_p = π_{j_1} / (N_2 ⋯ N_L)`. A network
    /// widening a narrower one ([`DeepGmm::widening`]) starts from [`DeepGmm::widened`]
    /// instead, whatever `init`.
    fn initialize(
        mut self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
        use rand_distr::{Distribution, StandardNormal};
        let d = self.dim();
        let n1 = self.config.nodes[0];
        let flat = FullGmmConfig {
            n_components: n1,
            zero_mean: false,
            reg_covar: self.config.reg_covar,
            empty_components: Default::default(),
        };
        let first = match self.start.take() {
            Some(Start::Narrower(narrower)) => return self.widened(&narrower, rng),
            Some(Start::FirstLayer(trained)) => trained,
            None => flat.init(d, &self.device())?.initialize(data, init, rng)?,
        };
        let means = first.means_host()?;
        let u = to_host_f64(first.precision_cholesky.val())?;
        let pi = first.weights()?;
        let m: usize = self.config.nodes.iter().sum();
        let mut a = Vec::with_capacity(m * d * d);
        let mut b = Vec::with_capacity(m * d);
        for j in 0..n1 {
            a.extend(linalg::covariance_factor_from_precision_cholesky(
                &u[j * d * d..(j + 1) * d * d],
                d,
            ));
            b.extend(&means[j]);
        }
        let noise = self.config.init_noise;
        let scale = noise / (d as f64).sqrt();
        for _ in n1..m {
            for t in 0..d * d {
                let g: f64 = StandardNormal.sample(rng);
                a.push(if t / d == t % d { 1.0 } else { 0.0 } + scale * g);
            }
            for _ in 0..d {
                let g: f64 = StandardNormal.sample(rng);
                b.push(noise * g);
            }
        }
        let k = self.n_components();
        let per_first = k / n1;
        let weights: Vec<f64> = (0..k).map(|p| pi[p / per_first] / per_first as f64).collect();
        let nodes = NodeParams { a, b, dim: d };
        Self::from_parts(&nodes, &weights, &self.config, &self.device())
    }

    /// Soft: the posterior over every path. Hard: one-hot on the best path found layer by
    /// layer ([`crate::deep_search::best_paths`]), each row's objective its best-path
    /// log-joint `max_p log π_p N(x | p)`. Soft beam: the posterior over the paths that search
    /// reaches ([`crate::deep_search::reached_paths`]) scattered into `[N, K]`, each row's
    /// objective `log Σ_{p reached} π_p N(x | p)`.
    fn e_step_rows(&self, x: Tensor<2>, beta: f64) -> Result<EStepRows, ModelError> {
        let [n, _] = x.dims();
        let device = x.device();
        match self.searched_rows(x.clone(), beta)? {
            None => default_e_step_rows(self, x, beta),
            Some(rows) => Ok(EStepRows {
                resp: Tensor::<2>::zeros([n, self.n_components()], &device).scatter(
                    1,
                    rows.path,
                    rows.resp,
                    IndexingUpdateOp::Add,
                ),
                objective: rows.objective,
                log_likelihood: None,
            }),
        }
    }

    /// The hard and soft-beam E-steps on a CPU hand each path its rows straight from the
    /// search's `[N, C]` lists ([`FullGmm::stats_of_rows`]), without the dense `[N, K]`
    /// posterior (C = 1 or 128 of K = 3,200 paths): the same statistics, number for number.
    fn e_step_batch(&self, x: &Tensor<2>, beta: f64) -> Result<BatchTerms<FullStats>, ModelError> {
        if !is_cpu(&x.device()) {
            return default_e_step_batch(self, x, beta);
        }
        let Some(rows) = self.searched_rows(x.clone(), beta)? else {
            return default_e_step_batch(self, x, beta);
        };
        let [n, c] = rows.path.dims();
        let path = host_vec::<i64, _>(rows.path.try_into_data())?;
        let resp = host_vec::<f32, _>(rows.resp.try_into_data())?;
        let mut rows_of = vec![Vec::new(); self.n_components()];
        for i in 0..n {
            for j in i * c..(i + 1) * c {
                if resp[j] >= RESP_FLOOR {
                    rows_of[path[j] as usize].push((i, resp[j]));
                }
            }
        }
        Ok(BatchTerms {
            objective: rows.objective.sum_dim(0).squeeze_dim(0),
            log_likelihood: None,
            stats: self.materialised()?.paths.stats_of_rows(x.clone(), rows_of)?,
        })
    }
}

/// The paths the hard or soft-beam E-step assigns each row to, and their responsibilities.
///
/// # Shapes
/// - `path`, `resp`: `[N, C]` (C = 1 for the hard E-step; a row's paths distinct, its
///   responsibilities summing to 1); `objective`: `[N, 1]`.
struct SearchedRows {
    path: Tensor<2, Int>,
    resp: Tensor<2>,
    objective: Tensor<2>,
}

impl DeepGmm {
    /// The search's E-step rows ([`crate::deep_search`]): the hard E-step's best path
    /// (responsibility 1, objective its score), the soft-beam E-step's posterior over the
    /// reached paths; `None` for exact EM (every path).
    fn searched_rows(&self, x: Tensor<2>, beta: f64) -> Result<Option<SearchedRows>, ModelError> {
        let [n, _] = x.dims();
        let device = x.device();
        match self.config.e_step {
            PathAssignment::Soft => Ok(None),
            PathAssignment::Hard => {
                let best = crate::deep_search::best_paths(self, x, self.config.beam)?;
                Ok(Some(SearchedRows {
                    path: best.path.reshape([n, 1]),
                    resp: Tensor::<2>::ones([n, 1], &device),
                    objective: best.score.unsqueeze_dim(1),
                }))
            }
            PathAssignment::SoftBeam => {
                let reached = crate::deep_search::reached_paths(self, x, self.config.beam)?;
                let (resp, objective) = responsibilities(reached.score * beta)?;
                Ok(Some(SearchedRows { path: reached.path, resp, objective }))
            }
        }
    }
}
