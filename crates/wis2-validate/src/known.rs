//! The MQTT channels announced by the centre's WCMP2 records: a data topic no known
//! record announces gets a warning (or a failure with `--require-metadata`), as
//! Global Brokers may discard its messages.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

/// Test id of the check that a data topic is announced by discovery metadata.
pub const ANNOUNCED_TEST_ID: &str = "https://wis2-chain.org/conf/data-topic-announced";

/// The MQTT channels of the centre's known records.
#[derive(Debug, Default)]
pub struct KnownChannels {
    channels: Mutex<BTreeSet<String>>,
}

impl KnownChannels {
    /// Reads the channels of every record (`*.json`) under `dir`; unreadable or
    /// invalid files are skipped with a warning.
    pub fn load_dir(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "WIS2_RECORDS_DIR cannot be read: no records known at start");
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                self.load_dir(&p);
                continue;
            }
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            {
                Some(v) => self.add(&v),
                None => tracing::warn!(file = %p.display(), "not a JSON record; skipped"),
            }
        }
    }

    /// Adds the channels of a record.
    pub fn add(&self, record: &serde_json::Value) {
        let mut c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        c.extend(wis2::wcmp2::mqtt_channels(record));
    }

    /// Whether some known channel (an MQTT filter) matches `topic`.
    pub fn announces(&self, topic: &str) -> bool {
        let c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        c.iter().any(|f| rumqttc::matches(topic, f))
    }

    pub fn is_empty(&self) -> bool {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}
