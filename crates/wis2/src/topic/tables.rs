//! The WTH code tables, loaded from the official bundle's CSVs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

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

/// One CSV row: its fields.
type Row = Vec<String>;

/// Minimal RFC 4180 reader: quoted fields with `""` escapes, CRLF or LF.
fn parse_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut row: Row = Vec::new();
    let mut field = String::new();
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut in_quotes = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Reads `Name` (and `Status` when present) of a level table.
fn read_table(dir: &Path, file: &str) -> Result<Vec<(String, Option<String>)>, TopicError> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| TopicError::Read {
        path: path.clone(),
        source,
    })?;
    let rows = parse_csv(&text).map_err(|reason| TopicError::Malformed {
        path: path.clone(),
        reason,
    })?;
    let mut rows = rows.into_iter();
    let header = rows.next().ok_or_else(|| TopicError::Malformed {
        path: path.clone(),
        reason: "empty file".into(),
    })?;
    let name_col = header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("name"))
        .ok_or_else(|| TopicError::Malformed {
            path: path.clone(),
            reason: "no `Name` column".into(),
        })?;
    let status_col = header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("status"));
    let mut out = Vec::new();
    for row in rows {
        let Some(name) = row.get(name_col).map(|n| n.trim()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let status = status_col
            .and_then(|c| row.get(c))
            .map(|s| s.trim().to_string());
        out.push((name.to_string(), status));
    }
    if out.is_empty() {
        return Err(TopicError::Malformed {
            path,
            reason: "no entries".into(),
        });
    }
    Ok(out)
}

fn names(rows: Vec<(String, Option<String>)>) -> Vec<String> {
    rows.into_iter().map(|(n, _)| n).collect()
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
        for (name, status) in read_table(dir, "centre-id.csv")? {
            t.centres.insert(name, status.unwrap_or_default());
        }
        for (path, _) in read_table(dir, "earth-system-discipline.csv")? {
            let path = path.trim_matches('/').to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_crlf() {
        let rows = parse_csv("Name,Desc\r\na,\"x, \"\"y\"\"\"\r\nb,z").unwrap_or_default();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1][1], "x, \"y\"");
        assert_eq!(rows[2][0], "b");
    }
}
