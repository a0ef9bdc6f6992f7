//! The deep GMM (models.md §7) as a layer family: where it may sit, its pictures (those of its
//! path components).

use super::TrainedStart;
use super::{Family, FamilyConfig, GaussianMixture, Layer, LayerInput};
use crate::report::pictures::TileScale;
use crate::report::views::{Inspect, Tiles};
use crate::tables::from_table;
use crate::{ConfigError, EmConfig};
use gmm_models::{DeepGmm, DeepGmmConfig, Device, FullGmm, Generative, ModelError, PathAssignment};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A deep layer as a run configures it: the network's hyper-parameters (the `[model]` keys
/// [`DeepGmmConfig`] spells) and, optionally, the trained model it starts from, `first_layer`
/// or `widen_from` (a layer folder, read by the run's start, never by the model).
#[derive(Debug, Clone, PartialEq)]
pub struct DeepLayerConfig {
    /// The network's hyper-parameters.
    pub network: DeepGmmConfig,
    /// `first_layer = "<folder>"` or `widen_from = "<folder>"`.
    pub start: Option<TrainedStart>,
}

impl From<DeepGmmConfig> for DeepLayerConfig {
    fn from(network: DeepGmmConfig) -> Self {
        Self { network, start: None }
    }
}

impl<'de> Deserialize<'de> for DeepLayerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let mut path = |key: &str| match table.remove(key) {
            Some(toml::Value::String(s)) => Ok(Some(PathBuf::from(s))),
            Some(_) => Err(D::Error::custom(format!("{key}: must be a folder path string"))),
            None => Ok(None),
        };
        let start = match (path("first_layer")?, path("widen_from")?) {
            (Some(_), Some(_)) => {
                return Err(D::Error::custom(
                    "widen_from: starts every layer from a narrower network, first_layer only \
                     layer 1 from a flat GMM; remove one of the two",
                ));
            }
            (Some(dir), None) => Some(TrainedStart::FirstLayer(dir)),
            (None, Some(dir)) => Some(TrainedStart::WidenFrom(dir)),
            (None, None) => None,
        };
        Ok(Self { network: from_table(table)?, start })
    }
}

impl Serialize for DeepLayerConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut table = toml::Table::try_from(&self.network).map_err(S::Error::custom)?;
        if let Some(start) = &self.start {
            let dir = start.dir().to_string_lossy().into_owned();
            table.insert(start.key().into(), toml::Value::String(dir));
        }
        table.serialize(s)
    }
}

impl FamilyConfig for DeepLayerConfig {
    type Layer = DeepGmm;

    /// The paths, `Π N_l`.
    fn n_components(&self) -> usize {
        self.network.n_paths().unwrap_or(usize::MAX)
    }

    /// A network keeps its paths (it is never pruned); a record of another K does not load.
    fn set_n_components(&mut self, _k: usize) {}

    /// Per path: its materialised component and statistics (f64), `4(D² + D)`.
    fn values_per_component(&self, dims: usize) -> u64 {
        let d = dims as u64;
        4 * (d.saturating_mul(d) + d)
    }

    fn min_samples(&self) -> usize {
        self.network.nodes.first().copied().unwrap_or(1)
    }

    fn size_key(&self) -> &'static str {
        "nodes"
    }

    /// One layer of `k` nodes.
    fn with_size(k: usize) -> Self {
        let nodes = toml::Value::Array(vec![toml::Value::Integer(k as i64)]);
        super::with_defaults::<DeepGmmConfig>("nodes", nodes).into()
    }

    /// `first_layer` from a full GMM (its components become layer 1's nodes), `widen_from`
    /// from a narrower deep GMM.
    fn trained_start_key(&self, trained: &super::LayerConfig) -> Option<&'static str> {
        let key = |start: fn(PathBuf) -> TrainedStart| start(PathBuf::new()).key();
        match trained {
            super::LayerConfig::Full(_) => Some(key(TrainedStart::FirstLayer)),
            super::LayerConfig::Deep(_) => Some(key(TrainedStart::WidenFrom)),
            _ => None,
        }
    }

    /// The nodes per layer: `[3, 2]` and `[2, 3]` have as many parameters, not the same ones.
    fn size(&self) -> String {
        format!("nodes = {:?}", self.network.nodes)
    }

    /// Where a full GMM may sit; with plain EM (no annealing, no pruning: paths share nodes).
    fn check(&self, input: LayerInput<'_>, em: &EmConfig) -> Result<(), ConfigError> {
        self.network.validate()?;
        if em.prune_below.is_some() {
            return Err(ConfigError::new(
                "em.prune_below",
                "a deep GMM's paths share their nodes and cannot be pruned; remove prune_below",
            ));
        }
        if let Some(start) = &self.start {
            let key = start.key();
            if em.warm_start.is_some() {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "a warm start takes every layer of the network from em.warm_start; \
                         remove {key}"
                    ),
                ));
            }
            if em.n_init > 1 {
                return Err(ConfigError::new(
                    "em.n_init",
                    format!("a start from the trained model of {key} is one start; remove n_init"),
                ));
            }
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

    fn new_layer(&self, shape: [usize; 2], device: &Device) -> Result<DeepGmm, ModelError> {
        self.network.build(shape[0] * shape[1], device)
    }

    fn trained_start(&self) -> Option<&TrainedStart> {
        self.start.as_ref()
    }

    /// `first_layer`: a trained full GMM's components as layer 1's nodes
    /// ([`DeepGmm::starting_from`]); `widen_from`: a trained narrower network's nodes, copied
    /// ([`DeepGmm::widening`]).
    fn start_from(
        &self,
        shape: [usize; 2],
        trained: Layer,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<DeepGmm, String> {
        let network = self.new_layer(shape, device).map_err(|e| e.to_string())?;
        let wrong = |key: &'static str, want: &'static str| {
            move |kind| format!("holds a `{kind}` layer; a deep GMM's {key} must be a `{want}` one")
        };
        let started = match &self.start {
            Some(TrainedStart::FirstLayer(_)) => {
                let first = FullGmm::try_from(trained).map_err(wrong("first_layer", "full"))?;
                network.starting_from(&first, rng)
            }
            Some(TrainedStart::WidenFrom(_)) => {
                let narrower = DeepGmm::try_from(trained).map_err(wrong("widen_from", "deep"))?;
                network.widening(&narrower, rng)
            }
            None => Ok(network),
        };
        started.map_err(|e| e.to_string())
    }
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

    /// The path components `N(b_p, A_p A_pᵀ)` (the network's density, exactly).
    fn density_gaussians(&self) -> Result<Option<GaussianMixture>, ModelError> {
        self.path_mixture()?.density_gaussians()
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
