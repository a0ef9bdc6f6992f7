//! The rows of a `.npy` file read from disk when they are needed (`[data] stream = true`): data
//! bigger than memory. Nothing of the file is held; a read of some rows is one positioned
//! read (`pread`) per stretch of the file they lie in, converted to f32 there. Which rows a
//! split holds is a sorted list of the file's row indices (4 bytes a row, where a split is
//! drawn from the file) or all of them, and of those a window (the first `n_train`, a
//! process's block).

use crate::DataError;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows of a split closer than this in the file are read in one stretch with those between.
const GAP_ROWS: usize = 16;

/// A value's type on disk.
#[derive(Debug, Clone, Copy)]
enum Elem {
    F32,
    F64,
    U8,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::F64 => 8,
            Elem::U8 => 1,
        }
    }

    fn push(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Elem::F32 => out.extend(
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))),
            ),
            Elem::F64 => out.extend(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32),
            ),
            Elem::U8 => out.extend(bytes.iter().map(|&b| f32::from(b))),
        }
    }
}

/// Some rows of a C-order little-endian `.npy` file (float32, float64 or uint8), read on
/// demand. Cloning shares the open file.
#[derive(Debug, Clone)]
pub struct NpyRows {
    path: PathBuf,
    file: Arc<std::fs::File>,
    data_offset: u64,
    dim: usize,
    elem: Elem,
    /// The file's rows this set holds, in order (`None`: every row).
    picks: Option<Arc<Vec<u32>>>,
    /// The window of those that this set is.
    window: Range<usize>,
}

impl NpyRows {
    /// Opens `path` and reads its header; a file that is not C-order, little-endian and of a
    /// plain float32, float64 or uint8 type, or shorter than its header promises, is refused
    /// here with one sentence naming it.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let bad = |reason: String| DataError::BadArray { path: path.to_path_buf(), reason };
        if path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref()
            != Some("npy")
        {
            return Err(bad("rows are read from disk (data.stream) only from a .npy file".into()));
        }
        let io = |e: std::io::Error| DataError::Io { path: path.to_path_buf(), error: e };
        let (file_len, data_offset) = crate::array_blocks::npy_data_offset(path)?;
        let file = std::fs::File::open(path).map_err(io)?;
        let npy = npyz::NpyFile::new(std::io::BufReader::new(file.try_clone().map_err(io)?))
            .map_err(|e| bad(e.to_string()))?;
        let (rows, dim) = crate::array_blocks::rows_and_width(npy.shape()).map_err(bad)?;
        if npy.order() == npyz::Order::Fortran {
            return Err(bad(
                "it is stored column by column (Fortran order); rows are read from disk \
                 (data.stream) only from a C-order file (numpy's ascontiguousarray)"
                    .into(),
            ));
        }
        let descr = match npy.dtype() {
            npyz::DType::Plain(t) => t.to_string(),
            other => other.descr(),
        };
        let elem = match descr.as_str() {
            "<f4" => Elem::F32,
            "<f8" => Elem::F64,
            "|u1" | "<u1" => Elem::U8,
            other => {
                return Err(bad(format!(
                    "dtype {other} cannot be read from disk (data.stream); need little-endian \
                     float32, float64 or uint8"
                )));
            }
        };
        let promised = (rows as u64).saturating_mul((dim * elem.size()) as u64);
        if file_len.saturating_sub(data_offset) < promised {
            return Err(bad(format!(
                "its header promises {rows} rows of {dim} values ({promised} bytes) but the file \
                 holds {} bytes of data: it is truncated",
                file_len.saturating_sub(data_offset)
            )));
        }
        u32::try_from(rows).map_err(|_| {
            bad(format!("it holds {rows} rows; data.stream reads at most {} rows", u32::MAX))
        })?;
        let (path, file) = (path.to_path_buf(), Arc::new(file));
        Ok(Self { path, file, data_offset, dim, elem, picks: None, window: 0..rows })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows in this set.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// True when the set holds no rows.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// The file row of this set's row `i`.
    fn file_row(&self, i: usize) -> usize {
        let j = self.window.start + i;
        self.picks.as_ref().map_or(j, |p| p[j] as usize)
    }

    /// The rows `keep` of this set (indices into it, increasing): a split drawn from it.
    pub fn select(&self, keep: &[usize]) -> Self {
        let picks: Vec<u32> = keep.iter().map(|&i| self.file_row(i) as u32).collect();
        let window = 0..picks.len();
        Self { picks: Some(Arc::new(picks)), window, ..self.clone() }
    }

    /// The rows `range` of this set (the first `n`, a process's block).
    pub fn window(&self, range: Range<usize>) -> Self {
        let start = self.window.start + range.start.min(self.len());
        let end = self.window.start + range.end.min(self.len());
        Self { window: start..end.max(start), ..self.clone() }
    }

    /// Rows `range` of this set, row-major `[range.len(), dim]` f32, each value finite or NaN
    /// (a missing value); an infinite value is refused naming its row of the file.
    pub fn read(&self, range: Range<usize>) -> Result<Vec<f32>, DataError> {
        let end = range.end.min(self.len());
        let mut out = Vec::with_capacity(range.len() * self.dim);
        let mut i = range.start;
        while i < end {
            // One stretch of the file: rows i.. whose file rows lie close together.
            let first = self.file_row(i);
            let mut last = first;
            let mut j = i + 1;
            while j < end && self.file_row(j) - last <= GAP_ROWS {
                last = self.file_row(j);
                j += 1;
            }
            let stretch = self.read_file_rows(first..last + 1)?;
            for k in i..j {
                let at = (self.file_row(k) - first) * self.dim;
                out.extend_from_slice(&stretch[at..at + self.dim]);
            }
            i = j;
        }
        if let Some(v) = out.iter().position(|v| v.is_infinite()) {
            let row = self.file_row(range.start + v / self.dim);
            return Err(DataError::BadArray {
                path: self.path.clone(),
                reason: format!(
                    "row {row} holds {} (NaN marks a missing value; every other value must be \
                     finite)",
                    out[v]
                ),
            });
        }
        Ok(out)
    }

    /// The rows `picks` of this set (any order), row-major.
    pub fn gather(&self, picks: &[usize]) -> Result<Vec<f32>, DataError> {
        let mut out = Vec::with_capacity(picks.len() * self.dim);
        for &i in picks {
            out.extend(self.read(i..i + 1)?);
        }
        Ok(out)
    }

    /// The file's rows `rows`, converted to f32.
    fn read_file_rows(&self, rows: Range<usize>) -> Result<Vec<f32>, DataError> {
        let row_bytes = self.dim * self.elem.size();
        let mut bytes = vec![0u8; rows.len() * row_bytes];
        let at = self.data_offset + (rows.start * row_bytes) as u64;
        self.file
            .read_exact_at(&mut bytes, at)
            .map_err(|error| DataError::Io { path: self.path.clone(), error })?;
        let mut out = Vec::with_capacity(rows.len() * self.dim);
        self.elem.push(&bytes, &mut out);
        Ok(out)
    }
}
