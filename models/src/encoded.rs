//! Data encoded for one layer, in row batches on the device: the E-step's input.

use crate::ModelError;
use crate::processes::{self, Part};
use crate::readback::host_vec;
use burn::tensor::{Device, Tensor, TensorData};

/// Data already encoded for one layer (e.g. periodograms for the convolutional GMM), held on
/// the device in row batches so that no step ever materialises N×K×D numbers.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Row batches, each `[n_b, F]`.
    pub batches: Vec<Tensor<2>>,
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
                Tensor::from_data(TensorData::new(c.to_vec(), [c.len() / width, width]), device)
            })
            .collect();
        Self { batches, n, width, part: Part::Whole, weights: None }
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
            Part::Whole => processes::own_block(self.batches.len()),
            Part::Alone | Part::Shard { .. } => 0..self.batches.len(),
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
            let b = offsets.partition_point(|&o| o <= local) - 1;
            let row = self.batches[b].clone().narrow(0, local - offsets[b], 1);
            let values = host_vec::<f32, _>(row.try_into_data())?;
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
        self.fold_range(0..self.batches.len(), acc, f, fold)
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
        let group = match self.batches.first() {
            Some(x) if crate::is_cpu(&x.device()) => rayon::current_num_threads().max(1),
            _ => 1,
        };
        let mut acc = acc;
        let offset = range.start;
        for (g, batches) in self.batches[range].chunks(group).enumerate() {
            let first = offset + g * group;
            let results: Vec<Result<T, ModelError>> = if group == 1 {
                vec![f(first, &batches[0])]
            } else {
                batches.par_iter().enumerate().map(|(i, x)| f(first + i, x)).collect()
            };
            for r in results {
                acc = fold(acc, r?)?;
            }
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
        let sizes = self.batches.iter().map(|x| x.dims()[0]);
        sizes.scan(0, |start, rows| Some(std::mem::replace(start, *start + rows))).collect()
    }

    /// All rows back on the host, `[n, width]` row-major (for initialisations that need them).
    pub fn host_rows(&self) -> Result<Vec<f32>, ModelError> {
        let mut rows = Vec::with_capacity(self.n * self.width);
        for b in &self.batches {
            rows.extend(host_vec::<f32, _>(b.clone().try_into_data())?);
        }
        Ok(rows)
    }
}
