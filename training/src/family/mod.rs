//! The layer families: the one list of them (the `families!` call below) and the one place that
//! dispatches over it.
//!
//! A family is a model type of `gmm-models` (its maths, its [`Mixture`] hooks) plus, here, its
//! config's [`FamilyConfig`] (checks and construction), its [`Family`] and [`Inspect`] views,
//! in one file of this folder. Registering it is one line of the `families!` call: the
//! [`Layer`] and [`LayerConfig`] enums, their serde tag (`kind = "…"`), and the
//! [`with_layer!`](crate::with_layer) / [`map_layer!`](crate::map_layer) dispatch macros are
//! generated from that line. Code that works on any family is generic over `M: Family` and is
//! reached through `with_layer!`.

mod conv;
mod deep;
mod full;
mod prob;
mod trained_start;

pub use deep::DeepLayerConfig;
pub use trained_start::TrainedStart;

use crate::config::DataConfig;
use crate::features::Feature;
use crate::report::views::Inspect;
use crate::{ConfigError, EmConfig};
use gmm_models::{ConvGmm, DeepGmm, Device, FullGmm, Generative, ModelError, ProbGmm};
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where a layer sits: on the data (a first layer), or on a feature of the layer below.
#[derive(Debug, Clone, Copy)]
pub enum LayerInput<'a> {
    /// The run's data.
    Data(&'a DataConfig),
    /// This feature of the layer below.
    Feature(Feature),
}

/// A family's hyper-parameters (the `[model]` / `[[layers]]` table without `kind`).
pub trait FamilyConfig:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync
{
    /// The layer it builds.
    type Layer: Family;

    /// The configured number of components K.
    fn n_components(&self) -> usize;

    /// Sets K (a pruned layer is rebuilt with fewer than configured).
    fn set_n_components(&mut self, k: usize);

    /// What fixes the number, shapes and meaning of the layer's parameters, in words ("200
    /// components"): a layer trained under another config continues under this one
    /// (`em.warm_start`) only where the two say the same.
    fn size(&self) -> String {
        format!("{} components", self.n_components())
    }

    /// f32-sized values that the layer and one E-step's statistics hold per component for
    /// inputs of `dims` values: what K multiplies in memory (a spectrum's `2D`, a full
    /// covariance's `3(D² + D)` with its f64 statistics). Checked against the machine's memory
    /// before the layer is built.
    fn values_per_component(&self, dims: usize) -> u64;

    /// The fewest training samples the layer can be fitted to: K (a deep GMM: the `N_1`
    /// components of its first layer's flat GMM).
    fn min_samples(&self) -> usize {
        self.n_components()
    }

    /// The key that sets the layer's size in its table (`n_components`; a deep GMM's `nodes`):
    /// what a message about too many components names.
    fn size_key(&self) -> &'static str {
        "n_components"
    }

    /// The config of `k` components (a deep GMM: one layer of `k` nodes) with every other key
    /// at its default: the defaults the Python estimators take.
    fn with_size(k: usize) -> Self;

    /// The key of this layer's table by which it starts from `trained`, a trained layer of
    /// another kind or size (the stage before's in a staged run): a deep GMM's `first_layer`
    /// from a full GMM, `widen_from` from a narrower deep GMM; `None` (the default) where a
    /// layer of this config cannot start from it.
    fn trained_start_key(&self, _trained: &LayerConfig) -> Option<&'static str> {
        None
    }

    /// Checks the fields, that the family fits its input and the EM settings; the error's key
    /// is relative to the layer's table (`exclude_dc`, `input`, `em.init`, …).
    fn check(&self, input: LayerInput<'_>, em: &EmConfig) -> Result<(), ConfigError>;

    /// A fresh layer for inputs of shape `[height, width]` (a feature vector is `[1, K]`).
    fn new_layer(&self, shape: [usize; 2], device: &Device) -> Result<Self::Layer, ModelError>;

    /// The trained model this config names to start its parameters from (the deep GMM's
    /// `first_layer` or `widen_from`), read by [`crate::run::start`]; none for most families.
    fn trained_start(&self) -> Option<&TrainedStart> {
        None
    }

    /// [`Self::new_layer`]'s layer started from `trained`, the layer saved where
    /// [`Self::trained_start`] points, with the layer's seeded generator; the error says why
    /// `trained` does not fit. Asked only of a config that names a trained start.
    fn start_from(
        &self,
        _shape: [usize; 2],
        trained: Layer,
        _rng: &mut ChaCha8Rng,
        _device: &Device,
    ) -> Result<Self::Layer, String> {
        Err(format!("holds a `{}` layer, and this layer starts from none", trained.kind()))
    }
}

/// What the engine needs of a layer beyond EM's hooks and its pictures.
pub trait Family: Inspect + Clone + Send + Sync + Into<Layer> + 'static {
    /// Multiply-adds of the E-step per sample (for `gmmzoo bench`'s GFLOP/s).
    fn e_step_flops_per_sample(&self) -> f64;

    /// The layer as a generator of samples in its input's shape, if it is one.
    fn generative(&self) -> Option<&dyn Generative> {
        None
    }

    /// The layer as a Gaussian mixture over its encoded rows with full covariances, on the
    /// host, for a peer that fits the same mixture by full-covariance EM (`gmmzoo bench
    /// --export`); `None` for a family (or covariance type) whose EM is another.
    fn gaussian_mixture(&self) -> Result<Option<GaussianMixture>, ModelError> {
        Ok(None)
    }

    /// The layer's density as a mixture of Gaussians over its input rows, on the host (a
    /// Gaussian layer's components of any covariance type, a deep GMM's paths, a conv layer's
    /// stationary components as circulant covariances over the pixels), for a dense oracle,
    /// a restoration prior or a user's own computations; `None` for a family whose density is
    /// not written so here.
    fn density_gaussians(&self) -> Result<Option<GaussianMixture>, ModelError> {
        Ok(None)
    }
}

/// A family config whose one key without a default, `key`, is `value`, every other key at its
/// default.
fn with_defaults<T: DeserializeOwned>(key: &str, value: toml::Value) -> T {
    let table = toml::Table::from_iter([(key.to_string(), value)]);
    crate::tables::from_table::<T, toml::de::Error>(table)
        .unwrap_or_else(|e| panic!("{key} is a family config's one key without a default: {e}"))
}

/// A family's layer type and the name configs spell for it (`FullGmm::KIND`), from its
/// `families!` line.
pub trait Kind {
    /// The family's `kind`.
    const KIND: &'static str;
}

/// A Gaussian mixture's parameters on the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    /// `μ_c`, `[K][D]`.
    pub means: Vec<Vec<f64>>,
    /// `Σ_c`, `[K][D·D]`.
    pub covariances: Vec<Vec<f64>>,
    /// `π_c`, `[K]`.
    pub weights: Vec<f64>,
    /// Added to every covariance's diagonal in the M-step.
    pub reg_covar: f64,
}

/// Generates [`LayerConfig`], [`Layer`] and the dispatch macros from the list of families.
/// `$d` is a literal `$`, so that the generated macros can have metavariables of their own.
macro_rules! families {
    ($d:tt $($variant:ident($model:ty, $config:ty) = $kind:literal),+ $(,)?) => {
        /// A layer's hyper-parameters, tagged by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "kind")]
        pub enum LayerConfig {
            $(
                #[doc = concat!("`kind = \"", $kind, "\"`")]
                #[serde(rename = $kind)]
                $variant($config),
            )+
        }

        /// A trained or fresh layer of any family.
        #[derive(Debug, Clone)]
        pub enum Layer {
            $(
                #[doc = concat!("A `", $kind, "` layer.")]
                $variant($model),
            )+
        }

        $(impl From<$model> for Layer {
            fn from(m: $model) -> Self {
                Layer::$variant(m)
            }
        })+

        $(impl TryFrom<Layer> for $model {
            /// The kind of the layer it was not.
            type Error = &'static str;

            fn try_from(layer: Layer) -> Result<Self, &'static str> {
                #[allow(unreachable_patterns)]
                match layer {
                    Layer::$variant(m) => Ok(m),
                    other => Err(other.kind()),
                }
            }
        })+

        $(impl Kind for $model {
            const KIND: &'static str = $kind;
        })+

        /// The names configs spell in `kind`, in registration order.
        pub const KINDS: &[&str] = &[$($kind),+];

        impl LayerConfig {
            /// The family's name as configs spell it.
            pub fn kind(&self) -> &'static str {
                match self { $(LayerConfig::$variant(_) => $kind),+ }
            }

            /// The config of family `kind` with `k` components and every other key at its
            /// default ([`FamilyConfig::with_size`]); `None` for a kind that is not registered.
            pub fn with_size(kind: &str, k: usize) -> Option<Self> {
                match kind {
                    $($kind => Some(LayerConfig::$variant(<$config as FamilyConfig>::with_size(k))),)+
                    _ => None,
                }
            }

            /// Deserialises the table of family `kind` (without its `kind` key).
            fn from_kind<E: serde::de::Error>(kind: &str, table: toml::Table) -> Result<Self, E> {
                match kind {
                    $($kind => crate::tables::from_table(table).map(LayerConfig::$variant),)+
                    other => Err(E::custom(format!(
                        "unknown layer kind `{other}`, expected one of {}",
                        KINDS.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
        }

        impl Layer {
            /// The family's name as configs spell it.
            pub fn kind(&self) -> &'static str {
                match self { $(Layer::$variant(_) => $kind),+ }
            }
        }

        /// Runs `$body` with `$m` bound to the layer inside a [`Layer`] (by value or by
        /// reference, as `$layer` is), whatever its family: `with_layer!(&layer, m => f(m))`
        /// calls the generic `f::<M: Family>`.
        #[macro_export]
        macro_rules! with_layer {
            ($d layer:expr, $d m:ident => $d body:expr) => {
                match $d layer { $($crate::Layer::$variant($d m) => $d body,)+ }
            };
        }

        /// Like [`with_layer!`], for a body that returns the same family's layer: the result
        /// is wrapped back into its [`Layer`] variant.
        #[macro_export]
        macro_rules! map_layer {
            ($d layer:expr, $d m:ident => $d body:expr) => {
                match $d layer { $($crate::Layer::$variant($d m) => $crate::Layer::$variant($d body),)+ }
            };
        }

        /// Runs `$body` with `$c` bound to the [`FamilyConfig`] inside a [`LayerConfig`].
        #[macro_export]
        macro_rules! with_config {
            ($d config:expr, $d c:ident => $d body:expr) => {
                match $d config { $($crate::LayerConfig::$variant($d c) => $d body,)+ }
            };
        }
    };
}

// The one registration of every family: `Variant(model, config) = "kind"`.
families! {$
    Conv(ConvGmm, gmm_models::ConvGmmConfig) = "conv",
    Full(FullGmm, gmm_models::FullGmmConfig) = "full",
    Prob(ProbGmm, gmm_models::ProbGmmConfig) = "prob",
    Deep(DeepGmm, DeepLayerConfig) = "deep",
}

// After the `families!` call: its dispatch macros are in scope there.
mod dispatch;

impl<'de> Deserialize<'de> for LayerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        let (kind, table) = crate::tables::split_tag::<D::Error>(table, "kind")?;
        LayerConfig::from_kind(&kind, table)
    }
}
