//! Data encoded for one layer, in row batches on the device: the E-step's input.

use crate::ModelError;
use crate::processes::{self, Part};
use crate::readback::host_vec;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::Arc;

/// Rows read when a batch is needed rather than held (data bigger than memory): rows `range`
/// of the data, already encoded for the layer, row-major `[range.len(), width]`.
pub trait RowSource: Send + Sync {
    /// Rows `range`, encoded.
    fn rows(&self, range: Range<usize>) -> Result<Vec<f32>, ModelError>;
}

/// Where the batches are: held on the device, or read from a [`RowSource`] each time a pass
/// needs one (and dropped after).
#[derive(Clone)]
enum Store {
    Held(Vec<Tensor<2>>),
    Streamed { source: Arc<dyn RowSource>, batch_size: usize },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Held(batches) => write!(f, "Held({} batches)", batches.len()),
            Store::Streamed { batch_size, .. } => write!(f, "Streamed(batches of {batch_size})"),
        }
    }
}

/// Data already encoded for one layer (e.g. periodograms for the convolutional GMM), held on
/// the device in row batches so that no step ever materialises N×K×D numbers, or read batch by
/// batch from a [`RowSource`] when a pass needs it ([`Encoded::streamed`]): the same batches
/// either way, so the same sums.
#[derive(Debug, Clone)]
pub struct Encoded {
    store: Store,
    device: Device,
    /// Total rows N.
    pub n: usize,
    /// Width F of a row.
    pub width: usize,
    /// Which rows of the whole data set these are: all of them, or this process's shard
    /// (whose sums the other processes' complete, [`crate::processes`]).
    pub part: Part,
    /// Per-row weights of each batch, scaled to mean 1 over the whole data set
    /// ([`Encoded::with_sample_weights`]); `None`: every row counts once.
    pub weights: Option<Vec<Vec<f32>>>,
}

impl Encoded {
    /// Uploads host rows `[n, width]` in batches of `batch_size` rows.
    pub fn from_rows(rows: &[f32], width: usize, batch_size: usize, device: &Device) -> Self {
        assert!(width > 0 && batch_size > 0 && rows.len().is_multiple_of(width));
        let n = rows.len() / width;
        let batches = rows
            .chunks(batch_size * width)
            .map(|c| {
                let shape = [c.len() / width, width];
                Tensor::from_data(TensorData::new(parallel_copy(c), shape), device)
            })
            .collect();
        Self::from_batches(batches, n, width, device)
    }

    /// Batches already on `device` (`n` rows of `width` in all).
    pub fn from_batches(batches: Vec<Tensor<2>>, n: usize, width: usize, device: &Device) -> Self {
        let (store, device) = (Store::Held(batches), device.clone());
        Self { store, device, n, width, part: Part::Whole, weights: None }
    }

    /// `n` rows of `width` read from `source` in batches of `batch_size` rows whenever a pass
    /// needs them: memory holds a few batches, not the rows.
    pub fn streamed(
        source: Arc<dyn RowSource>,
        n: usize,
        width: usize,
        batch_size: usize,
        device: &Device,
    ) -> Self {
        assert!(width > 0 && batch_size > 0);
        let (store, device) = (Store::Streamed { source, batch_size }, device.clone());
        Self { store, device, n, width, part: Part::Whole, weights: None }
    }

    /// Whether batches are read from a [`RowSource`] rather than held.
    pub fn is_streamed(&self) -> bool {
        matches!(self.store, Store::Streamed { .. })
    }

    /// The device the batches go to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of row batches.
    pub fn n_batches(&self) -> usize {
        match &self.store {
            Store::Held(batches) => batches.len(),
            Store::Streamed { batch_size, .. } => self.n.div_ceil(*batch_size),
        }
    }

    /// Rows in batch `b`.
    pub fn batch_len(&self, b: usize) -> usize {
        match &self.store {
            Store::Held(batches) => batches[b].dims()[0],
            Store::Streamed { batch_size, .. } => (self.n - b * batch_size).min(*batch_size),
        }
    }

    /// Batch `b`, `[n_b, width]` on the device (read from the source when streamed).
    pub fn batch(&self, b: usize) -> Result<Tensor<2>, ModelError> {
        match &self.store {
            Store::Held(batches) => Ok(batches[b].clone()),
            Store::Streamed { source, batch_size } => {
                let start = b * batch_size;
                let rows = source.rows(start..(start + batch_size).min(self.n))?;
                let shape = [rows.len() / self.width, self.width];
                Ok(Tensor::from_data(TensorData::new(rows, shape), &self.device))
            }
        }
    }

    /// The held batches with `f` applied to each (the same rows otherwise); streamed batches
    /// are read, mapped and held.
    pub fn map_batches(
        &self,
        mut f: impl FnMut(Tensor<2>) -> Result<Tensor<2>, ModelError>,
    ) -> Result<Self, ModelError> {
        let batches = (0..self.n_batches()).map(|b| f(self.batch(b)?)).collect::<Result<_, _>>()?;
        Ok(Self { store: Store::Held(batches), ..self.clone() })
    }

    /// The same rows, marked as `part` of the whole data set.
    pub fn with_part(self, part: Part) -> Self {
        Self { part, ..self }
    }

    /// Rows of the whole data set (`n` unless this is a shard).
    pub fn total(&self) -> usize {
        match self.part {
            Part::Whole | Part::Alone => self.n,
            Part::Shard { total, .. } => total,
        }
    }

    /// Index of the first row here in the whole data set.
    pub fn first_row(&self) -> usize {
        match self.part {
            Part::Whole | Part::Alone => 0,
            Part::Shard { first, .. } => first,
        }
    }

    /// The batches whose sums this process contributes to a sum over the processes: all of a
    /// shard's; of replicated rows ([`Part::Whole`]), this process's block of them.
    pub fn own_batches(&self) -> std::ops::Range<usize> {
        match self.part {
            Part::Whole => processes::own_block(self.n_batches()),
            Part::Alone | Part::Shard { .. } => 0..self.n_batches(),
        }
    }

    /// Whether sums over these rows are added over the processes of a job: a shard's, and
    /// replicated rows' in a job of several.
    pub fn spread(&self) -> bool {
        match self.part {
            Part::Whole => processes::size() > 1,
            Part::Alone => false,
            Part::Shard { .. } => true,
        }
    }

    /// Completes sums over a shard's rows with the other processes' (element-wise); the rows
    /// of [`Part::Whole`] are all here, and their sums already whole.
    pub fn sum_shards(&self, values: &mut [f64]) {
        if let Part::Shard { .. } = self.part {
            processes::sum(values)
        }
    }

    /// The rows `picks` (indices into the whole data set), `[picks.len(), width]`, on every
    /// process: from this process's batches where it holds them, from the others' otherwise.
    pub fn gather_rows(&self, picks: &[usize]) -> Result<Vec<f32>, ModelError> {
        let (first, offsets) = (self.first_row(), self.offsets());
        let mut out = vec![0f32; picks.len() * self.width];
        for (slot, &i) in picks.iter().enumerate() {
            if !(first..first + self.n).contains(&i) {
                continue;
            }
            let local = i - first;
            let values = match &self.store {
                Store::Streamed { source, .. } => source.rows(local..local + 1)?,
                Store::Held(batches) => {
                    let b = offsets.partition_point(|&o| o <= local) - 1;
                    let row = batches[b].clone().narrow(0, local - offsets[b], 1);
                    host_vec::<f32, _>(row.try_into_data())?
                }
            };
            out[slot * self.width..(slot + 1) * self.width].copy_from_slice(&values);
        }
        Ok(match self.part {
            Part::Shard { .. } => processes::share_rows(&out),
            Part::Whole | Part::Alone => out,
        })
    }
}

impl Encoded {
    /// `f` on every row batch (its index and rows), the results folded into `acc` in batch
    /// order. On a CPU device ([`crate::is_cpu`]) the batches are mapped as many at a time as
    /// rayon has threads, one per thread, so that the many small products and element-wise
    /// passes of a batch keep every core busy; the fold still takes them one by one in order,
    /// so the result does not depend on the thread count. A GPU maps them one after another.
    pub fn fold_batches<T: Send, A>(
        &self,
        acc: A,
        f: impl Fn(usize, &Tensor<2>) -> Result<T, ModelError> + Sync,
        fold: impl FnMut(A, T) -> Result<A, ModelError>,
    ) -> Result<A, ModelError> {
        self.fold_range(0..self.n_batches(), acc, f, fold)
    }

    /// [`fold_batches`](Self::fold_batches) over the batches `range` only (a process's share
    /// of the data in a data-parallel job).
    pub fn fold_range<T: Send, A>(
        &self,
        range: std::ops::Range<usize>,
        acc: A,
        f: impl Fn(usize, &Tensor<2>) -> Result<T, ModelError> + Sync,
        mut fold: impl FnMut(A, T) -> Result<A, ModelError>,
    ) -> Result<A, ModelError> {
        use rayon::prelude::*;
        let group = match crate::is_cpu(&self.device) {
            true => rayon::current_num_threads().max(1),
            false => 1,
        };
        let mut acc = acc;
        let mut first = range.start;
        while first < range.end {
            let end = (first + group).min(range.end);
            let run = |b: usize| self.batch(b).and_then(|x| f(b, &x));
            let results: Vec<Result<T, ModelError>> = match end - first {
                1 => vec![run(first)],
                _ => (first..end).into_par_iter().map(run).collect(),
            };
            for r in results {
                acc = fold(acc, r?)?;
            }
            first = end;
        }
        Ok(acc)
    }

    /// `f`'s rows of every batch, concatenated in batch order ([`fold_batches`](Self::fold_batches):
    /// in parallel on a CPU).
    pub fn concat_batches<T: Send>(
        &self,
        f: impl Fn(usize, &Tensor<2>) -> Result<Vec<T>, ModelError> + Sync,
    ) -> Result<Vec<T>, ModelError> {
        self.fold_batches(Vec::new(), f, |mut out, rows| {
            out.extend(rows);
            Ok(out)
        })
    }

    /// The first row of every batch.
    pub fn offsets(&self) -> Vec<usize> {
        let sizes = (0..self.n_batches()).map(|b| self.batch_len(b));
        sizes.scan(0, |start, rows| Some(std::mem::replace(start, *start + rows))).collect()
    }

    /// The rows k-means++ seeds from: all of them (`[n, width]` row-major, on every process
    /// this process's) and their weights; of streamed rows above `max_values` numbers, a seeded
    /// uniform sample of `max_values / width` (at least `at_least`) rows of the whole data set
    /// with their weights, the same on every process, and [`Part::Whole`].
    pub fn seeding_rows(
        &self,
        max_values: usize,
        at_least: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>, Part), ModelError> {
        let m = (max_values / self.width).max(at_least);
        if !self.is_streamed() || self.total() <= m {
            return Ok((self.host_rows()?, self.host_weights(), self.part));
        }
        let mut picks = rand::seq::index::sample(rng, self.total(), m).into_vec();
        picks.sort_unstable();
        let rows = self.gather_rows(&picks)?;
        let weights = self.host_weights().map(|w| {
            let first = self.first_row();
            let local = |i: usize| i.checked_sub(first).filter(|&l| l < self.n);
            let mine: Vec<f32> = picks.iter().map(|&i| local(i).map_or(0.0, |l| w[l])).collect();
            match self.part {
                Part::Shard { .. } => processes::share_rows(&mine),
                Part::Whole | Part::Alone => mine,
            }
        });
        Ok((rows, weights, Part::Whole))
    }

    /// All rows back on the host, `[n, width]` row-major (for initialisations that need them).
    pub fn host_rows(&self) -> Result<Vec<f32>, ModelError> {
        let mut rows = Vec::with_capacity(self.n * self.width);
        for b in 0..self.n_batches() {
            rows.extend(host_vec::<f32, _>(self.batch(b)?.try_into_data())?);
        }
        Ok(rows)
    }
}

/// `values` copied by every thread, a block each, into huge pages
/// ([`crate::pages::huge_page_zeros`]): a fresh buffer's first touch (the kernel zeroing its
/// pages, 188 MB for MNIST's rows) is then shared too, and takes few page faults.
fn parallel_copy(values: &[f32]) -> Vec<f32> {
    const BLOCK: usize = 1 << 16;
    let mut copy = crate::pages::huge_page_zeros(values.len());
    copy.par_chunks_mut(BLOCK)
        .zip(values.par_chunks(BLOCK))
        .for_each(|(c, v)| c.copy_from_slice(v));
    copy
}
