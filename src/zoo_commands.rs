//! `gmmzoo zoo list | add | symmetric | verify | table`: the checkpoint zoo from the command line.

use crate::cli::{Common, ZooCommand};
use crate::options;
use anyhow::{Context, Result};
use gmm_zoo::datasets::bsds300::Augment;
use gmm_zoo::datasets::resolve_data_root;
use gmm_zoo::experiments::zoo::{self, Manifest, Verdict};
use gmm_zoo::training::RunConfig;
use std::path::Path;

/// `gmmzoo zoo …`: list, add, verify the shipped checkpoints.
pub(crate) fn run(command: ZooCommand) -> Result<()> {
    let dir = zoo::checkpoints_dir();
    match command {
        ZooCommand::List => {
            for e in &Manifest::load(&dir)?.models {
                println!("{}", e.list_line(&dir));
            }
        }
        ZooCommand::Add { run, config, ship, machine, overwrite, common } => {
            let dir = zoo::writable_checkpoints_dir()?;
            let cfg = RunConfig::load(&run.join("config.toml"))?;
            let request = zoo::AddRequest {
                run_dir: run.clone(),
                config: config.unwrap_or_else(|| format!("configs/{}.toml", cfg.name)),
                data_root: resolve_data_root(common.data_dir.as_deref()),
                ship,
                overwrite,
                machine: machine.unwrap_or_else(|| zoo::this_machine(&common.device)),
            };
            let zoo::Added { entry, left_out } = zoo::add(&dir, &request)
                .with_context(|| format!("adding {} to the zoo", run.display()))?;
            let shipped = match entry.shipped {
                true => format!(", {} files shipped", entry.files.len()),
                false => String::new(),
            };
            println!("{}: recorded in {}{shipped}", entry.name, dir.join(zoo::MANIFEST).display());
            for (rel, bytes) in &left_out {
                println!(
                    "{}: {rel} ({:.1} MB) not shipped, so that the checkpoint fits in {} MB",
                    entry.name,
                    *bytes as f64 / 1e6,
                    zoo::MAX_SHIPPED_BYTES >> 20
                );
            }
        }
        ZooCommand::Verify { names, strict, record_errors, common } => {
            verify(&dir, &names, strict, record_errors, &common)?
        }
        ZooCommand::Symmetric { name, symmetry, common } => {
            symmetric(&name, symmetry.group(), &common)?
        }
        ZooCommand::Table { write: None } => {
            print!("{}", zoo::render_table(&Manifest::load(&dir)?))
        }
        ZooCommand::Table { write: Some(path) } => {
            let table = zoo::render_table(&Manifest::load(&dir)?);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let text = zoo::splice_table(&text, &table)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            gmm_zoo::training::fsio::write_atomic(&path, text.as_bytes())?;
            println!("wrote the table into {}", path.display());
        }
    }
    Ok(())
}

fn verify(
    dir: &Path,
    names: &[String],
    strict: bool,
    record_errors: bool,
    common: &Common,
) -> Result<()> {
    let writable = if record_errors { Some(zoo::writable_checkpoints_dir()?) } else { None };
    let dir = writable.as_deref().unwrap_or(dir);
    let mut manifest = Manifest::load(dir)?;
    for name in names {
        anyhow::ensure!(
            manifest.models.iter().any(|e| &e.name == name),
            "no checkpoint named {name} in {}",
            dir.join(zoo::MANIFEST).display()
        );
    }
    let opts = options(common, dir.to_path_buf())?;
    let (mut failed, mut unreproduced, mut recorded) = (0, 0, 0);
    for e in manifest.models.iter_mut().filter(|e| names.is_empty() || names.contains(&e.name)) {
        let verdict = zoo::verify_entry(dir, e, &opts);
        println!("{:<20} {verdict}", e.name);
        failed += matches!(verdict, Verdict::Failed(_)) as usize;
        unreproduced += matches!(verdict, Verdict::Loaded(_)) as usize;
        if let (true, Verdict::Reproduced(_, _, errors)) = (record_errors, &verdict) {
            recorded += e.record_standard_errors(errors);
        }
    }
    if record_errors {
        manifest.save(dir)?;
        println!("recorded {recorded} standard error(s) in {}", dir.join(zoo::MANIFEST).display());
    }
    anyhow::ensure!(failed == 0, "{failed} checkpoint(s) failed the check");
    anyhow::ensure!(
        !strict || unreproduced == 0,
        "{unreproduced} checkpoint(s) could not be scored (--strict)"
    );
    Ok(())
}

/// `gmmzoo zoo symmetric`: a shipped model's figures averaged over its patches' symmetries,
/// recorded in the manifest.
fn symmetric(name: &str, group: Augment, common: &Common) -> Result<()> {
    let dir = zoo::writable_checkpoints_dir()?;
    let opts = options(common, dir.clone())?;
    let entry = zoo::record_symmetric(&dir, name, group, &opts)
        .with_context(|| format!("scoring {name} averaged over its symmetries"))?;
    if let Some(s) = &entry.symmetric {
        let valid = match (s.valid_nats, s.valid_standard_error) {
            (Some(v), Some(se)) => format!("validation {v:.4} ± {se:.4}, "),
            _ => String::new(),
        };
        println!(
            "{name} averaged over {}: {valid}test {:.4} ± {:.4} nats; recorded in {}",
            s.label(),
            s.test_nats,
            s.test_standard_error,
            dir.join(zoo::MANIFEST).display()
        );
    }
    Ok(())
}
