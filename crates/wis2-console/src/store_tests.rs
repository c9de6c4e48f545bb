//! Tests of the console's history.

use super::*;

fn fact_published(path: &str, id: &str) -> Fact {
    Fact::Published {
        path: path.into(),
        message_id: id.into(),
        data_id: format!("wis2/x/{path}"),
        created: None,
        validated: None,
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

fn fact_rejected(path: &str, id: &str) -> Fact {
    Fact::Rejected {
        path: Some(path.into()),
        message_id: id.into(),
        data_id: format!("wis2/x/{path}"),
        reason: "invalid".into(),
        report: serde_json::Value::Null,
        link: None,
        created: None,
    }
}

/// Every page of every listing, deep or not, is the slice of the whole listing at its
/// offset, with the right count: before and after pruning, and for a history written
/// before the buckets' counts existed.
#[test]
fn deep_pages_and_time_ranges_agree_with_the_whole_listing() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Store::open(dir.path()).expect("open");
    let t = "2026-12-07T10:00:00Z".to_string();
    // 3,000 files over 6,000 s in bursts; every fifth changed again later, every
    // seventh rejected; a message for each, its pubtime 1.7 s apart.
    for burst in 0..30i64 {
        let mut facts = Vec::new();
        for i in burst * 100..burst * 100 + 100 {
            let path = format!("f{i:05}.nc");
            let unix = 1_000 + i * 2;
            let fact = if i % 7 == 0 {
                fact_rejected(&path, &format!("m{i}"))
            } else {
                fact_published(&path, &format!("m{i}"))
            };
            facts.push((fact, t.clone(), unix));
            let pubtime = chrono::DateTime::from_timestamp_millis(1_000_000 + i * 1_700)
                .expect("a time")
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            facts.push((on_wis2(&format!("m{i}"), &pubtime), t.clone(), unix));
            if i % 5 == 0 && i >= 100 {
                let again = format!("f{:05}.nc", i - 100);
                facts.push((
                    fact_published(&again, &format!("again{i}")),
                    t.clone(),
                    unix,
                ));
            }
        }
        s.apply(&facts).expect("apply");
    }
    let check = |s: &Store| {
        for state in [None, Some(State::Published), Some(State::Rejected)] {
            for (from, to) in [
                (None, None),
                (Some(2_000), Some(4_321)),
                (Some(6_999), None),
            ] {
                let all = Query {
                    state,
                    from,
                    to,
                    limit: usize::MAX,
                    ..Query::default()
                };
                let (whole, n) = s.files(&all).expect("the whole listing");
                assert_eq!(n, whole.len(), "{state:?} {from:?}..{to:?}");
                for offset in [0, 1, 99, 1_024, 1_500, n.saturating_sub(1), n, n + 5] {
                    let (page, m) = s
                        .files(&Query {
                            limit: 10,
                            offset,
                            ..all.clone()
                        })
                        .expect("a page");
                    assert_eq!(m, n, "count of {state:?} {from:?}..{to:?}");
                    let want: Vec<&str> = whole
                        .iter()
                        .skip(offset)
                        .take(10)
                        .map(|r| r.path.as_str())
                        .collect();
                    let got: Vec<&str> = page.iter().map(|r| r.path.as_str()).collect();
                    assert_eq!(got, want, "page at {offset} of {state:?} {from:?}..{to:?}");
                }
            }
        }
        for window in [
            (None, None),
            (Some(1_000_000 + 1_234 * 1_700), None),
            (Some(1_500_000), Some(4_000_000)),
        ] {
            let (whole, n) = s.messages(None, window, usize::MAX, 0).expect("all");
            assert_eq!(n, whole.len(), "{window:?}");
            for offset in [0, 7, 1_001, n.saturating_sub(1), n + 1] {
                let (page, m) = s.messages(None, window, 5, offset).expect("a page");
                assert_eq!(m, n);
                let want: Vec<&str> = whole
                    .iter()
                    .skip(offset)
                    .take(5)
                    .map(|p| p.message_id.as_str())
                    .collect();
                let got: Vec<&str> = page.iter().map(|p| p.message_id.as_str()).collect();
                assert_eq!(got, want, "messages at {offset} in {window:?}");
            }
        }
    };
    check(&s);
    assert!(s.prune(3_000).expect("prune") > 0);
    check(&s);
    // A history from before the counts: they are rebuilt when it is opened.
    let tx = s.db.begin_write().expect("write");
    tx.delete_table(counts::COUNTS).expect("forget the counts");
    tx.open_table(META)
        .expect("meta")
        .remove("counts")
        .expect("forget the counts");
    tx.commit().expect("commit");
    drop(s);
    let s = Store::open(dir.path()).expect("open again");
    check(&s);
}
