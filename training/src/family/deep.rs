//! The deep GMM (models.md §7) as a layer family: where it may sit, its pictures (those of its
//! path components).

use super::{Family, FamilyConfig, Layer, LayerInput};
use crate::inspect::{Inspect, Tiles};
use crate::layer::SavedLayer;
use crate::pictures::TileScale;
use crate::{ConfigError, EmConfig, TrainError};
use gmm_models::{DeepGmm, DeepGmmConfig, Device, FullGmm, Generative, ModelError, PathAssignment};
use std::path::{Path, PathBuf};

impl FamilyConfig for DeepGmmConfig {
    type Layer = DeepGmm;

    /// The paths, `Π N_l`.
    fn n_components(&self) -> usize {
        self.n_paths().unwrap_or(usize::MAX)
    }

    /// A network keeps its paths (it is never pruned); a record of another K does not load.
    fn set_n_components(&mut self, _k: usize) {}

    /// Per path: its materialised component and statistics (f64), `4(D² + D)`.
    fn values_per_component(&self, dims: usize) -> u64 {
        let d = dims as u64;
        4 * (d.saturating_mul(d) + d)
    }

    fn min_samples(&self) -> usize {
        self.nodes.first().copied().unwrap_or(1)
    }

    /// The nodes per layer: `[3, 2]` and `[2, 3]` have as many parameters, not the same ones.
    fn size(&self) -> String {
        format!("nodes = {:?}", self.nodes)
    }

    /// Where a full GMM may sit; with plain EM (no annealing, no pruning: paths share nodes).
    fn check(&self, input: LayerInput<'_>, em: &EmConfig) -> Result<(), ConfigError> {
        self.validate()?;
        if em.prune_below.is_some() {
            return Err(ConfigError::new(
                "em.prune_below",
                "a deep GMM's paths share their nodes and cannot be pruned; remove prune_below",
            ));
        }
        if self.first_layer.is_some() && em.warm_start.is_some() {
            return Err(ConfigError::new(
                "first_layer",
                "a warm start takes every layer of the network from em.warm_start; remove \
                 first_layer",
            ));
        }
        if self.widen_from.is_some() && em.warm_start.is_some() {
            return Err(ConfigError::new(
                "widen_from",
                "a warm start takes every layer of the network from em.warm_start; remove \
                 widen_from",
            ));
        }
        if em.annealing.is_some() {
            return Err(ConfigError::new(
                "em.annealing",
                "a deep GMM is fitted by plain EM; remove [em.annealing]",
            ));
        }
        match input {
            LayerInput::Feature(f) if f.is_probability() => Err(ConfigError::new(
                "input",
                format!("{f:?} rows sum to 1, so every path's Gaussian on them is singular"),
            )),
            _ => Ok(()),
        }
    }

    fn build(&self, shape: [usize; 2], device: &Device) -> Result<DeepGmm, ModelError> {
        self.init(shape[0] * shape[1], device)
    }

    /// `build`'s network; with `first_layer`, to be started from that folder's trained full
    /// GMM ([`DeepGmm::starting_from`]); with `widen_from`, from that folder's trained
    /// narrower network ([`DeepGmm::widening`]).
    fn fresh(&self, shape: [usize; 2], device: &Device) -> Result<DeepGmm, TrainError> {
        let network = self.build(shape, device)?;
        if let Some(dir) = &self.widen_from {
            let narrower: DeepGmm = trained(dir, device, "widen_from", "deep")?;
            return network.widening(narrower).map_err(|e| TrainError::file(&model_toml(dir), e));
        }
        let Some(dir) = &self.first_layer else {
            return Ok(network);
        };
        let first: FullGmm = trained(dir, device, "first_layer", "full")?;
        network.starting_from(first).map_err(|e| TrainError::file(&model_toml(dir), e))
    }
}

fn model_toml(dir: &Path) -> PathBuf {
    dir.join("model.toml")
}

/// The trained layer of folder `dir` (the value of `key`), which must be of kind `want`; a
/// layer of another kind is refused naming its `model.toml`.
fn trained<M>(dir: &Path, device: &Device, key: &str, want: &str) -> Result<M, TrainError>
where
    M: TryFrom<Layer, Error = &'static str>,
{
    M::try_from(SavedLayer::load(dir, device)?.1).map_err(|kind| {
        TrainError::file(
            &model_toml(dir),
            format!("holds a `{kind}` layer; a deep GMM's {key} must be a `{want}` one"),
        )
    })
}

impl Family for DeepGmm {
    /// Soft: every path's triangular product, K·D². Hard and soft beam: the beam search's node
    /// transforms, `(N_1 + beam · Σ_{l>1} N_l) · D²`.
    fn e_step_flops_per_sample(&self) -> f64 {
        let d = self.dim() as f64;
        let nodes = &self.config.nodes;
        let transforms = match self.config.e_step {
            PathAssignment::Soft => nodes.iter().product::<usize>() as f64,
            PathAssignment::Hard | PathAssignment::SoftBeam => {
                let upper: usize = nodes[1..].iter().sum();
                (nodes[0] + self.config.beam * upper) as f64
            }
        };
        2.0 * transforms * d * d
    }

    fn generative(&self) -> Option<&dyn Generative> {
        Some(self)
    }
}

/// The path components' pictures (their means), as the full GMM shows its components.
impl Inspect for DeepGmm {
    fn extra_column(
        &self,
        input_scale: TileScale,
    ) -> Result<Option<(Tiles, TileScale)>, ModelError> {
        Inspect::extra_column(self.path_mixture()?, input_scale)
    }

    fn own_pictures(&self) -> Result<Option<(&'static str, Tiles)>, ModelError> {
        Inspect::own_pictures(self.path_mixture()?)
    }

    fn overlap(&self) -> Result<Option<Vec<f64>>, ModelError> {
        Inspect::overlap(self.path_mixture()?)
    }
}
