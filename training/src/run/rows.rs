//! A run's splits and a layer's input rows: held in memory (the loaded pixels, or the features
//! of the layer below), or left on disk and read whenever a pass needs them (`[data] stream =
//! true`, [`DiskSplit`]), in the same batches either way.

use crate::TrainError;
use crate::data::DiskSplit;
use crate::encode::encode_rows;
use crate::report::top::top_images;
use gmm_datasets::{Images, NpyRows};
use gmm_models::{Device, Encoded, Mixture, ModelError, Part, RowSource};
use std::borrow::Cow;
use std::sync::Arc;

/// One split of a run's data.
pub(crate) enum SplitData {
    /// Loaded into memory; which part of the whole split this process holds.
    Held(Images, Part),
    /// Left on disk.
    Disk(DiskSplit),
}

impl SplitData {
    /// The rows, as a layer takes them.
    pub fn rows(&self) -> Rows<'_> {
        match self {
            SplitData::Held(images, _) => Rows::Host(Cow::Borrowed(&images.pixels)),
            SplitData::Disk(split) => Rows::Disk(split.rows.clone()),
        }
    }

    /// Which part of the whole split this process holds.
    pub fn part(&self) -> Part {
        match self {
            SplitData::Held(_, part) => *part,
            SplitData::Disk(split) => split.part,
        }
    }

    /// Rows of the whole split (over every process).
    pub fn total(&self) -> usize {
        match (self.part(), self) {
            (Part::Shard { total, .. }, _) => total,
            (_, SplitData::Held(images, _)) => images.len(),
            (_, SplitData::Disk(split)) => split.rows.len(),
        }
    }

    /// `[height, width]` of a sample.
    pub fn shape(&self) -> [usize; 2] {
        match self {
            SplitData::Held(images, _) => [images.height, images.width],
            SplitData::Disk(split) => [1, split.rows.dim()],
        }
    }

    /// The rows' sample weights, scaled to mean 1 over the split.
    pub fn weights(&self) -> Option<&[f32]> {
        match self {
            SplitData::Held(images, _) => images.weights.as_deref(),
            SplitData::Disk(split) => split.weights.as_deref(),
        }
    }

    /// Class labels, where the data have them.
    pub fn labels(&self) -> Option<&[u8]> {
        match self {
            SplitData::Held(images, _) => images.labels.as_deref(),
            SplitData::Disk(_) => None,
        }
    }

    /// The rows `top` names (indices of the whole split) as pictures need them, and `top`
    /// renumbered into them ([`top_images`]); rows on disk are read.
    pub fn top_images(
        &self,
        top: Vec<Vec<usize>>,
    ) -> Result<(Cow<'_, Images>, Vec<Vec<usize>>), TrainError> {
        let split = match self {
            SplitData::Held(images, part) => return Ok(top_images(images, *part, top)),
            SplitData::Disk(split) => split,
        };
        let first = match split.part {
            Part::Shard { first, .. } => first,
            Part::Whole | Part::Alone => 0,
        };
        // Every process reads the named rows it holds; the others' come through the sum.
        let d = split.rows.dim();
        let picks: Vec<usize> = top.iter().flatten().copied().collect();
        let mut rows = vec![0f32; picks.len() * d];
        for (slot, &i) in picks.iter().enumerate() {
            if let Some(local) = i.checked_sub(first).filter(|&l| l < split.rows.len()) {
                rows[slot * d..(slot + 1) * d].copy_from_slice(&split.rows.read(local..local + 1)?);
            }
        }
        let pixels = match split.part {
            Part::Shard { .. } => gmm_models::processes::share_rows(&rows),
            Part::Whole | Part::Alone => rows,
        };
        let mut slots = 0..;
        let top = top.iter().map(|list| slots.by_ref().take(list.len()).collect()).collect();
        let images = Images { pixels, height: 1, width: d, labels: None, weights: None };
        Ok((Cow::Owned(images), top))
    }
}

/// A layer's input rows.
pub(crate) enum Rows<'a> {
    /// `[N, D]` row-major in memory.
    Host(Cow<'a, [f32]>),
    /// On disk, read when a pass needs them.
    Disk(NpyRows),
}

impl Rows<'_> {
    /// How many rows of `dim` values these are.
    pub fn count(&self, dim: usize) -> usize {
        match self {
            Rows::Host(rows) => rows.len() / dim.max(1),
            Rows::Disk(rows) => rows.len(),
        }
    }

    /// The rows encoded for `layer` in batches of `batch_size`: uploaded now, or (on disk) read
    /// and encoded batch by batch whenever a pass needs them.
    pub fn encode<M: Mixture + 'static>(
        &self,
        layer: &M,
        batch_size: usize,
        device: &Device,
    ) -> Result<Encoded, TrainError> {
        match self {
            Rows::Host(rows) => encode_rows(layer, rows, batch_size, device),
            Rows::Disk(rows) => {
                let source = Arc::new(DiskSource { rows: rows.clone(), layer: layer.clone() });
                let width = layer.encoded_width();
                Ok(Encoded::streamed(source, rows.len(), width, batch_size, device))
            }
        }
    }
}

/// Rows on disk, encoded for a layer as they are read.
struct DiskSource<M> {
    rows: NpyRows,
    layer: M,
}

impl<M: Mixture> RowSource for DiskSource<M> {
    fn rows(&self, range: std::ops::Range<usize>) -> Result<Vec<f32>, ModelError> {
        let rows = self.rows.read(range).map_err(|e| ModelError::Data(e.to_string()))?;
        Ok(self.layer.encode_checked(&rows)?.unwrap_or(rows))
    }
}
