//! Checkpoints that resume exactly: everything needed to continue a fit, written atomically,
//! checked on the way back in.
//!
//! File layout (`checkpoint.ckpt` in the run folder), little-endian:
//!
//! ```text
//! "GMMZCKPT" | format version: u32 | meta length: u64 | meta (JSON) | record length: u64 |
//! record (Burn burnpack bytes of the layer being trained) | xxh3-64 of everything before: u64
//! ```

use crate::em::FitReport;
use crate::run::clock::Spent;
use crate::{TrainError, fsio};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use xxhash_rust::xxh3::{xxh3_64, xxh3_128};

const MAGIC: &[u8; 8] = b"GMMZCKPT";
/// The checkpoint format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The checkpoint's file name in a run folder.
pub const FILE_NAME: &str = "checkpoint.ckpt";

pub use crate::config::CheckpointConfig;

/// What identifies the run a checkpoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// xxh3-128 of the config's model-relevant part (seed, data, layers), hex.
    pub config: String,
    /// xxh3-128 of the training inputs (shape and f32 bytes), hex.
    pub data: String,
    /// A second `config` hash this run also accepts from a checkpoint (not written): the one
    /// earlier builds wrote, see [`crate::RunConfig::model_definition_with_stopping_rule`].
    #[serde(skip)]
    pub config_earlier: Option<String>,
}

impl Fingerprint {
    /// Fingerprints a canonical config text and the training pixels.
    pub fn new(config_text: &str, shape: [usize; 2], pixels: &[f32]) -> Self {
        Self::of_hash(config_text, data_hash(shape, pixels))
    }

    /// Fingerprints a canonical config text and data whose hash is `data` ([`DataHasher`]).
    pub fn of_hash(config_text: &str, data: String) -> Self {
        Self { config: config_hash(config_text), data, config_earlier: None }
    }

    /// The data's fingerprint also naming the rows' sample weights, where there are any (a
    /// run resumes only with the weights it was started with).
    pub fn with_weights(mut self, weights: Option<&[f32]>) -> Self {
        if let Some(w) = weights {
            self.data = format!("{}+{}", self.data, data_hash([w.len(), 1], w));
        }
        self
    }

    /// Also accepts checkpoints whose config was fingerprinted as `config_text`.
    pub fn or_config(mut self, config_text: &str) -> Self {
        self.config_earlier = Some(config_hash(config_text));
        self
    }

    fn config_matches(&self, written: &str) -> bool {
        written == self.config || self.config_earlier.as_deref() == Some(written)
    }
}

fn config_hash(text: &str) -> String {
    format!("{:032x}", xxh3_128(text.as_bytes()))
}

/// xxh3-128 of a split's shape (`[height, width]` as little-endian u64) and f32 values, hex:
/// what checkpoints and the zoo's manifest identify data by.
pub fn data_hash(shape: [usize; 2], values: &[f32]) -> String {
    let mut hasher = DataHasher::new(shape);
    hasher.update(values);
    hasher.finish()
}

/// [`data_hash`] of values handed over block by block (rows read from disk): the same hash as
/// of their concatenation.
pub struct DataHasher(xxhash_rust::xxh3::Xxh3);

impl DataHasher {
    /// A hash of data of this shape.
    pub fn new(shape: [usize; 2]) -> Self {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&(shape[0] as u64).to_le_bytes());
        hasher.update(&(shape[1] as u64).to_le_bytes());
        Self(hasher)
    }

    /// The next values.
    pub fn update(&mut self, values: &[f32]) {
        for chunk in values.chunks(1 << 14) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.0.update(&bytes);
        }
    }

    /// The hash, hex.
    pub fn finish(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// Everything in a checkpoint besides the layer's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// The run it belongs to.
    pub fingerprint: Fingerprint,
    /// Which layer of the stack was being trained (0 for a single-layer run); the layers
    /// below it are complete in their folders.
    pub layer_index: usize,
    /// Its family (`conv`, `full`, `prob`).
    pub layer_kind: String,
    /// Its components at the time (pruning can lower it).
    pub trained_components: usize,
    /// The iterations so far: log-likelihood history, timings, events, and the RNG state.
    pub report: FitReport,
    /// Wall and CPU seconds the run took until this checkpoint, over every process that
    /// worked on it (0 in checkpoints written before it was recorded).
    #[serde(default)]
    pub spent: Spent,
}

/// A checkpoint read back and verified.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// The layer's burnpack record.
    pub record: Vec<u8>,
}

fn bad(path: &Path, what: &str) -> TrainError {
    TrainError::file(path, format!("{what}; the checkpoint is refused and left as it is"))
}

impl Checkpoint {
    /// Serialises and writes atomically (temporary file, fsync, rename).
    pub fn write(path: &Path, meta: &CheckpointMeta, record: &[u8]) -> Result<(), TrainError> {
        let json = serde_json::to_vec(meta).map_err(|e| TrainError::file(path, e))?;
        let mut bytes = Vec::with_capacity(36 + json.len() + record.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&json);
        bytes.extend_from_slice(&(record.len() as u64).to_le_bytes());
        bytes.extend_from_slice(record);
        let sum = xxh3_64(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        fsio::write_atomic(path, &bytes)
    }

    /// Reads and verifies a checkpoint: magic, version, lengths, checksum, metadata.
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let bytes = fsio::read(path)?;
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(bad(path, "is not a gmm-zoo checkpoint (wrong magic bytes)"));
        }
        if bytes.len() < 12 + 8 + 8 + 8 {
            return Err(bad(path, "is truncated"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(bad(
                path,
                &format!("has format version {version}; this build reads version {FORMAT_VERSION}"),
            ));
        }
        let body = bytes.len() - 8;
        let stored = u64::from_le_bytes(bytes[body..].try_into().unwrap());
        let meta_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        let rec_at = 20usize.checked_add(meta_len).filter(|&e| e + 8 <= body);
        let Some(rec_at) = rec_at else {
            return Err(bad(path, "is truncated (its lengths run past its end)"));
        };
        let rec_len = u64::from_le_bytes(bytes[rec_at..rec_at + 8].try_into().unwrap()) as usize;
        if rec_at + 8 + rec_len != body {
            return Err(bad(path, "is truncated (its lengths do not add up)"));
        }
        if xxh3_64(&bytes[..body]) != stored {
            return Err(bad(path, "is corrupted (checksum mismatch)"));
        }
        let meta: CheckpointMeta = serde_json::from_slice(&bytes[20..20 + meta_len])
            .map_err(|e| bad(path, &format!("has unreadable metadata ({e})")))?;
        Ok(Self { meta, record: bytes[rec_at + 8..body].to_vec() })
    }

    /// Refuses a checkpoint from another config or other data.
    pub fn check_fingerprint(&self, path: &Path, expected: &Fingerprint) -> Result<(), TrainError> {
        let which = match (
            expected.config_matches(&self.meta.fingerprint.config),
            self.meta.fingerprint.data == expected.data,
        ) {
            (true, true) => return Ok(()),
            (false, _) => "a different config (seed, data or layer settings changed)",
            (true, false) => {
                // A data-parallel job names its data by its ranks' shards ("<hash>-<ranks>").
                let ranks = |d: &str| d.split_once('-').map_or(1, |(_, p)| p.parse().unwrap_or(1));
                let (written, now) = (ranks(&self.meta.fingerprint.data), ranks(&expected.data));
                if written != now {
                    return Err(bad(
                        path,
                        &format!(
                            "was written by a job of {written} process(es), this one has {now}; \
                             resume with `mpirun -n {written}` (or without mpirun for 1), or \
                             train afresh without --resume"
                        ),
                    ));
                }
                "different training data"
            }
        };
        Err(bad(
            path,
            &format!("was written for {which}; restore them, or train afresh without --resume"),
        ))
    }
}

/// The checkpoint path of a run folder.
pub fn path_in(run: &Path) -> PathBuf {
    run.join(FILE_NAME)
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Asks training to stop after the current EM iteration (with a checkpoint); returns whether
/// a stop had already been asked for.
pub fn request_stop() -> bool {
    STOP.swap(true, Ordering::SeqCst)
}

/// Whether a stop has been asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values hashed block by block give the hash of their bytes in one piece (what the zoo's
    /// manifest recorded before rows could be read from disk).
    #[test]
    fn data_hash_in_blocks_is_the_hash_of_all_bytes() {
        let values: Vec<f32> = (0..40_000).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&3u64.to_le_bytes());
        bytes.extend_from_slice(&7u64.to_le_bytes());
        values.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        let whole = format!("{:032x}", xxh3_128(&bytes));
        assert_eq!(data_hash([3, 7], &values), whole);
        let mut hasher = DataHasher::new([3, 7]);
        values.chunks(999).for_each(|block| hasher.update(block));
        assert_eq!(hasher.finish(), whole);
    }
}
