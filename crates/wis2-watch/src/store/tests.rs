//! The announce store's unit tests.
use super::*;
use std::time::UNIX_EPOCH;

fn rel(path: &str) -> RelPath {
    RelPath::parse(path).unwrap()
}

fn live(event_id: &str) -> Entry {
    Entry::new(
        FileChange::Created,
        Some(3),
        Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        event_id,
    )
}

/// What a crash would leave: a copy of the file as it is on disk now.
fn crash_copy(path: &Path, dir: &Path, name: &str) -> AnnounceStore {
    let copy = dir.join(name);
    std::fs::copy(path, &copy).unwrap();
    AnnounceStore::open(&copy).unwrap()
}

#[test]
fn confirmations_are_durable_after_the_next_durable_commit_or_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("announced.redb");
    let s = AnnounceStore::open(&path).unwrap();
    s.record(&rel("a/x.nc"), &live("e1")).unwrap();
    assert!(s.confirm("a/x.nc", "e1").unwrap());
    assert!(s.get("a/x.nc").unwrap().unwrap().confirmed, "seen at once");
    // A crash now loses the confirmation: the file is announced again later.
    let lost = crash_copy(&path, dir.path(), "before-flush.redb");
    assert!(!lost.get("a/x.nc").unwrap().unwrap().confirmed);
    s.flush().unwrap();
    let kept = crash_copy(&path, dir.path(), "after-flush.redb");
    assert!(kept.get("a/x.nc").unwrap().unwrap().confirmed);
    // The next announcement's durable commit carries earlier confirmations too.
    s.record(&rel("a/y.nc"), &live("e2")).unwrap();
    assert!(s.confirm("a/y.nc", "e2").unwrap());
    s.record(&rel("a/z.nc"), &live("e3")).unwrap();
    let kept = crash_copy(&path, dir.path(), "after-record.redb");
    assert!(kept.get("a/y.nc").unwrap().unwrap().confirmed);
}

#[test]
fn survives_reopen_and_creates_parent_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/deep/announced.redb");
    {
        let s = AnnounceStore::open(&path).unwrap();
        s.record(&rel("a/x.nc"), &live("e1")).unwrap();
    }
    let s = AnnounceStore::open(&path).unwrap();
    let e = s.get("a/x.nc").unwrap().unwrap();
    assert_eq!(e.event_id, "e1");
    assert_eq!(e.size, Some(3));
    assert_eq!(e.mtime_ns, Some(1_700_000_000_000_000_000));
    assert!(!e.confirmed);
    assert_eq!(s.all().unwrap().len(), 1);
    assert!(s.get("other").unwrap().is_none());
}

#[test]
fn second_open_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.redb");
    let _s = AnnounceStore::open(&path).unwrap();
    // Within one process redb reports the second open as already open.
    match AnnounceStore::open(&path) {
        Err(e) => assert!(e.to_string().contains("a.redb"), "{e}"),
        Ok(_) => panic!("second open of the same store must fail"),
    }
}

#[test]
fn unusable_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = AnnounceStore::open(&file.join("s.redb")).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
    assert!(err.to_string().contains("plain"), "{err}");
    let err = AnnounceStore::open(&file).unwrap_err();
    assert!(err.to_string().contains("plain"), "{err}");
}

#[test]
fn confirm_matches_event_id_and_removes_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
    s.record(&rel("x.nc"), &live("e1")).unwrap();
    assert!(!s.confirm("x.nc", "other").unwrap());
    assert!(!s.get("x.nc").unwrap().unwrap().confirmed);
    assert!(!s.confirm("unknown", "e1").unwrap());
    assert!(s.confirm("x.nc", "e1").unwrap());
    assert!(s.get("x.nc").unwrap().unwrap().confirmed);

    s.record(
        &rel("x.nc"),
        &Entry::new(FileChange::Deleted, Some(3), None, "e2"),
    )
    .unwrap();
    let t = s.get("x.nc").unwrap().unwrap();
    assert!(!t.is_live());
    assert_eq!(t.size, None);
    assert!(s.confirm("x.nc", "e2").unwrap());
    assert!(s.get("x.nc").unwrap().is_none());

    s.record(&rel("y.nc"), &live("e3")).unwrap();
    s.remove("y.nc").unwrap();
    s.remove("y.nc").unwrap();
    assert!(s.all().unwrap().is_empty());
}

#[test]
fn unconfirmed_older_than_lists_old_unconfirmed_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
    let now = system_time_ns(SystemTime::now());
    let mut old = live("old");
    old.announced_at_ns = now - 3_600_000_000_000;
    let mut older = live("older");
    older.announced_at_ns = now - 7_200_000_000_000;
    let mut confirmed = live("c");
    confirmed.announced_at_ns = now - 7_200_000_000_000;
    confirmed.confirmed = true;
    s.record(&rel("old"), &old).unwrap();
    s.record(&rel("older"), &older).unwrap();
    s.record(&rel("confirmed"), &confirmed).unwrap();
    s.record(&rel("fresh"), &live("fresh")).unwrap();

    let due = s.unconfirmed_older_than(Duration::from_secs(60)).unwrap();
    let names: Vec<&str> = due.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["older", "old"]);
    let all = s.unconfirmed_older_than(Duration::ZERO).unwrap();
    assert_eq!(all.len(), 3);
}

#[test]
fn the_pending_count_follows_announcements_confirmations_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let s = AnnounceStore::open(&path).unwrap();
    assert_eq!(s.pending(), 0);
    let a = live("a");
    s.record_many(&[(rel("a"), a.clone()), (rel("b"), live("b"))])
        .unwrap();
    assert_eq!(s.pending(), 2);
    // Announced again before its confirmation: still one pending file.
    s.record(&rel("a"), &a).unwrap();
    assert_eq!(s.pending(), 2);
    assert_eq!(
        s.confirm_many(&[("a".into(), a.event_id.clone())]).unwrap(),
        [true]
    );
    assert_eq!(s.pending(), 1);
    // A confirmation of an older event changes nothing.
    assert_eq!(
        s.confirm_many(&[("b".into(), "old".into())]).unwrap(),
        [false]
    );
    assert_eq!(s.pending(), 1);
    s.remove("b").unwrap();
    s.remove("a").unwrap();
    assert_eq!(s.pending(), 0);
    s.record(&rel("c"), &live("c")).unwrap();
    drop(s);
    assert_eq!(
        AnnounceStore::open(&path).unwrap().pending(),
        1,
        "counted at open"
    );
}

#[test]
fn under_lists_a_directory_subtree_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
    for k in ["a", "a.nc", "a-b/x", "a/x", "a/y/z", "ab/x", "b"] {
        s.record(&rel(k), &live(k)).unwrap();
    }
    let keys: Vec<RelPath> = s.under("a").unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "a/x", "a/y/z"]);
    assert!(s.under("c").unwrap().is_empty());
}

#[test]
fn keys_that_are_not_relative_paths_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
    s.record(&rel("a/x.nc"), &live("e1")).unwrap();
    // As a hand-edited store could hold them: wis2-watch never writes these.
    let tx = s.db.begin_write().unwrap();
    {
        let mut table = tx.open_table(ANNOUNCED).unwrap();
        let bytes = AnnounceStore::encode(&live("bad"));
        for k in ["a/../x.nc", "/a/y.nc", "a//z.nc"] {
            table.insert(k, bytes.as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
    let keys = |v: Vec<(RelPath, Entry)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(keys(s.all().unwrap()), ["a/x.nc"]);
    assert_eq!(keys(s.under("a").unwrap()), ["a/x.nc"]);
    assert_eq!(
        keys(s.unconfirmed_older_than(Duration::ZERO).unwrap()),
        ["a/x.nc"]
    );
}

#[test]
fn notice_round_trip() {
    let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    let n = FileNotice {
        change: FileChange::Updated,
        rel_path: rel("a/b.nc"),
        size: Some(9),
        modified: Some(t),
    };
    let e = Entry::announced(&n, "ev");
    assert!(e.same_file(&n));
    assert_eq!(e.notice(&rel("a/b.nc")), n);
    let mut other = n.clone();
    other.size = Some(10);
    assert!(!e.same_file(&other));
    let gone = Entry::new(FileChange::Deleted, Some(9), Some(t), "ev2");
    assert!(!gone.same_file(&n));
    assert_eq!(gone.notice(&rel("a/b.nc")).size, None);
}

#[test]
fn handle_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<AnnounceStore>();
}

#[test]
fn a_first_start_lasts_until_done_and_baselined_files_are_known_and_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let s = AnnounceStore::open(&path).unwrap();
    assert!(s.first_start().unwrap(), "a new store");
    s.record(&rel("a/x.nc"), &live("e1")).unwrap();
    s.set_first_start_done(false).unwrap();
    let files = [(rel("a/x.nc"), 9, 1), (rel("a/y.nc"), 9, 2)];
    assert_eq!(
        s.baseline_many(&files).unwrap(),
        1,
        "a known file is left alone"
    );
    let y = s.get("a/y.nc").unwrap().unwrap();
    assert!(y.baselined && y.confirmed && y.event_id.is_empty(), "{y:?}");
    assert_eq!((y.size, y.mtime_ns), (Some(9), Some(2)));
    assert_eq!(s.get("a/x.nc").unwrap().unwrap().event_id, "e1");
    assert_eq!(s.pending(), 1, "baselined files are not pending");
    drop(s);
    let s = AnnounceStore::open(&path).unwrap();
    assert!(s.first_start().unwrap(), "interrupted: it goes on");
    s.set_first_start_done(true).unwrap();
    drop(s);
    assert!(!AnnounceStore::open(&path).unwrap().first_start().unwrap());
}

#[test]
fn a_store_written_before_the_pending_index_is_indexed_at_open_and_not_a_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        // As an older wis2-watch left it: entries, no pending table, no state.
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(ANNOUNCED).unwrap();
            let mut done = live("c");
            done.confirmed = true;
            t.insert("a/x.nc", AnnounceStore::encode(&live("p")).as_slice())
                .unwrap();
            t.insert("a/y.nc", AnnounceStore::encode(&done).as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let s = AnnounceStore::open(&path).unwrap();
    assert!(!s.first_start().unwrap());
    assert_eq!(s.pending(), 1);
    let due = s.unconfirmed_older_than(Duration::ZERO).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].0.as_str(), "a/x.nc");
    assert!(s.confirm("a/x.nc", "p").unwrap());
    assert_eq!(s.pending(), 0);
    assert!(s.unconfirmed_older_than(Duration::ZERO).unwrap().is_empty());
    assert_eq!(s.len().unwrap(), 2);
}

#[test]
fn pages_read_every_entry_once_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
    for k in ["b", "a/x", "a-b/x", "a.nc"] {
        s.record(&rel(k), &live(k)).unwrap();
    }
    let first = s.page(None, 3).unwrap();
    let keys: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a-b/x", "a.nc", "a/x"]);
    let rest = s.page(Some("a/x"), 3).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].0.as_str(), "b");
}
