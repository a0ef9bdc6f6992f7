//! Files the release carries inside its binaries (the sample data, the shipped checkpoints),
//! laid out once as ordinary files in the user's data folder, so that an installed `gmmzoo` or
//! Python wheel works with its source tree gone.
//!
//! A bundle is unpacked into `<data folder>/<name>-<version>-<hash>/`, where the hash is that
//! of the bundle's names and bytes: a binary built from other files unpacks beside the old
//! copy and never reads or changes it. The data folder is `$GMM_ZOO_HOME`, else
//! `$XDG_DATA_HOME/gmm-zoo`, else `~/.local/share/gmm-zoo` (else the temporary folder). Files
//! are written into a private folder that is renamed into place when complete: a reader sees
//! the whole bundle or none, and two processes unpacking at once both end with the same copy.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The variable naming the folder bundles are unpacked into.
pub const HOME_ENV: &str = "GMM_ZOO_HOME";

/// The folder bundles are unpacked into (see the module's documentation).
pub fn user_data_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var(HOME_ENV) {
        return dir;
    }
    if let Some(dir) = var("XDG_DATA_HOME") {
        return dir.join("gmm-zoo");
    }
    match var("HOME") {
        Some(home) => home.join(".local/share/gmm-zoo"),
        None => std::env::temp_dir().join("gmm-zoo"),
    }
}

/// The folder holding `files` (relative path, bytes) as bundle `name`, unpacked now if no
/// complete copy is there yet; the error says which folder could not be written and why.
pub fn unpacked<'a, I>(name: &str, files: I) -> Result<PathBuf, String>
where
    I: Iterator<Item = (Cow<'a, str>, Cow<'a, [u8]>)>,
{
    let mut files: Vec<_> = files.collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for (path, bytes) in &files {
        hasher.update(path.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let version = env!("CARGO_PKG_VERSION");
    let parent = user_data_dir();
    let target = parent.join(format!("{name}-{version}-{:016x}", hasher.digest()));
    if target.is_dir() {
        return Ok(target);
    }
    let fail = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    let partial = parent.join(format!(".{name}-partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    for (path, bytes) in &files {
        let file = partial.join(path.as_ref());
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
        }
        std::fs::write(&file, bytes).map_err(|e| fail(&file, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| fail(&partial, e))?;
    if let Err(e) = std::fs::rename(&partial, &target) {
        let _ = std::fs::remove_dir_all(&partial);
        if !target.is_dir() {
            return Err(fail(&target, e));
        }
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(text: &'static str) -> impl Iterator<Item = (Cow<'static, str>, Cow<'static, [u8]>)> {
        [("a/b.txt", text.as_bytes()), ("c.txt", b"c".as_slice())]
            .into_iter()
            .map(|(p, b)| (Cow::Borrowed(p), Cow::Borrowed(b)))
    }

    #[test]
    fn a_bundle_is_unpacked_once_and_another_beside_it() {
        let home = std::env::temp_dir().join(format!("gmm-zoo-bundle-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        // SAFETY: this crate's tests read HOME_ENV in this test alone.
        unsafe { std::env::set_var(HOME_ENV, &home) };
        let first = unpacked("t", files("one")).unwrap();
        assert_eq!(std::fs::read_to_string(first.join("a/b.txt")).unwrap(), "one");
        std::fs::write(first.join("c.txt"), "kept").unwrap();
        assert_eq!(unpacked("t", files("one")).unwrap(), first, "a complete copy is reused");
        assert_eq!(std::fs::read_to_string(first.join("c.txt")).unwrap(), "kept");
        let second = unpacked("t", files("two")).unwrap();
        assert_ne!(second, first, "other bytes unpack beside the old copy");
        assert_eq!(std::fs::read_to_string(second.join("a/b.txt")).unwrap(), "two");
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 2, "no partial folder is left");
        std::fs::remove_dir_all(&home).unwrap();
    }
}
