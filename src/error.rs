//! The crate's error type, [`Error`].

use std::path::PathBuf;

/// Errors from opening, reading and writing a store, and from ingesting input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store's files could not be read or written.
    #[error("store I/O failed: {0}")]
    Store(sled::Error),
    /// Another process has the store open.
    #[error(
        "store {} is open in another process (sled locks it); close that process and retry",
        path.display()
    )]
    Locked {
        /// The store directory.
        path: PathBuf,
    },
    /// The path names no idgraph store.
    #[error("{} is not an idgraph store: {reason}", path.display())]
    NotAStore {
        /// The path given.
        path: PathBuf,
        /// Reason it is not a store, and the next step.
        reason: String,
    },
    /// A stored value could not be decoded: the store is corrupt or from a newer version.
    #[error("store is corrupt: {what}: {detail}")]
    Corrupt {
        /// Name of the value being decoded.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// The store was written by an incompatible version of idgraph.
    #[error(
        "store format version {found} is not supported (this build reads version {expected}); \
         open it with a matching idgraph version or re-ingest into a new store"
    )]
    FormatVersion {
        /// Version found in the store.
        found: u32,
        /// Version this build reads and writes.
        expected: u32,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An input file could not be read.
    #[error("cannot read {}: {io_error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error, shown in the message rather than as a source so that it
        /// is printed once.
        io_error: std::io::Error,
    },
    /// A mapping (which column is the key, which are identifiers) is invalid.
    #[error("invalid mapping{}: {message}", path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Mapping {
        /// The mapping file, if the mapping came from one.
        path: Option<PathBuf>,
        /// Description of the problem and its fix.
        message: String,
    },
    /// A row of an input file is invalid.
    #[error("{path}:{line}: {message}")]
    InvalidRow {
        /// The input file.
        path: PathBuf,
        /// The 1-based line number of the row.
        line: u64,
        /// Description of the problem, with the offending value.
        message: String,
    },
    /// A record given through the library API is invalid.
    #[error("invalid record {source_name}/{key}: {message}")]
    InvalidRecord {
        /// The record's source.
        source_name: String,
        /// The record's key.
        key: String,
        /// Description of the problem.
        message: String,
    },
    /// A node, record or entity named by a caller does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A query has no result; the message gives the reason and the next step.
    #[error("{0}")]
    Query(String),
    /// The node or identifier limit of the store is reached.
    #[error("the store is full: {0}")]
    Full(String),
}

impl From<sled::Error> for Error {
    fn from(error: sled::Error) -> Error {
        Error::Store(error)
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl ToString) -> Error {
        Error::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
