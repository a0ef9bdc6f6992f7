//! The command line's words: every command, its arguments and their help texts (clap).
// The doc comments below are clap's help texts, where `<name>` is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]

pub(crate) use crate::cli_values::{InpaintStartArg, PatchStepArg, SplitArg, SymmetryArg};
use clap::{Parser, Subcommand};
use gmm_zoo::models::DEFAULT_DEVICE;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "gmmzoo",
    version,
    about = "Deep and convolutional Gaussian mixture models on Burn"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Worker threads of the CPU backends and of every parallel step [default:
    /// $RAYON_NUM_THREADS, else one per CPU core]
    #[arg(long, global = true)]
    pub(crate) threads: Option<usize>,
}

#[derive(clap::Args, Clone)]
pub(crate) struct Common {
    /// Data root holding mnist/ and bsds300/ [default: $GMM_ZOO_DATA, else data/sample]
    #[arg(long)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Device: cpu (this build's default CPU backend), flex, ndarray, or a GPU: `wgpu`, `vulkan`,
    /// `vulkan:N` (N: the adapter, as `gmmzoo devices` lists them; `vulkan:local` for the local
    /// MPI rank's), as compiled in
    #[arg(long, env = "GMM_ZOO_DEVICE", default_value = DEFAULT_DEVICE)]
    pub(crate) device: String,
    /// Only errors and the final summary
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Train the model a config describes; writes a run folder
    Train {
        /// The run config (TOML), e.g. configs/quickstart.toml
        config: PathBuf,
        /// Run folder [default: runs/<name>]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue from the run folder's checkpoint (after Ctrl-C, a crash or a kill); a
        /// staged config keeps its finished stages and resumes the interrupted one
        #[arg(long)]
        resume: bool,
        /// Replace the finished output the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
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
        /// Replace the finished output the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
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
        /// Replace the finished output the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
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
        /// Replace the finished output the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Pictures of a trained run's filters and component overlap: filters.png (power spectrum,
    /// zero-phase and minimum-phase filter of each conv component) and overlap.png; prints the
    /// overlap summary of each layer
    Inspect {
        /// The run folder, or a name from checkpoints/
        run: PathBuf,
        /// Where the pictures go [default: <run>-inspect/; <name>-inspect/ for a checkpoint]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the pictures the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Score new data with a trained run, without training: per-sample log-likelihood and
    /// MAP component (and with --responsibilities the posterior row); prints a summary per
    /// image or file, writes every row with --out
    Score {
        /// The run folder, or a name from checkpoints/
        run: PathBuf,
        /// What to score: `train`, `test` or `valid` (the run's own splits), a .npy or .csv file (one
        /// sample per row), or an image file or folder (tiled into the model's patches, or
        /// whole images of the model's size)
        input: String,
        /// Write one CSV row per sample here
        #[arg(long)]
        out: Option<PathBuf>,
        /// Add the posterior r_c of every component to each CSV row
        #[arg(long, requires = "out")]
        responsibilities: bool,
        /// Which layer of a stack scores, counted from 0 as the run's layer0/ … folders (0 =
        /// the layer on the data; upper layers score the features of the layers below)
        #[arg(long, default_value_t = 0)]
        layer: usize,
        /// Average the model over symmetries of its square patches: `mirror` (the patch and
        /// its left–right mirror image) or `dihedral` (the square's eight: four turns, each
        /// mirrored or not); q(x) = mean over g of p(g·x), again a density
        #[arg(long, value_enum, default_value_t = SymmetryArg::None)]
        symmetry: SymmetryArg,
        #[command(flatten)]
        common: Common,
    },
    /// Score data with an ensemble: the mixture of several runs' densities, its weights equal
    /// or fitted on other rows (--weights-from valid); prints JSON
    Ensemble {
        /// What to score: `train`, `test` or `valid` (the runs' own splits: every run must draw
        /// the same rows), or a .npy or .csv file, or images, as for `score`
        input: String,
        /// The run folders (or names from checkpoints/), at least two
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Fit the weights by EM on these rows first (`valid`: choose on validation, report on
        /// test); equal weights when absent
        #[arg(long)]
        weights_from: Option<String>,
        /// Which layer of each run scores, counted from 0
        #[arg(long, default_value_t = 0)]
        layer: usize,
        /// Average the model over symmetries of its square patches: `mirror` (the patch and
        /// its left–right mirror image) or `dihedral` (the square's eight: four turns, each
        /// mirrored or not); q(x) = mean over g of p(g·x), again a density
        #[arg(long, value_enum, default_value_t = SymmetryArg::None)]
        symmetry: SymmetryArg,
        #[command(flatten)]
        common: Common,
    },
    /// Fill in the missing values (NaN, or empty CSV fields) of a .npy or .csv file with a
    /// trained full layer: each row's conditional mean given what it observes, or with --draw
    /// one draw from the conditional distribution; writes --out (.npy float32, or .csv)
    Impute {
        /// The run folder, or a name from checkpoints/ (its layer 0 must be a full layer)
        run: PathBuf,
        /// The rows, one sample per row, NaN where a value is missing
        input: PathBuf,
        /// The output file, .npy or .csv
        #[arg(long)]
        out: PathBuf,
        /// Draw the missing values from their conditional distribution (seeded by --seed)
        /// instead of taking conditional means
        #[arg(long)]
        draw: bool,
        /// Seed of the draws
        #[arg(long, default_value_t = 0, requires = "draw")]
        seed: u64,
        /// Replace --out if it exists (refused otherwise)
        #[arg(long)]
        overwrite: bool,
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
        /// Replace the finished output the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Restore images under a trained patch prior by EPLL (Zoran & Weiss 2011): denoise white
    /// Gaussian noise of --sigma, inpaint the pixels a --mask marks; writes <stem>.png,
    /// <stem>.npy, <stem>-compare.png per image and restore.json into --out
    Restore(RestoreArgs),
    /// The zoo of trained models in checkpoints/: list, add, verify, table
    #[command(subcommand)]
    Zoo(ZooCommand),
    /// Time EM on a config, and the E-step product on every compiled CPU backend
    Bench(gmm_zoo::bench::BenchArgs),
    /// The devices this build has, and the GPU adapters this machine offers them
    Devices,
}

#[derive(Subcommand)]
pub(crate) enum ZooCommand {
    /// The checkpoints and their recorded test figures
    List,
    /// Record a trained run folder in checkpoints/manifest.toml; with --ship also copy it in
    Add {
        /// The run folder (runs/<name>)
        run: PathBuf,
        /// The config it was trained from [default: configs/<name>.toml]
        #[arg(long)]
        config: Option<String>,
        /// Copy the run folder into checkpoints/<name>/ (at most 8 MB; the largest pictures are
        /// left out of a run over it)
        #[arg(long)]
        ship: bool,
        /// The machine that trained it, in words, for a run trained elsewhere [default: this
        /// machine's CPU, cores and --device]
        #[arg(long)]
        machine: Option<String>,
        /// Replace the finished output the folder holds (refused otherwise)
        #[arg(long)]
        overwrite: bool,
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
        /// Write each reproduced layer's test standard error (s/√N over the test rows) into
        /// the manifest, for entries recorded before it was
        #[arg(long)]
        record_errors: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Score a shipped model averaged over symmetries of its square patches (q(x) = mean over
    /// g of p(g·x)) on its validation and test rows, and record both figures in the manifest
    /// beside its own (zoo verify reproduces them; the table shows them)
    Symmetric {
        /// The shipped checkpoint's name
        name: String,
        /// The group: `mirror` or `dihedral`
        #[arg(long, value_enum)]
        symmetry: SymmetryArg,
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

/// Arguments of `gmmzoo restore`.
#[derive(clap::Args)]
pub(crate) struct RestoreArgs {
    /// The prior: a run folder or a checkpoint name of a layer trained on image patches (e.g.
    /// bsds300_full200_kmeans)
    pub(crate) model: PathBuf,
    /// An image file, or a folder of images (colour is made gray by Rec. 601)
    pub(crate) input: PathBuf,
    /// The noise's standard deviation, in gray levels (0–255)
    #[arg(long)]
    pub(crate) sigma: f64,
    /// A gray image of the input's size: 255 where a pixel is missing, 0 where it is known
    #[arg(long)]
    pub(crate) mask: Option<PathBuf>,
    /// The clean image: PSNR and SSIM of the input and the result against it
    #[arg(long)]
    pub(crate) clean: Option<PathBuf>,
    /// Add white Gaussian noise of --sigma from this seed to each input first (each input is
    /// then its own clean reference)
    #[arg(long)]
    pub(crate) noise_seed: Option<u64>,
    /// The splitting's schedule, β_j = c_j/σ², one pass each [default: 1,4,8,16,32; with
    /// --mask and --inpaint-start fill, c_j from (σ/50)² doubling to 32]
    #[arg(long, value_delimiter = ',')]
    pub(crate) betas: Option<Vec<f64>>,
    /// The patch step's estimate
    #[arg(long, value_enum, default_value = "most-likely")]
    pub(crate) patch_step: PatchStepArg,
    /// Where missing pixels start: each patch's conditional mean given its known pixels under
    /// the prior, or the Gaussian-weighted mean of the known pixels around each
    #[arg(long, value_enum, default_value = "conditional")]
    pub(crate) inpaint_start: InpaintStartArg,
    /// Take only the patches on a grid of this step each pass, shifted every pass (a fast
    /// mode, about stride² times fewer patches); 1: every overlapping patch
    #[arg(long, default_value_t = 1)]
    pub(crate) stride: usize,
    /// Write <stem>.png with 16 bits per pixel
    #[arg(long)]
    pub(crate) sixteen_bit: bool,
    /// Read colour images as gray (Rec. 601) and restore the gray image; without it a colour
    /// image is restored in colour
    #[arg(long)]
    pub(crate) gray: bool,
    /// Output folder [default: restored/]
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace the restoration the folder holds (refused otherwise)
    #[arg(long)]
    pub(crate) overwrite: bool,
    #[command(flatten)]
    pub(crate) common: Common,
}
