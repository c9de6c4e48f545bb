//! A service's status on `chain/status/<service>`, retained: `online` once it is
//! connected and subscribed (published again after every reconnection), `offline` as
//! its MQTT last will (the broker publishes it when the connection dies) and as its
//! last word at a clean shutdown. `mosquitto_sub -t 'chain/status/#' -v` shows at once
//! which service is down; `wis2-watch` reads it to know when the chain is whole again
//! after the broker lost its state.
//!
//! A status that is present (online or offline) means the broker holds the service's
//! persistent session: messages for it are queued even while it is offline. A broker
//! that lost its state lost the retained status with the session, until the service
//! connects again.

use serde::{Deserialize, Serialize};

/// A service's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Online,
    Offline,
}

/// The payload of `chain/status/<service>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub service: String,
    pub state: State,
    /// The MQTT client id of the connection.
    pub client_id: String,
    /// When this status was published (RFC 3339); for the last will, when the
    /// service connected.
    pub time: String,
}

impl Status {
    pub fn new(service: &str, state: State, client_id: &str) -> Self {
        Status {
            service: service.to_string(),
            state,
            client_id: client_id.to_string(),
            time: wis2::message::rfc3339(&chrono::Utc::now()),
        }
    }

    /// The JSON payload. Only strings: serialising it cannot fail.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a status is strings only")
    }

    /// The status in a payload, when it is one.
    pub fn parse(payload: &[u8]) -> Option<Status> {
        serde_json::from_slice(payload).ok()
    }
}

/// The status topic of `service`.
pub fn topic(service: &str) -> String {
    format!("{}/{service}", crate::topics::STATUS)
}

/// The service a status topic is about.
pub fn service_of(topic: &str) -> Option<&str> {
    topic
        .strip_prefix(crate::topics::STATUS)?
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_round_trips_and_names_its_service() {
        let s = Status::new("wis2-create", State::Online, "wis2-create");
        let back = Status::parse(&s.to_vec()).expect("parses");
        assert_eq!(back, s);
        assert!(String::from_utf8_lossy(&s.to_vec()).contains(r#""state":"online""#));
        assert_eq!(topic("wis2-create"), "chain/status/wis2-create");
        assert_eq!(service_of("chain/status/wis2-create"), Some("wis2-create"));
        assert_eq!(service_of("chain/status/"), None);
        assert_eq!(service_of("chain/statusx/a"), None);
        assert_eq!(service_of("chain/status/a/b"), None);
    }
}
