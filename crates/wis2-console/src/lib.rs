//! # wis2-console: the operator's console
//!
//! Talks to the chain only through the broker: reads `chain/#` and the centre's WIS2
//! topics ([`journal`] turns each message into a fact about a file), keeps the
//! history on disk ([`store`]) and the counts of the last day ([`stats`]), and serves
//! the page and the API ([`http`]).

pub mod http;
pub mod journal;
pub mod monitor;
pub mod stats;
pub mod store;
pub mod wal;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::sync::broadcast;
use wis2_bus::{Delivery, Service, Settings, Shutdown, StateArgs};

use crate::http::{Access, App, FileView, Live};
use crate::journal::{Fact, FileRecord, State};
use crate::stats::{Outcome, Stats};
use crate::store::Store;
use crate::wal::Wal;

const STATE_DIR_HELP: &str = "Folder of the console's history: console.redb";

/// The console's own settings.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Run the console: every file's way through the chain, on a web page and an API",
    mut_arg("concurrency", |a| a.hide(true)),
    mut_arg("state_dir", |a| a.help(STATE_DIR_HELP))
)]
pub struct RunArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// Address of the page and the API.
    #[arg(long, env = "WIS2_CONSOLE_ADDR", default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,
    /// Days of history kept.
    #[arg(long, env = "WIS2_CONSOLE_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: u32,
    /// When set, every page and call needs this password (HTTP basic auth, any user).
    #[arg(long, env = "WIS2_CONSOLE_PASSWORD", hide_env_values = true)]
    pub console_password: Option<String>,
    /// The operator's password: replaying a dead letter needs it (user `operator`).
    #[arg(long, env = "WIS2_OPERATOR_PASSWORD", hide_env_values = true)]
    pub operator_password: Option<String>,
    /// The centre whose WIS2 topics are shown (origin/a/wis2/<centre-id>/#).
    #[arg(long, env = "WIS2_CENTRE_ID")]
    pub centre_id: String,
    #[command(flatten)]
    pub monitor: wis2_bus::monitor::MonitorArgs,
}

impl Settings for RunArgs {
    type Config = Config;

    /// The centre id and the passwords: not empty.
    fn check(&self) -> anyhow::Result<Config> {
        let centre = self.centre_id.trim();
        anyhow::ensure!(
            !centre.is_empty() && !centre.contains(['/', '+', '#']),
            "WIS2_CENTRE_ID `{}` is not a centre id: set it to your centre's (fr-ifremer-argo, say)",
            self.centre_id
        );
        let nonempty = |p: &Option<String>| p.clone().filter(|p| !p.is_empty());
        Ok(Config {
            monitor: {
                // The centre of the console, unless the monitor names another.
                let mut m = self.monitor.clone();
                m.monitor_centre_id
                    .get_or_insert_with(|| centre.to_string());
                m.check("wis2-console")?
            },
            subscriptions: subscriptions(centre),
            access: Access {
                operator_password: nonempty(&self.operator_password),
                console_password: nonempty(&self.console_password),
            },
            args: self.clone(),
        })
    }
}

/// What the console reads: the chain's outcomes (`chain/events`, `chain/rejected`,
/// `chain/deadletter`, `chain/published`), the services' status, and the centre's
/// WIS2 topics. Not `chain/created` and `chain/validated`: their payloads are whole
/// messages, two more deliveries of a few kB for each file that the broker and the
/// console would handle at full speed; the confirmation and the rejection carry the
/// times they stamp (their steps on the page), and the messages come from the WIS2
/// topic. The journal still reads them (a journal written by an older console).
fn subscriptions(centre: &str) -> Vec<String> {
    use wis2_bus::topics;
    vec![
        topics::EVENTS.to_string(),
        topics::REJECTED.to_string(),
        topics::DEADLETTER.to_string(),
        topics::PUBLISHED.to_string(),
        format!("{}/#", topics::STATUS),
        format!("origin/a/wis2/{centre}/#"),
    ]
}

/// The settings of the console, checked.
pub struct Config {
    monitor: Option<wis2_bus::monitor::MonitorConfig>,
    subscriptions: Vec<String>,
    access: Access,
    args: RunArgs,
}

/// Most deliveries read at once (journaled in one write).
const BATCH: usize = 512;
/// Most facts waiting for the history: then it applies them (one transaction).
const APPLY_FACTS: usize = 4096;
/// Longest a fact waits for the history (how late the page and the API may be).
const APPLY_AFTER: Duration = Duration::from_millis(250);

/// Runs the console until `shutdown` completes.
pub async fn run(service: Service, config: Config, shutdown: impl Shutdown) -> anyhow::Result<()> {
    let Config {
        monitor,
        subscriptions,
        access,
        args,
    } = config;
    let dir = &args.state.state_dir;
    let store = Store::open(dir)
        .with_context(|| format!("cannot open the console's history in {}", dir.display()))?;
    let wal = recover(&store, dir)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| {
            format!(
                "cannot serve the console on {}: choose a free WIS2_CONSOLE_ADDR",
                args.addr
            )
        })?;
    tracing::info!(
        broker = %service.broker.redacted_url(),
        addr = %args.addr,
        files = store.len().unwrap_or(0),
        "wis2-console starting: open http://{}", args.addr
    );
    let conn = service.connect(subscriptions);
    let (live, _) = broadcast::channel(4096);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let app = Arc::new(App {
        store: store.clone(),
        stats: Stats::default(),
        statuses: Mutex::new(BTreeMap::new()),
        live,
        stopping: stopping.clone(),
        bus: conn.bus.clone(),
        access,
    });
    let server = tokio::spawn({
        let router = http::router(app.clone());
        let mut stopped = stopping;
        async move {
            let until = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(until)
                .await
            {
                tracing::error!(error = %e, "the console's web server stopped");
            }
        }
    });
    let monitor = monitor.map(|m| monitor::follow(&m, app.clone()));
    let mut deliveries = conn.deliveries;
    let retention = Duration::from_secs(u64::from(args.retention_days) * 86_400);
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    let mut rec = Recorder {
        app: app.clone(),
        wal: Some(wal),
        pending: Vec::new(),
        due: None,
        full: false,
    };
    tokio::pin!(shutdown);
    loop {
        let due = rec.due;
        tokio::select! {
            _ = &mut shutdown => break,
            d = deliveries.recv() => {
                let Some(d) = d else { break };
                let mut batch = vec![d];
                while batch.len() < BATCH {
                    match deliveries.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                rec.intake(batch).await;
                if rec.pending.len() >= APPLY_FACTS {
                    rec.apply().await;
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                rec.apply().await;
            }
            _ = prune.tick() => {
                let before = chrono::Utc::now().timestamp() - retention.as_secs() as i64;
                let s = store.clone();
                match tokio::task::spawn_blocking(move || s.prune(before)).await {
                    Ok(Ok(n)) if n > 0 => tracing::info!(files = n, days = args.retention_days, "history past its retention forgotten"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune the history"),
                    _ => {}
                }
            }
        }
    }
    tracing::info!("wis2-console stopping");
    rec.apply().await;
    // The live streams end and the server lets its connections finish: then nothing
    // holds the history any more (a restart in the same process opens it again).
    let _ = stopping_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .is_err()
    {
        tracing::warn!("the web server did not stop within 5 s");
    }
    if let Some((bus, task)) = monitor {
        bus.close(task).await;
    }
    conn.bus.close(conn.task).await;
    Ok(())
}

/// Opens the journal of deliveries and applies what it holds beyond what the history
/// applied (the console stopped before it could: a `kill -9`, a crash), then starts
/// its next generation.
fn recover(store: &Store, dir: &std::path::Path) -> anyhow::Result<Wal> {
    let applied = store.wal_applied()?;
    let (mut wal, found) = Wal::open(dir).context("cannot open the console's journal")?;
    if found.torn > 0 {
        tracing::warn!(
            bytes = found.torn,
            "the journal ended with an incomplete write (a crash while writing): those deliveries were never acknowledged, the broker sends them again"
        );
    }
    if found.generation > applied && !found.entries.is_empty() {
        let facts: Vec<_> = found
            .entries
            .iter()
            .filter_map(|e| {
                let (time, unix) = seen_at(e.nanos);
                match journal::read(&e.topic, &e.payload) {
                    Fact::Status(_) | Fact::Ignored => None,
                    fact => Some((fact, time, unix)),
                }
            })
            .collect();
        store.apply_wal(&facts, Some(found.generation))?;
        tracing::info!(
            deliveries = found.entries.len(),
            "recorded what the journal held: the console had stopped before it reached the history"
        );
    }
    wal.restart(found.generation.max(applied) + 1)
        .with_context(|| format!("cannot write the journal {}", wal.path().display()))?;
    Ok(wal)
}

/// A moment as the history writes it: RFC 3339, and Unix seconds.
fn seen_at(nanos: i64) -> (String, i64) {
    let t = chrono::DateTime::from_timestamp_nanos(nanos);
    (wis2::message::rfc3339(&t), t.timestamp())
}

/// Takes deliveries in: journals them, acknowledges them, and has the history apply
/// them in large transactions.
struct Recorder {
    app: Arc<App>,
    /// Taken while a blocking task writes it.
    wal: Option<Wal>,
    pending: Vec<(Fact, String, i64)>,
    /// When the pending facts must be applied.
    due: Option<tokio::time::Instant>,
    /// The history or the journal could not be written (a warning was given).
    full: bool,
}

impl Recorder {
    /// Reads a burst of deliveries, appends those worth recording to the journal
    /// (flushed to disk), then acknowledges the burst. A journal that cannot be
    /// written (a full disk) is a warning: the deliveries are acknowledged all the
    /// same, the chain never waits for its console.
    async fn intake(&mut self, batch: Vec<Delivery>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let (time, unix) = seen_at(nanos);
        let mut keep = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            let fact = journal::read(&d.topic, &d.payload);
            match &fact {
                Fact::Status(s) => {
                    self.app
                        .statuses
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(s.service.clone(), s.clone());
                    let _ = self.app.live.send(Live::Status(s.clone()));
                    continue;
                }
                Fact::Ignored => continue,
                Fact::Unreadable { topic, reason, .. } => tracing::warn!(
                    topic,
                    reason,
                    "a payload the console cannot read (listed on the page as such)"
                ),
                _ => {}
            }
            keep.push(i);
            self.pending.push((fact, time.clone(), unix));
        }
        let batch = match (keep.is_empty(), self.wal.take()) {
            (false, Some(mut wal)) => {
                let (wal, batch, written) = unblock(move || {
                    let written = wal.append(keep.iter().map(|&i| {
                        let d = &batch[i];
                        (nanos, d.topic.as_str(), d.payload.as_slice())
                    }));
                    (wal, batch, written)
                })
                .await;
                self.wal = Some(wal);
                if let Err(e) = written {
                    self.failed(&format!("the journal: {e}"));
                }
                batch
            }
            (_, wal) => {
                self.wal = wal;
                batch
            }
        };
        if !self.pending.is_empty() && self.due.is_none() {
            self.due = Some(tokio::time::Instant::now() + APPLY_AFTER);
        }
        for d in &batch {
            if let Err(e) = self.app.bus.ack(d).await {
                tracing::debug!(error = %e, "cannot acknowledge a delivery");
            }
        }
    }

    /// Applies the pending facts to the history in one durable transaction (with the
    /// journal generation they came in), starts the journal's next generation, tells
    /// the live page and counts the outcomes. A history that cannot be written is a
    /// warning: those facts are not recorded, the console goes on.
    async fn apply(&mut self) {
        self.due = None;
        let Some(mut wal) = self.wal.take() else {
            return;
        };
        if self.pending.is_empty() {
            self.wal = Some(wal);
            return;
        }
        let facts = std::mem::take(&mut self.pending);
        let store = self.app.store.clone();
        let (wal, applied, restarted) = unblock(move || {
            let generation = wal.generation();
            let applied = store.apply_wal(&facts, Some(generation));
            let restarted = wal.restart(generation + 1);
            (wal, applied, restarted)
        })
        .await;
        self.wal = Some(wal);
        if let Err(e) = restarted {
            self.failed(&format!("the journal: {e}"));
        }
        match applied {
            Ok(changes) => {
                if self.full {
                    self.full = false;
                    tracing::info!("the console's history is recorded again");
                }
                for f in &changes.files {
                    count(&self.app, f);
                    let _ = self.app.live.send(Live::File(FileView::from(f)));
                }
                for l in changes.letters {
                    let _ = self.app.live.send(Live::Letter(l));
                }
                for u in changes.unreadable {
                    let _ = self.app.live.send(Live::Unreadable(u));
                }
            }
            Err(e) => self.failed(&e.to_string()),
        }
    }

    fn failed(&mut self, error: &str) {
        if !self.full {
            tracing::warn!(
                error,
                "the console's history cannot be written: not recorded until it can (the chain goes on)"
            );
        }
        self.full = true;
    }
}

/// Runs disk work on the blocking pool.
async fn unblock<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Counts what just happened to a file for the charts.
fn count(app: &App, f: &FileRecord) {
    let Some(last) = f.steps.last() else {
        return;
    };
    let outcome = match (f.state, last.stage.as_str()) {
        (State::Published, "published") => {
            let latency = match (f.step_ms("announced"), f.step_ms("published")) {
                (Some(a), Some(p)) if p >= a => u32::try_from(p - a).ok(),
                _ => None,
            };
            Outcome::Published(latency)
        }
        (State::Rejected, "rejected") => Outcome::Rejected,
        (State::Deadletter, "deadletter") => Outcome::Deadletter,
        _ => return,
    };
    app.stats.count(f.updated, outcome);
}
