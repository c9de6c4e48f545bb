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
            subscriptions: vec!["chain/#".to_string(), format!("origin/a/wis2/{centre}/#")],
            access: Access {
                operator_password: nonempty(&self.operator_password),
                console_password: nonempty(&self.console_password),
            },
            args: self.clone(),
        })
    }
}

/// The settings of the console, checked.
pub struct Config {
    monitor: Option<wis2_bus::monitor::MonitorConfig>,
    subscriptions: Vec<String>,
    access: Access,
    args: RunArgs,
}

/// Most deliveries recorded in one transaction.
const BATCH: usize = 512;

/// Runs the console until `shutdown` completes.
pub async fn run(service: Service, config: Config, shutdown: impl Shutdown) -> anyhow::Result<()> {
    let Config {
        monitor,
        subscriptions,
        access,
        args,
    } = config;
    let store = Store::open(&args.state.state_dir).with_context(|| {
        format!(
            "cannot open the console's history in {}",
            args.state.state_dir.display()
        )
    })?;
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
    let mut full = false;
    tokio::pin!(shutdown);
    loop {
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
                record(&app, batch, &mut full).await;
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

/// Reads a burst of deliveries, records it in one transaction, tells the live page,
/// counts the outcomes, then acknowledges the deliveries. A history that cannot be
/// written (a full disk) is a warning: the deliveries are acknowledged all the same,
/// the chain never waits for its console.
async fn record(app: &Arc<App>, batch: Vec<Delivery>, full: &mut bool) {
    let now = chrono::Utc::now();
    let time = wis2::message::rfc3339(&now);
    let unix = now.timestamp();
    let mut facts = Vec::with_capacity(batch.len());
    for d in &batch {
        let fact = journal::read(&d.topic, &d.payload);
        match &fact {
            Fact::Unreadable { topic, reason } => {
                tracing::warn!(
                    topic,
                    reason,
                    "a payload the console cannot read (shown as such, not recorded)"
                );
                continue;
            }
            Fact::Status(s) => {
                app.statuses
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(s.service.clone(), s.clone());
                let _ = app.live.send(Live::Status(s.clone()));
                continue;
            }
            Fact::Ignored => continue,
            _ => {}
        }
        facts.push((fact, time.clone(), unix));
    }
    if !facts.is_empty() {
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || store.apply(&facts)).await {
            Ok(Ok(changes)) => {
                if *full {
                    *full = false;
                    tracing::info!("the console's history is recorded again");
                }
                for f in &changes.files {
                    count(app, f, unix);
                    let _ = app.live.send(Live::File(FileView::from(f)));
                }
                for l in changes.letters {
                    let _ = app.live.send(Live::Letter(l));
                }
            }
            Ok(Err(e)) => {
                if !*full {
                    tracing::warn!(error = %e, "the console's history cannot be written: not recorded until it can (the chain goes on)");
                }
                *full = true;
            }
            Err(e) => tracing::warn!(error = %e, "recording crashed"),
        }
    }
    for d in &batch {
        if let Err(e) = app.bus.ack(d).await {
            tracing::debug!(error = %e, "cannot acknowledge a delivery");
        }
    }
}

/// Counts what just happened to a file for the charts.
fn count(app: &App, f: &FileRecord, unix: i64) {
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
    app.stats.count(unix, outcome);
}
