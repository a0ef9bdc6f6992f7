//! The deep GMM as a Burn module: nodes, paths, and the path components it materialises for
//! the E-step.

use super::config::DeepGmmConfig;
use super::host_search::SearchTables;
use super::nodes::NodeParams;
use crate::full::{CovarianceType, FullGmm, FullGmmConfig};
use crate::mixture::Mixture;
use crate::readback::to_host_f64;
use crate::{ModelError, linalg};
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::OnceLock;

impl DeepGmmConfig {
    /// [`Self::build`] after [`Self::validate`]: the checked entry for a config from outside a
    /// run (a run config is checked once, when it is read, and built with `build`).
    pub fn init(&self, dim: usize, device: &Device) -> Result<DeepGmm, ModelError> {
        self.validate()?;
        self.build(dim, device)
    }

    /// A network over `dim`-dimensional rows: identity transforms, zero biases, uniform path
    /// weights; EM's initialisation sets real starting values. The config must be
    /// valid ([`Self::validate`]); it is not checked again here.
    pub fn build(&self, dim: usize, device: &Device) -> Result<DeepGmm, ModelError> {
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
    /// The same tables on the host, for the search over rows on a CPU device.
    pub search: SearchTables,
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
        })
    }

    /// Input dimension D.
    pub fn dim(&self) -> usize {
        self.biases.val().dims()[1]
    }

    /// Layers L.
    pub fn depth(&self) -> usize {
        self.config.nodes.len()
    }

    /// The device its parameters are on.
    pub fn device(&self) -> Device {
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
        let nodes = self.nodes_host()?;
        let d = nodes.dim;
        let device = self.device();
        let paths = self.path_components(&nodes)?;
        let (w, c, log_det) = nodes.inverses()?;
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let mut search = SearchTables {
            d,
            nodes: self.config.nodes.clone(),
            maps: Vec::new(),
            log_det: Vec::new(),
            prefix_log_weights: self.prefix_log_weights()?.iter().map(|w| f(w)).collect(),
        };
        let (mut maps, mut offsets) = (Vec::new(), Vec::new());
        let mut first = 0;
        for &nl in &self.config.nodes {
            let (w_l, c_l) =
                (&w[first * d * d..(first + nl) * d * d], &c[first * d..(first + nl) * d]);
            let mut map = vec![0f32; d * nl * d];
            for j in 0..nl {
                for o in 0..d {
                    for i in 0..d {
                        map[i * nl * d + j * d + o] = w_l[j * d * d + o * d + i] as f32;
                    }
                }
            }
            maps.push(Tensor::from_data(TensorData::new(map, [d, nl * d]), &device));
            offsets.push(Tensor::from_data(TensorData::new(f(c_l), [nl, d]), &device));
            search.maps.push(SearchTables::layer_map(w_l, c_l, d));
            search.log_det.push(f(&log_det[first..first + nl]));
            first += nl;
        }
        let t1 =
            |v: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
        Ok(Materialised {
            paths,
            maps,
            offsets,
            log_det_inverse: search.log_det.iter().map(t1).collect(),
            prefix_log_weights: search.prefix_log_weights.iter().map(t1).collect(),
            search,
        })
    }

    /// The K path components as a full-covariance GMM: `μ_p`, `Σ_p = M_p M_pᵀ` (host f64, paths
    /// in parallel) and their precision Cholesky factors.
    fn path_components(&self, nodes: &NodeParams) -> Result<FullGmm, ModelError> {
        use rayon::prelude::*;
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
        let config = self.path_config(k);
        Ok(FullGmm::from_parts(&means, &precs, &self.weights()?, &config, &self.device()))
    }

    /// The full-covariance config of `k` Gaussians made from this network: its path components
    /// (`k = K`), and the flat GMM that starts layer 1 (`k = N_1`). The network's `reg_covar`.
    pub(crate) fn path_config(&self, k: usize) -> FullGmmConfig {
        FullGmmConfig {
            n_components: k,
            zero_mean: false,
            reg_covar: self.config.reg_covar,
            empty_components: Default::default(),
            covariance_type: CovarianceType::Full,
        }
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
pub(crate) fn path_locals(nodes: &[usize], p: usize) -> Vec<usize> {
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
