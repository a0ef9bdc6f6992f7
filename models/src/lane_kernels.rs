//! Host loops in vector lanes, compiled for this CPU: squared differences summed lane by lane
//! over the column groups of products, then across the lanes (the Mahalanobis distances of rows
//! under every component taken through column groups of triangular factors: the full GMM's
//! E-step on a CPU, the patch step of EPLL), and one row's product with a packed triangular
//! factor (EPLL's deep search).

/// Lanes of the sums: one AVX-512 register of f32.
pub const LANES: usize = 16;

/// `lanes[n, i] += (v[n, i] − c[i])²` for every row `n` of `projected` (`[b, C]`, row-major)
/// against `c` (`[C]`): squared differences kept apart, lane by lane, so that the column
/// groups of a product add up in registers' lanes before any sum across them.
#[inline(always)]
fn square_lanes(projected: &[f32], c: &[f32], lanes: &mut [f32]) {
    let cols = c.len();
    for (row, acc) in projected.chunks_exact(cols).zip(lanes.chunks_exact_mut(cols)) {
        for ((a, v), c) in acc.iter_mut().zip(row).zip(c) {
            let t = v - c;
            *a += t * t;
        }
    }
}

/// `out[j] = Σ_l lanes[j·LANES + l]`, the [`LANES`] added as a tree (halves, then quarters, …):
/// the same order on any CPU.
#[inline(always)]
fn lane_totals(lanes: &[f32], out: &mut [f32]) {
    for (acc, o) in lanes.chunks_exact(LANES).zip(out) {
        let mut acc: [f32; LANES] = acc.try_into().expect("LANES values");
        let mut half = LANES / 2;
        while half > 0 {
            for l in 0..half {
                acc[l] += acc[l + half];
            }
            half /= 2;
        }
        *o = acc[0];
    }
}

/// `pub fn $name() -> fn($ty, …) [-> $ret]`: `$kernel` compiled for this CPU (AVX-512, else
/// AVX2 with FMA, else the baseline). No fused multiply-adds are formed where the kernel does not
/// ask for them (Rust never contracts `a * b + c`; `f32::mul_add` is one correctly rounded
/// operation on any CPU), so every form does the same operations in the same order: the same
/// bits on any CPU.
macro_rules! for_cpu {
    ($(#[$doc:meta])* $name:ident, $kernel:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        $(#[$doc])*
        pub fn $name() -> fn($($ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return |$($arg),*| {
                        #[target_feature(enable = "avx512f")]
                        unsafe fn compiled($($arg: $ty),*) $(-> $ret)? {
                            $kernel($($arg),*)
                        }
                        // SAFETY: handed out only where the CPU has AVX-512.
                        unsafe { compiled($($arg),*) }
                    };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    return |$($arg),*| {
                        #[target_feature(enable = "avx2,fma")]
                        unsafe fn compiled($($arg: $ty),*) $(-> $ret)? {
                            $kernel($($arg),*)
                        }
                        // SAFETY: handed out only where the CPU has AVX2 and FMA.
                        unsafe { compiled($($arg),*) }
                    };
                }
            }
            $kernel
        }
    };
}
pub(crate) use for_cpu;

for_cpu!(
    /// [`square_lanes`] compiled for this CPU.
    square_lanes_for_cpu,
    square_lanes,
    (p: &[f32], c: &[f32], lanes: &mut [f32])
);

for_cpu!(
    /// [`lane_totals`] compiled for this CPU.
    lane_totals_for_cpu,
    lane_totals,
    (lanes: &[f32], out: &mut [f32])
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

    /// Squares kept in lanes over two column groups, then the lanes' totals: every compiled
    /// form equals the baseline bit for bit and a float64 sum to f32 rounding.
    #[test]
    fn lane_sums_match_a_float64_sum() {
        let (b, k) = (3, 4);
        let cols = k * LANES;
        let value = |i: usize, s: f32| ((i * 37 % 101) as f32 / 50.0 - 1.0) * s;
        let groups: Vec<(Vec<f32>, Vec<f32>)> = (0..2)
            .map(|q| {
                let v = (0..b * cols).map(|i| value(i + 100 * q, 2.0)).collect();
                (v, (0..cols).map(|i| value(i + 7 + 100 * q, 1.0)).collect())
            })
            .collect();
        let run = |square: fn(&[f32], &[f32], &mut [f32]), total: fn(&[f32], &mut [f32])| {
            let mut lanes = vec![0.0; b * cols];
            groups.iter().for_each(|(v, c)| square(v, c, &mut lanes));
            let mut out = vec![0.0; b * k];
            total(&lanes, &mut out);
            out
        };
        let base = run(square_lanes, lane_totals);
        assert_eq!(base, run(square_lanes_for_cpu(), lane_totals_for_cpu()));
        for (n, kk) in (0..b).flat_map(|n| (0..k).map(move |kk| (n, kk))) {
            let exact: f64 = (groups.iter())
                .flat_map(|(v, c)| {
                    (0..LANES).map(move |l| {
                        let i = kk * LANES + l;
                        (v[n * cols + i] as f64 - c[i] as f64).powi(2)
                    })
                })
                .sum();
            assert!((base[n * k + kk] as f64 - exact).abs() <= 1e-5 * exact.max(1.0));
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
