//! The per-class conv models of a classification run as one classifier: loading, scoring,
//! and the figures fine-tuning reports before and after (accuracy, likelihoods, overlap).

use crate::classify::{ClassFigures, ClassifyReport};
use gmm_models::filters::{bhattacharyya_stationary, effective_bandwidth};
use gmm_models::{ConvGmm, Device, Encoded, Mixture, to_host_f64};
use gmm_training::config::RunConfig;
use gmm_training::folder::read_json;
use gmm_training::views::OverlapSummary;
use gmm_training::{SavedLayer, TrainError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A classifier's figures before or after fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierFigures {
    /// Test accuracy.
    pub accuracy: f64,
    /// Mean `log p(y | x)` on the training digits.
    pub train_conditional_log_likelihood: f64,
    /// Mean `log p(y | x)` on the test digits.
    pub test_conditional_log_likelihood: f64,
    /// Mean over classes of the mean test `log p(x | y)` of the class's digits, nats.
    pub own_class_test_log_likelihood: f64,
    /// Overlap between the components of one class model, averaged over classes.
    pub within_class_overlap: OverlapSummary,
    /// Overlap between components of different classes (all pairs, weights `π_c p(y)`).
    pub between_class_overlap: OverlapSummary,
    /// Mean effective bandwidth of the filters (`gmm_models::filters::effective_bandwidth`:
    /// 1 = white, smaller = more narrow-band).
    pub mean_bandwidth: f64,
}

/// A split's periodograms (on the device, in batches) and labels.
pub(crate) struct EncodedLabelled {
    pub(crate) data: Encoded,
    pub(crate) labels: Vec<u8>,
}

impl EncodedLabelled {
    pub(crate) fn new(
        periodograms: &[f32],
        width: usize,
        labels: &[u8],
        batch: usize,
        device: &Device,
    ) -> Self {
        Self {
            data: Encoded::from_rows(periodograms, width, batch, device),
            labels: labels.to_vec(),
        }
    }
}

/// The per-class conv models of a classification run folder, with its config and priors.
pub struct ConvClassifier {
    /// The run's config.
    pub config: RunConfig,
    /// One model per class.
    pub models: Vec<ConvGmm>,
    /// `log p(y)`.
    pub log_prior: Vec<f64>,
}

impl ConvClassifier {
    /// Reads `class<c>/` and `classify.json` of a run folder; refuses other families.
    pub fn load(run_dir: &Path, device: &Device) -> Result<Self, TrainError> {
        let config = RunConfig::load(&run_dir.join("config.toml"))?;
        let path = run_dir.join("classify.json");
        let report: ClassifyReport = read_json(&path)?;
        let mut models = Vec::new();
        for c in 0..report.log_prior.len() {
            let dir = run_dir.join(format!("class{c}"));
            let conv = ConvGmm::try_from(SavedLayer::load(&dir, device)?.1).map_err(|kind| {
                TrainError::file(
                    &dir,
                    format!(
                        "fine-tuning takes convolutional class models (kind = \"conv\"), not {kind}"
                    ),
                )
            })?;
            models.push(conv);
        }
        let Some(first) = models.first() else {
            return Err(TrainError::file(&path, "no class priors, so no class models"));
        };
        let k = first.n_components();
        if models.iter().any(|m| m.n_components() != k || m.layout != first.layout) {
            return Err(TrainError::file(run_dir, "the class models differ in K or layout"));
        }
        Ok(Self { config, models, log_prior: report.log_prior })
    }

    /// `log p(x_n | y)` of periodograms under every class model, `[N, C]` row-major (the
    /// class models share one layout, so the data is encoded once for all of them).
    fn class_log_likelihoods(&self, data: &Encoded) -> Result<Vec<f64>, TrainError> {
        let c = self.models.len();
        let mut out = vec![0.0; data.n * c];
        for (y, m) in self.models.iter().enumerate() {
            let mut row = 0;
            for b in 0..data.n_batches() {
                for v in to_host_f64(m.score_samples(data.batch(b)?))? {
                    out[row * c + y] = v;
                    row += 1;
                }
            }
        }
        Ok(out)
    }

    /// The classifier's figures, and its test figures in full (for `classify.json`).
    pub(crate) fn figures(
        &self,
        train: &EncodedLabelled,
        test: &EncodedLabelled,
    ) -> Result<(ClassifierFigures, ClassFigures), TrainError> {
        let score = |set: &EncodedLabelled| -> Result<ClassFigures, TrainError> {
            let ll = self.class_log_likelihoods(&set.data)?;
            Ok(ClassFigures::new(&ll, &set.labels, &self.log_prior))
        };
        let (tr, te) = (score(train)?, score(test)?);
        let (within, between) = self.overlap()?;
        let layout = &self.models[0].layout;
        let mut bandwidths = Vec::new();
        for m in &self.models {
            bandwidths.extend(m.spectra_host()?.iter().map(|s| effective_bandwidth(layout, s)));
        }
        let own = &te.own_class_log_likelihood;
        let figures = ClassifierFigures {
            accuracy: te.accuracy,
            train_conditional_log_likelihood: tr.conditional_log_likelihood,
            test_conditional_log_likelihood: te.conditional_log_likelihood,
            own_class_test_log_likelihood: own.iter().sum::<f64>() / own.len() as f64,
            within_class_overlap: within,
            between_class_overlap: between,
            mean_bandwidth: bandwidths.iter().sum::<f64>() / bandwidths.len() as f64,
        };
        Ok((figures, te))
    }

    /// Within-class overlap (averaged over classes) and between-class overlap.
    fn overlap(&self) -> Result<(OverlapSummary, OverlapSummary), TrainError> {
        let layout = &self.models[0].layout;
        let dims = layout.covered_dims();
        let mut spectra = Vec::new();
        let mut weights = Vec::new();
        let mut within: Vec<OverlapSummary> = Vec::new();
        for (m, lp) in self.models.iter().zip(&self.log_prior) {
            let s = m.spectra_host()?;
            let w = m.weights()?;
            let d = m.bhattacharyya_distances()?;
            within.extend(OverlapSummary::new(&d, &w, dims));
            weights.extend(w.iter().map(|v| v * lp.exp()));
            spectra.extend(s);
        }
        let k = self.models[0].n_components();
        let n = spectra.len();
        // Between classes: only pairs of components from different classes count.
        let pairs =
            (0..n).flat_map(|i| (0..n).filter(move |&j| i / k != j / k).map(move |j| (i, j)));
        let between = OverlapSummary::from_pairs(
            pairs.map(|(i, j)| {
                let d = bhattacharyya_stationary(layout, &spectra[i], &spectra[j]);
                (d, weights[i] * weights[j])
            }),
            dims,
        )
        .ok_or_else(|| {
            TrainError::Failed("no between-class pairs: fewer than two classes".into())
        })?;
        let mean = |f: fn(&OverlapSummary) -> f64| {
            within.iter().map(f).sum::<f64>() / within.len().max(1) as f64
        };
        let within = OverlapSummary {
            mean: mean(|s| s.mean),
            max: within.iter().map(|s| s.max).fold(0.0, f64::max),
            weighted: mean(|s| s.weighted),
            min_distance: within.iter().map(|s| s.min_distance).fold(f64::INFINITY, f64::min),
            median_distance: mean(|s| s.median_distance),
            mean_per_dim: mean(|s| s.mean_per_dim),
        };
        Ok((within, between))
    }
}
