//! How close a restored image is to the clean one, in gray levels (0–255): PSNR and SSIM.
//!
//! ```text
//! PSNR = 10 log10(255² / mean((x − c)²))
//! SSIM = mean over 11×11 windows (Gaussian weights, σ = 1.5, whole windows only) of
//!        (2 μ_x μ_c + C1)(2 σ_xc + C2) / ((μ_x² + μ_c² + C1)(σ_x² + σ_c² + C2)),
//!        C1 = (0.01·255)², C2 = (0.03·255)²                     (Wang et al. 2004)
//! ```

/// The peak signal-to-noise ratio of `x` against `clean`, dB.
pub fn psnr(x: &[f64], clean: &[f64]) -> f64 {
    let mse = x.iter().zip(clean).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / x.len() as f64;
    10.0 * (255.0f64.powi(2) / mse).log10()
}

/// `image` (`h × w`) filtered by the separable window `g`, whole windows only.
fn filtered(image: &[f64], (h, w): (usize, usize), g: &[f64]) -> Vec<f64> {
    let r = g.len();
    let (oh, ow) = (h + 1 - r, w + 1 - r);
    let mut rows = vec![0.0; h * ow];
    for i in 0..h {
        for j in 0..ow {
            rows[i * ow + j] = (0..r).map(|t| g[t] * image[i * w + j + t]).sum();
        }
    }
    let mut out = vec![0.0; oh * ow];
    for i in 0..oh {
        for j in 0..ow {
            out[i * ow + j] = (0..r).map(|t| g[t] * rows[(i + t) * ow + j]).sum();
        }
    }
    out
}

/// The mean structural similarity of `x` and `clean` (`h × w`; 1 for identical images); NaN
/// for an image smaller than the 11×11 window.
pub fn ssim(x: &[f64], clean: &[f64], (h, w): (usize, usize)) -> f64 {
    if h < 11 || w < 11 {
        return f64::NAN;
    }
    let raw: Vec<f64> =
        (0..11).map(|t| (-((t as f64 - 5.0).powi(2)) / (2.0 * 1.5 * 1.5)).exp()).collect();
    let total: f64 = raw.iter().sum();
    let g: Vec<f64> = raw.iter().map(|v| v / total).collect();
    let product = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).collect::<Vec<_>>();
    let (mx, mc) = (filtered(x, (h, w), &g), filtered(clean, (h, w), &g));
    let xx = filtered(&product(x, x), (h, w), &g);
    let cc = filtered(&product(clean, clean), (h, w), &g);
    let xc = filtered(&product(x, clean), (h, w), &g);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let values: Vec<f64> = (0..mx.len())
        .map(|i| {
            let (a, b) = (mx[i], mc[i]);
            let (va, vb, cov) = (xx[i] - a * a, cc[i] - b * b, xc[i] - a * b);
            ((2.0 * a * b + c1) * (2.0 * cov + c2)) / ((a * a + b * b + c1) * (va + vb + c2))
        })
        .collect();
    values.iter().sum::<f64>() / values.len() as f64
}
