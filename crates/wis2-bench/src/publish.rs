//! QoS 1 publishing through the project's `wis2_bus::Bus`: every message queued with
//! `publish_nowait` (pipelined), then every PUBACK awaited.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use wis2_bus::envelope::Envelope;
use wis2_bus::{BrokerArgs, Bus, ConnectOptions};

#[derive(clap::Args)]
pub struct Args {
    /// Broker URL of an account allowed to write the topic, e.g.
    /// mqtt://wis2-publish:PASSWORD@127.0.0.1:1883.
    #[arg(long, env = "BENCH_BROKER_URL", hide_env_values = true)]
    broker_url: String,
    /// Topic to publish on.
    #[arg(long)]
    topic: String,
    /// A WNM (JSON file) used as the payload.
    #[arg(long)]
    payload: PathBuf,
    /// Number of messages.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Publish chain envelopes of distinct messages (fresh id, data_id and link per
    /// message), as wis2-validate does on chain/validated; the WIS2 topic they are for
    /// is --wis2-topic.
    #[arg(long)]
    envelopes: bool,
    /// WIS2 topic written into the envelopes.
    #[arg(
        long,
        default_value = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers"
    )]
    wis2_topic: String,
    /// Client id with a persistent session instead of a fresh clean session.
    #[arg(long)]
    client_id: Option<String>,
}

/// Distinct copies of a WNM: fresh id, `-<i>` appended to data_id and link hrefs.
fn envelopes(
    template: &serde_json::Value,
    topic: &str,
    count: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut m = template.clone();
        m["id"] = serde_json::Value::String(uuid::Uuid::new_v4().to_string());
        let data_id = m["properties"]["data_id"]
            .as_str()
            .context("the payload WNM has no properties.data_id")?
            .to_string();
        m["properties"]["data_id"] = format!("{data_id}-{i}").into();
        if let Some(links) = m["links"].as_array_mut() {
            for l in links {
                if let Some(h) = l["href"].as_str() {
                    l["href"] = format!("{h}-{i}").into();
                }
            }
        }
        let env = Envelope::new(
            topic,
            Some(uuid::Uuid::new_v4().to_string()),
            Some(wis2::path::RelPath::parse(&format!("bench/{i}"))?),
            serde_json::to_string(&m)?,
        )?;
        out.push(env.to_vec());
    }
    Ok(out)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let raw = std::fs::read(&a.payload)
        .with_context(|| format!("reading the payload {}", a.payload.display()))?;
    let template: serde_json::Value = serde_json::from_slice(&raw)
        .with_context(|| format!("{} is not JSON", a.payload.display()))?;
    let payloads = if a.envelopes {
        envelopes(&template, &a.wis2_topic, a.count)?
    } else {
        vec![raw.clone()]
    };
    let size = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();

    let broker = BrokerArgs::from_url(&a.broker_url).check()?;
    let mqtt = match &a.client_id {
        Some(id) => {
            let mut o = broker.mqtt_options(id);
            o.set_manual_acks(false);
            o
        }
        None => broker.oneshot_options("wis2-bench"),
    };
    let conn = Bus::connect(ConnectOptions::new(mqtt, Vec::new()));
    let bus = conn.bus;
    tokio::time::timeout(Duration::from_secs(15), bus.wait_ready())
        .await
        .context("not connected to the broker within 15 s (URL, password, broker up?)")??;

    let start = Instant::now();
    let mut pending = Vec::with_capacity(a.count);
    for i in 0..a.count {
        let p = payloads[i % payloads.len()].clone();
        pending.push(bus.publish_nowait(&a.topic, p).await?);
    }
    let queued = start.elapsed();
    for done in pending {
        bus.wait_ack(&a.topic, done).await?;
    }
    let elapsed = start.elapsed();
    bus.close(conn.task).await;

    let rate = a.count as f64 / elapsed.as_secs_f64();
    println!(
        "publish: {} messages of {size} bytes at QoS 1 on {}{}",
        a.count,
        a.topic,
        if a.envelopes {
            " (distinct envelopes)"
        } else {
            ""
        }
    );
    println!(
        "  all queued after {:.3} s, all acknowledged after {:.3} s",
        queued.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!("  rate {rate:.0} messages/s acknowledged");
    println!(
        "RESULT rate={rate:.0} count={} secs={:.3}",
        a.count,
        elapsed.as_secs_f64()
    );
    Ok(())
}
