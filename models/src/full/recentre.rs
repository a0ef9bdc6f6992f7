//! Moving the full GMM's statistics to other reference points: stepwise EM keeps a blend of
//! statistics over many mini-batches while the means it takes moments about move.

/// Statistics in the full family's flat layout (`[N_c]·K`, `[reached_c]·K`, then per component
/// `a_c = Σ r (x − m_c)` `[D]` and `B_c = Σ r (x − m_c)(x − m_c)ᵀ` `[D·D]`, or its diagonal
/// `[D]` when `diagonal`), taken about the means `old` (`[K·D]`), moved to the means `new`:
/// with `δ = new_c − old_c`,
///
/// ```text
/// a'_c = a_c − N_c δ,    B'_c = B_c − a_c δᵀ − δ a_cᵀ + N_c δ δᵀ   (diagonal: B_c − 2 a_c∘δ + N_c δ∘δ).
/// ```
pub(crate) fn recentre_flat(old: &[f64], new: &[f64], flat: &mut [f64], k: usize, diagonal: bool) {
    let d = old.len() / k.max(1);
    let s = if diagonal { d } else { d * d };
    for c in 0..k {
        let nc = flat[c];
        let delta: Vec<f64> = (0..d).map(|i| new[c * d + i] - old[c * d + i]).collect();
        if delta.iter().all(|&v| v == 0.0) {
            continue;
        }
        let at = 2 * k + c * (d + s);
        let (first, second) = flat[at..at + d + s].split_at_mut(d);
        if diagonal {
            for i in 0..d {
                second[i] += -2.0 * first[i] * delta[i] + nc * delta[i] * delta[i];
            }
        } else {
            for i in 0..d {
                for j in 0..d {
                    second[i * d + j] +=
                        -first[i] * delta[j] - delta[i] * first[j] + nc * delta[i] * delta[j];
                }
            }
        }
        for i in 0..d {
            first[i] -= nc * delta[i];
        }
    }
}
