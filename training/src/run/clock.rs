//! A run's wall time and process CPU time, over every process that worked on it: a run resumed
//! from its checkpoint continues the clocks the checkpoint carries, so `metrics.json` states
//! what the whole run cost, however often it was stopped.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Seconds a run has taken: wall time and process CPU time (user + system, all threads; 200 %
/// CPU is two cores busy). In a data-parallel job, rank 0's process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// Wall-clock seconds.
    pub wall: f64,
    /// Process CPU seconds.
    pub cpu: f64,
}

impl Spent {
    /// CPU utilisation, `100 · cpu / wall` percent (`None` without a measurable wall time).
    pub fn cpu_percent(&self) -> Option<f64> {
        (self.wall > 0.0 && self.cpu.is_finite()).then(|| 100.0 * self.cpu / self.wall)
    }

    /// "N % CPU", or "CPU unknown".
    pub fn utilisation(&self) -> String {
        self.cpu_percent().map_or("CPU unknown".into(), |p| format!("{p:.0} % CPU"))
    }
}

/// The clocks of a run in this process, started on what earlier processes spent.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    wall: Instant,
    cpu: f64,
    before: Spent,
}

impl RunClock {
    /// Clocks from now.
    pub fn start() -> Self {
        Self { wall: Instant::now(), cpu: process_cpu_seconds(), before: Spent::default() }
    }

    /// The same clocks, adding what earlier processes spent (what a checkpoint says the run
    /// took until it).
    pub fn continuing(self, before: Spent) -> Self {
        Self { before, ..self }
    }

    /// What the run has taken so far, earlier processes included.
    pub fn spent(&self) -> Spent {
        Spent {
            wall: self.before.wall + self.wall.elapsed().as_secs_f64(),
            cpu: self.before.cpu + (process_cpu_seconds() - self.cpu),
        }
    }
}

/// User + system CPU seconds of this process so far (NaN where unknown).
pub fn process_cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is handed; RUSAGE_SELF is always valid.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0 {
            // SAFETY: initialised by the successful call above.
            let u = unsafe { usage.assume_init() };
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
            return secs(u.ru_utime) + secs(u.ru_stime);
        }
    }
    f64::NAN
}

/// The most resident memory this process has held so far, in MB (10⁶ bytes): Linux's
/// `VmHWM` (`/proc/self/status`), which starts anew at `exec` (unlike `getrusage`'s
/// `ru_maxrss`, which keeps the parent's peak across it); NaN where unknown.
pub fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    let kb = line.and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kb.map_or(f64::NAN, |kb| kb * 1024.0 / 1e6)
}
