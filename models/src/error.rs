/// What can go wrong in a layer. Each message names the field or value and what to change.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyper-parameter outside its domain.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The config key, e.g. `n_components`.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// Input rows of the wrong width for this layer.
    #[error("input has {got} values per sample, this layer expects {expected}")]
    InputShape {
        /// Values per sample the layer expects.
        expected: usize,
        /// Values per sample it got.
        got: usize,
    },
    /// A NaN or infinity appeared where a number is required.
    #[error("non-finite {what}; {hint}")]
    NonFinite {
        /// What was non-finite.
        what: String,
        /// What to change.
        hint: String,
    },
    /// A covariance that is not positive definite even after regularisation.
    #[error(
        "the covariance of component {component} is not positive definite (pivot {pivot}); {hint}"
    )]
    NotPositiveDefinite {
        /// The component.
        component: usize,
        /// The first non-positive pivot of its Cholesky factorisation.
        pivot: usize,
        /// What to change.
        hint: String,
    },
    /// A device or backend name that is unknown or not compiled in.
    #[error("device '{name}' is not available in this build (compiled in: {available}); {hint}")]
    Device {
        /// The requested name.
        name: String,
        /// The names this build accepts.
        available: String,
        /// How to get it.
        hint: String,
    },
    /// Reading Burn's tensor data back failed.
    #[error("tensor read-back failed: {0}")]
    Readback(String),
}
