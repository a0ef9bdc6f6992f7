//! `gmmzoo bench --export DIR`: what `benches/torch_full_gmm.py` needs to run the same EM as
//! ours — the first layer's rows, its initial parameters (a full-covariance mixture,
//! initialised as `fit` does from the config's seed), the settings, and our per-iteration
//! figures.

use crate::models::{Encoded, RESP_FLOOR, to_host_f64};
use crate::training::{EmConfig, Family, IterationRecord};
use anyhow::{Context, Result};
use npyz::WriterBuilder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// One float32 `.npy` file of `shape`.
fn write_npy(path: &Path, shape: &[u64], values: impl IntoIterator<Item = f32>) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()?;
    writer.extend(values)?;
    writer.finish().with_context(|| format!("writing {}", path.display()))
}

/// Writes `data.npy`, `means.npy`, `covariances.npy`, `weights.npy` and `meta.json` into `dir`:
/// the rows EM sees and the parameters it starts from (`layer` initialised from `data` with
/// `em.init` and `seed`, as `fit` does).
pub fn export_start<M: Family>(
    layer: M,
    data: &Encoded,
    em: &EmConfig,
    seed: u64,
    config_name: &str,
    dir: &Path,
) -> Result<()> {
    let layer = layer.initialize(data, em.init, &mut ChaCha8Rng::seed_from_u64(seed))?;
    let Some(mixture) = layer.gaussian_mixture()? else {
        anyhow::bail!(
            "--export writes a full-covariance Gaussian mixture's start for the PyTorch peer; \
             {config_name} starts with a layer that is not one"
        );
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (k, d) = (mixture.weights.len(), data.width);
    let mut rows = Vec::with_capacity(data.n * d);
    for b in 0..data.n_batches() {
        rows.extend(to_host_f64(data.batch(b)?)?.into_iter().map(|v| v as f32));
    }
    write_npy(&dir.join("data.npy"), &[data.n as u64, d as u64], rows)?;
    let means = mixture.means.concat();
    write_npy(&dir.join("means.npy"), &[k as u64, d as u64], means.iter().map(|&v| v as f32))?;
    let covs = mixture.covariances.concat();
    let shape = [k as u64, d as u64, d as u64];
    write_npy(&dir.join("covariances.npy"), &shape, covs.iter().map(|&v| v as f32))?;
    write_npy(&dir.join("weights.npy"), &[k as u64], mixture.weights.iter().map(|&v| v as f32))?;
    let meta = serde_json::json!({
        "config": config_name, "n": data.n, "d": d, "k": k, "reg_covar": mixture.reg_covar,
        "resp_floor": RESP_FLOOR, "init": format!("{:?}", em.init), "seed": seed,
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_string_pretty(&meta)?)?;
    println!(
        "exported the rows and the initial parameters (K = {k}, D = {d}) to {}",
        dir.display()
    );
    Ok(())
}

/// Writes `ours.json` into `dir`: the device and, per EM iteration, its seconds and the
/// log-likelihood of the parameters it started from.
pub fn export_ours(dir: &Path, device: &str, iterations: &[IterationRecord]) -> Result<()> {
    let ours = serde_json::json!({
        "device": device,
        "seconds": iterations.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        "log_likelihood": iterations.iter().map(|r| r.log_likelihood).collect::<Vec<_>>(),
    });
    std::fs::write(dir.join("ours.json"), serde_json::to_string_pretty(&ours)?)?;
    Ok(())
}
