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
