//! The inputs of the file checks (`message`, `metadata`, `verify`): each FILE, or
//! `-` for standard input, read when its turn comes; and what a message file holds.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use wis2_bus::cli::Exit;

use crate::output::Reports;

/// The files a check reads, and how its reports are printed: flattened into
/// `message`, `metadata` and `verify` (each gives FILE its own help).
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// Files to check (JSON); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the reports as JSON (one `ets-report` document per line).
    #[arg(long)]
    pub json: bool,
}

impl FileArgs {
    /// Checks each file with `check` (see [`checked`]), prints the reports on
    /// standard output, and returns the outcome ([`Reports::print_all`]).
    pub fn check<R>(&self, check: impl FnMut(&str, &[u8]) -> anyhow::Result<R>) -> Exit
    where
        R: IntoIterator<Item = wis2::report::Report>,
    {
        Reports::stdout(self.json).print_all(checked(&self.files, check))
    }
}

/// The bytes of `path`, or of standard input for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// Each file, read and given to `check` with its name (as the reports name it) when
/// the iterator reaches it, so that its reports are out before the next file is read.
/// A file that cannot be read is its error.
pub fn checked<'a, R>(
    files: &'a [PathBuf],
    mut check: impl FnMut(&str, &[u8]) -> anyhow::Result<R> + 'a,
) -> impl Iterator<Item = anyhow::Result<R>> + 'a {
    files.iter().map(move |path| {
        let raw = read_input(path)?;
        check(&path.display().to_string(), &raw)
    })
}

/// The features of a FeatureCollection, each with its subject (`name#/features/i`);
/// `None` when `value` is not a FeatureCollection (a file of one message).
pub fn features(name: &str, value: &Value) -> Option<Vec<(String, Value)>> {
    if value.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        return None;
    }
    let features = value.get("features").and_then(Value::as_array);
    Some(
        features
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| (format!("{name}#/features/{i}"), f.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_collection_gives_its_features_with_their_place() {
        let c = json!({"type": "FeatureCollection", "features": [{"id": "a"}, {"id": "b"}]});
        let f = features("f.json", &c).expect("a collection");
        assert_eq!(f[1], ("f.json#/features/1".to_string(), json!({"id": "b"})));
        let empty = json!({"type": "FeatureCollection"});
        assert_eq!(features("e.json", &empty), Some(Vec::new()));
        assert_eq!(features("m.json", &json!({"type": "Feature"})), None);
    }

    #[test]
    fn files_are_read_in_turn_and_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a.json");
        std::fs::write(&a, "A").expect("write");
        let files = [a.clone(), dir.path().join("missing.json")];
        let got: Vec<_> =
            checked(&files, |name, raw| Ok((name.to_string(), raw.to_vec()))).collect();
        assert_eq!(
            got[0].as_ref().expect("read"),
            &(a.display().to_string(), b"A".to_vec())
        );
        let e = got[1].as_ref().expect_err("missing");
        assert!(
            e.to_string().starts_with("cannot read ") && e.to_string().contains("missing.json")
        );
    }
}
