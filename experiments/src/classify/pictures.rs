//! A classification run's pictures: the confusion matrix and the worst misclassified digits.

use super::labelled::Labelled;
use gmm_training::pictures::{TileScale, component_grid};
use image::{Rgb, RgbImage};

/// The confusion matrix as a picture: row = true class, column = predicted, each cell's
/// brightness its share of the row (log scale, so that rare confusions show), the diagonal
/// in green.
pub(super) fn confusion_picture(confusion: &[Vec<usize>]) -> RgbImage {
    let (cell, k) = (28u32, confusion.len() as u32);
    let mut img = RgbImage::from_pixel(k * cell, k * cell, Rgb([0, 0, 0]));
    for (r, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (c, &v) in row.iter().enumerate() {
            let share = v as f64 / total;
            let level = if v == 0 { 0.0 } else { 1.0 + (share.max(1e-4)).log10() / 4.0 };
            let g = (level.clamp(0.0, 1.0) * 255.0) as u8;
            let colour = if r == c { Rgb([0, g, 0]) } else { Rgb([g, g, g]) };
            for y in 1..cell - 1 {
                for x in 1..cell - 1 {
                    img.put_pixel(c as u32 * cell + x, r as u32 * cell + y, colour);
                }
            }
        }
    }
    img
}

/// The `count` test digits misclassified with the largest margin
/// `log p(x|pred) + log p(pred) − log p(x|true) − log p(true)`, worst first, ten per row.
pub(super) fn misclassified_picture(
    test: &Labelled,
    log_lik: &[f64],
    log_prior: &[f64],
    predicted: &[usize],
    count: usize,
) -> RgbImage {
    let (labels, c) = (&test.labels, log_prior.len());
    let mut wrong: Vec<(f64, usize)> = (0..test.len())
        .filter(|&i| predicted[i] != labels[i] as usize)
        .map(|i| {
            let (p, t) = (predicted[i], labels[i] as usize);
            (log_lik[i * c + p] + log_prior[p] - log_lik[i * c + t] - log_prior[t], i)
        })
        .collect();
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0));
    let idx: Vec<usize> = wrong.iter().take(count).map(|w| w.1).collect();
    let rows: Vec<Vec<usize>> = idx.chunks(10).map(<[usize]>::to_vec).collect();
    component_grid(&test.images, &rows, 10, None, TileScale::Fixed(0.0, 1.0))
}
