//! `gmmzoo`: the command line over the gmm-zoo library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gmm_zoo::datasets::resolve_data_root;
use gmm_zoo::models::{DEFAULT_DEVICE, device_from_name};
use gmm_zoo::training::classify::classify_run;
use gmm_zoo::training::config::Split;
use gmm_zoo::training::discriminative::{FinetuneConfig, finetune_run};
use gmm_zoo::training::metrics::Score;
use gmm_zoo::training::run::{inspect_run, write_png};
use gmm_zoo::training::sampling::{SampleRequest, sample_picture};
use gmm_zoo::training::topdown::refine_run;
use gmm_zoo::training::zoo::{self, Manifest, Verdict};
use gmm_zoo::training::{
    Progress, RunConfig, RunOptions, TrainError, checkpoint, evaluate_run, train_run,
};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "gmmzoo",
    version,
    about = "Deep and convolutional Gaussian mixture models on Burn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Worker threads of the CPU backends and of every parallel step [default:
    /// $RAYON_NUM_THREADS, else one per CPU core]
    #[arg(long, global = true)]
    threads: Option<usize>,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Data root holding mnist/ and bsds300/ [default: $GMM_ZOO_DATA, else data/sample]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Device: cpu (this build's default CPU backend), flex, ndarray or wgpu, as compiled in
    #[arg(long, env = "GMM_ZOO_DEVICE", default_value = DEFAULT_DEVICE)]
    device: String,
    /// Only errors and the final summary
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Train the model a config describes; writes a run folder
    Train {
        /// The run config (TOML), e.g. configs/quickstart.toml
        config: PathBuf,
        /// Run folder [default: runs/<name>]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue from the run folder's checkpoint (after Ctrl-C, a crash or a kill)
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Score a trained run folder (or a shipped checkpoint, by name) on a split
    Eval {
        /// The run folder (holds config.toml, model.toml, model.bpk), or a name from
        /// checkpoints/ (`gmmzoo zoo list`)
        run: PathBuf,
        /// Which split to score
        #[arg(long, value_enum, default_value = "test")]
        split: SplitArg,
        #[command(flatten)]
        common: Common,
    },
    /// Train one model per MNIST class and classify the test digits by the largest
    /// log p(x | class) + log p(class)
    Classify {
        /// A single-layer MNIST config: the per-class model
        config: PathBuf,
        /// Output folder [default: runs/<name>]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Class models trained at once [default: the number of CPU cores]
        #[arg(long)]
        jobs: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
    /// Draw samples from a trained run's image model into a picture
    Sample {
        /// The run folder, or a name from checkpoints/
        run: PathBuf,
        /// Samples to draw (per component with --per-component)
        #[arg(long, default_value_t = 100)]
        n: usize,
        /// One row per component instead of draws from the mixture
        #[arg(long)]
        per_component: bool,
        /// Seed of the draws
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The picture [default: <run>/samples.png; <name>-samples.png for a checkpoint]
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Fine-tune a classification run's conv class models discriminatively: Adam on the
    /// conditional log-likelihood log p(y | x) (burn-autodiff); reports accuracy, likelihood
    /// and component overlap before and after
    Finetune {
        /// A classification run folder (gmmzoo classify with a conv model), or a checkpoint name
        run: PathBuf,
        /// Adam steps
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// Learning rate (on log S and the weight logits)
        #[arg(long, default_value_t = 0.02)]
        lr: f64,
        /// Training digits per step
        #[arg(long, default_value_t = 2000)]
        batch: usize,
        /// Seed of the batches
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder [default: runs/<name>_finetuned]
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Refine a trained stack top down: joint EM on the chain likelihood p(x, z1, …) in which
    /// each upper component sets weights over the components below; reports before/after
    /// likelihoods and purity/NMI per layer
    Refine {
        /// A stack's run folder, or a checkpoint name
        run: PathBuf,
        /// Joint EM iterations
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Output folder [default: runs/<name>_topdown]
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Pictures of a trained run's filters and component overlap: filters.png (power spectrum,
    /// zero-phase and minimum-phase filter of each conv component) and overlap.png; prints the
    /// overlap summary of each layer
    Inspect {
        /// The run folder, or a name from checkpoints/
        run: PathBuf,
        /// Where the pictures go [default: the run folder; <name>-inspect/ for a checkpoint]
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The zoo of trained models in checkpoints/: list, add, verify, table
    #[command(subcommand)]
    Zoo(ZooCommand),
    /// Time EM on a config, and the E-step product on every compiled CPU backend
    Bench(gmm_zoo::bench::BenchArgs),
}

#[derive(Subcommand)]
enum ZooCommand {
    /// The checkpoints and their recorded test figures
    List,
    /// Record a trained run folder in checkpoints/manifest.toml; with --ship also copy it in
    Add {
        /// The run folder (runs/<name>)
        run: PathBuf,
        /// The config it was trained from [default: configs/<name>.toml]
        #[arg(long)]
        config: Option<String>,
        /// Copy the run folder into checkpoints/<name>/ (at most 8 MB)
        #[arg(long)]
        ship: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Check every shipped checkpoint: file checksums, that it loads, and that it reproduces
    /// its recorded test figure when its test data is at --data-dir
    Verify {
        /// Only these checkpoints [default: all]
        names: Vec<String>,
        /// Fail unless every shipped checkpoint's figure was reproduced (not merely loaded)
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Print the README's results table (markdown) from the manifest
    Table {
        /// Replace the table inside this file (between its zoo-table markers) instead
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    Train,
    Test,
}

fn options(common: &Common, out_dir: PathBuf) -> Result<RunOptions> {
    let device = device_from_name(&common.device)?;
    Ok(RunOptions {
        data_root: resolve_data_root(common.data_dir.as_deref()),
        out_dir,
        device,
        device_name: common.device.clone(),
        progress: if common.quiet { Progress::quiet() } else { Progress::stderr() },
        resume: false,
    })
}

/// A run folder (or checkpoint name) and the folder of a run derived from it: `out`, else
/// `runs/<name>_<suffix>`.
fn derived_run(run: &Path, out: Option<PathBuf>, suffix: &str) -> Result<(PathBuf, PathBuf)> {
    let resolved = zoo::resolve_run(run)?;
    let out = match out {
        Some(out) => out,
        None => {
            let name = RunConfig::load(&resolved.join("config.toml"))?.name;
            PathBuf::from("runs").join(format!("{name}_{suffix}"))
        }
    };
    Ok((resolved, out))
}

fn main() {
    // Like every Unix filter: a closed pipe (`gmmzoo zoo list | head`) ends the process quietly
    // instead of panicking in `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes glibc's allocator; called before any thread starts.
    unsafe {
        // EM allocates and frees the same few-MB tensors thousands of times: keep them in the
        // heap instead of fresh mmaps, whose page faults cost ~7 % of a conv iteration.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
    let cli = Cli::parse();
    if let Err(e) = set_threads(cli.threads).and_then(|()| run(cli)) {
        let interrupted = e.chain().any(|c| {
            matches!(c.downcast_ref::<TrainError>(), Some(TrainError::Interrupted { .. }))
        });
        eprintln!("error: {e:#}");
        std::process::exit(if interrupted { 130 } else { 1 });
    }
}

/// Sizes the one thread pool (rayon's global pool, which Burn's CPU backends, the EM driver
/// and every parallel step share).
fn set_threads(threads: Option<usize>) -> Result<()> {
    let Some(n) = threads else { return Ok(()) };
    anyhow::ensure!(n >= 1, "--threads must be at least 1, got {n}");
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .with_context(|| format!("starting {n} worker threads"))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train { config, out, resume, common } => {
            let cfg = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
            let opts = RunOptions { resume, ..options(&common, out)? };
            // Ctrl-C: finish the iteration, write a checkpoint, exit; a second one exits now.
            let _ = ctrlc::set_handler(|| {
                if checkpoint::request_stop() {
                    std::process::exit(130);
                }
                eprintln!("stopping after this EM iteration (Ctrl-C again to quit at once)");
            });
            let outcome =
                train_run(&cfg, &opts).with_context(|| format!("training {}", config.display()))?;
            for m in &outcome.metrics {
                let what = match outcome.metrics.len() {
                    1 => m.name.clone(),
                    _ => format!("{} layer {}", m.name, m.layer),
                };
                let quality = match (m.purity, m.nmi) {
                    (Some(p), Some(n)) => format!(", purity {p:.3}, NMI {n:.3}"),
                    _ => String::new(),
                };
                println!(
                    "{what}: train {:.4} nats/sample ({:.4} bits/dim), test {:.4} nats/sample \
                     ({:.4} bits/dim), {} of {} components alive{quality}, {} EM iterations",
                    m.train.nats_per_sample,
                    m.train.bits_per_pixel,
                    m.test.nats_per_sample,
                    m.test.bits_per_pixel,
                    m.n_components,
                    m.configured_components,
                    m.iterations.len(),
                );
            }
            println!(
                "{:.1} s in all; run folder {}",
                outcome.total_seconds,
                opts.out_dir.display()
            );
        }
        Command::Eval { run, split, common } => {
            let run = zoo::resolve_run(&run)?;
            let opts = options(&common, run.clone())?;
            let split = match split {
                SplitArg::Train => Split::Train,
                SplitArg::Test => Split::Test,
            };
            let scores = evaluate_run(&run, split, &opts)
                .with_context(|| format!("evaluating {}", run.display()))?;
            let json = |s: &Score| {
                serde_json::json!({
                    "n": s.n,
                    "nats_per_sample": s.nats_per_sample,
                    "bits_per_pixel": s.bits_per_pixel,
                })
            };
            // The first layer's score on the data, and every layer's when there are several.
            let mut out = json(&scores[0]);
            out["run"] = run.display().to_string().into();
            out["split"] = split.to_string().into();
            if scores.len() > 1 {
                out["layers"] = scores.iter().map(json).collect();
            }
            println!("{out}");
        }
        Command::Classify { config, out, jobs, common } => {
            let cfg = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
            let opts = options(&common, out)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let r = classify_run(&cfg, &opts, jobs.unwrap_or(cores))
                .with_context(|| format!("classifying with {}", config.display()))?;
            println!("{}: test accuracy {:.4} ({})", r.name, r.accuracy, r.model);
            let per_class: Vec<String> = r
                .per_class_accuracy
                .iter()
                .enumerate()
                .map(|(c, a)| format!("{c}: {a:.3}"))
                .collect();
            println!("per class: {}", per_class.join(", "));
            println!("confusion (rows: true 0-9, columns: predicted 0-9):");
            for row in &r.confusion {
                println!("  {}", row.iter().map(|v| format!("{v:>5}")).collect::<String>());
            }
            println!(
                "training {:.1} s ({} at once), testing {:.1} s; wrote {}",
                r.train_seconds,
                r.jobs,
                r.test_seconds,
                opts.out_dir.display()
            );
        }
        Command::Sample { run, n, per_component, seed, out, common } => {
            anyhow::ensure!(n > 0, "--n must be at least 1");
            let device = device_from_name(&common.device)?;
            let resolved = zoo::resolve_run(&run)?;
            let out = out.unwrap_or_else(|| match resolved == run {
                true => run.join("samples.png"),
                false => PathBuf::from(format!("{}-samples.png", run.display())),
            });
            let run = resolved;
            let request = SampleRequest { n, per_component, seed };
            let picture = sample_picture(&run, request, &device)
                .with_context(|| format!("sampling {}", run.display()))?;
            write_png(&picture, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Finetune { run, steps, lr, batch, seed, out, common } => {
            let (resolved, out) = derived_run(&run, out, "finetuned")?;
            let opts = options(&common, out)?;
            let settings = FinetuneConfig { steps, learning_rate: lr, batch_size: batch, seed };
            let r = finetune_run(&resolved, settings, &opts)
                .with_context(|| format!("fine-tuning {}", run.display()))?;
            for (what, f) in [("before", &r.before), ("after", &r.after)] {
                println!(
                    "{what}: test accuracy {:.4}, log p(y|x) train {:.4} test {:.4}, own-class test \
                     LL {:.2} nats, overlap within classes {:.3e} (per dim {:.4}), between \
                     classes {:.3e} (per dim {:.4}), filter bandwidth {:.4}",
                    f.accuracy,
                    f.train_conditional_log_likelihood,
                    f.test_conditional_log_likelihood,
                    f.own_class_test_log_likelihood,
                    f.within_class_overlap.mean,
                    f.within_class_overlap.mean_per_dim,
                    f.between_class_overlap.weighted,
                    f.between_class_overlap.mean_per_dim,
                    f.mean_bandwidth,
                );
            }
            println!(
                "{} Adam steps in {:.1} s; wrote {}",
                steps,
                r.seconds,
                opts.out_dir.display()
            );
        }
        Command::Refine { run, iters, out, common } => {
            let (resolved, out) = derived_run(&run, out, "topdown")?;
            let opts = options(&common, out)?;
            let r = refine_run(&resolved, iters, &opts)
                .with_context(|| format!("refining {}", run.display()))?;
            for (what, f) in [("before", &r.before), ("after", &r.after)] {
                println!(
                    "{what}: joint log p(x, z…) train {:.4} test {:.4} nats/sample",
                    f.train_joint, f.test_joint
                );
                for (i, l) in f.layers.iter().enumerate() {
                    let q = match (l.purity, l.nmi) {
                        (Some(p), Some(n)) => format!(", purity {p:.3}, NMI {n:.3}"),
                        _ => String::new(),
                    };
                    println!("  layer {i}: test LL {:.4}{q}", l.test_log_likelihood);
                }
            }
            println!(
                "{iters} joint EM iterations in {:.1} s; wrote {}",
                r.seconds,
                opts.out_dir.display()
            );
        }
        Command::Inspect { run, out, common } => {
            let device = device_from_name(&common.device)?;
            let resolved = zoo::resolve_run(&run)?;
            let out = out.unwrap_or_else(|| match resolved == run {
                true => run.clone(),
                false => PathBuf::from(format!("{}-inspect", run.display())),
            });
            let summaries = inspect_run(&resolved, &out, &device)
                .with_context(|| format!("inspecting {}", run.display()))?;
            for (i, s) in summaries.iter().enumerate() {
                let line = match s {
                    Some(s) => serde_json::to_string(s)?,
                    None => "null (overlap not computed: too costly or one component)".into(),
                };
                println!("layer {i} overlap: {line}");
            }
            println!("wrote the pictures into {}", out.display());
        }
        Command::Zoo(command) => zoo_command(command)?,
        Command::Bench(args) => gmm_zoo::bench::run(&args)?,
    }
    Ok(())
}

fn zoo_command(command: ZooCommand) -> Result<()> {
    let dir = zoo::checkpoints_dir();
    match command {
        ZooCommand::List => {
            let manifest = Manifest::load(&dir)?;
            for e in &manifest.models {
                let test = e.layers.last().map_or(f64::NAN, |l| l.test_nats);
                let figure = match e.accuracy {
                    Some(a) => format!("accuracy {:.2}%", 100.0 * a),
                    None => format!("test {test:.2} nats"),
                };
                let place = match e.shipped {
                    true => dir.join(&e.name).display().to_string(),
                    false => "not shipped".into(),
                };
                println!("{:<20} {:<44} {figure:<22} {place}", e.name, e.data);
            }
        }
        ZooCommand::Add { run, config, ship, common } => {
            let cfg = RunConfig::load(&run.join("config.toml"))?;
            let request = zoo::AddRequest {
                run_dir: run.clone(),
                config: config.unwrap_or_else(|| format!("configs/{}.toml", cfg.name)),
                data_root: resolve_data_root(common.data_dir.as_deref()),
                ship,
                machine: zoo::this_machine(&common.device),
            };
            let entry = zoo::add(&dir, &request)
                .with_context(|| format!("adding {} to the zoo", run.display()))?;
            println!(
                "{}: recorded in {}{}",
                entry.name,
                dir.join(zoo::MANIFEST).display(),
                if entry.shipped {
                    format!(", {} files shipped", entry.files.len())
                } else {
                    "".into()
                }
            );
        }
        ZooCommand::Verify { names, strict, common } => {
            let manifest = Manifest::load(&dir)?;
            for name in &names {
                anyhow::ensure!(
                    manifest.models.iter().any(|e| &e.name == name),
                    "no checkpoint named {name} in {}",
                    dir.join(zoo::MANIFEST).display()
                );
            }
            let opts = options(&common, dir.clone())?;
            let (mut failed, mut unreproduced) = (0, 0);
            for e in manifest.models.iter().filter(|e| names.is_empty() || names.contains(&e.name))
            {
                let verdict = zoo::verify_entry(&dir, e, &opts);
                let line = match &verdict {
                    Verdict::Reproduced(r, g) => format!("ok       recorded {r:.6}, now {g:.6}"),
                    Verdict::Loaded(why) => format!("loaded   checksums ok; not scored: {why}"),
                    Verdict::NotShipped => "-        not shipped (figures only)".into(),
                    Verdict::Failed(why) => format!("FAILED   {why}"),
                };
                println!("{:<20} {line}", e.name);
                failed += matches!(verdict, Verdict::Failed(_)) as usize;
                unreproduced += matches!(verdict, Verdict::Loaded(_)) as usize;
            }
            anyhow::ensure!(failed == 0, "{failed} checkpoint(s) failed the check");
            anyhow::ensure!(
                !strict || unreproduced == 0,
                "{unreproduced} checkpoint(s) could not be scored (--strict)"
            );
        }
        ZooCommand::Table { write } => {
            let table = zoo::render_table(&Manifest::load(&dir)?);
            match write {
                None => print!("{table}"),
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let text = zoo::splice_table(&text, &table)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    gmm_zoo::training::fsio::write_atomic(&path, text.as_bytes())?;
                    println!("wrote the table into {}", path.display());
                }
            }
        }
    }
    Ok(())
}
