//! The MNIST IDX reader: gzipped or raw files, magic numbers, dimensions and counts checked.

use crate::{DataError, Images};
use flate2::read::GzDecoder;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Which of the two standard MNIST splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistSplit {
    /// The 60,000 training digits (`train-*`).
    Train,
    /// The 10,000 test digits (`t10k-*`).
    Test,
}

impl MnistSplit {
    fn prefix(self) -> &'static str {
        match self {
            MnistSplit::Train => "train",
            MnistSplit::Test => "t10k",
        }
    }
}

/// MNIST under a data root (`<root>/mnist`).
#[derive(Debug, Clone)]
pub struct Mnist {
    dir: PathBuf,
}

impl Mnist {
    /// MNIST files under `<root>/mnist`.
    pub fn new(root: &Path) -> Self {
        Self { dir: root.join("mnist") }
    }

    /// Loads one split: images scaled to `[0, 1]` with their labels, no other processing.
    pub fn load(&self, split: MnistSplit) -> Result<Images, DataError> {
        self.load_rows(split, |n| 0..n).map(|(set, _)| set)
    }

    /// The images `keep(n)` of the split's `n` (and their labels), and `n`: only the kept
    /// block is scaled to f32 (a process of a data-parallel job holds its shard).
    pub fn load_rows(
        &self,
        split: MnistSplit,
        keep: impl FnOnce(usize) -> Range<usize>,
    ) -> Result<(Images, usize), DataError> {
        let images = self.find(split, "images-idx3")?;
        let labels = self.find(split, "labels-idx1")?;
        let labels = read_idx_labels(&labels)?;
        let (mut set, kept, n) = read_idx_image_rows(&images, keep)?;
        if labels.len() != n {
            return Err(DataError::BadIdx {
                path: images,
                reason: format!(
                    "holds {n} images but its label file holds {} labels",
                    labels.len()
                ),
            });
        }
        set.labels = Some(labels[kept].to_vec());
        Ok((set, n))
    }

    fn find(&self, split: MnistSplit, kind: &str) -> Result<PathBuf, DataError> {
        let stem = format!("{}-{kind}-ubyte", split.prefix());
        for name in [format!("{stem}.gz"), stem.clone()] {
            let path = self.dir.join(name);
            if path.is_file() {
                return Ok(path);
            }
        }
        Err(DataError::Missing {
            what: format!("MNIST file {stem}[.gz]"),
            path: self.dir.clone(),
            hint: "put the four standard MNIST IDX files there, or point --data-dir (or the \
                   GMM_ZOO_DATA variable) at a folder holding mnist/"
                .into(),
        })
    }
}

/// Reads a whole file, transparently un-gzipping it when it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |error| DataError::Io { path: path.to_path_buf(), error };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(|e| DataError::BadIdx {
            path: path.to_path_buf(),
            reason: format!("corrupt gzip stream ({e})"),
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses the IDX header: checks the magic, returns the dimensions and the payload.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    rank: usize,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let bad = |reason: String| DataError::BadIdx { path: path.to_path_buf(), reason };
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "only {} bytes, shorter than its {header}-byte header",
            bytes.len()
        )));
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    if word(0) != magic {
        return Err(bad(format!("magic number {:#010x}, expected {magic:#010x}", word(0))));
    }
    let dims: Vec<usize> = (1..=rank).map(|i| word(i) as usize).collect();
    let expected: usize = dims.iter().product();
    let payload = &bytes[header..];
    if payload.len() != expected {
        return Err(bad(format!(
            "dimensions {dims:?} need {expected} bytes of data, the file has {}{}",
            payload.len(),
            if payload.len() < expected { " (truncated?)" } else { "" }
        )));
    }
    Ok((dims, payload))
}

/// Reads an IDX image file (magic 0x803, `[n, rows, cols]` of bytes), scaled to `[0, 1]`.
pub fn read_idx_images(path: &Path) -> Result<Images, DataError> {
    read_idx_image_rows(path, |n| 0..n).map(|(set, ..)| set)
}

/// The images `keep(n)` of an IDX image file's `n`, scaled to `[0, 1]`; the kept block
/// (clipped to `0..n`) and `n`.
fn read_idx_image_rows(
    path: &Path,
    keep: impl FnOnce(usize) -> Range<usize>,
) -> Result<(Images, Range<usize>, usize), DataError> {
    let bytes = read_maybe_gz(path)?;
    let (dims, payload) = parse_idx(path, &bytes, IMAGES_MAGIC, 3)?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::BadIdx {
            path: path.to_path_buf(),
            reason: format!("image dimensions {}x{} are empty", dims[1], dims[2]),
        });
    }
    let (n, d) = (dims[0], dims[1] * dims[2]);
    let keep = keep(n);
    let keep = keep.start.min(n)..keep.end.min(n);
    let rows = &payload[keep.start * d..keep.end * d];
    let images = Images {
        pixels: rows.iter().map(|&b| b as f32 / 255.0).collect(),
        height: dims[1],
        width: dims[2],
        labels: None,
        weights: None,
    };
    Ok((images, keep, n))
}

/// Reads an IDX label file (magic 0x801, `[n]` of bytes).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (_, payload) = parse_idx(path, &bytes, LABELS_MAGIC, 1)?;
    Ok(payload.to_vec())
}
