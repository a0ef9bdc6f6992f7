//! Host loops in vector lanes, compiled for this CPU: sums of squared differences `‖v − c‖²`
//! over segments of rows of products (the Mahalanobis distances of rows under every component
//! taken through column groups of triangular factors: the full GMM's E-step on a CPU, the
//! patch step of EPLL, each group's product still in the core's cache) and one row's product
//! with a packed triangular factor (EPLL's deep search).

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

/// `pub fn $name() -> fn($ty, …)`: `$kernel` compiled for this CPU (AVX-512, else AVX2, else
/// the baseline). No fused multiply-adds are formed (Rust never contracts `a * b + c`), so every
/// form does the same operations in the same order: the same bits on any CPU.
macro_rules! for_cpu {
    ($(#[$doc:meta])* $name:ident, $kernel:ident, ($($arg:ident: $ty:ty),*)) => {
        $(#[$doc])*
        pub fn $name() -> fn($($ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return |$($arg),*| {
                        #[target_feature(enable = "avx512f")]
                        unsafe fn compiled($($arg: $ty),*) {
                            $kernel($($arg),*)
                        }
                        // SAFETY: handed out only where the CPU has AVX-512.
                        unsafe { compiled($($arg),*) }
                    };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    return |$($arg),*| {
                        #[target_feature(enable = "avx2")]
                        unsafe fn compiled($($arg: $ty),*) {
                            $kernel($($arg),*)
                        }
                        // SAFETY: handed out only where the CPU has AVX2.
                        unsafe { compiled($($arg),*) }
                    };
                }
            }
            $kernel
        }
    };
}

for_cpu!(
    /// [`segment_sums`] compiled for this CPU.
    segment_sums_for_cpu,
    segment_sums,
    (p: &[f32], c: &[f32], m: usize, out: &mut [f32])
);

/// `d ← d + w L` for a lower triangular `L` `[m, m]` packed by rows, row i holding columns
/// `0…i` padded with zeros to whole [`LANES`] (see [`triangular_packed_len`]), `w` `[m]`, `d`
/// `[m rounded up to LANES]`: each register of `d` (columns `q·LANES…`) summed over the rows
/// that reach it in two accumulators held in registers (even and odd rows, added at the end),
/// not stored back and reloaded for every row.
#[inline(always)]
fn triangular_product(l: &[f32], w: &[f32], d: &mut [f32]) {
    let m = w.len();
    let mut first = 0; // offset of row q·LANES
    for (q, out) in d.chunks_exact_mut(LANES).enumerate() {
        let (mut even, mut odd) = ([0f32; LANES], [0f32; LANES]);
        let padded = |i: usize| (i + 1).div_ceil(LANES) * LANES;
        let (mut from, mut i) = (first + q * LANES, q * LANES);
        while i + 1 < m {
            let next = from + padded(i);
            let (r0, r1) = (&l[from..from + LANES], &l[next..next + LANES]);
            let (x0, x1) = (w[i], w[i + 1]);
            for t in 0..LANES {
                even[t] += x0 * r0[t];
                odd[t] += x1 * r1[t];
            }
            from = next + padded(i + 1);
            i += 2;
        }
        if i < m {
            let r = &l[from..from + LANES];
            for t in 0..LANES {
                even[t] += w[i] * r[t];
            }
        }
        for t in 0..LANES {
            out[t] += even[t] + odd[t];
        }
        first += (q * LANES..((q + 1) * LANES).min(m))
            .map(|i| (i + 1).div_ceil(LANES) * LANES)
            .sum::<usize>();
    }
}

/// Numbers in a triangular factor `[m, m]` packed for [`triangular_product_for_cpu`], and
/// the offset of row `i` in it: `offset(i) = Σ_{r<i} ⌈(r+1)/LANES⌉·LANES`.
pub fn triangular_packed_len(m: usize) -> usize {
    (0..m).map(|i| (i + 1).div_ceil(LANES) * LANES).sum()
}

for_cpu!(
    /// [`triangular_product`] compiled for this CPU.
    triangular_product_for_cpu,
    triangular_product,
    (l: &[f32], w: &[f32], d: &mut [f32])
);

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

    /// The packed triangular product on every compiled form equals the baseline bit for bit
    /// and a float64 dense product to f32 rounding.
    #[test]
    fn triangular_product_matches_a_float64_product() {
        for m in [7, 63] {
            let value = |i: usize| (i * 37 % 101) as f32 / 50.0 - 1.0;
            let dense: Vec<f32> =
                (0..m * m).map(|x| if x % m <= x / m { value(x + 5) } else { 0.0 }).collect();
            let padded = m.div_ceil(LANES) * LANES;
            let l: Vec<f32> = (0..m)
                .flat_map(|i| (0..(i + 1).div_ceil(LANES) * LANES).map(move |j| (i, j)))
                .map(|(i, j)| if j <= i { dense[i * m + j] } else { 0.0 })
                .collect();
            assert_eq!(l.len(), triangular_packed_len(m));
            let w: Vec<f32> = (0..m).map(|i| value(i + 2)).collect();
            let start: Vec<f32> =
                (0..padded).map(|i| if i < m { value(i + 9) } else { 0.0 }).collect();
            let (mut base, mut fast) = (start.clone(), start.clone());
            triangular_product(&l, &w, &mut base);
            triangular_product_for_cpu()(&l, &w, &mut fast);
            assert_eq!(base, fast);
            for j in 0..m {
                let exact: f64 = start[j] as f64
                    + (0..m).map(|i| w[i] as f64 * dense[i * m + j] as f64).sum::<f64>();
                assert!((base[j] as f64 - exact).abs() <= 1e-5 * (m as f64), "{j}");
            }
            assert!(base[m..].iter().all(|&v| v == 0.0));
        }
    }
}
