//! The beam search of `search.rs` on the host, for rows on a CPU device: the same scores,
//! layer by layer over blocks of rows small enough to stay in cache. Each layer's outputs
//! `W_j y + c_j` come from one product per block (the offsets ride along as a row of the
//! product, against a 1 carried in each row), are squared and summed while in cache, and only
//! the kept prefixes' outputs are copied on; each row's best prefixes are selected among its
//! own candidates (no `[rows, kept · N_l, D]` tensors, no sorts of whole rows).
//!
//! A prefix `q = (j_1, …, j_l)` of a row scores (search.rs)
//! `s(q) = log Σ_{p ⊃ q} π_p + Σ_{l' ≤ l} log|det W_{l',j_l'}| − ½ ‖y_l‖²`, in f32 as there;
//! the squares are summed in another order, so the scores agree to f32 rounding.

use super::quadratic::{dot, gemm};
use faer::{Accum, MatRef};
use rayon::prelude::*;

/// Rows searched together: layer 1's outputs of a block are `16 × N_1 · S` floats (0.8 MB for
/// 200 nodes over 63 dimensions), a later layer's `16 · beam · N_l · S`.
const BLOCK_ROWS: usize = 16;

/// The search's tables on the host (f32), laid out once per network ([`super::network`]).
#[derive(Debug, Clone)]
pub(crate) struct SearchTables {
    pub d: usize,
    pub nodes: Vec<usize>,
    /// Per layer l, `[S, N_l·S]` with `S` = D + 1 rounded up to 16 (whole vector registers):
    /// entry `(i, j·S + o) = (W_j)_{o i}` for `i, o < D`, row D holds `c_j` and a 1 at
    /// `(D, j·S + D)`, the rest zeros. A row `y` carries a 1 at entry D, so that one product
    /// `y [R, S] · maps[l]` gives every node's `W_j y + c_j`, again with a 1 at entry D.
    pub maps: Vec<Vec<f32>>,
    /// Per layer l, `log |det W_j|`, `[N_l]`.
    pub log_det: Vec<Vec<f32>>,
    /// Per layer l, the prefixes' log-weights, `[N_1 ⋯ N_l]`.
    pub prefix_log_weights: Vec<Vec<f32>>,
}

/// One block's kept prefixes (outputs `y` `[R·b, S]`, `Σ log|det W|` `[R·b]`, indices
/// `[R·b]`), the next ones, and a layer's outputs `[R·b·N_l, S]` and scores `[R·b·N_l]`: one
/// per worker, reused from block to block.
#[derive(Default)]
struct Scratch {
    y: Vec<f32>,
    log_det: Vec<f32>,
    index: Vec<i64>,
    next: (Vec<f32>, Vec<f32>, Vec<i64>),
    out: Vec<f32>,
    score: Vec<f32>,
}

impl SearchTables {
    /// The padded row length `S`.
    pub(crate) fn stride(d: usize) -> usize {
        (d + 1).next_multiple_of(16)
    }

    /// One layer's `maps` entry (the field's doc) from its nodes' `W_j` `[N_l, D, D]` and
    /// `c_j` `[N_l, D]` (f64, row-major).
    pub(crate) fn layer_map(w: &[f64], c: &[f64], d: usize) -> Vec<f32> {
        let (stride, nl) = (Self::stride(d), c.len() / d);
        let mut map = vec![0f32; stride * nl * stride];
        for j in 0..nl {
            for o in 0..d {
                for i in 0..d {
                    map[i * nl * stride + j * stride + o] = w[j * d * d + o * d + i] as f32;
                }
                map[d * nl * stride + j * stride + o] = c[j * d + o] as f32;
            }
            map[d * nl * stride + j * stride + d] = 1.0;
        }
        map
    }

    /// Whole paths per row the last layer scores: `min(beam, N_1 ⋯ N_{L−1}) · N_L`.
    pub(crate) fn reached_per_row(&self, beam: usize) -> usize {
        let mut kept = 1;
        for &nl in &self.nodes[..self.nodes.len() - 1] {
            kept = beam.min(kept * nl);
        }
        kept * self.nodes[self.nodes.len() - 1]
    }

    /// The paths the search reaches from each row of `x` (`[n, D]`) and their exact scores
    /// `log π_p + log N(x | p)`, `[n, C]` each (`search::reached_paths`). Blocks of rows in
    /// parallel; each row's result is its own.
    pub(crate) fn reached(&self, x: &[f32], beam: usize) -> (Vec<i64>, Vec<f32>) {
        let d = self.d;
        let c = self.reached_per_row(beam);
        let n = x.len() / d;
        let (mut paths, mut scores) = (vec![0i64; n * c], vec![0f32; n * c]);
        paths
            .par_chunks_mut(BLOCK_ROWS * c)
            .zip(scores.par_chunks_mut(BLOCK_ROWS * c))
            .zip(x.par_chunks(BLOCK_ROWS * d))
            .for_each_init(Scratch::default, |scratch, ((paths, scores), rows)| {
                self.block(rows, beam, scratch, paths, scores);
            });
        (paths, scores)
    }

    /// One block of rows `x` (`[R, D]`): the last layer's candidates into `paths`, `scores`.
    fn block(
        &self,
        x: &[f32],
        beam: usize,
        s: &mut Scratch,
        paths: &mut [i64],
        scores: &mut [f32],
    ) {
        let (d, stride) = (self.d, Self::stride(self.d));
        let rows = x.len() / d;
        s.y.clear();
        for row in x.chunks_exact(d) {
            s.y.extend_from_slice(row);
            s.y.push(1.0);
            s.y.extend(std::iter::repeat_n(0.0, stride - d - 1));
        }
        (s.log_det.clear(), s.index.clear());
        s.log_det.resize(rows, 0.0);
        s.index.resize(rows, 0);
        let (mut out, mut score) = (std::mem::take(&mut s.out), std::mem::take(&mut s.score));
        let mut b = 1;
        for (l, &nl) in self.nodes.iter().enumerate() {
            // out[(r·b + i)·N_l + j] = W_j y_(r,i) + c_j: the candidate (i, j) of row r.
            out.resize(rows * b * nl * stride, 0.0);
            gemm(
                &mut out,
                Accum::Replace,
                MatRef::from_row_major_slice(&s.y, rows * b, stride),
                MatRef::from_row_major_slice(&self.maps[l], stride, nl * stride),
            );
            score.resize(rows * b * nl, 0.0);
            let (ld, weights) = (&self.log_det[l], &self.prefix_log_weights[l]);
            let per_prefix = out.chunks_exact(nl * stride).zip(score.chunks_exact_mut(nl));
            for (prefix, (ys, scs)) in per_prefix.enumerate() {
                for (j, (y, sc)) in ys.chunks_exact(stride).zip(scs).enumerate() {
                    let candidate = s.index[prefix] * nl as i64 + j as i64;
                    // ‖y‖² without the carried 1.
                    *sc = weights[candidate as usize] + (s.log_det[prefix] + ld[j])
                        - (dot(y, y) - 1.0) * 0.5;
                }
            }
            if l + 1 == self.nodes.len() {
                let log_2pi = (2.0 * std::f64::consts::PI).ln();
                let constant = (0.5 * d as f64 * log_2pi) as f32;
                for (q, (p, sc)) in
                    paths.iter_mut().zip(scores.iter_mut()).enumerate().take(rows * b * nl)
                {
                    let (prefix, j) = (q / nl, q % nl);
                    *p = s.index[prefix] * nl as i64 + j as i64;
                    *sc = score[q] - constant;
                }
                (s.out, s.score) = (out, score);
                return;
            }
            b = self.keep(s, &out, &score, rows, b, nl, beam, l);
        }
    }

    /// Each row's `beam` best of its `b · N_l` candidates (best first, as `topk`), their
    /// outputs, log-determinants and indices into `s`; returns the new `b`.
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &self,
        s: &mut Scratch,
        out: &[f32],
        score: &[f32],
        rows: usize,
        b: usize,
        nl: usize,
        beam: usize,
        l: usize,
    ) -> usize {
        let stride = Self::stride(self.d);
        let width = b * nl;
        let keep = beam.min(width);
        let (mut y, mut log_det, mut index) = std::mem::take(&mut s.next);
        (y.clear(), log_det.clear(), index.clear());
        let mut order: Vec<usize> = Vec::with_capacity(width);
        for r in 0..rows {
            let row = &score[r * width..(r + 1) * width];
            order.clear();
            order.extend(0..width);
            let best_first = |a: &usize, c: &usize| row[*c].total_cmp(&row[*a]).then(a.cmp(c));
            if keep < width {
                order.select_nth_unstable_by(keep - 1, best_first);
            }
            order[..keep].sort_unstable_by(best_first);
            for &q in &order[..keep] {
                let (prefix, j) = (r * b + q / nl, q % nl);
                y.extend_from_slice(&out[(r * width + q) * stride..(r * width + q + 1) * stride]);
                log_det.push(s.log_det[prefix] + self.log_det[l][j]);
                index.push(s.index[prefix] * nl as i64 + j as i64);
            }
        }
        let old_y = std::mem::replace(&mut s.y, y);
        let old_log_det = std::mem::replace(&mut s.log_det, log_det);
        let old_index = std::mem::replace(&mut s.index, index);
        s.next = (old_y, old_log_det, old_index);
        keep
    }
}
