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
    /// A GPU that is compiled in but cannot be used on this machine (no adapter, index out of
    /// range, the driver refused it).
    #[error("device '{name}': {reason}")]
    Adapter {
        /// The requested name.
        name: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// Reading Burn's tensor data back failed.
    #[error("tensor read-back failed: {0}")]
    Readback(String),
    /// Rows read from disk when a pass needed them could not be read (the message names the
    /// file).
    #[error("{0}")]
    Data(String),
}

impl ModelError {
    /// `n_components` must be at least 1.
    pub(crate) fn check_components(n: usize) -> Result<(), ModelError> {
        match n {
            0 => Err(ModelError::InvalidConfig {
                field: "n_components",
                reason: "must be at least 1".into(),
            }),
            _ => Ok(()),
        }
    }

    /// A floor or regulariser must be a positive number.
    pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<(), ModelError> {
        match value.is_finite() && value > 0.0 {
            true => Ok(()),
            false => Err(ModelError::InvalidConfig {
                field,
                reason: format!("must be a positive number, got {value}"),
            }),
        }
    }
}
