//! `gmmzoo bench`: seconds per EM iteration of a config, and the E-step product on every
//! compiled CPU backend, measured side by side in one run (medians, and ratios to a peer).

use crate::bench_export::{export_ours, export_start};
use crate::datasets::Images;
use crate::datasets::resolve_data_root;
use crate::models::{
    Device, Tensor, TensorData, compiled_devices, device_description, device_from_name,
};
use crate::training::clock::RunClock;
use crate::training::config::Split;
use crate::training::data::load_split;
use crate::training::em::{e_step, fit};
use crate::training::encode::encode;
use crate::training::{Family, IterationRecord, Progress, RunConfig, StackLayer, with_layer};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `gmmzoo bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The config whose EM is timed
    #[arg(default_value = "configs/bsds16.toml")]
    pub config: PathBuf,
    /// Data root [default: $GMM_ZOO_DATA, else data/sample]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// EM iterations to run [default: the config's max_iter]
    #[arg(long)]
    pub iters: Option<usize>,
    /// Devices to compare, comma-separated [default: every compiled CPU backend]
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Repetitions of the E-step product microbenchmark
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Also write the rows, the initial parameters and our per-iteration figures of a full
    /// GMM config into this folder, for `benches/torch_full_gmm.py` (the first device's run)
    #[arg(long)]
    pub export: Option<PathBuf>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn sync(t: Tensor<2>) -> Result<f64> {
    let v = crate::models::to_host_f64(t.sum())?;
    Ok(v[0])
}

/// Runs the benchmark and prints its figures.
pub fn run(args: &BenchArgs) -> Result<()> {
    let config = RunConfig::load(&args.config)?;
    // The first layer of the config (a stack's bottom layer), timed alone.
    let mut first = config.stack().swap_remove(0);
    if let Some(iters) = args.iters {
        first.em.max_iter = iters;
    }
    first.em.tol = 0.0;
    first.em.annealing = None;
    let root = resolve_data_root(args.data_dir.as_deref());
    println!(
        "bench: {} ({} iterations), data root {}, {} worker threads ({} CPU cores)",
        args.config.display(),
        first.em.max_iter,
        root.display(),
        rayon::current_num_threads(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let t = RunClock::start();
    let train =
        load_split(&config.data, &root, Split::Train, config.seed).context("loading the data")?;
    let spent = t.spent();
    let sampling = spent.wall;
    println!(
        "data: {} samples of {}x{} in {sampling:.2} s ({})",
        train.len(),
        train.height,
        train.width,
        spent.utilisation()
    );
    let bench = Bench { args, config: &config, first: &first, train: &train, sampling };
    let mut product_inputs = Vec::new();
    for (i, name) in bench_devices(args).iter().enumerate() {
        product_inputs.push(bench.on_device(name, i == 0)?);
    }
    println!("peak resident memory of this process: {}", peak_rss());
    compare_products(&product_inputs, args.reps)
}

/// The devices to time: those named, else every CPU backend of this build.
fn bench_devices(args: &BenchArgs) -> Vec<String> {
    if !args.devices.is_empty() {
        return args.devices.clone();
    }
    let gpus = ["wgpu", "vulkan"];
    compiled_devices().into_iter().filter(|d| !gpus.contains(d)).map(String::from).collect()
}

/// One benchmark's config, first layer and data.
struct Bench<'a> {
    args: &'a BenchArgs,
    config: &'a RunConfig,
    first: &'a StackLayer,
    train: &'a Images,
    sampling: f64,
}

/// A device's E-step product inputs: its name, the device, the encoded rows, K.
type ProductInput = (String, Device, Tensor<2>, usize);

impl Bench<'_> {
    /// EM of the first layer on device `name`, timed from its `init` (a trained start the
    /// config names is not read); with `--export`, on the first device, the peer's files.
    fn on_device(&self, name: &str, first_device: bool) -> Result<ProductInput> {
        let (first, train, seed) = (self.first, self.train, self.config.seed);
        let device = device_from_name(name)?;
        let description = device_description(name)?;
        println!("{name:>8}: {description}");
        let shape = [train.height, train.width];
        let export = self.args.export.as_deref().filter(|_| first_device);
        if let Some(dir) = export {
            // Its own copy of the layer and rows: `fit` below does not hand out its start, so
            // the start is drawn once more from the same seed (only with --export).
            let stem =
                self.args.config.file_stem().map_or("config".into(), |s| s.to_string_lossy());
            with_layer!(first.layer.init(shape, &device)?, layer => {
                let data = encode(&layer, train, first.em.batch_size, &device)?;
                export_start(layer, &data, &first.em, seed, &stem, dir)?
            });
        }
        let n = train.len() as f64;
        let (x, k, iterations) = with_layer!(first.layer.init(shape, &device)?, layer => {
            let flops = n * layer.e_step_flops_per_sample();
            bench_layer(name, layer, train, &first.em, seed, self.sampling, flops, &device)?
        });
        if let Some(dir) = export {
            export_ours(dir, &format!("{name}: {description}"), &iterations)?;
        }
        Ok((name.to_string(), device, x, k))
    }
}

/// The E-step's matrix product on every device, `reps` times, interleaved across backends so
/// that noise hits all alike; medians against the first device's.
fn compare_products(inputs: &[ProductInput], reps: usize) -> Result<()> {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); inputs.len()];
    for _ in 0..reps {
        for ((_, device, x, k), times) in inputs.iter().zip(times.iter_mut()) {
            let a = product_matrix(x.dims()[1], *k, device);
            let t = Instant::now();
            sync(x.clone().matmul(a))?;
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let Some((peer, _, x, k)) = inputs.first() else { return Ok(()) };
    let [rows, b] = x.dims();
    let base = median(times[0].clone());
    for ((name, ..), times) in inputs.iter().zip(&times) {
        let m = median(times.clone());
        println!(
            "{name:>8}: E-step product [{rows}x{b}]·[{b}x{k}] median {m:.5} s over {} reps \
             ({:.1} GFLOP/s, {:.2}x the time of {peer})",
            times.len(),
            2.0 * (rows * b * k) as f64 / m / 1e9,
            m / base,
        );
    }
    Ok(())
}

/// Times EM on one device: per-iteration seconds (median, min, max), one E-step pass alone
/// with the GFLOP/s of its main product (`estep_flops`), and the whole run.
#[allow(clippy::too_many_arguments)]
fn bench_layer<M: Family>(
    name: &str,
    layer: M,
    train: &crate::datasets::Images,
    em: &crate::training::EmConfig,
    seed: u64,
    sampling: f64,
    estep_flops: f64,
    device: &Device,
) -> Result<(Tensor<2>, usize, Vec<IterationRecord>)> {
    let t = RunClock::start();
    let enc = encode(&layer, train, em.batch_size, device)?;
    sync(enc.batch(0)?)?;
    let spent = t.spent();
    let (fft, encode_cpu) = (spent.wall, spent.utilisation());
    let t = RunClock::start();
    let (layer, report) = fit(layer, &enc, em, seed, &Progress::quiet())?;
    let spent = t.spent();
    let (fit_s, fit_cpu) = (spent.wall, spent.utilisation());
    let per_iter: Vec<f64> = report.iterations.iter().map(|r| r.seconds).collect();
    let last = report.iterations.last().map_or(f64::NAN, |r| r.log_likelihood);
    println!(
        "{name:>8}: EM median {:.4} s/iter (min {:.4}, max {:.4}) over {} iterations; init {:.3} s; \
         encode+upload {fft:.3} s ({encode_cpu}); EM {fit_s:.2} s ({fit_cpu}); whole run (data + \
         encode + init + EM) {:.2} s; last log-likelihood {last:.6} nats/sample",
        median(per_iter.clone()),
        per_iter.iter().copied().fold(f64::INFINITY, f64::min),
        per_iter.iter().copied().fold(0.0, f64::max),
        per_iter.len(),
        report.init_seconds,
        sampling + fft + fit_s,
    );
    let t = RunClock::start();
    let estep = e_step(&layer, &enc, 1.0)?;
    // Every statistic read back: the device's work is done (a GPU queues it lazily).
    let _ = layer.stats_to_flat(&estep.stats)?;
    let spent = t.spent();
    let e = spent.wall;
    println!(
        "{name:>8}: one E-step pass {e:.4} s ({:.1} GFLOP/s on its main product, {:.1} GFLOP; {})",
        estep_flops / e / 1e9,
        estep_flops / 1e9,
        spent.utilisation()
    );
    let t = RunClock::start();
    let layer = layer.m_step(estep.stats, enc.n)?.0;
    let _ = crate::models::to_host_f64(layer.log_weights())?;
    let spent = t.spent();
    let m = spent.wall;
    println!(
        "{name:>8}: one M-step {m:.4} s ({:.1} % of E-step + M-step; on the host: read-back, \
         per-component updates, upload; {})",
        100.0 * m / (e + m),
        spent.utilisation()
    );
    Ok((enc.batch(0)?, layer.n_components(), report.iterations))
}

/// Peak resident set size of this process (Linux `VmHWM`), or "unknown".
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn product_matrix(b: usize, k: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..b * k).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect();
    Tensor::from_data(TensorData::new(v, [b, k]), device)
}
