//! What `wis2-publish` wrote to its WIS2_OUTPUT folder, in either layout: the hourly
//! JSON-lines files (`wis2-messages-<hour>Z.jsonl`, the default) or one `.json` file per
//! message (`--output-layout files`).

use std::path::Path;

use serde_json::Value;

/// Every message in `dir` (lines that do not parse, such as a line being written, and
/// temporary files are left out).
pub fn messages(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        if name.ends_with(".jsonl") {
            out.extend(
                bytes
                    .split(|b| *b == b'\n')
                    .filter_map(|l| serde_json::from_slice::<Value>(l).ok()),
            );
        } else if name.ends_with(".json")
            && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        {
            out.push(v);
        }
    }
    out
}

/// The file name ending the `data_id` of each message in `dir`, with how many
/// messages were written for it.
pub fn counts_by_file(dir: &Path) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for v in messages(dir) {
        if let Some(id) = v["properties"]["data_id"].as_str() {
            let name = id.rsplit('/').next().unwrap_or(id).to_string();
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    counts
}
