//! The methods of [`LayerConfig`] and [`Layer`]: each hands the call to the family inside.

use super::{Family, FamilyConfig, Layer, LayerConfig, LayerInput, TrainedStart};
use crate::{ConfigError, EmConfig};
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use gmm_models::{Device, Generative, Mixture, ModelError};
use rand_chacha::ChaCha8Rng;

impl LayerConfig {
    /// The configured number of components.
    pub fn n_components(&self) -> usize {
        with_config!(self, c => c.n_components())
    }

    /// Sets the number of components.
    pub fn set_n_components(&mut self, k: usize) {
        with_config!(self, c => c.set_n_components(k))
    }

    /// See [`FamilyConfig::values_per_component`].
    pub fn values_per_component(&self, dims: usize) -> u64 {
        with_config!(self, c => c.values_per_component(dims))
    }

    /// See [`FamilyConfig::min_samples`].
    pub fn min_samples(&self) -> usize {
        with_config!(self, c => c.min_samples())
    }

    /// See [`FamilyConfig::size_key`].
    pub fn size_key(&self) -> &'static str {
        with_config!(self, c => c.size_key())
    }

    /// See [`FamilyConfig::trained_start_key`].
    pub fn trained_start_key(&self, trained: &LayerConfig) -> Option<&'static str> {
        with_config!(self, c => c.trained_start_key(trained))
    }

    /// What fixes its parameters, in words ([`FamilyConfig::size`]).
    pub fn size(&self) -> String {
        with_config!(self, c => c.size())
    }

    /// Checks the layer where it sits, with its EM settings.
    pub fn check(&self, input: LayerInput<'_>, em: &EmConfig) -> Result<(), ConfigError> {
        with_config!(self, c => c.check(input, em))
    }

    /// A fresh layer for inputs of shape `[height, width]`.
    pub fn init(&self, shape: [usize; 2], device: &Device) -> Result<Layer, ModelError> {
        with_config!(self, c => c.new_layer(shape, device).map(Layer::from))
    }

    /// See [`FamilyConfig::trained_start`].
    pub fn trained_start(&self) -> Option<&TrainedStart> {
        with_config!(self, c => c.trained_start())
    }

    /// See [`FamilyConfig::start_from`].
    pub fn start_from(
        &self,
        shape: [usize; 2],
        trained: Layer,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Layer, String> {
        with_config!(self, c => c.start_from(shape, trained, rng, device).map(Layer::from))
    }

    /// A layer of this config with `k` components and the parameters of a Burn record
    /// (`model.bpk`, a checkpoint's record); the error says why the record does not fit.
    pub fn load_record(
        &self,
        k: usize,
        shape: [usize; 2],
        record: Vec<u8>,
        device: &Device,
    ) -> Result<Layer, String> {
        let mut config = self.clone();
        config.set_n_components(k);
        let fresh = config.init(shape, device).map_err(|e| e.to_string())?;
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record))
            .map_err(|e| format!("not a valid Burn record: {e:?}"))?;
        let misfit = |e| format!("parameters that do not fit the layer: {e:?}");
        Ok(map_layer!(fresh, m => m.try_load_record(record).map_err(misfit)?))
    }
}

impl Layer {
    /// Its number of components K.
    pub fn n_components(&self) -> usize {
        with_layer!(self, m => m.n_components())
    }

    /// Its parameters as a Burn record (burnpack bytes).
    pub fn record_bytes(&self) -> Result<Vec<u8>, String> {
        with_layer!(self, m => m.clone().into_record().into_bytes())
            .map(|b| b.to_vec())
            .map_err(|e| format!("cannot encode the record: {e:?}"))
    }

    /// `log π_c` on the host.
    pub fn log_weights(&self) -> Result<Vec<f64>, ModelError> {
        with_layer!(self, m => gmm_models::to_host_f64(m.log_weights()))
    }

    /// The layer as a generator of samples, if its family is one.
    pub fn generative(&self) -> Option<&dyn Generative> {
        with_layer!(self, m => m.generative())
    }
}
