//! Why the scanner cannot start, or a path cannot be described (a leaf, so that the
//! path policy, the watch and the API can all return it).

use std::path::PathBuf;

/// Why a path cannot be watched or described.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The data directory cannot be opened.
    #[error(
        "data directory {path} cannot be opened: {source}; create it or set WIS2_DATA_DIR to an existing directory"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The data directory is a file or something else.
    #[error("data directory {path} is not a directory: set WIS2_DATA_DIR to a directory")]
    DataDirNotDir { path: PathBuf },
    /// The worker thread cannot be started.
    #[error("cannot start the scanner thread: {0}; the system is out of threads or memory")]
    Thread(std::io::Error),
    /// The file given does not exist or cannot be read.
    #[error("file {path} cannot be read: {source}; give an existing file inside WIS2_DATA_DIR")]
    NotFound {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file given (or what its symlink points to) is outside the data directory.
    #[error(
        "{path} is outside WIS2_DATA_DIR {data_dir}: the file must be inside WIS2_DATA_DIR; move or copy it there"
    )]
    OutsideDataDir { path: PathBuf, data_dir: PathBuf },
    /// The path given is a directory.
    #[error("{path} is a directory: give a file (`wis2-watch run` watches directories)")]
    IsDirectory { path: PathBuf },
    /// The path given is a FIFO, socket or device.
    #[error("{path} is a {kind}, not a regular file: only regular files can be announced")]
    NotRegular { path: PathBuf, kind: &'static str },
    /// The path's name is not UTF-8, so it cannot be a data_id.
    #[error(
        "file name {lossy} is not valid UTF-8: rename it to UTF-8, a WIS2 data_id must be text"
    )]
    NotUtf8 { lossy: String },
    /// The path given is the data directory itself.
    #[error("{path} is the data directory itself: give a file inside it")]
    IsDataDir { path: PathBuf },
}
