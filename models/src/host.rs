//! Host versions of the mixture's normalisations, for code that has read per-component values
//! back: one log-sum-exp and one softmax (f64) for the whole workspace, and the E-step's
//! responsibilities of a CPU batch (f32, one pass per row).

/// `log Σ_i exp(a_i)`, shifted by the largest term; `−∞` when every term is (or there are none).
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + a.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `exp(a_c − max) / Σ_c' exp(a_c' − max)`: weights `π_c` from log-weights or logits,
/// posteriors from joint log-probabilities.
pub fn softmax(a: &[f64]) -> Vec<f64> {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = a.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

/// [`crate::mixture::responsibilities`] of a CPU batch, in place and in one pass over each row
/// (which stays in L1) instead of one Burn operation, with its own `[N, K]` buffer, per step:
/// each row `a[n, ·]` of the weighted log-probabilities becomes `r[n,c] = e[n,c] / Σ_c' e[n,c']`
/// with `e[n,c] = max(exp(max(a[n,c] − m_n, ln 1e-30)) − 1e-30, 0)`, `m_n = max_c a[n,c]`,
/// and the returned `log p(x_n) = m_n + log Σ_c' e[n,c']`.
///
/// The loops are written in [`LANES`] independent lanes (the maximum, the sum) and the
/// exponential as [`exp_reduced`], without branches or library calls, so that the compiler
/// vectorises them, compiled for AVX2 where the CPU has it (checked at run time, as gemm's
/// kernels are). The arithmetic is the same on every CPU: the lanes fix the summation order,
/// and no step is fused (no FMA). A row with a NaN, or whose terms are all `−∞`, becomes NaN
/// (so the E-step reports it).
///
/// # Shapes
/// - `a`: `N·K` values, row-major; result: `N` values.
pub fn responsibilities_in_place(a: &mut [f32], k: usize) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { normalise_rows_avx2(a, k) };
    }
    normalise_rows(a, k)
}

/// [`normalise_rows`] compiled for AVX2: 8 lanes are one register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn normalise_rows_avx2(a: &mut [f32], k: usize) -> Vec<f32> {
    normalise_rows(a, k)
}

#[inline(always)]
fn normalise_rows(a: &mut [f32], k: usize) -> Vec<f32> {
    let mut log_norm = vec![0.0; a.len() / k.max(1)];
    for (row, out) in a.chunks_exact_mut(k.max(1)).zip(log_norm.iter_mut()) {
        *out = normalise_row(row);
    }
    log_norm
}

/// Independent accumulators per row in [`responsibilities_in_place`].
pub const LANES: usize = 8;

/// One row of [`responsibilities_in_place`]; returns its `log p`. Lane `j` takes the
/// row's terms `j, j + LANES, …`.
#[inline(always)]
fn normalise_row(row: &mut [f32]) -> f32 {
    let floor = crate::mixture::NEGLIGIBLE_LOG_RATIO as f32;
    // The same exponential of the floor, so that a floored term is exactly 0.
    let tiny = exp_reduced(floor);
    // Comparisons written so that a NaN passes through (`f32::max` would drop it).
    let term = |v: f32, max: f32| {
        let d = v - max;
        let e = exp_reduced(if d < floor { floor } else { d }) - tiny;
        if e < 0.0 { 0.0 } else { e }
    };
    let (body, tail) = row.as_chunks_mut::<LANES>();
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for chunk in body.iter() {
        for j in 0..LANES {
            lanes[j] = lanes[j].max(chunk[j]);
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        lanes[j] = lanes[j].max(v);
    }
    let max = lanes.into_iter().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = [0.0f32; LANES];
    for chunk in body.iter_mut() {
        for j in 0..LANES {
            chunk[j] = term(chunk[j], max);
            sum[j] += chunk[j];
        }
    }
    for (j, v) in tail.iter_mut().enumerate() {
        *v = term(*v, max);
        sum[j] += *v;
    }
    let total = sum.into_iter().fold(0.0, |s, v| s + v);
    row.iter_mut().for_each(|v| *v /= total);
    total.ln() + max
}

/// `exp(x)` for `x` in `[ln 1e-30, 0]` (Cephes' `expf`: `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`,
/// `e^r` by a degree-7 polynomial, `2^n` put into the exponent bits); within 2 ulp of the
/// correctly rounded value there (`tests::exp_reduced_is_within_2_ulp`). NaN stays NaN.
#[inline(always)]
pub fn exp_reduced(x: f32) -> f32 {
    // 1.5 · 2^23: adding it rounds to an integer n (ties to even) and leaves n in the low
    // mantissa bits, without a library call or a float-to-int conversion.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4_f32;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let y = p * r * r + r + 1.0;
    // 2^n = the bits (n + 127) << 23; n is in [-100, 0] here, so 2^n is a normal f32. The
    // low 9 bits of t's pattern are those of n (ROUND's are 0), the rest shift out.
    y * f32::from_bits(t.to_bits().wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_reduced_is_within_2_ulp() {
        let ulp = |v: f32| f32::from_bits(v.to_bits() + 1) - v;
        let mut worst = 0.0f64;
        for i in 0..=1_000_000 {
            let x = crate::mixture::NEGLIGIBLE_LOG_RATIO as f32 * i as f32 / 1e6;
            let want = (x as f64).exp();
            let err = ((exp_reduced(x) as f64 - want) / ulp(want as f32) as f64).abs();
            worst = worst.max(err);
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(exp_reduced(0.0), 1.0);
        assert!(exp_reduced(f32::NAN).is_nan());
    }

    #[test]
    fn responsibilities_in_place_match_f64_softmax() {
        // K = 11 (a body of 8 and a tail of 3), rows spanning tens of nats, one term far
        // below its row's maximum (floored to exactly 0).
        let k = 11;
        let mut a: Vec<f32> =
            (0..5 * k).map(|i| -300.0 + ((i * 37 % 23) as f32) * 1.7 - (i % k) as f32).collect();
        a[3] = a[0] - 200.0;
        let rows: Vec<Vec<f64>> =
            a.chunks(k).map(|r| r.iter().map(|&v| v as f64).collect()).collect();
        let log_norm = responsibilities_in_place(&mut a, k);
        for (n, row) in rows.iter().enumerate() {
            let want = softmax(row);
            for c in 0..k {
                let got = a[n * k + c] as f64;
                assert!(
                    (got - want[c]).abs() <= 1e-6 * want[c].max(1e-30),
                    "r[{n},{c}] {got} vs {}",
                    want[c]
                );
            }
            let lse = log_sum_exp(row);
            assert!((log_norm[n] as f64 - lse).abs() < 1e-4, "log p {} vs {lse}", log_norm[n]);
            let s: f64 = a[n * k..(n + 1) * k].iter().map(|&v| v as f64).sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        assert_eq!(a[3], 0.0);
        // A NaN or an all −∞ row is reported as NaN, not hidden.
        let mut bad =
            vec![0.0, f32::NAN, 1.0, f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
        let log_norm = responsibilities_in_place(&mut bad, 3);
        assert!(log_norm.iter().all(|v| v.is_nan()) && bad.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn log_sum_exp_and_softmax_match_direct_sums() {
        let a = [-1.0, -2.0, -3.0];
        let direct: f64 = a.iter().map(|v: &f64| v.exp()).sum();
        assert!((log_sum_exp(&a) - direct.ln()).abs() < 1e-15);
        let p = softmax(&a);
        for (p, v) in p.iter().zip(a) {
            assert!((p - v.exp() / direct).abs() < 1e-15);
        }
        // Far outside exp's range, still exact.
        assert!((log_sum_exp(&[-1e6, -1e6]) - (-1e6 + 2f64.ln())).abs() < 1e-9);
        assert_eq!(softmax(&[-1e6, -2e3]), vec![0.0, 1.0]);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    }
}
