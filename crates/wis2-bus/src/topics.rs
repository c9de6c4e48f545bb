//! The chain's internal topics. They live under `chain/`, outside the WIS2 `origin/`
//! and `cache/` trees, so nothing internal can leak to a Global Broker; the broker's
//! ACL gives each service only its own.

/// File events (CloudEvents) from `wis2-watch` to `wis2-create`.
pub const EVENTS: &str = "chain/events";
/// Notification messages built by `wis2-create`, for `wis2-validate`.
pub const CREATED: &str = "chain/created";
/// Messages that passed validation, for `wis2-publish`.
pub const VALIDATED: &str = "chain/validated";
/// Messages that failed validation, with the report.
pub const REJECTED: &str = "chain/rejected";
/// Inputs any stage could not process, with the stage and the reason.
pub const DEADLETTER: &str = "chain/deadletter";
/// Confirmations from `wis2-publish` that a file's notification is on the WIS2 topic.
pub const PUBLISHED: &str = "chain/published";
/// Prefix of the services' status: `chain/status/<service>`, retained, `online` while
/// the service is connected and subscribed, `offline` (its MQTT last will, or its
/// last word at shutdown) otherwise. See [`crate::status`].
pub const STATUS: &str = "chain/status";
