//! Training a generative classifier: one model per class on the ranks and threads at hand, its
//! run folder written.

use super::config::single_layer;
use super::figures::{ClassFigures, ClassifyReport};
use super::labelled::Labelled;
use super::pictures::{confusion_picture, misclassified_picture};
use super::score::class_log_likelihoods;
use gmm_datasets::Images;
use gmm_models::Part;
use gmm_training::config::{RunConfig, Split};
use gmm_training::em::fit_with;
use gmm_training::encode::encode;
use gmm_training::folder::{create_dir, write_json, write_png, write_toml};
use gmm_training::start::{LayerStart, configured_start};
use gmm_training::{Layer, Progress, RunOptions, SavedLayer, StackLayer, TrainError, with_layer};
use std::path::Path;
use std::time::Instant;

/// The digit classes, 0–9.
const CLASSES: usize = 10;

/// Trains one model per class, classifies the test split, writes the report and pictures.
pub fn classify_run(
    config: &RunConfig,
    opts: &RunOptions,
    jobs: usize,
) -> Result<ClassifyReport, TrainError> {
    let spec = single_layer(config)?;
    // Under `mpirun -n P` the class models are spread over the ranks (class c on rank c mod P,
    // each fitted there alone), then every rank gets them all; rank 0 writes the run folder.
    let cluster = gmm_training::cluster::world();
    if cluster.is_root() {
        create_dir(&opts.out_dir)?;
    }
    let train = Labelled::load(&config.data, &opts.data_root, Split::Train, config.seed)?;
    let test = Labelled::load(&config.data, &opts.data_root, Split::Test, config.seed)?;
    let classes: Vec<u8> = (0..CLASSES as u8).collect();
    let log_prior = class_log_prior(&classes, &train.labels);

    let t = Instant::now();
    // Every class starts from the same layer (a deep GMM's first_layer is read once).
    let shape = [train.images.height, train.images.width];
    let (start, fresh) = configured_start(&spec, shape, config.seed, &opts.device)?;
    let jobs = jobs.clamp(1, classes.len());
    let trained = train_classes(&spec, (&fresh, &start, config.seed), &train, jobs, opts)?;
    let trained = share_classes(trained, &spec, shape, opts)?;
    let train_seconds = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let layers: Vec<&Layer> = trained.iter().map(|t| &t.layer).collect();
    let log_lik = class_log_likelihoods(&layers, &test.images, spec.em.batch_size, opts)?;
    let test_seconds = t.elapsed().as_secs_f64();
    let figures = ClassFigures::new(&log_lik, &test.labels, &log_prior);

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

/// This process's classes (class c on rank c mod P), `jobs` at once in threads, each fitted
/// from `fresh`; the other ranks' classes are `None`.
fn train_classes(
    spec: &StackLayer,
    (fresh, start, seed): (&Layer, &LayerStart, u64),
    train: &Labelled,
    jobs: usize,
    opts: &RunOptions,
) -> Result<Vec<Option<Trained>>, TrainError> {
    let cluster = gmm_training::cluster::world();
    let mut trained: Vec<Option<Trained>> = (0..CLASSES).map(|_| None).collect();
    let mine: Vec<u8> =
        (0..CLASSES as u8).filter(|&c| c as usize % cluster.size() == cluster.rank()).collect();
    for group in mine.chunks(jobs) {
        let results: Vec<Result<Trained, TrainError>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|&class| {
                    s.spawn(move || {
                        let images = train.of_class(class);
                        train_class(spec, (fresh.clone(), start, seed), class, &images, opts)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a class thread panicked")).collect()
        });
        for (&class, result) in group.iter().zip(results) {
            let t = result?;
            opts.progress.log(&format!("class {class}: trained in {:.1} s", t.seconds));
            trained[class as usize] = Some(t);
        }
    }
    Ok(trained)
}

/// `log p(c)` from the training labels' class frequencies.
fn class_log_prior(classes: &[u8], labels: &[u8]) -> Vec<f64> {
    let n = labels.len() as f64;
    classes.iter().map(|&c| (labels.iter().filter(|&&l| l == c).count() as f64 / n).ln()).collect()
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

/// Fits class `class`'s model to its digits, from `fresh` (the config's layer before EM:
/// initialised from the class's seed, or as it is when started from a trained model, as
/// [`LayerStart::em_start`] says).
fn train_class(
    spec: &StackLayer,
    (fresh, start, seed): (Layer, &LayerStart, u64),
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
        let start = start.em_start(seed).map_err(|_| {
            TrainError::Failed("a classifier fits every class; none is reused or completed".into())
        })?;
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
