//! The rows a `score` input gives the first layer, and where each came from: the run's own
//! splits, or images (whole, or tiled as the run's patches were).

use super::RowSource;
use gmm_datasets::{DataError, Grayscale, ImageSet, Images};
use gmm_training::config::{DataConfig, RunConfig, Split};
use gmm_training::data::load_split;
use gmm_training::{RunOptions, TrainError};
use std::path::Path;

/// The rows of a split of the run's own data.
pub(super) fn split_rows(
    split: Split,
    config: &RunConfig,
    opts: &RunOptions,
) -> Result<(Vec<f32>, Vec<RowSource>), TrainError> {
    let set = load_split(&config.data, &opts.data_root, split, config.seed)?;
    let name = split.to_string();
    let sources = (0..set.len()).map(|index| RowSource { source: name.clone(), index, at: None });
    Ok((set.pixels, sources.collect()))
}

/// Images as the model's rows: P×P tiles (centred, as the training patches were) for a
/// patch model, else whole images of the model's size.
pub(super) fn image_rows(
    path: &Path,
    data: &DataConfig,
    [h, w]: [usize; 2],
) -> Result<(Vec<f32>, Vec<RowSource>), TrainError> {
    let gray = match data {
        DataConfig::Bsds(_) => Grayscale::Rec709,
        DataConfig::Mnist(_) | DataConfig::Images(_) => Grayscale::Rec601,
        DataConfig::Bsds300(_) | DataConfig::Array(_) => {
            return Err(DataError::Request(format!(
                "this model takes {} rows, not images: score `train`, `test` or a .npy/.csv \
                 file of {} columns",
                data.name(),
                h * w
            ))
            .into());
        }
    };
    let (files, dir) = match path.is_dir() {
        true => (ImageSet::files_in(path)?, path.to_path_buf()),
        false => (vec![path.to_path_buf()], path.parent().unwrap_or(Path::new(".")).into()),
    };
    let set = ImageSet::from_files(files, dir, gray)?;
    let name = |i: usize| set.files[i].display().to_string();
    if data.zero_meaned() {
        let (tiles, origins): (Images, _) = set.tiles(h, true);
        if tiles.is_empty() {
            return Err(DataError::Request(format!(
                "no image under {} is {h}x{h} or larger",
                path.display()
            ))
            .into());
        }
        let mut counts = vec![0usize; set.images.len()];
        let sources = origins
            .into_iter()
            .map(|(i, top, left)| {
                counts[i] += 1;
                RowSource { source: name(i), index: counts[i] - 1, at: Some((top, left)) }
            })
            .collect();
        return Ok((tiles.pixels, sources));
    }
    let images = set.whole_images()?;
    if (images.height, images.width) != (h, w) {
        return Err(DataError::Request(format!(
            "{} is {}x{}; the model takes {h}x{w} images",
            name(0),
            images.height,
            images.width
        ))
        .into());
    }
    let sources =
        (0..set.images.len()).map(|i| RowSource { source: name(i), index: 0, at: None }).collect();
    Ok((images.pixels, sources))
}
