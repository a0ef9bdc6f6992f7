//! A trained layer as a patch prior: where its rows sit in a patch (from its data config), its
//! density as Gaussians, and for a large deep GMM the search that finds each patch's path.

use super::{PatchPrior, PathSearch};
use gmm_models::Mixture;
use gmm_training::config::DataConfig;
use gmm_training::{Family, Layer, with_layer};

/// Paths a deep GMM may have for every one to be scored in the patch step; a larger network
/// finds each patch's path by a beam search ([`PathSearch`]).
pub const SCORED_PATHS: usize = 1024;

/// How a model's rows sit in a patch: side P, the model's units per gray level, and whether
/// the last pixel was dropped (the BSDS300 benchmark's rows).
fn geometry(data: &DataConfig, dims: usize) -> Result<(usize, f64, bool), String> {
    let patch = |p: usize| (p * p == dims).then_some((p, 1.0 / 255.0, false));
    let found = match data {
        DataConfig::Bsds300(_) => (dims == 63).then_some((8, 1.0 / 256.0, true)),
        DataConfig::Bsds(b) => patch(b.patch_size),
        DataConfig::Images(i) => i.patch_size.and_then(patch),
        _ => None,
    };
    found.ok_or_else(|| {
        "is not a prior of image patches: restore takes a layer trained on the bsds300 \
         benchmark's rows or on zero-mean image patches (dataset bsds, or images with \
         patch_size)"
            .into()
    })
}

impl PatchPrior {
    /// The prior of a trained layer of `data`'s rows: any layer whose density is a mixture of
    /// Gaussians (a full GMM of any covariance type, a deep GMM's paths, a conv GMM's circulant
    /// components); the error says why another is not one (a sentence whose subject is the
    /// layer's run).
    pub fn of_layer(layer: &Layer, data: &DataConfig, dims: usize) -> Result<Self, String> {
        let (side, scale, dropped) = geometry(data, dims)?;
        let density = with_layer!(layer, m => m.density_gaussians()).map_err(|e| e.to_string())?;
        let mixture = density.ok_or_else(|| {
            format!(
                "a `{}` layer's density is not a mixture of Gaussians here: restore takes full, \
                 deep and conv GMMs",
                layer.kind()
            )
        })?;
        let mut prior = Self::from_mixture(&mixture, side, scale, dropped);
        if let Layer::Deep(network) = layer
            && network.n_components() > SCORED_PATHS
        {
            let search = PathSearch::new(network, &mixture.weights, (side, scale, dropped));
            prior.search = Some(search?);
        }
        Ok(prior)
    }
}
