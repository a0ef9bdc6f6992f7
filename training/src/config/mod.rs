//! Run configs: one TOML file says which data, which layer (or stack of layers), which EM
//! settings; checked once, when it is read.

mod run_config;
mod stack;

pub use crate::data::{
    ArrayData, Augment, Bsds300Data, BsdsData, DataConfig, ImagesData, MnistData, Split,
};
pub use crate::tables::toml_error;
pub use run_config::{CheckpointConfig, MAX_TOP_SAMPLES, OutputConfig, RunConfig};
pub use stack::StackLayer;
