//! A layer's starting parameters from Python: its initialisation by `[em] init` on rows, before
//! any EM iteration, for the estimators' starts (`GaussianMixture._start_model`, the first
//! `partial_fit`).

use crate::layers::{Model, checked_layer, train_error};
use crate::rows::rows_in_batches;
use crate::{device_of, value_error};
use gmm_zoo::models::Mixture;
use gmm_zoo::training::encode::encode_row_batches;
use gmm_zoo::training::{Layer, TrainError, with_layer};
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rand::SeedableRng;

/// The layer a run config's `text` describes after its initialisation (`[em] init` from the
/// config's seed) on rows `x`, before any EM iteration: the parameters scikit-learn's
/// `_initialize` derives, for a start that gives only some of them.
#[pyfunction]
#[pyo3(signature = (x, shape, text, device="cpu"))]
pub fn initialised(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    shape: (usize, usize),
    text: &str,
    device: &str,
) -> PyResult<Model> {
    let shape = [shape.0, shape.1];
    let (config, spec) = checked_layer(text, shape, x.shape()[0])?;
    let batches = rows_in_batches(&x, shape, spec.em.batch_size)?;
    let device = device_of(device)?;
    let layer = spec.layer.init(shape, &device).map_err(value_error)?;
    let init = py.detach(|| {
        with_layer!(layer, m => {
            let data = encode_row_batches(&m, batches, &device)?;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
            m.initialize(&data, spec.em.init, &mut rng).map(Layer::from).map_err(TrainError::from)
        })
    });
    Ok(Model::new(init.map_err(train_error)?, shape))
}
