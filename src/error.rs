//! Errors: every parse failure names the layer it was reading and the byte
//! offset (within that layer's bytes) where the input stopped making sense;
//! the file path is added once, by the function that opened the file.

use std::path::{Path, PathBuf};

/// A parse failure inside one layer of a file, before the path is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{layer}: at offset {offset:#x}: {message}")]
pub struct FormatError {
    /// The layer being read, e.g. `comp/lzvn` or `fat > comp/lzvn > mach-o`.
    pub layer: String,
    /// Byte offset within that layer's own bytes.
    pub offset: u64,
    /// What was wrong, lower case, no trailing period.
    pub message: String,
}

impl FormatError {
    /// A new error in `layer` at `offset`.
    pub fn new(layer: impl Into<String>, offset: u64, message: impl Into<String>) -> Self {
        FormatError { layer: layer.into(), offset, message: message.into() }
    }

    /// Prefix the layer with the chain of outer layers (`outer > inner`).
    pub fn within(mut self, outer: &str) -> Self {
        if !outer.is_empty() {
            self.layer = format!("{outer} > {}", self.layer);
        }
        self
    }
}

/// Everything that can stop a kcheck command from running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file does not exist.
    #[error("{}: no such file", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The input could not be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The input is not what it claims to be.
    #[error("{}: {source}", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Where in it, and what was wrong.
        #[source]
        source: FormatError,
    },
    /// The root given to `verify` is not a macOS system volume.
    #[error("{}: not a macOS system root: {reason}", .root.display())]
    NotSystem {
        /// The root given.
        root: PathBuf,
        /// Why it is not one.
        reason: String,
    },
    /// A command that only works on a live Mac was asked for elsewhere.
    #[error("{0}")]
    Unsupported(String),
    /// Output could not be written (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// Attach `path` to an I/O error, telling a missing file from others.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing { path: path.to_path_buf() }
        } else {
            Error::Io { path: path.to_path_buf(), source }
        }
    }

    /// Attach `path` to a format error.
    pub fn format(path: &Path, source: FormatError) -> Self {
        Error::Format { path: path.to_path_buf(), source }
    }

    /// The BSD sysexits status for this error (design.md: 65 malformed
    /// input, 66 input missing, 74 I/O error).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Missing { .. } | Error::NotSystem { .. } => 66,
            Error::Unsupported(_) => 64,
            Error::Io { .. } | Error::Output(_) => 74,
            Error::Format { .. } => 65,
        }
    }
}

/// Result of a parse step inside one file.
pub type FormatResult<T> = Result<T, FormatError>;
