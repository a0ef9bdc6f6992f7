//! An output folder (a run, a classifier, a selection, a fine-tuned or refined run, a shipped
//! checkpoint) claimed by one process: a finished or unfinished output is never replaced
//! without `--overwrite`, and two processes never write one folder at once.
//!
//! The lock is `<folder>/.lock`, holding the writer's process id; it is removed when the
//! [`Claim`] is dropped (every return path of a command, errors and Ctrl-C's checkpoint
//! included), and a lock whose process is gone (killed, or a second Ctrl-C) is taken over.

use crate::TrainError;
use crate::run::folder::create_dir;
use std::path::{Path, PathBuf};

/// The lock file inside a claimed folder.
pub const LOCK_FILE: &str = ".lock";

/// A folder this process writes; unlocked when dropped.
#[derive(Debug)]
pub struct Claim {
    lock: PathBuf,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.lock)
            .is_ok_and(|s| s.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(&self.lock);
        }
    }
}

/// What an output folder holds before a command writes into it.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// Nothing of an earlier output (or no folder).
    Nothing,
    /// A finished output: this file (its marker) is there.
    Finished(PathBuf),
    /// An unfinished training run: its checkpoint, or the stage folders of a staged run.
    Unfinished(PathBuf),
}

/// What `dir` holds: `marker` (the file an output writes last) makes it finished; a
/// checkpoint or a `stage0/` folder without it, unfinished.
pub fn held(dir: &Path, marker: &str) -> Held {
    let finished = dir.join(marker);
    if finished.is_file() {
        return Held::Finished(finished);
    }
    [crate::run::checkpoint::path_in(dir), dir.join("stage0")]
        .into_iter()
        .find(|p| p.exists())
        .map_or(Held::Nothing, Held::Unfinished)
}

/// Locks `dir` (created if needed) for this process, then refuses what it holds of an earlier
/// output — `what` names it in the message — unless `overwrite` (which clears it first) or
/// `resume` (which continues a run; its checkpoint and finished stages are checked where they
/// are read, and nothing is removed).
pub fn take(
    dir: &Path,
    what: &str,
    marker: &str,
    overwrite: bool,
    resume: bool,
) -> Result<Claim, TrainError> {
    let claim = lock(dir)?;
    if resume {
        return Ok(claim);
    }
    match (held(dir, marker), overwrite) {
        (Held::Nothing, _) => {}
        (_, true) => clear(dir)?,
        (Held::Finished(file), false) => {
            return Err(TrainError::file(
                dir,
                format!(
                    "already holds a finished {what} ({}); pass --overwrite to replace it, or \
                     --out another folder",
                    file.display()
                ),
            ));
        }
        (Held::Unfinished(file), false) => {
            return Err(TrainError::file(
                dir,
                format!(
                    "holds an unfinished {what} ({}); continue it with --resume, or pass \
                     --overwrite to start afresh",
                    file.display()
                ),
            ));
        }
    }
    Ok(claim)
}

/// Takes the lock of `dir`, or says which live process holds it.
pub fn lock(dir: &Path) -> Result<Claim, TrainError> {
    create_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let me = std::process::id().to_string();
    for _ in 0..2 {
        let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
        match created {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(me.as_bytes()).map_err(|e| TrainError::file(&path, e))?;
                return Ok(Claim { lock: path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim().parse::<u32>().ok();
                match holder {
                    Some(pid) if alive(pid) => {
                        return Err(TrainError::file(
                            dir,
                            format!(
                                "is in use by process {pid} (lock file {}); wait for it to end, \
                                 or use --out another folder",
                                path.display()
                            ),
                        ));
                    }
                    // The process that held it is gone: take the lock over.
                    _ => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            Err(e) => return Err(TrainError::file(&path, format!("cannot create: {e}"))),
        }
    }
    Err(TrainError::file(&path, "cannot take the lock (another process keeps taking it)"))
}

/// Whether process `pid` is running. A zombie (ended, not yet reaped — as a killed MPI rank can
/// stay in a container whose first process reaps nothing) is not.
fn alive(pid: u32) -> bool {
    if Path::new("/proc/self/stat").exists() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // `pid (comm) state …`: the state follows the last `)`.
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        return matches!(state, Some(s) if s != 'Z' && s != 'X');
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Removes what an earlier output wrote into `dir`: its files and its `layer<i>`, `stage<i>`,
/// `class<c>` and `k<K>` folders; anything else (the lock, a user's own files) stays.
pub fn clear(dir: &Path) -> Result<(), TrainError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::file(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| TrainError::file(dir, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let numbered = |prefix: &str| {
            name.strip_prefix(prefix).is_some_and(|i| !i.is_empty() && i.parse::<u64>().is_ok())
        };
        let removed = match path.is_dir() {
            true if ["layer", "stage", "class", "k"].into_iter().any(numbered) => {
                std::fs::remove_dir_all(&path)
            }
            false if name != LOCK_FILE && is_output_file(&name) => std::fs::remove_file(&path),
            _ => Ok(()),
        };
        removed.map_err(|e| TrainError::file(&path, format!("cannot remove: {e}")))?;
    }
    Ok(())
}

/// A file that a command writes into its output folder.
fn is_output_file(name: &str) -> bool {
    let written = [
        "config.toml",
        "model.toml",
        "model.bpk",
        "metrics.json",
        "stages.json",
        "classify.json",
        "selection.json",
        "finetune.json",
        "topdown.json",
        "curve.svg",
        "selection.svg",
        crate::run::checkpoint::FILE_NAME,
    ];
    written.contains(&name) || name.ends_with(".png")
}
