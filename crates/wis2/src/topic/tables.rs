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
    /// Path (a discipline or below) -> its `Status` (`Operational`, `Experimental`,
    /// `Planned`, `Retired`): only the repository's layout of the WTH has it.
    statuses: HashMap<String, String>,
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

/// The two-level table of satellites and instruments of the repository's layout.
const FLAT: &str = "index-flat.csv";

fn read_pairs(dir: &Path) -> Result<Vec<codetable::Entry>, TopicError> {
    let path = dir.join(FLAT);
    let text = std::fs::read_to_string(&path).map_err(|source| TopicError::Read {
        path: path.clone(),
        source,
    })?;
    codetable::pair_entries(&text, "satellite", "instrument")
        .map_err(|reason| TopicError::Malformed { path, reason })
}

fn names(entries: Vec<codetable::Entry>) -> Vec<String> {
    entries.into_iter().map(|e| e.name).collect()
}

impl TopicTables {
    /// Loads the WTH from `dir`, in either layout:
    /// - the official bundle (`wth-bundle.zip` unzipped): the level CSVs
    ///   (`channel.csv`, `version.csv`, `system.csv`, `centre-id.csv`,
    ///   `notification-type.csv`, `data-policy.csv`) and `earth-system-discipline.csv`
    ///   listing every path; no status below level 7;
    /// - the repository's layout (`topic-hierarchy/`, or that folder itself): the same
    ///   level CSVs and an `earth-system-discipline/` tree with one `index.csv` per
    ///   node, whose `Status` column says which topics are Operational, Experimental,
    ///   Planned or Retired.
    pub fn load_dir(dir: &Path) -> Result<Self, TopicError> {
        if dir.join("earth-system-discipline.csv").is_file() {
            return Self::load_bundle(dir);
        }
        let tree = if dir.join("topic-hierarchy").is_dir() {
            dir.join("topic-hierarchy")
        } else {
            dir.to_path_buf()
        };
        if tree
            .join("earth-system-discipline")
            .join("index.csv")
            .is_file()
        {
            return Self::load_tree(&tree);
        }
        // Neither: the error names the bundle's file, the layout most have.
        Self::load_bundle(dir)
    }

    /// The level tables common to both layouts.
    fn load_levels(dir: &Path) -> Result<Self, TopicError> {
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
        Ok(t)
    }

    /// The official bundle's layout.
    fn load_bundle(dir: &Path) -> Result<Self, TopicError> {
        let mut t = Self::load_levels(dir)?;
        for e in read_table(dir, "earth-system-discipline.csv")? {
            t.add_path(e.name.trim_matches('/').to_string(), e.status);
        }
        t.check_disciplines(&dir.join("earth-system-discipline.csv"))
    }

    /// The repository's layout: `earth-system-discipline/**/index.csv`.
    fn load_tree(dir: &Path) -> Result<Self, TopicError> {
        let mut t = Self::load_levels(dir)?;
        let root = dir.join("earth-system-discipline");
        let mut folders = vec![(root.clone(), String::new())];
        while let Some((folder, prefix)) = folders.pop() {
            let nodes = if folder.join("index.csv").is_file() {
                read_table(&folder, "index.csv")?
            } else {
                Vec::new()
            };
            for e in nodes {
                let path = if prefix.is_empty() {
                    e.name.clone()
                } else {
                    format!("{prefix}/{}", e.name)
                };
                let sub = folder.join(&e.name);
                if sub.join("index.csv").is_file() || sub.join(FLAT).is_file() {
                    folders.push((sub, path.clone()));
                }
                t.add_path(path, e.status);
            }
            // Satellites and their instruments, one row each.
            if folder.join(FLAT).is_file() {
                for e in read_pairs(&folder)? {
                    let (satellite, _) = e.name.split_once('/').unwrap_or((&e.name, ""));
                    let sat_path = format!("{prefix}/{satellite}");
                    if !t.paths.contains(&sat_path) {
                        t.add_path(sat_path, None);
                    }
                    t.add_path(format!("{prefix}/{}", e.name), e.status);
                }
            }
        }
        t.check_disciplines(&root.join("index.csv"))
    }

    fn add_path(&mut self, path: String, status: Option<String>) {
        match path.rsplit_once('/') {
            None => {
                if !self.disciplines.contains(&path) {
                    self.disciplines.push(path.clone());
                }
            }
            Some((parent, child)) => {
                let kids = self.children.entry(parent.to_string()).or_default();
                if !kids.iter().any(|k| k == child) {
                    kids.push(child.to_string());
                }
            }
        }
        if let Some(s) = status.filter(|s| !s.trim().is_empty()) {
            self.statuses.insert(path.clone(), s.trim().to_string());
        }
        self.paths.insert(path);
    }

    fn check_disciplines(self, file: &Path) -> Result<Self, TopicError> {
        let t = self;
        if t.disciplines.is_empty() {
            return Err(TopicError::Malformed {
                path: file.to_path_buf(),
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

    /// The WTH status of a discipline or a path below it (`Operational`,
    /// `Experimental`, `Planned`, `Retired`), when the tables carry one.
    pub fn path_status(&self, path: &str) -> Option<&str> {
        self.statuses.get(path).map(String::as_str)
    }

    /// The allowed sub-levels directly below `path`.
    pub fn children(&self, path: &str) -> &[String] {
        self.children.get(path).map(Vec::as_slice).unwrap_or(&[])
    }
}
