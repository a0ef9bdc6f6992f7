//! A trained layer in its folder: `model.toml` (its config and shape) and `model.bpk` (its
//! parameters).

use crate::{Layer, LayerConfig, TrainError, fsio};
use gmm_models::Device;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What `model.toml` in a run folder holds: enough to rebuild the layer before loading its
/// parameters from `model.bpk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedLayer {
    /// `[height, width]` of the inputs the layer models.
    pub input_shape: [usize; 2],
    /// Components after training (pruning can leave fewer than configured).
    pub trained_components: usize,
    /// The layer's hyper-parameters.
    #[serde(flatten)]
    pub config: LayerConfig,
}

impl SavedLayer {
    /// Writes `model.toml` and `model.bpk` (Burn's burnpack record) into `dir`, atomically.
    pub fn save(&self, layer: &Layer, dir: &Path) -> Result<(), TrainError> {
        let toml_path = dir.join("model.toml");
        let text = toml::to_string(self).map_err(|e| TrainError::file(&toml_path, e))?;
        let bpk = dir.join("model.bpk");
        let bytes = layer.record_bytes().map_err(|e| TrainError::file(&bpk, e))?;
        fsio::write_atomic(&bpk, &bytes)?;
        fsio::write_atomic(&toml_path, text.as_bytes())
    }

    /// Reads `model.toml` of `dir` and the bytes of its `model.bpk`, without building the
    /// layer (a warm start loads them under another config).
    pub fn read(dir: &Path) -> Result<(Self, Vec<u8>), TrainError> {
        let toml_path = dir.join("model.toml");
        let text = String::from_utf8(fsio::read(&toml_path)?)
            .map_err(|_| TrainError::file(&toml_path, "not UTF-8 text"))?;
        let saved: SavedLayer = toml::from_str(&text)
            .map_err(|e| TrainError::file(&toml_path, crate::tables::toml_error(&text, &e)))?;
        Ok((saved, fsio::read(&dir.join("model.bpk"))?))
    }

    /// Rebuilds the layer saved in `dir` on `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<(Self, Layer), TrainError> {
        let (saved, record) = Self::read(dir)?;
        let (toml_path, bpk) = (dir.join("model.toml"), dir.join("model.bpk"));
        let layer = saved
            .config
            .load_record(saved.trained_components, saved.input_shape, record, device)
            .map_err(|e| {
                TrainError::file(&bpk, format!("{e} (model.toml: {})", toml_path.display()))
            })?;
        Ok((saved, layer))
    }
}
