//! Devices by name (`flex`, `cpu`, `wgpu`, `vulkan:1`, `vulkan:local`), and the GPU adapters
//! a name can pick.

mod adapter;
mod devices;
#[cfg(feature = "wgpu")]
mod gpu;

pub use devices::{DEFAULT_DEVICE, compiled_devices, device_description, device_from_name, is_cpu};
#[cfg(feature = "wgpu")]
pub use gpu::list_adapters;
