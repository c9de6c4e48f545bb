//! The WIS2 Topic Hierarchy (WTH).
//!
//! `{channel}/{version}/{system}/{centre-id}/{notification-type}/{data-policy}/{earth-system-discipline}/{sub-levels...}`
//!
//! [`check`] returns every problem of a topic with its fix (an empty list means the
//! topic is valid). Without [`TopicTables`] the built-in level rules apply (fixed
//! levels, syntax); with the tables loaded from the official WTH bundle the centre-id
//! is checked against the registry and every sub-level against
//! `earth-system-discipline.csv`.
//!
//! [`Topic`] is a topic to publish on, checked once against the built-in rules.

mod check;
mod levels;
mod parsed;
mod tables;

pub use check::{Mode, TOPIC_TEST_ID, check, check_report, check_result, is_test_centre, notes};
pub use levels::{
    CHANNELS, DATA_POLICIES, DISCIPLINES, EXPERIMENTAL, NOTIFICATION_TYPES, SYSTEM, VERSION,
    centre_id, data_policy, is_level_name, metadata_topic, notification_type,
};
pub use parsed::{InvalidTopic, NotificationType, Topic};
pub use tables::{TopicError, TopicTables};
