//! The symmetries of a square patch acting on rows, for a density averaged over them:
//!
//! ```text
//! q(x) = (1/|G|) Σ_{g ∈ G} p(g·x)
//! ```
//!
//! with `G` the patch's left–right mirror (2 elements) or the square's eight symmetries
//! ([`Augment`]). Every `g` is linear and its determinant is ±1, so `q` is a density whenever
//! `p` is: it is the mixture of `|G|` copies of the model, each seeing the patches turned or
//! mirrored (a mixture of GMMs is a GMM; of deep GMMs, a deep GMM with a bottom layer of `|G|`
//! fixed linear nodes). A model that has learnt the images' statistics in one orientation
//! gives a second opinion in each of the others.
//!
//! Two row layouts are square patches of side `s`:
//! - `s²` values: the patch, row-major; `g` permutes them.
//! - `s² − 1` values: a zero-mean patch without its last pixel, the BSDS300 benchmark's rows.
//!   The last pixel is minus the sum of the others; `g` permutes the whole patch, and the
//!   result drops its last pixel again. The map is linear in the `s² − 1` values, and its
//!   determinant is ±1: written in the values kept, it is a permutation, or (where `g` moves
//!   another pixel into the last place) a permutation and one row `−1ᵀ`.

use crate::DataError;
use serde::{Deserialize, Serialize};

/// A group of symmetries of the square patch. In training (`[data] augment`), each drawn BSDS300
/// patch is mapped by one of its elements, chosen uniformly, before its noise and
/// [`crate::bsds300::transform`] — the same as drawing from the images and their mirrored or
/// rotated copies (the benchmark's own protocol is [`Augment::None`]; a test split is never
/// augmented). In scoring (`--symmetry`), the group a model is averaged over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// The patches as drawn.
    #[default]
    None,
    /// The patch or its left–right mirror image (2 elements).
    Mirror,
    /// The eight symmetries of the square: four rotations, each with and without the mirror.
    Dihedral,
}

impl Augment {
    /// Whether the patches are taken as drawn.
    pub fn is_none(&self) -> bool {
        *self == Augment::None
    }

    /// The name a config gives it.
    pub fn name(self) -> &'static str {
        match self {
            Augment::None => "none",
            Augment::Mirror => "mirror",
            Augment::Dihedral => "dihedral",
        }
    }

    /// The group's order: how many patches one drawn patch stands for.
    pub fn order(self) -> usize {
        match self {
            Augment::None => 1,
            Augment::Mirror => 2,
            Augment::Dihedral => 8,
        }
    }
}

/// Where pixel `(r, c)` of a patch mapped by element `t` (< 8) of the square's symmetry group
/// takes its value from, in a patch of side `m + 1`: identity, `(r, m−c)` (mirror), `(m−r, c)`,
/// `(m−r, m−c)` (half turn), `(c, r)` (transpose), `(m−c, r)`, `(c, m−r)` (quarter turns),
/// `(m−c, m−r)`. Elements 0 and 1 are [`Augment::Mirror`]'s.
pub fn source(r: usize, c: usize, m: usize, t: usize) -> (usize, usize) {
    match t {
        0 => (r, c),
        1 => (r, m - c),
        2 => (m - r, c),
        3 => (m - r, m - c),
        4 => (c, r),
        5 => (m - c, r),
        6 => (c, m - r),
        7 => (m - c, m - r),
        _ => panic!("symmetry {t} of a group of order 8"),
    }
}

/// How rows of `dims` values are square patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquareRows {
    /// The patch's side `s`.
    pub side: usize,
    /// Whether the rows drop the last pixel of a zero-mean patch (`s² − 1` values).
    pub dropped_last: bool,
}

impl SquareRows {
    /// The layout of rows of `dims` values; `None` where `dims` is neither `s²` nor `s² − 1`
    /// for a side `s ≥ 2`.
    pub fn of(dims: usize) -> Option<Self> {
        let side = (dims as f64 + 1.0).sqrt().round() as usize;
        match side {
            s if s >= 2 && s * s == dims => Some(Self { side: s, dropped_last: false }),
            s if s >= 2 && s * s == dims + 1 => Some(Self { side: s, dropped_last: true }),
            _ => None,
        }
    }

    /// Values per row.
    pub fn dims(&self) -> usize {
        self.side * self.side - usize::from(self.dropped_last)
    }

    /// `rows` (row-major, [`dims`](Self::dims) values each) mapped by element `t` of the
    /// square's symmetry group ([`source`]); a dropped last pixel is restored as minus the sum
    /// of the others (in f64) before the patch is mapped.
    pub fn map(&self, rows: &[f32], t: usize) -> Vec<f32> {
        let (s, dims) = (self.side, self.dims());
        let from: Vec<usize> = (0..dims)
            .map(|i| {
                let (r, c) = source(i / s, i % s, s - 1, t);
                r * s + c
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        let mut patch = vec![0f32; s * s];
        for row in rows.chunks_exact(dims) {
            patch[..dims].copy_from_slice(row);
            if self.dropped_last {
                patch[dims] = -row.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
            }
            out.extend(from.iter().map(|&i| patch[i]));
        }
        out
    }
}

/// The rows of `dims` values that `group`'s elements act on, or one sentence saying why not.
pub fn square_rows(dims: usize, group: Augment) -> Result<SquareRows, DataError> {
    SquareRows::of(dims).ok_or_else(|| {
        DataError::Request(format!(
            "symmetry \"{}\" needs rows that are square patches, s² values (row-major) or s² − 1 \
             (a zero-mean patch without its last pixel, as BSDS300's 63): rows of {dims} values \
             are neither",
            group.name()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `[dims, dims]` matrix of `t` on the rows (column j: the image of basis row j).
    fn matrix(layout: SquareRows, t: usize) -> Vec<Vec<f64>> {
        let d = layout.dims();
        let mut basis = vec![0f32; d * d];
        for j in 0..d {
            basis[j * d + j] = 1.0;
        }
        let images = layout.map(&basis, t);
        (0..d).map(|i| (0..d).map(|j| f64::from(images[j * d + i])).collect()).collect()
    }

    /// Determinant by Gaussian elimination with partial pivoting, in f64.
    fn det(mut a: Vec<Vec<f64>>) -> f64 {
        let n = a.len();
        let mut det = 1.0;
        for k in 0..n {
            let p = (k..n).max_by(|&i, &j| a[i][k].abs().total_cmp(&a[j][k].abs())).unwrap();
            if p != k {
                a.swap(p, k);
                det = -det;
            }
            det *= a[k][k];
            if a[k][k] == 0.0 {
                return 0.0;
            }
            for i in k + 1..n {
                let f = a[i][k] / a[k][k];
                for j in k..n {
                    a[i][j] -= f * a[k][j];
                }
            }
        }
        det
    }

    #[test]
    fn every_symmetry_keeps_volume_so_the_averaged_model_is_a_density() {
        for layout in [SquareRows::of(63).unwrap(), SquareRows::of(16).unwrap()] {
            for t in 0..8 {
                let d = det(matrix(layout, t));
                assert!((d.abs() - 1.0).abs() < 1e-9, "{layout:?} element {t}: det {d}");
            }
        }
    }

    #[test]
    fn a_zero_mean_row_maps_as_its_whole_patch_does() {
        let layout = SquareRows::of(63).unwrap();
        assert_eq!(layout, SquareRows { side: 8, dropped_last: true });
        // A zero-mean patch with distinct values, its last pixel dropped.
        let patch: Vec<f64> = (0..64).map(|i| (i * 37 % 64) as f64 - 31.5).collect();
        let row: Vec<f32> = patch[..63].iter().map(|&v| v as f32).collect();
        for t in 0..8 {
            let mapped = layout.map(&row, t);
            let whole = SquareRows::of(64)
                .unwrap()
                .map(&patch.iter().map(|&v| v as f32).collect::<Vec<_>>(), t);
            assert_eq!(mapped, whole[..63], "element {t}");
        }
        // The group closes: every element has an inverse among the eight.
        for t in 0..8 {
            let once = layout.map(&row, t);
            assert!((0..8).any(|u| layout.map(&once, u) == row), "element {t} has no inverse");
        }
    }

    #[test]
    fn rows_that_are_not_square_patches_are_refused_in_one_sentence() {
        assert_eq!(SquareRows::of(64), Some(SquareRows { side: 8, dropped_last: false }));
        assert_eq!(SquareRows::of(784).map(|l| l.side), Some(28));
        for dims in [1, 2, 5, 62, 65, 100 + 1] {
            assert_eq!(SquareRows::of(dims), None, "{dims}");
        }
        let e = square_rows(62, Augment::Dihedral).unwrap_err().to_string();
        assert!(e.contains("62") && e.contains("dihedral"), "{e}");
    }
}
