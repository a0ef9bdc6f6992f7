//! `gmmzoo inspect`: a trained run's overlap and filter pictures, written anew.

use gmm_models::Device;
use gmm_training::config::RunConfig;
use gmm_training::folder::{create_dir, layer_dir};
use gmm_training::layer_pictures::write_overlap;
use gmm_training::views::OverlapSummary;
use gmm_training::{SavedLayer, TrainError, with_layer};
use std::path::Path;

/// Writes every layer's `overlap.png` (and a conv first layer's `filters.png`) for a trained
/// run folder into `out_dir` (`layer<i>/` for a stack) and returns each layer's overlap summary
/// (`None` where the family's overlap is too costly: a full GMM with K²·D³ over the budget).
pub fn inspect_run(
    run_dir: &Path,
    out_dir: &Path,
    device: &Device,
) -> Result<Vec<Option<OverlapSummary>>, TrainError> {
    let config = RunConfig::load(&run_dir.join("config.toml"))?;
    let n = config.stack().len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (saved, layer) = SavedLayer::load(&layer_dir(run_dir, i, n), device)?;
        let dir = layer_dir(out_dir, i, n);
        create_dir(&dir)?;
        let dims = saved.input_shape[0] * saved.input_shape[1];
        out.push(with_layer!(&layer, m => write_overlap(m, &dir, i == 0, dims)?));
    }
    Ok(out)
}
