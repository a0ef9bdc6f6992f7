//! An array file (`.npy` or `.csv`, one sample per row) read in blocks of rows, so that the
//! rows a command streams through never have to fit in memory at once. A C-order `.npy` is
//! read value by value from its data; a Fortran-order one (column-major on disk) is read
//! whole and transposed; a CSV record by record, a non-numeric first line taken for a header.

use crate::DataError;
use std::io::Read;
use std::path::{Path, PathBuf};

type Values = Box<dyn Iterator<Item = std::io::Result<f32>>>;

/// The rows of an array file, a block at a time.
pub struct ArrayBlocks {
    path: PathBuf,
    dim: usize,
    /// Rows the `.npy` header promises (unknown for a CSV).
    total: Option<usize>,
    /// Rows handed out so far.
    done: usize,
    source: Source,
}

enum Source {
    Npy(Values),
    Whole(Vec<f32>),
    Csv { records: csv::StringRecordsIntoIter<std::fs::File>, line: usize, first: Option<Vec<f32>> },
}

impl ArrayBlocks {
    /// Opens `path` (`.npy` or `.csv`) and reads its shape; a `.npy` shorter than its header
    /// promises is refused here, naming the rows promised and the bytes present.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("npy") => open_npy(path),
            Some("csv") => open_csv(path),
            _ => Err(DataError::Request(format!(
                "{}: an array file must end in .npy or .csv",
                path.display()
            ))),
        }
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The rows the file holds, where its header says (`.npy`).
    pub fn total(&self) -> Option<usize> {
        self.total
    }

    fn bad(&self, reason: String) -> DataError {
        DataError::BadArray { path: self.path.clone(), reason }
    }

    /// The next at most `rows` rows, row-major, each value checked finite or NaN (a missing
    /// value, which a full layer takes and the other families refuse); `None` at the end.
    pub fn next_block(&mut self, rows: usize) -> Result<Option<Vec<f32>>, DataError> {
        let (d, want) = (self.dim, rows.max(1));
        let mut out = Vec::with_capacity(want.min(1 << 16) * d);
        match &mut self.source {
            Source::Npy(values) => {
                for v in values.by_ref().take(want * d) {
                    out.push(v.map_err(|e| DataError::BadArray {
                        path: self.path.clone(),
                        reason: format!("cannot read its data: {e}"),
                    })?);
                }
            }
            Source::Whole(values) => {
                let start = self.done * d;
                let end = (start + want * d).min(values.len());
                out.extend_from_slice(&values[start..end]);
            }
            Source::Csv { records, line, first } => {
                out.extend(first.take().unwrap_or_default());
                while out.len() < want * d {
                    let Some(record) = records.next() else { break };
                    *line += 1;
                    let record = record.map_err(|e| DataError::BadArray {
                        path: self.path.clone(),
                        reason: e.to_string(),
                    })?;
                    let row = csv_row(&record, *line, d)
                        .map_err(|r| DataError::BadArray { path: self.path.clone(), reason: r })?;
                    out.extend(row);
                }
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        if !out.len().is_multiple_of(d) {
            return Err(self.bad(format!("its data end inside row {}", self.done + out.len() / d)));
        }
        if let Some(i) = out.iter().position(|v| v.is_infinite()) {
            let row = self.done + i / d;
            return Err(self.bad(format!(
                "row {row} holds {} (NaN marks a missing value; every other value must be finite)",
                out[i]
            )));
        }
        self.done += out.len() / d;
        Ok(Some(out))
    }
}

/// A CSV record as numbers (`None` for a blank line), or why not.
fn parse_record(record: &csv::StringRecord) -> Option<Result<Vec<f32>, String>> {
    if record.iter().all(str::is_empty) {
        return None;
    }
    Some(record.iter().map(csv_value).collect::<Result<_, _>>().map_err(|_| {
        let field = record.iter().find(|f| csv_value(f).is_err()).unwrap_or("");
        format!("`{field}` is not a number")
    }))
}

/// A CSV field as a number; an empty field (or `NaN`, `NA`) is a missing value, NaN.
fn csv_value(field: &str) -> Result<f32, std::num::ParseFloatError> {
    match field {
        "" | "NA" | "nan" | "NaN" => Ok(f32::NAN),
        _ => field.parse::<f32>(),
    }
}

/// Line `line`'s numbers, which must be `d` of them.
fn csv_row(record: &csv::StringRecord, line: usize, d: usize) -> Result<Vec<f32>, String> {
    match parse_record(record) {
        None => Ok(Vec::new()),
        Some(Err(e)) => Err(format!("line {line}: {e}")),
        Some(Ok(row)) if row.len() != d => Err(format!(
            "line {line} has {} values but the rows above have {d} (a ragged CSV)",
            row.len()
        )),
        Some(Ok(row)) => Ok(row),
    }
}

fn open_csv(path: &Path) -> Result<ArrayBlocks, DataError> {
    let bad = |reason: String| DataError::BadArray { path: path.to_path_buf(), reason };
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let mut records = reader.into_records();
    // The first line of numbers fixes the width; a first line that is not numbers is a header.
    let mut line = 0;
    let first = loop {
        let Some(record) = records.next() else { break None };
        line += 1;
        let record = record.map_err(|e| bad(e.to_string()))?;
        match parse_record(&record) {
            None => continue,
            Some(Ok(row)) => break Some(row),
            Some(Err(_)) if line == 1 => continue,
            Some(Err(e)) => return Err(bad(format!("line {line}: {e}"))),
        }
    };
    let dim = first.as_ref().map_or(0, Vec::len);
    if dim == 0 {
        return Err(bad("it holds no rows of numbers".into()));
    }
    let source = Source::Csv { records, line, first };
    Ok(ArrayBlocks { path: path.to_path_buf(), dim, total: None, done: 0, source })
}

/// A `.npy` file's length and where its data start: magic, version, then the header's length,
/// u16 (version 1) or u32 (2, 3).
pub(crate) fn npy_data_offset(path: &Path) -> Result<(u64, u64), DataError> {
    let io = |e: std::io::Error| DataError::Io { path: path.to_path_buf(), error: e };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut head = [0u8; 12];
    let read = file.read(&mut head).map_err(io)?;
    let offset = match (read, &head[..6] == b"\x93NUMPY", head[6]) {
        (12, true, 1) => 10 + u16::from_le_bytes([head[8], head[9]]) as u64,
        (12, true, _) => 12 + u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64,
        _ => {
            let reason = "it is not a .npy file (no NUMPY header)".into();
            return Err(DataError::BadArray { path: path.to_path_buf(), reason });
        }
    };
    Ok((file_len, offset))
}

/// A `.npy` shape as `(rows, values per row)`: 2-D `[samples, features]`, or 1-D `[samples]`
/// (one value per sample: a column of sample weights, or rows of one feature); at least one of
/// each.
pub(crate) fn rows_and_width(shape: &[u64]) -> Result<(usize, usize), String> {
    let (n, d) = match *shape {
        [n, d] => (n as usize, d as usize),
        [n] => (n as usize, 1),
        ref shape => {
            return Err(format!(
                "it has shape {shape:?}; need 2-D [samples, features] (or 1-D [samples])"
            ));
        }
    };
    if n == 0 || d == 0 {
        return Err(format!("it holds {n} rows of {d} values; need at least one of each"));
    }
    Ok((n, d))
}

fn open_npy(path: &Path) -> Result<ArrayBlocks, DataError> {
    let io = |e: std::io::Error| DataError::Io { path: path.to_path_buf(), error: e };
    let bad = |reason: String| DataError::BadArray { path: path.to_path_buf(), reason };
    let (file_len, data_offset) = npy_data_offset(path)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let (n, d) = rows_and_width(npy.shape()).map_err(bad)?;
    let type_str = match npy.dtype() {
        npyz::DType::Plain(t) => t,
        other => return Err(bad(format!("dtype {} is not a plain number type", other.descr()))),
    };
    let size = type_str.size_field() as u64;
    let promised = (n as u64).saturating_mul(d as u64).saturating_mul(size);
    let present = file_len.saturating_sub(data_offset);
    if present < promised {
        return Err(bad(format!(
            "its header promises {n} rows of {d} values ({promised} bytes of {type_str}) but \
             the file holds {present} bytes of data: it is truncated"
        )));
    }
    use npyz::TypeChar::{Float, Uint};
    let fortran = npy.order() == npyz::Order::Fortran;
    let read_err = |e: std::io::Error| bad(e.to_string());
    let values: Values = match (type_str.type_char(), type_str.size_field()) {
        (Float, 4) => Box::new(npy.data::<f32>().map_err(|e| bad(e.to_string()))?),
        (Float, 8) => Box::new(
            npy.data::<f64>().map_err(|e| bad(e.to_string()))?.map(|v| v.map(|v| v as f32)),
        ),
        (Uint, 1) => {
            Box::new(npy.data::<u8>().map_err(|e| bad(e.to_string()))?.map(|v| v.map(f32::from)))
        }
        _ => {
            return Err(bad(format!(
                "dtype {type_str} is not float32, float64 or uint8 (convert it with numpy's \
                 astype)"
            )));
        }
    };
    let source = match fortran {
        false => Source::Npy(values),
        true => {
            // Column-major on disk: read whole (within half the memory) and transpose to rows.
            crate::check_f32_count(&path.display().to_string(), n as u64, d as u64)
                .map_err(DataError::Request)?;
            let columns = values.collect::<std::io::Result<Vec<f32>>>().map_err(read_err)?;
            let mut rows = vec![0f32; n * d];
            for (j, col) in columns.chunks(n).enumerate() {
                for (i, &v) in col.iter().enumerate() {
                    rows[i * d + j] = v;
                }
            }
            Source::Whole(rows)
        }
    };
    Ok(ArrayBlocks { path: path.to_path_buf(), dim: d, total: Some(n), done: 0, source })
}
