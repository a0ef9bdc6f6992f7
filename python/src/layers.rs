//! A layer of any family from Python: [`Model`] holds the library's [`Layer`] (conv, full,
//! prob or deep), fitted from a run config's text through the same checks as a config file
//! ([`fit_layer`], the one way every estimator fits), built from parameters
//! (`crate::full_model`) or read from a run folder (`crate::load`). It scores rows, samples,
//! and hands over its parameters; the estimators (`gmmzoo/`) wrap it with scikit-learn's API.

use crate::rows::{rows_for, rows_in_batches};
use crate::{Interrupt, default_batch, device_of, set_report, value_error};
use gmm_zoo::models::{Encoded, Generative, Mixture, ModelError, host, to_host_f64};
use gmm_zoo::training::em::{Start, StepwiseState, fit_with};
use gmm_zoo::training::encode::{encode_row_batches, encode_rows};
use gmm_zoo::training::{
    Family, Feature, FitReport, Layer, LayerConfig, Progress, RunConfig, StackLayer, TrainError,
    with_layer,
};
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand::SeedableRng;

/// A trained layer: its family's module and the shape `[height, width]` of one input row.
#[pyclass(module = "gmmzoo._core", frozen)]
pub struct Model {
    layer: Layer,
    shape: [usize; 2],
}

impl Model {
    pub(crate) fn new(layer: Layer, shape: [usize; 2]) -> Self {
        Self { layer, shape }
    }
}

/// A library error as a `ValueError`; a config's as its key and reason only (no file).
pub(crate) fn train_error(e: TrainError) -> PyErr {
    match e {
        TrainError::Config { error, .. } => PyValueError::new_err(error.to_string()),
        other => value_error(other),
    }
}

/// Per batch: `log π_c + log N(x_n | c)` from the library, then on the host in f64 the
/// log-normaliser `log p(x_n)` and the responsibilities `[N·K]`.
pub(crate) fn score_rows<M: Mixture>(
    layer: &M,
    data: &Encoded,
) -> Result<(Vec<f64>, Vec<f64>), ModelError> {
    let k = layer.n_components();
    let (mut log_p, mut resp) = (Vec::with_capacity(data.n), Vec::with_capacity(data.n * k));
    for b in 0..data.n_batches() {
        let weighted = to_host_f64(layer.weighted_log_prob(data.batch(b)?))?;
        for row in weighted.chunks(k) {
            let norm = host::log_sum_exp(row);
            log_p.push(norm);
            resp.extend(row.iter().map(|v| (v - norm).exp()));
        }
    }
    Ok((log_p, resp))
}

/// `n` samples from `seed`, grouped by component as scikit-learn's `sample` returns them.
pub(crate) fn grouped_sample(
    layer: &dyn Generative,
    n: usize,
    seed: u64,
) -> Result<(Vec<f64>, usize, Vec<i64>), ModelError> {
    let d = layer.sample_width();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (values, components) = layer.sample(n, &mut rng)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| components[i]);
    let x = order.iter().flat_map(|&i| values[i * d..(i + 1) * d].iter().map(|&v| f64::from(v)));
    let y = order.iter().map(|&i| components[i] as i64).collect();
    Ok((x.collect(), d, y))
}

#[pymethods]
impl Model {
    /// The family (`conv`, `full`, `prob`, `deep`).
    #[getter]
    fn kind(&self) -> &'static str {
        self.layer.kind()
    }

    /// `[height, width]` of one input row.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.shape[0], self.shape[1])
    }

    /// K (a deep GMM's paths).
    #[getter]
    fn n_components(&self) -> usize {
        self.layer.n_components()
    }

    /// Free parameters (BIC's and AIC's `p`).
    #[getter]
    fn n_parameters(&self) -> usize {
        with_layer!(&self.layer, m => m.n_parameters())
    }

    /// The mixing weights `π_c`.
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let w = with_layer!(&self.layer, m => m.weights()).map_err(value_error)?;
        Ok(w.into_pyarray(py))
    }

    /// `log p(x_n)` `[N]` and the responsibilities `[N, K]` of rows `x` (encoded as the
    /// family encodes them: a conv layer's periodograms), the GIL released.
    #[pyo3(signature = (x, device="cpu"))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        device: &str,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>)> {
        let rows = rows_for(&x, self.shape)?;
        let device = device_of(device)?;
        let k = self.layer.n_components();
        let scored = py.detach(|| {
            with_layer!(&self.layer, m => {
                let data = encode_rows(m, &rows, default_batch(), &device).map_err(|e| e.to_string())?;
                score_rows(m, &data).map_err(|e| e.to_string())
            })
        });
        let (log_p, resp) = scored.map_err(value_error)?;
        let n = log_p.len();
        Ok((
            Array1::from_vec(log_p).into_pyarray(py),
            Array2::from_shape_vec((n, k), resp).map_err(value_error)?.into_pyarray(py),
        ))
    }

    /// `n` rows drawn from the layer from `seed`, grouped by component, and their components;
    /// a `ValueError` for a family that does not sample.
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        seed: u64,
    ) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<i64>>)> {
        let kind = self.layer.kind();
        let generative = with_layer!(&self.layer, m => m.generative())
            .ok_or_else(|| value_error(format!("a `{kind}` layer does not draw samples")))?;
        // The rows and the f64 copy handed to numpy, checked against memory first.
        let width = generative.sample_width() as u64;
        gmm_zoo::datasets::check_f32_count("n_samples", n as u64, 3 * width)
            .map_err(value_error)?;
        let (x, d, y) = grouped_sample(generative, n, seed).map_err(value_error)?;
        Ok((
            Array2::from_shape_vec((n, d), x).map_err(value_error)?.into_pyarray(py),
            Array1::from_vec(y).into_pyarray(py),
        ))
    }

    /// The density as a mixture of Gaussians `{weights [K], means [K, D], covariances
    /// [K, D, D]}` (a full layer's components; a deep GMM's paths), or `None` for a family
    /// that is not one in closed form here.
    fn gaussians<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(g) = with_layer!(&self.layer, m => m.density_gaussians()).map_err(value_error)?
        else {
            return Ok(None);
        };
        let (k, d) = (g.weights.len(), g.means.first().map_or(0, Vec::len));
        let out = PyDict::new(py);
        out.set_item("weights", g.weights.into_pyarray(py))?;
        let means = Array2::from_shape_vec((k, d), g.means.concat()).map_err(value_error)?;
        out.set_item("means", means.into_pyarray(py))?;
        let covs =
            Array3::from_shape_vec((k, d, d), g.covariances.concat()).map_err(value_error)?;
        out.set_item("covariances", covs.into_pyarray(py))?;
        Ok(Some(out))
    }

    /// A full layer's parameters as scikit-learn's `GaussianMixture` holds them
    /// (`crate::fitted`), with its `reg_covar`; a `ValueError` for another family.
    fn full_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let Layer::Full(full) = &self.layer else {
            return Err(value_error(format!("a `{}` layer is not a GaussianMixture", self.kind())));
        };
        let out = crate::fitted(py, full, &FitReport::default())?;
        out.set_item("reg_covar", full.config.reg_covar)?;
        Ok(out)
    }

    /// Rows `x` with every NaN filled in by a full layer: the conditional mean given what the
    /// row observes, or with `seed` one draw from the conditional distribution
    /// (`FullGmm::impute`); a `ValueError` for another family.
    #[pyo3(signature = (x, seed=None))]
    fn impute<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let Layer::Full(full) = &self.layer else {
            return Err(value_error(format!(
                "a `{}` layer does not impute missing values; a full layer does",
                self.kind()
            )));
        };
        let rows = rows_for(&x, self.shape)?;
        let draws = seed.map(|seed| gmm_zoo::models::Draws { seed, first_row: 0 });
        let (filled, _) = py.detach(|| full.impute(&rows, draws)).map_err(value_error)?;
        let out: Vec<f64> = filled.into_iter().map(f64::from).collect();
        let shape = (x.shape()[0], x.shape()[1]);
        Ok(Array2::from_shape_vec(shape, out).map_err(value_error)?.into_pyarray(py))
    }

    /// The rows the next layer of a stack takes: `feature` (`"log_likelihood"`,
    /// `"log_likelihood_standardised"`, `"posterior_normalised"`, `"responsibility"`) of `x`.
    fn features<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        feature: &str,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let feature = Feature::from_name(feature)
            .ok_or_else(|| value_error(format!("feature: '{feature}' is not a layer feature")))?;
        let rows = rows_for(&x, self.shape)?;
        let device = device_of("cpu")?;
        let k = self.layer.n_components();
        let out = py.detach(|| {
            with_layer!(&self.layer, m => {
                let data = encode_rows(m, &rows, default_batch(), &device).map_err(|e| e.to_string())?;
                feature.compute(m, &data).map_err(|e| e.to_string())
            })
        });
        let out: Vec<f64> = out.map_err(value_error)?.into_iter().map(f64::from).collect();
        let n = out.len() / k.max(1);
        Ok(Array2::from_shape_vec((n, k), out).map_err(value_error)?.into_pyarray(py))
    }
}

/// The first layer a run config's `text` describes, checked as a config file is and against
/// `n` rows of `shape` (the library's size checks: a count too large for memory is refused
/// before anything is allocated).
pub(crate) fn checked_layer(
    text: &str,
    shape: [usize; 2],
    n: usize,
) -> PyResult<(RunConfig, StackLayer)> {
    let config = RunConfig::parse(text).map_err(|e| PyValueError::new_err(e.to_string()))?;
    gmm_zoo::training::sizes::check_layer(&config, 0, shape[0] * shape[1], n)
        .map_err(train_error)?;
    let spec = config.stack().remove(0);
    if spec.layer.trained_start().is_some() {
        return Err(value_error(
            "first_layer and widen_from start from a run folder; train such a layer with \
             `gmmzoo train`",
        ));
    }
    Ok((config, spec))
}

/// EM for the layer a run config's `text` describes (its `[model]` and `[em]`, checked as a
/// config file is) on rows `x` of shape `[height, width]` (weighted by `sample_weight` where
/// given): from `start`'s parameters (a model of the same size, taken under this config) when
/// given, else initialised by `[em] init` from the config's seed. The GIL is released, Ctrl-C
/// checked every iteration. Returns the model and `{converged, n_iter, lower_bounds}`.
///
/// Stepwise EM (`[em.stepwise]` in `text`) continues `stepwise`, the `(steps, statistics)` a
/// previous fit returned as `report["stepwise"]` (it needs `start`, the model that fit ended
/// with): how `partial_fit` moves from one chunk of rows to the next.
#[pyfunction]
#[pyo3(signature = (x, shape, text, device="cpu", start=None, sample_weight=None, stepwise=None))]
#[allow(clippy::too_many_arguments)]
pub fn fit_layer<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    shape: (usize, usize),
    text: &str,
    device: &str,
    start: Option<PyRef<'py, Model>>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    stepwise: Option<(u64, PyReadonlyArray1<'py, f64>)>,
) -> PyResult<(Model, Bound<'py, PyDict>)> {
    let shape = [shape.0, shape.1];
    let n = x.shape()[0];
    let (config, spec) = checked_layer(text, shape, n)?;
    let batches = rows_in_batches(&x, shape, spec.em.batch_size)?;
    let device = device_of(device)?;
    if stepwise.is_some() && (start.is_none() || spec.em.stepwise.is_none()) {
        return Err(value_error(
            "a stepwise state continues stepwise EM ([em.stepwise]) from the model it ended with",
        ));
    }
    let state = stepwise.map(|(steps, stats)| StepwiseState {
        steps,
        stats: stats.as_array().to_vec(),
        next: 0,
        sums: [0.0; 2],
    });
    let (layer, begin) = match &start {
        Some(start) => (
            started(&spec.layer, start, shape, &device)?,
            Start::Resume(FitReport { stepwise: state, ..FitReport::default() }),
        ),
        None => (
            spec.layer.init(shape, &device).map_err(value_error)?,
            Start::Fresh { seed: config.seed },
        ),
    };
    let weights: Option<Vec<f32>> =
        sample_weight.map(|w| w.as_array().iter().map(|&v| v as f32).collect());
    let interrupt = Interrupt::default();
    let result = py.detach(|| {
        with_layer!(layer, m => {
            let mut data = encode_row_batches(&m, batches, &device)?;
            if let Some(w) = &weights {
                data = data.with_sample_weights(w)?;
            }
            let mut hook = |_: &_, _: &FitReport| interrupt.check();
            fit_with(m, &data, &spec.em, begin, &Progress::quiet(), &mut hook)
                .map(|(m, report)| (Layer::from(m), report))
        })
    });
    interrupt.raise()?;
    let (layer, report) = result.map_err(train_error)?;
    let out = PyDict::new(py);
    set_report(&out, &report)?;
    if let Some(state) = report.stepwise {
        out.set_item("stepwise", (state.steps, state.stats.into_pyarray(py)))?;
    }
    Ok((Model { layer, shape }, out))
}

/// `start`'s parameters in a layer of `config` (its record loaded as a warm start loads a
/// trained layer's); a `ValueError` where they do not fit.
fn started(
    config: &LayerConfig,
    start: &Model,
    shape: [usize; 2],
    device: &gmm_zoo::models::Device,
) -> PyResult<Layer> {
    if start.shape != shape || start.layer.kind() != config.kind() {
        return Err(value_error(format!(
            "the start is a `{}` layer on rows of {:?}, the config a `{}` layer on rows of {shape:?}",
            start.layer.kind(),
            start.shape,
            config.kind()
        )));
    }
    let record = start.layer.record_bytes().map_err(value_error)?;
    config
        .load_record(start.layer.n_components(), shape, record, device)
        .map_err(|e| value_error(format!("the start holds {e}")))
}
