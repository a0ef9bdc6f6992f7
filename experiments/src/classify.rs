//! Per-class models as a generative classifier: one model per digit class, decisions by the
//! largest `log p(x | class) + log p(class)`.

use gmm_datasets::Images;
use gmm_models::host::log_sum_exp;
use gmm_models::{Mixture, Part, to_host_f64};
use gmm_training::config::{DataConfig, RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::em::{FitReport, Start, fit_with};
use gmm_training::folder::{create_dir, encode, read_json, write_json, write_png, write_toml};
use gmm_training::pictures::{TileScale, component_grid};
use gmm_training::start::{LayerStart, configured_start};
use gmm_training::{
    ConfigError, Layer, Progress, RunOptions, SavedLayer, StackLayer, TrainError, with_layer,
};
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// What a classification run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifyReport {
    /// Run name.
    pub name: String,
    /// The per-class model (`kind` and hyper-parameters).
    pub model: String,
    /// Fraction of test digits classified correctly.
    pub accuracy: f64,
    /// Accuracy within each true class.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts on the test set.
    pub confusion: Vec<Vec<usize>>,
    /// `log p(class)`, from the training class frequencies.
    pub log_prior: Vec<f64>,
    /// Mean test log-likelihood of each class's digits under their own class model.
    pub own_class_test_log_likelihood: Vec<f64>,
    /// Seconds to train each class model.
    pub class_seconds: Vec<f64>,
    /// EM iterations each class model ran (empty in reports written before they were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_iterations: Vec<usize>,
    /// Wall time of all the training (parallel where `jobs` > 1), seconds.
    pub train_seconds: f64,
    /// Wall time of scoring the test set, seconds.
    pub test_seconds: f64,
    /// Class models trained at once.
    pub jobs: usize,
}

/// The decisions `argmax_c (log p(x_n | c) + log p(c))` for `[N, C]` class log-likelihoods.
pub fn decide(log_likelihood: &[f64], log_prior: &[f64]) -> Vec<usize> {
    let c = log_prior.len();
    log_likelihood
        .chunks(c)
        .map(|row| {
            (0..c)
                .max_by(|&a, &b| (row[a] + log_prior[a]).total_cmp(&(row[b] + log_prior[b])))
                .unwrap()
        })
        .collect()
}

/// The digits of one class.
fn of_class(images: &Images, class: u8) -> Images {
    let labels = images.labels.as_ref().expect("MNIST has labels");
    let d = images.dim();
    let mut pixels = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        if l == class {
            pixels.extend_from_slice(images.image(i));
        }
    }
    let n = pixels.len() / d;
    Images { pixels, height: images.height, width: images.width, labels: Some(vec![class; n]) }
}

/// Trains one model per class, classifies the test split, writes the report and pictures.
pub fn classify_run(
    config: &RunConfig,
    opts: &RunOptions,
    jobs: usize,
) -> Result<ClassifyReport, TrainError> {
    let spec = single_layer(config)?;
    let progress = &opts.progress;
    // Under `mpirun -n P` the class models are spread over the ranks (class c on rank c mod P,
    // each fitted there alone), then every rank gets them all; rank 0 writes the run folder.
    let cluster = gmm_training::cluster::world();
    if cluster.is_root() {
        create_dir(&opts.out_dir)?;
    }
    let train = load_split(&config.data, &opts.data_root, Split::Train, config.seed)?;
    let test = load_split(&config.data, &opts.data_root, Split::Test, config.seed)?;
    let classes: Vec<u8> = (0..10).collect();
    let train_labels = train.labels.as_ref().expect("MNIST has labels");
    let log_prior: Vec<f64> = classes
        .iter()
        .map(|&c| {
            (train_labels.iter().filter(|&&l| l == c).count() as f64 / train.len() as f64).ln()
        })
        .collect();

    let t = Instant::now();
    // Every class starts from the same layer (a deep GMM's first_layer is read once).
    let shape = [train.height, train.width];
    let (start, fresh) = configured_start(&spec, shape, config.seed, &opts.device)?;
    let trained_start = matches!(start, LayerStart::Trained(_));
    let jobs = jobs.clamp(1, classes.len());
    let mut trained: Vec<Option<Trained>> = (0..classes.len()).map(|_| None).collect();
    let mine: Vec<u8> = classes
        .iter()
        .copied()
        .filter(|&c| c as usize % cluster.size() == cluster.rank())
        .collect();
    for group in mine.chunks(jobs) {
        let results: Vec<Result<Trained, TrainError>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|&class| {
                    let (spec, fresh, train, opts) = (&spec, &fresh, &train, opts);
                    s.spawn(move || {
                        let images = of_class(train, class);
                        let start = (fresh.clone(), trained_start, config.seed);
                        train_class(spec, start, class, &images, opts)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a class thread panicked")).collect()
        });
        for (&class, result) in group.iter().zip(results) {
            let t = result?;
            progress.log(&format!("class {class}: trained in {:.1} s", t.seconds));
            trained[class as usize] = Some(t);
        }
    }
    let shape = [train.height, train.width];
    let trained = share_classes(trained, &spec, shape, opts)?;
    let train_seconds = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let layers: Vec<&Layer> = trained.iter().map(|t| &t.layer).collect();
    let log_lik = class_log_likelihoods(&layers, &test, spec.em.batch_size, opts)?;
    let test_seconds = t.elapsed().as_secs_f64();
    let labels = test.labels.as_ref().expect("MNIST has labels");
    let figures = ClassFigures::new(&log_lik, labels, &log_prior);

    let report = ClassifyReport {
        name: config.name.clone(),
        model: toml::to_string(&spec.layer)
            .unwrap_or_default()
            .replace('\n', " ")
            .trim()
            .to_string(),
        accuracy: figures.accuracy,
        per_class_accuracy: figures.per_class_accuracy,
        confusion: figures.confusion,
        log_prior: log_prior.clone(),
        own_class_test_log_likelihood: figures.own_class_log_likelihood,
        class_seconds: trained.iter().map(|t| t.seconds).collect(),
        class_iterations: trained.iter().map(|t| t.iterations).collect(),
        train_seconds,
        test_seconds,
        jobs,
    };
    if !cluster.is_root() {
        return Ok(report);
    }
    let layers: Vec<Layer> = trained.into_iter().map(|t| t.layer).collect();
    write_classifier(&opts.out_dir, config, &spec, shape, &layers, &report)?;
    write_png(&confusion_picture(&report.confusion), &opts.out_dir.join("confusion.png"))?;
    write_png(
        &misclassified_picture(&test, &log_lik, &log_prior, &figures.predicted, 40),
        &opts.out_dir.join("misclassified.png"),
    )?;
    Ok(report)
}

/// A classification run folder: `class<c>/` (each class model as a run folder's layer),
/// `classify.json` and `config.toml`. Written by `classify` and by fine-tuning.
pub fn write_classifier(
    out_dir: &Path,
    config: &RunConfig,
    spec: &StackLayer,
    input_shape: [usize; 2],
    layers: &[Layer],
    report: &ClassifyReport,
) -> Result<(), TrainError> {
    create_dir(out_dir)?;
    for (c, layer) in layers.iter().enumerate() {
        let dir = out_dir.join(format!("class{c}"));
        create_dir(&dir)?;
        let saved = SavedLayer {
            input_shape,
            trained_components: layer.n_components(),
            config: spec.layer.clone(),
        };
        saved.save(layer, &dir)?;
    }
    write_json(&out_dir.join("classify.json"), report)?;
    write_toml(&out_dir.join("config.toml"), config)
}

/// One trained class model.
struct Trained {
    layer: Layer,
    seconds: f64,
    iterations: usize,
}

/// What a generative classifier scores on labelled digits.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFigures {
    /// `argmax_c log p(x_n | c) + log p(c)`.
    pub predicted: Vec<usize>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Fraction correct.
    pub accuracy: f64,
    /// Fraction correct within each true class.
    pub per_class_accuracy: Vec<f64>,
    /// Mean `log p(x | c)` of each class's digits under their own class model.
    pub own_class_log_likelihood: Vec<f64>,
    /// Mean `log p(y_n | x_n)` (the conditional log-likelihood of the labels).
    pub conditional_log_likelihood: f64,
}

impl ClassFigures {
    /// From `[N, C]` class log-likelihoods, the labels and `log p(c)`.
    pub fn new(log_lik: &[f64], labels: &[u8], log_prior: &[f64]) -> Self {
        let (c, n) = (log_prior.len(), labels.len());
        let predicted = decide(log_lik, log_prior);
        let mut confusion = vec![vec![0usize; c]; c];
        for (&truth, &p) in labels.iter().zip(&predicted) {
            confusion[truth as usize][p] += 1;
        }
        let correct: usize = (0..c).map(|k| confusion[k][k]).sum();
        let per_class_accuracy = (0..c)
            .map(|k| confusion[k][k] as f64 / confusion[k].iter().sum::<usize>().max(1) as f64)
            .collect();
        let own_class_log_likelihood = (0..c)
            .map(|k| {
                let rows: Vec<usize> = (0..n).filter(|&i| labels[i] as usize == k).collect();
                rows.iter().map(|&i| log_lik[i * c + k]).sum::<f64>() / rows.len().max(1) as f64
            })
            .collect();
        let conditional_log_likelihood = (0..n)
            .map(|i| {
                let joint: Vec<f64> = (0..c).map(|k| log_lik[i * c + k] + log_prior[k]).collect();
                joint[labels[i] as usize] - log_sum_exp(&joint)
            })
            .sum::<f64>()
            / n.max(1) as f64;
        Self {
            predicted,
            confusion,
            accuracy: correct as f64 / n.max(1) as f64,
            per_class_accuracy,
            own_class_log_likelihood,
            conditional_log_likelihood,
        }
    }
}

/// `log p(x_n | c)` of every test digit under every class model, `[N, C]` row-major.
pub fn class_log_likelihoods(
    layers: &[&Layer],
    test: &Images,
    batch: usize,
    opts: &RunOptions,
) -> Result<Vec<f64>, TrainError> {
    let (n, classes) = (test.len(), layers.len());
    let mut log_lik = vec![0.0; n * classes];
    for (c, layer) in layers.iter().enumerate() {
        let scores = with_layer!(layer, m => score(m, test, batch, opts)?);
        for (i, v) in scores.into_iter().enumerate() {
            log_lik[i * classes + c] = v;
        }
    }
    Ok(log_lik)
}

/// The test accuracy of a classification run folder's saved class models (and the number of
/// test digits), recomputed from `class<c>/` and `classify.json`'s class priors.
pub fn evaluate_classifier(run_dir: &Path, opts: &RunOptions) -> Result<(f64, usize), TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let test = load_split(&config.data, &opts.data_root, Split::Test, config.seed)?;
    score_classifier(run_dir, &config, &test, opts)
}

/// As [`evaluate_classifier`], on test digits already loaded for the run's `config`.
pub fn score_classifier(
    run_dir: &Path,
    config: &RunConfig,
    test: &Images,
    opts: &RunOptions,
) -> Result<(f64, usize), TrainError> {
    let spec = single_layer(config)?;
    let report_path = run_dir.join("classify.json");
    let report: ClassifyReport = read_json(&report_path)?;
    let mut layers = Vec::new();
    for c in 0..report.log_prior.len() {
        layers.push(SavedLayer::load(&run_dir.join(format!("class{c}")), &opts.device)?.1);
    }
    let refs: Vec<&Layer> = layers.iter().collect();
    let log_lik = class_log_likelihoods(&refs, test, spec.em.batch_size, opts)?;
    let labels = test.labels.as_ref().expect("MNIST has labels");
    let predicted = decide(&log_lik, &report.log_prior);
    let correct = labels.iter().zip(&predicted).filter(|&(&t, &p)| t as usize == p).count();
    Ok((correct as f64 / test.len().max(1) as f64, test.len()))
}

/// The per-class model must be one layer on labelled images (a first layer has a density over
/// images: the config's checks refuse a family that cannot sit on the data).
/// The binomial standard error `√(p(1 − p)/N)` of an accuracy `p` over `N` test rows.
pub fn accuracy_standard_error(accuracy: f64, n: usize) -> f64 {
    (accuracy * (1.0 - accuracy) / n.max(1) as f64).sqrt()
}

/// The one layer of a config that `classify` can use: labelled data (MNIST), a single layer,
/// no warm start; the error names the key.
pub fn single_layer(config: &RunConfig) -> Result<StackLayer, TrainError> {
    let bad = |key: &str, reason: &str| TrainError::Config {
        path: config.name.clone().into(),
        error: ConfigError::new(key, reason),
    };
    if !matches!(config.data, DataConfig::Mnist(_)) {
        return Err(bad("data.dataset", "classify needs labelled data: dataset = \"mnist\""));
    }
    let mut stack = config.stack();
    if stack.len() != 1 {
        return Err(bad(
            "layers",
            "classify needs log p(x | class), a density over images; a stack's upper layers \
             model features of the layer below, so a stack defines none. Use [model] and [em]",
        ));
    }
    let spec = stack.remove(0);
    if spec.em.warm_start.is_some() {
        return Err(bad(
            "em.warm_start",
            "each class's model is fitted to that class's digits from its own initialisation; \
             remove warm_start",
        ));
    }
    Ok(spec)
}

/// Fits class `class`'s model to its digits, from `fresh` (the config's layer before EM:
/// initialised from the class's seed, or as it is when started from a trained model).
fn train_class(
    spec: &StackLayer,
    (fresh, trained_start, seed): (Layer, bool, u64),
    class: u8,
    images: &Images,
    opts: &RunOptions,
) -> Result<Trained, TrainError> {
    let t = Instant::now();
    let quiet = Progress::quiet();
    let seed = seed.wrapping_add(100 + class as u64);
    let (layer, iterations) = with_layer!(fresh, m => {
        // Fitted by this process alone, whatever the job's size.
        let data = encode(&m, images, spec.em.batch_size, &opts.device)?.with_part(Part::Alone);
        let start = match trained_start {
            true => Start::Resume(FitReport::default()),
            false => Start::Fresh { seed },
        };
        let (m, report) = fit_with(m, &data, &spec.em, start, &quiet, &mut |_, _| Ok(()))?;
        (Layer::from(m), report.iterations.len())
    });
    Ok(Trained { layer, seconds: t.elapsed().as_secs_f64(), iterations })
}

/// Every class model on every rank: in a job of several ranks each class's model (its
/// parameters, components, seconds and iterations) is broadcast from the rank that trained it.
fn share_classes(
    trained: Vec<Option<Trained>>,
    spec: &StackLayer,
    shape: [usize; 2],
    opts: &RunOptions,
) -> Result<Vec<Trained>, TrainError> {
    let cluster = gmm_training::cluster::world();
    if cluster.size() == 1 {
        return Ok(trained.into_iter().flatten().collect());
    }
    let mut all = Vec::with_capacity(trained.len());
    for (class, t) in trained.into_iter().enumerate() {
        let owner = class % cluster.size();
        // [components, seconds, iterations] from the owner, zeros from the others.
        let mut meta = [0.0; 3];
        let mut bytes = Vec::new();
        if let Some(t) = &t {
            meta = [t.layer.n_components() as f64, t.seconds, t.iterations as f64];
            bytes = t.layer.record_bytes().map_err(TrainError::Failed)?;
        }
        cluster.sum(&mut meta);
        cluster.broadcast(owner, &mut bytes);
        let layer = match t {
            Some(t) => t.layer,
            None => spec
                .layer
                .load_record(meta[0] as usize, shape, bytes, &opts.device)
                .map_err(|e| TrainError::Failed(format!("class {class} from rank {owner}: {e}")))?,
        };
        all.push(Trained { layer, seconds: meta[1], iterations: meta[2] as usize });
    }
    Ok(all)
}

/// `log p(x_n)` of every test digit under one class model.
fn score<M: Mixture>(
    layer: &M,
    images: &Images,
    batch: usize,
    opts: &RunOptions,
) -> Result<Vec<f64>, TrainError> {
    let data = encode(layer, images, batch, &opts.device)?;
    Ok(data.concat_batches(|_, x| to_host_f64(layer.score_samples(x.clone())))?)
}

/// The confusion matrix as a picture: row = true class, column = predicted, each cell's
/// brightness its share of the row (log scale, so that rare confusions show), the diagonal
/// in green.
fn confusion_picture(confusion: &[Vec<usize>]) -> RgbImage {
    let (cell, k) = (28u32, confusion.len() as u32);
    let mut img = RgbImage::from_pixel(k * cell, k * cell, Rgb([0, 0, 0]));
    for (r, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (c, &v) in row.iter().enumerate() {
            let share = v as f64 / total;
            let level = if v == 0 { 0.0 } else { 1.0 + (share.max(1e-4)).log10() / 4.0 };
            let g = (level.clamp(0.0, 1.0) * 255.0) as u8;
            let colour = if r == c { Rgb([0, g, 0]) } else { Rgb([g, g, g]) };
            for y in 1..cell - 1 {
                for x in 1..cell - 1 {
                    img.put_pixel(c as u32 * cell + x, r as u32 * cell + y, colour);
                }
            }
        }
    }
    img
}

/// The `count` test digits misclassified with the largest margin
/// `log p(x|pred) + log p(pred) − log p(x|true) − log p(true)`, worst first, ten per row.
fn misclassified_picture(
    test: &Images,
    log_lik: &[f64],
    log_prior: &[f64],
    predicted: &[usize],
    count: usize,
) -> RgbImage {
    let labels = test.labels.as_ref().expect("MNIST has labels");
    let c = log_prior.len();
    let mut wrong: Vec<(f64, usize)> = (0..test.len())
        .filter(|&i| predicted[i] != labels[i] as usize)
        .map(|i| {
            let (p, t) = (predicted[i], labels[i] as usize);
            (log_lik[i * c + p] + log_prior[p] - log_lik[i * c + t] - log_prior[t], i)
        })
        .collect();
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0));
    let idx: Vec<usize> = wrong.iter().take(count).map(|w| w.1).collect();
    let rows: Vec<Vec<usize>> = idx.chunks(10).map(<[usize]>::to_vec).collect();
    component_grid(test, &rows, 10, None, TileScale::Fixed(0.0, 1.0))
}

impl std::fmt::Display for ClassifyReport {
    /// Accuracy overall and per class, the confusion matrix, and the times.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.confusion.iter().flatten().sum();
        let se = accuracy_standard_error(self.accuracy, n);
        writeln!(
            f,
            "{}: test accuracy {:.4} ± {se:.4} (binomial standard error over {n} digits; {})",
            self.name, self.accuracy, self.model
        )?;
        let per_class: Vec<String> = self
            .per_class_accuracy
            .iter()
            .enumerate()
            .map(|(c, a)| format!("{c}: {a:.3}"))
            .collect();
        writeln!(f, "per class: {}", per_class.join(", "))?;
        writeln!(f, "confusion (rows: true 0-9, columns: predicted 0-9):")?;
        for row in &self.confusion {
            writeln!(f, "  {}", row.iter().map(|v| format!("{v:>5}")).collect::<String>())?;
        }
        write!(
            f,
            "training {:.1} s ({} at once), testing {:.1} s",
            self.train_seconds, self.jobs, self.test_seconds
        )
    }
}
