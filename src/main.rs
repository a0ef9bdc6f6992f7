//! `gmmzoo`: the command line over the gmm-zoo library.
// The doc comments below are clap's help texts, where `<name>` is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gmm_zoo::datasets::resolve_data_root;
use gmm_zoo::experiments::classify::classify_run;
use gmm_zoo::experiments::finetune::{FinetuneConfig, finetune_run};
use gmm_zoo::experiments::inspect::inspect_run;
use gmm_zoo::experiments::sampling::{SampleRequest, sample_picture};
use gmm_zoo::experiments::select::select_run;
use gmm_zoo::experiments::topdown::refine_run;
use gmm_zoo::experiments::zoo::{self, Manifest, Verdict};
use gmm_zoo::models::{DEFAULT_DEVICE, device_from_name};
use gmm_zoo::training::config::Split;
use gmm_zoo::training::folder::write_png;
use gmm_zoo::training::metrics::Score;
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
    /// Pick the number of components: train the config's layer once per K and write
    /// selection.json and selection.svg (BIC, AIC and test log-likelihood against K)
    Select {
        /// A single-layer config
        config: PathBuf,
        /// The K to try, comma-separated, e.g. 1,2,4,8
        #[arg(long, value_delimiter = ',', required = true)]
        components: Vec<usize>,
        /// Output folder (one run folder per K inside) [default: runs/<name>_select]
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
        Command::Train { config, out, resume, common } => train(&config, out, resume, &common)?,
        Command::Eval { run, split, common } => eval(&run, split, &common)?,
        Command::Classify { config, out, jobs, common } => {
            let cfg = RunConfig::load(&config)?;
            let opts = options(&common, out.unwrap_or_else(|| Path::new("runs").join(&cfg.name)))?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let report = classify_run(&cfg, &opts, jobs.unwrap_or(cores))
                .with_context(|| format!("classifying with {}", config.display()))?;
            println!("{report}; wrote {}", opts.out_dir.display());
        }
        Command::Sample { run, n, per_component, seed, out, common } => {
            let request = SampleRequest { n, per_component, seed };
            sample(&run, request, out, &common)?;
        }
        Command::Finetune { run, steps, lr, batch, seed, out, common } => {
            let (resolved, out) = derived_run(&run, out, "finetuned")?;
            let opts = options(&common, out)?;
            let settings = FinetuneConfig { steps, learning_rate: lr, batch_size: batch, seed };
            let report = finetune_run(&resolved, settings, &opts)
                .with_context(|| format!("fine-tuning {}", run.display()))?;
            println!("{report}; wrote {}", opts.out_dir.display());
        }
        Command::Refine { run, iters, out, common } => {
            let (resolved, out) = derived_run(&run, out, "topdown")?;
            let opts = options(&common, out)?;
            let report = refine_run(&resolved, iters, &opts)
                .with_context(|| format!("refining {}", run.display()))?;
            println!("{report}; wrote {}", opts.out_dir.display());
        }
        Command::Inspect { run, out, common } => inspect(&run, out, &common)?,
        Command::Select { config, components, out, common } => {
            let cfg = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| Path::new("runs").join(format!("{}_select", cfg.name)));
            let opts = options(&common, out)?;
            let selection = select_run(&cfg, &components, &opts)
                .with_context(|| format!("selecting K for {}", config.display()))?;
            println!("{selection}\nwrote {}", opts.out_dir.display());
        }
        Command::Zoo(command) => zoo_command(command)?,
        Command::Bench(args) => gmm_zoo::bench::run(&args)?,
    }
    Ok(())
}

fn train(config: &Path, out: Option<PathBuf>, resume: bool, common: &Common) -> Result<()> {
    let cfg = RunConfig::load(config)?;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
    let opts = RunOptions { resume, ..options(common, out)? };
    // Ctrl-C: finish the iteration, write a checkpoint, exit; a second one exits now.
    let _ = ctrlc::set_handler(|| {
        if checkpoint::request_stop() {
            std::process::exit(130);
        }
        eprintln!("stopping after this EM iteration (Ctrl-C again to quit at once)");
    });
    let outcome =
        train_run(&cfg, &opts).with_context(|| format!("training {}", config.display()))?;
    println!("{outcome}");
    Ok(())
}

/// Prints the first layer's score on the data as JSON, with every layer's for a stack.
fn eval(run: &Path, split: SplitArg, common: &Common) -> Result<()> {
    let run = zoo::resolve_run(run)?;
    let opts = options(common, run.clone())?;
    let split = match split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
    };
    let scores = evaluate_run(&run, split, &opts)
        .with_context(|| format!("evaluating {}", run.display()))?;
    let json = |s: &Score| serde_json::to_value(s).unwrap_or_default();
    let mut out = json(&scores[0]);
    out["run"] = run.display().to_string().into();
    out["split"] = split.to_string().into();
    if scores.len() > 1 {
        out["layers"] = scores.iter().map(json).collect();
    }
    println!("{out}");
    Ok(())
}

fn sample(run: &Path, request: SampleRequest, out: Option<PathBuf>, common: &Common) -> Result<()> {
    anyhow::ensure!(request.n > 0, "--n must be at least 1");
    let device = device_from_name(&common.device)?;
    let resolved = zoo::resolve_run(run)?;
    let out = out.unwrap_or_else(|| match resolved == run {
        true => run.join("samples.png"),
        false => PathBuf::from(format!("{}-samples.png", run.display())),
    });
    let picture = sample_picture(&resolved, request, &device)
        .with_context(|| format!("sampling {}", resolved.display()))?;
    write_png(&picture, &out)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn inspect(run: &Path, out: Option<PathBuf>, common: &Common) -> Result<()> {
    let device = device_from_name(&common.device)?;
    let resolved = zoo::resolve_run(run)?;
    let out = out.unwrap_or_else(|| match resolved == run {
        true => run.to_path_buf(),
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
    Ok(())
}

fn zoo_command(command: ZooCommand) -> Result<()> {
    let dir = zoo::checkpoints_dir();
    match command {
        ZooCommand::List => {
            for e in &Manifest::load(&dir)?.models {
                println!("{}", e.list_line(&dir));
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
            let shipped = match entry.shipped {
                true => format!(", {} files shipped", entry.files.len()),
                false => String::new(),
            };
            println!("{}: recorded in {}{shipped}", entry.name, dir.join(zoo::MANIFEST).display());
        }
        ZooCommand::Verify { names, strict, common } => verify(&dir, &names, strict, &common)?,
        ZooCommand::Table { write: None } => {
            print!("{}", zoo::render_table(&Manifest::load(&dir)?))
        }
        ZooCommand::Table { write: Some(path) } => {
            let table = zoo::render_table(&Manifest::load(&dir)?);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let text = zoo::splice_table(&text, &table)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            gmm_zoo::training::fsio::write_atomic(&path, text.as_bytes())?;
            println!("wrote the table into {}", path.display());
        }
    }
    Ok(())
}

fn verify(dir: &Path, names: &[String], strict: bool, common: &Common) -> Result<()> {
    let manifest = Manifest::load(dir)?;
    for name in names {
        anyhow::ensure!(
            manifest.models.iter().any(|e| &e.name == name),
            "no checkpoint named {name} in {}",
            dir.join(zoo::MANIFEST).display()
        );
    }
    let opts = options(common, dir.to_path_buf())?;
    let (mut failed, mut unreproduced) = (0, 0);
    for e in manifest.models.iter().filter(|e| names.is_empty() || names.contains(&e.name)) {
        let verdict = zoo::verify_entry(dir, e, &opts);
        println!("{:<20} {verdict}", e.name);
        failed += matches!(verdict, Verdict::Failed(_)) as usize;
        unreproduced += matches!(verdict, Verdict::Loaded(_)) as usize;
    }
    anyhow::ensure!(failed == 0, "{failed} checkpoint(s) failed the check");
    anyhow::ensure!(
        !strict || unreproduced == 0,
        "{unreproduced} checkpoint(s) could not be scored (--strict)"
    );
    Ok(())
}
