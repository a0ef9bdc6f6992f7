//! The processes of one training job: this one alone, or the ranks of an MPI job
//! (`mpirun -n P gmmzoo train …` with the `mpi` feature).
//!
//! Data-parallel EM: every rank holds the same data and the same layer; the E-step and every
//! score take the rank's share of the row batches ([`Cluster::shares`]) and their sums are
//! added over the ranks ([`Cluster::sum`]); every rank then runs the same M-step. With one
//! process every function here is the identity.

use crate::{Progress, RunOptions, TrainError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The ranks of the job this process belongs to.
#[derive(Debug)]
pub struct Cluster {
    rank: usize,
    size: usize,
}

/// What this process's sums over the ranks cost so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SumTraffic {
    /// [`Cluster::sum`] calls.
    pub calls: u64,
    /// Bytes summed (each call's f64 buffer).
    pub bytes: u64,
    /// Wall seconds inside `MPI_Allreduce`.
    pub seconds: f64,
}

static SUM_CALLS: AtomicU64 = AtomicU64::new(0);
static SUM_BYTES: AtomicU64 = AtomicU64::new(0);
static SUM_NANOS: AtomicU64 = AtomicU64::new(0);

static WORLD: OnceLock<Cluster> = OnceLock::new();

#[cfg(feature = "mpi")]
static UNIVERSE: Mutex<Option<mpi::environment::Universe>> = Mutex::new(None);
#[cfg(not(feature = "mpi"))]
static UNIVERSE: Mutex<Option<()>> = Mutex::new(None);

/// Joins the MPI job this process was started in (a job of one without a launcher, or
/// without the `mpi` feature). Call once, first thing, from the main thread.
pub fn init() -> &'static Cluster {
    WORLD.get_or_init(|| {
        #[cfg(feature = "mpi")]
        if let Some(universe) = mpi::initialize() {
            use mpi::traits::Communicator;
            let world = universe.world();
            let cluster = Cluster { rank: world.rank() as usize, size: world.size() as usize };
            *UNIVERSE.lock().unwrap_or_else(|e| e.into_inner()) = Some(universe);
            return cluster;
        }
        Cluster { rank: 0, size: 1 }
    })
}

/// The job's ranks: those [`init`] joined, else this process alone.
pub fn world() -> &'static Cluster {
    WORLD.get_or_init(|| Cluster { rank: 0, size: 1 })
}

/// Leaves the MPI job (`MPI_Finalize`); a no-op without one.
pub fn finish() {
    UNIVERSE.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// Ends every rank of the job at once with `code` (`MPI_Abort`), so that a rank that fails
/// does not leave the others waiting in a sum; with one process, exits.
pub fn abort(code: i32) -> ! {
    #[cfg(feature = "mpi")]
    if world().size > 1
        && let Some(universe) = UNIVERSE.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
    {
        use mpi::traits::Communicator;
        universe.world().abort(code);
    }
    std::process::exit(code)
}

impl Cluster {
    /// This process's rank, `0..size`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Ranks in the job.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the one that writes files and prints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// What the sums over the ranks have cost this process so far.
    pub fn traffic(&self) -> SumTraffic {
        SumTraffic {
            calls: SUM_CALLS.load(Ordering::Relaxed),
            bytes: SUM_BYTES.load(Ordering::Relaxed),
            seconds: SUM_NANOS.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }

    /// The batches `0..n_batches` this rank takes: a contiguous block, the first
    /// `n_batches mod size` ranks one more.
    pub fn shares(&self, n_batches: usize) -> std::ops::Range<usize> {
        let (base, extra) = (n_batches / self.size, n_batches % self.size);
        let start = self.rank * base + self.rank.min(extra);
        start..start + base + usize::from(self.rank < extra)
    }

    /// Replaces `values` by their element-wise sum over the ranks (`MPI_Allreduce`, one flat
    /// f64 buffer). Every rank must call it with the same length, in the same order.
    pub fn sum(&self, values: &mut [f64]) {
        if self.size == 1 {
            return;
        }
        #[cfg(not(feature = "mpi"))]
        unreachable!("a job of {} ranks without MPI ({} values)", self.size, values.len());
        #[cfg(feature = "mpi")]
        {
            use mpi::collective::SystemOperation;
            use mpi::traits::CommunicatorCollectives;
            let guard = UNIVERSE.lock().unwrap_or_else(|e| e.into_inner());
            let universe = guard.as_ref().expect("a job of several ranks has joined MPI");
            let send = values.to_vec();
            let t = std::time::Instant::now();
            universe.world().all_reduce_into(&send[..], values, SystemOperation::sum());
            SUM_NANOS.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            SUM_CALLS.fetch_add(1, Ordering::Relaxed);
            SUM_BYTES.fetch_add(8 * values.len() as u64, Ordering::Relaxed);
        }
    }
}

/// A rank's private copy of the run folder, removed when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where this process writes a run: rank 0 the run folder itself; every other rank of a
/// data-parallel job a private scratch folder (a copy of the run folder when resuming, so that
/// it reads the same checkpoint), quietly, so that only rank 0 writes the run folder and
/// prints. The ranks must share a file system for `--resume`.
pub fn rank_options(opts: &RunOptions) -> Result<(RunOptions, Option<Scratch>), TrainError> {
    let cluster = world();
    if cluster.is_root() {
        return Ok((opts.clone(), None));
    }
    let name = format!("gmmzoo-rank{}-{}", cluster.rank(), std::process::id());
    let dir = std::env::temp_dir().join(name);
    let scratch = Scratch(dir.clone());
    let _ = std::fs::remove_dir_all(&dir);
    match opts.resume && opts.out_dir.is_dir() {
        true => copy_dir(&opts.out_dir, &dir)?,
        false => crate::folder::create_dir(&dir)?,
    }
    let opts = RunOptions { out_dir: dir, progress: Progress::quiet(), ..opts.clone() };
    Ok((opts, Some(scratch)))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), TrainError> {
    crate::folder::create_dir(to)?;
    let entries = std::fs::read_dir(from).map_err(|e| TrainError::file(from, e))?;
    for entry in entries {
        let path = entry.map_err(|e| TrainError::file(from, e))?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        match path.is_dir() {
            true => copy_dir(&path, &target)?,
            false => {
                std::fs::copy(&path, &target).map_err(|e| TrainError::file(&path, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_batch_once_in_order() {
        for size in 1..5 {
            for n in 0..11 {
                let ranges: Vec<_> =
                    (0..size).map(|rank| Cluster { rank, size }.shares(n)).collect();
                let all: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "size {size}, {n} batches");
                let lens: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
            }
        }
    }
}
