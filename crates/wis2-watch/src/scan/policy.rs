//! Which paths under the data directory are reported, and what is refused and why:
//! temporary names, excluded directories and the store's own file are ignored;
//! special files, symlinks leaving the data directory and names that are not UTF-8
//! are refused. No state and no channels: the worker decides what to do with a verdict.

use std::fs::Metadata;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use wis2::event::FileChange;
use wis2::path::RelPath;

use super::error::ScanError;
use crate::notice::{FileNotice, system_time_ns};

/// Names ending like this (ASCII case-insensitive) are temporary and never reported;
/// names starting with `.` neither.
pub const TEMP_SUFFIXES: &[&str] = &[".tmp", ".part", ".partial", ".swp", "~", ".crdownload"];

/// Something in the data directory that is never announced, and why: the service
/// turns it into a dead letter, so that the operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The path (absolute).
    pub path: PathBuf,
    /// The path relative to the data directory, when it is UTF-8.
    pub rel_path: Option<RelPath>,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// Describes one file for `wis2-watch emit FILE`: `path` is absolute or relative to
/// `data_dir` and must lie inside it after resolving symlinks. The notice says
/// `Created`; a caller holding the store may turn it into `Updated`.
pub fn describe_path(data_dir: &Path, path: &Path) -> Result<FileNotice, ScanError> {
    let root = canonical_data_dir(data_dir)?;
    let given = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let not_found = |source| ScanError::NotFound {
        path: given.clone(),
        source,
    };
    // The location of the entry itself (its directory resolved, its own name kept, so
    // that a symlink inside the data directory is described under its own name)…
    let name = given.file_name().ok_or_else(|| ScanError::IsDirectory {
        path: given.clone(),
    })?;
    let parent = given.parent().unwrap_or(Path::new("/"));
    let location = parent.canonicalize().map_err(not_found)?.join(name);
    // …and what it finally points to; both must be inside.
    let target = location.canonicalize().map_err(not_found)?;
    let outside = || ScanError::OutsideDataDir {
        path: given.clone(),
        data_dir: root.clone(),
    };
    if !target.starts_with(&root) {
        return Err(outside());
    }
    let location = if location.starts_with(&root) {
        location
    } else {
        target.clone()
    };
    if location == root {
        return Err(ScanError::IsDataDir { path: given });
    }
    let rel = relative(&root, &location).map_err(|e| match e {
        RelError::Outside => outside(),
        RelError::NotUtf8(lossy) => ScanError::NotUtf8 { lossy },
    })?;
    let meta = std::fs::metadata(&target).map_err(not_found)?;
    if meta.is_dir() {
        return Err(ScanError::IsDirectory { path: given });
    }
    if let Some(kind) = special_kind(&meta) {
        return Err(ScanError::NotRegular { path: given, kind });
    }
    Ok(FileNotice {
        change: FileChange::Created,
        rel_path: rel,
        size: Some(meta.len()),
        modified: meta.modified().ok(),
    })
}

/// The data directory, canonical (symlinks resolved), checked to be a directory.
pub(super) fn canonical_data_dir(data_dir: &Path) -> Result<PathBuf, ScanError> {
    let root = data_dir
        .canonicalize()
        .map_err(|source| ScanError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
    if !root.is_dir() {
        return Err(ScanError::DataDirNotDir {
            path: data_dir.to_path_buf(),
        });
    }
    Ok(root)
}

/// The kind of a non-regular, non-directory file.
fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_file() || ft.is_dir() {
        None
    } else if ft.is_fifo() {
        Some("FIFO (named pipe)")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() {
        Some("block device")
    } else if ft.is_char_device() {
        Some("character device")
    } else if ft.is_symlink() {
        Some("symbolic link")
    } else {
        Some("special file")
    }
}

/// Why a path has no relative name.
pub(super) enum RelError {
    /// Not under the root, or not a plain path below it.
    Outside,
    /// A component is not UTF-8 (the path, lossily converted).
    NotUtf8(String),
}

/// `path` relative to `root`, `/`-separated: where a path of the file system enters
/// as a [`RelPath`].
pub(super) fn relative(root: &Path, path: &Path) -> Result<RelPath, RelError> {
    let rel = path.strip_prefix(root).map_err(|_| RelError::Outside)?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => return Err(RelError::NotUtf8(path.to_string_lossy().into_owned())),
            },
            _ => return Err(RelError::Outside),
        }
    }
    // Normal components are never empty, `.` or `..`; what is left to refuse is the
    // root itself (no component) and a `\` inside a name.
    RelPath::parse(&parts.join("/")).map_err(|_| RelError::Outside)
}

/// (size, mtime in ns) of a file version.
pub(super) type Sig = (u64, i64);

/// A regular file (possibly through a symlink inside the data directory).
pub(super) struct FileState {
    /// Size in bytes.
    pub(super) size: u64,
    /// Modification time, where the file system has one.
    pub(super) modified: Option<SystemTime>,
}

impl FileState {
    /// The version this state names.
    pub(super) fn sig(&self) -> Sig {
        (self.size, self.modified.map(system_time_ns).unwrap_or(0))
    }
}

/// Why a path is not reported.
pub(super) enum Skip {
    /// Left alone silently (temporary name, exclusion, directory, gone meanwhile…).
    Ignored,
    /// Data that cannot be published: what is wrong and how to fix it.
    Refused(String),
}

/// The rules for one data directory.
pub(super) struct Policy {
    /// The data directory, canonical.
    root: PathBuf,
    /// Temporary-name suffixes, lower case.
    suffixes: Vec<String>,
    /// Directories left alone, canonical where they exist.
    exclude: Vec<PathBuf>,
    /// The announce store's file, canonical where it exists (it may lie in the data
    /// directory, and its writes must not be reported).
    store_file: PathBuf,
}

impl Policy {
    /// The rules for the canonical `root`: the built-in temporary suffixes and
    /// `ignore_suffixes`, the `exclude_dirs` (absolute, or relative to `root`) and the
    /// store's file.
    pub(super) fn new(
        root: PathBuf,
        ignore_suffixes: &[String],
        exclude_dirs: &[PathBuf],
        store_file: &Path,
    ) -> Self {
        let exclude = exclude_dirs
            .iter()
            .map(|d| {
                let d = if d.is_absolute() {
                    d.clone()
                } else {
                    root.join(d)
                };
                d.canonicalize().unwrap_or(d)
            })
            .collect();
        let store_file = store_file
            .canonicalize()
            .unwrap_or_else(|_| store_file.to_path_buf());
        let mut suffixes: Vec<String> = TEMP_SUFFIXES.iter().map(|s| s.to_string()).collect();
        suffixes.extend(
            ignore_suffixes
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase()),
        );
        Policy {
            root,
            suffixes,
            exclude,
            store_file,
        }
    }

    /// The data directory, canonical.
    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// The refusal of `path` for `reason`.
    pub(super) fn refusal(&self, path: &Path, reason: String) -> Refusal {
        Refusal {
            path: path.to_path_buf(),
            rel_path: relative(&self.root, path).ok(),
            reason,
        }
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|d| path.starts_with(d))
    }

    /// The relative path of a candidate file or directory, unless it is never reported
    /// (outside, excluded, the store's file, temporary name, not UTF-8).
    pub(super) fn rel_of(&self, path: &Path) -> Result<RelPath, Skip> {
        if path == self.store_file || self.excluded(path) {
            return Err(Skip::Ignored);
        }
        let rel = match relative(&self.root, path) {
            Ok(rel) => rel,
            Err(RelError::Outside) => return Err(Skip::Ignored),
            Err(RelError::NotUtf8(lossy)) => {
                // Temporary names are ignored whatever their encoding.
                let temporary = path.strip_prefix(&self.root).is_ok_and(|r| {
                    r.components()
                        .any(|c| self.ignored_name(&c.as_os_str().to_string_lossy()))
                });
                if temporary {
                    return Err(Skip::Ignored);
                }
                let what = if path.is_dir() {
                    "directory (and the files in it)"
                } else {
                    "file"
                };
                return Err(Skip::Refused(format!(
                    "{what} {lossy} is not announced: its name is not valid UTF-8, and a WIS2 data_id is text (WMO file names are ASCII); rename it to UTF-8 and it is announced"
                )));
            }
        };
        if rel.as_str().split('/').any(|c| self.ignored_name(c)) {
            return Err(Skip::Ignored);
        }
        Ok(rel)
    }

    fn ignored_name(&self, name: &str) -> bool {
        if name.starts_with('.') {
            return true;
        }
        let lower = name.to_ascii_lowercase();
        self.suffixes.iter().any(|s| lower.ends_with(s.as_str()))
    }

    /// Whether a directory is to be descended into (`Ok`), or why not.
    pub(super) fn dir_wanted(&self, path: &Path) -> Result<(), Skip> {
        if self.excluded(path) {
            return Err(Skip::Ignored);
        }
        if path == self.root {
            return Ok(());
        }
        self.rel_of(path).map(|_| ())
    }

    /// The regular file at `path`, following a symlink that stays inside the data
    /// directory.
    pub(super) fn inspect(&self, path: &Path) -> Result<FileState, Skip> {
        let lmeta = path.symlink_metadata().map_err(|_| Skip::Ignored)?;
        let meta = if lmeta.file_type().is_symlink() {
            let target = path.canonicalize().map_err(|e| {
                Skip::Refused(format!(
                    "symlink {} is not announced: its target cannot be resolved ({e}); fix the link or copy the file in instead",
                    path.display()
                ))
            })?;
            if !target.starts_with(&self.root) {
                return Err(Skip::Refused(format!(
                    "symlink {} -> {} is not announced: it points outside the data directory {}, and only files under it are published; copy the file in instead",
                    path.display(),
                    target.display(),
                    self.root.display(),
                )));
            }
            if target == self.store_file || self.excluded(&target) {
                return Err(Skip::Ignored);
            }
            std::fs::metadata(&target).map_err(|_| Skip::Ignored)?
        } else {
            lmeta
        };
        if !meta.file_type().is_file() {
            return Err(match special_kind(&meta) {
                Some(kind) => Skip::Refused(format!(
                    "{} is not announced: it is a {kind}, not a regular file, and only regular files are published; remove it from the data directory",
                    path.display()
                )),
                None => Skip::Ignored,
            });
        }
        Ok(FileState {
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn describe_path_checks_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().canonicalize().unwrap();
        std::fs::create_dir(data.join("sub")).unwrap();
        std::fs::write(data.join("sub/x.nc"), b"abc").unwrap();
        let n = describe_path(&data, Path::new("sub/x.nc")).unwrap();
        assert_eq!(
            (n.change, n.rel_path.as_str(), n.size),
            (FileChange::Created, "sub/x.nc", Some(3))
        );
        let n = describe_path(&data, &data.join("sub/../sub/x.nc")).unwrap();
        assert_eq!(n.rel_path, "sub/x.nc");
        std::os::unix::fs::symlink("sub/x.nc", data.join("link.nc")).unwrap();
        assert_eq!(
            describe_path(&data, Path::new("link.nc")).unwrap().rel_path,
            "link.nc"
        );

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("o.nc"), b"o").unwrap();
        let err = describe_path(&data, &outside.path().join("o.nc")).unwrap_err();
        assert!(matches!(err, ScanError::OutsideDataDir { .. }), "{err}");
        assert!(
            err.to_string().contains("must be inside WIS2_DATA_DIR"),
            "{err}"
        );
        let err = describe_path(&data, Path::new("../escape.nc")).unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::NotFound { .. } | ScanError::OutsideDataDir { .. }
            ),
            "{err}"
        );
        std::os::unix::fs::symlink(outside.path().join("o.nc"), data.join("out.nc")).unwrap();
        let err = describe_path(&data, Path::new("out.nc")).unwrap_err();
        assert!(matches!(err, ScanError::OutsideDataDir { .. }), "{err}");

        let err = describe_path(&data, Path::new("sub")).unwrap_err();
        assert!(matches!(err, ScanError::IsDirectory { .. }), "{err}");
        let err = describe_path(&data, &data).unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::IsDirectory { .. } | ScanError::IsDataDir { .. }
            ),
            "{err}"
        );
        let err = describe_path(&data, Path::new("missing.nc")).unwrap_err();
        assert!(matches!(err, ScanError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("missing.nc"), "{err}");

        let status = std::process::Command::new("mkfifo")
            .arg(data.join("p"))
            .status()
            .unwrap();
        assert!(status.success());
        let err = describe_path(&data, Path::new("p")).unwrap_err();
        assert!(matches!(err, ScanError::NotRegular { .. }), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");

        let err = describe_path(&data.join("nope"), Path::new("x")).unwrap_err();
        assert!(matches!(err, ScanError::DataDir { .. }), "{err}");
    }
}
