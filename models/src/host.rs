//! Host versions of the mixture's normalisations, for code that has read per-component values
//! back: one log-sum-exp (with its log-mean-exp) and one softmax (f64) for the whole workspace,
//! the E-step's responsibilities of a CPU batch (f32, one pass per row), and the register
//! clean-up that host code needs after a gemm product.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `log Σ_i exp(a_i)`, shifted by the largest term; `−∞` when every term is (or there are none).
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + a.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `log((1/n) Σ_i exp(a_i)) = log_sum_exp(a) − log n`: the log of a mean of densities given
/// their logs (a model averaged over `n` transforms of its input, or `n` equal-weight members).
pub fn log_mean_exp(a: &[f64]) -> f64 {
    log_sum_exp(a) - (a.len() as f64).ln()
}

/// `exp(a_c − max) / Σ_c' exp(a_c' − max)`: weights `π_c` from log-weights or logits,
/// posteriors from joint log-probabilities.
pub fn softmax(a: &[f64]) -> Vec<f64> {
    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = a.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.into_iter().map(|v| v / total).collect()
}

/// One draw of an index with probability `weights[i] / total` (`total = Σ weights`): a uniform
/// number in `[0, total)` walked down the weights; rounding past the end picks the last index.
pub fn categorical(weights: &[f64], total: f64, rng: &mut ChaCha8Rng) -> usize {
    let mut u = rng.random::<f64>() * total;
    weights
        .iter()
        .position(|&w| {
            u -= w;
            u < 0.0
        })
        .unwrap_or(weights.len() - 1)
}

/// `log π` of the kept components, renormalised: `log π_c - log Σ_{c' kept} π_c'`.
pub fn renormalised_log_weights(log_weights: &[f64], keep: &[usize]) -> Vec<f64> {
    let kept: Vec<f64> = keep.iter().map(|&c| log_weights[c]).collect();
    let log_total = log_sum_exp(&kept);
    kept.iter().map(|v| v - log_total).collect()
}

/// Clears the upper halves of the vector registers (`vzeroupper`) after a gemm product (faer's
/// or burn-flex's, AVX-512 on this project's machine), which returns with them dirty. Until
/// they are cleared, every instruction of code compiled for baseline x86-64 (SSE) in that
/// thread waits on them: measured here, 4,128 logarithms and divisions (a host version of the
/// conv layer's affine map) took 0.77 ms after a product instead of 0.04 ms. A no-op on CPUs
/// without AVX.
#[inline]
pub fn clean_upper_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above).
        unsafe { std::arch::x86_64::_mm256_zeroupper() }
    }
}

/// [`crate::mixture::responsibilities`] of a CPU batch, in place, in blocks of rows that stay
/// in L1 (`normalise_rows`) instead of one Burn operation, with its own `[N, K]` buffer, per
/// step:
/// each row `a[n, ·]` of the weighted log-probabilities becomes `r[n,c] = e[n,c] / Σ_c' e[n,c']`
/// with `e[n,c] = max(exp(max(a[n,c] − m_n, ln 1e-30)) − 1e-30, 0)`, `m_n = max_c a[n,c]`,
/// and the returned `log p(x_n) = m_n + log Σ_c' e[n,c']`.
///
/// The loops are written in [`LANES`] independent lanes (the maximum, the sum) and the
/// exponential as [`exp_reduced`], without branches or library calls, so that the compiler
/// vectorises them, compiled for AVX-512 or AVX2 where the CPU has them (checked at run time,
/// as gemm's kernels are). The arithmetic is the same on every CPU: the lanes fix the summation
/// order, and no step is fused (no FMA). A row with a NaN, or whose terms are all `−∞`, becomes NaN
/// (so the E-step reports it).
///
/// # Shapes
/// - `a`: `N·K` values, row-major; result: `N` values.
pub fn responsibilities_in_place(a: &mut [f32], k: usize) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { normalise_rows_avx512(a, k) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { normalise_rows_avx2(a, k) };
        }
    }
    normalise_rows(a, k)
}

/// [`normalise_rows`] compiled for AVX-512 (LLVM keeps to 8-wide registers, but uses the
/// extra registers and instructions: about 10 % faster than AVX2 on this project's machine).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn normalise_rows_avx512(a: &mut [f32], k: usize) -> Vec<f32> {
    normalise_rows(a, k)
}

/// [`normalise_rows`] compiled for AVX2: 8 lanes are one register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn normalise_rows_avx2(a: &mut [f32], k: usize) -> Vec<f32> {
    normalise_rows(a, k)
}

/// Values per block of [`normalise_rows`]: 16 KiB, which stays in L1 between its passes.
const BLOCK: usize = 4096;

/// [`responsibilities_in_place`] in blocks of whole rows (at least one row), each in three
/// passes: every row's maximum subtracted; the floored exponential of every value, as one flat
/// loop (no per-row overhead, the constants stay in registers); every row's sum, division and
/// `log p`.
#[inline(always)]
fn normalise_rows(a: &mut [f32], k: usize) -> Vec<f32> {
    let k = k.max(1);
    let mut log_norm = vec![0.0; a.len() / k];
    let rows_per_block = (BLOCK / k).max(1);
    for (block, out) in a.chunks_mut(rows_per_block * k).zip(log_norm.chunks_mut(rows_per_block)) {
        for (row, max) in block.chunks_exact_mut(k).zip(out.iter_mut()) {
            *max = subtract_max(row);
        }
        floored_exp(block);
        for (row, log_p) in block.chunks_exact_mut(k).zip(out.iter_mut()) {
            let total = lane_sum(row);
            row.iter_mut().for_each(|v| *v /= total);
            *log_p += total.ln();
        }
    }
    log_norm
}

/// `ln(1e-30)`: a term of a row this far below the row's largest counts as zero in
/// [`crate::responsibilities`].
pub const NEGLIGIBLE_LOG_RATIO: f64 = -69.0776;

/// The log-ratio below which a term is 0: `ln 1e-30`.
const FLOOR: f32 = NEGLIGIBLE_LOG_RATIO as f32;

/// `v ← max(exp(max(v, FLOOR)) − exp(FLOOR), 0)` for every value: the same exponential of the
/// floor, so that a floored term is exactly 0. Comparisons written so that a NaN passes
/// through (`f32::max` would drop it).
#[inline(always)]
fn floored_exp(block: &mut [f32]) {
    let tiny = exp_reduced(FLOOR);
    for v in block.iter_mut() {
        let e = exp_reduced(if *v < FLOOR { FLOOR } else { *v }) - tiny;
        *v = if e < 0.0 { 0.0 } else { e };
    }
}

/// Independent accumulators per row in [`responsibilities_in_place`].
pub const LANES: usize = 8;

/// `row − max(row)`, in place; returns the maximum. Lane `j` takes the row's terms
/// `j, j + LANES, …`. A NaN is not the maximum; it stays in its place (and makes its row NaN).
#[inline(always)]
fn subtract_max(row: &mut [f32]) -> f32 {
    let (body, tail) = row.as_chunks_mut::<LANES>();
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for chunk in body.iter() {
        for j in 0..LANES {
            lanes[j] = greater(lanes[j], chunk[j]);
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        lanes[j] = greater(lanes[j], v);
    }
    let max = lanes.into_iter().fold(f32::NEG_INFINITY, greater);
    row.iter_mut().for_each(|v| *v -= max);
    max
}

/// The larger of `a` and `b`, one `maxps` (`f32::max` adds a NaN test and a blend). A NaN `b`
/// may be skipped: it still makes its row NaN in the exponential pass.
#[inline(always)]
fn greater(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// `Σ row`, in [`LANES`] lanes (lane `j` takes the terms `j, j + LANES, …`), then the lanes in
/// order: a summation order that is the same on every CPU.
#[inline(always)]
fn lane_sum(row: &[f32]) -> f32 {
    let (body, tail) = row.as_chunks::<LANES>();
    let mut sum = [0.0f32; LANES];
    for chunk in body.iter() {
        for j in 0..LANES {
            sum[j] += chunk[j];
        }
    }
    for (j, &v) in tail.iter().enumerate() {
        sum[j] += v;
    }
    sum.into_iter().fold(0.0, |s, v| s + v)
}

/// 1.5 · 2^23: adding it rounds to an integer n (ties to even) and leaves n in the low
/// mantissa bits, without a library call or a float-to-int conversion.
const ROUND: f32 = 12_582_912.0;
/// `ln 2` in two parts (Cephes' `C1`, `C2`): `n · LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes' `expf` polynomial, highest degree first: `e^r ≈ 1 + r + r² p(r)`. Its last
/// coefficient is Cephes' 5.0000001201e-1, which is 0.5 in f32.
const EXP_POLY: [f32; 6] =
    [1.987_569_2e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5];

/// `exp(x)` for `x` in `[ln 1e-30, 0]` (Cephes' `expf`: `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`,
/// `e^r` by a degree-7 polynomial, `2^n` put into the exponent bits); within 2 ulp of the
/// correctly rounded value there (`tests::exp_reduced_is_within_2_ulp`). NaN stays NaN.
#[inline(always)]
pub fn exp_reduced(x: f32) -> f32 {
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for coef in &EXP_POLY[1..] {
        p = p * r + coef;
    }
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
            let x = NEGLIGIBLE_LOG_RATIO as f32 * i as f32 / 1e6;
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
    fn every_instruction_set_and_block_split_gives_the_same_bits() {
        // Rows that straddle blocks (K = 11: 372 rows per block) and rows longer than a block
        // (K = 5000: one row per block); the dispatched path (AVX-512 or AVX2 where the CPU
        // has them) against the portable one, and each row alone.
        for (k, n) in [(11, 1000), (5000, 3)] {
            let a: Vec<f32> =
                (0..n * k).map(|i| -50.0 + ((i * 7919 % 1009) as f32) * 0.083).collect();
            let (mut fast, mut portable) = (a.clone(), a.clone());
            let log_fast = responsibilities_in_place(&mut fast, k);
            let log_portable = normalise_rows(&mut portable, k);
            assert!(fast.iter().zip(&portable).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(log_fast.iter().zip(&log_portable).all(|(x, y)| x.to_bits() == y.to_bits()));
            for row in [0, n / 2, n - 1] {
                let mut alone = a[row * k..(row + 1) * k].to_vec();
                let log_alone = responsibilities_in_place(&mut alone, k);
                assert_eq!(log_alone[0].to_bits(), log_fast[row].to_bits());
                assert!(
                    alone.iter().zip(&fast[row * k..]).all(|(x, y)| x.to_bits() == y.to_bits())
                );
            }
        }
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
        assert!((log_mean_exp(&a) - (direct / a.len() as f64).ln()).abs() < 1e-15);
    }
}
