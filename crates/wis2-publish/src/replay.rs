//! `wis2-publish replay`: re-injects dead letters into the chain.
//!
//! Each `<time>-<stage>-<id>.json` file of the dead-letter folder (oldest first) is
//! published again, payload byte for byte, on the topic it originally arrived on
//! ([`DeadLetter::topic`]); once the broker acknowledged it, the file moves to
//! `<dir>/replayed/`. A file that cannot be replayed stays where it is.
//!
//! The broker's ACL lets each account write only its own topics, and mosquitto
//! acknowledges a denied publish and drops it silently: the client cannot tell. So
//! replay checks each topic against [`writers`] (a copy of `broker/acl.template`) and
//! refuses early, naming the account to use, when the connecting account cannot write
//! it. Topics outside the table (renamed with `--*-topic` flags) are replayed with a
//! warning.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use wis2_bus::{BrokerArgs, DeadLetter, OneShot};

/// Settings of `wis2-publish replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Folder of the dead letters (the services' --deadletter-dir).
    #[arg(long, visible_alias = "deadletter-dir", env = "WIS2_DEADLETTER_DIR")]
    pub dir: Option<PathBuf>,
    /// Replay only the dead letters of this stage (wis2-create, wis2-validate, wis2-publish, ...).
    #[arg(long)]
    pub stage: Option<String>,
    /// List what would be replayed; publish nothing, move nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The accounts allowed to write `topic` by the project's broker ACL
/// (`broker/acl.template`), or `None` for a topic it does not know.
pub fn writers(topic: &str) -> Option<&'static [&'static str]> {
    use wis2_bus::topics;
    const ALL: &[&str] = &["wis2-watch", "wis2-create", "wis2-validate", "wis2-publish"];
    Some(match topic {
        t if t == topics::EVENTS => &["wis2-watch", "wis2-publish"],
        t if t == topics::CREATED => &["wis2-create"],
        t if t == topics::VALIDATED || t == topics::REJECTED => &["wis2-validate"],
        t if t == topics::PUBLISHED => &["wis2-publish"],
        t if t == topics::DEADLETTER => ALL,
        t if t.starts_with("origin/a/wis2/") => &["wis2-publish"],
        _ => return None,
    })
}

/// The account the broker settings log in with.
pub fn account(broker: &BrokerArgs) -> Option<String> {
    broker
        .broker_user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            url::Url::parse(&broker.broker_url)
                .ok()
                .map(|u| u.username().to_string())
                .filter(|u| !u.is_empty())
        })
}

/// Whether `user` may write `topic`: `Err` with the fix when it may not.
pub fn check_writable(user: Option<&str>, topic: &str) -> Result<(), String> {
    let (Some(allowed), Some(user)) = (writers(topic), user) else {
        return Ok(());
    };
    if allowed.contains(&user) {
        return Ok(());
    }
    let who = allowed[0];
    Err(format!(
        "topic `{topic}` can be written only by {} (broker/acl.template), not by `{user}`: the broker would acknowledge the publish and silently drop it. Run replay with that account: --broker-user {who} --broker-password-file <{who}'s password file> (or WIS2_BROKER_USER / WIS2_BROKER_PASSWORD)",
        allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// One dead-letter file and what happened to it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: PathBuf,
    pub topic: String,
    pub stage: String,
    pub result: Result<Done, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Published, acknowledged, and moved to the given path.
    Replayed(PathBuf),
    /// `--dry-run`: would be published.
    WouldReplay,
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// Files skipped (not dead letters, or another stage's).
    pub skipped: usize,
}

impl Report {
    /// Files that could not be replayed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_err()).count()
    }

    /// Files replayed (or, in a dry run, that would be).
    pub fn replayed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.result.is_ok()).count()
    }

    /// One line per file, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(Done::Replayed(to)) => format!(
                    "replayed {} on {} -> {}",
                    o.file.display(),
                    o.topic,
                    to.display()
                ),
                Ok(Done::WouldReplay) => format!(
                    "would replay {} ({}) on {}",
                    o.file.display(),
                    o.stage,
                    o.topic
                ),
                Err(e) => format!("error: {}: {e}", o.file.display()),
            })
            .collect()
    }
}

fn dead_letters(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!(
                "cannot read the dead-letter folder {}: give it with --dir or WIS2_DEADLETTER_DIR",
                dir.display()
            )
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    // `<time>-<stage>-<id>.json`: name order is time order.
    files.sort();
    Ok(files)
}

/// Replays the dead letters of `args.dir`. Per-file problems are in the report; an
/// error means nothing could be done (no folder, no broker).
pub async fn replay(args: &ReplayArgs) -> anyhow::Result<Report> {
    let dir = args.dir.clone().context(
        "no dead-letter folder: give --dir (or set WIS2_DEADLETTER_DIR, the services' --deadletter-dir)",
    )?;
    let user = account(&args.broker);
    let mut report = Report::default();
    let mut todo = Vec::new();
    for file in dead_letters(&dir)? {
        let dl: DeadLetter = match std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(dl) => dl,
            Err(e) => {
                tracing::warn!(file = %file.display(), error = e, "not a dead letter: skipped");
                report.skipped += 1;
                continue;
            }
        };
        if args.stage.as_ref().is_some_and(|s| *s != dl.stage) {
            report.skipped += 1;
            continue;
        }
        let mut outcome = Outcome {
            file: file.clone(),
            topic: dl.topic.clone(),
            stage: dl.stage.clone(),
            result: Ok(Done::WouldReplay),
        };
        if let Err(e) = check_writable(user.as_deref(), &dl.topic) {
            outcome.result = Err(e);
            report.outcomes.push(outcome);
            continue;
        }
        if writers(&dl.topic).is_none() {
            tracing::warn!(topic = dl.topic, file = %file.display(), "topic not in the broker ACL table: if this account cannot write it, the broker drops it silently");
        }
        match dl.original() {
            Err(e) => {
                outcome.result = Err(e.to_string());
                report.outcomes.push(outcome);
            }
            Ok(_) if args.dry_run => report.outcomes.push(outcome),
            Ok(payload) => todo.push((outcome, payload)),
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    let broker = args.broker.check().context("invalid broker settings")?;
    let one = OneShot::connect(&broker, "wis2-publish-replay").await?;
    let bus = one.bus();
    let done_dir = dir.join("replayed");
    for (mut outcome, payload) in todo {
        outcome.result = match bus.publish(&outcome.topic, payload).await {
            Err(e) => Err(format!("not replayed: {e}")),
            Ok(()) => move_to(&outcome.file, &done_dir)
                .map(Done::Replayed)
                .map_err(|e| {
                    format!(
                        "replayed, but cannot move it to {}: {e}; remove it by hand or it will be replayed again",
                        done_dir.display()
                    )
                }),
        };
        if let Ok(Done::Replayed(to)) = &outcome.result {
            tracing::info!(file = %outcome.file.display(), topic = outcome.topic, to = %to.display(), "dead letter replayed");
        }
        report.outcomes.push(outcome);
    }
    one.close().await;
    Ok(report)
}

fn move_to(file: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let to = dir.join(file.file_name().unwrap_or_default());
    std::fs::rename(file, &to)?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acl_table_names_the_account_to_use() {
        assert!(check_writable(Some("wis2-publish"), "chain/events").is_ok());
        assert!(check_writable(Some("wis2-publish"), "chain/validated").is_err());
        let e = check_writable(Some("wis2-publish"), "chain/created").unwrap_err();
        assert!(e.contains("--broker-user wis2-create"), "{e}");
        assert!(check_writable(Some("wis2-validate"), "chain/validated").is_ok());
        assert!(check_writable(Some("x"), "elsewhere/topic").is_ok());
        let a = BrokerArgs::from_url("mqtt://wis2-create:pw@h:1883");
        assert_eq!(account(&a).as_deref(), Some("wis2-create"));
    }
}
