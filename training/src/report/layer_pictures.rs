//! A layer's pictures in its run folder: `components.png`, the family's own sheet,
//! `curve.svg`, `overlap.png` and, for a conv first layer, `filters.png`.

use crate::em::FitReport;
use crate::fsio::write_png;
use crate::report::pictures::{TileScale, component_grid, curve_svg, matrix_picture, tile_sheet};
use crate::report::views::{Inspect, OverlapSummary, per_dimension_overlap};
use crate::{TrainError, fsio};
use gmm_datasets::Images;
use std::path::Path;

/// Where a layer's pictures go and what they say: the layer's folder, the top samples shown
/// per component, whether the layer sits on the images (a first layer), the curve's title.
pub(crate) struct PictureTarget<'a> {
    pub dir: &'a Path,
    pub columns: usize,
    pub on_images: bool,
    pub title: String,
}

/// `components.png` (top samples and, for a first layer, the family's extra column), the
/// family's own pictures (`means.png`), and `curve.svg`, in the layer's folder.
pub(crate) fn write_pictures<M: Inspect>(
    layer: &M,
    target: &PictureTarget<'_>,
    images: &Images,
    top: &[Vec<usize>],
    scale: TileScale,
    report: &FitReport,
) -> Result<(), TrainError> {
    let (columns, on_images, dir) = (target.columns, target.on_images, target.dir);
    let extra = if on_images { layer.extra_column(scale)? } else { None };
    let extra = extra.as_ref().map(|(tiles, s)| (tiles.as_slice(), *s));
    write_png(&component_grid(images, top, columns, extra, scale), &dir.join("components.png"))?;
    if let (true, Some((name, tiles))) = (on_images, layer.own_pictures()?) {
        write_png(&tile_sheet(&tiles, images.height, images.width, 8, scale), &dir.join(name))?;
    }
    if !report.iterations.is_empty() {
        // Every iteration's validation figure, where all of them have one.
        let valid: Option<Vec<f64>> =
            report.iterations.iter().map(|r| r.valid_log_likelihood).collect();
        let curve = curve_svg(&report.lower_bounds(), valid.as_deref(), &target.title);
        fsio::write_atomic(&dir.join("curve.svg"), curve.as_bytes())?;
    }
    Ok(())
}

/// `overlap.png` (the per-dimension Bhattacharyya coefficient `exp(−D_B/D)` of every pair of
/// components, when the family computes them cheaply) and, for a conv layer on images,
/// `filters.png` (per component: power spectrum of the filter, zero-phase filter,
/// minimum-phase filter). Returns the summary.
pub fn write_overlap<M: Inspect>(
    layer: &M,
    dir: &Path,
    on_images: bool,
    dims: usize,
) -> Result<Option<OverlapSummary>, TrainError> {
    if let (true, Some(tiles)) = (on_images, layer.filter_tiles()?) {
        let p = (tiles[0].len() as f64).sqrt().round() as usize;
        write_png(&tile_sheet(&tiles, p, p, 3, TileScale::PerTile), &dir.join("filters.png"))?;
    }
    let Some(distances) = layer.overlap()? else { return Ok(None) };
    let k = layer.n_components();
    let cell = (512 / k.max(1)).clamp(2, 24) as u32;
    let picture = per_dimension_overlap(&distances, dims);
    write_png(&matrix_picture(&picture, k, cell), &dir.join("overlap.png"))?;
    Ok(OverlapSummary::new(&distances, &layer.weights()?, dims))
}
