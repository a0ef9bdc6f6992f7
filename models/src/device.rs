//! Backends by cargo feature, devices by name at run time.

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

/// Names of the devices compiled into this build (`flex`, `ndarray`, `wgpu`).
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
    }
    names
}

/// The Burn device of that name: `cpu` (the default CPU backend), `flex`, `ndarray`, `wgpu`.
pub fn device_from_name(name: &str) -> Result<Device, ModelError> {
    let name = if name == "cpu" { DEFAULT_DEVICE } else { name };
    match name {
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // measured against flex; kept as an opt-in peer
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        other => Err(ModelError::Device {
            name: other.to_string(),
            available: compiled_devices().join(", "),
            hint: "rebuild with `--features <name>` (e.g. `cargo run --release --features wgpu`) \
                   or pick one of those"
                .into(),
        }),
    }
}

/// This build's default CPU device, if it has a CPU backend (`flex` or `ndarray`).
pub fn cpu_device() -> Option<Device> {
    match DEFAULT_DEVICE {
        "wgpu" => None,
        name => device_from_name(name).ok(),
    }
}

/// Whether `device` computes on this machine's CPU cores (`flex`, `ndarray`). There the EM
/// driver scores several row batches at once, one per thread ([`crate::Encoded::fold_batches`]); a
/// GPU takes them one after another, each already spread over the whole chip.
pub fn is_cpu(device: &Device) -> bool {
    use burn::backend::DispatchDevice;
    match device.as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        _ => false,
    }
}
