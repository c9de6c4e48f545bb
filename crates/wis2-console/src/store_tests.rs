//! Tests of the console's history.

use super::*;

fn fact_published(path: &str, id: &str) -> Fact {
    Fact::Published {
        path: path.into(),
        message_id: id.into(),
        data_id: format!("wis2/x/{path}"),
    }
}

#[test]
fn files_are_listed_newest_first_searched_filtered_and_pruned() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path()).expect("open");
    let t = "2026-12-07T10:00:00Z".to_string();
    s.apply(&[
        (fact_published("a.nc", "m1"), t.clone(), 100),
        (fact_published("b.nc", "m2"), t.clone(), 200),
    ])
    .expect("apply");
    s.apply(&[(fact_published("a.nc", "m3"), t.clone(), 300)])
        .expect("apply");
    let all = Query {
        limit: 10,
        ..Query::default()
    };
    let (files, total) = s.files(&all).expect("files");
    assert_eq!(total, 2);
    assert_eq!(files[0].path, "a.nc", "changed last, listed first");
    assert_eq!(files[0].message_id.as_deref(), Some("m3"));
    let (found, n) = s
        .files(&Query {
            q: Some("m2".into()),
            ..all.clone()
        })
        .expect("search");
    assert_eq!((found.len(), n), (1, 1));
    let (none, _) = s
        .files(&Query {
            state: Some(State::Rejected),
            ..all.clone()
        })
        .expect("filter");
    assert!(none.is_empty());
    let (page, total) = s
        .files(&Query {
            limit: 1,
            offset: 1,
            ..all.clone()
        })
        .expect("page");
    assert_eq!((page[0].path.as_str(), total), ("b.nc", 2));
    let (b, n) = s
        .files(&Query {
            q: Some("B.N".into()),
            ..all.clone()
        })
        .expect("search by name, any case");
    assert_eq!((b[0].path.as_str(), n), ("b.nc", 1));
    let (recent, n) = s
        .files(&Query {
            from: Some(250),
            ..all.clone()
        })
        .expect("time range");
    assert_eq!((recent[0].path.as_str(), n), ("a.nc", 1));
    let published = Query {
        state: Some(State::Published),
        ..all.clone()
    };
    assert_eq!(s.files(&published).expect("state").1, 2, "counted");
    assert_eq!(s.prune(250).expect("prune"), 1, "b.nc is older");
    assert_eq!(s.len().expect("len"), 1);
    assert_eq!(
        s.files(&published).expect("state").1,
        1,
        "the count follows"
    );
    assert!(
        s.files(&Query {
            q: Some("b.nc".into()),
            ..all.clone()
        })
        .expect("search")
        .0
        .is_empty()
    );
    drop(s);
    let again = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        again
            .file("a.nc")
            .expect("read")
            .expect("kept")
            .message_id
            .as_deref(),
        Some("m3")
    );
}

#[test]
fn a_message_delivered_again_adds_no_step() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path()).expect("open");
    let t = "2026-12-07T10:00:00Z".to_string();
    let published = fact_published("a.nc", "m1");
    s.apply(&[(published.clone(), t.clone(), 100)])
        .expect("apply");
    // The same message again, in a later burst and twice in one burst.
    s.apply(&[(published.clone(), t.clone(), 200)])
        .expect("apply");
    s.apply(&[
        (published.clone(), t.clone(), 300),
        (published, t.clone(), 300),
    ])
    .expect("apply");
    let (files, _) = s
        .files(&Query {
            limit: 10,
            ..Query::default()
        })
        .expect("files");
    assert_eq!(files[0].steps.len(), 1, "{:?}", files[0].steps);
    assert_eq!(
        files[0].updated, 100,
        "a message delivered again changes nothing"
    );
    // Another message of the same file is a step.
    s.apply(&[(fact_published("a.nc", "m2"), t, 400)])
        .expect("apply");
    let (files, _) = s
        .files(&Query {
            limit: 10,
            ..Query::default()
        })
        .expect("files");
    assert_eq!(files[0].steps.len(), 2);
}

fn on_wis2(id: &str, pubtime: &str) -> Fact {
    let message = format!(r#"{{"id":"{id}","properties":{{"pubtime":"{pubtime}"}}}}"#);
    Fact::OnWis2 {
        topic: "origin/a/wis2/x/data".into(),
        message_id: id.into(),
        data_id: format!("x/{id}"),
        pubtime: Some(pubtime.into()),
        message: serde_json::value::RawValue::from_string(message).expect("json"),
    }
}

#[test]
fn messages_are_pruned_by_their_own_time_not_by_the_files_changes() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path()).expect("open");
    let t = "2026-12-07T10:00:00Z".to_string();
    // Unix 1000 and 2000 s.
    s.apply(&[
        (on_wis2("old", "1970-01-01T00:16:40Z"), t.clone(), 1000),
        (on_wis2("new", "1970-01-01T00:33:20Z"), t.clone(), 2000),
        (fact_published("a.nc", "new"), t.clone(), 2000),
    ])
    .expect("apply");
    // The file changes again after its message: the message stays.
    s.apply(&[(fact_published("a.nc", "again"), t.clone(), 2100)])
        .expect("apply");
    assert_eq!(s.prune(1500).expect("prune"), 0, "no file is older");
    let (kept, n) = s.messages(None, (None, None), 10, 0).expect("messages");
    assert_eq!(n, 1, "{kept:?}");
    assert_eq!(kept[0].message_id, "new");
}
