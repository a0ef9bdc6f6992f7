//! A trained layer as a patch prior: where its rows sit in a patch (from its data config), its
//! density as Gaussians, and for a large deep GMM the search that finds each patch's path.

use super::{PatchPrior, PathSearch};
use gmm_datasets::symmetry::{Augment, square_rows};
use gmm_models::Mixture;
use gmm_training::config::DataConfig;
use gmm_training::{Family, GaussianMixture, Layer, with_layer};

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
    /// With a `symmetry` group, the prior is the layer's density averaged over the group's
    /// maps of its rows ([`symmetric`]).
    pub fn of_layer(
        layer: &Layer,
        data: &DataConfig,
        dims: usize,
        symmetry: Augment,
    ) -> Result<Self, String> {
        let (side, scale, dropped) = geometry(data, dims)?;
        let density = with_layer!(layer, m => m.density_gaussians()).map_err(|e| e.to_string())?;
        let mixture = density.ok_or_else(|| {
            format!(
                "a `{}` layer's density is not a mixture of Gaussians here: restore takes full, \
                 deep and conv GMMs",
                layer.kind()
            )
        })?;
        let searched = matches!(layer, Layer::Deep(n) if n.n_components() > SCORED_PATHS);
        if searched && !symmetry.is_none() {
            return Err(format!(
                "has more than {SCORED_PATHS} paths, found by a search that does not run over \
                 symmetries: --symmetry takes a full or conv GMM, or a deep GMM of at most \
                 {SCORED_PATHS} paths"
            ));
        }
        let mixture = match symmetry.is_none() {
            true => mixture,
            false => symmetric(&mixture, dims, symmetry).map_err(|e| e.to_string())?,
        };
        let mut prior = Self::from_mixture(&mixture, side, scale, dropped);
        if let Layer::Deep(network) = layer
            && searched
        {
            let search = PathSearch::new(network, &mixture.weights, (side, scale, dropped));
            prior.search = Some(search?);
        }
        Ok(prior)
    }
}

/// The mixture `q(y) = (1/|G|) Σ_g p(g·y)` of a mixture `p` over rows of `dims` values (square
/// patches, [`gmm_datasets::symmetry`]): each component `N(μ, Σ)` once for every element, as
/// `N(A μ, A Σ Aᵀ)` with weight `π/|G|`, `A` the element's matrix on the rows (its entries 0
/// and ±1). The group holds every element's inverse, so these are the components of `q`.
pub fn symmetric(
    g: &GaussianMixture,
    dims: usize,
    group: Augment,
) -> Result<GaussianMixture, gmm_datasets::DataError> {
    let square = square_rows(dims, group)?;
    let d = dims;
    let (means, covariances, weights) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = GaussianMixture { means, covariances, weights, reg_covar: g.reg_covar };
    for t in 0..group.order() {
        // Row j of `images` is A e_j, column j of A.
        let basis: Vec<f32> = (0..d * d).map(|x| f32::from(x / d == x % d)).collect();
        let images = square.map(&basis, t);
        let a = |i: usize, j: usize| f64::from(images[j * d + i]);
        for (k, (mu, cov)) in g.means.iter().zip(&g.covariances).enumerate() {
            out.means.push((0..d).map(|i| (0..d).map(|j| a(i, j) * mu[j]).sum()).collect());
            // (A Σ Aᵀ)_il = Σ_jm A_ij Σ_jm A_lm.
            let a_cov: Vec<f64> = (0..d * d)
                .map(|x| (0..d).map(|j| a(x / d, j) * cov[j * d + x % d]).sum())
                .collect();
            let moved = (0..d * d)
                .map(|x| (0..d).map(|m| a_cov[(x / d) * d + m] * a(x % d, m)).sum())
                .collect();
            out.covariances.push(moved);
            out.weights.push(g.weights[k] / group.order() as f64);
        }
    }
    Ok(out)
}
