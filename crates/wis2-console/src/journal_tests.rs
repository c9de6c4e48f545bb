//! Tests of what the console reads of each topic, and of a file's record.

use super::*;

const T: &str = "2026-12-07T10:00:00.000Z";

fn wnm(id: &str) -> String {
    serde_json::json!({
        "id": id, "type": "Feature", "geometry": null,
        "properties": {"data_id": "wis2/x/a.nc", "pubtime": T},
        "links": [{"href": "https://example.org/a.nc", "rel": "canonical"}]
    })
    .to_string()
}

fn envelope(id: &str) -> Vec<u8> {
    Envelope::new(
        "origin/a/wis2/x/data",
        Some("ev-1".into()),
        Some(wis2::path::RelPath::parse("a.nc").expect("path")),
        wnm(id),
    )
    .expect("envelope")
    .to_vec()
}

/// wis2-watch's event for a new file at `path`.
fn file_event(path: &str) -> CloudEvent {
    CloudEvent::file(
        "test",
        wis2::event::FileChange::Created,
        FileData {
            path: wis2::path::RelPath::parse(path).expect("path"),
            size: Some(1),
            modified: None,
            record_id: None,
            reannounce: false,
        },
    )
}

#[test]
fn a_file_goes_through_its_four_steps() {
    let ev = file_event("a.nc");
    let mut r = FileRecord::new("a.nc");
    for (topic, payload) in [
        (topics::EVENTS, ev.to_json().into_bytes()),
        (topics::CREATED, envelope("m1")),
        (topics::VALIDATED, envelope("m1")),
    ] {
        let fact = read(topic, &payload);
        assert_eq!(FileRecord::path_of(&fact), Some("a.nc"), "{fact:?}");
        r.apply(&fact, T);
    }
    let c = Confirmation {
        event_id: Some(ev.id.clone()),
        path: Some(wis2::path::RelPath::parse("a.nc").expect("path")),
        topic: "origin/a/wis2/x/data".into(),
        message_id: "m1".into(),
        data_id: "wis2/x/a.nc".into(),
        rel: wis2::message::Relation::Canonical,
        created: None,
        validated: None,
    };
    r.apply(&read(topics::PUBLISHED, &c.to_vec()), T);
    assert_eq!(r.state, State::Published);
    let stages: Vec<&str> = r.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["announced", "created", "validated", "published"]);
    assert_eq!(r.message_id.as_deref(), Some("m1"));
    assert_eq!(r.link.as_deref(), Some("https://example.org/a.nc"));
    assert!(r.matches("A.NC") && r.matches("wis2/x") && r.matches("m1"));
    assert!(!r.matches("zzz"));
}

/// What the console reads: the event, then the confirmation with the times
/// wis2-create and wis2-validate stamped; four steps, each once, at those times.
#[test]
fn the_confirmation_stamps_give_the_created_and_validated_steps() {
    let ev = file_event("a.nc");
    let mut r = FileRecord::new("a.nc");
    r.apply(&read(topics::EVENTS, ev.to_json().as_bytes()), T);
    let c = Confirmation {
        event_id: Some(ev.id.clone()),
        path: Some(wis2::path::RelPath::parse("a.nc").expect("path")),
        topic: "origin/a/wis2/x/data".into(),
        message_id: "m1".into(),
        data_id: "wis2/x/a.nc".into(),
        rel: wis2::message::Relation::Canonical,
        created: Some("2026-12-07T10:00:00.001Z".into()),
        validated: Some("2026-12-07T10:00:00.002Z".into()),
    };
    let published = read(topics::PUBLISHED, &c.to_vec());
    assert!(r.apply_once(&published, "2026-12-07T10:00:00.003Z"));
    assert!(!r.apply_once(&published, T), "delivered again: no step");
    let steps: Vec<(&str, &str)> = r
        .steps
        .iter()
        .map(|s| (s.stage.as_str(), s.time.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("announced", T),
            ("created", "2026-12-07T10:00:00.001Z"),
            ("validated", "2026-12-07T10:00:00.002Z"),
            ("published", "2026-12-07T10:00:00.003Z")
        ]
    );
    // Published again in the same journey (a replay): a second attempt's steps.
    let again = Confirmation {
        message_id: "m2".into(),
        created: Some("2026-12-07T11:00:00Z".into()),
        validated: Some("2026-12-07T11:00:01Z".into()),
        ..c.clone()
    };
    r.apply(
        &read(topics::PUBLISHED, &again.to_vec()),
        "2026-12-07T11:00:02Z",
    );
    let stages: Vec<&str> = r.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(
        stages,
        [
            "announced",
            "created",
            "validated",
            "published",
            "created",
            "validated",
            "published"
        ]
    );
    // A rejection: its stamp and the link of its message.
    let mut rejected = FileRecord::new("a.nc");
    let rejection = Rejection {
        topic: "origin/a/wis2/x/data".into(),
        event_id: Some(ev.id.clone()),
        path: Some(wis2::path::RelPath::parse("a.nc").expect("path")),
        report: wis2::report::Report::new(None, Vec::new(), Vec::new()),
        message: serde_json::value::RawValue::from_string(wnm("m3")).expect("json"),
        created: Some("2026-12-07T10:00:00.001Z".into()),
    };
    rejected.apply(&read(topics::REJECTED, &rejection.to_vec()), T);
    let stages: Vec<&str> = rejected.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["created", "rejected"]);
    assert_eq!(rejected.link.as_deref(), Some("https://example.org/a.nc"));
}

#[test]
fn a_payload_that_is_not_what_its_topic_carries_is_unreadable_with_the_reason() {
    for topic in [
        topics::EVENTS,
        topics::CREATED,
        topics::REJECTED,
        topics::PUBLISHED,
        topics::DEADLETTER,
        "chain/status/wis2-create",
        "origin/a/wis2/x/data",
    ] {
        match read(topic, b"{not json") {
            Fact::Unreadable {
                reason, excerpt, ..
            } => {
                assert!(reason.starts_with("not "), "{topic}: {reason}");
                assert_eq!(excerpt, "{not json");
            }
            other => panic!("{topic}: {other:?}"),
        }
    }
    assert!(matches!(
        read("chain/barrier/wis2-publish/x", b"nonce"),
        Fact::Ignored
    ));
}

#[test]
fn a_dead_letter_names_the_file_of_its_original_payload() {
    let ev = file_event("d/b.nc");
    let letter = DeadLetter::new(
        "wis2-create",
        "truncated netCDF",
        topics::EVENTS,
        ev.to_json().as_bytes(),
    );
    let fact = read(
        topics::DEADLETTER,
        &serde_json::to_vec(&letter).expect("json"),
    );
    assert_eq!(FileRecord::path_of(&fact), Some("d/b.nc"));
    let mut r = FileRecord::new("d/b.nc");
    r.apply(&fact, T);
    assert_eq!(r.state, State::Deadletter);
    assert_eq!(r.reason.as_deref(), Some("wis2-create: truncated netCDF"));
    assert_eq!(r.deadletter.as_deref(), Some(letter.id.as_str()));
}

/// A letter of wis2-publish holds the envelope: its stamps are the file's steps.
#[test]
fn a_dead_letter_of_a_later_stage_gives_the_stamped_steps() {
    let mut env = Envelope::parse(&envelope("m1")).expect("envelope");
    env.created = Some("2026-12-07T10:00:00.001Z".into());
    env.validated = Some("2026-12-07T10:00:00.002Z".into());
    let letter = DeadLetter::new(
        "wis2-publish",
        "the broker refused it",
        topics::VALIDATED,
        &env.to_vec(),
    );
    let fact = read(
        topics::DEADLETTER,
        &serde_json::to_vec(&letter).expect("json"),
    );
    assert_eq!(FileRecord::path_of(&fact), Some("a.nc"));
    let mut r = FileRecord::new("a.nc");
    r.apply(&fact, T);
    let steps: Vec<(&str, &str)> = r
        .steps
        .iter()
        .map(|s| (s.stage.as_str(), s.time.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("created", "2026-12-07T10:00:00.001Z"),
            ("validated", "2026-12-07T10:00:00.002Z"),
            ("deadletter", T)
        ]
    );
}
