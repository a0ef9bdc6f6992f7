//! The diagonal covariance types' host loops ([`super::diagonal`]), compiled for AVX-512 or
//! AVX2 with FMA where the CPU has them and for the baseline elsewhere: the same operations in
//! the same order either way (every multiply-add fused: `f32::mul_add` is one correctly rounded
//! operation on any CPU), so the same figures on any CPU and any thread count.

use super::model::RESP_FLOOR;

/// Partial sums of [`block_distances`]: four AVX-512 registers' worth of f32. Rows and factors
/// are padded with zeros to whole blocks of `LANES`.
pub(crate) const LANES: usize = 32;

/// Rows whose distances are computed together: each component's factors are loaded once for
/// `ROWS` rows (from L2 at MNIST's 32 × 800 factors, where loading them for every row was the
/// bound), and the `ROWS · LANES` partial sums stay in registers.
pub(crate) const ROWS: usize = 4;

/// Lane `l`'s partial sums added as a tree: four registers into one, then its eight lanes by
/// halves (one running sum of 32 lanes would be a chain of dependent adds).
#[inline(always)]
fn lanes_total(acc: &[f32; LANES]) -> f32 {
    let mut r = [0f32; 8];
    for l in 0..8 {
        r[l] = (acc[l] + acc[l + 8]) + (acc[l + 16] + acc[l + 24]);
    }
    let q = [r[0] + r[4], r[1] + r[5], r[2] + r[6], r[3] + r[7]];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// `out[r·K + c] = Σ_i (x_ri p_ci − s_ci)²` for the [`ROWS`] padded rows `x` (`[ROWS·w]`, `w`
/// a multiple of [`LANES`]) and every component `c` (`p`, `s`: `[K·w]`). Row `r`'s sum for
/// `c` runs in [`LANES`] interleaved partial sums (lane `l` takes the `i ≡ l` mod `LANES`),
/// `t = fma(x, p, −s)`, `acc = fma(t, t, acc)`, added by [`lanes_total`]: a row's figures do
/// not depend on the rows beside it.
#[inline(always)]
fn block_distances(x: &[f32], p: &[f32], s: &[f32], out: &mut [f32]) {
    let w = x.len() / ROWS;
    let k = out.len() / ROWS;
    for c in 0..k {
        let (pc, sc) = (&p[c * w..(c + 1) * w], &s[c * w..(c + 1) * w]);
        let mut acc = [[0f32; LANES]; ROWS];
        for j in (0..w).step_by(LANES) {
            let pj: &[f32; LANES] = pc[j..j + LANES].try_into().expect("padded factors");
            let sj: &[f32; LANES] = sc[j..j + LANES].try_into().expect("padded factors");
            for (r, acc) in acc.iter_mut().enumerate() {
                let xj: &[f32; LANES] =
                    x[r * w + j..r * w + j + LANES].try_into().expect("padded rows");
                for l in 0..LANES {
                    let t = xj[l].mul_add(pj[l], -sj[l]);
                    acc[l] = t.mul_add(t, acc[l]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            out[r * k + c] = lanes_total(acc);
        }
    }
}

/// Bytes of rows that [`group_sums`] takes at a time (a core's L2 holds them while each of
/// the group's components sums its rows among them).
const SUM_BYTES: usize = 1 << 18;

/// For each component `j` of a group: `(N_c, Σ r (x − m_c), Σ r (x − m_c)²)` in f64 over its
/// `(row, r)` pairs `pairs[j]` (rows of `xs`, `[N·D]`, whose responsibility is at least
/// [`RESP_FLOOR`]; `means`: the group's `[G·D]`), each component's rows in row order. The
/// rows are taken [`SUM_BYTES`] at a time and every component of the group sums its own among
/// them: one component's rows scattered over all of `xs` were a cache miss each.
#[inline(always)]
fn group_sums(
    xs: &[f32],
    pairs: &[Vec<(u32, f32)>],
    means: &[f64],
) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
    let d = means.len() / pairs.len().max(1);
    let n = xs.len() / d.max(1);
    let step = (SUM_BYTES / (4 * d.max(1))).max(1);
    let mut out: Vec<_> = pairs.iter().map(|_| (0.0, vec![0.0; d], vec![0.0; d])).collect();
    let mut next = vec![0; pairs.len()];
    for end in (step..n + step).step_by(step) {
        for (j, (nc, first, second)) in out.iter_mut().enumerate() {
            let (list, m) = (&pairs[j], &means[j * d..(j + 1) * d]);
            let (first, second) = (first.as_mut_slice(), second.as_mut_slice());
            while let Some(&(row, rc)) = list.get(next[j]).filter(|p| (p.0 as usize) < end) {
                let (row, rc) = (row as usize, rc as f64);
                *nc += rc;
                let terms = xs[row * d..(row + 1) * d].iter().zip(m);
                for ((&x, m), (f, s)) in terms.zip(first.iter_mut().zip(second.iter_mut())) {
                    let y = x as f64 - m;
                    *f += rc * y;
                    *s += rc * y * y;
                }
                next[j] += 1;
            }
        }
    }
    out
}

/// What [`block_distances`] computes, for this CPU.
pub(crate) type BlockDistances = fn(&[f32], &[f32], &[f32], &mut [f32]);
/// What [`group_sums`] computes, for this CPU.
pub(crate) type GroupSums =
    fn(&[f32], &[Vec<(u32, f32)>], &[f64]) -> Vec<(f64, Vec<f64>, Vec<f64>)>;

/// [`block_distances`] compiled for this CPU (AVX-512, else AVX2 with FMA, else the
/// baseline).
pub(crate) fn distances_for_cpu() -> BlockDistances {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return avx512::distances;
        }
        if avx2_fma() {
            return avx2::distances;
        }
    }
    block_distances
}

/// Whether this x86 CPU has AVX2 and FMA (every AVX2 CPU made has both; they are two flags).
#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// [`group_sums`] compiled for this CPU (AVX-512, else AVX2 with FMA, else the baseline).
pub(crate) fn group_sums_for_cpu() -> GroupSums {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return avx512::group_sums;
        }
        if avx2_fma() {
            return avx2::group_sums;
        }
    }
    group_sums
}

/// The kernels compiled with x86 features enabled (`$feature`: their registers and fused
/// multiply-adds), the same operations in the same order; handed out only where the CPU has
/// the features.
macro_rules! compiled_for {
    ($module:ident, $feature:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            pub(super) fn distances(x: &[f32], p: &[f32], s: &[f32], out: &mut [f32]) {
                #[target_feature(enable = $feature)]
                unsafe fn compiled(x: &[f32], p: &[f32], s: &[f32], out: &mut [f32]) {
                    super::block_distances(x, p, s, out)
                }
                // SAFETY: `distances_for_cpu` hands this function out only where the CPU has it.
                unsafe { compiled(x, p, s, out) }
            }

            pub(super) fn group_sums(
                xs: &[f32],
                pairs: &[Vec<(u32, f32)>],
                means: &[f64],
            ) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
                #[target_feature(enable = $feature)]
                unsafe fn compiled(
                    xs: &[f32],
                    pairs: &[Vec<(u32, f32)>],
                    means: &[f64],
                ) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
                    super::group_sums(xs, pairs, means)
                }
                // SAFETY: `group_sums_for_cpu` hands this function out only where the CPU has
                // it.
                unsafe { compiled(xs, pairs, means) }
            }
        }
    };
}

compiled_for!(avx2, "avx2,fma");
compiled_for!(avx512, "avx512f");

/// Rows per task of [`pairs_by_component`].
const PAIR_ROWS: usize = 4096;

/// Each component's `(row, r)` pairs of the responsibilities `r` (`[N·K]` row-major) that are
/// not below [`RESP_FLOOR`], in row order: tasks of [`PAIR_ROWS`] rows, joined in order.
pub(crate) fn pairs_by_component(r: &[f32], k: usize) -> Vec<Vec<(u32, f32)>> {
    use rayon::prelude::*;
    let parts: Vec<Vec<Vec<(u32, f32)>>> = r
        .par_chunks(PAIR_ROWS * k)
        .enumerate()
        .map(|(t, r)| {
            let mut lists = vec![Vec::new(); k];
            for (i, row) in r.chunks(k).enumerate() {
                let row_index = (t * PAIR_ROWS + i) as u32;
                for (list, &v) in lists.iter_mut().zip(row) {
                    // `!(v < floor)`, not `v >= floor`: a NaN responsibility is kept (and
                    // reported by the M-step), as the sums always did.
                    if !(v < RESP_FLOOR) {
                        list.push((row_index, v));
                    }
                }
            }
            lists
        })
        .collect();
    (0..k)
        .into_par_iter()
        .map(|c| parts.iter().flat_map(|p| p[c].iter().copied()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every compiled form against a float64 sum, and equal to each other bit for bit; a row's
    /// distances do not depend on the rows computed beside it.
    #[test]
    fn distances_match_a_float64_sum_on_every_form() {
        let (k, w) = (5, 2 * LANES);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0..2.0)).collect() };
        let (x, p, s) = (draw(ROWS * w), draw(k * w), draw(k * w));
        let mut out = vec![0.0; ROWS * k];
        block_distances(&x, &p, &s, &mut out);
        for (r, c) in (0..ROWS).flat_map(|r| (0..k).map(move |c| (r, c))) {
            let exact: f64 = (0..w)
                .map(|i| (x[r * w + i] as f64 * p[c * w + i] as f64 - s[c * w + i] as f64).powi(2))
                .sum();
            assert!((out[r * k + c] as f64 - exact).abs() <= 1e-5 * exact.max(1.0));
        }
        let mut for_cpu = vec![0.0; ROWS * k];
        distances_for_cpu()(&x, &p, &s, &mut for_cpu);
        assert_eq!(for_cpu, out);
        // Row 0 beside other rows: the same figures.
        let mut other = draw(ROWS * w);
        other[..w].copy_from_slice(&x[..w]);
        block_distances(&other, &p, &s, &mut for_cpu);
        assert_eq!(for_cpu[..k], out[..k]);
    }

    /// The statistics do not depend on how the components are grouped, bit for bit, and equal
    /// one component's f64 sums over its rows in row order.
    #[test]
    fn sums_do_not_depend_on_the_grouping() {
        let (n, k, d) = (3000, 6, 7);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-0.5..0.5)).collect();
        let mut r: Vec<f32> = (0..n * k).map(|_| rng.random::<f32>().powi(8)).collect();
        r.iter_mut().step_by(5).for_each(|v| *v = 1e-9); // below the floor
        let pairs = pairs_by_component(&r, k);
        let whole = group_sums(&xs, &pairs, &means);
        for group in [1, 4] {
            let grouped: Vec<_> = pairs
                .chunks(group)
                .zip(means.chunks(group * d))
                .flat_map(|(p, m)| group_sums_for_cpu()(&xs, p, m))
                .collect();
            assert_eq!(grouped, whole);
        }
        for (c, (nc, first, second)) in whole.iter().enumerate() {
            let (mut n_c, mut f, mut s) = (0.0, vec![0.0; d], vec![0.0; d]);
            for row in (0..n).filter(|&row| r[row * k + c] >= RESP_FLOOR) {
                let rc = r[row * k + c] as f64;
                n_c += rc;
                for i in 0..d {
                    let y = xs[row * d + i] as f64 - means[c * d + i];
                    f[i] += rc * y;
                    s[i] += rc * y * y;
                }
            }
            assert_eq!((*nc, first, second), (n_c, &f, &s));
        }
    }
}
