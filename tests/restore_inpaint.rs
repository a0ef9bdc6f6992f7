//! The conditional start of an inpainting against a dense float64 implementation: each patch's
//! component chosen by the density of its known pixels, its conditional mean, averaged over the
//! patches that cover each missing pixel.

mod common;

use common::{cholesky, dense_normal_log_density, patch_mixture, step_weights};
use gmm_zoo::experiments::restore::{MEAN_VARIANCE, PatchPrior, PatchStep, conditional_start};
use gmm_zoo::training::GaussianMixture;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const P: usize = 3;
const Q: usize = P * P;

/// `A⁻¹ b` through a dense Cholesky factor `L` of `A` (`n × n`).
fn solve(l: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut z = b.to_vec();
    for i in 0..n {
        z[i] = (z[i] - (0..i).map(|k| l[i * n + k] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    for i in (0..n).rev() {
        z[i] = (z[i] - (i + 1..n).map(|k| l[k * n + i] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    z
}

/// Component k over a patch's Q pixels, from the mixture's rows (the last pixel dropped) as
/// written: `p = m·1 + T y`, `T = [I; −1ᵀ]`, `m` of variance `s²`.
fn pixel_gaussian(g: &GaussianMixture, k: usize) -> (Vec<f64>, Vec<f64>) {
    let d = Q - 1;
    let t = |p: usize, i: usize| match p == d {
        true => -1.0,
        false => f64::from(u8::from(p == i)),
    };
    let mean = (0..Q).map(|p| (0..d).map(|i| t(p, i) * g.means[k][i]).sum()).collect();
    let cov = (0..Q * Q)
        .map(|x| {
            let (p, q) = (x / Q, x % Q);
            let tst: f64 = (0..d)
                .flat_map(|i| (0..d).map(move |j| (i, j)))
                .map(|(i, j)| t(p, i) * g.covariances[k][i * d + j] * t(q, j))
                .sum();
            tst + MEAN_VARIANCE
        })
        .collect();
    (mean, cov)
}

/// The estimate of one patch (NaN where missing) with its known pixels under noise `sigma2`.
fn oracle_patch(g: &GaussianMixture, patch: &[f64], sigma2: f64, step: PatchStep) -> Vec<f64> {
    let o: Vec<usize> = (0..Q).filter(|&p| patch[p].is_finite()).collect();
    let n = o.len();
    let (mut scores, mut means) = (Vec::new(), Vec::new());
    for k in 0..g.weights.len() {
        let (mu, cov) = pixel_gaussian(g, k);
        let b: Vec<f64> = (0..n * n)
            .map(|x| cov[o[x / n] * Q + o[x % n]] + if x / n == x % n { sigma2 } else { 0.0 })
            .collect();
        let delta: Vec<f64> = o.iter().map(|&p| patch[p] - mu[p]).collect();
        scores.push(g.weights[k].ln() + dense_normal_log_density(&delta, &b));
        let a = solve(&cholesky(&b, n), &delta, n);
        means.push(
            (0..Q)
                .map(|p| mu[p] + (0..n).map(|r| cov[p * Q + o[r]] * a[r]).sum::<f64>())
                .collect::<Vec<f64>>(),
        );
    }
    let r = step_weights(&scores, step);
    (0..Q).map(|p| (0..r.len()).map(|k| r[k] * means[k][p]).sum()).collect()
}

#[test]
fn the_conditional_start_is_each_patchs_dense_conditional_mean() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let g = patch_mixture(&mut rng);
    let prior = PatchPrior::from_mixture(&g, P, 1.0, true);
    let (h, w, sigma2) = (7, 6, 0.01);
    // 45 % missing: most patches conditioned through their known pixels' covariance; 12 %:
    // most through the noisy precision's block of their few missing pixels.
    for (fraction, step, stride) in [
        (0.45, PatchStep::MostLikely, 1),
        (0.45, PatchStep::Posterior, 1),
        (0.45, PatchStep::MostLikely, 2),
        (0.12, PatchStep::MostLikely, 1),
        (0.12, PatchStep::Posterior, 1),
    ] {
        let image: Vec<f64> = (0..h * w)
            .map(|_| match rng.random_bool(fraction) {
                true => f64::NAN,
                false => rng.random_range(-1.5..1.5),
            })
            .collect();
        let known: Vec<bool> = image.iter().map(|v| v.is_finite()).collect();
        let start: Vec<f64> = image.iter().map(|&v| if v.is_finite() { v } else { 0.25 }).collect();
        let rows: Vec<usize> = (0..=h - P).filter(|a| a % stride == 0 || *a == h - P).collect();
        let cols: Vec<usize> = (0..=w - P).filter(|a| a % stride == 0 || *a == w - P).collect();
        let ours = conditional_start(&prior, &start, &known, (h, w), (&rows, &cols), sigma2, step);
        let (mut sum, mut count) = (vec![0.0; h * w], vec![0.0; h * w]);
        for &i in &rows {
            for &j in &cols {
                let at = |t: usize| (i + t / P) * w + j + t % P;
                let patch: Vec<f64> = (0..Q).map(|t| image[at(t)]).collect();
                let n_known = patch.iter().filter(|v| v.is_finite()).count();
                if n_known == 0 || n_known == Q {
                    continue;
                }
                for (t, v) in oracle_patch(&g, &patch, sigma2, step).into_iter().enumerate() {
                    sum[at(t)] += v;
                    count[at(t)] += 1.0;
                }
            }
        }
        for p in 0..h * w {
            let want = if known[p] || count[p] == 0.0 { start[p] } else { sum[p] / count[p] };
            assert!(
                (ours[p] - want).abs() < 1e-3,
                "{fraction}, {step:?}/{stride} pixel {p}: {} vs {want}",
                ours[p]
            );
        }
        assert!(known.iter().zip(&count).any(|(k, c)| !k && *c > 1.0), "no pixel was averaged");
    }
}
