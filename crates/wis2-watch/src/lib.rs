//! # wis2-watch: the file system in, file events out
//!
//! Watches the data directory ([`scan`]), publishes one CloudEvent per complete file
//! (created, updated, deleted) and remembers what it announced ([`store`]). A file
//! stays pending until `wis2-publish` confirms its notification is on the WIS2 topic;
//! a file still pending after the confirmation timeout is announced again, so a
//! message lost anywhere downstream is not lost for good. After a broker that may have
//! lost what it held, the pending files are announced again at once ([`recovery`]).
//!
//! A first start on a tree that already holds files records them as known without
//! announcing them, unless `WIS2_ANNOUNCE_EXISTING` says otherwise ([`baseline`]).

pub mod baseline;
pub mod notice;
pub mod recovery;
pub mod scan;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use wis2::event::{CloudEvent, FileChange, FileData};
use wis2::path::RelPath;
use wis2_bus::envelope::Confirmation;
use wis2_bus::service::{Millis, Secs};
use wis2_bus::{Broker, Bus, DeadLetter, Service, Settings, Shutdown, StateArgs};

const STATE_DIR_HELP: &str =
    "Folder of the durable state: announced.redb (what was announced, what is pending)";

/// The service's own settings (`run` takes them after every service's).
#[derive(Debug, Clone, Args)]
#[command(
    about = "Run the service: watch the data directory, emit one event per complete file",
    mut_arg("concurrency", |a| a.hide(true)),
    mut_arg("state_dir", |a| a.help(STATE_DIR_HELP))
)]
pub struct RunArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub watch: WatchArgs,
    /// File announced at start (relative to WIS2_DATA_DIR, or absolute inside it).
    #[arg(long, env = "WIS2_INPUT_FILE")]
    pub input_file: Option<PathBuf>,
    /// Which files already in WIS2_DATA_DIR a first start (an empty state) announces:
    /// `none` (recorded as known: only later changes are announced), `all`, or a
    /// duration such as `24h` or `7d` (the files modified within it). Discovery
    /// metadata records and WIS2_INPUT_FILE are announced whatever it says; files
    /// that arrive while the watcher is stopped are announced at its next start.
    #[arg(long, env = "WIS2_ANNOUNCE_EXISTING", default_value = "none")]
    pub announce_existing: baseline::AnnounceExisting,
    /// Milliseconds a file's size and modification time must stay unchanged to count
    /// as complete when no close-after-write is seen.
    #[arg(long, env = "WIS2_SETTLE_MS", default_value = "2000")]
    pub settle_ms: Millis,
    /// Seconds after which a file whose publication is not confirmed is announced
    /// again: the safety net for what the re-sending after a broker restart does not
    /// catch (it fires only once every service of the chain was online all that time).
    #[arg(long, env = "WIS2_CONFIRM_TIMEOUT", default_value = "300")]
    pub confirm_timeout: Secs,
    /// Hours between re-announcements of every current metadata record (the Global
    /// Discovery Catalogue expects them daily); 0 turns it off.
    #[arg(long, env = "WIS2_METADATA_REANNOUNCE_HOURS", default_value_t = 24)]
    pub metadata_reannounce_hours: u64,
    /// Name endings never announced (comma-separated, case-insensitive), besides
    /// temporary names (`.name`, `*.tmp`, `*.part`, ...).
    #[arg(long, env = "WIS2_IGNORE", value_delimiter = ',', default_value = "README.md")]
    pub ignore: Vec<String>,
    /// Seconds between full rescans of the data directory, for file systems without
    /// local change events (NFS written by other hosts); 0 for none.
    #[arg(long, env = "WIS2_RESCAN_SECS", default_value = "0")]
    pub rescan_secs: Secs,
    /// Most files pending at once (announced, not confirmed yet): more wait on disk
    /// until confirmations come. Keep it under the broker's max_queued_messages
    /// (100,000 in broker/mosquitto.conf), so that a stopped service's queue never
    /// reaches the broker's limit.
    #[arg(long, env = "WIS2_MAX_PENDING", default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending: u64,
    /// Topic the confirmations of wis2-publish arrive on.
    #[arg(long, env = "WIS2_PUBLISHED_TOPIC", default_value = wis2_bus::topics::PUBLISHED)]
    pub published_topic: String,
    /// For tests: at most this many inotify watches (one per directory), as if the
    /// system's limit (fs.inotify.max_user_watches) were reached there; 0 for the
    /// system's limit only.
    #[arg(long, env = "WIS2_MAX_WATCHES", default_value_t = 0, hide = true)]
    pub max_watches: usize,
}

impl RunArgs {
    /// The scanner's settings for `data_dir` (resolved).
    pub(crate) fn scan_options(&self, data_dir: &Path) -> scan::ScanOptions {
        let mut opts = scan::ScanOptions::new(data_dir);
        opts.settle = self.settle_ms.0;
        opts.ignore_suffixes = self.ignore.clone();
        opts.rescan_interval = (!self.rescan_secs.0.is_zero()).then_some(self.rescan_secs.0);
        opts.max_watches = (self.max_watches > 0).then_some(self.max_watches);
        if let Ok(state) = self.state.state_dir.canonicalize()
            && state.starts_with(data_dir)
        {
            opts.exclude_dirs.push(state);
        }
        opts
    }
}

impl Settings for RunArgs {
    type Config = Config;

    /// The data directory.
    fn check(&self) -> anyhow::Result<Config> {
        let data_dir = self.watch.data_dir.canonicalize().with_context(|| {
            format!(
                "WIS2_DATA_DIR {} cannot be opened: create it or point WIS2_DATA_DIR at the data",
                self.watch.data_dir.display()
            )
        })?;
        Ok(Config {
            data_dir,
            args: self.clone(),
        })
    }
}

/// The settings of the service, checked.
pub struct Config {
    /// The data directory, resolved.
    data_dir: PathBuf,
    args: RunArgs,
}

/// Most file changes announced in one burst (one store transaction).
const ANNOUNCE_BATCH: usize = 256;

/// How long confirmations wait for others to share their store transaction (at most
/// [`ANNOUNCE_BATCH`] together). They only mark files as published: waiting delays
/// nothing a user sees, and one commit per burst instead of one per few messages is
/// a third of this service's CPU time at full load.
const CONFIRM_GATHER: Duration = Duration::from_millis(25);

/// Where events go.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Directory of the data files, watched recursively.
    #[arg(long, env = "WIS2_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Topic the file events go to.
    #[arg(long, env = "WIS2_EVENTS_TOPIC", default_value = wis2_bus::topics::EVENTS)]
    pub events_topic: String,
    /// CloudEvents `source` of the events.
    #[arg(long, env = "WIS2_EVENT_SOURCE", default_value = "urn:wis2-chain:wis2-watch")]
    pub source: String,
    /// Folder of the WCMP2 discovery metadata records, relative to WIS2_DATA_DIR.
    #[arg(long, env = "WIS2_METADATA_DIR", default_value = "metadata")]
    pub metadata_dir: String,
}

impl WatchArgs {
    /// Whether `rel` is a WCMP2 record of the metadata folder.
    pub fn is_metadata(&self, rel: &RelPath) -> bool {
        let rel = rel.as_str();
        let dir = self.metadata_dir.trim_matches('/');
        !dir.is_empty()
            && rel.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
            && rel.ends_with(".json")
    }

    /// The `id` of the record at `rel`, when it is a readable WCMP2 record.
    pub fn record_id(&self, data_dir: &Path, rel: &RelPath) -> Option<String> {
        if !self.is_metadata(rel) {
            return None;
        }
        let bytes = std::fs::read(data_dir.join(rel)).ok()?;
        if bytes.len() > wis2::event::MAX_EVENT_BYTES {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get("id")?.as_str().map(str::to_string)
    }
}

fn rfc3339(t: Option<SystemTime>) -> Option<String> {
    t.map(|t| wis2::message::rfc3339(&chrono::DateTime::<chrono::Utc>::from(t)))
}

/// The CloudEvent of a file notice.
pub fn event_for(
    source: &str,
    notice: &scan::FileNotice,
    record_id: Option<String>,
    reannounce: bool,
) -> CloudEvent {
    CloudEvent::file(
        source,
        notice.change,
        FileData {
            path: notice.rel_path.clone(),
            size: if notice.change == FileChange::Deleted {
                None
            } else {
                notice.size
            },
            modified: rfc3339(notice.modified),
            record_id,
            reannounce,
        },
    )
}

/// `wis2-watch emit FILE`: publishes the event of one file and returns after the
/// broker's acknowledgement.
pub async fn emit_once(
    broker: &Broker,
    watch: &WatchArgs,
    file: &Path,
) -> anyhow::Result<CloudEvent> {
    let notice = scan::describe_path(&watch.data_dir, file)?;
    let ev = event_for(
        &watch.source,
        &notice,
        watch.record_id(&watch.data_dir, &notice.rel_path),
        false,
    );
    wis2_bus::publish_once(
        broker,
        "wis2-watch",
        &watch.events_topic,
        ev.to_json().into_bytes(),
    )
    .await
    .context("publishing the event")?;
    Ok(ev)
}

struct Watcher {
    bus: Bus,
    store: store::AnnounceStore,
    args: RunArgs,
    data_dir: PathBuf,
    dead_letters: wis2_bus::DeadLetters,
}

impl Watcher {
    /// Announces a burst of file changes: every event is published at once
    /// (pipelined), then the announcements whose event the broker acknowledged are
    /// recorded in one transaction. Returns, per notice, the error if it failed.
    async fn announce_batch(&self, notices: &[scan::FileNotice]) -> Vec<Option<String>> {
        let mut sent = Vec::with_capacity(notices.len());
        for notice in notices {
            let record_id = self.record_id_of(notice);
            let ev = event_for(&self.args.watch.source, notice, record_id.clone(), false);
            let r = self
                .bus
                .publish_nowait(&self.args.watch.events_topic, ev.to_json())
                .await;
            sent.push((ev.id, record_id, r));
        }
        let mut results = Vec::with_capacity(notices.len());
        let mut entries = Vec::new();
        for (notice, (event_id, record_id, r)) in notices.iter().zip(sent) {
            let acked = match r {
                Ok(rx) => self.bus.wait_ack(&self.args.watch.events_topic, rx).await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(()) => {
                    tracing::info!(event_id, path = notice.rel_path.as_str(), change = ?notice.change, "file announced");
                    let mut entry = store::Entry::announced(notice, &event_id);
                    entry.record_id = record_id;
                    entries.push((notice.rel_path.clone(), entry));
                    results.push(None);
                }
                Err(e) => results.push(Some(format!("publishing the file event: {e}"))),
            }
        }
        let store = self.store.clone();
        let recorded = tokio::task::spawn_blocking(move || store.record_many(&entries)).await;
        let failure = match recorded {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("recording the announcement: {e}")),
            Err(e) => Some(format!("store task: {e}")),
        };
        if let Some(f) = failure {
            for r in results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(f.clone());
            }
        }
        results
    }

    async fn announce(&self, notice: &scan::FileNotice) -> anyhow::Result<()> {
        self.announce_as(notice, false).await
    }

    /// A record's id is read from the file, or (for a deletion) from what was
    /// announced before.
    fn record_id_of(&self, notice: &scan::FileNotice) -> Option<String> {
        if notice.change == FileChange::Deleted {
            self.store
                .get(notice.rel_path.as_str())
                .ok()
                .flatten()
                .and_then(|e| e.record_id)
        } else {
            self.args.watch.record_id(&self.data_dir, &notice.rel_path)
        }
    }

    async fn announce_as(&self, notice: &scan::FileNotice, reannounce: bool) -> anyhow::Result<()> {
        let record_id = self.record_id_of(notice);
        let ev = event_for(
            &self.args.watch.source,
            notice,
            record_id.clone(),
            reannounce,
        );
        self.bus
            .publish(&self.args.watch.events_topic, ev.to_json())
            .await
            .context("publishing the file event")?;
        tracing::info!(event_id = ev.id, path = notice.rel_path.as_str(), change = ?notice.change, "file announced");
        let mut entry = store::Entry::announced(notice, &ev.id);
        entry.record_id = record_id;
        let store = self.store.clone();
        let rel = notice.rel_path.clone();
        tokio::task::spawn_blocking(move || store.record(&rel, &entry))
            .await
            .context("store task")?
            .context("recording the announcement")?;
        Ok(())
    }

    /// Records confirmations in one transaction, then acknowledges them.
    async fn confirm_all(&self, burst: Vec<wis2_bus::Delivery>) {
        if burst.is_empty() {
            return;
        }
        self.confirm(burst.iter().map(|d| d.payload.as_slice()).collect())
            .await;
        for d in &burst {
            if let Err(e) = self.bus.ack(d).await {
                tracing::warn!(error = %e, "cannot acknowledge a confirmation");
            }
        }
    }

    /// Records a burst of confirmations from wis2-publish in one transaction.
    async fn confirm(&self, payloads: Vec<&[u8]>) {
        let mut pairs = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let Ok(c) = serde_json::from_slice::<Confirmation>(payload) else {
                tracing::warn!("ignoring a confirmation that is not JSON of the expected shape");
                continue;
            };
            if let (Some(path), Some(event_id)) = (c.path, c.event_id) {
                pairs.push((path.into_string(), event_id));
            }
        }
        if pairs.is_empty() {
            return;
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || {
            let r = store.confirm_many(&pairs);
            (pairs, r)
        })
        .await
        {
            Ok((pairs, Ok(matched))) => {
                for ((path, _), m) in pairs.iter().zip(matched) {
                    if m {
                        tracing::debug!(path, "publication confirmed");
                    } else {
                        tracing::debug!(path, "confirmation of an older announcement");
                    }
                }
            }
            Ok((_, Err(e))) => tracing::error!(error = %e, "cannot record a confirmation"),
            Err(e) => tracing::error!(error = %e, "store task crashed"),
        }
    }

    /// Announces again, in bursts, the pending files `files`; returns how many went
    /// out. `why` is logged with each failure.
    async fn reannounce(&self, files: Vec<(RelPath, store::Entry)>, why: &str) -> usize {
        let mut sent = 0;
        for chunk in files.chunks(ANNOUNCE_BATCH) {
            let notices: Vec<scan::FileNotice> =
                chunk.iter().map(|(rel, e)| e.notice(rel)).collect();
            let results = self.announce_batch(&notices).await;
            for (notice, r) in notices.iter().zip(&results) {
                match r {
                    None => sent += 1,
                    Some(e) => tracing::warn!(
                        error = e,
                        path = notice.rel_path.as_str(),
                        why,
                        "re-announcement failed; retried later"
                    ),
                }
            }
            if results.iter().all(Option::is_some) {
                break;
            }
        }
        self.bus.metrics().files_reannounced.inc_by(sent as u64);
        sent
    }

    /// Announces again the files still unconfirmed after the confirmation timeout.
    async fn reannounce_overdue(&self) {
        let store = self.store.clone();
        let age = self.args.confirm_timeout.0;
        let overdue =
            match tokio::task::spawn_blocking(move || store.unconfirmed_older_than(age)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read pending announcements");
                    return;
                }
                Err(_) => return,
            };
        if overdue.is_empty() {
            return;
        }
        let n = overdue.len();
        let sent = self.reannounce(overdue, "confirmation timeout").await;
        tracing::warn!(
            pending = n,
            reannounced = sent,
            timeout_s = age.as_secs(),
            "publications not confirmed within the confirmation timeout: files announced again"
        );
    }

    /// Announces again every file pending when `r` goes ahead (new files waited while
    /// it waited): the broker may have lost their events, messages or confirmations.
    async fn recover(&self, r: recovery::Recovery, chain: &recovery::ChainView) {
        let store = self.store.clone();
        // Every file pending now: new files wait while a recovery does (see `run`).
        let cutoff = notice::system_time_ns(SystemTime::now());
        let pending =
            match tokio::task::spawn_blocking(move || store.unconfirmed_announced_before(cutoff))
                .await
            {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read pending announcements");
                    return;
                }
                Err(_) => return,
            };
        let missing = chain.missing_on(r.connection);
        let n = pending.len();
        if n == 0 {
            tracing::info!(
                session_present = r.session_present,
                waited_for = ?missing,
                "connected again to the broker and the chain is whole: nothing was pending"
            );
            return;
        }
        let sent = self.reannounce(pending, "broker recovery").await;
        tracing::warn!(
            session_present = r.session_present,
            pending = n,
            reannounced = sent,
            waited_for = ?missing,
            "the broker may have lost what it held (it restarted, or the connection broke): pending files announced again at once"
        );
    }
}

impl Watcher {
    /// Reports a path of the data directory that is not announced: a dead letter on
    /// the topic (sent in the background, so that a broker outage does not hold up
    /// the files) and in the folder. Its payload is the event the file would have had
    /// (ready to replay once the cause is fixed), or the raw bytes of its relative
    /// path when that is not UTF-8.
    async fn dead_letter(&self, refusal: &scan::Refusal) {
        use std::os::unix::ffi::OsStrExt;
        let payload = match &refusal.rel_path {
            Some(rel) => event_for(
                &self.args.watch.source,
                &scan::FileNotice {
                    change: FileChange::Created,
                    rel_path: rel.clone(),
                    size: None,
                    modified: None,
                },
                None,
                false,
            )
            .to_json()
            .into_bytes(),
            None => refusal
                .path
                .strip_prefix(&self.data_dir)
                .unwrap_or(&refusal.path)
                .as_os_str()
                .as_bytes()
                .to_vec(),
        };
        let letter = DeadLetter::new(
            "wis2-watch",
            &refusal.reason,
            &self.args.watch.events_topic,
            &payload,
        );
        // In the background: a broker outage must not hold up the files.
        let (dead_letters, bus) = (self.dead_letters.clone(), self.bus.clone());
        tokio::spawn(async move {
            if let Err(e) = dead_letters.file(&bus, letter).await {
                tracing::warn!(error = %e, "cannot publish a dead letter");
            }
        });
    }

    /// Announces again every current metadata record last announced longer ago than
    /// the re-announce interval, with new event (and so message) ids.
    async fn reannounce_metadata(&self) {
        let hours = self.args.metadata_reannounce_hours;
        if hours == 0 {
            return;
        }
        let dir = self.args.watch.metadata_dir.trim_matches('/').to_string();
        if dir.is_empty() {
            return;
        }
        // The metadata folder's entries only: never the whole store.
        let store = self.store.clone();
        let Ok(Ok(all)) = tokio::task::spawn_blocking(move || store.under(&dir)).await else {
            return;
        };
        let cutoff = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
            - (hours as i64).saturating_mul(3_600_000_000_000);
        for (rel, entry) in all {
            if !self.args.watch.is_metadata(&rel)
                || entry.change == FileChange::Deleted
                || !entry.confirmed
                || entry.announced_at_ns > cutoff
            {
                continue;
            }
            let notice = entry.notice(&rel);
            tracing::info!(
                path = rel.as_str(),
                "re-announcing a metadata record (daily)"
            );
            if let Err(e) = self.announce_as(&notice, true).await {
                tracing::warn!(error = %e, path = rel.as_str(), "metadata re-announcement failed; retried later");
                return;
            }
        }
    }
}

/// Runs the service until `shutdown` completes.
pub async fn run(service: Service, config: Config, shutdown: impl Shutdown) -> anyhow::Result<()> {
    let Config { data_dir, args } = config;
    // A previous instance may still be releasing the store (a restart in the same
    // container or process): try again for a few seconds before giving up.
    let store_path = args.state.state_dir.join("announced.redb");
    let mut attempt = 0u32;
    let store = loop {
        match store::AnnounceStore::open(&store_path) {
            Ok(s) => break s,
            Err(e) if attempt < 20 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "state store busy; retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(broker = %service.broker.redacted_url(), data_dir = %data_dir.display(), "wis2-watch starting");
    let status_filter = format!("{}/+", wis2_bus::topics::STATUS);
    let conn = service.connect(vec![
        args.published_topic.clone(),
        status_filter,
        recovery::DROPPED.to_string(),
    ]);
    let mut dropped = recovery::Dropped::default();
    let max_pending = usize::try_from(args.max_pending).unwrap_or(usize::MAX);
    let mut window_full = false;
    let mut session = conn.bus.session();
    let mut chain = recovery::ChainView::default();
    let mut recovering: Option<recovery::Recovery> = None;
    let mut deliveries = conn.deliveries;
    let w = Watcher {
        bus: conn.bus.clone(),
        store: store.clone(),
        args: args.clone(),
        data_dir: data_dir.clone(),
        dead_letters: service.dead_letters.clone(),
    };

    tokio::pin!(shutdown);

    if store.first_start()? {
        let first = baseline::first_start(&store, &args, &data_dir);
        tokio::select! {
            r = first => r?,
            _ = &mut shutdown => return Ok(()),
        }
    }

    // The file named in the configuration first, as the original demo did.
    if let Some(input) = &args.input_file {
        match scan::describe_path(&data_dir, input) {
            Ok(notice) => {
                let known = store.get(notice.rel_path.as_str())?;
                if known
                    .as_ref()
                    .is_some_and(|e| e.same_file(&notice) && !e.baselined)
                {
                    tracing::info!(
                        path = notice.rel_path.as_str(),
                        "WIS2_INPUT_FILE already announced and unchanged"
                    );
                } else {
                    tokio::select! {
                        r = w.announce(&notice) => r?,
                        _ = &mut shutdown => return Ok(()),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "WIS2_INPUT_FILE cannot be announced"),
        }
    }

    let opts = args.scan_options(&data_dir);
    let mut scanner = scan::spawn(opts, store.clone())?;
    let mut refusals = scanner
        .take_refusals()
        .context("the scanner's refusals are already taken")?;
    let mut tick = tokio::time::interval(
        (args.confirm_timeout.0 / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)),
    );
    // Confirmations gathered for one transaction, and when they are recorded.
    let mut gathered: Vec<wis2_bus::Delivery> = Vec::new();
    let mut record_at: Option<tokio::time::Instant> = None;
    loop {
        // A recovery goes ahead as soon as the chain is whole, or at its deadline.
        let now = tokio::time::Instant::now();
        let recover_at = recovering.map(|r| {
            if r.ready(&chain, now) {
                now
            } else {
                r.deadline
            }
        });
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = tokio::time::sleep_until(record_at.unwrap_or_else(tokio::time::Instant::now)),
                if record_at.is_some() => {
                record_at = None;
                w.confirm_all(std::mem::take(&mut gathered)).await;
            }
            c = session.changed() => {
                if c.is_err() { break }
                let now_session = *session.borrow_and_update();
                if let Some(r) = recovery::Recovery::after_connect(now_session, w.store.pending() > 0, tokio::time::Instant::now()) {
                    recovering = Some(r);
                }
            }
            _ = tokio::time::sleep_until(recover_at.unwrap_or_else(tokio::time::Instant::now)),
                if recover_at.is_some() => {
                if let Some(r) = recovering.take() {
                    w.recover(r, &chain).await;
                }
            }
            d = deliveries.recv() => {
                let Some(d) = d else { break };
                let mut burst = vec![d];
                while burst.len() < ANNOUNCE_BATCH {
                    match deliveries.try_recv() {
                        Ok(d) => burst.push(d),
                        Err(_) => break,
                    }
                }
                for d in burst {
                    if d.topic == recovery::DROPPED {
                        if let Some(n) = dropped.observe(&d.payload, session.borrow().connects) {
                            tracing::error!(
                                dropped = n,
                                "the broker dropped queued messages (a session's queue reached its max_queued_messages): pending files are announced again once every service is online; raise max_queued_messages, or lower WIS2_MAX_PENDING"
                            );
                            recovering = Some(recovery::Recovery::after_drop(session.borrow().connects, tokio::time::Instant::now()));
                        }
                        if let Err(e) = w.bus.ack(&d).await {
                            tracing::debug!(error = %e, "cannot acknowledge a broker statistic");
                        }
                        continue;
                    }
                    match wis2_bus::status::service_of(&d.topic) {
                        Some(name) => {
                            if let Some(st) = wis2_bus::status::Status::parse(&d.payload) {
                                chain.observe(name, &st, session.borrow().connects, tokio::time::Instant::now());
                            }
                            if let Err(e) = w.bus.ack(&d).await {
                                tracing::debug!(error = %e, "cannot acknowledge a status");
                            }
                        }
                        None => gathered.push(d),
                    }
                }
                if gathered.len() >= ANNOUNCE_BATCH {
                    record_at = None;
                    w.confirm_all(std::mem::take(&mut gathered)).await;
                } else if !gathered.is_empty() && record_at.is_none() {
                    record_at = Some(tokio::time::Instant::now() + CONFIRM_GATHER);
                }
            }
            Some(refusal) = refusals.recv() => w.dead_letter(&refusal).await,
            // New files wait while a recovery waits for the chain: announced now, they
            // could reach a service before the broker has its session again.
            n = scanner.next(), if store.pending() < max_pending && recovering.is_none() => {
                let Some(notice) = n else { break };
                window_full = false;
                // Whatever else is ready goes in the same burst.
                let mut batch = vec![notice];
                while batch.len() < ANNOUNCE_BATCH {
                    match scanner.try_next() {
                        Some(n) => batch.push(n),
                        None => break,
                    }
                }
                let results = tokio::select! {
                    r = w.announce_batch(&batch) => r,
                    _ = &mut shutdown => break,
                };
                for (notice, result) in batch.iter().zip(results) {
                    if let Some(e) = result {
                        tracing::error!(error = e, path = notice.rel_path.as_str(), "announcement failed; the file stays for the next scan");
                    }
                    scanner.done(&notice.rel_path);
                }
            }
            _ = tick.tick() => {
                if store.pending() >= max_pending && !window_full {
                    window_full = true;
                    tracing::warn!(
                        pending = store.pending(),
                        "WIS2_MAX_PENDING files are pending (announced, not confirmed): more are announced as confirmations come (is a service of the chain stopped?)"
                    );
                }
                if recovering.is_none() && chain.may_time_out(args.confirm_timeout.0, tokio::time::Instant::now()) {
                    w.reannounce_overdue().await;
                }
                w.reannounce_metadata().await;
            }
        }
    }
    tracing::info!("wis2-watch stopping");
    w.confirm_all(gathered).await;
    let store = w.store.clone();
    match tokio::task::spawn_blocking(move || store.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot flush the confirmations: files confirmed since the last announcement will be announced again (and not published twice)")
        }
        Err(e) => tracing::warn!(error = %e, "store task crashed"),
    }
    w.bus.close(conn.task).await;
    Ok(())
}
