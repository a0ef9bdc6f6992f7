//! How components line up with class labels: purity and normalised mutual information.

use std::collections::HashMap;

/// Contingency counts `n[(component, label)]`.
fn table(assign: &[usize], labels: &[u8]) -> HashMap<(usize, u8), f64> {
    assert_eq!(assign.len(), labels.len(), "one label per assignment");
    let mut t = HashMap::new();
    for (&a, &l) in assign.iter().zip(labels) {
        *t.entry((a, l)).or_insert(0.0) += 1.0;
    }
    t
}

/// Purity: the fraction of samples whose component's most common label is their own,
/// `(1/N) Σ_c max_l n(c, l)`.
pub fn purity(assign: &[usize], labels: &[u8]) -> f64 {
    let mut best: HashMap<usize, f64> = HashMap::new();
    for ((a, _), n) in table(assign, labels) {
        let b = best.entry(a).or_insert(0.0);
        *b = b.max(n);
    }
    best.values().sum::<f64>() / assign.len() as f64
}

/// Normalised mutual information with the arithmetic-mean normalisation (scikit-learn's
/// default): `NMI = I(C; L) / ((H(C) + H(L)) / 2)`, in nats; 1 when both partitions are
/// single blocks.
pub fn nmi(assign: &[usize], labels: &[u8]) -> f64 {
    let n = assign.len() as f64;
    let t = table(assign, labels);
    let mut pc: HashMap<usize, f64> = HashMap::new();
    let mut pl: HashMap<u8, f64> = HashMap::new();
    for (&(a, l), &v) in &t {
        *pc.entry(a).or_insert(0.0) += v;
        *pl.entry(l).or_insert(0.0) += v;
    }
    let entropy = |m: Vec<f64>| -m.iter().map(|&v| (v / n) * (v / n).ln()).sum::<f64>();
    let (hc, hl) =
        (entropy(pc.values().copied().collect()), entropy(pl.values().copied().collect()));
    let mi: f64 = t.iter().map(|(&(a, l), &v)| (v / n) * (v * n / (pc[&a] * pl[&l])).ln()).sum();
    let denom = 0.5 * (hc + hl);
    if denom <= 0.0 { 1.0 } else { (mi / denom).clamp(0.0, 1.0) }
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
