//! `history`: fills a console history (`console.redb`) with N files, each with its
//! four steps and its message as published, as the console records them from the
//! chain; for `bench/console.sh`, which then measures the console's answers on it.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use wis2_console::journal::Fact;
use wis2_console::store::Store;

#[derive(clap::Args)]
pub struct Args {
    /// The console's state folder (console.redb is created there).
    #[arg(long)]
    dir: PathBuf,
    /// Files in the history.
    #[arg(long, default_value_t = 1_000_000)]
    files: usize,
    /// Files per transaction.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
}

/// The facts of one published file.
fn facts(i: usize, now: &str, unix: i64) -> Vec<(Fact, String, i64)> {
    let path = format!("d{:04}/R{i:07}_001.nc", i % 2000);
    let data_id = format!(
        "wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers/{path}"
    );
    let message_id = uuid::Uuid::new_v4().to_string();
    let message = json!({
        "id": message_id, "type": "Feature", "geometry": {"type": "Point", "coordinates": [7.25, 43.5]},
        "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
        "properties": {"data_id": data_id, "pubtime": now, "datetime": "2025-06-15T12:00:00Z",
            "metadata_id": "urn:wmo:md:fr-ifremer-argo:cor:msg:argo",
            "integrity": {"method": "sha512", "value": "x".repeat(88)}},
        "links": [{"href": format!("https://data.example.org/{path}"), "rel": "canonical", "type": "application/x-netcdf", "length": 2912}]
    });
    let at = |f: Fact| (f, now.to_string(), unix);
    vec![
        at(Fact::Announced {
            path: path.clone(),
            event_id: uuid::Uuid::new_v4().to_string(),
            record_id: None,
            reannounce: false,
        }),
        at(Fact::OnWis2 {
            topic: "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers".into(),
            message_id: message_id.clone(),
            data_id: data_id.clone(),
            pubtime: Some(now.to_string()),
            message: serde_json::value::to_raw_value(&message).expect("a JSON value"),
        }),
        // The four steps: created and validated are stamped on the confirmation.
        at(Fact::Published {
            path,
            message_id,
            data_id,
            created: Some(now.to_string()),
            validated: Some(now.to_string()),
        }),
    ]
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let store = Store::open(&a.dir)?;
    let t0 = Instant::now();
    let now = chrono::Utc::now();
    let mut done = 0;
    while done < a.files {
        let n = a.batch.min(a.files - done);
        // One second of history per batch: the time range has something to cut.
        let t = now - chrono::Duration::seconds(((a.files - done) / a.batch) as i64);
        let time = wis2::message::rfc3339(&t);
        let batch: Vec<_> = (done..done + n)
            .flat_map(|i| facts(i, &time, t.timestamp()))
            .collect();
        store.apply(&batch)?;
        done += n;
    }
    let bytes = std::fs::metadata(a.dir.join("console.redb"))?.len();
    println!(
        "history: {} files in {:.1} s; console.redb {} MB, {} bytes per file",
        a.files,
        t0.elapsed().as_secs_f64(),
        bytes / 1_000_000,
        bytes / a.files.max(1) as u64
    );
    Ok(())
}
