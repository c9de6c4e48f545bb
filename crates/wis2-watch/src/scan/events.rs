//! The notify (inotify) side of the scanner: the watcher, and what each kind of
//! event means for the files it names. The same classification decides what is dropped
//! on notify's thread and what the worker does, so the two cannot drift apart.

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Config, Event, EventKind, RecommendedWatcher, Watcher};

/// What an event says happened to each of its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Closed after writing: the file is complete.
    Closed,
    /// Removed or moved away (a file or a whole directory).
    Gone,
    /// Moved into place: complete at once (a directory brings its files).
    MovedIn,
    /// Renamed, without saying which half: moved in if it exists, else gone.
    Renamed,
    /// Created: being written.
    Created,
    /// Written, or its metadata changed (or notify cannot say): being written if it
    /// exists, else gone.
    Touched,
}

/// What an event of this kind means, or `None` when the worker does nothing with it.
pub(super) fn change(kind: &EventKind) -> Option<Change> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(Change::Closed),
        // Opens, reads and closes without writing: every file `wis2-create` reads is one.
        EventKind::Access(_) => None,
        // Both halves of a rename also arrive alone.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => None,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
            Some(Change::Gone)
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Some(Change::MovedIn),
        EventKind::Modify(ModifyKind::Name(_)) => Some(Change::Renamed),
        EventKind::Create(_) => Some(Change::Created),
        EventKind::Modify(_) | EventKind::Any | EventKind::Other => Some(Change::Touched),
    }
}

/// Events the worker does nothing with: opens, closes without writing, and the pairing
/// of a rename's two halves, unless they say events were lost. Dropped on notify's
/// thread, so that they do not wake the worker.
pub(super) fn ignored(ev: &Event) -> bool {
    !ev.need_rescan() && change(&ev.kind).is_none()
}

/// The inotify watcher, watching nothing yet (the worker adds one watch per
/// directory); every event the worker acts on, and every watch error, goes to
/// `forward` (called on notify's thread).
pub(super) fn watcher(
    forward: impl Fn(notify::Result<Event>) + Send + 'static,
) -> notify::Result<RecommendedWatcher> {
    RecommendedWatcher::new(
        move |res: notify::Result<Event>| {
            if !res.as_ref().is_ok_and(ignored) {
                forward(res);
            }
        },
        // Never follow symlinked directories: they may lead outside the data directory.
        Config::default().with_follow_symlinks(false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn only_what_the_worker_does_nothing_with_is_dropped_before_it() {
        use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};
        let ev = |kind| Event::new(kind).add_path(PathBuf::from("/d/x.nc"));
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
        ] {
            assert!(ignored(&ev(kind)), "{kind:?} is dropped");
        }
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Any)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
            EventKind::Other,
        ] {
            assert!(!ignored(&ev(kind)), "{kind:?} reaches the worker");
        }
    }
}
