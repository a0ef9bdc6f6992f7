//! Backends by cargo feature, devices by name at run time.
//!
//! Names: `cpu` (this build's default CPU backend), `flex`, `ndarray`, and the GPUs `wgpu` (the
//! graphics API wgpu settles on) and `vulkan` (pinned to Vulkan; its kernels are SPIR-V from
//! CubeCL's own compiler in a `--features vulkan` build, the fast path on NVIDIA, else WGSL
//! translated by naga), each with an optional adapter index: `vulkan:1` is the second adapter
//! `gmmzoo devices` lists for Vulkan, and `vulkan:local` the one of this process's local rank
//! under an MPI launcher (one GPU per rank on each machine; round robin where ranks outnumber
//! adapters).

use super::adapter::AdapterIndex;
use crate::ModelError;
use burn::tensor::Device;

/// The device used when none is named: the CPU backend this build prefers.
#[cfg(feature = "flex")]
pub const DEFAULT_DEVICE: &str = "flex";
/// The device used when none is named: the CPU backend this build prefers.
#[cfg(all(not(feature = "flex"), feature = "ndarray"))]
pub const DEFAULT_DEVICE: &str = "ndarray";
/// The device used when none is named: the CPU backend this build prefers.
#[cfg(all(not(feature = "flex"), not(feature = "ndarray")))]
pub const DEFAULT_DEVICE: &str = "wgpu";

/// Names of the devices compiled into this build (`flex`, `ndarray`, `wgpu`, `vulkan`: the
/// `wgpu` feature brings both GPU names).
pub fn compiled_devices() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
        names.push("vulkan");
    }
    names
}

/// The Burn device of that name: `cpu`, `flex`, `ndarray`, `wgpu[:N]`, `vulkan[:N]`. A GPU is
/// brought up here (once per name and process), so a machine without a usable adapter gives
/// an error naming the device, not a panic at the first tensor.
pub fn device_from_name(name: &str) -> Result<Device, ModelError> {
    Ok(open(name)?.0)
}

/// What computes behind a device name: the CPU backend and its worker threads, or the GPU
/// adapter's name, graphics API and driver (e.g. `NVIDIA H100 80GB HBM3 (Vulkan, NVIDIA
/// 550.54.15)`), for `metrics.json` and `gmmzoo bench`.
pub fn device_description(name: &str) -> Result<String, ModelError> {
    Ok(open(name)?.1)
}

fn open(name: &str) -> Result<(Device, String), ModelError> {
    let name = if name == "cpu" { DEFAULT_DEVICE } else { name };
    let (base, index) = match name.split_once(':') {
        Some((base, "local")) => (base, Some(AdapterIndex::LocalRank(local_rank()))),
        Some((base, index)) => {
            let index = index.parse::<usize>().map_err(|_| ModelError::Adapter {
                name: name.into(),
                reason: format!(
                    "'{index}' is not an adapter index (write e.g. {base}:0, or {base}:local \
                     for the adapter of this process's local MPI rank)"
                ),
            })?;
            (base, Some(AdapterIndex::At(index)))
        }
        None => (name, None),
    };
    #[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(unused_variables))]
    let cpu = |device: Device| {
        let threads = rayon::current_num_threads();
        Ok::<_, ModelError>((device, format!("{base} (CPU, {threads} worker threads)")))
    };
    match (base, index) {
        #[cfg(feature = "flex")]
        ("flex", None) => cpu(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // measured against flex; kept as an opt-in peer
        ("ndarray", None) => cpu(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        ("wgpu", index) => super::gpu::open(name, super::gpu::Api::Auto, index),
        #[cfg(feature = "wgpu")]
        ("vulkan", index) => super::gpu::open(name, super::gpu::Api::Vulkan, index),
        ("flex" | "ndarray", Some(_)) if compiled_devices().contains(&base) => {
            Err(ModelError::Adapter {
                name: name.into(),
                reason: format!("{base} is the CPU and takes no index; write {base}"),
            })
        }
        _ => Err(ModelError::Device {
            name: name.to_string(),
            available: compiled_devices().join(", "),
            hint: "rebuild with `--features <name>` (e.g. `cargo run --release --features \
                   vulkan`) or pick one of those"
                .into(),
        }),
    }
}

/// This process's rank among the ranks an MPI launcher (Open MPI, MPICH/Hydra, Slurm, PMI)
/// started on this machine; 0 without one.
fn local_rank() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "PMI_LOCAL_RANK"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Whether `device` computes on this machine's CPU cores (`flex`, `ndarray`). There the EM
/// driver scores several row batches at once, one per thread ([`crate::Encoded::fold_batches`]); a
/// GPU takes them one after another, each already spread over the whole chip.
pub fn is_cpu(device: &Device) -> bool {
    match device.as_dispatch() {
        #[cfg(feature = "flex")]
        burn::backend::DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        burn::backend::DispatchDevice::NdArray(_) => true,
        _ => false,
    }
}
