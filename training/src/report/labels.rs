//! How components line up with class labels: purity and normalised mutual information, from
//! the contingency table of components and labels (which sums over a data-parallel job's
//! shards).

/// Labels a table has room for (labels are bytes).
const LABELS: usize = 256;

/// Contingency counts `n[c · 256 + l]` of `k` components and the byte labels, `[k, 256]`.
pub fn contingency(assign: &[usize], labels: &[u8], k: usize) -> Vec<f64> {
    assert_eq!(assign.len(), labels.len(), "one label per assignment");
    let mut t = vec![0.0; k * LABELS];
    for (&a, &l) in assign.iter().zip(labels) {
        t[a * LABELS + l as usize] += 1.0;
    }
    t
}

/// Purity: the fraction of samples whose component's most common label is their own,
/// `(1/N) Σ_c max_l n(c, l)`.
pub fn purity_of(table: &[f64]) -> f64 {
    let n: f64 = table.iter().sum();
    table.chunks(LABELS).map(|row| row.iter().copied().fold(0.0, f64::max)).sum::<f64>() / n
}

/// Normalised mutual information with the arithmetic-mean normalisation (scikit-learn's
/// default): `NMI = I(C; L) / ((H(C) + H(L)) / 2)`, in nats; 1 when both partitions are
/// single blocks.
pub fn nmi_of(table: &[f64]) -> f64 {
    let n: f64 = table.iter().sum();
    let pc: Vec<f64> = table.chunks(LABELS).map(|row| row.iter().sum()).collect();
    let pl: Vec<f64> = (0..LABELS).map(|l| table.chunks(LABELS).map(|row| row[l]).sum()).collect();
    let entropy =
        |m: &[f64]| -m.iter().filter(|&&v| v > 0.0).map(|&v| (v / n) * (v / n).ln()).sum::<f64>();
    let (hc, hl) = (entropy(&pc), entropy(&pl));
    let mut mi = 0.0;
    for (c, row) in table.chunks(LABELS).enumerate() {
        for (l, &v) in row.iter().enumerate().filter(|(_, v)| **v > 0.0) {
            mi += (v / n) * (v * n / (pc[c] * pl[l])).ln();
        }
    }
    let denom = 0.5 * (hc + hl);
    if denom <= 0.0 { 1.0 } else { (mi / denom).clamp(0.0, 1.0) }
}

/// [`purity_of`] the assignment's table.
pub fn purity(assign: &[usize], labels: &[u8]) -> f64 {
    purity_of(&contingency(assign, labels, components(assign)))
}

/// [`nmi_of`] the assignment's table.
pub fn nmi(assign: &[usize], labels: &[u8]) -> f64 {
    nmi_of(&contingency(assign, labels, components(assign)))
}

fn components(assign: &[usize]) -> usize {
    assign.iter().max().map_or(0, |m| m + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_purity_and_nmi() {
        // Components {0: a a b}, {1: b b}: purity (2 + 2) / 5.
        let assign = [0, 0, 0, 1, 1];
        let labels = [0, 0, 1, 1, 1];
        assert!((purity(&assign, &labels) - 0.8).abs() < 1e-12);
        // p(c) = (3/5, 2/5), p(l) = (2/5, 3/5), joint (2/5, 1/5, 0, 2/5).
        let (h, j) = (|p: f64| -p * p.ln(), |pj: f64, pa: f64, pb: f64| pj * (pj / (pa * pb)).ln());
        let hc = h(0.6) + h(0.4);
        let mi = j(0.4, 0.6, 0.4) + j(0.2, 0.6, 0.6) + j(0.4, 0.4, 0.6);
        assert!((nmi(&assign, &labels) - mi / hc).abs() < 1e-12);
    }

    #[test]
    fn perfect_and_independent_partitions() {
        let labels = [3, 3, 7, 7, 1, 1];
        assert!((nmi(&[5, 5, 0, 0, 2, 2], &labels) - 1.0).abs() < 1e-12);
        assert_eq!(purity(&[5, 5, 0, 0, 2, 2], &labels), 1.0);
        // Every component holds one of each of two labels: no information.
        assert!(nmi(&[0, 1, 0, 1], &[0, 0, 1, 1]).abs() < 1e-12);
    }
}
