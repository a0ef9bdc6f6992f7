//! The pictures of the write-up (models.md §5): component grids with the filter's power
//! spectrum, and the training curve.

use gmm_datasets::Images;
use image::{Rgb, RgbImage};

const GAP: u32 = 2;
const BACKGROUND: Rgb<u8> = Rgb([40, 40, 48]);
const SEPARATOR: Rgb<u8> = Rgb([200, 60, 60]);
const EMPTY_MARK: Rgb<u8> = Rgb([150, 50, 50]);

/// How sample tiles map pixel values to gray levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TileScale {
    /// Each tile stretched to its own min..max (zero-meaned patches).
    PerTile,
    /// A fixed range, e.g. `[0, 1]` for MNIST.
    Fixed(f32, f32),
}

/// The component grid: one row per component, its top samples (best first), then — when
/// given — one extra tile per component (the filter's power spectrum of a convolutional
/// component, the mean of a full one), after a red separator. Rows without samples stay
/// visible, empty, marked with a red cross in their first cell.
pub fn component_grid(
    images: &Images,
    top: &[Vec<usize>],
    columns: usize,
    extra: Option<(&[Vec<f32>], TileScale)>,
    scale: TileScale,
) -> RgbImage {
    let (h, w) = (images.height as u32, images.width as u32);
    let zoom = (48 / h.max(w)).max(1);
    let (th, tw) = (h * zoom, w * zoom);
    let n_extra = u32::from(extra.is_some());
    let width = (columns as u32 + n_extra) * (tw + GAP) + GAP + n_extra * 2 * GAP;
    let height = top.len() as u32 * (th + GAP) + GAP;
    let mut canvas = RgbImage::from_pixel(width, height, BACKGROUND);
    for (row, samples) in top.iter().enumerate() {
        let y0 = GAP + row as u32 * (th + GAP);
        if samples.is_empty() {
            // A component that explains no sample: its row stays, marked with a cross.
            for t in 0..tw.min(th) {
                canvas.put_pixel(GAP + t, y0 + t, EMPTY_MARK);
                canvas.put_pixel(GAP + tw.min(th) - 1 - t, y0 + t, EMPTY_MARK);
            }
        }
        for (col, &idx) in samples.iter().take(columns).enumerate() {
            let x0 = GAP + col as u32 * (tw + GAP);
            draw_tile(&mut canvas, x0, y0, w, h, zoom, images.image(idx), scale);
        }
        if let Some((tiles, extra_scale)) = extra {
            let x0 = GAP + columns as u32 * (tw + GAP) + 2 * GAP;
            for y in y0..y0 + th {
                canvas.put_pixel(x0 - 2 * GAP, y, SEPARATOR);
            }
            draw_tile(&mut canvas, x0, y0, w, h, zoom, &tiles[row], extra_scale);
        }
    }
    canvas
}

/// Tiles of the input's shape in rows of `per_row` (e.g. the means of a full GMM).
pub fn tile_sheet(
    tiles: &[Vec<f32>],
    height: usize,
    width: usize,
    per_row: usize,
    scale: TileScale,
) -> RgbImage {
    let pixels = tiles.concat();
    let images = Images { pixels, height, width, labels: None, weights: None };
    let rows: Vec<Vec<usize>> = (0..tiles.len())
        .collect::<Vec<_>>()
        .chunks(per_row.max(1))
        .map(<[usize]>::to_vec)
        .collect();
    component_grid(&images, &rows, per_row, None, scale)
}

/// The picture of a filter's power spectrum: `log` of the P×P grid `[k1][k2]`, rolled so that
/// DC sits at the centre `(P/2, P/2)`. Non-positive entries (an excluded DC bin) take the
/// smallest value, so they show dark.
pub fn filter_spectrum_tile(grid: &[f64], p: usize) -> Vec<f32> {
    fftshift_log(grid, p)
}

/// A P×P spatial filter (origin at `[0]`) rolled so that its origin sits at the centre
/// `(P/2, P/2)`, for a picture.
pub fn centred_filter_tile(filter: &[f64], p: usize) -> Vec<f32> {
    let mut out = vec![0f32; p * p];
    for n1 in 0..p {
        for n2 in 0..p {
            out[((n1 + p / 2) % p) * p + (n2 + p / 2) % p] = filter[n1 * p + n2] as f32;
        }
    }
    out
}

/// A symmetric `K×K` matrix of values in `[0, 1]` (an overlap matrix) as a heat map, `cell`
/// pixels per entry: black 0, through red, to yellow-white 1.
pub fn matrix_picture(m: &[f64], k: usize, cell: u32) -> RgbImage {
    let side = (k as u32 * cell).max(1);
    let mut img = RgbImage::new(side, side);
    for i in 0..k {
        for j in 0..k {
            let t = m[i * k + j].clamp(0.0, 1.0);
            let colour = Rgb([
                (255.0 * (3.0 * t).min(1.0)) as u8,
                (255.0 * (3.0 * t - 1.0).clamp(0.0, 1.0)) as u8,
                (255.0 * (3.0 * t - 2.0).clamp(0.0, 1.0)) as u8,
            ]);
            for dy in 0..cell {
                for dx in 0..cell {
                    img.put_pixel(j as u32 * cell + dx, i as u32 * cell + dy, colour);
                }
            }
        }
    }
    img
}

/// `log(v)` of a P×P spectrum, rolled so that DC sits at the centre `(P/2, P/2)`.
/// Non-positive entries (an excluded DC bin) take the smallest finite value.
fn fftshift_log(grid: &[f64], p: usize) -> Vec<f32> {
    let logs: Vec<f64> = grid.iter().map(|&v| if v > 0.0 { v.ln() } else { f64::NAN }).collect();
    let floor = logs.iter().copied().filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
    let mut out = vec![0f32; p * p];
    for k1 in 0..p {
        for k2 in 0..p {
            let v = logs[k1 * p + k2];
            let (r, c) = ((k1 + p / 2) % p, (k2 + p / 2) % p);
            out[r * p + c] = if v.is_finite() { v as f32 } else { floor as f32 };
        }
    }
    out
}

fn min_max(values: impl Iterator<Item = f32>) -> (f32, f32) {
    values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

fn gray(v: f32, lo: f32, hi: f32) -> u8 {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    (t.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[allow(clippy::too_many_arguments)]
fn draw_tile(
    canvas: &mut RgbImage,
    x0: u32,
    y0: u32,
    w: u32,
    h: u32,
    zoom: u32,
    tile: &[f32],
    scale: TileScale,
) {
    let (lo, hi) = match scale {
        TileScale::Fixed(lo, hi) => (lo, hi),
        TileScale::PerTile => min_max(tile.iter().copied()),
    };
    for r in 0..h {
        for c in 0..w {
            let g = gray(tile[(r * w + c) as usize], lo, hi);
            for dy in 0..zoom {
                for dx in 0..zoom {
                    canvas.put_pixel(x0 + c * zoom + dx, y0 + r * zoom + dy, Rgb([g, g, g]));
                }
            }
        }
    }
}

/// The training curve as an SVG line chart: mean log-likelihood per sample against EM
/// iteration, with labelled axes; with `valid` (one per iteration), the validation rows' curve
/// beside it.
pub fn curve_svg(values: &[f64], valid: Option<&[f64]>, title: &str) -> String {
    let ticks: Vec<String> = (1..=values.len()).map(|i| i.to_string()).collect();
    let plot = Plot { title, x_label: "EM iteration", y_label: "log-likelihood (nats/sample)" };
    match valid {
        Some(v) => line_svg(&plot, &ticks, &[("train", values), ("validation", v)], 0.0),
        None => line_svg(&plot, &ticks, &[("", values)], 0.0),
    }
}

/// What a line plot says around its lines.
pub struct Plot<'a> {
    /// Above the plot.
    pub title: &'a str,
    /// Under the x axis.
    pub x_label: &'a str,
    /// Beside the y axis.
    pub y_label: &'a str,
}

const COLOURS: [&str; 4] = ["#1f5fbf", "#bf4f1f", "#2f8f2f", "#7f3fbf"];

/// An SVG line plot (640×400, placed `y_offset` down inside a taller picture when stacked):
/// the series `(name, values)` share the y axis, point `i` of each sits above `x_ticks[i]`.
pub fn line_svg(
    plot: &Plot<'_>,
    x_ticks: &[String],
    series: &[(&str, &[f64])],
    y_offset: f64,
) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 400.0, 90.0, 20.0, 40.0, 50.0);
    let all = series.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, hi + 1.0)
    } else {
        (0.0, 1.0)
    };
    let n = x_ticks.len().max(2) as f64;
    let px = |i: usize| left + (w - left - right) * i as f64 / (n - 1.0);
    let py = |v: f64| top + (h - top - bottom) * (hi - v) / (hi - lo);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" y=\"{y_offset}\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>\n",
        w / 2.0,
        escape(plot.title),
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        (left + w - right) / 2.0,
        h - 12.0,
        escape(plot.x_label),
        h / 2.0,
        h / 2.0,
        escape(plot.y_label),
    );
    svg += &tick_labels((lo, hi), x_ticks, &px, &py, (left, h - bottom));
    for (j, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[j % COLOURS.len()];
        let points: Vec<String> =
            values.iter().enumerate().map(|(i, &v)| format!("{:.1},{:.1}", px(i), py(v))).collect();
        svg += &format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        );
        if !name.is_empty() {
            let y = top + 16.0 * (j as f64 + 1.0);
            svg += &format!(
                "<text x=\"{}\" y=\"{y}\" fill=\"{colour}\" text-anchor=\"end\">{}</text>\n",
                w - right - 4.0,
                escape(name)
            );
        }
    }
    svg + "</svg>\n"
}

/// The y axis' five value labels over `[lo, hi]` and the x axis' tick labels (all of them up
/// to 12, else first, middle and last), for an axis corner at `(left, base)`.
fn tick_labels(
    (lo, hi): (f64, f64),
    x_ticks: &[String],
    px: &dyn Fn(usize) -> f64,
    py: &dyn Fn(f64) -> f64,
    (left, base): (f64, f64),
) -> String {
    let mut svg = String::new();
    for t in 0..=4 {
        let v = lo + (hi - lo) * t as f64 / 4.0;
        svg += &format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>\n<line x1=\"{}\" y1=\"{:.1}\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
            left - 6.0,
            py(v) + 4.0,
            left - 4.0,
            py(v),
            py(v)
        );
    }
    let last = x_ticks.len().saturating_sub(1);
    let shown: Vec<usize> = match x_ticks.len() <= 12 {
        true => (0..x_ticks.len()).collect(),
        false => vec![0, last / 2, last],
    };
    for i in shown {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            px(i),
            base + 16.0,
            escape(&x_ticks[i])
        );
    }
    svg
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fftshift_puts_dc_in_the_centre() {
        let p = 4;
        let mut grid = vec![1.0; p * p];
        grid[0] = 100.0; // DC
        let out = fftshift_log(&grid, p);
        assert_eq!(out[2 * p + 2], 100f64.ln() as f32);
        assert_eq!(out.iter().filter(|&&v| v == 0.0).count(), p * p - 1);
    }

    #[test]
    fn empty_rows_stay_in_the_grid() {
        let images =
            Images { pixels: vec![0.5; 3 * 16], height: 4, width: 4, labels: None, weights: None };
        let top = vec![vec![0, 1], vec![], vec![2]];
        let img = component_grid(&images, &top, 10, None, TileScale::Fixed(0.0, 1.0));
        let zoom = 12;
        assert_eq!(img.height(), 3 * (4 * zoom + GAP) + GAP);
        // The empty row's first cell is marked, its second is background; the first row's
        // first cell is the sample's gray.
        let y_empty = GAP + (4 * zoom + GAP);
        assert_eq!(*img.get_pixel(GAP + 1, y_empty + 1), EMPTY_MARK);
        assert_eq!(*img.get_pixel(GAP + 4 * zoom + GAP + 1, y_empty + 1), BACKGROUND);
        assert_eq!(*img.get_pixel(GAP + 1, GAP + 1), Rgb([128, 128, 128]));
    }
}
