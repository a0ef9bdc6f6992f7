//! A trained run folder or shipped checkpoint from Python: every layer as a [`Model`] with its
//! saved `[model]` and `[em]` tables and its fit's figures, for `gmmzoo.load`.

use crate::layers::Model;
use crate::{device_of, set_report, value_error};
use gmm_zoo::training::{Feature, FitReport, LayerConfig, RunConfig, TrainError};
use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Every layer of a shipped checkpoint (by name) or a run folder, in order: each as
/// `(model, input, figures)` with `input` the feature it takes from the layer below (`None`
/// for the first) and `figures` `{converged, n_iter, lower_bounds}` from its `metrics.json`
/// where present. A name or folder that is not there is a `FileNotFoundError`.
#[pyfunction]
pub fn load_layers<'py>(
    py: Python<'py>,
    name_or_folder: &str,
) -> PyResult<Vec<(Model, Option<String>, Bound<'py, PyDict>)>> {
    use gmm_zoo::training::{SavedLayer, folder::layer_dir, metrics::Metrics};
    let not_found = |e: TrainError| PyFileNotFoundError::new_err(e.to_string());
    let run = gmm_zoo::experiments::zoo::resolve_run(std::path::Path::new(name_or_folder))
        .map_err(not_found)?;
    let config = RunConfig::load(&run.join("config.toml")).map_err(value_error)?;
    let stack = config.stack();
    let mut out = Vec::with_capacity(stack.len());
    for (index, spec) in stack.iter().enumerate() {
        let dir = layer_dir(&run, index, stack.len());
        let (saved, layer) = SavedLayer::load(&dir, &device_of("cpu")?).map_err(not_found)?;
        let metrics: Option<Metrics> =
            gmm_zoo::training::folder::read_json(&dir.join("metrics.json")).ok();
        let report = FitReport {
            iterations: metrics.as_ref().map(|m| m.iterations.clone()).unwrap_or_default(),
            converged: metrics.as_ref().is_some_and(|m| m.converged),
            ..FitReport::default()
        };
        let figures = PyDict::new(py);
        set_report(&figures, &report)?;
        figures.set_item("folder", dir.display().to_string())?;
        // The saved `[model]` and `[em]`: the loaded estimator's parameters.
        let model = toml::Value::try_from(&saved.config).map_err(value_error)?;
        let em = toml::Value::try_from(&spec.em).map_err(value_error)?;
        figures.set_item("model", python_value(py, &model)?)?;
        figures.set_item("em", python_value(py, &em)?)?;
        let input = spec.input.map(Feature::name);
        out.push((Model::new(layer, saved.input_shape), input, figures));
    }
    Ok(out)
}

/// A TOML value as Python's: tables as dicts, arrays as lists.
pub(crate) fn python_value<'py>(
    py: Python<'py>,
    value: &toml::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use toml::Value;
    Ok(match value {
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Boolean(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Datetime(d) => d.to_string().into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let items: Vec<_> =
                items.iter().map(|v| python_value(py, v)).collect::<PyResult<_>>()?;
            pyo3::types::PyList::new(py, items)?.into_any()
        }
        Value::Table(table) => {
            let dict = PyDict::new(py);
            for (key, v) in table {
                dict.set_item(key, python_value(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// The `[model]` keys of family `kind` at their defaults (the estimators' defaults), without
/// the key that sets its size.
#[pyfunction]
pub fn model_defaults<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyAny>> {
    let config = LayerConfig::with_size(kind, 1)
        .ok_or_else(|| value_error(format!("unknown layer kind `{kind}`")))?;
    let mut table = toml::Table::try_from(&config).map_err(value_error)?;
    table.remove("kind");
    table.remove(config.size_key());
    python_value(py, &toml::Value::Table(table))
}
