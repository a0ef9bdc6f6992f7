//! Scoring new data with a trained run, without training: per-sample log-likelihood, MAP
//! component and (optionally) the posterior row — anomaly detection and clustering.
//!
//! For a sample `x` and a layer with weights `π_c` and component densities `N(x | c)`:
//! `log p(x) = logsumexp_c (log π_c + log N(x | c))`, the MAP component
//! `argmax_c (log π_c + log N(x | c))`, and `r_c = exp(log π_c + log N(x | c) − log p(x))`.
//! A layer above the first scores the features of the layers below, as in training.

use crate::zoo::resolve_run;
use gmm_datasets::{DataError, Grayscale, ImageSet, Images, read_array};
use gmm_models::{Encoded, Mixture, ModelError, log_sum_exp, row_argmax, to_host_f64};
use gmm_training::config::{DataConfig, RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::em::MeanLogLikelihood;
use gmm_training::folder::{encode_rows, layer_dir};
use gmm_training::{RunOptions, SavedLayer, TrainError, with_layer};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What to score.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreInput {
    /// One of the run's own splits, drawn as in training.
    Split(Split),
    /// An image file or a folder of them (recursive).
    Images(PathBuf),
    /// A `.npy` or `.csv` matrix, one sample per row.
    Array(PathBuf),
}

impl ScoreInput {
    /// `train` / `test` name the run's splits; a `.npy` or `.csv` file is an array; any other
    /// path is an image file or a folder of images.
    pub fn parse(arg: &str) -> Self {
        let path = PathBuf::from(arg);
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match (arg, ext.as_deref()) {
            ("train", _) => ScoreInput::Split(Split::Train),
            ("test", _) => ScoreInput::Split(Split::Test),
            (_, Some("npy" | "csv")) => ScoreInput::Array(path),
            _ => ScoreInput::Images(path),
        }
    }
}

/// Where a scored row came from: a file or split name, its row there, and for image tiles
/// the tile's top-left pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSource {
    /// The image file, array file or split.
    pub source: String,
    /// Row index within the source (tile index for an image).
    pub index: usize,
    /// `(top, left)` of an image tile.
    pub at: Option<(usize, usize)>,
}

/// One sample's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RowScore {
    /// `log p(x)` in nats.
    pub log_likelihood: f64,
    /// The MAP component.
    pub component: usize,
    /// The posterior `r_c` (empty unless asked for).
    pub responsibilities: Vec<f64>,
}

/// The scores of every sample, in input order.
#[derive(Debug, Clone)]
pub struct ScoreReport {
    /// The run folder.
    pub run: PathBuf,
    /// The layer scored (1-based).
    pub layer: usize,
    /// Its components.
    pub n_components: usize,
    /// Where each row came from.
    pub sources: Vec<RowSource>,
    /// Each row's scores.
    pub rows: Vec<RowScore>,
}

/// Scores `input` with layer `layer` (1-based) of the run (a folder or a checkpoint name).
pub fn score_input(
    run: &Path,
    input: &ScoreInput,
    layer: usize,
    responsibilities: bool,
    opts: &RunOptions,
) -> Result<ScoreReport, TrainError> {
    let run = resolve_run(run)?;
    let config = RunConfig::load(&run.join("config.toml"))?;
    let stack = config.stack();
    if !(1..=stack.len()).contains(&layer) {
        return Err(TrainError::Failed(format!(
            "--layer {layer}: the run at {} has layers 1 to {}",
            run.display(),
            stack.len()
        )));
    }
    let load = |i: usize| SavedLayer::load(&layer_dir(&run, i, stack.len()), &opts.device);
    let (first, mut model) = load(0)?;
    let (mut rows, sources) = input_rows(input, &config, first.input_shape, opts)?;
    // The layers below `layer` turn the rows into its input features, as in training.
    for i in 0..layer - 1 {
        let batch = stack[i].em.batch_size;
        let feature = stack[i + 1].input.expect("a stack's upper layers name their input");
        rows = with_layer!(&model, m => {
            let enc = encode_rows(m, &rows, batch, &opts.device)?;
            feature.compute(m, &enc)?
        });
        model = load(i + 1)?.1;
    }
    let batch = stack[layer - 1].em.batch_size;
    let (k, scored) = with_layer!(&model, m => {
        let enc = encode_rows(m, &rows, batch, &opts.device)?;
        (m.n_components(), score_rows(m, &enc, responsibilities)?)
    });
    Ok(ScoreReport { run, layer, n_components: k, sources, rows: scored })
}

/// Every row's `log p(x)`, MAP component and (when `keep`) posterior.
pub fn score_rows<M: Mixture>(
    layer: &M,
    data: &Encoded,
    keep: bool,
) -> Result<Vec<RowScore>, ModelError> {
    let k = layer.n_components();
    data.concat_batches(|_, x| {
        // On the device, as training scores (`score_samples`): `log p(x)` is the same number
        // `eval` sums; only the N MAP indices come back beside it, and the [N, K] posterior
        // only when it is asked for.
        let weighted = layer.weighted_log_prob(x.clone());
        let log_likelihoods = to_host_f64(log_sum_exp(weighted.clone()).squeeze_dim::<1>(1))?;
        let components = row_argmax(weighted.clone())?;
        let posterior = match keep {
            true => to_host_f64(weighted)?,
            false => Vec::new(),
        };
        Ok((0..log_likelihoods.len())
            .map(|n| match keep {
                // The posterior normalised in f64 on the host, by its own log-sum-exp.
                true => {
                    let row = &posterior[n * k..(n + 1) * k];
                    let log_likelihood = gmm_models::host::log_sum_exp(row);
                    let responsibilities = row.iter().map(|v| (v - log_likelihood).exp()).collect();
                    RowScore { log_likelihood, component: components[n], responsibilities }
                }
                false => RowScore {
                    log_likelihood: log_likelihoods[n],
                    component: components[n],
                    responsibilities: Vec::new(),
                },
            })
            .collect())
    })
}

/// The rows the first layer takes, and where each came from.
fn input_rows(
    input: &ScoreInput,
    config: &RunConfig,
    shape: [usize; 2],
    opts: &RunOptions,
) -> Result<(Vec<f32>, Vec<RowSource>), TrainError> {
    let dims = shape[0] * shape[1];
    let numbered = |name: &str, n: usize| {
        (0..n).map(|index| RowSource { source: name.to_string(), index, at: None }).collect()
    };
    match input {
        ScoreInput::Split(split) => {
            let set = load_split(&config.data, &opts.data_root, *split, config.seed)?;
            let n = set.len();
            Ok((set.pixels, numbered(&split.to_string(), n)))
        }
        ScoreInput::Array(path) => {
            let set = read_array(path)?;
            if set.dim() != dims {
                return Err(DataError::BadArray {
                    path: path.clone(),
                    reason: format!("rows of {} values; the model takes {dims}", set.dim()),
                }
                .into());
            }
            let n = set.len();
            Ok((set.pixels, numbered(&path.display().to_string(), n)))
        }
        ScoreInput::Images(path) => image_rows(path, &config.data, shape),
    }
}

/// Images as the model's rows: P×P tiles (centred, as the training patches were) for a
/// patch model, else whole images of the model's size.
fn image_rows(
    path: &Path,
    data: &DataConfig,
    [h, w]: [usize; 2],
) -> Result<(Vec<f32>, Vec<RowSource>), TrainError> {
    let gray = match data {
        DataConfig::Bsds(_) => Grayscale::Rec709,
        DataConfig::Mnist(_) | DataConfig::Images(_) => Grayscale::Rec601,
        DataConfig::Bsds300(_) | DataConfig::Array(_) => {
            return Err(DataError::Request(format!(
                "this model takes {} rows, not images: score `train`, `test` or a .npy/.csv \
                 file of {} columns",
                data.name(),
                h * w
            ))
            .into());
        }
    };
    let (files, dir) = match path.is_dir() {
        true => (ImageSet::files_in(path)?, path.to_path_buf()),
        false => (vec![path.to_path_buf()], path.parent().unwrap_or(Path::new(".")).into()),
    };
    let set = ImageSet::from_files(files, dir, gray)?;
    let name = |i: usize| set.files[i].display().to_string();
    if data.zero_meaned() {
        let (tiles, origins): (Images, _) = set.tiles(h, true);
        if tiles.is_empty() {
            return Err(DataError::Request(format!(
                "no image under {} is {h}x{h} or larger",
                path.display()
            ))
            .into());
        }
        let mut counts = vec![0usize; set.images.len()];
        let sources = origins
            .into_iter()
            .map(|(i, top, left)| {
                counts[i] += 1;
                RowSource { source: name(i), index: counts[i] - 1, at: Some((top, left)) }
            })
            .collect();
        return Ok((tiles.pixels, sources));
    }
    let images = set.whole_images()?;
    if (images.height, images.width) != (h, w) {
        return Err(DataError::Request(format!(
            "{} is {}x{}; the model takes {h}x{w} images",
            name(0),
            images.height,
            images.width
        ))
        .into());
    }
    let sources =
        (0..set.images.len()).map(|i| RowSource { source: name(i), index: 0, at: None }).collect();
    Ok((images.pixels, sources))
}

/// Per image (or file, or split): rows, mean and lowest `log p(x)`, in first-seen order.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSummary {
    /// The file or split.
    pub source: String,
    /// Rows scored.
    pub rows: usize,
    /// Mean `log p(x)`, nats.
    pub mean: f64,
    /// Lowest `log p(x)` (the most anomalous row), nats.
    pub min: f64,
}

impl ScoreReport {
    /// One summary per source.
    pub fn summaries(&self) -> Vec<SourceSummary> {
        let mut out: Vec<SourceSummary> = Vec::new();
        for (src, row) in self.sources.iter().zip(&self.rows) {
            let ll = row.log_likelihood;
            match out.last_mut() {
                Some(s) if s.source == src.source => {
                    s.mean += (ll - s.mean) / (s.rows + 1) as f64;
                    s.rows += 1;
                    s.min = s.min.min(ll);
                }
                _ => out.push(SourceSummary {
                    source: src.source.clone(),
                    rows: 1,
                    mean: ll,
                    min: ll,
                }),
            }
        }
        out
    }

    /// The CSV of every row: `source,index,top,left,log_likelihood,component[,r_0,…]`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("source,index,top,left,log_likelihood,component");
        if self.rows.first().is_some_and(|r| !r.responsibilities.is_empty()) {
            for c in 0..self.n_components {
                let _ = write!(out, ",r_{c}");
            }
        }
        out.push('\n');
        for (src, row) in self.sources.iter().zip(&self.rows) {
            let (top, left) = src
                .at
                .map_or((String::new(), String::new()), |(t, l)| (t.to_string(), l.to_string()));
            let quoted = src.source.replace('"', "\"\"");
            let _ = write!(
                out,
                "\"{quoted}\",{},{top},{left},{:.6},{}",
                src.index, row.log_likelihood, row.component
            );
            for r in &row.responsibilities {
                let _ = write!(out, ",{r:.6e}");
            }
            out.push('\n');
        }
        out
    }
}

impl std::fmt::Display for ScoreReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.rows.len();
        let (sum, sum_sq) = self
            .rows
            .iter()
            .fold((0.0, 0.0), |(a, q), r| (a + r.log_likelihood, q + r.log_likelihood.powi(2)));
        let summary = MeanLogLikelihood::from_sums(sum, sum_sq, n);
        let error = match summary.standard_error.is_finite() {
            true => format!(" ± {:.4}", summary.standard_error),
            false => String::new(),
        };
        let mean = summary.mean;
        writeln!(
            f,
            "{n} rows scored by layer {} of {} (K = {}): mean log p(x) {mean:.4}{error} nats \
             (± its standard error over the rows)",
            self.layer,
            self.run.display(),
            self.n_components
        )?;
        let summaries = self.summaries();
        if summaries.len() > 1 || self.sources.first().is_some_and(|s| s.at.is_some()) {
            writeln!(f, "{:>8} {:>14} {:>14}  source", "rows", "mean log p", "min log p")?;
            for s in summaries {
                writeln!(f, "{:>8} {:>14.4} {:>14.4}  {}", s.rows, s.mean, s.min, s.source)?;
            }
        }
        Ok(())
    }
}
