//! Discriminative fine-tuning of per-class convolutional GMMs (the write-up's open question:
//! "how can we reduce overlap between the filters so that there is more discriminative
//! power?").
//!
//! EM maximises each class model's own likelihood `log p(x | y)`, blind to the other classes.
//! Fine-tuning maximises the conditional log-likelihood of the labels instead,
//!
//! ```text
//! J = (1/N) Σ_n log p(y_n | x_n),   log p(y | x) = log p(x | y) + log p(y) − log Σ_y' p(x | y') p(y')
//! ```
//!
//! by Adam on all classes' spectra at once (parametrised as `log S_{y,c}(k)`, so they stay
//! positive) and mixing weights (softmax logits), with gradients from `burn-autodiff`. `J`
//! rewards spectra that tell the classes apart, which pulls the components of different classes
//! apart (less overlap) at some cost in each class's own likelihood; the report measures both.

mod classifier;

pub use classifier::{ClassifierFigures, ConvClassifier};

use crate::classify::Labelled;
use crate::classify::{ClassFigures, ClassifyReport, write_classifier};
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use classifier::EncodedLabelled;
use gmm_models::host::softmax;
use gmm_models::{
    ConvGmm, Device, Mixture, ModelError, SpectralLayout, Tensor, TensorData, log_sum_exp,
    stationary_affine, to_host_f64,
};
use gmm_training::config::Split;
use gmm_training::folder::write_json;
use gmm_training::{Layer, Progress, RunOptions, TrainError};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Fine-tuning settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// Adam steps.
    pub steps: usize,
    /// Adam's learning rate (on `log S` and the weight logits).
    pub learning_rate: f64,
    /// Training digits per step: consecutive slices of a seeded shuffle, reshuffled each epoch.
    pub batch_size: usize,
    /// Seed of the batches.
    pub seed: u64,
}

/// What fine-tuning did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneReport {
    /// The settings.
    pub config: FinetuneConfig,
    /// `J` on each step's batch, before the step.
    pub objective: Vec<f64>,
    /// Figures of the EM-trained class models.
    pub before: ClassifierFigures,
    /// Figures of the fine-tuned ones.
    pub after: ClassifierFigures,
    /// Wall time of the Adam steps, seconds.
    pub seconds: f64,
}

/// Every class's spectra and weight logits, as one module for the optimiser.
#[derive(Module, Debug)]
struct ClassSpectra {
    /// `log S_{y,c}(k_b)`, `[C, K, B]`.
    log_spectrum: Param<Tensor<3>>,
    /// Weight logits, `π_{y,c} = softmax_c`, `[C, K]`.
    logits: Param<Tensor<2>>,
}

impl ClassSpectra {
    /// `log p(x_n | y)` for periodograms `x` `[N, B]`: `[N, C]`, each class a log-sum-exp over
    /// its components of the conv density ([`stationary_affine`], the one EM uses).
    fn class_log_likelihood(&self, x: Tensor<2>, layout: &SpectralLayout) -> Tensor<2> {
        let [c, k, b] = self.log_spectrum.val().dims();
        let n = x.dims()[0];
        let log_s = self.log_spectrum.val().reshape([c * k, b]);
        let (a, constant) = stationary_affine(layout, log_s.clone().exp(), log_s);
        let log_weights = log_softmax(self.logits.val(), 1).reshape([1, c * k]);
        let joint = (x.matmul(a) + constant + log_weights).reshape([n * c, k]);
        log_sum_exp(joint).reshape([n, c])
    }
}

/// Fine-tunes a classification run's conv class models, writes the result as a classification
/// run folder in `opts.out_dir` (class models, `config.toml`, `classify.json`) with
/// `finetune.json`, and returns the report.
pub fn finetune_run(
    run_dir: &Path,
    settings: FinetuneConfig,
    opts: &RunOptions,
) -> Result<FinetuneReport, TrainError> {
    if settings.steps == 0
        || settings.batch_size == 0
        || !settings.learning_rate.is_finite()
        || settings.learning_rate <= 0.0
    {
        return Err(TrainError::Failed(
            "fine-tuning needs --steps ≥ 1, --batch ≥ 1 and a positive --lr".into(),
        ));
    }
    let progress: &Progress = &opts.progress;
    let classifier = ConvClassifier::load(run_dir, &opts.device)?;
    let config = &classifier.config;
    let train = Labelled::load(&config.data, &opts.data_root, Split::Train, config.seed)?;
    let test = Labelled::load(&config.data, &opts.data_root, Split::Test, config.seed)?;
    // Periodograms once: every class model shares the layout (checked on loading).
    let (first, batch) = (&classifier.models[0], config.stack()[0].em.batch_size);
    let width = first.encoded_width();
    let periodograms = first.encode(&train.images.pixels)?;
    let device = &opts.device;
    let train_set = EncodedLabelled::new(&periodograms, width, &train.labels, batch, device);
    let test_periodograms = first.encode(&test.images.pixels)?;
    let test_set = EncodedLabelled::new(&test_periodograms, width, &test.labels, batch, device);
    let (before, _) = classifier.figures(&train_set, &test_set)?;
    progress.log(&format!(
        "before: test accuracy {:.4}, train log p(y|x) {:.4}",
        before.accuracy, before.train_conditional_log_likelihood
    ));

    let t = Instant::now();
    let model = ClassSpectra::from_classifier(&classifier, &opts.device.clone().autodiff())?;
    let labels = &train_set.labels;
    let (model, objective) =
        adam_steps(model, &classifier, &periodograms, labels, settings, progress)?;
    let seconds = t.elapsed().as_secs_f64();
    let tuned = model.into_classifier(classifier, &opts.device)?;
    let (after, test_figures) = tuned.figures(&train_set, &test_set)?;
    progress.log(&format!(
        "after: test accuracy {:.4}, train log p(y|x) {:.4}",
        after.accuracy, after.train_conditional_log_likelihood
    ));
    save_tuned(&tuned, test_figures, run_dir, opts)?;
    let report = FinetuneReport { config: settings, objective, before, after, seconds };
    write_json(&opts.out_dir.join("finetune.json"), &report)?;
    Ok(report)
}

impl ClassSpectra {
    /// The classifier's spectra and weights as `log S` and logits, on the autodiff device `ad`.
    fn from_classifier(classifier: &ConvClassifier, ad: &Device) -> Result<Self, TrainError> {
        let first = &classifier.models[0];
        let (c, k, b) = (classifier.models.len(), first.n_components(), first.layout.n_bins());
        let mut log_s = Vec::with_capacity(c * k * b);
        let mut logits = Vec::with_capacity(c * k);
        for m in &classifier.models {
            log_s.extend(m.spectra_host()?.concat().iter().map(|v| v.ln() as f32));
            logits.extend(to_host_f64(m.log_weights.val())?.iter().map(|&v| v as f32));
        }
        Ok(Self {
            log_spectrum: Param::from_data(TensorData::new(log_s, [c, k, b]), ad),
            logits: Param::from_data(TensorData::new(logits, [c, k]), ad),
        })
    }

    /// Back to EM-style layers on `device`: `S = exp(log S)` (floored), `π = softmax(logits)`.
    fn into_classifier(
        self,
        classifier: ConvClassifier,
        device: &Device,
    ) -> Result<ConvClassifier, TrainError> {
        let [c, k, b] = self.log_spectrum.val().dims();
        let conv_config = classifier.models[0].config();
        let layout = classifier.models[0].layout.clone();
        let log_s = to_host_f64(self.log_spectrum.val())?;
        let logits = to_host_f64(self.logits.val())?;
        let floor = conv_config.spectrum_floor;
        let models = (0..c)
            .map(|y| {
                let s: Vec<f64> =
                    log_s[y * k * b..(y + 1) * k * b].iter().map(|v| v.exp().max(floor)).collect();
                let w = softmax(&logits[y * k..(y + 1) * k]);
                ConvGmm::from_parts(layout.clone(), &s, &w, &conv_config, device)
            })
            .collect();
        Ok(ConvClassifier { models, ..classifier })
    }
}

/// Adam on `J = mean log p(y | x)` over seeded mini-batches of the training periodograms;
/// returns the tuned spectra and `J` of every step's batch before its step.
fn adam_steps(
    mut model: ClassSpectra,
    classifier: &ConvClassifier,
    periodograms: &[f32],
    labels: &[u8],
    settings: FinetuneConfig,
    progress: &Progress,
) -> Result<(ClassSpectra, Vec<f64>), TrainError> {
    let ad = model.logits.val().device();
    let layout = &classifier.models[0].layout;
    let (c, b, n) = (classifier.models.len(), layout.n_bins(), labels.len());
    let prior: Vec<f32> = classifier.log_prior.iter().map(|&v| v as f32).collect();
    let prior = Tensor::<1>::from_data(TensorData::new(prior, [c]), &ad).unsqueeze_dim::<2>(0);
    let mut optimizer = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let batch = settings.batch_size.min(n);
    let mut objective = Vec::with_capacity(settings.steps);
    let mut order: Vec<usize> = (0..n).collect();
    let mut next = n;
    for step in 0..settings.steps {
        if next + batch > order.len() {
            order.shuffle(&mut rng);
            next = 0;
        }
        let rows = &order[next..next + batch];
        next += batch;
        let mut x = Vec::with_capacity(batch * b);
        let mut onehot = vec![0f32; batch * c];
        for (i, &r) in rows.iter().enumerate() {
            x.extend_from_slice(&periodograms[r * b..(r + 1) * b]);
            onehot[i * c + labels[r] as usize] = 1.0;
        }
        let x = Tensor::<2>::from_data(TensorData::new(x, [batch, b]), &ad);
        let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [batch, c]), &ad);
        let joint = model.class_log_likelihood(x, layout) + prior.clone();
        let conditional = joint.clone() - log_sum_exp(joint);
        let j = (conditional * onehot).sum() / batch as f64;
        let value = to_host_f64(j.clone())?[0];
        if !value.is_finite() {
            return Err(TrainError::Model(ModelError::NonFinite {
                what: format!("the conditional log-likelihood at step {step}"),
                hint: "lower --lr".into(),
            }));
        }
        objective.push(value);
        let grads = GradientsParams::from_grads((-j).backward(), &model);
        model = optimizer.step(settings.learning_rate, model, grads);
        if (step + 1) % 25 == 0 || step + 1 == settings.steps {
            progress.log(&format!("step {}: batch log p(y|x) {value:.4}", step + 1));
        }
    }
    Ok((model, objective))
}

/// Writes the fine-tuned classifier as a classification run folder (so that `zoo verify`,
/// `eval`-style scoring and `inspect` read it like any other).
fn save_tuned(
    tuned: &ConvClassifier,
    figures: ClassFigures,
    from: &Path,
    opts: &RunOptions,
) -> Result<(), TrainError> {
    let spec = tuned.config.stack().remove(0);
    let layers: Vec<Layer> = tuned.models.iter().cloned().map(Layer::from).collect();
    let p = tuned.models[0].layout.size();
    let report = ClassifyReport {
        name: format!("{}_finetuned", tuned.config.name),
        model: format!("discriminatively fine-tuned from {}", from.display()),
        accuracy: figures.accuracy,
        per_class_accuracy: figures.per_class_accuracy,
        confusion: figures.confusion,
        log_prior: tuned.log_prior.clone(),
        own_class_test_log_likelihood: figures.own_class_log_likelihood,
        class_seconds: Vec::new(),
        class_iterations: Vec::new(),
        train_seconds: 0.0,
        test_seconds: 0.0,
        jobs: 1,
    };
    write_classifier(&opts.out_dir, &tuned.config, &spec, [p, p], &layers, &report)
}

impl std::fmt::Display for FinetuneReport {
    /// Before and after: accuracy, conditional likelihood, own-class likelihood, overlap,
    /// bandwidth; then the steps and their time.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (what, c) in [("before", &self.before), ("after", &self.after)] {
            writeln!(
                f,
                "{what}: test accuracy {:.4}, log p(y|x) train {:.4} test {:.4}, own-class test \
                 LL {:.2} nats, overlap within classes {:.3e} (per dim {:.4}), between classes \
                 {:.3e} (per dim {:.4}), filter bandwidth {:.4}",
                c.accuracy,
                c.train_conditional_log_likelihood,
                c.test_conditional_log_likelihood,
                c.own_class_test_log_likelihood,
                c.within_class_overlap.mean,
                c.within_class_overlap.mean_per_dim,
                c.between_class_overlap.weighted,
                c.between_class_overlap.mean_per_dim,
                c.mean_bandwidth,
            )?;
        }
        write!(f, "{} Adam steps in {:.1} s", self.config.steps, self.seconds)
    }
}
