//! Filter phase and component overlap (issue: the write-up's open questions 2 and 4): the
//! zero-phase and minimum-phase filters have power spectrum `1/S`, the zero-phase filter keeps
//! the input's Fourier phase, the cepstral method recovers a known minimum-phase filter, and
//! the Bhattacharyya distance of stationary components equals the dense full-covariance one.

mod common;

use common::{SEED, circulant};
use gmm_zoo::models::SpectralLayout;
use gmm_zoo::models::filters::{
    bhattacharyya_full, bhattacharyya_stationary, effective_bandwidth, gain, minimum_phase_filter,
    power_spectrum_of, zero_phase_filter,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The DFT by its definition, `X(k) = Σ_n x(n) exp(−2πi⟨k,n⟩/P)`: (re, im) per bin.
fn naive_dft(x: &[f64], p: usize) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0); p * p];
    for k1 in 0..p {
        for k2 in 0..p {
            let (mut re, mut im) = (0.0, 0.0);
            for n1 in 0..p {
                for n2 in 0..p {
                    let a =
                        -2.0 * std::f64::consts::PI * ((k1 * n1 + k2 * n2) % p) as f64 / p as f64;
                    re += x[n1 * p + n2] * a.cos();
                    im += x[n1 * p + n2] * a.sin();
                }
            }
            out[k1 * p + k2] = (re, im);
        }
    }
    out
}

/// Circular convolution by its definition, `y(n) = Σ_m f(m) x(n − m)`.
fn circular_convolve(f: &[f64], x: &[f64], p: usize) -> Vec<f64> {
    let mut y = vec![0.0; p * p];
    for n1 in 0..p {
        for n2 in 0..p {
            let mut acc = 0.0;
            for m1 in 0..p {
                for m2 in 0..p {
                    acc += f[m1 * p + m2] * x[((n1 + p - m1) % p) * p + (n2 + p - m2) % p];
                }
            }
            y[n1 * p + n2] = acc;
        }
    }
    y
}

fn random_spectrum(layout: &SpectralLayout, rng: &mut ChaCha8Rng) -> Vec<f64> {
    // A smooth-ish, strongly varying spectrum (a natural-image-like 1/f² plus noise).
    layout
        .bins()
        .iter()
        .map(|&(k1, k2)| {
            let p = layout.size() as f64;
            let f = |k: usize| (k as f64).min(p - k as f64);
            1.0 / (0.3 + f(k1).powi(2) + f(k2).powi(2)) * rng.random_range(0.5..2.0)
        })
        .collect()
}

#[test]
fn both_filters_have_power_spectrum_one_over_s() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    for (p, exclude_dc) in [(8, true), (8, false), (7, true), (16, true)] {
        let layout = SpectralLayout::new(p, exclude_dc);
        let s = random_spectrum(&layout, &mut rng);
        let expected = layout.to_full_grid(&s.iter().map(|v| 1.0 / v).collect::<Vec<_>>(), 0.0);
        for (name, f) in [
            ("zero-phase", zero_phase_filter(&layout, &s)),
            ("minimum-phase", minimum_phase_filter(&layout, &s)),
        ] {
            let power: Vec<f64> = naive_dft(&f, p).iter().map(|(r, i)| r * r + i * i).collect();
            for k in 0..p * p {
                if exclude_dc && k == 0 {
                    continue;
                }
                let rel = (power[k] - expected[k]).abs() / expected[k];
                assert!(rel < 1e-9, "{name} P={p} bin {k}: {} vs {}", power[k], expected[k]);
            }
            let fast = power_spectrum_of(&f, p);
            assert!(fast.iter().zip(&power).all(|(a, b)| (a - b).abs() <= 1e-9 * b.max(1e-12)));
        }
    }
}

#[test]
fn filtering_with_the_zero_phase_filter_keeps_the_input_phase() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
    let p = 8;
    let layout = SpectralLayout::new(p, true);
    let s = random_spectrum(&layout, &mut rng);
    let f = zero_phase_filter(&layout, &s);
    // The filter is real and even: f(n) = f(−n).
    for n1 in 0..p {
        for n2 in 0..p {
            let mirror = ((p - n1) % p) * p + (p - n2) % p;
            assert!((f[n1 * p + n2] - f[mirror]).abs() < 1e-12);
        }
    }
    let x: Vec<f64> = (0..p * p).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y = circular_convolve(&f, &x, p);
    let (fx, fy) = (naive_dft(&x, p), naive_dft(&y, p));
    let mut changed = 0.0f64;
    for k in 0..p * p {
        let (ax, ay) = (fx[k].1.atan2(fx[k].0), fy[k].1.atan2(fy[k].0));
        let mag = (fx[k].0.powi(2) + fx[k].1.powi(2)).sqrt();
        if mag > 1e-9 {
            let d = (ax - ay).sin().abs();
            assert!(d < 1e-9, "bin {k}: phase {ax} became {ay}");
        }
        changed = changed.max((fy[k].0.hypot(fy[k].1) - mag).abs());
    }
    assert!(changed > 1e-3, "the filter did nothing");
    // A minimum-phase filter (same power spectrum) does change the phase.
    let g = minimum_phase_filter(&layout, &s);
    let fg = naive_dft(&circular_convolve(&g, &x, p), p);
    let moved = (1..p * p).map(|k| (fx[k].1.atan2(fx[k].0) - fg[k].1.atan2(fg[k].0)).sin().abs());
    assert!(moved.fold(0.0, f64::max) > 0.1);
}

#[test]
fn the_cepstral_method_recovers_a_known_minimum_phase_filter() {
    // f0 = δ + small taps on the nonsymmetric half-plane: log F0 = log(1 + g), |g| ≤ 0.45 < 1,
    // is a power series in g, so its cepstrum lives on the half-plane and f0 is minimum-phase.
    let p = 32;
    let taps = [((0, 1), 0.15), ((1, p - 1), 0.1), ((1, 0), -0.12), ((1, 1), 0.08)];
    let mut f0 = vec![0.0; p * p];
    f0[0] = 1.0;
    for ((a, b), v) in taps {
        f0[a * p + b] = v;
    }
    let layout = SpectralLayout::new(p, false);
    let power = power_spectrum_of(&f0, p);
    let s: Vec<f64> = layout.bins().iter().map(|&(k1, k2)| 1.0 / power[k1 * p + k2]).collect();
    let f = minimum_phase_filter(&layout, &s);
    let err = f.iter().zip(&f0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err < 1e-5, "max |f − f0| = {err}");
    // The zero-phase filter of the same spectrum is a different filter.
    let z = zero_phase_filter(&layout, &s);
    assert!(z.iter().zip(&f0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) > 0.05);
    // Gain is the square root of the inverse spectrum.
    let g = gain(&layout, &s);
    assert!((g[0] * g[0] - power[0]).abs() < 1e-12);
}

#[test]
fn stationary_bhattacharyya_equals_the_dense_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED + 2);
    for p in [4, 5] {
        let layout = SpectralLayout::new(p, false);
        let (s1, s2) = (random_spectrum(&layout, &mut rng), random_spectrum(&layout, &mut rng));
        let (c1, c2) = (
            circulant(&layout.to_full_grid(&s1, 0.0), p),
            circulant(&layout.to_full_grid(&s2, 0.0), p),
        );
        let zero = vec![0.0; p * p];
        let dense = bhattacharyya_full(&zero, &c1, &zero, &c2, p * p).unwrap();
        let spectral = bhattacharyya_stationary(&layout, &s1, &s2);
        assert!((dense - spectral).abs() < 1e-9 * dense.abs().max(1.0), "{dense} vs {spectral}");
        assert!(spectral > 0.0);
        assert!(bhattacharyya_stationary(&layout, &s1, &s1).abs() < 1e-12);
    }
    // One dimension, with means: ⅛(μ₁−μ₂)²/σ² + ½ log(σ²/√(a b)), σ² = (a+b)/2.
    let (a, b, m): (f64, f64, f64) = (0.5, 2.0, 1.5);
    let expect = m * m / (8.0 * 1.25) + 0.5 * (1.25 / (a * b).sqrt()).ln();
    let got = bhattacharyya_full(&[m], &[a], &[0.0], &[b], 1).unwrap();
    assert!((got - expect).abs() < 1e-12, "{got} vs {expect}");
}

#[test]
fn effective_bandwidth_is_one_for_white_and_small_for_one_band() {
    let layout = SpectralLayout::new(8, true);
    let b = layout.n_bins();
    assert!((effective_bandwidth(&layout, &vec![0.3; b]) - 1.0).abs() < 1e-12);
    // All the filter's power in one conjugate pair (weight 2) of the 63 frequencies: 2/63.
    let mut s = vec![1e12; b];
    let pair = layout.weights().iter().position(|&w| w == 2.0).unwrap();
    s[pair] = 1.0;
    let narrow = effective_bandwidth(&layout, &s);
    assert!((narrow - 2.0 / 63.0).abs() < 1e-6, "{narrow}");
}
