//! The scanner as a whole, through its API: real files in a temporary data directory,
//! real inotify events, a real store.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use notify::{Event, EventKind};
use tempfile::TempDir;
use wis2::event::FileChange;
use wis2::path::RelPath;

use super::worker::{Msg, RETRY_FIRST};
use super::{FileNotice, ScanError, ScanOptions, Scanner, describe_path, spawn};
use crate::store::{AnnounceStore, Entry};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_millis(300);

struct Fixture {
    data: PathBuf,
    store: AnnounceStore,
    _data_dir: TempDir,
    state_dir: TempDir,
}

fn fixture() -> Fixture {
    let data_dir = tempfile::tempdir().unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let store = AnnounceStore::open(&state_dir.path().join("announced.redb")).unwrap();
    Fixture {
        data: data_dir.path().canonicalize().unwrap(),
        store,
        _data_dir: data_dir,
        state_dir,
    }
}

impl Fixture {
    fn opts(&self, settle: Duration) -> ScanOptions {
        let mut o = ScanOptions::new(&self.data);
        o.settle = settle;
        o
    }

    fn scanner(&self) -> Scanner {
        spawn(self.opts(SETTLE), self.store.clone()).unwrap()
    }

    /// Reopens the store as a restart would (the old handle must be gone).
    fn reopen(&mut self) {
        let path = self.state_dir.path().join("announced.redb");
        let fresh = {
            // Drop our handle first: redb refuses a second open.
            let placeholder = AnnounceStore::open(&self.state_dir.path().join("tmp.redb")).unwrap();
            std::mem::replace(&mut self.store, placeholder)
        };
        drop(fresh);
        self.store = AnnounceStore::open(&path).unwrap();
    }
}

async fn next(s: &mut Scanner) -> FileNotice {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("a notice within the timeout")
        .expect("scanner running")
}

async fn quiet(s: &mut Scanner, d: Duration) {
    if let Ok(n) = tokio::time::timeout(d, s.next()).await {
        panic!("unexpected notice {n:?}");
    }
}

/// The refusals handed out within `d`, by file name.
async fn refusals(s: &mut Scanner, d: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + d;
    while let Ok(Some(r)) = tokio::time::timeout_at(deadline, s.refused()).await {
        let name = r
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((name, r.reason));
    }
    out.sort();
    out
}

/// Acts as the caller: records the notice and says done.
fn ack(s: &Scanner, store: &AnnounceStore, n: &FileNotice) {
    store
        .record(&n.rel_path, &Entry::announced(n, "ev"))
        .unwrap();
    s.done(&n.rel_path);
}

async fn expect(
    s: &mut Scanner,
    store: &AnnounceStore,
    change: FileChange,
    rel: &str,
) -> FileNotice {
    let n = next(s).await;
    assert_eq!((n.change, n.rel_path.as_str()), (change, rel), "{n:?}");
    ack(s, store, &n);
    n
}

#[tokio::test]
async fn chunked_write_is_announced_once_after_close() {
    let f = fixture();
    let mut s = spawn(f.opts(Duration::from_secs(2)), f.store.clone()).unwrap();
    let path = f.data.join("x.nc");
    let mut file = std::fs::File::create(&path).unwrap();
    for _ in 0..5 {
        file.write_all(&[7u8; 1000]).unwrap();
        file.flush().unwrap();
        // Doubles as the pause between chunks: nothing may arrive while writing.
        quiet(&mut s, Duration::from_millis(150)).await;
    }
    drop(file);
    let n = expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    assert_eq!(n.size, Some(5000));
    assert!(n.modified.is_some());
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn rename_into_place_is_announced_once() {
    let f = fixture();
    let mut s = f.scanner();
    std::fs::write(f.data.join(".x.tmp"), b"abc").unwrap();
    quiet(&mut s, QUIET).await;
    std::fs::rename(f.data.join(".x.tmp"), f.data.join("x.nc")).unwrap();
    let n = expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    assert_eq!(n.size, Some(3));
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn temporary_names_are_ignored() {
    let f = fixture();
    let mut o = f.opts(SETTLE);
    o.ignore_suffixes = vec![".LOCK".into()];
    let mut s = spawn(o, f.store.clone()).unwrap();
    for name in [
        ".hidden",
        "a.tmp",
        "b.part",
        "c.partial",
        "d.swp",
        "e~",
        "f.crdownload",
        "G.TMP",
        "h.lock",
    ] {
        std::fs::write(f.data.join(name), b"x").unwrap();
    }
    std::fs::create_dir(f.data.join(".staging")).unwrap();
    std::fs::write(f.data.join(".staging/y.nc"), b"x").unwrap();
    quiet(&mut s, SETTLE * 3).await;
    std::fs::write(f.data.join("real.nc"), b"x").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "real.nc").await;
}

#[tokio::test]
async fn new_directories_are_silent_but_their_files_are_reported() {
    let f = fixture();
    let mut s = f.scanner();
    std::fs::create_dir(f.data.join("sub")).unwrap();
    quiet(&mut s, SETTLE * 2).await;
    std::fs::write(f.data.join("sub/x.nc"), b"abc").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "sub/x.nc").await;

    // A directory moved in with files already inside.
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("batch/deep")).unwrap();
    std::fs::write(outside.path().join("batch/deep/y.nc"), b"y").unwrap();
    std::fs::rename(outside.path().join("batch"), f.data.join("batch")).unwrap();
    expect(&mut s, &f.store, FileChange::Created, "batch/deep/y.nc").await;
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn modify_then_delete() {
    let f = fixture();
    let mut s = f.scanner();
    let path = f.data.join("x.nc");
    std::fs::write(&path, b"one").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    std::fs::write(&path, b"second").unwrap();
    let n = expect(&mut s, &f.store, FileChange::Updated, "x.nc").await;
    assert_eq!(n.size, Some(6));
    // Metadata-only changes do not make a new version.
    let perm = std::fs::metadata(&path).unwrap().permissions();
    std::fs::set_permissions(&path, perm).unwrap();
    quiet(&mut s, SETTLE * 2).await;
    std::fs::remove_file(&path).unwrap();
    let n = expect(&mut s, &f.store, FileChange::Deleted, "x.nc").await;
    assert_eq!((n.size, n.modified), (None, None));
    assert!(!f.store.get("x.nc").unwrap().unwrap().is_live());
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn removed_directory_deletes_its_files() {
    let f = fixture();
    std::fs::create_dir(f.data.join("d")).unwrap();
    let mut s = f.scanner();
    std::fs::write(f.data.join("d/a.nc"), b"a").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "d/a.nc").await;
    let away = tempfile::tempdir().unwrap();
    std::fs::rename(f.data.join("d"), away.path().join("d")).unwrap();
    expect(&mut s, &f.store, FileChange::Deleted, "d/a.nc").await;
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn restart_announces_only_what_changed_while_down() {
    let mut f = fixture();
    std::fs::write(f.data.join("keep.nc"), b"k").unwrap();
    std::fs::write(f.data.join("change.nc"), b"c").unwrap();
    std::fs::write(f.data.join("gone.nc"), b"g").unwrap();
    {
        let mut s = f.scanner();
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = next(&mut s).await;
            assert_eq!(n.change, FileChange::Created);
            ack(&s, &f.store, &n);
            got.push(n.rel_path);
        }
        got.sort();
        assert_eq!(got, ["change.nc", "gone.nc", "keep.nc"]);
        quiet(&mut s, QUIET).await;
    }
    // Down: a new file, a changed one, a removed one.
    std::fs::write(f.data.join("new.nc"), b"n").unwrap();
    std::fs::write(f.data.join("change.nc"), b"cc").unwrap();
    std::fs::remove_file(f.data.join("gone.nc")).unwrap();
    f.reopen();

    let mut s = f.scanner();
    let mut got = Vec::new();
    for _ in 0..3 {
        let n = next(&mut s).await;
        ack(&s, &f.store, &n);
        got.push((n.rel_path.into_string(), n.change));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("change.nc".to_string(), FileChange::Updated),
            ("gone.nc".to_string(), FileChange::Deleted),
            ("new.nc".to_string(), FileChange::Created),
        ]
    );
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn fifos_are_ignored() {
    let f = fixture();
    let status = std::process::Command::new("mkfifo")
        .arg(f.data.join("before.pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let mut s = f.scanner();
    let status = std::process::Command::new("mkfifo")
        .arg(f.data.join("after.pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    quiet(&mut s, SETTLE * 3).await;
    let refused = refusals(&mut s, QUIET).await;
    let names: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["after.pipe", "before.pipe"], "{refused:?}");
    for (_, reason) in &refused {
        assert!(
            reason.contains("FIFO (named pipe), not a regular file"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn symlinks_outside_are_ignored_inside_followed() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"s").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), f.data.join("before.nc")).unwrap();
    std::os::unix::fs::symlink(outside.path(), f.data.join("outdir")).unwrap();
    let mut s = f.scanner();
    std::os::unix::fs::symlink(outside.path().join("secret"), f.data.join("after.nc")).unwrap();
    std::os::unix::fs::symlink(f.data.join("missing"), f.data.join("dangling.nc")).unwrap();
    quiet(&mut s, SETTLE * 3).await;
    let refused = refusals(&mut s, QUIET).await;
    let names: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["after.nc", "before.nc", "dangling.nc", "outdir"],
        "{refused:?}"
    );
    assert!(refused[0].1.contains("points outside the data directory"));
    assert!(refused[2].1.contains("cannot be resolved"));

    std::fs::write(f.data.join("real.nc"), b"1234").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "real.nc").await;
    std::os::unix::fs::symlink("real.nc", f.data.join("alias.nc")).unwrap();
    let n = expect(&mut s, &f.store, FileChange::Created, "alias.nc").await;
    assert_eq!(n.size, Some(4));
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn non_utf8_names_are_skipped() {
    let f = fixture();
    let mut s = f.scanner();
    let bad = f.data.join(OsStr::from_bytes(b"bad\xff.nc"));
    std::fs::write(&bad, b"x").unwrap();
    // A temporary name is ignored whatever its encoding.
    std::fs::write(f.data.join(OsStr::from_bytes(b".bad\xfe.nc.tmp")), b"x").unwrap();
    quiet(&mut s, SETTLE * 3).await;
    let refused = refusals(&mut s, QUIET).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].1.contains("not valid UTF-8"), "{refused:?}");
    let err = describe_path(&f.data, &bad).unwrap_err();
    assert!(matches!(err, ScanError::NotUtf8 { .. }), "{err}");
    assert!(err.to_string().contains("UTF-8"), "{err}");
    // Renamed to UTF-8, it is announced.
    std::fs::rename(&bad, f.data.join("good.nc")).unwrap();
    expect(&mut s, &f.store, FileChange::Created, "good.nc").await;
}

#[tokio::test]
async fn excluded_dirs_and_the_store_file_are_ignored() {
    let f = fixture();
    let state = f.data.join("state");
    let store = AnnounceStore::open(&f.data.join("own.redb")).unwrap();
    let mut o = f.opts(SETTLE);
    o.exclude_dirs = vec![PathBuf::from("state")];
    std::fs::create_dir(&state).unwrap();
    store
        .record(
            &RelPath::parse("other").unwrap(),
            &Entry::new(FileChange::Created, Some(1), None, "e"),
        )
        .unwrap();
    let mut s = spawn(o, store.clone()).unwrap();
    std::fs::write(state.join("x.nc"), b"x").unwrap();
    // Writing the store (under the data directory) must not be reported either.
    store
        .record(
            &RelPath::parse("more").unwrap(),
            &Entry::new(FileChange::Deleted, None, None, "f"),
        )
        .unwrap();
    let n = next(&mut s).await;
    // The only thing the scan may report is the bogus store entry as deleted.
    assert_eq!(
        (n.change, n.rel_path.as_str()),
        (FileChange::Deleted, "other")
    );
    quiet(&mut s, SETTLE * 3).await;
}

#[tokio::test]
async fn overflow_triggers_a_full_rescan() {
    let f = fixture();
    let mut s = f.scanner();
    std::fs::write(f.data.join("x.nc"), b"x").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    // The store forgets it behind the scanner's back; only a rescan can notice.
    f.store.remove("x.nc").unwrap();
    quiet(&mut s, QUIET).await;
    let overflow = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
    s.ctl.send(Msg::Fs(Ok(overflow))).unwrap();
    expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    // Same for an error from the watcher.
    f.store.remove("x.nc").unwrap();
    s.ctl
        .send(Msg::Fs(Err(notify::Error::generic("boom"))))
        .unwrap();
    expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    quiet(&mut s, QUIET).await;
}

#[tokio::test]
async fn periodic_rescan_catches_changes_without_events() {
    let f = fixture();
    let mut o = f.opts(SETTLE);
    o.rescan_interval = Some(Duration::from_millis(500));
    let mut s = spawn(o, f.store.clone()).unwrap();
    std::fs::write(f.data.join("x.nc"), b"x").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    // As if another host wrote it: no inotify event, only the store says otherwise.
    f.store.remove("x.nc").unwrap();
    expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
    quiet(&mut s, Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn unrecorded_notice_is_emitted_again() {
    let f = fixture();
    let mut s = f.scanner();
    std::fs::write(f.data.join("x.nc"), b"x").unwrap();
    let n = next(&mut s).await;
    assert_eq!(n.change, FileChange::Created);
    // Publishing failed: done without recording.
    s.done(&n.rel_path);
    let again = next(&mut s).await;
    assert_eq!(again, n);
    ack(&s, &f.store, &again);
    quiet(&mut s, RETRY_FIRST + QUIET).await;
}

#[tokio::test]
async fn pending_notice_is_not_duplicated_and_change_before_done_is_an_update() {
    let f = fixture();
    let mut s = f.scanner();
    let path = f.data.join("x.nc");
    std::fs::write(&path, b"x").unwrap();
    let first = next(&mut s).await;
    assert_eq!(first.change, FileChange::Created);
    // Not yet done: the same version again yields nothing…
    s.rescan();
    quiet(&mut s, QUIET).await;
    // …a new version is an update of what was handed out.
    std::fs::write(&path, b"xy").unwrap();
    let second = next(&mut s).await;
    assert_eq!(second.change, FileChange::Updated);
    ack(&s, &f.store, &first);
    ack(&s, &f.store, &second);
    quiet(&mut s, RETRY_FIRST + QUIET).await;
}

#[tokio::test]
async fn spawn_on_a_missing_dir_names_it() {
    let f = fixture();
    let err = spawn(ScanOptions::new(f.data.join("absent")), f.store.clone())
        .err()
        .unwrap();
    assert!(err.to_string().contains("absent"), "{err}");
}

#[tokio::test]
async fn a_large_first_scan_hands_out_every_file_once_in_key_order_while_taking_the_dones() {
    let f = fixture();
    let mut want = Vec::new();
    for d in 0..20 {
        let dir = f.data.join(format!("d{d:02}"));
        std::fs::create_dir(&dir).unwrap();
        for i in 0..100 {
            std::fs::write(dir.join(format!("f{i:03}.nc")), b"x").unwrap();
            want.push(format!("d{d:02}/f{i:03}.nc"));
        }
    }
    // Old enough to be complete at once.
    for w in &want {
        let file = std::fs::File::options()
            .write(true)
            .open(f.data.join(w))
            .unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
            .unwrap();
    }
    // More files than the channel holds: the scan goes on only as the caller takes
    // them, and takes their dones meanwhile.
    let mut s = f.scanner();
    let mut got = Vec::new();
    for _ in 0..want.len() {
        let n = next(&mut s).await;
        assert_eq!(n.change, FileChange::Created);
        ack(&s, &f.store, &n);
        got.push(n.rel_path.into_string());
    }
    assert_eq!(got, want, "every file once, in key order");
    quiet(&mut s, QUIET).await;
    // The dones were taken: a change is an update, announced once.
    std::fs::write(f.data.join("d00/f000.nc"), b"changed").unwrap();
    expect(&mut s, &f.store, FileChange::Updated, "d00/f000.nc").await;
    quiet(&mut s, QUIET).await;
}
