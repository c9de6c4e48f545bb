//! A plain subscriber that timestamps every message on arrival.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use wis2_bus::BrokerArgs;

/// A message and the moment the subscriber's event loop handed it over.
pub struct Arrival {
    pub at: Instant,
    pub payload: Vec<u8>,
}

/// Connects (clean session, fresh client id), subscribes at QoS 1 to `filters`, and
/// returns once the broker acknowledged the subscriptions.
pub async fn subscribe(
    url: &str,
    filters: &[String],
) -> anyhow::Result<(AsyncClient, mpsc::UnboundedReceiver<Arrival>)> {
    let mut o = BrokerArgs::from_url(url)
        .check()
        .with_context(|| "broker URL for the subscriber")?
        .oneshot_options("wis2-bench");
    o.set_manual_acks(false).set_inflight(1000);
    let (client, mut el) = AsyncClient::new(o, 1024);
    // Our own PUBACKs must not wait for Nagle: the subscriber must not slow the broker.
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    for f in filters {
        client.subscribe(f.clone(), QoS::AtLeastOnce).await?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
    let want = filters.len();
    tokio::spawn(async move {
        let mut subacks = 0;
        let mut ready = Some(ready_tx);
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    let _ = tx.send(Arrival {
                        at,
                        payload: p.payload.to_vec(),
                    });
                }
                Ok(Event::Incoming(Packet::SubAck(s))) => {
                    if s.return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                        && let Some(r) = ready.take()
                    {
                        let _ = r.send(Err("the broker refused the subscription (ACL?)".into()));
                        return;
                    }
                    subacks += 1;
                    if subacks >= want
                        && let Some(r) = ready.take()
                    {
                        let _ = r.send(Ok(()));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(format!("cannot connect the subscriber: {e}")));
                        return;
                    }
                    eprintln!("wis2-bench: subscriber connection error: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(15), ready_rx).await {
        Ok(Ok(Ok(()))) => Ok((client, rx)),
        Ok(Ok(Err(e))) => bail!("{e}"),
        Ok(Err(_)) => bail!("the subscriber stopped before its subscriptions were acknowledged"),
        Err(_) => bail!("the broker did not acknowledge the subscriptions within 15 s"),
    }
}
