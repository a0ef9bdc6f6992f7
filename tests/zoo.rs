//! The zoo: every config has a manifest entry, every shipped checkpoint is intact and
//! reproduces its recorded test figure, a damaged one is caught, and the README's table is the
//! manifest's.

mod common;

use common::{copy_dir, device, device_name, full_root, repo, sample_root};
use gmm_zoo::experiments::zoo::{
    self, Manifest, Verdict, render_table, splice_table, verify_entry,
};
use gmm_zoo::training::{Progress, RunOptions};
use std::path::PathBuf;
use std::process::Command;

fn checkpoints() -> PathBuf {
    repo().join("checkpoints")
}

fn options(data_root: PathBuf, device: gmm_zoo::models::Device, name: String) -> RunOptions {
    RunOptions {
        data_root,
        out_dir: checkpoints(),
        device,
        device_name: name,
        progress: Progress::quiet(),
        resume: false,
    }
}

#[test]
fn every_config_has_a_manifest_entry_and_every_shipped_one_a_folder() {
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let mut configs: Vec<String> = std::fs::read_dir(repo().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    configs.sort();
    for c in &configs {
        let path = format!("configs/{c}");
        let entry = manifest.models.iter().find(|e| e.config == path);
        let entry = entry.unwrap_or_else(|| panic!("{path} has no entry in the manifest"));
        assert!(!entry.layers.is_empty(), "{}: no figures", entry.name);
        assert!(entry.wall_seconds > 0.0, "{}: no wall time", entry.name);
        for l in &entry.layers {
            assert!(l.test_nats.is_finite(), "{}: test LL {}", entry.name, l.test_nats);
            assert!(l.components >= 1 && l.components <= l.configured_components);
        }
        if entry.shipped {
            let dir = checkpoints().join(&entry.name);
            assert!(dir.join("config.toml").is_file(), "{} is not shipped", dir.display());
            let bytes: u64 =
                entry.files.keys().map(|f| std::fs::metadata(dir.join(f)).unwrap().len()).sum();
            assert!(bytes <= zoo::MAX_SHIPPED_BYTES, "{}: {bytes} bytes", entry.name);
        }
    }
    assert_eq!(manifest.models.len(), configs.len(), "entries without a config");
}

#[test]
fn the_readme_table_is_the_manifests() {
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let regenerated = splice_table(&readme, &render_table(&manifest)).unwrap();
    assert!(
        regenerated == readme,
        "README.md's results table differs from checkpoints/manifest.toml; run \
         `gmmzoo zoo table --write README.md`"
    );
}

/// On the shipped sample data (and the device under test) the sample-trained checkpoint is
/// reproduced and every other shipped one at least passes its checksums and loads.
#[test]
fn shipped_checkpoints_load_and_the_sample_one_reproduces_its_figure() {
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let opts = options(sample_root(), device(), device_name());
    let mut reproduced = 0;
    for e in &manifest.models {
        match verify_entry(&checkpoints(), e, &opts) {
            Verdict::Reproduced(r, g, _) => {
                assert!((r - g).abs() <= zoo::SCORE_TOLERANCE, "{}", e.name);
                reproduced += 1;
            }
            Verdict::Loaded(_) => assert_ne!(e.data_root, "sample", "{}", e.name),
            Verdict::NotShipped => assert!(!e.shipped),
            Verdict::Failed(why) => panic!("{}: {why}", e.name),
        }
    }
    assert!(reproduced >= 1, "no sample-trained checkpoint was reproduced");
}

/// With the full data beside the clone, every shipped checkpoint reproduces its recorded test
/// log-likelihood (or accuracy) on the CPU backend it was recorded on.
#[test]
fn with_the_full_data_every_shipped_checkpoint_reproduces_its_figure() {
    let Some(root) = full_root() else {
        eprintln!("full data not found; covered by the sample-data test only");
        return;
    };
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let cpu = gmm_zoo::models::device_from_name("cpu").unwrap();
    let opts = options(root, cpu, "cpu".into());
    for e in manifest.models.iter().filter(|e| e.shipped) {
        match verify_entry(&checkpoints(), e, &opts) {
            Verdict::Reproduced(..) => {}
            other => panic!("{}: {other:?}", e.name),
        }
    }
}

/// A checkpoints folder holding the shipped `quickstart` alone, and its entry.
fn quickstart_alone() -> (tempfile::TempDir, zoo::Entry) {
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let entry = manifest.models.iter().find(|e| e.name == "quickstart").unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&checkpoints().join("quickstart"), &dir.path().join("quickstart"));
    Manifest { models: vec![entry.clone()] }.save(dir.path()).unwrap();
    (dir, entry)
}

#[test]
fn a_damaged_or_missing_checkpoint_file_fails_the_check_and_the_command() {
    let (dir, entry) = quickstart_alone();
    let opts = options(sample_root(), device(), device_name());
    assert!(matches!(verify_entry(dir.path(), &entry, &opts), Verdict::Reproduced(..)));

    let model = dir.path().join("quickstart/model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&model, &bytes).unwrap();
    match verify_entry(dir.path(), &entry, &opts) {
        Verdict::Failed(why) => assert!(why.contains("model.bpk") && why.contains("checksum")),
        other => panic!("a flipped bit passed: {other:?}"),
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["zoo", "verify"])
        .env("GMM_ZOO_CHECKPOINTS", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));

    std::fs::remove_file(&model).unwrap();
    match verify_entry(dir.path(), &entry, &opts) {
        Verdict::Failed(why) => assert!(why.contains("cannot read"), "{why}"),
        other => panic!("a missing file passed: {other:?}"),
    }
}

/// An entry's own `tolerance` widens the check for that entry alone: the quickstart figure
/// recorded 0.003 nats off fails with the default 1e-3 and passes with a tolerance of 0.005.
#[test]
fn an_entrys_own_tolerance_is_the_one_verify_applies() {
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let mut entry = manifest.models.iter().find(|e| e.name == "quickstart").unwrap().clone();
    let opts = options(sample_root(), device(), device_name());
    entry.layers[0].test_nats += 0.003;
    match verify_entry(&checkpoints(), &entry, &opts) {
        Verdict::Failed(why) => assert!(why.contains("by more than 0.001"), "{why}"),
        other => panic!("0.003 nats off passed the default tolerance: {other:?}"),
    }
    entry.tolerance = Some(0.005);
    assert!(matches!(verify_entry(&checkpoints(), &entry, &opts), Verdict::Reproduced(..)));
    // A tolerance below the default does not tighten it.
    entry.layers[0].test_nats -= 0.003;
    entry.tolerance = Some(0.0);
    assert!(matches!(verify_entry(&checkpoints(), &entry, &opts), Verdict::Reproduced(..)));
}

#[test]
fn eval_and_sample_take_a_checkpoint_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["eval", "quickstart", "--quiet"])
        .current_dir(std::env::temp_dir())
        .env_remove("GMM_ZOO_DATA")
        .env_remove("GMM_ZOO_CHECKPOINTS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = Manifest::load(&checkpoints()).unwrap();
    let recorded =
        manifest.models.iter().find(|e| e.name == "quickstart").unwrap().layers[0].test_nats;
    let got = json["nats_per_sample"].as_f64().unwrap();
    assert!((got - recorded).abs() <= zoo::SCORE_TOLERANCE, "{got} vs {recorded}");

    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("s.png");
    let out = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["sample", "quickstart", "--n", "4", "--out", picture.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(image::open(&picture).is_ok());

    let out = Command::new(env!("CARGO_BIN_EXE_gmmzoo"))
        .args(["eval", "no_such_model"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_model") && err.contains("quickstart"), "{err}");
}

/// `zoo symmetric` records a shipped model's figures averaged over its patches' symmetries;
/// `zoo verify` reproduces them, fails a figure recorded off, and the table shows them.
#[test]
fn a_recorded_symmetric_figure_is_reproduced_and_tabled() {
    let (dir, entry) = quickstart_alone();
    let opts = options(sample_root(), device(), device_name());
    let group = gmm_zoo::datasets::bsds300::Augment::Dihedral;
    let recorded = zoo::record_symmetric(dir.path(), "quickstart", group, &opts).unwrap();
    let s = recorded.symmetric.clone().unwrap();
    assert!(s.test_nats.is_finite() && s.test_standard_error > 0.0);
    assert!((s.test_nats - entry.layers[0].test_nats).abs() > 1e-3, "the average is another model");
    let saved = Manifest::load(dir.path()).unwrap().models.remove(0);
    assert_eq!(saved, recorded);
    assert!(matches!(verify_entry(dir.path(), &saved, &opts), Verdict::Reproduced(..)));
    assert!(
        render_table(&Manifest { models: vec![saved.clone()] })
            .contains(&format!("averaged over 8 symmetries (dihedral): **{:.2}", s.test_nats))
    );

    let mut off = saved.clone();
    off.symmetric.as_mut().unwrap().test_nats += 0.01;
    match verify_entry(dir.path(), &off, &opts) {
        Verdict::Failed(why) => assert!(why.contains("averaged over 8 symmetries"), "{why}"),
        other => panic!("a symmetric figure 0.01 off passed: {other:?}"),
    }
    let err = zoo::record_symmetric(dir.path(), "nothing", group, &opts).unwrap_err();
    assert!(err.to_string().contains("nothing: no shipped checkpoint"), "{err}");
}
