//! The diagonal covariance types' host loops ([`super::diagonal`]), compiled for AVX2 where the
//! CPU has it and for the baseline elsewhere: the same operations in the same order either way
//! (no fused multiply-add), so the same figures on any x86 CPU and any thread count.

use super::model::RESP_FLOOR;

/// Partial sums of [`lanes_distance`]: four AVX registers' worth of f32. Rows and factors are
/// padded with zeros to whole blocks of `LANES`.
pub(crate) const LANES: usize = 32;

/// `Σ_i (x_i p_i − s_i)²` in [`LANES`] interleaved partial sums (lane `l` takes the `i ≡ l`
/// mod `LANES`), added as a tree at the end. The order is fixed; and unlike one running sum (a
/// chain of dependent adds) the lanes become vector instructions.
#[inline(always)]
fn lanes_distance(x: &[f32], p: &[f32], s: &[f32]) -> f32 {
    let whole = x.len() / LANES * LANES;
    let mut acc = [0f32; LANES];
    let blocks =
        x[..whole].chunks_exact(LANES).zip(p.chunks_exact(LANES)).zip(s.chunks_exact(LANES));
    for ((x, p), s) in blocks {
        for l in 0..LANES {
            let t = x[l] * p[l] - s[l];
            acc[l] += t * t;
        }
    }
    let tail: f32 = (whole..x.len()).map(|i| (x[i] * p[i] - s[i]).powi(2)).sum();
    // Four registers into one, then its eight lanes by halves: one running sum of 32 lanes was
    // a chain of dependent adds as long as a row of 64 values.
    let mut r = [0f32; 8];
    for l in 0..8 {
        r[l] = (acc[l] + acc[l + 8]) + (acc[l + 16] + acc[l + 24]);
    }
    let q = [r[0] + r[4], r[1] + r[5], r[2] + r[6], r[3] + r[7]];
    ((q[0] + q[2]) + (q[1] + q[3])) + tail
}

/// `out[c] = Σ_i (x_i p_ci − s_ci)²` for every component `c` of one padded row `x` (`p`, `s`:
/// `[K·len(x)]`).
#[inline(always)]
fn distances(x: &[f32], p: &[f32], s: &[f32], out: &mut [f32]) {
    let w = x.len();
    for (c, v) in out.iter_mut().enumerate() {
        *v = lanes_distance(x, &p[c * w..(c + 1) * w], &s[c * w..(c + 1) * w]);
    }
}

/// One component `c`'s `(N_c, Σ r (x − m_c), Σ r (x − m_c)²)` in f64 over the rows `xs`
/// (`[N·D]`, `D = len(m)`) whose responsibility `r[n·K + c]` is at least [`RESP_FLOOR`].
#[inline(always)]
fn sums(xs: &[f32], r: &[f32], c: usize, k: usize, m: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let d = m.len();
    let (mut nc, mut first, mut second) = (0.0, vec![0.0; d], vec![0.0; d]);
    for (row, rc) in r.iter().skip(c).step_by(k).enumerate() {
        if *rc < RESP_FLOOR {
            continue;
        }
        let rc = *rc as f64;
        nc += rc;
        for (i, &x) in xs[row * d..(row + 1) * d].iter().enumerate() {
            let y = x as f64 - m[i];
            first[i] += rc * y;
            second[i] += rc * y * y;
        }
    }
    (nc, first, second)
}

/// What [`distances`] computes, for this CPU.
pub(crate) type RowDistances = fn(&[f32], &[f32], &[f32], &mut [f32]);
/// What [`sums`] computes, for this CPU.
pub(crate) type ComponentSums =
    fn(&[f32], &[f32], usize, usize, &[f64]) -> (f64, Vec<f64>, Vec<f64>);

/// [`distances`] compiled for this CPU (AVX-512, else AVX2, else the baseline).
pub(crate) fn row_distances() -> RowDistances {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return avx512::distances;
        }
        if std::is_x86_feature_detected!("avx2") {
            return avx2::distances;
        }
    }
    distances
}

/// [`sums`] compiled for this CPU (AVX-512, else AVX2, else the baseline).
pub(crate) fn component_sums() -> ComponentSums {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return avx512::sums;
        }
        if std::is_x86_feature_detected!("avx2") {
            return avx2::sums;
        }
    }
    sums
}

/// The kernels compiled with one x86 feature enabled: `$feature`'s registers, the same
/// operations in the same order; handed out only where the CPU has the feature.
macro_rules! compiled_for {
    ($module:ident, $feature:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            pub(super) fn distances(x: &[f32], p: &[f32], s: &[f32], out: &mut [f32]) {
                #[target_feature(enable = $feature)]
                unsafe fn compiled(x: &[f32], p: &[f32], s: &[f32], out: &mut [f32]) {
                    super::distances(x, p, s, out)
                }
                // SAFETY: `row_distances` hands this function out only where the CPU has it.
                unsafe { compiled(x, p, s, out) }
            }

            pub(super) fn sums(
                xs: &[f32],
                r: &[f32],
                c: usize,
                k: usize,
                m: &[f64],
            ) -> (f64, Vec<f64>, Vec<f64>) {
                #[target_feature(enable = $feature)]
                unsafe fn compiled(
                    xs: &[f32],
                    r: &[f32],
                    c: usize,
                    k: usize,
                    m: &[f64],
                ) -> (f64, Vec<f64>, Vec<f64>) {
                    super::sums(xs, r, c, k, m)
                }
                // SAFETY: `component_sums` hands this function out only where the CPU has it.
                unsafe { compiled(xs, r, c, k, m) }
            }
        }
    };
}

compiled_for!(avx2, "avx2");
compiled_for!(avx512, "avx512f");
