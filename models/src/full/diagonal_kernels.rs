//! The diagonal covariance types' host loops ([`super::host_distances`], [`super::diagonal`]),
//! compiled for AVX-512 or AVX2 with FMA where the CPU has them and for the baseline elsewhere
//! ([`for_cpu`]): the same operations in the same order either way (every multiply-add fused:
//! `f32::mul_add` is one correctly rounded operation on any CPU), so the same figures on any
//! CPU and any thread count.

use super::model::RESP_FLOOR;
use crate::lane_kernels::for_cpu;

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

/// `out[r·K + c] = Σ_i (x_ri p_ci − s_ci)²` for [`ROWS`] rows and every component `c` (`p`,
/// `s`: `[K·w]`, `w` a multiple of [`LANES`], zeros past the row's end). Row `r`'s first `m`
/// columns (`m` a multiple of [`LANES`]) are read in place at `x[r·stride..]`; its columns
/// `m..w` from `tail[r·LANES..]`, a copy padded with zeros (`w ≤ m + LANES`): the rows are
/// not copied whole. Row `r`'s sum for `c` runs in [`LANES`] interleaved partial sums (lane
/// `l` takes the `i ≡ l` mod `LANES`), `t = fma(x, p, −s)`, `acc = fma(t, t, acc)`, added by
/// [`lanes_total`]: a row's figures do not depend on the rows beside it, nor on where its
/// columns were read.
#[inline(always)]
fn block_distances(
    x: &[f32],
    stride: usize,
    m: usize,
    tail: &[f32],
    p: &[f32],
    s: &[f32],
    out: &mut [f32],
) {
    let k = out.len() / ROWS;
    let w = p.len() / k;
    debug_assert!(m % LANES == 0 && m <= w && w <= m + LANES);
    for c in 0..k {
        let (pc, sc) = (&p[c * w..(c + 1) * w], &s[c * w..(c + 1) * w]);
        let mut acc = [[0f32; LANES]; ROWS];
        for j in (0..m).step_by(LANES) {
            let rows = std::array::from_fn(|r| &x[r * stride + j..r * stride + j + LANES]);
            add_squares(&mut acc, rows, &pc[j..j + LANES], &sc[j..j + LANES]);
        }
        if w > m {
            let rows = std::array::from_fn(|r| &tail[r * LANES..(r + 1) * LANES]);
            add_squares(&mut acc, rows, &pc[m..], &sc[m..]);
        }
        for (r, acc) in acc.iter().enumerate() {
            out[r * k + c] = lanes_total(acc);
        }
    }
}

/// One [`LANES`]-wide column block of [`block_distances`]: `acc[r][l] += (x_rl p_l − s_l)²`.
#[inline(always)]
fn add_squares(acc: &mut [[f32; LANES]; ROWS], rows: [&[f32]; ROWS], p: &[f32], s: &[f32]) {
    // Copied, not borrowed: the compiler then keeps them in registers for the rows (borrowed,
    // it loaded them again for every row: 1.8× slower at MNIST's sizes).
    let pj: [f32; LANES] = p.try_into().expect("padded factors");
    let sj: [f32; LANES] = s.try_into().expect("padded factors");
    for (acc, x) in acc.iter_mut().zip(rows) {
        let xj: &[f32; LANES] = x.try_into().expect("whole lanes");
        for l in 0..LANES {
            let t = xj[l].mul_add(pj[l], -sj[l]);
            acc[l] = t.mul_add(t, acc[l]);
        }
    }
}

/// Partial sums of [`block_dots`] per row and component: one AVX-512 register of f32, so that
/// the 8 registers of two components' sums for [`ROWS`] rows stay in registers.
const DOT_LANES: usize = 16;

/// The spherical type's products ([`super::spherical`]) for up to [`ROWS`] rows `x` (`[R·D]`,
/// `R ≤ ROWS`): the centred rows `y = x − a` into `y` (`[ROWS·w]`, `w` a multiple of
/// [`LANES`], zeros past D as given; rows past R set to zeros), their `‖y‖²` (f64, 8
/// interleaved partial sums) returned, and `out[r·K + c] = Σ_i y_ri m_ci` for every component
/// `c` (`a`: `[D]`; `m`: `[K·w]`). One fused multiply-add per number; components go two at a
/// time (each load of `y` serves two components); row `r`'s sum for `c` runs in
/// [`DOT_LANES`] interleaved partial sums, `acc = fma(y, m, acc)`, added as a tree: the
/// figures do not depend on the rows or components beside them.
#[inline(always)]
fn block_dots(x: &[f32], a: &[f32], y: &mut [f32], m: &[f32], out: &mut [f32]) -> [f64; ROWS] {
    let (d, w) = (a.len(), y.len() / ROWS);
    let mut norms = [0.0f64; ROWS];
    for (r, norm) in norms.iter_mut().enumerate() {
        let yr = &mut y[r * w..(r + 1) * w];
        match x.get(r * d..(r + 1) * d) {
            Some(x) => yr.iter_mut().zip(x.iter().zip(a)).for_each(|(y, (x, a))| *y = x - a),
            None => yr.fill(0.0),
        }
        let mut acc = [0.0f64; 8];
        for chunk in yr.chunks_exact(8) {
            let chunk: &[f32; 8] = chunk.try_into().expect("whole registers");
            for l in 0..8 {
                acc[l] = (chunk[l] as f64).mul_add(chunk[l] as f64, acc[l]);
            }
        }
        *norm = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
    let k = out.len() / ROWS;
    let pairs = k / 2 * 2;
    for c in (0..pairs).step_by(2) {
        component_dots::<2>(y, &m[c * w..(c + 2) * w], c, out);
    }
    if pairs < k {
        component_dots::<1>(y, &m[pairs * w..], pairs, out);
    }
    norms
}

/// [`block_dots`] for the `C` components from `first` on (`m`: their `[C·w]`).
#[inline(always)]
fn component_dots<const C: usize>(y: &[f32], m: &[f32], first: usize, out: &mut [f32]) {
    let (w, k) = (m.len() / C, out.len() / ROWS);
    let mut acc = [[[0f32; DOT_LANES]; ROWS]; C];
    for j in (0..w).step_by(DOT_LANES) {
        let mj: [[f32; DOT_LANES]; C] =
            std::array::from_fn(|c| m[c * w + j..][..DOT_LANES].try_into().expect("padded"));
        for r in 0..ROWS {
            let yj: [f32; DOT_LANES] = y[r * w + j..][..DOT_LANES].try_into().expect("padded");
            for c in 0..C {
                for l in 0..DOT_LANES {
                    acc[c][r][l] = yj[l].mul_add(mj[c][l], acc[c][r][l]);
                }
            }
        }
    }
    for (c, acc) in acc.iter().enumerate() {
        for (r, v) in acc.iter().enumerate() {
            let q: [f32; 8] = std::array::from_fn(|l| v[l] + v[l + 8]);
            let q = [q[0] + q[4], q[1] + q[5], q[2] + q[6], q[3] + q[7]];
            out[r * k + first + c] = (q[0] + q[2]) + (q[1] + q[3]);
        }
    }
}

/// The width of a row padded with zeros to whole f64 registers in [`block_sums`] (a zero adds
/// 0: at D = 63 the scalar tail was half the work).
pub(crate) fn sum_width(d: usize) -> usize {
    d.div_ceil(8) * 8
}

/// One block of rows' `(N_c, Σ r (x − m_c), Σ r (x − m_c)²)` for all K components in f64,
/// added to `sums`, one buffer `[N_c: K | first: K·w | second: K·w]` with `w = `[`sum_width`]`(D)`
/// (zeros past D): the rows `xs` (`[B·D]`) in order, each converted to f64 once and added to
/// every component whose responsibility `r[b·K + c]` is at least [`RESP_FLOOR`] (`means`:
/// `[K·w]`, padded with zeros likewise).
#[inline(always)]
fn block_sums(xs: &[f32], r: &[f32], d: usize, means: &[f64], sums: &mut [f64]) {
    let w = sum_width(d);
    let k = means.len() / w;
    let (nc, moments) = sums.split_at_mut(k);
    let (first, second) = moments.split_at_mut(k * w);
    let mut row = vec![0.0f64; w];
    for (x, r) in xs.chunks_exact(d).zip(r.chunks_exact(k)) {
        row.iter_mut().zip(x).for_each(|(v, &x)| *v = x as f64);
        for (c, &rc) in r.iter().enumerate() {
            if rc < RESP_FLOOR {
                continue;
            }
            let rc = rc as f64;
            nc[c] += rc;
            let (m, f) = (&means[c * w..][..w], &mut first[c * w..][..w]);
            let s = &mut second[c * w..][..w];
            for (((&x, m), f), s) in row.iter().zip(m).zip(f.iter_mut()).zip(s.iter_mut()) {
                let y = x - m;
                *f += rc * y;
                *s += rc * y * y;
            }
        }
    }
}

/// What [`block_distances`] computes, for this CPU.
pub(crate) type BlockDistances = fn(&[f32], usize, usize, &[f32], &[f32], &[f32], &mut [f32]);
/// What [`block_dots`] computes, for this CPU.
pub(crate) type BlockDots = fn(&[f32], &[f32], &mut [f32], &[f32], &mut [f32]) -> [f64; ROWS];

for_cpu!(
    /// [`block_distances`] compiled for this CPU.
    distances_for_cpu,
    block_distances,
    (x: &[f32], stride: usize, m: usize, tail: &[f32], p: &[f32], s: &[f32], out: &mut [f32])
);

for_cpu!(
    /// [`block_dots`] compiled for this CPU.
    dots_for_cpu,
    block_dots,
    (x: &[f32], a: &[f32], y: &mut [f32], m: &[f32], out: &mut [f32]) -> [f64; ROWS]
);

for_cpu!(
    /// [`block_sums`] compiled for this CPU.
    block_sums_for_cpu,
    block_sums,
    (xs: &[f32], r: &[f32], d: usize, m: &[f64], sums: &mut [f64])
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every compiled form against a float64 sum, and equal to each other bit for bit; a row's
    /// distances do not depend on the rows computed beside it, nor on whether its columns are
    /// read in place with a padded tail or from a whole padded copy.
    #[test]
    fn distances_match_a_float64_sum_on_every_form() {
        let (k, d) = (5, 2 * LANES + 13);
        let (m, w) = (2 * LANES, 3 * LANES);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0..2.0)).collect() };
        let x = draw(ROWS * d);
        let pad = |v: &[f32], from: usize, to: usize| -> Vec<f32> {
            v.chunks(from).flat_map(|c| [c, &vec![0.0; to - from]].concat()).collect()
        };
        let (p, s) = (pad(&draw(k * d), d, w), pad(&draw(k * d), d, w));
        let tail: Vec<f32> = x.chunks(d).flat_map(|r| pad(&r[m..], d - m, LANES)).collect();
        let mut out = vec![0.0; ROWS * k];
        block_distances(&x, d, m, &tail, &p, &s, &mut out);
        for (r, c) in (0..ROWS).flat_map(|r| (0..k).map(move |c| (r, c))) {
            let exact: f64 = (0..d)
                .map(|i| (x[r * d + i] as f64 * p[c * w + i] as f64 - s[c * w + i] as f64).powi(2))
                .sum();
            assert!((out[r * k + c] as f64 - exact).abs() <= 1e-5 * exact.max(1.0));
        }
        let mut for_cpu = vec![0.0; ROWS * k];
        distances_for_cpu()(&x, d, m, &tail, &p, &s, &mut for_cpu);
        assert_eq!(for_cpu, out);
        // The rows copied whole, padded with zeros: the same figures.
        distances_for_cpu()(&pad(&x, d, w), w, w, &[], &p, &s, &mut for_cpu);
        assert_eq!(for_cpu, out);
        // Row 0 beside other rows: the same figures.
        let mut other = draw(ROWS * d);
        other[..d].copy_from_slice(&x[..d]);
        let tail: Vec<f32> = other.chunks(d).flat_map(|r| pad(&r[m..], d - m, LANES)).collect();
        block_distances(&other, d, m, &tail, &p, &s, &mut for_cpu);
        assert_eq!(for_cpu[..k], out[..k]);
    }

    /// The products of every compiled form against a float64 sum and equal to each other bit
    /// for bit, with an odd number of components (the last one alone).
    #[test]
    fn dots_match_a_float64_sum_on_every_form() {
        let (k, d) = (5, 2 * LANES + 7);
        let w = 3 * LANES;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-2.0..2.0)).collect() };
        let (x, a) = (draw((ROWS - 1) * d), draw(d));
        let m: Vec<f32> = draw(k * d).chunks(d).flat_map(|c| [c, &[0.0; 25]].concat()).collect();
        let (mut y, mut out) = (vec![0.0; ROWS * w], vec![0.0; ROWS * k]);
        let norms = block_dots(&x, &a, &mut y, &m, &mut out);
        for (r, c) in (0..ROWS).flat_map(|r| (0..k).map(move |c| (r, c))) {
            let yr = |i: usize| match r < ROWS - 1 {
                true => x[r * d + i] as f64 - a[i] as f64,
                false => 0.0, // past the rows given
            };
            let exact: f64 = (0..d).map(|i| yr(i) * m[c * w + i] as f64).sum();
            let scale: f64 = (0..d).map(|i| (yr(i) * m[c * w + i] as f64).abs()).sum();
            assert!((out[r * k + c] as f64 - exact).abs() <= 1e-6 * scale.max(1e-30));
            let norm: f64 = (0..d).map(|i| yr(i).powi(2)).sum();
            assert!((norms[r] - norm).abs() <= 1e-6 * norm.max(1e-30));
        }
        let (mut y2, mut for_cpu) = (vec![0.0; ROWS * w], vec![0.0; ROWS * k]);
        assert_eq!(dots_for_cpu()(&x, &a, &mut y2, &m, &mut for_cpu), norms);
        assert_eq!(for_cpu, out);
    }

    /// Each block's statistics equal one component's f64 sums over its rows in row order, on
    /// every compiled form.
    #[test]
    fn block_sums_match_each_components_own_sums() {
        let (n, k, d) = (3000, 6, 7);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let xs: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let means: Vec<f64> = (0..k * d).map(|_| rng.random_range(-0.5..0.5)).collect();
        let mut r: Vec<f32> = (0..n * k).map(|_| rng.random::<f32>().powi(8)).collect();
        r.iter_mut().step_by(5).for_each(|v| *v = 1e-9); // below the floor
        let w = sum_width(d);
        let padded: Vec<f64> = means.chunks(d).flat_map(|m| [m, &[0.0]].concat()).collect();
        assert_eq!(padded.len(), k * w);
        let mut sums = vec![0.0; k * (1 + 2 * w)];
        block_sums(&xs, &r, d, &padded, &mut sums);
        let mut for_cpu = vec![0.0; sums.len()];
        block_sums_for_cpu()(&xs, &r, d, &padded, &mut for_cpu);
        assert_eq!(for_cpu, sums);
        for c in 0..k {
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
            assert_eq!(sums[c], n_c);
            assert_eq!(sums[k + c * w..][..w], [f, vec![0.0]].concat());
            assert_eq!(sums[k + k * w + c * w..][..w], [s, vec![0.0]].concat());
        }
    }
}
