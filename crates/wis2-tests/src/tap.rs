//! What the chain ends its input with, as a test sees it: the dead letters (on
//! `chain/deadletter` and in the dead-letter folder), the WIS2 messages, anything
//! else; and a producer that injects raw events on `chain/events`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use wis2_bus::DeadLetter;
use wis2_bus::topics::{DEADLETTER, EVENTS};

use crate::broker::Broker;
use crate::fixtures::{OUTCOMES, TOPIC};
use crate::flags::{args, s};
use crate::observer::{Observer, Seen};
use crate::service::ChainDirs;

/// What the operator account sees: dead letters, WIS2 messages, and anything else
/// (rejections, metadata messages), which the tests that use it do not expect.
pub struct Tap {
    obs: Observer,
    /// The dead letters, parsed, in the order they came.
    pub letters: Vec<DeadLetter>,
    /// The messages on the WIS2 topic, in the order they came.
    pub published: Vec<Value>,
    /// Anything else, as `topic: payload`.
    pub unexpected: Vec<String>,
}

impl Tap {
    /// A fresh operator session on `b`, subscribed to the [`OUTCOMES`].
    pub async fn connect(b: &Broker) -> Tap {
        Tap {
            obs: Observer::connect(b, "operator", &OUTCOMES).await,
            letters: Vec::new(),
            published: Vec::new(),
            unexpected: Vec::new(),
        }
    }

    fn take(&mut self, m: Seen) {
        if m.topic == DEADLETTER {
            let dl = serde_json::from_slice(&m.payload).unwrap_or_else(|e| {
                panic!(
                    "a dead letter that does not parse ({e}): {}",
                    String::from_utf8_lossy(&m.payload)
                )
            });
            self.letters.push(dl);
        } else if m.topic == TOPIC {
            self.published
                .push(serde_json::from_slice(&m.payload).expect("a WIS2 message is JSON"));
        } else {
            self.unexpected.push(format!(
                "{}: {}",
                m.topic,
                String::from_utf8_lossy(&m.payload)
            ));
        }
    }

    /// Receives until `done` holds; fails after `secs` seconds, listing what came.
    pub async fn until(&mut self, what: &str, secs: u64, done: impl Fn(&Tap) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.obs.rx.recv()).await {
                Ok(Some(m)) => self.take(m),
                _ => panic!("{what}: not seen within {secs} s; seen: {}", self.summary()),
            }
        }
    }

    /// Takes what already arrived.
    pub fn drain(&mut self) {
        while let Ok(m) = self.obs.rx.try_recv() {
            self.take(m);
        }
    }

    /// What came, one line each, for a failure's message.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for l in &self.letters {
            let reason: String = l.reason.chars().take(300).collect();
            out.push_str(&format!("\n  dead letter [{}] {reason}", l.stage));
        }
        for m in &self.published {
            out.push_str(&format!("\n  published {}", m["properties"]["data_id"]));
        }
        for u in &self.unexpected {
            let u: String = u.chars().take(300).collect();
            out.push_str(&format!("\n  unexpected {u}"));
        }
        out
    }

    /// The WIS2 messages of the file at `rel` (relative to the data directory).
    pub fn published_for(&self, rel: &str) -> Vec<&Value> {
        let end = format!("/{rel}");
        self.published
            .iter()
            .filter(|m| {
                m["properties"]["data_id"]
                    .as_str()
                    .is_some_and(|d| d.ends_with(&end))
            })
            .collect()
    }

    /// The one dead letter of `case` (told by its whole input, from the folder copy),
    /// with its folder copy.
    pub fn letter<'a>(
        &'a self,
        folder: &'a HashMap<String, DeadLetter>,
        case: &str,
        is_it: impl Fn(&[u8]) -> bool,
    ) -> (&'a DeadLetter, &'a DeadLetter) {
        let found: Vec<_> = self
            .letters
            .iter()
            .map(|l| {
                let copy = folder.get(&l.id).unwrap_or_else(|| {
                    panic!(
                        "{case}: dead letter {} is on the topic but not in the folder",
                        l.id
                    )
                });
                (l, copy)
            })
            .filter(|(_, copy)| is_it(&copy.original().expect("the payload decodes")))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{case}: one dead letter expected; seen: {}",
            self.summary()
        );
        found[0]
    }

    /// The dead letter of the file event for `rel` (the payload is the event).
    pub fn letter_for_file<'a>(
        &'a self,
        folder: &'a HashMap<String, DeadLetter>,
        rel: &str,
    ) -> (&'a DeadLetter, &'a DeadLetter) {
        self.letter(folder, rel, |p| event_path(p).as_deref() == Some(rel))
    }

    /// Asserts the dead letter of the file event for `rel` with [`assert_letter`], the
    /// input being the event the folder copy holds.
    pub fn assert_file_letter(
        &self,
        folder: &HashMap<String, DeadLetter>,
        case: &str,
        rel: &str,
        stage: &str,
        words: &[&str],
    ) {
        let l = self.letter_for_file(folder, rel);
        let input = l.1.original().expect("the payload decodes");
        assert_letter(case, l, stage, words, &input);
    }

    /// Asserts that what came is `letters` dead letters, `published` WIS2 messages and
    /// nothing else.
    pub fn assert_totals(&self, letters: usize, published: usize) {
        assert_eq!(self.letters.len(), letters, "{}", self.summary());
        assert_eq!(self.published.len(), published, "{}", self.summary());
        assert!(self.unexpected.is_empty(), "{}", self.summary());
    }
}

/// `data.path` of an event payload.
pub fn event_path(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v["data"]["path"].as_str().map(str::to_string)
}

/// The dead-letter folder, by letter id.
pub fn folder(d: &ChainDirs) -> HashMap<String, DeadLetter> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(&d.deadletters)
        .expect("the dead-letter folder")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap_or_else(|err| panic!("{name}: {err}"));
        let dl: DeadLetter = serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("{name} is not a dead letter: {err}"));
        out.insert(dl.id.clone(), dl);
    }
    out
}

/// Asserts the dead letter of one case: the stage, the words of its reason (what is
/// wrong and how to fix it), the topic the input came on, and the input kept whole:
/// in the folder copy always, on the topic too unless it was cut to fit the broker's
/// packet limit (then its beginning, with `truncated_from` the whole length).
pub fn assert_letter(
    case: &str,
    (on_topic, copy): (&DeadLetter, &DeadLetter),
    stage: &str,
    words: &[&str],
    input: &[u8],
) {
    assert_eq!(on_topic.stage, stage, "{case}: stage ({})", on_topic.reason);
    for w in words {
        assert!(
            on_topic.reason.contains(w),
            "{case}: the reason does not say `{w}`: {}",
            on_topic.reason
        );
    }
    assert_eq!(on_topic.topic, EVENTS, "{case}: the input's topic");
    assert_eq!(
        (&copy.stage, &copy.reason, &copy.topic),
        (&on_topic.stage, &on_topic.reason, &on_topic.topic),
        "{case}: the folder copy is the same letter"
    );
    assert_eq!(
        copy.truncated_from, None,
        "{case}: the folder copy is whole"
    );
    assert!(
        copy.original().expect("the payload decodes") == input,
        "{case}: the folder copy does not hold the input whole ({} bytes for {})",
        copy.original().expect("the payload decodes").len(),
        input.len()
    );
    let kept = on_topic.original().expect("the payload decodes");
    match on_topic.truncated_from {
        None => assert!(kept == input, "{case}: the input on the topic differs"),
        Some(n) => {
            assert_eq!(n, input.len() as u64, "{case}: truncated_from");
            assert!(
                kept.len() < input.len() && input.starts_with(&kept),
                "{case}: the topic's payload is not the beginning of the input"
            );
        }
    }
}

/// A client with wis2-watch's account that sends raw events on `chain/events`, as
/// another producer (or a broken wis2-watch) would. It has no size check of its own:
/// the broker's limit is the one that counts.
pub async fn injector(b: &Broker) -> wis2_bus::Bus {
    let a: wis2_bus::BrokerArgs = args(&[s("--broker-url"), b.url("wis2-watch")]);
    let mut o = wis2_bus::ConnectOptions::new(
        a.check().expect("options").oneshot_options("bad-producer"),
        vec![],
    );
    o.max_packet_bytes = 0;
    let conn = wis2_bus::Bus::connect(o);
    tokio::time::timeout(Duration::from_secs(10), conn.bus.wait_connected())
        .await
        .expect("injector connected within 10 s")
        .expect("injector bus open");
    conn.bus
}
