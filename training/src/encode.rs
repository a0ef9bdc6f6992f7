//! Rows and images encoded for a layer (its `Mixture::encode`: periodograms, Helmert
//! coordinates, the rows themselves) and uploaded in batches: the E-step's input.

use crate::TrainError;
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

/// Encodes images for `layer` and uploads them in batches.
pub fn encode<M: Mixture>(
    layer: &M,
    images: &Images,
    batch_size: usize,
    device: &Device,
) -> Result<Encoded, TrainError> {
    encode_rows(layer, &images.pixels, batch_size, device)
}
