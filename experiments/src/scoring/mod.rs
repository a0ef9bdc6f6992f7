//! Scoring new data with a trained run, without training: per-sample log-likelihood, MAP
//! component and (optionally) the posterior row — anomaly detection and clustering.
//!
//! For a sample `x` and a layer with weights `π_c` and component densities `N(x | c)`:
//! `log p(x) = logsumexp_c (log π_c + log N(x | c))`, the MAP component
//! `argmax_c (log π_c + log N(x | c))`, and `r_c = exp(log π_c + log N(x | c) − log p(x))`.
//! A layer above the first scores the features of the layers below, as in training.

//!
//! Rows go through in blocks of [`BLOCK_ROWS`]: an array file is read a block at a time
//! ([`ArrayBlocks`]) and each block's CSV lines are written as it is scored, so memory does not
//! grow with the rows of a `.npy` or `.csv`; each block's batches run on every core.

mod ensemble;
mod input;
mod report;
mod symmetric;

pub use ensemble::{EnsembleScore, Member, fit_weights, score_ensemble};
pub use report::{
    RowScore, RowSource, ScoreReport, ScoreSummary, SourceSummary, csv_header, csv_lines,
};

use crate::zoo::resolve_run;
use gmm_datasets::bsds300::Augment;
use gmm_datasets::symmetry::square_rows;
use gmm_datasets::{ArrayBlocks, DataError};
use gmm_models::{Encoded, Mixture, ModelError, log_sum_exp, row_argmax, to_host_f64};
use gmm_training::config::{RunConfig, Split};
use gmm_training::encode::encode_rows;
use gmm_training::folder::layer_dir;
use gmm_training::{Layer, RunOptions, SavedLayer, StackLayer, TrainError, with_layer};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Rows scored at once: 65,536 rows of BSDS300's 63 values take 16.5 MB.
pub const BLOCK_ROWS: usize = 1 << 16;

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
    /// `train` / `test` / `valid` name the run's splits; a `.npy` or `.csv` file is an array; any other
    /// path is an image file or a folder of images.
    pub fn parse(arg: &str) -> Self {
        let path = PathBuf::from(arg);
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match (arg, ext.as_deref()) {
            ("train", _) => ScoreInput::Split(Split::Train),
            ("test", _) => ScoreInput::Split(Split::Test),
            ("valid", _) => ScoreInput::Split(Split::Valid),
            (_, Some("npy" | "csv")) => ScoreInput::Array(path),
            _ => ScoreInput::Images(path),
        }
    }
}

/// Scores `input` with layer `layer` (counted from 0, as the run's `layer0/` … folders) of
/// the run (a folder or a checkpoint name), block by block: `each` gets every block's sources
/// and scores in input order. With a `symmetry` group, the model is averaged over the group's
/// maps of the rows (square patches: [`gmm_datasets::symmetry`]; the scores as
/// [`symmetric`](self::symmetric) combines them).
pub fn score_stream(
    run: &Path,
    input: &ScoreInput,
    (layer, symmetry): (usize, Augment),
    responsibilities: bool,
    opts: &RunOptions,
    each: &mut dyn FnMut(&[RowSource], &[RowScore]) -> Result<(), TrainError>,
) -> Result<ScoreSummary, TrainError> {
    let run = resolve_run(run)?;
    let config = RunConfig::load(&run.join("config.toml"))?;
    let stack = config.stack();
    let (shape, layers) = layers_up_to(&run, &stack, layer, opts)?;
    let mut summary = ScoreSummary::new(run.clone(), layer, layers[layer].n_components());
    summary.symmetries = symmetry.order();
    let dims = shape[0] * shape[1];
    let square = (symmetry.order() > 1).then(|| square_rows(dims, symmetry)).transpose()?;
    let mut block = |rows: &[f32], sources: &[RowSource]| -> Result<(), TrainError> {
        let scores = match square {
            None => score_block(&layers, &stack, rows, responsibilities, opts)?,
            Some(square) => symmetric::combine(
                &(0..symmetry.order())
                    .map(|g| {
                        score_block(&layers, &stack, &square.map(rows, g), responsibilities, opts)
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        summary.add(sources, &scores);
        each(sources, &scores)
    };
    match input {
        ScoreInput::Array(path) => {
            let mut blocks = ArrayBlocks::open(path)?;
            if blocks.dim() != dims {
                return Err(DataError::BadArray {
                    path: path.clone(),
                    reason: format!("rows of {} values; the model takes {dims}", blocks.dim()),
                }
                .into());
            }
            let bar = opts.progress.bar(blocks.total().unwrap_or(0) as u64, "scoring");
            let name = path.display().to_string();
            let mut first = 0;
            while let Some(rows) = blocks.next_block(BLOCK_ROWS)? {
                let n = rows.len() / dims;
                let sources: Vec<RowSource> = (first..first + n)
                    .map(|index| RowSource { source: name.clone(), index, at: None })
                    .collect();
                block(&rows, &sources)?;
                first += n;
                bar.inc(n as u64);
            }
            bar.finish_and_clear();
        }
        ScoreInput::Split(split) => {
            let (rows, sources) = input::split_rows(*split, &config, opts)?;
            blocks_of(&rows, &sources, dims, opts, &mut block)?;
        }
        ScoreInput::Images(path) => {
            let (rows, sources) = input::image_rows(path, &config.data, shape)?;
            blocks_of(&rows, &sources, dims, opts, &mut block)?;
        }
    }
    Ok(summary)
}

/// The run's layers 0 to `layer` (counted from 0, as its `layer0/` … folders), and the shape
/// of layer 0's input rows.
fn layers_up_to(
    run: &Path,
    stack: &[StackLayer],
    layer: usize,
    opts: &RunOptions,
) -> Result<([usize; 2], Vec<Layer>), TrainError> {
    if layer >= stack.len() {
        let top = stack.len() - 1;
        return Err(TrainError::Failed(format!(
            "--layer {layer}: the run at {} has layers 0 to {top} (layers count from 0, as its \
             layer0/ … folders and Python's load(layer=) do; the top layer is --layer {top})",
            run.display()
        )));
    }
    let (mut shape, mut layers) = ([0, 0], Vec::new());
    for i in 0..=layer {
        let (saved, model) = SavedLayer::load(&layer_dir(run, i, stack.len()), &opts.device)?;
        shape = if i == 0 { saved.input_shape } else { shape };
        layers.push(model);
    }
    Ok((shape, layers))
}

/// Rows held in memory, handed to `block` [`BLOCK_ROWS`] at a time.
fn blocks_of(
    rows: &[f32],
    sources: &[RowSource],
    dims: usize,
    opts: &RunOptions,
    block: &mut dyn FnMut(&[f32], &[RowSource]) -> Result<(), TrainError>,
) -> Result<(), TrainError> {
    let bar = opts.progress.bar(sources.len() as u64, "scoring");
    for (rows, sources) in rows.chunks(BLOCK_ROWS * dims).zip(sources.chunks(BLOCK_ROWS)) {
        block(rows, sources)?;
        bar.inc(sources.len() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// One block's scores by the last of `layers`, the layers below turning the rows into its
/// input features, as in training.
fn score_block(
    layers: &[Layer],
    stack: &[StackLayer],
    rows: &[f32],
    responsibilities: bool,
    opts: &RunOptions,
) -> Result<Vec<RowScore>, TrainError> {
    let mut rows = std::borrow::Cow::Borrowed(rows);
    let top = layers.len() - 1;
    for (i, model) in layers[..top].iter().enumerate() {
        let feature = stack[i + 1].input.expect("a stack's upper layers name their input");
        let next = with_layer!(model, m => {
            let enc = encode_rows(m, &rows, stack[i].em.batch_size, &opts.device)?;
            feature.compute(m, &enc)?
        });
        rows = std::borrow::Cow::Owned(next);
    }
    Ok(with_layer!(&layers[top], m => {
        let enc = encode_rows(m, &rows, stack[top].em.batch_size, &opts.device)?;
        score_rows(m, &enc, responsibilities)?
    }))
}

/// Scores `input` as [`score_stream`] does, keeping every row (for data that fit in memory).
pub fn score_input(
    run: &Path,
    input: &ScoreInput,
    layer: usize,
    responsibilities: bool,
    opts: &RunOptions,
) -> Result<ScoreReport, TrainError> {
    let (mut all_sources, mut all_rows) = (Vec::new(), Vec::new());
    let summary =
        score_stream(run, input, (layer, Augment::None), responsibilities, opts, &mut |s, r| {
            all_sources.extend_from_slice(s);
            all_rows.extend_from_slice(r);
            Ok(())
        })?;
    Ok(ScoreReport {
        run: summary.run,
        layer,
        n_components: summary.n_components,
        sources: all_sources,
        rows: all_rows,
    })
}

/// Scores `input` as [`score_stream`] does (`layer`: its layer and symmetry), writing every row's CSV line to `out` as its block
/// is scored (into a temporary file beside it, renamed when complete: a failure or a kill
/// leaves no half-written file).
pub fn score_to_csv(
    run: &Path,
    input: &ScoreInput,
    layer: (usize, Augment),
    responsibilities: bool,
    opts: &RunOptions,
    out: &Path,
) -> Result<ScoreSummary, TrainError> {
    let name = out.file_name().ok_or_else(|| TrainError::file(out, "not a file path"))?;
    let tmp = out.with_file_name(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let write_err = |e: std::io::Error| TrainError::file(&tmp, format!("cannot write: {e}"));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(write_err)?;
        let mut csv = std::io::BufWriter::new(file);
        let mut header = false;
        let summary = score_stream(run, input, layer, responsibilities, opts, &mut |s, r| {
            if !header {
                let k = r.first().map_or(0, |row| row.responsibilities.len());
                csv.write_all(csv_header(k, k > 0).as_bytes()).map_err(write_err)?;
                header = true;
            }
            csv.write_all(csv_lines(s, r).as_bytes()).map_err(write_err)
        })?;
        if !header {
            csv.write_all(csv_header(summary.n_components, responsibilities).as_bytes())
                .map_err(write_err)?;
        }
        csv.into_inner().map_err(|e| write_err(e.into_error()))?.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, out)
            .map_err(|e| TrainError::file(out, format!("cannot write: {e}")))?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
