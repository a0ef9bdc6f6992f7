//! The deep GMM's [`Mixture`] hooks: the E-step through its path components (soft, hard or
//! soft-beam), per-path statistics, the gradient M-step and the initialisation.

use super::config::PathAssignment;
use super::m_step::optimise;
use super::network::DeepGmm;
use super::objective::PathStats;
use super::search;
use crate::encoded::Encoded;
use crate::full::{FullStats, RESP_FLOOR};
use crate::mixture::{
    BatchTerms, EStepRows, Init, MStepReport, Mixture, default_e_step_batch, default_e_step_rows,
    responsibilities,
};
use crate::readback::{check_rows, host_vec, to_host_f64};
use crate::{ModelError, is_cpu};
use burn::tensor::{IndexingUpdateOp, Int, Tensor};
use rand_chacha::ChaCha8Rng;

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

    fn encode_checked(&self, samples: &[f32]) -> Result<Option<Vec<f32>>, ModelError> {
        check_rows(samples, self.dim(), "value")?;
        Ok(None)
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

    /// The paths' moments, from `previous`'s path means to this network's.
    fn recentre_flat(&self, previous: &Self, flat: &mut [f64]) -> Result<(), ModelError> {
        self.materialised()?.paths.recentre_flat(&previous.materialised()?.paths, flat)
    }

    /// `π_p = N_p / N`, then the node transforms by Adam steps (`m_step.rs`) from the
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
        let (nodes, ascent) = optimise(&self, self.nodes_host()?, &paths, n)?;
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

    /// Layer 1 from a flat GMM of `N_1` components started by `init` (k-means++, Lloyd's
    /// k-means or random samples, then one M-step), the layers above at the identity plus
    /// seeded noise: [`DeepGmm::starting_from`] that GMM.
    fn initialize(
        self,
        data: &Encoded,
        init: Init,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self, ModelError> {
        let flat = self.path_config(self.config.nodes[0]);
        let first = flat.build(self.dim(), &self.device())?.initialize(data, init, rng)?;
        self.starting_from(&first, rng)
    }

    /// Soft: the posterior over every path. Hard: one-hot on the best path found layer by
    /// layer ([`search::best_paths`]), each row's objective its best-path
    /// log-joint `max_p log π_p N(x | p)`. Soft beam: the posterior over the paths that search
    /// reaches ([`search::reached_paths`]) scattered into `[N, K]`, each row's
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
                let best = search::best_paths(self, x, self.config.beam)?;
                Ok(Some(SearchedRows {
                    path: best.path.reshape([n, 1]),
                    resp: Tensor::<2>::ones([n, 1], &device),
                    objective: best.score.unsqueeze_dim(1),
                }))
            }
            PathAssignment::SoftBeam => {
                let reached = search::reached_paths(self, x, self.config.beam)?;
                let (resp, objective) = responsibilities(reached.score * beta)?;
                Ok(Some(SearchedRows { path: reached.path, resp, objective }))
            }
        }
    }
}
