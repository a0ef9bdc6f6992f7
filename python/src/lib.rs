//! `gmmzoo._core`: the library's Gaussian mixtures on numpy arrays (this file: the Gaussian
//! layer's own functions; `layers.rs`: a layer of any family). The estimator API
//! (scikit-learn's names, checks and attributes) is the Python package's (`gmmzoo/`); this
//! module moves arrays in and out, runs the library with the GIL released, and turns its errors
//! into `ValueError`s with the library's one-sentence messages.
//!
//! Parameters cross as scikit-learn holds them: `weights` `[K]`, `means` `[K, D]`,
//! `precisions_cholesky` `[K, D, D]`, `[D, D]`, `[K, D]` or `[K]` for the covariance types
//! full, tied, diag and spherical (upper triangular `U_c` with `Σ_c⁻¹ = U_c U_cᵀ`, the library's
//! own factor; [`CovarianceType::sklearn_factors`]). Rows are float64 in, float32 on the device
//! (the library's precision).

use gmm_zoo::models::{
    CovarianceType, Device, EmptyPolicy, Encoded, FullGmm, FullGmmConfig, Init, Mixture, Part,
    Tensor, TensorData,
};
use gmm_zoo::training::em::{Start, fit_with};
use gmm_zoo::training::{EmConfig, FitReport, Progress, TrainError};
use numpy::ndarray::{Array1, Array2, ArrayD, IxDyn};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

mod layers;

/// Rows per batch on the device (the library's default `batch_size`).
pub(crate) const BATCH: usize = 16_384;

pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Rows `x` (float64 `[N, D]`) as the library's float32 batches on `device`, converted once,
/// batch by batch (a full GMM's rows are used as they are); a value that is not finite in
/// float32 is a `ValueError` naming its row.
fn batches_of(x: &PyReadonlyArray2<'_, f64>, device: &Device) -> PyResult<Encoded> {
    let view = x.as_array();
    let (n, d) = view.dim();
    let mut batches = Vec::with_capacity(n.div_ceil(BATCH));
    for r0 in (0..n).step_by(BATCH) {
        let rows = BATCH.min(n - r0);
        let mut values = Vec::with_capacity(rows * d);
        for (i, row) in
            view.slice(numpy::ndarray::s![r0..r0 + rows, ..]).rows().into_iter().enumerate()
        {
            for &v in row {
                let f = v as f32;
                if !f.is_finite() {
                    return Err(value_error(format!(
                        "X holds {v} in row {}, which is not a finite float32 value",
                        r0 + i
                    )));
                }
                values.push(f);
            }
        }
        batches.push(Tensor::from_data(TensorData::new(values, [rows, d]), device));
    }
    Ok(Encoded { batches, n, width: d, part: Part::Whole, weights: None })
}

/// scikit-learn's `covariance_type` as the library's.
fn covariance_type_of(name: &str) -> PyResult<CovarianceType> {
    CovarianceType::from_name(name).ok_or_else(|| {
        value_error(format!(
            "covariance_type: '{name}' is not one of 'full', 'tied', 'diag', 'spherical'"
        ))
    })
}

/// The shape of scikit-learn's `precisions_cholesky_` for a covariance type.
fn sklearn_factor_shape(t: CovarianceType, k: usize, d: usize) -> Vec<usize> {
    match t {
        CovarianceType::Full => vec![k, d, d],
        CovarianceType::Tied => vec![d, d],
        CovarianceType::Diag => vec![k, d],
        CovarianceType::Spherical => vec![k],
    }
}

/// A layer from its parameters as scikit-learn holds them; shapes that disagree are a
/// `ValueError` naming the array.
fn layer_of(
    weights: &PyReadonlyArray1<'_, f64>,
    means: &PyReadonlyArray2<'_, f64>,
    precisions_cholesky: &PyReadonlyArrayDyn<'_, f64>,
    config: &FullGmmConfig,
    device: &Device,
) -> PyResult<FullGmm> {
    let k = weights.len();
    let (m, p) = (means.shape(), precisions_cholesky.shape());
    if m[0] != k {
        return Err(value_error(format!("means has {} rows for {k} weights", m[0])));
    }
    let t = config.covariance_type;
    let expected = sklearn_factor_shape(t, k, m[1]);
    if p != expected.as_slice() {
        return Err(value_error(format!(
            "precisions_cholesky has shape {p:?}, expected {expected:?} for covariance_type '{}'",
            t.name()
        )));
    }
    let flat = |v: numpy::ndarray::ArrayViewD<'_, f64>| v.iter().copied().collect::<Vec<f64>>();
    let stored = t
        .stored_from_sklearn(&flat(precisions_cholesky.as_array()), k, m[1])
        .ok_or_else(|| value_error("precisions_cholesky has the wrong number of values"))?;
    let config = FullGmmConfig { n_components: k, ..config.clone() };
    Ok(FullGmm::from_parts(
        &flat(means.as_array().into_dyn()),
        &stored,
        &flat(weights.as_array().into_dyn()),
        &config,
        device,
    ))
}

/// The config of a layer built only to score or sample (its `reg_covar` is not used).
fn scoring_config(k: usize, covariance_type: &str) -> PyResult<FullGmmConfig> {
    Ok(FullGmmConfig {
        n_components: k,
        zero_mean: false,
        reg_covar: 1e-6,
        empty_components: EmptyPolicy::Keep,
        covariance_type: covariance_type_of(covariance_type)?,
    })
}

pub(crate) fn device_of(name: &str) -> PyResult<Device> {
    gmm_zoo::models::device_from_name(name).map_err(value_error)
}

/// scikit-learn's `init_params` as the library's [`Init`].
fn init_of(init_params: &str) -> PyResult<Init> {
    match init_params {
        "kmeans" => Ok(Init::Kmeans),
        "k-means++" => Ok(Init::KmeansPlusPlus),
        "random" => Ok(Init::RandomResponsibilities),
        "random_from_data" => Ok(Init::Samples),
        other => Err(value_error(format!(
            "init_params: '{other}' is not one of 'kmeans', 'k-means++', 'random', \
             'random_from_data'"
        ))),
    }
}

/// The fitted parameters and the fit's figures, as the estimator's attributes take them.
pub(crate) fn fitted<'py>(
    py: Python<'py>,
    layer: &FullGmm,
    report: &FitReport,
) -> PyResult<Bound<'py, PyDict>> {
    let (k, d, t) = (layer.n_components(), layer.dim(), layer.config.covariance_type);
    let means = layer.means_host().map_err(value_error)?.concat();
    let precs = t.sklearn_factors(&layer.factors_host().map_err(value_error)?, d);
    let out = PyDict::new(py);
    out.set_item("weights", layer.weights().map_err(value_error)?.into_pyarray(py))?;
    out.set_item(
        "means",
        Array2::from_shape_vec((k, d), means).map_err(value_error)?.into_pyarray(py),
    )?;
    out.set_item(
        "precisions_cholesky",
        ArrayD::from_shape_vec(IxDyn(&sklearn_factor_shape(t, k, d)), precs)
            .map_err(value_error)?
            .into_pyarray(py),
    )?;
    out.set_item("covariance_type", t.name())?;
    set_report(&out, report)?;
    Ok(out)
}

/// A fit's figures as the estimators take them: `converged`, `n_iter`, `lower_bounds` (the
/// mean log-likelihood of every iteration).
pub(crate) fn set_report(out: &Bound<'_, PyDict>, report: &FitReport) -> PyResult<()> {
    let bounds: Vec<f64> = report.iterations.iter().map(|r| r.log_likelihood).collect();
    out.set_item("converged", report.converged)?;
    out.set_item("n_iter", bounds.len())?;
    out.set_item("lower_bounds", bounds)
}

/// Ctrl-C during a fit with the GIL released: [`Interrupt::check`] after every EM iteration
/// (any Python signal handler's error stops EM), [`Interrupt::raise`] once EM has returned.
#[derive(Default)]
pub(crate) struct Interrupt(Mutex<Option<PyErr>>);

impl Interrupt {
    /// The EM driver's hook: Python's signal handlers run; an error they raise is kept and
    /// ends EM.
    pub(crate) fn check(&self) -> Result<(), TrainError> {
        Python::attach(|py| py.check_signals()).map_err(|e| {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            TrainError::Failed("interrupted".into())
        })
    }

    /// The kept error, raised (`Ok` when none came).
    pub(crate) fn raise(self) -> PyResult<()> {
        match self.0.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// EM for a Gaussian mixture of `covariance_type` on `x` (rows weighted by `sample_weight`
/// where given) (`[N, D]`): from `start` (weights, means, precision
/// factors) when given, else initialised by `init_params` from `seed`; `n_init` restarts keep
/// the best. The GIL is released while EM runs; Ctrl-C (any Python signal handler's error) stops
/// it after the iteration in progress and is raised.
#[pyfunction]
#[pyo3(signature = (x, n_components, *, covariance_type, tol, reg_covar, max_iter, n_init, init_params, seed, start=None, sample_weight=None, device="cpu"))]
#[allow(clippy::too_many_arguments)]
fn fit_full<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    n_components: usize,
    covariance_type: &str,
    tol: f64,
    reg_covar: f64,
    max_iter: usize,
    n_init: usize,
    init_params: &str,
    seed: u64,
    start: Option<(
        PyReadonlyArray1<'py, f64>,
        PyReadonlyArray2<'py, f64>,
        PyReadonlyArrayDyn<'py, f64>,
    )>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    device: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let d = x.shape()[1];
    let device = device_of(device)?;
    let config =
        FullGmmConfig { n_components, reg_covar, ..scoring_config(n_components, covariance_type)? };
    config.validate().map_err(value_error)?;
    let em =
        EmConfig { tol, n_init, init: init_of(init_params)?, ..EmConfig::iterations(max_iter) };
    em.validate().map_err(value_error)?;
    let (layer, begin) = match &start {
        Some((w, m, p)) => {
            if m.shape()[1] != d {
                return Err(value_error(format!("means has {} columns, X {d}", m.shape()[1])));
            }
            (layer_of(w, m, p, &config, &device)?, Start::Resume(FitReport::default()))
        }
        None => (config.init(d, &device).map_err(value_error)?, Start::Fresh { seed }),
    };
    let mut data = batches_of(&x, &device)?;
    if let Some(w) = &sample_weight {
        let w: Vec<f32> = w.as_array().iter().map(|&v| v as f32).collect();
        data = data.with_sample_weights(&w).map_err(value_error)?;
    }
    let interrupt = Interrupt::default();
    let result = py.detach(|| {
        let mut hook = |_: &FullGmm, _: &FitReport| interrupt.check();
        fit_with(layer, &data, &em, begin, &Progress::quiet(), &mut hook)
    });
    interrupt.raise()?;
    let (layer, report) = result.map_err(value_error)?;
    fitted(py, &layer, &report)
}

/// `log p(x_n)` `[N]` and the responsibilities `[N, K]` of rows `x` under a full GMM.
#[pyfunction]
#[pyo3(signature = (x, weights, means, precisions_cholesky, covariance_type="full", device="cpu"))]
fn score_full<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    weights: PyReadonlyArray1<'py, f64>,
    means: PyReadonlyArray2<'py, f64>,
    precisions_cholesky: PyReadonlyArrayDyn<'py, f64>,
    covariance_type: &str,
    device: &str,
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>)> {
    let d = x.shape()[1];
    let device = device_of(device)?;
    let config = scoring_config(weights.len(), covariance_type)?;
    let layer = layer_of(&weights, &means, &precisions_cholesky, &config, &device)?;
    if layer.dim() != d {
        return Err(value_error(format!("X has {d} features, the model {}", layer.dim())));
    }
    let k = layer.n_components();
    let data = batches_of(&x, &device)?;
    let scored = py.detach(|| layers::score_rows(&layer, &data));
    let (log_p, resp) = scored.map_err(value_error)?;
    let n = log_p.len();
    Ok((
        Array1::from_vec(log_p).into_pyarray(py),
        Array2::from_shape_vec((n, k), resp).map_err(value_error)?.into_pyarray(py),
    ))
}

/// `n` samples of a full GMM from `seed`, grouped by component as scikit-learn's `sample`
/// returns them: the rows `[n, D]` and each one's component.
#[pyfunction]
#[pyo3(signature = (weights, means, precisions_cholesky, n, seed, covariance_type="full"))]
fn sample_full<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, f64>,
    means: PyReadonlyArray2<'py, f64>,
    precisions_cholesky: PyReadonlyArrayDyn<'py, f64>,
    n: usize,
    seed: u64,
    covariance_type: &str,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<i64>>)> {
    let device = device_of("cpu")?;
    let config = scoring_config(weights.len(), covariance_type)?;
    let layer = layer_of(&weights, &means, &precisions_cholesky, &config, &device)?;
    let (x, d, y) = layers::grouped_sample(&layer, n, seed).map_err(value_error)?;
    Ok((
        Array2::from_shape_vec((n, d), x).map_err(value_error)?.into_pyarray(py),
        Array1::from_vec(y).into_pyarray(py),
    ))
}

/// The compiled device names (`cpu`, and `wgpu`/`vulkan` in a GPU build).
#[pyfunction]
fn devices() -> Vec<&'static str> {
    gmm_zoo::models::compiled_devices()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_full, m)?)?;
    m.add_function(wrap_pyfunction!(score_full, m)?)?;
    m.add_function(wrap_pyfunction!(sample_full, m)?)?;
    m.add_function(wrap_pyfunction!(layers::fit_layer, m)?)?;
    m.add_function(wrap_pyfunction!(layers::load_layers, m)?)?;
    m.add_class::<layers::Model>()?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    Ok(())
}
