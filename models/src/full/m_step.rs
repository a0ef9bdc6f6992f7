//! The full family's closed-form M-step, for each covariance type (models.md §2).

use super::config::EmptyPolicy;
use super::covariance::CovarianceType;
use super::model::FullGmm;
use super::moments::FullStats;
use crate::ModelError;
use crate::mixture::MStepReport;
use crate::readback::to_host_f64;

/// One component after the M-step: index, mean `[D]`, stored factor (or, tied, `S_c / N_c`),
/// `N_c / N`.
type Estimate = (usize, Vec<f64>, Vec<f64>, f64);

impl FullGmm {
    /// With `d_c = Σ r (x - m_c) / N_c`: `μ_c = m_c + d_c`, `π_c = N_c / N`, and each
    /// component's covariance from its statistics ([`FullGmm::component_m_step`]; for `tied`
    /// one factor pooled over the components, [`FullGmm::tied_factor`]), on the host in f64.
    /// A component with no responsibility mass keeps its mean and factor with a vanishing
    /// weight, or is dropped ([`EmptyPolicy`]). `self` must be the layer whose
    /// [`batch_stats`](Mixture::batch_stats) made `stats` (its means are the shifts).
    pub(crate) fn closed_form_m_step(
        self,
        stats: FullStats,
        n: usize,
    ) -> Result<(Self, MStepReport), ModelError> {
        use rayon::prelude::*;
        let (d, t) = (self.dim(), self.config.covariance_type);
        let mut report = MStepReport::default();
        let old_means = to_host_f64(self.means.val())?;
        let mut old_u = None;
        // The statistics read back, then each component's covariance and factor in parallel
        // (one component per task: the same numbers on any number of threads).
        let mut live = Vec::new();
        let mut kept = Vec::new();
        for (c, (nc, moments)) in stats.into_host()?.into_iter().enumerate() {
            match moments.filter(|_| nc > 1e-10 * n as f64) {
                Some((first, second)) => live.push((c, nc, first, second)),
                None => {
                    report.emptied.push(c);
                    if self.config.empty_components == EmptyPolicy::Keep {
                        let ou = old_u.get_or_insert(self.factors_host()?);
                        let u = t.factor_of(ou, c, d).to_vec();
                        kept.push((c, old_means[c * d..(c + 1) * d].to_vec(), u, nc / n as f64));
                    }
                }
            }
        }
        let estimated: Vec<Estimate> = live
            .into_par_iter()
            .map(|(c, nc, first, second)| {
                let shift = &old_means[c * d..(c + 1) * d];
                let (mu, u) = self.component_m_step(c, nc, &first, &second, shift)?;
                Ok((c, mu, u, nc / n as f64))
            })
            .collect::<Vec<Result<_, ModelError>>>()
            .into_iter()
            .collect::<Result<_, _>>()?; // the first failing component, as sequentially
        let tied = match t {
            CovarianceType::Tied if !estimated.is_empty() => {
                let covs: Vec<(f64, &[f64])> =
                    estimated.iter().map(|e| (e.3, e.2.as_slice())).collect();
                Some(self.tied_factor(&covs)?)
            }
            _ => None,
        };
        let mut components: Vec<Estimate> = estimated.into_iter().chain(kept).collect();
        components.sort_by_key(|e| e.0);
        if components.iter().all(|e| report.emptied.contains(&e.0)) {
            return Err(ModelError::NonFinite {
                what: "mixture: every component emptied".into(),
                hint: "check the data, or use fewer components".into(),
            });
        }
        let total: f64 = components.iter().map(|e| e.3).sum();
        let means: Vec<f64> = components.iter().flat_map(|e| e.1.iter().copied()).collect();
        let precs: Vec<f64> = match tied {
            Some(u) => u,
            None => components.iter().flat_map(|e| e.2.iter().copied()).collect(),
        };
        let weights: Vec<f64> = components.iter().map(|e| e.3 / total).collect();
        let layer = Self::from_parts(&means, &precs, &weights, &self.config, &self.device());
        Ok((layer, report))
    }
}
