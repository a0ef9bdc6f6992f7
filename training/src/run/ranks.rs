//! Where each rank of a data-parallel job writes a run: rank 0 the run folder, every other
//! rank a private scratch copy, removed when done.

use crate::cluster::world;
use crate::run::options::RunOptions;
use crate::{Progress, TrainError};
use std::path::{Path, PathBuf};

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
    let host = hostname();
    remove_dead_scratch(&host);
    let name = format!("gmmzoo-rank{}-{host}-{}", cluster.rank(), std::process::id());
    let dir = std::env::temp_dir().join(name);
    let scratch = Scratch(dir.clone());
    let _ = std::fs::remove_dir_all(&dir);
    match opts.resume && opts.out_dir.is_dir() {
        true => copy_dir(&opts.out_dir, &dir)?,
        false => crate::run::folder::create_dir(&dir)?,
    }
    let opts = RunOptions { out_dir: dir, progress: Progress::quiet(), ..opts.clone() };
    Ok((opts, Some(scratch)))
}

/// This machine's name (Linux: `/proc/sys/kernel/hostname`; `host` elsewhere).
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name.trim().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if name.is_empty() { "host".into() } else { name }
}

/// Removes the scratch folders of ranks on this machine that died without removing theirs
/// (killed): `gmmzoo-rank<r>-<host>-<pid>` whose process is gone. Only where `/proc` says
/// which processes live.
fn remove_dead_scratch(host: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("gmmzoo-rank") else { continue };
        let mut fields = rest.split('-');
        let (Some(_), Some(h), Some(pid), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if h == host && pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), TrainError> {
    crate::run::folder::create_dir(to)?;
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
