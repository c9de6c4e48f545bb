//! The levels of a WIS2 topic: the built-in vocabularies, the syntax of a level
//! name, and the levels read from a topic string.

/// Level 1, built in.
pub const CHANNELS: [&str; 2] = ["origin", "cache"];
/// Level 2, built in.
pub const VERSION: &str = "a";
/// Level 3, built in.
pub const SYSTEM: &str = "wis2";
/// Level 5, built in.
pub const NOTIFICATION_TYPES: [&str; 2] = ["data", "metadata"];
/// Level 6, built in.
pub const DATA_POLICIES: [&str; 2] = ["core", "recommended"];
/// Level 7, built in.
pub const DISCIPLINES: [&str; 7] = [
    "atmospheric-composition",
    "climate",
    "cryosphere",
    "hydrology",
    "ocean",
    "space-weather",
    "weather",
];

/// The sub-level under a discipline that accepts any further sub-levels.
pub const EXPERIMENTAL: &str = "experimental";

/// Whether `l` is a well-formed level name (a centre id, say): lowercase letters,
/// digits and single `-` between them.
pub fn is_level_name(l: &str) -> bool {
    let bytes = l.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && !l.contains("--")
}

/// The centre-id (level 4) of a topic.
pub fn centre_id(topic: &str) -> Option<&str> {
    topic.split('/').nth(3).filter(|l| !l.is_empty())
}

/// The notification type (level 5) of a topic.
pub fn notification_type(topic: &str) -> Option<&str> {
    topic.split('/').nth(4).filter(|l| !l.is_empty())
}

/// The data policy (level 6) of a data topic.
pub fn data_policy(topic: &str) -> Option<&str> {
    topic.split('/').nth(5).filter(|l| !l.is_empty())
}

/// The metadata topic of a centre.
pub fn metadata_topic(centre_id: &str) -> String {
    format!("origin/a/wis2/{centre_id}/metadata")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names() {
        for ok in ["fr-ifremer-argo", "a", "x1-2"] {
            assert!(is_level_name(ok), "{ok}");
        }
        for bad in ["", "Fr-ifremer", "-a", "a-", "a--b", "a_b", "a/b", "a b"] {
            assert!(!is_level_name(bad), "{bad:?}");
        }
    }
}
