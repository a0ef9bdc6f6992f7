//! Which adapter of a graphics API a device name asks for (`wgpu:1`, `vulkan:local`).

/// Which adapter of a graphics API a device name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
pub(crate) enum AdapterIndex {
    /// `:N`, the N-th adapter.
    At(usize),
    /// `:local`, the adapter of this local rank, modulo the number of adapters.
    LocalRank(usize),
}
