//! What a stage could not process: a [`DeadLetter`] with the stage, the reason and the
//! original payload, published on the dead-letter topic and written to the
//! dead-letter folder ([`DeadLetters`]), so that nothing is lost and an operator can
//! replay it once the cause is fixed (`wis2-publish replay`).

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use tracing::{debug, error, warn};

use crate::bus::{Bus, BusError, publish_packet_size};

/// A message that could not be processed, as published on the dead-letter topic and
/// written to the dead-letter folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    pub stage: String,
    pub reason: String,
    pub time: String,
    /// Topic the original payload arrived on.
    pub topic: String,
    /// How `payload` holds the original bytes.
    pub payload_encoding: PayloadEncoding,
    pub payload: String,
    /// Set when `payload` holds only the beginning of the original, whose length in
    /// bytes this is: the letter on the topic must fit the broker's packet limit. The
    /// copy in the dead-letter folder is always whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<u64>,
}

/// How a dead letter holds its original payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadEncoding {
    /// The payload was UTF-8 text: kept as it is.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Any other bytes: base64 (standard alphabet, padded).
    #[serde(rename = "base64")]
    Base64,
}

impl PartialEq<&str> for PayloadEncoding {
    fn eq(&self, other: &&str) -> bool {
        matches!(
            (self, *other),
            (PayloadEncoding::Utf8, "utf-8") | (PayloadEncoding::Base64, "base64")
        )
    }
}

/// A dead letter's payload that does not decode (a letter file edited by hand, say).
#[derive(Debug, thiserror::Error)]
#[error(
    "the dead letter's payload is not valid base64 ({0}): restore the letter as it was written, or delete it"
)]
pub struct PayloadError(#[from] base64::DecodeError);

/// Longest reason a dead letter keeps, in bytes. A reason that quotes its input back
/// (a JSON error quoting a 1 MB string, an unknown type of 1 MB) keeps its beginning
/// (what is wrong) and its end (how to fix it) and says how much it left out: the
/// input itself is in the payload, and a reason must stay readable in a log line.
pub const MAX_REASON_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes (when longer), keeping its beginning and its
/// end around a note of what was left out.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    // Room for the note (" [... N bytes left out ...] ").
    let budget = max.saturating_sub(48);
    let mut head = budget * 2 / 3;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (budget - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} [... {} bytes left out ...] {}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

impl DeadLetter {
    /// A dead letter of `payload`, received on `topic`; `reason` is kept up to
    /// [`MAX_REASON_BYTES`].
    pub fn new(stage: &str, reason: &str, topic: &str, payload: &[u8]) -> Self {
        let (payload_encoding, payload) = match std::str::from_utf8(payload) {
            Ok(s) => (PayloadEncoding::Utf8, s.to_string()),
            Err(_) => (
                PayloadEncoding::Base64,
                base64::engine::general_purpose::STANDARD.encode(payload),
            ),
        };
        DeadLetter {
            id: uuid::Uuid::new_v4().to_string(),
            stage: stage.to_string(),
            reason: shorten(reason, MAX_REASON_BYTES),
            time: wis2::message::rfc3339(&chrono::Utc::now()),
            topic: topic.to_string(),
            payload_encoding,
            payload,
            truncated_from: None,
        }
    }

    /// This letter as it can go on `topic` under a broker packet limit of `limit`
    /// bytes (0: none): whole when it fits, else with the payload cut to what fits and
    /// `truncated_from` set (and, if even an empty payload is too much, the reason
    /// shortened too).
    pub fn fitted(&self, topic: &str, limit: usize) -> DeadLetter {
        let fits = |dl: &DeadLetter| {
            serde_json::to_vec(dl)
                .map(|v| publish_packet_size(topic, v.len()) <= limit)
                .unwrap_or(false)
        };
        if limit == 0 || fits(self) {
            return self.clone();
        }
        // A letter whose payload does not decode cannot be cut: it goes whole (and is
        // refused as too large by the connection, with a warning).
        let Ok(original) = self.original() else {
            return self.clone();
        };
        let mut cut = self.clone();
        cut.truncated_from = Some(original.len() as u64);
        // JSON escaping and base64 make the payload longer than the bytes kept:
        // start from an estimate and shrink until the letter fits.
        let mut keep = original.len().min(limit);
        loop {
            keep = if self.payload_encoding == PayloadEncoding::Base64 {
                keep.min(limit / 4 * 3)
            } else {
                keep
            };
            cut.payload = if self.payload_encoding == PayloadEncoding::Base64 {
                base64::engine::general_purpose::STANDARD.encode(&original[..keep])
            } else {
                let mut end = keep.min(self.payload.len());
                while !self.payload.is_char_boundary(end) {
                    end -= 1;
                }
                self.payload[..end].to_string()
            };
            if fits(&cut) {
                return cut;
            }
            if keep == 0 {
                break;
            }
            keep = keep * 9 / 10;
        }
        // Still too large with no payload at all: the reason is what takes the room.
        let mut max = cut.reason.len();
        while !fits(&cut) && max > 64 {
            max /= 2;
            cut.reason = shorten(&self.reason, max);
        }
        cut
    }

    /// The letter as JSON. Its fields are strings and an integer: serialising it
    /// cannot fail.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a dead letter is strings and an integer")
    }

    /// The original payload bytes.
    pub fn original(&self) -> Result<Vec<u8>, PayloadError> {
        Ok(match self.payload_encoding {
            PayloadEncoding::Base64 => {
                base64::engine::general_purpose::STANDARD.decode(&self.payload)?
            }
            PayloadEncoding::Utf8 => self.payload.clone().into_bytes(),
        })
    }

    /// Writes the dead letter as `<dir>/<time>-<stage>-<id>.json`.
    pub fn write_to(&self, dir: &Path) -> io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let stamp = self.time.replace([':', '-'], "");
        let path = dir.join(format!("{stamp}-{}-{}.json", self.stage, self.id));
        let tmp = dir.join(format!(".{}.tmp", self.id));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

/// Where a service files its dead letters: the dead-letter topic, and a folder when
/// one is configured (`WIS2_DEADLETTER_DIR`), which keeps every letter whole.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    /// The dead-letter topic.
    pub topic: String,
    /// The dead-letter folder.
    pub dir: Option<PathBuf>,
}

impl DeadLetters {
    /// Letters on `topic` only.
    pub fn new(topic: impl Into<String>) -> Self {
        DeadLetters {
            topic: topic.into(),
            dir: None,
        }
    }

    /// Writes `letter` to the folder, when there is one: a failure is logged (the
    /// topic still has the letter). Blocking: call it from the blocking pool.
    pub fn write(&self, letter: &DeadLetter) {
        let Some(dir) = &self.dir else { return };
        match letter.write_to(dir) {
            Ok(p) => debug!(path = %p.display(), "dead letter written"),
            Err(e) => error!(
                error = %e,
                dir = %dir.display(),
                "cannot write dead letter to folder (kept on the topic): check that WIS2_DEADLETTER_DIR is writable"
            ),
        }
    }

    /// The body of `letter` on the topic, cut to the broker's packet limit `limit`
    /// when needed (see [`DeadLetter::fitted`]).
    pub fn body(&self, letter: &DeadLetter, limit: usize) -> Vec<u8> {
        let on_topic = letter.fitted(&self.topic, limit);
        if let Some(n) = on_topic.truncated_from {
            warn!(
                payload_bytes = n,
                "dead letter too large for the broker: its payload is cut on the topic (whole in the dead-letter folder)"
            );
        }
        on_topic.to_json()
    }

    /// Files `letter` from async code: written to the folder on the blocking pool,
    /// then published on the topic, waiting for the broker's acknowledgement.
    pub async fn file(&self, bus: &Bus, letter: DeadLetter) -> Result<(), BusError> {
        let body = self.body(&letter, bus.max_packet_bytes());
        if self.dir.is_some() {
            let me = self.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || me.write(&letter)).await {
                error!(error = %e, "dead-letter writer crashed");
            }
        }
        bus.publish(&self.topic, body).await?;
        bus.metrics().deadlettered.inc();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(dl: &DeadLetter, topic: &str) -> usize {
        crate::bus::publish_packet_size(topic, serde_json::to_vec(dl).expect("json").len())
    }

    #[test]
    fn a_dead_letter_is_cut_to_fit_the_broker_and_says_so() {
        let topic = "chain/deadletter";
        let small = DeadLetter::new("s", "why", "chain/events", b"{}");
        assert_eq!(small.fitted(topic, 1 << 20), small);
        assert_eq!(small.fitted(topic, 0), small);

        // Text full of characters JSON escapes, and bytes that go as base64.
        let text = "\"\u{1}é".repeat(100_000);
        let binary: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
        for payload in [text.as_bytes(), &binary] {
            let dl = DeadLetter::new("s", "why", "chain/events", payload);
            assert!(size(&dl, topic) > 100_000);
            let cut = dl.fitted(topic, 100_000);
            assert!(size(&cut, topic) <= 100_000, "{}", size(&cut, topic));
            assert!(size(&cut, topic) > 50_000, "not cut more than needed");
            assert_eq!(cut.truncated_from, Some(payload.len() as u64));
            assert_eq!(cut.payload_encoding, dl.payload_encoding);
            let kept = cut.original().expect("the payload decodes");
            assert!(!kept.is_empty() && payload.starts_with(&kept));
            let back: DeadLetter =
                serde_json::from_slice(&serde_json::to_vec(&cut).expect("json")).expect("parse");
            assert_eq!(back, cut);
        }
    }

    #[test]
    fn a_reason_quoting_its_input_is_shortened_keeping_both_ends() {
        let long = format!("what is wrong: {}; how to fix it", "\"é".repeat(300_000));
        let dl = DeadLetter::new("s", &long, "chain/events", long.as_bytes());
        assert!(dl.reason.len() <= MAX_REASON_BYTES, "{}", dl.reason.len());
        assert!(dl.reason.starts_with("what is wrong: "));
        assert!(dl.reason.ends_with("; how to fix it"));
        assert!(dl.reason.contains("bytes left out"));
        assert_eq!(
            dl.original().expect("the payload decodes"),
            long.as_bytes(),
            "the payload stays whole"
        );
        let short = DeadLetter::new("s", "why", "t", b"x");
        assert_eq!(short.reason, "why");
        // Under a limit smaller than the reason, the reason gives way as well.
        let cut = dl.fitted("chain/deadletter", 1500);
        assert!(size(&cut, "chain/deadletter") <= 1500);
        assert!(cut.reason.starts_with("what is wrong"));
        assert!(cut.reason.ends_with("how to fix it"));
        assert_eq!(cut.truncated_from, Some(long.len() as u64));
    }
}
