//! Tensors read back to the host, rows selected and checked: every device read-back goes
//! through here and fails as a [`ModelError::Readback`], never a panic.

use crate::ModelError;
use burn::tensor::{Tensor, TensorData};

/// The rows `keep` of a tensor's first dimension.
pub fn select_rows<const D: usize>(t: Tensor<D>, keep: &[usize]) -> Tensor<D> {
    let idx: Vec<i64> = keep.iter().map(|&i| i as i64).collect();
    let idx =
        Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [keep.len()]), &t.device());
    t.select(0, idx)
}

/// Checks that `samples` are whole rows of `d` values, all finite; the error names the first
/// bad `what` (e.g. "pixel value") and its sample.
pub(crate) fn check_rows(samples: &[f32], d: usize, what: &str) -> Result<(), ModelError> {
    if !samples.len().is_multiple_of(d) {
        return Err(ModelError::InputShape { expected: d, got: samples.len() });
    }
    match samples.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ModelError::NonFinite {
            what: format!("{what} {} in sample {}", samples[i], i / d),
            hint: "clean the input data (a missing value, NaN, is taken by full layers only)"
                .into(),
        }),
        None => Ok(()),
    }
}

/// Reads a float tensor back to the host as f64.
pub fn to_host_f64<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>, ModelError> {
    let v = host_vec::<f32, _>(t.try_into_data())?;
    Ok(v.into_iter().map(f64::from).collect())
}

/// Each row's index of its largest entry, `[N, K]` → N indices (the MAP component of weighted
/// log-probabilities), computed on the device.
pub fn row_argmax(t: Tensor<2>) -> Result<Vec<usize>, ModelError> {
    let v = host_vec::<i64, _>(t.argmax(1).try_into_data())?;
    Ok(v.into_iter().map(|i| i as usize).collect())
}

/// The values of a device read-back (`tensor.try_into_data()`, float or int) as `T`; a failed
/// read-back is a [`ModelError::Readback`].
pub(crate) fn host_vec<T: burn::tensor::Element, E: std::fmt::Debug>(
    data: Result<TensorData, E>,
) -> Result<Vec<T>, ModelError> {
    let data = data.map_err(readback_error)?;
    data.convert::<T>().try_into_vec::<T>().map_err(readback_error)
}

/// A failed device read-back (or its conversion) as a [`ModelError::Readback`].
pub(crate) fn readback_error(e: impl std::fmt::Debug) -> ModelError {
    ModelError::Readback(format!("{e:?}"))
}

/// `f` of a tensor's f32 values on the host (row-major): burn-flex's own buffer read in place
/// where `x` is a contiguous flex tensor (no copy: a batch of MNIST rows is 51 MB, and a fresh
/// buffer that size costs the kernel's zeroing of every page), else a copy read back.
pub(crate) fn with_host_values<const D: usize, R>(
    x: &Tensor<D>,
    f: impl FnOnce(&[f32]) -> R,
) -> Result<R, ModelError> {
    #[cfg(feature = "flex")]
    if let Ok(flex) = x.clone().try_into_primitive::<burn::backend::Flex>()
        && let Some(values) = flex.as_slice::<f32>()
    {
        return Ok(f(values));
    }
    let values: Vec<f32> = host_vec(x.clone().try_into_data())?;
    Ok(f(&values))
}
