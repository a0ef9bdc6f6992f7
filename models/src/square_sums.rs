//! Sums of squared differences `‖v − c‖²` over segments of rows of products, in vector lanes,
//! compiled for this CPU: the Mahalanobis distances of rows under every component taken
//! through column groups of triangular factors (the full GMM's E-step on a CPU, the patch step
//! of EPLL), each group's product still in the core's cache.

/// Lanes of the sums: one AVX-512 register of f32.
pub const LANES: usize = 16;

/// `Σ_i (v_i − c_i)²` in [`LANES`] interleaved partial sums (lane `l` takes `i ≡ l` mod
/// `LANES`), added as a tree, then any tail: the same order on any CPU, and vector registers
/// (one running sum, a chain of dependent adds, was half of exact EPLL's time).
#[inline(always)]
fn square_sum(v: &[f32], c: &[f32]) -> f32 {
    let whole = v.len() / LANES * LANES;
    let mut acc = [0f32; LANES];
    for (v, c) in v[..whole].chunks_exact(LANES).zip(c.chunks_exact(LANES)) {
        for l in 0..LANES {
            let t = v[l] - c[l];
            acc[l] += t * t;
        }
    }
    let mut half = LANES / 2;
    while half > 0 {
        for l in 0..half {
            acc[l] += acc[l + half];
        }
        half /= 2;
    }
    let tail: f32 = (whole..v.len()).map(|i| (v[i] - c[i]) * (v[i] - c[i])).sum();
    acc[0] + tail
}

/// `out[n·K + k] = Σ_i (v_nki − c_ki)²` for every row `n` of `projected` (`[b, K·m]`,
/// component k's `m` values at `k·m`) against `c` (`[K·m]`).
#[inline(always)]
fn segment_sums(projected: &[f32], c: &[f32], m: usize, out: &mut [f32]) {
    let km = c.len();
    for (row, out) in projected.chunks_exact(km).zip(out.chunks_exact_mut(km / m)) {
        for ((v, c), o) in row.chunks_exact(m).zip(c.chunks_exact(m)).zip(out) {
            *o = square_sum(v, c);
        }
    }
}

pub type SegmentSums = fn(&[f32], &[f32], usize, &mut [f32]);

/// [`segment_sums`] compiled for this CPU (AVX-512, else AVX2, else the baseline): the same
/// operations in the same order.
pub fn segment_sums_for_cpu() -> SegmentSums {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return |p, c, m, out| {
                #[target_feature(enable = "avx512f")]
                unsafe fn compiled(p: &[f32], c: &[f32], m: usize, out: &mut [f32]) {
                    segment_sums(p, c, m, out)
                }
                // SAFETY: handed out only where the CPU has AVX-512.
                unsafe { compiled(p, c, m, out) }
            };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return |p, c, m, out| {
                #[target_feature(enable = "avx2")]
                unsafe fn compiled(p: &[f32], c: &[f32], m: usize, out: &mut [f32]) {
                    segment_sums(p, c, m, out)
                }
                // SAFETY: handed out only where the CPU has AVX2.
                unsafe { compiled(p, c, m, out) }
            };
        }
    }
    segment_sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compiled form equals the baseline bit for bit and a float64 sum to f32 rounding,
    /// with a tail (m = 21) and without (m = 32).
    #[test]
    fn segment_sums_match_a_float64_sum() {
        for m in [21, 32] {
            let (b, k) = (3, 4);
            let value = |i: usize, s: f32| ((i * 37 % 101) as f32 / 50.0 - 1.0) * s;
            let v: Vec<f32> = (0..b * k * m).map(|i| value(i, 2.0)).collect();
            let c: Vec<f32> = (0..k * m).map(|i| value(i + 7, 1.0)).collect();
            let (mut base, mut fast) = (vec![0.0; b * k], vec![0.0; b * k]);
            segment_sums(&v, &c, m, &mut base);
            segment_sums_for_cpu()(&v, &c, m, &mut fast);
            assert_eq!(base, fast);
            for (n, kk) in (0..b).flat_map(|n| (0..k).map(move |kk| (n, kk))) {
                let exact: f64 = (0..m)
                    .map(|i| {
                        let (x, y) = (v[n * k * m + kk * m + i] as f64, c[kk * m + i] as f64);
                        (x - y).powi(2)
                    })
                    .sum();
                assert!((base[n * k + kk] as f64 - exact).abs() <= 1e-5 * exact.max(1.0));
            }
        }
    }
}
