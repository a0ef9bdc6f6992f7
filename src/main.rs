//! `gmmzoo`: the command line over the gmm-zoo library.

mod cli;
mod cli_values;
mod limits;
mod restore_command;
mod score_commands;
mod zoo_commands;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, Common};
use gmm_zoo::datasets::resolve_data_root;
use gmm_zoo::experiments::classify::classify_run;
use gmm_zoo::experiments::finetune::{FinetuneConfig, finetune_run};
use gmm_zoo::experiments::inspect::inspect_run;
use gmm_zoo::experiments::sampling::{SampleRequest, sample_picture};
use gmm_zoo::experiments::select::select_run;
use gmm_zoo::experiments::topdown::refine_run;
use gmm_zoo::experiments::zoo;
use gmm_zoo::models::device_from_name;
use gmm_zoo::training::claim::{self, Claim};
use gmm_zoo::training::folder::{layer_dir, write_png};
use gmm_zoo::training::stages::{self, Plan, train_stages};
use gmm_zoo::training::{
    Progress, RunConfig, RunOptions, TrainError, checkpoint, cluster, train_run,
};
use std::path::{Path, PathBuf};

pub(crate) fn options(common: &Common, out_dir: PathBuf) -> Result<RunOptions> {
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
        // heap instead of fresh mmaps, whose page faults cost ~7 % of a conv iteration; and grow
        // and trim the heap in 256 MB steps (a 3,200-path deep GMM's soft-beam iteration on
        // 100,000 rows: 93 s with the default 128 kB, 60 s with this).
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
    let cli = Cli::parse();
    // Under `mpirun -n P` (built with the `mpi` feature) this process is one rank of P.
    let cluster = cluster::init();
    if let Err(e) = set_threads(cli.threads).and_then(|()| run(cli)) {
        let interrupted = e.chain().any(|c| {
            matches!(c.downcast_ref::<TrainError>(), Some(TrainError::Interrupted { .. }))
        });
        match cluster.size() {
            1 => eprintln!("error: {e:#}"),
            _ => eprintln!("error (rank {} of {}): {e:#}", cluster.rank(), cluster.size()),
        }
        // A failing rank ends the whole job rather than leaving the others waiting.
        cluster::abort(if interrupted { 130 } else { 1 });
    }
    cluster::finish();
}

/// Sizes the one thread pool (rayon's global pool, which Burn's CPU backends, the EM driver
/// and every parallel step share).
fn set_threads(threads: Option<usize>) -> Result<()> {
    let Some(n) = threads else { return Ok(()) };
    anyhow::ensure!(n >= 1, "--threads must be at least 1, got {n}");
    // Each thread has its own stack and statistics; far more threads than cores only thrash.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    anyhow::ensure!(
        n <= 4 * cores,
        "--threads {n} is more than 4 threads per core of this machine's {cores} (at most {})",
        4 * cores
    );
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .with_context(|| format!("starting {n} worker threads"))
}

fn run(cli: Cli) -> Result<()> {
    limits::check(&cli.command)?;
    match cli.command {
        Command::Train { config, out, resume, overwrite, common } => {
            train(&config, out, resume, overwrite, &common)?
        }
        Command::Eval { run, split, common } => score_commands::eval(&run, split, &common)?,
        Command::Classify { config, out, jobs, overwrite, common } => {
            classify(&config, out, jobs, overwrite, &common)?
        }
        Command::Sample { run, n, per_component, seed, out, common } => {
            let request = SampleRequest { n, per_component, seed };
            sample(&run, request, out, &common)?;
        }
        Command::Finetune { run, steps, lr, batch, seed, out, overwrite, common } => {
            let (resolved, out) = derived_run(&run, out, "finetuned")?;
            let opts = options(&common, out)?;
            let _claim = claim_output(&opts.out_dir, "fine-tuning", "finetune.json", overwrite)?;
            let settings = FinetuneConfig { steps, learning_rate: lr, batch_size: batch, seed };
            let report = finetune_run(&resolved, settings, &opts)
                .with_context(|| format!("fine-tuning {}", run.display()))?;
            println!("{report}; wrote {}", opts.out_dir.display());
        }
        Command::Refine { run, iters, out, overwrite, common } => {
            let (resolved, out) = derived_run(&run, out, "topdown")?;
            let opts = options(&common, out)?;
            let _claim = claim_output(&opts.out_dir, "refined stack", "topdown.json", overwrite)?;
            let report = refine_run(&resolved, iters, &opts)
                .with_context(|| format!("refining {}", run.display()))?;
            println!("{report}; wrote {}", opts.out_dir.display());
        }
        Command::Inspect { run, out, overwrite, common } => inspect(&run, out, overwrite, &common)?,
        Command::Score { run, input, out, responsibilities, layer, symmetry, common } => {
            score_commands::score(&run, &input, out, (layer, symmetry, responsibilities), &common)?
        }
        Command::Ensemble { input, runs, weights_from, layer, symmetry, common } => {
            score_commands::ensemble(&input, &runs, &weights_from, (layer, symmetry), &common)?
        }
        Command::Select { config, components, out, overwrite, common } => {
            let cfg = RunConfig::load(&config)?;
            let out = out.unwrap_or_else(|| Path::new("runs").join(format!("{}_select", cfg.name)));
            let opts = options(&common, out)?;
            let _claim = claim_output(&opts.out_dir, "selection", "selection.json", overwrite)?;
            let selection = select_run(&cfg, &components, &opts)
                .with_context(|| format!("selecting K for {}", config.display()))?;
            println!("{selection}\nwrote {}", opts.out_dir.display());
        }
        Command::Impute { run, input, out, draw, seed, overwrite, common } => {
            if out.exists() && !overwrite {
                anyhow::bail!("{} exists; pass --overwrite to replace it", out.display());
            }
            let opts = options(&common, PathBuf::from("."))?;
            let request = gmm_zoo::experiments::impute::ImputeRequest {
                run,
                input,
                out,
                draw_seed: draw.then_some(seed),
            };
            let done =
                gmm_zoo::experiments::impute::impute_file(&request, &opts.device, &opts.progress)?;
            println!("{done}");
        }
        Command::Restore(args) => restore_command::run(&args)?,
        Command::Zoo(command) => zoo_commands::run(command)?,
        Command::Bench(args) => gmm_zoo::bench::run(&args)?,
        Command::Devices => devices(),
    }
    Ok(())
}

/// `gmmzoo classify`: one model per class, the test split classified.
fn classify(
    config: &Path,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    overwrite: bool,
    common: &Common,
) -> Result<()> {
    let cfg = RunConfig::load(config)?;
    let opts = options(common, out.unwrap_or_else(|| Path::new("runs").join(&cfg.name)))?;
    gmm_zoo::experiments::classify::single_layer(&cfg)?;
    let _claim = claim_output(&opts.out_dir, "classification run", "classify.json", overwrite)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = classify_run(&cfg, &opts, jobs.unwrap_or(cores))
        .with_context(|| format!("classifying with {}", config.display()))?;
    if cluster::world().is_root() {
        println!("{report}; wrote {}", opts.out_dir.display());
    }
    Ok(())
}

/// `gmmzoo devices`: the compiled device names, then every GPU adapter by the name that
/// selects it.
fn devices() {
    use gmm_zoo::models::{DEFAULT_DEVICE, compiled_devices};
    println!("compiled in: {} (default: {DEFAULT_DEVICE})", compiled_devices().join(", "));
    #[cfg(feature = "wgpu")]
    {
        let adapters = gmm_zoo::models::list_adapters();
        if adapters.is_empty() {
            println!("GPU adapters: none found (no Vulkan/Metal/DX12/GL driver answered)");
        }
        for (name, description) in adapters {
            println!("{name:>10}  {description}");
        }
    }
    #[cfg(not(feature = "wgpu"))]
    println!("GPU adapters: not compiled in (build with --features vulkan or wgpu)");
}

/// The output folder of a command, claimed by this process (rank 0 of an MPI job writes it):
/// a finished output there is refused unless `overwrite`.
pub(crate) fn claim_output(
    dir: &Path,
    what: &str,
    marker: &str,
    overwrite: bool,
) -> Result<Option<Claim>> {
    claim_folder(dir, what, marker, overwrite, false)
}

/// [`claim_output`], for a training run that may `resume` what the folder holds.
fn claim_folder(
    dir: &Path,
    what: &str,
    marker: &str,
    overwrite: bool,
    resume: bool,
) -> Result<Option<Claim>> {
    let root = cluster::world().is_root();
    Ok(root.then(|| claim::take(dir, what, marker, overwrite, resume)).transpose()?)
}

fn train(
    config: &Path,
    out: Option<PathBuf>,
    resume: bool,
    overwrite: bool,
    common: &Common,
) -> Result<()> {
    let (plan, out) = stages::load(config, out)?;
    // The device first: a bad --device is refused whatever the folder holds.
    let opts = RunOptions { resume, ..options(common, out.clone())? };
    if !resume && !overwrite && plan.is_finished_in(&out) {
        println!(
            "{} already holds this config's finished run; pass --overwrite to train it again",
            out.display()
        );
        return Ok(());
    }
    let _claim = claim_folder(&out, "run of another config", "metrics.json", overwrite, resume)?;
    // Ctrl-C: finish the iteration, write a checkpoint, exit; a second one exits now.
    let _ = ctrlc::set_handler(|| {
        if checkpoint::request_stop() {
            std::process::exit(130);
        }
        eprintln!("stopping after this EM iteration (Ctrl-C again to quit at once)");
    });
    let outcome = match &plan {
        Plan::Single(cfg) => train_run(cfg, &opts),
        Plan::Staged(stages) => train_stages(stages, &opts),
    }
    .with_context(|| format!("training {}", config.display()))?;
    let cluster = cluster::world();
    match (cluster.is_root(), cluster.size()) {
        (false, _) => {}
        (true, 1) => println!("{outcome}"),
        (true, ranks) => {
            let t = cluster.traffic();
            println!(
                "{outcome}\ndata-parallel EM on {ranks} ranks: {} all-reduces, {:.1} MB, {:.3} s",
                t.calls,
                t.bytes as f64 / 1e6,
                t.seconds
            );
        }
    }
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

fn inspect(run: &Path, out: Option<PathBuf>, overwrite: bool, common: &Common) -> Result<()> {
    let device = device_from_name(&common.device)?;
    let resolved = zoo::resolve_run(run)?;
    let out = out.unwrap_or_else(|| {
        let name = run.file_name().unwrap_or(run.as_os_str()).to_string_lossy();
        let parent = if resolved == run { run.parent() } else { None };
        parent.unwrap_or(Path::new("")).join(format!("{name}-inspect"))
    });
    let layers = RunConfig::load(&resolved.join("config.toml"))?.stack().len();
    let marker = layer_dir(Path::new(""), layers - 1, layers).join("overlap.png");
    let _claim = claim_output(&out, "inspection", &marker.to_string_lossy(), overwrite)?;
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
