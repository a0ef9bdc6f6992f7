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

/// The rows of a data set (`[data]` and `seed` of `text`, a run config's TOML or those two
/// alone) for `split` (`"train"` or `"test"`), as a run's first layer reads them:
/// `(X [N, D] float32, labels or None, (height, width))`, from `data_root` (else
/// `$GMM_ZOO_DATA`, else the sample data).
#[pyfunction]
#[pyo3(signature = (text, split="train", data_root=None))]
pub fn load_data<'py>(
    py: Python<'py>,
    text: &str,
    split: &str,
    data_root: Option<std::path::PathBuf>,
) -> PyResult<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>, (usize, usize))> {
    use gmm_zoo::training::config::Split;
    use numpy::IntoPyArray;
    let split = match split {
        "train" => Split::Train,
        "test" => Split::Test,
        "valid" => Split::Valid,
        other => {
            return Err(value_error(format!("split: '{other}' is not 'train', 'test' or 'valid'")));
        }
    };
    use gmm_zoo::training::DataConfig;
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| value_error(gmm_zoo::training::config::toml_error(text, &e)))?;
    let seed = match table.get("seed") {
        None => 0,
        Some(v) => v.as_integer().and_then(|s| u64::try_from(s).ok()).ok_or_else(|| {
            value_error(format!("seed: {v} is not a non-negative integer"))
        })?,
    };
    let data = table.get("data").cloned().ok_or_else(|| value_error("data: a [data] table is required"))?;
    let data: DataConfig = data.try_into().map_err(|e| value_error(format!("data: {e}")))?;
    data.validate().map_err(|e| value_error(e.under("data")))?;
    let root = gmm_zoo::datasets::resolve_data_root(data_root.as_deref());
    let images = py
        .detach(|| gmm_zoo::training::data::load_split(&data, &root, split, seed))
        .map_err(value_error)?;
    let (n, d) = (images.len(), images.height * images.width);
    let x = numpy::ndarray::Array2::from_shape_vec((n, d), images.pixels).map_err(value_error)?;
    let labels = images.labels.map(|l| l.into_pyarray(py).into_any());
    Ok((x.into_pyarray(py).into_any(), labels, (images.height, images.width)))
}
