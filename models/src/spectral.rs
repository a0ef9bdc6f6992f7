//! The 2-D Fourier bookkeeping of the convolutional GMM.
//!
//! For a real P×P image the DFT is Hermitian, `X(-k) = conj X(k)`, so `|X(k)|²` and every
//! even spectrum `S(k) = S(-k)` are determined by one bin of each conjugate pair. A
//! [`SpectralLayout`] lists those unique bins with their weight: 2 for a bin that stands for a
//! pair, 1 for a self-conjugate bin (DC, and the Nyquist bins `(0,P/2)`, `(P/2,0)`,
//! `(P/2,P/2)` when P is even). Every sum over all D frequencies then becomes a weighted sum
//! over the unique bins, which is what the layer computes:
//!
//! ```text
//! Σ_k f(k) = Σ_b w_b f(k_b)      for every even f.
//! ```

use rustfft::{FftPlanner, num_complex::Complex};

/// The unique frequency bins of a P×P real image, and their weights.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralLayout {
    size: usize,
    exclude_dc: bool,
    /// `(k1, k2)` of each unique bin, in row-major order of the full grid.
    bins: Vec<(usize, usize)>,
    /// 1 for a self-conjugate bin, 2 for a conjugate pair.
    weights: Vec<f64>,
}

impl SpectralLayout {
    /// The layout for P×P images; with `exclude_dc` the DC bin (always 0 for zero-meaned
    /// data) is left out, so the density covers `D' = D - 1` dimensions.
    pub fn new(size: usize, exclude_dc: bool) -> Self {
        let mut bins = Vec::new();
        let mut weights = Vec::new();
        for k1 in 0..size {
            for k2 in 0..size {
                let conj = ((size - k1) % size, (size - k2) % size);
                if (k1, k2) > conj || (exclude_dc && (k1, k2) == (0, 0)) {
                    continue;
                }
                bins.push((k1, k2));
                weights.push(if (k1, k2) == conj { 1.0 } else { 2.0 });
            }
        }
        Self { size, exclude_dc, bins, weights }
    }

    /// Image side P.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Pixels per image, D = P².
    pub fn pixels(&self) -> usize {
        self.size * self.size
    }

    /// Whether the DC bin is left out.
    pub fn excludes_dc(&self) -> bool {
        self.exclude_dc
    }

    /// Number of unique bins B (the width of the E-step's matrix product).
    pub fn n_bins(&self) -> usize {
        self.bins.len()
    }

    /// Dimensions the density covers: `D' = Σ_b w_b` (D, or D - 1 without DC).
    pub fn covered_dims(&self) -> usize {
        self.weights.iter().sum::<f64>() as usize
    }

    /// The weight `w_b` of each unique bin.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The `(k1, k2)` frequency of each unique bin.
    pub fn bins(&self) -> &[(usize, usize)] {
        &self.bins
    }

    /// The periodogram of each image on the unique bins: `|X_n(k_b)|²`, with the
    /// unnormalised DFT `X(k) = Σ_n x(n) exp(-2πi⟨k,n⟩/P)`.
    ///
    /// # Shapes
    /// - `images`: `[N, P·P]` row-major; result: `[N, B]` row-major.
    pub fn power(&self, images: &[f32]) -> Vec<f32> {
        self.power_as(images, |v| v as f32)
    }

    /// [`power`](Self::power) kept in f64, for reference computations.
    pub fn power_f64(&self, images: &[f32]) -> Vec<f64> {
        self.power_as(images, |v| v)
    }

    fn power_as<T: Copy + Default + Send>(&self, images: &[f32], cast: fn(f64) -> T) -> Vec<T> {
        use rayon::prelude::*;
        let p = self.size;
        let d = p * p;
        assert_eq!(images.len() % d, 0, "image buffer is not a multiple of P*P");
        let n = images.len() / d;
        let b = self.n_bins();
        let mut out = vec![T::default(); n * b];
        let fft = FftPlanner::<f64>::new().plan_fft_forward(p);
        // Chunks of images in parallel, each with its own buffers; every image is transformed
        // on its own, so the result does not depend on the thread count.
        let chunk = 256usize;
        let new_buffers = || {
            let buf = vec![Complex::new(0.0, 0.0); chunk * d];
            let scratch = vec![Complex::new(0.0, 0.0); fft.get_inplace_scratch_len()];
            (buf, scratch, vec![Complex::new(0.0, 0.0); d])
        };
        out.par_chunks_mut(chunk * b).zip(images.par_chunks(chunk * d)).for_each_init(
            new_buffers,
            |(buf, scratch, tbuf), (out, images)| {
                let m = images.len() / d;
                let buf = &mut buf[..m * d];
                for (z, &v) in buf.iter_mut().zip(images) {
                    *z = Complex::new(v as f64, 0.0);
                }
                // Rows, then columns (by transposing each image and transforming rows again).
                fft.process_with_scratch(buf, scratch);
                for img in buf.chunks_exact_mut(d) {
                    for r in 0..p {
                        for c in 0..p {
                            tbuf[c * p + r] = img[r * p + c];
                        }
                    }
                    img.copy_from_slice(tbuf);
                }
                fft.process_with_scratch(buf, scratch);
                // `img` now holds X transposed: X(k1, k2) at [k2 * p + k1].
                for (img, row) in buf.chunks_exact(d).zip(out.chunks_exact_mut(b)) {
                    for (o, &(k1, k2)) in row.iter_mut().zip(&self.bins) {
                        *o = cast(img[k2 * p + k1].norm_sqr());
                    }
                }
            },
        );
        out
    }

    /// Spreads a spectrum on the unique bins to the full P×P grid (row-major, `[k1][k2]`),
    /// using `S(-k) = S(k)`; the DC bin of a layout without DC is set to `dc_fill`.
    pub fn to_full_grid(&self, spectrum: &[f64], dc_fill: f64) -> Vec<f64> {
        let p = self.size;
        let mut grid = vec![dc_fill; p * p];
        for (&(k1, k2), &s) in self.bins.iter().zip(spectrum) {
            grid[k1 * p + k2] = s;
            grid[((p - k1) % p) * p + (p - k2) % p] = s;
        }
        grid
    }

    /// The circulant covariance of the stationary field with power spectrum `S` (on the unique
    /// bins), `C[n, m] = r(n − m)` with the autocovariance
    /// `r(δ) = (1/D) Σ_k S(k) cos(2π⟨k, δ⟩/P)` (indices mod P), `[D·D]` row-major, D = P²: a
    /// component's density as a Gaussian over the pixels. A layout without DC gives that
    /// eigenvalue `dc_fill` (the density is then over zero-mean patches, and `dc_fill` is not
    /// part of it).
    pub fn circulant_covariance(&self, spectrum: &[f64], dc_fill: f64) -> Vec<f64> {
        let p = self.size;
        let d = p * p;
        let full = self.to_full_grid(spectrum, dc_fill);
        let tau = 2.0 * std::f64::consts::PI / p as f64;
        let r: Vec<f64> = (0..d)
            .map(|delta| {
                let (d1, d2) = ((delta / p) as f64, (delta % p) as f64);
                let sum: f64 = (0..d)
                    .map(|k| full[k] * (tau * ((k / p) as f64 * d1 + (k % p) as f64 * d2)).cos())
                    .sum();
                sum / d as f64
            })
            .collect();
        let mut c = vec![0.0; d * d];
        for n in 0..d {
            for m in 0..d {
                let (a, b) = ((n / p + p - m / p) % p, (n % p + p - m % p) % p);
                c[n * d + m] = r[a * p + b];
            }
        }
        c
    }

    /// One stationary Gaussian field with power spectrum `S` (on the unique bins): Fourier
    /// coefficients with `E|X(k)|² = D·S(k)` — real for self-conjugate bins, complex with
    /// independent real and imaginary parts of variance `D·S(k)/2` otherwise, `X(−k) = X(k)*` —
    /// and zero at DC when the layout leaves it out, then the inverse DFT
    /// `x(n) = (1/D) Σ_k X(k) exp(2πi⟨k,n⟩/P)`. Its covariance is the circulant `C` with
    /// eigenvalues `S`.
    pub fn sample_field(&self, spectrum: &[f64], rng: &mut impl rand::Rng) -> Vec<f64> {
        use rand_distr::{Distribution, StandardNormal};
        let p = self.size;
        let d = (p * p) as f64;
        let mut grid = vec![Complex::new(0.0, 0.0); p * p];
        for ((&(k1, k2), &w), &s) in self.bins.iter().zip(&self.weights).zip(spectrum) {
            let z: f64 = StandardNormal.sample(rng);
            let value = if w == 1.0 {
                Complex::new((d * s).sqrt() * z, 0.0)
            } else {
                let y: f64 = StandardNormal.sample(rng);
                Complex::new(z, y) * (d * s / 2.0).sqrt()
            };
            grid[k1 * p + k2] = value;
            grid[((p - k1) % p) * p + (p - k2) % p] = value.conj();
        }
        let ifft = FftPlanner::<f64>::new().plan_fft_inverse(p);
        ifft.process(&mut grid);
        let mut t = vec![Complex::new(0.0, 0.0); p * p];
        for r in 0..p {
            for c in 0..p {
                t[c * p + r] = grid[r * p + c];
            }
        }
        ifft.process(&mut t);
        // `t` holds the result transposed; rustfft's inverse is unnormalised.
        let mut out = vec![0.0; p * p];
        for r in 0..p {
            for c in 0..p {
                out[r * p + c] = t[c * p + r].re / d;
            }
        }
        out
    }

    /// The log-density of one image under a zero-mean stationary Gaussian, in f64, straight
    /// from models.md §1 (the reference the Burn path is tested against):
    ///
    /// ```text
    /// log N(x | 0, C) = -(D'/2) log 2π - ½ Σ_b w_b log S(k_b) - (1/(2D)) Σ_b w_b |X(k_b)|² / S(k_b)
    /// ```
    pub fn log_density_f64(&self, image: &[f32], spectrum: &[f64]) -> f64 {
        let power = self.power_f64(image);
        let d = self.pixels() as f64;
        let mut acc = -(self.covered_dims() as f64) / 2.0 * (2.0 * std::f64::consts::PI).ln();
        for ((&w, &s), &x2) in self.weights.iter().zip(spectrum).zip(&power) {
            acc -= 0.5 * w * (s.ln() + x2 / (d * s));
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_cover_every_frequency_once() {
        for p in 1..=9 {
            for exclude_dc in [false, true] {
                let layout = SpectralLayout::new(p, exclude_dc);
                let expect = p * p - usize::from(exclude_dc);
                assert_eq!(layout.covered_dims(), expect, "P={p} exclude_dc={exclude_dc}");
                let self_conj = layout.weights().iter().filter(|&&w| w == 1.0).count();
                let nyquist = if p % 2 == 0 { 4 } else { 1 };
                assert_eq!(self_conj + usize::from(exclude_dc), nyquist, "P={p}");
            }
        }
    }

    #[test]
    fn parseval_holds_on_the_unique_bins() {
        // Σ_k |X(k)|² = D Σ_n x(n)²
        let p = 6;
        let x: Vec<f32> = (0..p * p).map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0).collect();
        let layout = SpectralLayout::new(p, false);
        let power = layout.power_f64(&x);
        let lhs: f64 = layout.weights().iter().zip(&power).map(|(w, v)| w * v).sum();
        let rhs: f64 = (p * p) as f64 * x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        assert!((lhs - rhs).abs() < 1e-9 * rhs, "{lhs} vs {rhs}");
    }
}
