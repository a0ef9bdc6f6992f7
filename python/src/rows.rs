//! Rows from Python: float64 NumPy arrays as the float32 rows the library takes, checked.

use crate::value_error;
use gmm_zoo::models::pages::huge_page_zeros;
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use rayon::prelude::*;

/// Rows `x` (float64 `[N, D]`) as float32, after checking D against the layer's input; NaN
/// (a missing value, for the layer to take or refuse) stays NaN, an infinite value or one
/// beyond float32 is a `ValueError` naming its row.
pub(crate) fn rows_for(x: &PyReadonlyArray2<'_, f64>, shape: [usize; 2]) -> PyResult<Vec<f32>> {
    // One batch of every row: the buffer itself, no copy.
    Ok(rows_in_batches(x, shape, usize::MAX)?.into_iter().next().unwrap_or_default())
}

/// [`rows_for`] cut into batches of `batch_rows` rows as they are converted: each batch is the
/// buffer the library keeps (`Encoded` takes them as they are), so a fit holds one float32
/// copy of `x`, not two.
pub(crate) fn rows_in_batches(
    x: &PyReadonlyArray2<'_, f64>,
    shape: [usize; 2],
    batch_rows: usize,
) -> PyResult<Vec<Vec<f32>>> {
    let d = x.shape()[1];
    if d != shape[0] * shape[1] {
        return Err(value_error(format!(
            "X has {d} features, the model takes rows of {} ({}x{})",
            shape[0] * shape[1],
            shape[0],
            shape[1]
        )));
    }
    let array = x.as_array();
    let convert = |values: &[f64], rows: &mut [f32]| {
        rows.iter_mut().zip(values).fold(false, |inf, (r, &v)| {
            *r = v as f32;
            inf | r.is_infinite()
        })
    };
    let copied: Vec<f64>;
    let values = match array.as_slice() {
        Some(values) => values, // NumPy's C order is the rows' order
        None => {
            copied = array.iter().copied().collect();
            &copied
        }
    };
    // Converted by every thread, a block of values each.
    let (mut batches, mut infinite) = (Vec::new(), false);
    for values in values.chunks(batch_rows.saturating_mul(d).max(1)) {
        let mut rows = huge_page_zeros(values.len());
        infinite |= rows
            .par_chunks_mut(1 << 16)
            .zip(values.par_chunks(1 << 16))
            .map(|(r, v)| convert(v, r))
            .reduce(|| false, |a, b| a | b);
        batches.push(rows);
    }
    if infinite {
        let at = batches.iter().flatten().position(|r| r.is_infinite()).unwrap_or(0);
        let v = values.get(at).copied().unwrap_or(f64::INFINITY);
        return Err(value_error(format!(
            "X holds {v} in row {}, which is not a finite float32 value (NaN marks a missing \
             value)",
            at / d
        )));
    }
    Ok(batches)
}

