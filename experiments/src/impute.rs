//! The missing values of an array file filled in by a trained full layer (`gmmzoo impute`):
//! each NaN (an empty CSV field, `NA`) replaced by its conditional mean given what the row
//! observes, or by one draw from the conditional distribution (`FullGmm::impute`,
//! models.md §2). Rows are imputed a block at a time; the output (`.npy` float32 or `.csv`)
//! is written whole, atomically.

use crate::zoo::resolve_run;
use gmm_datasets::{DataError, read_array};
use gmm_models::{Device, Draws};
use gmm_training::em::MeanLogLikelihood;
use gmm_training::folder::layer_dir;
use gmm_training::fsio::write_atomic;
use gmm_training::{Layer, Progress, RunConfig, SavedLayer, TrainError};
use std::fmt;
use std::path::{Path, PathBuf};

/// Rows imputed per block (one progress step).
const BLOCK_ROWS: usize = 4096;

/// What to impute and where to write it.
#[derive(Debug, Clone)]
pub struct ImputeRequest {
    /// A run folder, or a shipped checkpoint's name; its layer 0 must be a full layer.
    pub run: PathBuf,
    /// The rows: `.npy` or `.csv`, NaN where a value is missing.
    pub input: PathBuf,
    /// The output file: `.npy` (float32) or `.csv`.
    pub out: PathBuf,
    /// Draw each row's missing values from this seed instead of taking conditional means.
    pub draw_seed: Option<u64>,
}

/// What an imputation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imputed {
    /// Rows read.
    pub rows: usize,
    /// Values that were missing (and are filled in now).
    pub missing: usize,
    /// Mean over rows of `log p(x_o)`, the density of what each row observes (nats), and its
    /// standard error over rows.
    pub log_likelihood: MeanLogLikelihood,
    /// Where the rows went.
    pub out: PathBuf,
}

impl fmt::Display for Imputed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mean, se) = (self.log_likelihood.mean, self.log_likelihood.standard_error);
        write!(
            f,
            "{} rows, {} missing values filled in; log p(observed) {mean:.4} ± {se:.4} nats per \
             row; wrote {}",
            self.rows,
            self.missing,
            self.out.display()
        )
    }
}

/// Imputes every row of `request.input` and writes `request.out`.
pub fn impute_file(
    request: &ImputeRequest,
    device: &Device,
    progress: &Progress,
) -> Result<Imputed, TrainError> {
    let ext = request.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let as_csv = match ext.as_deref() {
        Some("npy") => false,
        Some("csv") => true,
        _ => return Err(TrainError::file(&request.out, "--out must end in .npy or .csv")),
    };
    let run = resolve_run(&request.run)?;
    let config = RunConfig::load(&run.join("config.toml"))?;
    let (saved, layer) = SavedLayer::load(&layer_dir(&run, 0, config.stack().len()), device)?;
    let Layer::Full(full) = layer else {
        let kind = layer.kind();
        return Err(TrainError::file(
            &run,
            format!("its layer 0 is a `{kind}` layer; only a full layer imputes missing values"),
        ));
    };
    let rows = read_array(&request.input)?;
    let d = saved.input_shape[0] * saved.input_shape[1];
    if rows.width != d {
        let reason = format!("rows of {} values; the model takes {d}", rows.width);
        return Err(DataError::BadArray { path: request.input.clone(), reason }.into());
    }
    let n = rows.len();
    let bar = progress.bar(n as u64, "imputing");
    let (mut filled, mut log_p) = (Vec::with_capacity(rows.pixels.len()), Vec::with_capacity(n));
    for (b, block) in rows.pixels.chunks(BLOCK_ROWS * d).enumerate() {
        let draws =
            request.draw_seed.map(|seed| Draws { seed, first_row: (b * BLOCK_ROWS) as u64 });
        let (values, lp) =
            full.impute(block, draws).map_err(|e| TrainError::file(&request.input, e))?;
        filled.extend(values);
        log_p.extend(lp);
        bar.inc((block.len() / d) as u64);
    }
    bar.finish_and_clear();
    let bytes = if as_csv { csv_bytes(&filled, d) } else { npy_bytes(&filled, [n, d])? };
    write_atomic(&request.out, &bytes)?;
    Ok(Imputed {
        rows: n,
        missing: rows.pixels.iter().filter(|v| v.is_nan()).count(),
        log_likelihood: MeanLogLikelihood::from_sums(
            log_p.iter().sum(),
            log_p.iter().map(|v| v * v).sum(),
            log_p.len(),
        ),
        out: request.out.clone(),
    })
}

fn npy_bytes(values: &[f32], shape: [usize; 2]) -> Result<Vec<u8>, TrainError> {
    use npyz::WriterBuilder;
    let mut bytes = Vec::new();
    let io = |e: std::io::Error| TrainError::file(Path::new("<npy>"), e);
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[shape[0] as u64, shape[1] as u64])
        .writer(std::io::Cursor::new(&mut bytes))
        .begin_nd()
        .map_err(io)?;
    writer.extend(values.iter().copied()).map_err(io)?;
    writer.finish().map_err(io)?;
    Ok(bytes)
}

fn csv_bytes(values: &[f32], d: usize) -> Vec<u8> {
    let mut text = String::with_capacity(values.len() * 10);
    for row in values.chunks(d) {
        let fields: Vec<String> = row.iter().map(f32::to_string).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text.into_bytes()
}
