//! The WTH code tables, loaded from the official bundle's CSVs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::codetable;

/// The WTH tables could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error(
        "cannot read WTH table {path}: {source} (fix: point --wth-dir / WIS2_WTH_DIR at a directory holding the unzipped wth-bundle CSVs, or run `wis2-validate topic sync`)"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "WTH table {path} is malformed: {reason} (fix: re-download the bundle with `wis2-validate topic sync`)"
    )]
    Malformed { path: PathBuf, reason: String },
}

/// The WTH code tables (one CSV per level, as the official `wth-bundle.zip` ships them).
#[derive(Debug, Clone, Default)]
pub struct TopicTables {
    pub(super) channels: Vec<String>,
    pub(super) versions: Vec<String>,
    pub(super) systems: Vec<String>,
    pub(super) notification_types: Vec<String>,
    pub(super) data_policies: Vec<String>,
    /// centre-id -> status (`Operational`, `Pre-operational`, `Retired`, ...).
    centres: BTreeMap<String, String>,
    pub(super) disciplines: Vec<String>,
    /// Every allowed path below level 6, `ocean/surface-based-observations/...`.
    paths: HashSet<String>,
    /// Path -> allowed child names, in file order (for fix texts).
    children: HashMap<String, Vec<String>>,
}

/// The entries of a level table (`Name`, and `Status` when present).
fn read_table(dir: &Path, file: &str) -> Result<Vec<codetable::Entry>, TopicError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| TopicError::Read {
        path: path.clone(),
        source,
    })?;
    codetable::entries(&text).map_err(|reason| TopicError::Malformed { path, reason })
}

fn names(entries: Vec<codetable::Entry>) -> Vec<String> {
    entries.into_iter().map(|e| e.name).collect()
}

impl TopicTables {
    /// Loads the level CSVs (`channel.csv`, `version.csv`, `system.csv`,
    /// `centre-id.csv`, `notification-type.csv`, `data-policy.csv`,
    /// `earth-system-discipline.csv`) from `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, TopicError> {
        let mut t = TopicTables {
            channels: names(read_table(dir, "channel.csv")?),
            versions: names(read_table(dir, "version.csv")?),
            systems: names(read_table(dir, "system.csv")?),
            notification_types: names(read_table(dir, "notification-type.csv")?),
            data_policies: names(read_table(dir, "data-policy.csv")?),
            ..Default::default()
        };
        for e in read_table(dir, "centre-id.csv")? {
            t.centres.insert(e.name, e.status.unwrap_or_default());
        }
        for e in read_table(dir, "earth-system-discipline.csv")? {
            let path = e.name.trim_matches('/').to_string();
            match path.rsplit_once('/') {
                None => t.disciplines.push(path.clone()),
                Some((parent, child)) => {
                    let kids = t.children.entry(parent.to_string()).or_default();
                    if !kids.iter().any(|k| k == child) {
                        kids.push(child.to_string());
                    }
                }
            }
            t.paths.insert(path);
        }
        if t.disciplines.is_empty() {
            return Err(TopicError::Malformed {
                path: dir.join("earth-system-discipline.csv"),
                reason: "no top-level discipline".into(),
            });
        }
        Ok(t)
    }

    /// Every registered centre-id (including retired ones), sorted.
    pub fn centre_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.centres.keys().map(String::as_str)
    }

    /// The registry status of a centre-id (`Operational`, `Pre-operational`,
    /// `Retired`), or `None` when it is not registered.
    pub fn centre_status(&self, centre_id: &str) -> Option<&str> {
        self.centres.get(centre_id).map(String::as_str)
    }

    /// True when the centre-id is registered and not retired.
    pub fn is_active_centre(&self, centre_id: &str) -> bool {
        self.centre_status(centre_id)
            .is_some_and(|s| !s.eq_ignore_ascii_case("retired"))
    }

    /// The allowed earth-system disciplines (level 7).
    pub fn disciplines(&self) -> impl Iterator<Item = &str> + '_ {
        self.disciplines.iter().map(String::as_str)
    }

    /// True when `path` (below level 6, e.g. `ocean/surface-based-observations`) is in
    /// `earth-system-discipline.csv`.
    pub fn has_path(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// The allowed sub-levels directly below `path`.
    pub fn children(&self, path: &str) -> &[String] {
        self.children.get(path).map(Vec::as_slice).unwrap_or(&[])
    }
}
