use std::path::PathBuf;

/// Everything that can go wrong while reading data. Each message names the file or value.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory the dataset needs is not there.
    #[error("{what} not found at {path}: {hint}")]
    Missing {
        /// What was looked for, e.g. "MNIST training images".
        what: String,
        /// Where it was looked for.
        path: PathBuf,
        /// What the user can do about it.
        hint: String,
    },
    /// Reading a file failed at the operating-system level.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (in the message, so not also a `source` that a chained
        /// report would print twice).
        error: std::io::Error,
    },
    /// An IDX file whose header or length is not what the format requires.
    #[error("{path} is not a valid IDX file: {reason}")]
    BadIdx {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An image file that cannot be decoded.
    #[error("cannot decode image {path}: {reason}")]
    BadImage {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// An array file (`.npy`, `.csv`) of the wrong type, shape or content.
    #[error("{path}: {reason}")]
    BadArray {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A request the data cannot satisfy (a patch larger than the images, too few digits...).
    #[error("{0}")]
    Request(String),
}
