//! Staged training: one config whose `[[stages]]` each change what the stage before trained
//! with — rows, `reg_covar`, the M-step, the E-step, the network's width, `max_iter` — run in
//! order into one run folder (`stage0/`, `stage1/`, …, and the last stage's model at the top).
//!
//! Stage 0 is the config without its `[[stages]]`. Stage i's config is stage i − 1's with the
//! tables of `stages[i - 1]` merged in key by key (`[stages.model]` with another `kind` replaces
//! the model table whole), and it starts from stage i − 1's trained layer:
//!
//! | stage i − 1 | stage i | how |
//! |---|---|---|
//! | any layer | the same kind and size | `[em] warm_start` |
//! | a full GMM | a deep GMM | `[model] first_layer` (its `N_1` = the full GMM's K) |
//! | a deep GMM | a deep GMM of other `nodes` | `[model] widen_from` |
//!
//! so a staged run is, bit for bit, the chain of runs a user would start by hand with those
//! keys pointing at the previous run folder. Every stage is a whole run ([`train_run`]) with
//! its own checkpoint: `--resume` keeps the finished stages and resumes the one a kill
//! interrupted.

use crate::config::RunConfig;
use crate::report::metrics::{Metrics, Score};
use crate::run::checkpoint;
use crate::run::clock::Spent;
use crate::run::folder::{create_dir, read_json, write_json};
use crate::{ConfigError, Layer, RunOptions, RunOutcome, TrainError, train_run};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The summary a staged run folder holds beside its last stage's files.
pub const STAGES_FILE: &str = "stages.json";
/// The tables a stage may change.
const STAGE_TABLES: [&str; 5] = ["data", "model", "em", "output", "checkpoint"];
/// The keys that link a stage to the one before; the stages set them, never the user.
const LINKS: [(&str, &str); 3] =
    [("em", "warm_start"), ("model", "first_layer"), ("model", "widen_from")];

/// A config file: one run, or a staged run.
#[derive(Debug, Clone)]
pub enum Plan {
    /// A config without `[[stages]]`.
    Single(RunConfig),
    /// A config with `[[stages]]`: every stage's validated config, in order.
    Staged(Vec<Stage>),
}

impl Plan {
    /// The config whose model the run folder ends with (a staged run's last stage's).
    pub fn final_config(&self) -> Option<&RunConfig> {
        match self {
            Plan::Single(config) => Some(config),
            Plan::Staged(stages) => stages.last().map(|s| &s.config),
        }
    }

    /// Whether `dir` holds this plan's finished run: its metrics, and the config it wrote is
    /// this plan's.
    pub fn is_finished_in(&self, dir: &Path) -> bool {
        let written = RunConfig::load(&dir.join("config.toml")).ok();
        dir.join("metrics.json").is_file() && written.as_ref() == self.final_config()
    }
}

/// One stage: its folder and the config it trains.
#[derive(Debug, Clone)]
pub struct Stage {
    /// `<run folder>/stage<i>`.
    pub dir: PathBuf,
    /// The whole config of this stage (links to the stage before included).
    pub config: RunConfig,
    /// How it starts from the stage before: `config` (stage 0), `warm_start`, `first_layer`
    /// or `widen_from`.
    pub start: &'static str,
}

/// What `stages.json` records of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage's folder.
    pub dir: PathBuf,
    /// How it started from the stage before.
    pub start: String,
    /// Its layer: kind and size.
    pub layer: String,
    /// EM iterations it ran.
    pub iterations: usize,
    /// Its scores.
    pub train: Score,
    /// See `train` (with `[data] n_valid` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<Score>,
    /// See `train`.
    pub test: Score,
    /// Wall time of the stage's run, seconds (as its `metrics.json` records it: a resumed
    /// stage adds the time before its checkpoint).
    pub seconds: f64,
    /// Process CPU seconds of the stage's run (0 for a stage written before it was recorded).
    #[serde(default)]
    pub cpu_seconds: f64,
}

/// `stages.json` ([`STAGES_FILE`]) of a staged run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagesSummary {
    /// Run name.
    pub name: String,
    /// Every stage, in order.
    pub stages: Vec<StageRecord>,
    /// The stages' wall times added up, seconds.
    pub total_seconds: f64,
    /// The stages' process CPU seconds added up.
    #[serde(default)]
    pub cpu_seconds: f64,
}

/// Reads a config file for `train`: its plan and its run folder (`out`, else `runs/<name>`).
pub fn load(path: &Path, out: Option<PathBuf>) -> Result<(Plan, PathBuf), TrainError> {
    let bad = |error| TrainError::Config { path: path.into(), error };
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(ConfigError::new("", format!("cannot read: {e}"))))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| bad(crate::tables::toml_error(&text, &e)))?;
    let Some(stages) = table.remove("stages") else {
        let config = RunConfig::parse(&text).map_err(bad)?;
        let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&config.name));
        return Ok((Plan::Single(config), out));
    };
    let name = match table.get("name") {
        Some(toml::Value::String(name)) => name.clone(),
        _ => String::new(), // RunConfig::parse of stage 0 names the fault
    };
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&name));
    let stages = plan(table, stages, &out).map_err(bad)?;
    Ok((Plan::Staged(stages), out))
}

/// Every stage's config from the base table and the `stages` array, validated.
fn plan(base: toml::Table, stages: toml::Value, out: &Path) -> Result<Vec<Stage>, ConfigError> {
    let toml::Value::Array(changes) = stages else {
        return Err(ConfigError::new("stages", "must be a list of tables ([[stages]])"));
    };
    if changes.is_empty() {
        return Err(ConfigError::new("stages", "lists no stage; remove it or add [[stages]]"));
    }
    if base.contains_key("layers") {
        return Err(ConfigError::new(
            "stages",
            "stages change a single layer ([model] and [em]); a stack ([[layers]]) cannot be \
             staged",
        ));
    }
    let mut table = base;
    let mut result =
        vec![Stage { dir: out.join("stage0"), config: parse(&table)?, start: "config" }];
    for (i, change) in changes.into_iter().enumerate() {
        let key = format!("stages[{i}]");
        let toml::Value::Table(change) = change else {
            return Err(ConfigError::new(key, "must be a table ([[stages]])"));
        };
        table = merged(table, change).map_err(|e| e.under(&key))?;
        let before = &result[i];
        let mut linked = table.clone();
        let start = link(&mut linked, &before.config, &before.dir).map_err(|e| e.under(&key))?;
        let config = parse(&linked).map_err(|e| e.under(&key))?;
        result.push(Stage { dir: out.join(format!("stage{}", i + 1)), config, start });
    }
    Ok(result)
}

/// `table` with a stage's changes merged in; the links to the stage before are left out.
fn merged(mut table: toml::Table, change: toml::Table) -> Result<toml::Table, ConfigError> {
    for (name, value) in change {
        if !STAGE_TABLES.contains(&name.as_str()) {
            return Err(ConfigError::new(
                name,
                format!("a stage changes only the tables {}", STAGE_TABLES.join(", ")),
            ));
        }
        let toml::Value::Table(value) = value else {
            return Err(ConfigError::new(name, "must be a table"));
        };
        for (t, k) in LINKS {
            if t == name && value.contains_key(k) {
                return Err(ConfigError::new(
                    format!("{t}.{k}"),
                    "a stage starts from the stage before by itself; remove it",
                ));
            }
        }
        let kind = |t: &toml::Table| t.get("kind").cloned();
        let replaces_model = name == "model"
            && value.contains_key("kind")
            && table.get("model").and_then(|m| m.as_table()).and_then(kind) != kind(&value);
        let target = table.entry(name).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match (target, replaces_model) {
            (target, true) => *target = toml::Value::Table(value),
            (toml::Value::Table(target), false) => target.extend(value),
            (target, false) => *target = toml::Value::Table(value),
        }
    }
    for (t, k) in LINKS {
        if let Some(toml::Value::Table(t)) = table.get_mut(t) {
            t.remove(k);
        }
    }
    Ok(table)
}

/// Sets the key by which a stage starts from `before`'s trained layer in `before_dir`, and
/// names it.
fn link(
    table: &mut toml::Table,
    before: &RunConfig,
    before_dir: &Path,
) -> Result<&'static str, ConfigError> {
    let ours = parse(table)?;
    let (theirs, ours) = (&before.stack()[0].layer, &ours.stack()[0].layer);
    let same = theirs.kind() == ours.kind() && theirs.size() == ours.size();
    let (section, key) = match (same, ours.trained_start_key(theirs)) {
        (true, _) => ("em", "warm_start"),
        (false, Some(key)) => ("model", key),
        (false, None) => {
            return Err(ConfigError::new(
                "model",
                format!(
                    "a {} layer with {} cannot start from the stage before's {} layer with {}: \
                     a stage continues the same kind and size (em.warm_start), or starts by a \
                     key of its kind from a trained layer (as a deep GMM's first_layer from a \
                     full GMM, its widen_from from a narrower deep GMM)",
                    ours.kind(),
                    ours.size(),
                    theirs.kind(),
                    theirs.size()
                ),
            ));
        }
    };
    let dir = before_dir.to_string_lossy().into_owned();
    if let Some(toml::Value::Table(t)) = table.get_mut(section) {
        t.insert(key.into(), toml::Value::String(dir));
    }
    Ok(key)
}

/// A stage's table as a validated config.
fn parse(table: &toml::Table) -> Result<RunConfig, ConfigError> {
    let text = toml::to_string(table).map_err(|e| ConfigError::new("", e.to_string()))?;
    RunConfig::parse(&text)
}

/// Trains every stage in order into its folder, then copies the last stage's files into the
/// run folder (`opts.out_dir`) and writes `stages.json`. With `opts.resume`, a stage whose
/// folder holds its finished run is kept, one with a checkpoint resumes, the rest start.
pub fn train_stages(stages: &[Stage], opts: &RunOptions) -> Result<RunOutcome, TrainError> {
    let start = Instant::now();
    let cluster = crate::cluster::world();
    let mut records = Vec::new();
    // The layers of the last stage trained in this process; once one is, every later stage is
    // trained again too (a finished stage after it was built on its old model).
    let mut trained: Option<Vec<Layer>> = None;
    let mut last_metrics = None;
    for (i, stage) in stages.iter().enumerate() {
        opts.progress.log(&format!(
            "stage {i} of {}: {} ({})",
            stages.len(),
            stage.config.stack()[0].layer.kind(),
            stage.start
        ));
        let stage_opts = RunOptions {
            out_dir: stage.dir.clone(),
            resume: opts.resume && checkpoint::path_in(&stage.dir).is_file(),
            ..opts.clone()
        };
        let keep = opts.resume && !stage_opts.resume && trained.is_none() && finished(stage)?;
        let metrics = match keep {
            true => {
                opts.progress.log(&format!("stage {i}: finished in {}", stage.dir.display()));
                read_json::<Metrics>(&stage.dir.join("metrics.json"))?
            }
            false => {
                let (metrics, layers) = train_stage(stage, &stage_opts)?;
                trained = Some(layers);
                metrics
            }
        };
        // The next stage reads this one's folder on every rank: wait until rank 0 wrote it.
        if cluster.size() > 1 {
            cluster.sum(&mut [0.0]);
        }
        records.push(StageRecord::of(stage, &metrics));
        last_metrics = Some(metrics);
    }
    let (Some(final_stage), Some(metrics)) = (stages.last(), last_metrics) else {
        return Err(TrainError::Failed("no stage".into()));
    };
    let layers = match trained {
        Some(layers) => layers,
        None => vec![crate::SavedLayer::load(&final_stage.dir, &opts.device)?.1],
    };
    let spent = Spent {
        wall: records.iter().map(|r| r.seconds).sum(),
        cpu: records.iter().map(|r| r.cpu_seconds).sum(),
    };
    let total_seconds = spent.wall;
    if cluster.is_root() {
        create_dir(&opts.out_dir)?;
        copy_files(&final_stage.dir, &opts.out_dir)?;
        let name = final_stage.config.name.clone();
        let summary =
            StagesSummary { name, stages: records, total_seconds, cpu_seconds: spent.cpu };
        write_json(&opts.out_dir.join(STAGES_FILE), &summary)?;
    }
    opts.progress.log(&format!(
        "wrote {} ({} stages: {:.1} s in all, {}; {:.1} s in this process)",
        opts.out_dir.display(),
        stages.len(),
        spent.wall,
        spent.utilisation(),
        start.elapsed().as_secs_f64()
    ));
    Ok(RunOutcome { metrics: vec![metrics], layers, total_seconds, out_dir: opts.out_dir.clone() })
}

/// Trains one stage into its folder: its layer's metrics (with the stage's wall time) and
/// layers.
fn train_stage(stage: &Stage, opts: &RunOptions) -> Result<(Metrics, Vec<Layer>), TrainError> {
    let outcome = train_run(&stage.config, opts)?;
    let Some(mut metrics) = outcome.metrics.into_iter().next() else {
        return Err(TrainError::Failed("a stage trained no layer".into()));
    };
    metrics.timings.total = outcome.total_seconds;
    Ok((metrics, outcome.layers))
}

impl StageRecord {
    /// The record of `stage`, trained or kept, from its layer's metrics.
    fn of(stage: &Stage, metrics: &Metrics) -> Self {
        Self {
            dir: stage.dir.clone(),
            start: stage.start.into(),
            layer: format!("{} {}", metrics.kind, stage.config.stack()[0].layer.size()),
            iterations: metrics.iterations.len(),
            train: metrics.train,
            valid: metrics.valid,
            test: metrics.test,
            seconds: metrics.timings.total,
            cpu_seconds: metrics.timings.cpu,
        }
    }
}

/// Whether a stage's folder holds its finished run: a model and metrics, no checkpoint, and
/// the config it was trained from is this stage's (another is refused, naming the file).
fn finished(stage: &Stage) -> Result<bool, TrainError> {
    let (config, metrics) = (stage.dir.join("config.toml"), stage.dir.join("metrics.json"));
    if !config.is_file() || !metrics.is_file() || !stage.dir.join("model.bpk").is_file() {
        return Ok(false);
    }
    if RunConfig::load(&config)? != stage.config {
        return Err(TrainError::file(
            &config,
            "holds a finished stage of another config; train without --resume to replace it",
        ));
    }
    Ok(true)
}

/// Copies every file (not the folders) of `from` into `to`, each atomically.
fn copy_files(from: &Path, to: &Path) -> Result<(), TrainError> {
    let entries = std::fs::read_dir(from).map_err(|e| TrainError::file(from, e))?;
    for entry in entries {
        let path = entry.map_err(|e| TrainError::file(from, e))?.path();
        if path.is_file() {
            let target = to.join(path.file_name().unwrap_or_default());
            crate::fsio::write_atomic(&target, &crate::fsio::read(&path)?)?;
        }
    }
    Ok(())
}
