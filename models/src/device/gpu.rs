//! GPUs through wgpu: the adapters a machine has, and a device brought up on one of them with
//! its failure turned into an error (Burn's lazy devices panic at the first tensor instead).

use super::adapter::AdapterIndex;
use crate::ModelError;
use burn::tensor::wgpu::{WgpuBackend, wgpu};
use burn::tensor::{Device, DeviceKind};
use std::sync::Mutex;

/// Which graphics APIs a device name may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `wgpu`: whichever API wgpu settles on (Vulkan on Linux where it has an adapter).
    Auto,
    /// `vulkan`: Vulkan only (SPIR-V kernels from CubeCL's compiler with `--features vulkan`,
    /// else WGSL translated by naga).
    Vulkan,
}

impl Api {
    fn backends(self) -> wgpu::Backends {
        match self {
            Api::Auto => wgpu::Backends::all(),
            Api::Vulkan => wgpu::Backends::VULKAN,
        }
    }

    /// The device name that selects this API.
    fn name(self) -> &'static str {
        match self {
            Api::Auto => "wgpu",
            Api::Vulkan => "vulkan",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Api::Auto => "wgpu",
            Api::Vulkan => "Vulkan",
        }
    }
}

/// Devices brought up so far in this process, by name, with their descriptions (a wgpu
/// runtime is initialised once per adapter and API), and the instance that listed adapters
/// (kept: the Vulkan loader misbehaves when instances come and go while others are in use).
static OPENED: Mutex<Vec<(String, Device, String)>> = Mutex::new(Vec::new());
static INSTANCES: Mutex<Vec<(wgpu::Backends, wgpu::Instance)>> = Mutex::new(Vec::new());

/// The adapters `api` reaches on this machine, in wgpu's order (what `vulkan:N` indexes).
fn adapters(api: Api) -> Vec<wgpu::AdapterInfo> {
    let backends = api.backends();
    let mut instances = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
    let instance = match instances.iter().find(|(b, _)| *b == backends) {
        Some((_, instance)) => instance.clone(),
        None => {
            let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
                backends,
                ..wgpu::InstanceDescriptor::new_without_display_handle()
            });
            instances.push((backends, instance.clone()));
            instance
        }
    };
    futures_lite::future::block_on(instance.enumerate_adapters(backends))
        .iter()
        .map(|a| a.get_info())
        .collect()
}

/// `NAME (API, DRIVER DRIVER_INFO)`, e.g. `NVIDIA H100 80GB HBM3 (Vulkan, NVIDIA 550.54.15)`.
fn describe(info: &wgpu::AdapterInfo) -> String {
    let driver = format!("{} {}", info.driver, info.driver_info);
    let driver = driver.trim();
    let kind = match info.device_type {
        wgpu::DeviceType::Cpu => ", software",
        _ => "",
    };
    if driver.is_empty() {
        format!("{} ({:?}{kind})", info.name, info.backend)
    } else {
        format!("{} ({:?}, {driver}{kind})", info.name, info.backend)
    }
}

/// Every adapter each compiled GPU name reaches, as `gmmzoo devices` prints them:
/// `(name to pass to --device, description)`.
pub fn list_adapters() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for api in [Api::Auto, Api::Vulkan] {
        for (i, info) in adapters(api).iter().enumerate() {
            out.push((format!("{}:{i}", api.name()), describe(info)));
        }
    }
    out
}

/// Burn's selector for the `index`-th adapter of `list`: wgpu numbers each adapter type on its
/// own (`DiscreteGpu(n)` is the n-th discrete GPU), so the position in the whole list is
/// turned into the position among adapters of the same type.
fn selector(list: &[wgpu::AdapterInfo], index: usize) -> Option<DeviceKind> {
    let info = &list[index];
    let same = list[..index].iter().filter(|a| a.device_type == info.device_type).count();
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => Some(DeviceKind::DiscreteGpu(same)),
        wgpu::DeviceType::IntegratedGpu => Some(DeviceKind::IntegratedGpu(same)),
        wgpu::DeviceType::VirtualGpu => Some(DeviceKind::VirtualGpu(same)),
        wgpu::DeviceType::Cpu if same == 0 => Some(DeviceKind::Cpu),
        _ => None,
    }
}

fn api_of(backend: wgpu::Backend) -> WgpuBackend {
    match backend {
        wgpu::Backend::Vulkan => WgpuBackend::Vulkan,
        wgpu::Backend::Metal => WgpuBackend::Metal,
        wgpu::Backend::Dx12 => WgpuBackend::Dx12,
        wgpu::Backend::Gl => WgpuBackend::Gl,
        wgpu::Backend::BrowserWebGpu => WgpuBackend::WebGpu,
        _ => WgpuBackend::Auto,
    }
}

/// The device `name` (`wgpu`, `vulkan`, with an optional adapter `index`) and its adapter's
/// description, brought up now: no adapter, an index past the list, or a driver that refuses
/// the device are errors that say so.
pub(crate) fn open(
    name: &str,
    api: Api,
    index: Option<AdapterIndex>,
) -> Result<(Device, String), ModelError> {
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, device, description)) = opened.iter().find(|(n, _, _)| n == name) {
        return Ok((device.clone(), description.clone()));
    }
    let fail = |reason: String| ModelError::Adapter { name: name.into(), reason };
    let list = adapters(api);
    if list.is_empty() {
        return Err(fail(format!(
            "this machine has no {} adapter (no GPU driver found: install the GPU's Vulkan \
             driver and loader, e.g. `apt install libvulkan1 mesa-vulkan-drivers`, or use the \
             CPU with --device cpu)",
            api.label()
        )));
    }
    let index = index.map(|i| match i {
        AdapterIndex::At(i) => i,
        AdapterIndex::LocalRank(rank) => rank % list.len(),
    });
    let (kind, graphics_api) = match index {
        None => (
            DeviceKind::DefaultDevice,
            if api == Api::Vulkan { WgpuBackend::Vulkan } else { WgpuBackend::Auto },
        ),
        Some(i) if i >= list.len() => {
            let names: Vec<String> =
                list.iter().enumerate().map(|(j, a)| format!("{j}: {}", describe(a))).collect();
            return Err(fail(format!(
                "this machine has {} {} adapter(s) — {}",
                list.len(),
                api.label(),
                names.join("; ")
            )));
        }
        Some(i) => match selector(&list, i) {
            Some(kind) => (kind, api_of(list[i].backend)),
            None => {
                return Err(fail(format!(
                    "adapter {i} ({}) cannot be selected by index; use the name without an index",
                    describe(&list[i])
                )));
            }
        },
    };
    let (device, setup) = Device::wgpu_options()
        .device_kind(kind)
        .graphics_api(graphics_api)
        .init_with_setup()
        .map_err(|e| fail(format!("the GPU could not be brought up: {e}")))?;
    let description = describe(&setup.adapter.get_info());
    opened.push((name.to_string(), device.clone(), description.clone()));
    Ok((device, description))
}
