//! The pictures `gmmzoo restore` reads and writes, as channels of gray levels (0–255): a gray
//! image, a colour image as its R, G and B channels, or a 2-D `.npy` of gray levels whose NaN
//! entries are missing pixels.
//!
//! A colour picture is restored in opponent channels, each under the gray prior:
//!
//! ```text
//! L = (R + G + B)/3,   C1 = (R − B)/2 + 127.5,   C2 = (R − 2G + B)/4 + 127.5
//! ```
//!
//! whose rows are orthogonal, so white noise of σ in R, G, B (independent between them) is
//! white and independent in L, C1, C2 with σ/√3, σ/√2 and σ·√6/4: the luminance, where the
//! detail is, is restored from noise √3 times weaker than any one colour channel's.

use super::{Epll, PatchPrior, restore};
use gmm_datasets::{Grayscale, ImageSet, read_array};
use gmm_training::TrainError;
use gmm_training::folder::write_png;
use std::path::Path;

/// One picture: its channels (1 or 3), each `height × width` gray levels in row order.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// 1 (gray) or 3 (R, G, B) channels of `height × width` gray levels, row by row.
    pub channels: Vec<Vec<f64>>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl Picture {
    /// An image file (a colour one as R, G, B, unless its three channels are equal) or a
    /// 2-D `.npy` (`[height, width]` gray levels).
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        if Self::is_array(path) {
            let rows = read_array(path)?;
            let (height, width) = (rows.len(), rows.width);
            let channels = vec![rows.pixels.iter().map(|&v| f64::from(v)).collect()];
            return Ok(Self { channels, height, width });
        }
        let decoded = image::open(path).map_err(|e| TrainError::file(path, e))?;
        if decoded.color().has_color() {
            let rgb = decoded.to_rgb32f();
            let (width, height) = (rgb.width() as usize, rgb.height() as usize);
            let channels: Vec<Vec<f64>> =
                (0..3).map(|c| rgb.pixels().map(|p| f64::from(p.0[c]) * 255.0).collect()).collect();
            if channels[0] != channels[1] || channels[1] != channels[2] {
                return Ok(Self { channels, height, width });
            }
        }
        Self::gray(path)
    }

    /// Whether `path` is read as a `.npy` array of gray levels rather than as an image.
    pub fn is_array(path: &Path) -> bool {
        path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    }

    /// An image file as one channel of gray levels (colour by Rec. 601, as the BSDS300
    /// benchmark's): a mask, or a gray picture.
    pub fn gray(path: &Path) -> Result<Self, TrainError> {
        let set =
            ImageSet::from_files(vec![path.to_path_buf()], path.to_path_buf(), Grayscale::Rec601)?;
        let image = &set.images[0];
        Ok(Self {
            channels: vec![image.pixels.iter().map(|&v| f64::from(v) * 255.0).collect()],
            height: image.height,
            width: image.width,
        })
    }

    /// The opponent channels `[L, C1, C2]` of a colour picture (module docs), and the factor
    /// by which each one's noise is the colour channels'.
    pub fn to_opponent(&self) -> (Picture, [f64; 3]) {
        let [r, g, b] = [&self.channels[0], &self.channels[1], &self.channels[2]];
        let n = r.len();
        let l = (0..n).map(|i| (r[i] + g[i] + b[i]) / 3.0).collect();
        let c1 = (0..n).map(|i| (r[i] - b[i]) / 2.0 + 127.5).collect();
        let c2 = (0..n).map(|i| (r[i] - 2.0 * g[i] + b[i]) / 4.0 + 127.5).collect();
        let factors = [1.0 / 3f64.sqrt(), 1.0 / 2f64.sqrt(), 6f64.sqrt() / 4.0];
        (Picture { channels: vec![l, c1, c2], ..*self }, factors)
    }

    /// R, G, B of opponent channels `[L, C1, C2]`: `G = L − D2/3`, `R = (3L − G + D1)/2`,
    /// `B = (3L − G − D1)/2` with `D1 = 2(C1 − 127.5) = R − B`, `D2 = 4(C2 − 127.5)`.
    pub fn from_opponent(&self) -> Picture {
        let [l, c1, c2] = [&self.channels[0], &self.channels[1], &self.channels[2]];
        let n = l.len();
        let (mut r, mut g, mut b) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let (d1, d2) = (2.0 * (c1[i] - 127.5), 4.0 * (c2[i] - 127.5));
            g[i] = l[i] - d2 / 3.0;
            let rb = 3.0 * l[i] - g[i];
            (r[i], b[i]) = ((rb + d1) / 2.0, (rb - d1) / 2.0);
        }
        Picture { channels: vec![r, g, b], ..*self }
    }

    /// `height × width`.
    pub fn size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// The values interleaved, pixel by pixel (`[h, w]` or `[h, w, 3]` in row order).
    pub fn interleaved(&self) -> Vec<f64> {
        let n = self.height * self.width;
        (0..n).flat_map(|i| self.channels.iter().map(move |c| c[i])).collect()
    }

    /// As a PNG of 8 bits per channel (16 with `sixteen_bit`), clipped to 0–255.
    pub fn save_png(&self, path: &Path, sixteen_bit: bool) -> Result<(), TrainError> {
        let (w, h) = (self.width as u32, self.height as u32);
        let values = self.interleaved().into_iter().map(|v| v.clamp(0.0, 255.0));
        let bad = |e: image::ImageError| TrainError::file(path, e);
        match (sixteen_bit, self.channels.len()) {
            (true, 1) => image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(
                w,
                h,
                values.map(|v| (v * 257.0).round() as u16).collect(),
            )
            .expect("h × w values")
            .save(path)
            .map_err(bad),
            (true, _) => image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_raw(
                w,
                h,
                values.map(|v| (v * 257.0).round() as u16).collect(),
            )
            .expect("h × w × 3 values")
            .save(path)
            .map_err(bad),
            (false, 1) => {
                image::GrayImage::from_raw(w, h, values.map(|v| v.round() as u8).collect())
                    .expect("h × w values")
                    .save(path)
                    .map_err(bad)
            }
            (false, _) => {
                image::RgbImage::from_raw(w, h, values.map(|v| v.round() as u8).collect())
                    .expect("h × w × 3 values")
                    .save(path)
                    .map_err(bad)
            }
        }
    }

    /// The float32 values, unrounded and unclipped, as a `.npy` of shape `[h, w]` or
    /// `[h, w, 3]`.
    pub fn save_npy(&self, path: &Path) -> Result<(), TrainError> {
        use npyz::WriterBuilder;
        let mut shape = vec![self.height as u64, self.width as u64];
        if self.channels.len() > 1 {
            shape.push(self.channels.len() as u64);
        }
        let file = std::fs::File::create(path).map_err(|e| TrainError::file(path, e))?;
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .map_err(|e| TrainError::file(path, e))?;
        let values = self.interleaved().into_iter().map(|v| v as f32);
        writer.extend(values).map_err(|e| TrainError::file(path, e))?;
        writer.finish().map_err(|e| TrainError::file(path, e))
    }

    /// `self` and `other` side by side (4 white pixels between), clipped to 0–255.
    pub fn save_pair(&self, other: &Picture, path: &Path) -> Result<(), TrainError> {
        let (h, w, gap) = (self.height, self.width, 4);
        let mut pair =
            image::RgbImage::from_pixel((2 * w + gap) as u32, h as u32, image::Rgb([255; 3]));
        for (offset, picture) in [(0, self), (w + gap, other)] {
            let c = &picture.channels;
            for i in 0..h {
                for j in 0..w {
                    let at =
                        |k: usize| c[k.min(c.len() - 1)][i * w + j].clamp(0.0, 255.0).round() as u8;
                    pair.put_pixel(
                        (offset + j) as u32,
                        i as u32,
                        image::Rgb([at(0), at(1), at(2)]),
                    );
                }
            }
        }
        write_png(&pair, path)
    }
}

/// `picture` restored under `prior` by EPLL: a gray one as it is, a colour one in opponent
/// channels (module docs), each at its own noise level `epll.sigma · factor` with the same
/// schedule; `on_pass` after every pass of every channel.
pub fn restore_picture(
    prior: &PatchPrior,
    picture: &Picture,
    epll: &Epll,
    on_pass: &mut dyn FnMut(usize),
) -> Result<Picture, String> {
    let colour = match picture.channels.len() {
        1 => false,
        3 => true,
        n => return Err(format!("has {n} channels; a picture is gray (1) or colour (3)")),
    };
    let (channels, factors) = match colour {
        true => picture.to_opponent(),
        false => (picture.clone(), [1.0; 3]),
    };
    let mut result = Picture { channels: Vec::new(), ..*picture };
    for (channel, factor) in channels.channels.iter().zip(factors) {
        let epll = Epll { sigma: epll.sigma * factor, ..epll.clone() };
        result.channels.push(restore(prior, channel, picture.size(), &epll, on_pass)?);
    }
    Ok(if colour { result.from_opponent() } else { result })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opponent_channels_invert_and_whiten_the_noise_as_stated() {
        let channels: Vec<Vec<f64>> =
            (0..3).map(|c| (0..12).map(|i| ((i * 37 + c * 91) % 256) as f64).collect()).collect();
        let picture = Picture { channels, height: 3, width: 4 };
        let (opponent, factors) = picture.to_opponent();
        let back = opponent.from_opponent();
        for (a, b) in back.channels.iter().flatten().zip(picture.channels.iter().flatten()) {
            assert!((a - b).abs() < 1e-9, "{a} {b}");
        }
        // The map's rows (noise of 1 in one colour channel at a time) are orthogonal, with
        // the stated norms: independent noise of σ·factor in each opponent channel.
        let row = |c: usize| {
            let mut unit = Picture { channels: vec![vec![0.0]; 3], height: 1, width: 1 };
            unit.channels[c][0] = 1.0;
            let o = unit.to_opponent().0;
            [o.channels[0][0], o.channels[1][0] - 127.5, o.channels[2][0] - 127.5]
        };
        let columns = [row(0), row(1), row(2)];
        for i in 0..3 {
            for j in 0..3 {
                let dot: f64 = columns.iter().map(|col| col[i] * col[j]).sum();
                let want = if i == j { factors[i] * factors[i] } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "({i}, {j}): {dot} against {want}");
            }
        }
    }
}
