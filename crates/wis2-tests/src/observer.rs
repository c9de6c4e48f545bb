//! An MQTT client that records what arrives on its subscriptions, ready once the broker
//! has acknowledged every one of them.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::broker::{Broker, password};

/// A message seen by the observer.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The topic it arrived on.
    pub topic: String,
    /// Its payload, byte for byte.
    pub payload: Vec<u8>,
}

impl Seen {
    /// The payload as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!(
                "not JSON on {} ({e}): {}",
                self.topic,
                String::from_utf8_lossy(&self.payload)
            )
        })
    }
}

/// An MQTT client that records what arrives on its subscriptions.
pub struct Observer {
    /// What arrived, in order.
    pub rx: mpsc::UnboundedReceiver<Seen>,
    /// Kept so that the connection lives as long as the observer.
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Observer {
    /// A fresh session of `user` on `b`, subscribed to `filters`.
    pub async fn connect(b: &Broker, user: &str, filters: &[&str]) -> Observer {
        let id = format!("obs-{}", uuid::Uuid::new_v4().simple());
        Self::session(b, user, &id, true, filters).await
    }

    /// Connects as `user` with client id `id`; `clean: false` keeps (or resumes) a
    /// persistent session, so messages published while it is away are queued for it.
    pub async fn session(
        b: &Broker,
        user: &str,
        id: &str,
        clean: bool,
        filters: &[&str],
    ) -> Observer {
        let mut o = MqttOptions::new(id, "127.0.0.1", b.port);
        o.set_credentials(user, password(user))
            .set_clean_session(clean)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 1000);
        for f in filters {
            client
                .subscribe(*f, QoS::AtLeastOnce)
                .await
                .expect("subscribe");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let want = filters.len();
        let again: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let resubscriber = client.clone();
        let task = tokio::spawn(async move {
            let mut subacks = 0;
            let mut ready = Some(ready_tx);
            let mut connects = 0u32;
            loop {
                match el.poll().await {
                    // As a well-behaved client does: subscribe again when the broker
                    // (restarted without its state, or a clean session) has no
                    // subscription for it.
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        connects += 1;
                        if connects > 1 && !ack.session_present {
                            for f in &again {
                                let _ = resubscriber.try_subscribe(f.clone(), QoS::AtLeastOnce);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks += 1;
                        if subacks >= want
                            && let Some(r) = ready.take()
                        {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Seen {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                        });
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("subscriptions acknowledged")
            .expect("observer alive");
        Observer { rx, client, task }
    }

    /// Disconnects cleanly (a persistent session stays on the broker).
    pub async fn close(mut self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }

    /// Collects messages accepted by `keep` until `n` are in or `timeout`.
    pub async fn collect(
        &mut self,
        n: usize,
        timeout: Duration,
        keep: impl Fn(&Seen) -> bool,
    ) -> Vec<Seen> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while out.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) if keep(&m) => out.push(m),
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        out
    }

    /// The next message, which must come within `timeout` and on `topic`.
    pub async fn next_on(&mut self, topic: &str, timeout: Duration) -> Seen {
        let m = self
            .collect(1, timeout, |_| true)
            .await
            .pop()
            .unwrap_or_else(|| panic!("nothing came within {timeout:?} (expected on {topic})"));
        assert_eq!(m.topic, topic, "{}", String::from_utf8_lossy(&m.payload));
        m
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        // The event loop would otherwise reconnect forever (and, with a fixed client
        // id, take the session over from a later observer).
        self.task.abort();
    }
}
