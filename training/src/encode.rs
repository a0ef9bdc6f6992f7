//! Rows and images encoded for a layer (its `Mixture::encode`: periodograms, Helmert
//! coordinates, the rows themselves) and uploaded in batches: the E-step's input.

use crate::TrainError;
use burn::tensor::{Tensor, TensorData};
use gmm_datasets::Images;
use gmm_models::{Device, Encoded, Mixture};

/// Encodes rows (`[N, D]` host values) for `layer` and uploads them in batches.
pub fn encode_rows<M: Mixture>(
    layer: &M,
    rows: &[f32],
    batch_size: usize,
    device: &Device,
) -> Result<Encoded, TrainError> {
    let encoded = layer.encode_checked(rows)?;
    let rows = encoded.as_deref().unwrap_or(rows);
    Ok(Encoded::from_rows(rows, layer.encoded_width(), batch_size, device))
}

/// [`encode_rows`] for rows already cut into batches (`[B, D]` each, all but the last of one
/// size): a batch the layer takes as it is becomes the batch's tensor without a copy. The
/// same batches and figures as [`encode_rows`] with that batch size; a check that fails
/// names the row among all the rows.
pub fn encode_row_batches<M: Mixture>(
    layer: &M,
    batches: Vec<Vec<f32>>,
    device: &Device,
) -> Result<Encoded, TrainError> {
    let checked: Result<Vec<_>, _> = batches.iter().map(|b| layer.encode_checked(b)).collect();
    let encoded = match checked {
        Ok(encoded) => encoded,
        // Checked again as one, for the row's number among all the rows.
        Err(e) => return Err(layer.encode_checked(&batches.concat()).err().unwrap_or(e).into()),
    };
    let width = layer.encoded_width();
    let tensors: Vec<Tensor<2>> = (batches.into_iter().zip(encoded))
        .map(|(raw, encoded)| {
            let rows = encoded.unwrap_or(raw);
            let shape = [rows.len() / width, width];
            Tensor::from_data(TensorData::new(rows, shape), device)
        })
        .collect();
    let n = tensors.iter().map(|t| t.dims()[0]).sum();
    Ok(Encoded::from_batches(tensors, n, width, device))
}

/// Encodes images for `layer` and uploads them in batches.
pub fn encode<M: Mixture>(
    layer: &M,
    images: &Images,
    batch_size: usize,
    device: &Device,
) -> Result<Encoded, TrainError> {
    encode_rows(layer, &images.pixels, batch_size, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gmm_models::{CovarianceType, FullGmm, FullGmmConfig, device_from_name, to_host_f64};

    /// Rows handed over in batches become the same batches as the rows cut by
    /// [`encode_rows`]; a row that observes nothing is named by its number among all rows.
    #[test]
    fn row_batches_equal_encoded_rows() {
        let device = device_from_name("cpu").unwrap();
        let config = FullGmmConfig {
            n_components: 1,
            zero_mean: false,
            reg_covar: 1e-6,
            empty_components: Default::default(),
            covariance_type: CovarianceType::Diag,
        };
        let layer = FullGmm::from_parts(&[0.0; 3], &[1.0; 3], &[1.0], &config, &device);
        let mut rows: Vec<f32> = (0..30).map(|i| i as f32 * 0.5).collect();
        let batches: Vec<Vec<f32>> = rows.chunks(4 * 3).map(|c| c.to_vec()).collect();
        let cut = encode_rows(&layer, &rows, 4, &device).unwrap();
        let handed = encode_row_batches(&layer, batches, &device).unwrap();
        assert_eq!((handed.n, handed.n_batches()), (10, 3));
        for b in 0..3 {
            let host = |e: &Encoded| to_host_f64(e.batch(b).unwrap()).unwrap();
            assert_eq!(host(&handed), host(&cut));
        }
        rows[6 * 3..7 * 3].fill(f32::NAN);
        let batches: Vec<Vec<f32>> = rows.chunks(4 * 3).map(|c| c.to_vec()).collect();
        let error = encode_row_batches(&layer, batches, &device).err().unwrap().to_string();
        assert!(error.contains("sample 6"), "{error}");
    }
}
