//! A model averaged over the symmetries of its square patches (`gmmzoo score --symmetry`,
//! `gmmzoo ensemble --symmetry`): each row's `log q(x) = log (1/|G|) Σ_g p(g·x)` against a
//! dense float64 oracle that turns and mirrors the 8×8 patch itself and scores the full GMM
//! from its saved parameters; the ensemble of a run with itself; rows that are not square
//! patches refused.

mod common;

use common::runs::{run, write_config};
use common::sample_root;
use gmm_zoo::datasets::bsds300::Augment;
use gmm_zoo::experiments::scoring::{ScoreInput, score_ensemble, score_stream};
use gmm_zoo::models::to_host_f64;
use gmm_zoo::training::config::{RunConfig, Split};
use gmm_zoo::training::data::load_split;
use gmm_zoo::training::{Layer, RunOptions, SavedLayer};
use std::path::{Path, PathBuf};

fn trained(dir: &Path) -> PathBuf {
    let text = "name = \"sym\"\nseed = 3\n[data]\ndataset = \"bsds300\"\nn_train = 3000\nn_valid \
                = 500\nn_test = 400\n[model]\nkind = \"full\"\nn_components = 3\n[em]\nmax_iter = 5\n\
                init = \"kmeans++\"\n";
    let config = write_config(dir, "sym.toml", text);
    let out = dir.join("sym");
    let done = run(&config, &out, &[]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    out
}

fn scores(run: &Path, input: &ScoreInput, group: Augment, opts: &RunOptions) -> Vec<f64> {
    let mut all = Vec::new();
    score_stream(run, input, (0, group), false, opts, &mut |_, s| {
        all.extend(s.iter().map(|r| r.log_likelihood));
        Ok(())
    })
    .unwrap();
    all
}

/// The 64-pixel patch of a 63-value row turned `turns` quarter turns clockwise, after a
/// transpose when `transposed`: written out by hand, apart from the library's maps.
fn turned(row: &[f64], turns: usize, transposed: bool) -> Vec<f64> {
    let mut p: Vec<f64> = row.to_vec();
    p.push(-row.iter().sum::<f64>());
    if transposed {
        p = (0..64).map(|i| p[(i % 8) * 8 + i / 8]).collect();
    }
    for _ in 0..turns {
        // Clockwise: new (r, c) is old (7 − c, r).
        p = (0..64).map(|i| p[(7 - i % 8) * 8 + i / 8]).collect();
    }
    p.truncate(63);
    p
}

/// `log Σ_c π_c N(y | μ_c, Σ_c)` with `Σ_c⁻¹ = U_c U_cᵀ`, in f64.
fn gmm_log_density(y: &[f64], means: &[f64], u: &[f64], log_w: &[f64]) -> f64 {
    let d = y.len();
    let terms: Vec<f64> = (0..log_w.len())
        .map(|c| {
            let (mu, uc) = (&means[c * d..(c + 1) * d], &u[c * d * d..(c + 1) * d * d]);
            let maha: f64 = (0..d)
                .map(|j| (0..d).map(|i| (y[i] - mu[i]) * uc[i * d + j]).sum::<f64>().powi(2))
                .sum();
            let log_det: f64 = (0..d).map(|i| uc[i * d + i].abs().ln()).sum();
            log_w[c] - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() + log_det - 0.5 * maha
        })
        .collect();
    let top = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
}

#[test]
fn the_averaged_model_is_the_mean_of_the_turned_and_mirrored_patches_densities() {
    let dir = tempfile::tempdir().unwrap();
    let out = trained(dir.path());
    let opts: RunOptions = common::sample_options(dir.path());
    let Layer::Full(gmm) = SavedLayer::load(&out, &opts.device).unwrap().1 else {
        panic!("a full layer")
    };
    let means = to_host_f64(gmm.means.val()).unwrap();
    let u = to_host_f64(gmm.precision_cholesky.val()).unwrap();
    let log_w = to_host_f64(gmm.log_weights.val()).unwrap();
    let config = RunConfig::load(&out.join("config.toml")).unwrap();
    let test = load_split(&config.data, &sample_root(), Split::Test, config.seed).unwrap();
    let rows: Vec<Vec<f64>> =
        test.pixels.chunks(63).map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
    let input = ScoreInput::Split(Split::Test);

    let plain = scores(&out, &input, Augment::None, &opts);
    let mirror = scores(&out, &input, Augment::Mirror, &opts);
    let dihedral = scores(&out, &input, Augment::Dihedral, &opts);
    assert_eq!(dihedral.len(), rows.len());
    let mean_of = |ls: &[f64]| {
        let top = ls.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        top + (ls.iter().map(|l| (l - top).exp()).sum::<f64>() / ls.len() as f64).ln()
    };
    let mut gains = [0.0; 2];
    for (n, row) in rows.iter().enumerate() {
        let own = gmm_log_density(row, &means, &u, &log_w);
        assert!((plain[n] - own).abs() < 2e-3, "row {n}: {} against {own}", plain[n]);
        // The mirror: the transpose turned once clockwise reverses each row of the patch.
        let m = turned(row, 1, true);
        assert_eq!(m[0], row[7], "the mirror reverses row 0");
        let want = mean_of(&[own, gmm_log_density(&m, &means, &u, &log_w)]);
        assert!((mirror[n] - want).abs() < 2e-3, "row {n}: mirror {} against {want}", mirror[n]);
        let all: Vec<f64> = (0..8)
            .map(|g| gmm_log_density(&turned(row, g % 4, g >= 4), &means, &u, &log_w))
            .collect();
        let want = mean_of(&all);
        assert!(
            (dihedral[n] - want).abs() < 2e-3,
            "row {n}: dihedral {} against {want}",
            dihedral[n]
        );
        gains[0] += mirror[n] - plain[n];
        gains[1] += dihedral[n] - plain[n];
    }
    // The sample's patches are not symmetric, so the averages differ from the model itself.
    assert!(gains.iter().all(|g| g.abs() > 1e-3), "{gains:?}");

    // An ensemble of the run with itself, both averaged, is the averaged run.
    let same =
        score_ensemble(&[out.clone(), out.clone()], &input, None, (0, Augment::Dihedral), &opts)
            .unwrap();
    let mean = dihedral.iter().sum::<f64>() / dihedral.len() as f64;
    assert!((same.score.mean - mean).abs() < 1e-9);
}

#[test]
fn rows_that_are_not_square_patches_are_refused_naming_their_width() {
    let dir = tempfile::tempdir().unwrap();
    // A full GMM of 5-value rows, trained from a .npy file.
    let (n, d) = (200, 5);
    let bytes: Vec<u8> =
        (0..n * d).flat_map(|i| (((i * 7919) % 101) as f32 / 101.0).to_le_bytes()).collect();
    let file = dir.path().join("rows.npy");
    common::write_npy(&file, "<f4", false, &[n, d], &bytes);
    let text = format!(
        "name = \"rows\"\n[data]\ndataset = \"array\"\ntrain = \"{}\"\n[model]\nkind = \"full\"\n\
         n_components = 2\n[em]\nmax_iter = 3\n",
        file.display()
    );
    let out = dir.path().join("run");
    let done = run(&write_config(dir.path(), "rows.toml", &text), &out, &[]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let opts: RunOptions = common::sample_options(dir.path());
    let input = ScoreInput::Array(file);
    assert_eq!(scores(&out, &input, Augment::None, &opts).len(), n);
    let err = score_stream(&out, &input, (0, Augment::Mirror), false, &opts, &mut |_, _| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("rows of 5 values") && err.contains("\"mirror\""), "{err}");
}
