//! What the stage reads of a message ([`Fields`]) and the key it suppresses
//! duplicates on ([`StateKey`]).

use wis2::message::Relation;
use wis2_bus::Failure;

use crate::queue::Queued;
use crate::store::Published;

/// The fields of a WNM the stage keys on.
#[derive(Debug, Clone)]
pub struct Fields {
    pub id: String,
    pub data_id: String,
    pub rel: Relation,
    pub integrity: Option<String>,
    pub pubtime: String,
}

/// What a data_id is published as: two messages with the same key are the same
/// publication (a re-announcement, or a redelivery with a new message id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateKey {
    pub data_id: String,
    /// The integrity value; none for a deletion, whatever it carries.
    pub integrity: Option<String>,
    pub rel: Relation,
}

impl Fields {
    /// Reads them from the message JSON ([`wis2::message::Keys`]: only these fields
    /// are decoded; the read-back runs this for every message too); the message needs
    /// an `id` and a `data_id`.
    pub fn of(message: &[u8]) -> Result<Fields, Failure> {
        let k = wis2::message::Keys::parse(message).map_err(|e| {
            Failure::new(format!(
                "the message is not a WIS2 notification message ({e}); send it through wis2-validate"
            ))
        })?;
        let owned =
            |v: Option<std::borrow::Cow<str>>| v.map(|v| v.into_owned()).unwrap_or_default();
        let f = Fields {
            id: owned(k.id),
            data_id: owned(k.data_id),
            rel: k.rel.unwrap_or_default(),
            integrity: k.integrity.map(|v| v.into_owned()),
            pubtime: owned(k.pubtime),
        };
        if f.id.is_empty() || f.data_id.is_empty() {
            return Err(Failure::new(
                "the message has no `id` or no `properties.data_id`: it cannot be published once and only once; send it through wis2-validate",
            ));
        }
        Ok(f)
    }

    /// The integrity the store compares: none for a deletion, whatever it carries.
    pub fn state(&self) -> Option<&str> {
        match self.rel {
            Relation::Deletion => None,
            _ => self.integrity.as_deref(),
        }
    }

    /// The duplicate key.
    pub fn key(&self) -> StateKey {
        StateKey {
            data_id: self.data_id.clone(),
            integrity: self.state().map(str::to_string),
            rel: self.rel,
        }
    }

    /// This message (`message`, its JSON text) as the remote outbox and the output
    /// copies keep it.
    pub fn queued(&self, topic: &str, message: &[u8]) -> Queued {
        Queued {
            topic: topic.to_string(),
            message_id: self.id.clone(),
            data_id: self.data_id.clone(),
            message: String::from_utf8_lossy(message).into_owned(),
            pubtime: self.pubtime.clone(),
        }
    }

    /// The store record of this message, published on `topic`.
    pub fn record(&self, topic: &str) -> Published {
        Published {
            integrity: self.state().map(str::to_string),
            rel: self.rel,
            message_id: self.id.clone(),
            topic: topic.to_string(),
            pubtime: self.pubtime.clone(),
            published_at: wis2::message::rfc3339(&chrono::Utc::now()),
            data_id: self.data_id.clone(),
        }
    }
}
