//! A user's own feature matrix: one sample per row, from a `.npy` or a `.csv` file.

use crate::{DataError, Images};
use std::path::Path;

/// Reads a 2-D array of numbers, `[N, D]`, as rows of `f32` (an [`Images`] of height 1 and
/// width D): `.npy` (float32, float64 or uint8, C or Fortran order, through `npyz`) or `.csv`
/// (numbers separated by commas, no header row unless it is not numeric). Every value must
/// be finite; the error names the file and the first bad row.
pub fn read_array(path: &Path) -> Result<Images, DataError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let (values, n, d) = match ext.as_deref() {
        Some("npy") => read_npy(path)?,
        Some("csv") => read_csv(path)?,
        _ => {
            return Err(DataError::Request(format!(
                "{}: an array file must end in .npy or .csv",
                path.display()
            )));
        }
    };
    let bad = |reason: String| DataError::BadArray { path: path.to_path_buf(), reason };
    if n == 0 || d == 0 {
        return Err(bad(format!("it holds {n} rows of {d} values; need at least one of each")));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("row {} holds {} (every value must be finite)", i / d, values[i])));
    }
    Ok(Images { pixels: values, height: 1, width: d, labels: None })
}

/// `(values row-major, rows, columns)` of a 2-D `.npy`.
fn read_npy(path: &Path) -> Result<(Vec<f32>, usize, usize), DataError> {
    let io = |e: std::io::Error| DataError::Io { path: path.to_path_buf(), error: e };
    let bad = |reason: String| DataError::BadArray { path: path.to_path_buf(), reason };
    let file = std::fs::File::open(path).map_err(io)?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let (n, d) = match *npy.shape() {
        [n, d] => (n as usize, d as usize),
        ref shape => {
            return Err(bad(format!("it has shape {shape:?}; need 2-D [samples, features]")));
        }
    };
    crate::check_f32_count(&path.display().to_string(), n as u64, d as u64)
        .map_err(DataError::Request)?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let dtype = npy.dtype();
    let type_str = match &dtype {
        npyz::DType::Plain(t) => t.clone(),
        other => return Err(bad(format!("dtype {} is not a plain number type", other.descr()))),
    };
    use npyz::TypeChar::{Float, Uint};
    let read_err = |e: std::io::Error| bad(e.to_string());
    let values: Vec<f32> = match (type_str.type_char(), type_str.size_field()) {
        (Float, 4) => npy.into_vec::<f32>().map_err(read_err)?,
        (Float, 8) => {
            npy.into_vec::<f64>().map_err(read_err)?.into_iter().map(|v| v as f32).collect()
        }
        (Uint, 1) => npy.into_vec::<u8>().map_err(read_err)?.into_iter().map(f32::from).collect(),
        _ => {
            return Err(bad(format!(
                "dtype {type_str} is not float32, float64 or uint8 (convert it with \
                 numpy's astype)"
            )));
        }
    };
    if !fortran {
        return Ok((values, n, d));
    }
    // Column-major on disk: transpose to rows.
    let mut rows = vec![0f32; n * d];
    for (j, col) in values.chunks(n.max(1)).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            rows[i * d + j] = v;
        }
    }
    Ok((rows, n, d))
}

/// `(values row-major, rows, columns)` of a CSV of numbers; a first row that does not parse
/// as numbers is taken for a header.
fn read_csv(path: &Path) -> Result<(Vec<f32>, usize, usize), DataError> {
    let bad = |reason: String| DataError::BadArray { path: path.to_path_buf(), reason };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let budget = crate::memory_budget() / 4;
    let mut values = Vec::new();
    let mut width = None;
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let parsed: Result<Vec<f32>, _> = record.iter().map(str::parse::<f32>).collect();
        let row = match parsed {
            Ok(row) => row,
            Err(_) if line == 0 => continue, // a header
            Err(_) => {
                let field = record.iter().find(|f| f.parse::<f32>().is_err()).unwrap_or("");
                return Err(bad(format!("line {}: `{field}` is not a number", line + 1)));
            }
        };
        match width {
            None => width = Some(row.len()),
            Some(w) if w != row.len() => {
                return Err(bad(format!(
                    "line {} has {} values but the rows above have {w} (a ragged CSV)",
                    line + 1,
                    row.len()
                )));
            }
            Some(_) => {}
        }
        if values.len() as u64 + row.len() as u64 > budget {
            return Err(DataError::Request(format!(
                "{} holds more numbers than fit in half of this machine's memory",
                path.display()
            )));
        }
        values.extend(row);
    }
    let d = width.unwrap_or(0);
    let n = values.len() / d.max(1);
    Ok((values, n, d))
}

/// A seeded split of `n` items into train and test: a random 10 % (at least one) for the
/// test split, each split kept in the original order. Needs `n >= 2`.
pub fn seeded_split(n: usize, seed: u64) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    if n < 2 {
        return Err(DataError::Request(format!(
            "{n} item(s) cannot be split into train and test; give data.test or more data"
        )));
    }
    let n_test = (n / 10).max(1);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut test = order[..n_test].to_vec();
    let mut train = order[n_test..].to_vec();
    test.sort_unstable();
    train.sort_unstable();
    Ok((train, test))
}
