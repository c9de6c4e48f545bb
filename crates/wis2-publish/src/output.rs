//! WIS2_OUTPUT: where published messages are also written. A folder (an existing
//! directory, or a path ending with `/`) gets one file per message; a file gets the
//! latest message. Writes are atomic (temporary file, then rename).

use std::io;
use std::path::{Path, PathBuf};

/// Where published messages are written.
#[derive(Debug, Clone)]
pub enum OutputTarget {
    /// One `<data file name>.<message id>.json` per message.
    Folder(PathBuf),
    /// The latest message.
    File(PathBuf),
}

/// The output path cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("WIS2_OUTPUT {path}: {source}; give a writable file, or a folder ending with /")]
pub struct OutputError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

impl OutputTarget {
    /// Decides between folder and file, and creates what is missing.
    pub fn new(path: PathBuf) -> Result<Self, OutputError> {
        let err = |source| OutputError {
            path: path.display().to_string(),
            source,
        };
        let as_folder = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
        if as_folder {
            std::fs::create_dir_all(&path).map_err(err)?;
            Ok(OutputTarget::Folder(path))
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            Ok(OutputTarget::File(path))
        }
    }

    /// Writes one published message; returns where.
    pub fn write(
        &self,
        data_id: &str,
        message_id: &str,
        message: &[u8],
    ) -> Result<PathBuf, OutputError> {
        let path = match self {
            OutputTarget::Folder(dir) => {
                let name = data_id.rsplit('/').next().unwrap_or("message");
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_alphanumeric() || "._-".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                dir.join(format!("{safe}.{message_id}.json"))
            }
            OutputTarget::File(p) => p.clone(),
        };
        write_atomic(&path, message).map_err(|source| OutputError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_gets_one_file_per_message_and_file_gets_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let folder = OutputTarget::new(dir.path().join("out/")).unwrap();
        let a = folder.write("wis2/x/data/R1.nc", "id-1", b"{}").unwrap();
        let b = folder.write("wis2/x/data/R1.nc", "id-2", b"{}").unwrap();
        assert_ne!(a, b);
        assert!(a.ends_with("R1.nc.id-1.json"));
        let file = OutputTarget::new(dir.path().join("last.json")).unwrap();
        file.write("d", "1", b"first").unwrap();
        let p = file.write("d", "2", b"second").unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"second");
    }
}
