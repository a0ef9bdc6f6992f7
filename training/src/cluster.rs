//! The processes of one training job: this one alone, or the ranks of an MPI job
//! (`mpirun -n P gmmzoo train …` with the `mpi` feature).
//!
//! Data-parallel EM: every rank holds its shard of the rows (`data::load_shard`, a contiguous
//! block of the rows one process would draw) and the same layer. Rank 0 initialises and
//! broadcasts the parameters ([`Cluster::broadcast`]; the initialisations' own sums over the
//! data are completed through `gmm_models::processes`, which [`init`] installs); the E-step
//! and every score sum over the rank's rows and their sums are added over the ranks
//! ([`Cluster::sum`]); every rank then runs the same M-step. With one process every function
//! here is the identity.

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
            // The initialisations in gmm-models complete their sums over shards through this.
            gmm_models::processes::install(gmm_models::processes::World {
                rank: cluster.rank,
                size: cluster.size,
                sum: |values| crate::cluster::world().sum(values),
            });
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

    /// One hash of every rank's `hash` (32 hex digits each, an xxh3-128), in rank order; the
    /// hash itself with one process. Every rank gets the same string.
    pub fn combined_hash(&self, hash: &str) -> String {
        if self.size == 1 {
            return hash.to_string();
        }
        // 128 bits as eight 16-bit numbers in this rank's slots: exact in an f64 sum.
        let value = u128::from_str_radix(hash, 16).unwrap_or(0);
        let mut slots = vec![0.0; 8 * self.size];
        for i in 0..8 {
            slots[8 * self.rank + i] = ((value >> (16 * i)) & 0xffff) as f64;
        }
        self.sum(&mut slots);
        let bytes: Vec<u8> = slots.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect();
        format!("{:032x}-{}", xxhash_rust::xxh3::xxh3_128(&bytes), self.size)
    }

    /// Replaces `bytes` on every rank by rank `root`'s (`MPI_Bcast` of the length, then of
    /// the bytes); a no-op with one process.
    pub fn broadcast(&self, root: usize, bytes: &mut Vec<u8>) {
        if self.size == 1 {
            return;
        }
        #[cfg(not(feature = "mpi"))]
        unreachable!(
            "a job of {} ranks without MPI (from {root}, {} bytes)",
            self.size,
            bytes.len()
        );
        #[cfg(feature = "mpi")]
        {
            use mpi::traits::{Communicator, Root};
            let guard = UNIVERSE.lock().unwrap_or_else(|e| e.into_inner());
            let universe = guard.as_ref().expect("a job of several ranks has joined MPI");
            let world = universe.world();
            let root = world.process_at_rank(root as i32);
            let mut len = bytes.len() as u64;
            root.broadcast_into(&mut len);
            bytes.resize(len as usize, 0);
            root.broadcast_into(&mut bytes[..]);
        }
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
