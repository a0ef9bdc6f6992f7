//! `gmmzoo._core`: the library on numpy arrays. Every fit goes one way: a run config's text
//! (`[model]`, `[em]`, checked as a config file is) and rows into [`layers::fit_layer`], which
//! returns a [`layers::Model`] (the library's `Layer`, of any family); scoring, sampling and
//! parameters come from a `Model`. This file builds a Gaussian layer's `Model` from
//! scikit-learn's arrays ([`full_model`]) and hands one back as them ([`fitted`]); the estimator
//! API (scikit-learn's names, checks and attributes) is the Python package's (`gmmzoo/`). The
//! GIL is released while the library computes, and its errors are `ValueError`s with its
//! one-sentence messages.
//!
//! Parameters cross as scikit-learn holds them: `weights` `[K]`, `means` `[K, D]`,
//! `precisions_cholesky` `[K, D, D]`, `[D, D]`, `[K, D]` or `[K]` for the covariance types
//! full, tied, diag and spherical (upper triangular `U_c` with `Σ_c⁻¹ = U_c U_cᵀ`, the library's
//! own factor; [`CovarianceType::sklearn_factors`]). Rows are float64 in, float32 on the device
//! (the library's precision).

use gmm_zoo::models::{CovarianceType, FullGmm, FullGmmConfig, Mixture};
use gmm_zoo::training::{EmConfig, FitReport, Kind, LayerConfig, TrainError};
use numpy::ndarray::{Array2, ArrayD, IxDyn};
use numpy::{
    IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

mod layers;
mod load;
mod restore;
mod rows;
mod start;

pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Rows per batch on the device where no config names one: the library's default `batch_size`.
pub(crate) fn default_batch() -> usize {
    EmConfig::iterations(1).batch_size
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

/// A Gaussian layer from its parameters as scikit-learn holds them, under the library's
/// default config of its size and `covariance_type` (`reg_covar` where given); shapes that
/// disagree are a `ValueError` naming the array.
#[pyfunction]
#[pyo3(signature = (weights, means, precisions_cholesky, covariance_type="full", reg_covar=None))]
fn full_model(
    weights: PyReadonlyArray1<'_, f64>,
    means: PyReadonlyArray2<'_, f64>,
    precisions_cholesky: PyReadonlyArrayDyn<'_, f64>,
    covariance_type: &str,
    reg_covar: Option<f64>,
) -> PyResult<layers::Model> {
    let k = weights.len();
    let (m, p) = (means.shape(), precisions_cholesky.shape());
    if m[0] != k {
        return Err(value_error(format!("means has {} rows for {k} weights", m[0])));
    }
    let Some(LayerConfig::Full(defaults)) = LayerConfig::with_size(<FullGmm as Kind>::KIND, k)
    else {
        return Err(value_error("the library has no Gaussian layer"));
    };
    let t = covariance_type_of(covariance_type)?;
    let config = FullGmmConfig {
        covariance_type: t,
        reg_covar: reg_covar.unwrap_or(defaults.reg_covar),
        ..defaults
    };
    config.validate().map_err(value_error)?;
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
    let device = device_of("cpu")?;
    let layer = FullGmm::from_parts(
        &flat(means.as_array().into_dyn()),
        &stored,
        &flat(weights.as_array().into_dyn()),
        &config,
        &device,
    );
    Ok(layers::Model::new(layer.into(), [1, m[1]]))
}

/// A Gaussian layer's parameters as scikit-learn's `GaussianMixture` holds them (and its
/// `reg_covar`, `covariance_type`), with a fit's figures.
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
    out.set_item("reg_covar", layer.config.reg_covar)?;
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

pub(crate) fn device_of(name: &str) -> PyResult<gmm_zoo::models::Device> {
    gmm_zoo::models::device_from_name(name).map_err(value_error)
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

/// The compiled device names (`cpu`, and `wgpu`/`vulkan` in a GPU build).
#[pyfunction]
fn devices() -> Vec<&'static str> {
    gmm_zoo::models::compiled_devices()
}

/// The layer families' names, as configs spell them in `kind` (the library's registry).
#[pyfunction]
fn kinds() -> Vec<&'static str> {
    gmm_zoo::training::KINDS.to_vec()
}

/// The sample data this build ships (MNIST digits and BSDS images; `mnist/`, `bsds300/`): the
/// source tree's `data/sample` in a clone, else the copy the module carries, unpacked once.
#[pyfunction]
fn sample_data_dir() -> String {
    gmm_zoo::datasets::sample_data_root().display().to_string()
}

/// The rows `x` (`[N, D]`, square patches: `D = s²`, or `s² − 1` for a zero-mean patch without
/// its last pixel) mapped by every element of the symmetry group `group` (`"mirror"`: 2
/// elements, `"dihedral"`: the square's 8), the identity first ([`gmm_zoo::datasets::symmetry`]).
#[pyfunction]
fn square_symmetries<'py>(
    py: Python<'py>,
    x: numpy::PyReadonlyArray2<'py, f32>,
    group: &str,
) -> PyResult<Vec<Bound<'py, numpy::PyArray2<f32>>>> {
    use gmm_zoo::datasets::bsds300::Augment;
    use numpy::IntoPyArray;
    let group = match group {
        "mirror" => Augment::Mirror,
        "dihedral" => Augment::Dihedral,
        other => {
            return Err(value_error(format!(
                "symmetry must be \"mirror\" or \"dihedral\", got {other:?}"
            )));
        }
    };
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let square = gmm_zoo::datasets::symmetry::square_rows(d, group).map_err(value_error)?;
    let rows = x.as_slice().map_or_else(|_| x.as_array().iter().copied().collect(), <[f32]>::to_vec);
    (0..group.order())
        .map(|g| {
            let mapped = square.map(&rows, g);
            numpy::ndarray::Array2::from_shape_vec((n, d), mapped)
                .map(|a| a.into_pyarray(py))
                .map_err(value_error)
        })
        .collect()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(full_model, m)?)?;
    m.add_function(wrap_pyfunction!(layers::fit_layer, m)?)?;
    m.add_function(wrap_pyfunction!(start::initialised, m)?)?;
    m.add_function(wrap_pyfunction!(load::model_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(load::load_layers, m)?)?;
    m.add_function(wrap_pyfunction!(load::load_data, m)?)?;
    m.add_class::<layers::Model>()?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add_function(wrap_pyfunction!(kinds, m)?)?;
    m.add_function(wrap_pyfunction!(restore::restore_image, m)?)?;
    m.add_function(wrap_pyfunction!(sample_data_dir, m)?)?;
    m.add_function(wrap_pyfunction!(square_symmetries, m)?)?;
    Ok(())
}
