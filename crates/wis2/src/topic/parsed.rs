//! A WIS2 topic to publish on, checked once: [`Topic`].

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::report::Finding;

use super::check::{Mode, check};

/// Level 5 of a topic: what its messages are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationType {
    /// `data`: notifications of data.
    Data,
    /// `metadata`: notifications of WCMP2 discovery metadata records.
    Metadata,
}

impl NotificationType {
    /// The level as the topic writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Data => "data",
            NotificationType::Metadata => "metadata",
        }
    }
}

impl fmt::Display for NotificationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WIS2 topic to publish on: `<channel>/a/wis2/<centre-id>/<notification-type>/...`.
///
/// [`Topic::parse`] is the only way in: it runs the topic check with the built-in
/// rules ([`check`] without tables: every level well formed, the fixed levels, the
/// data policy, the discipline, no wildcard, deep enough), so a value has a centre-id
/// and a notification type. The WTH registry (registered centre-ids, the sub-levels of
/// `earth-system-discipline.csv`) is not consulted: [`check`] with
/// [`super::TopicTables`] does that.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    text: String,
    /// Where level 4 (the centre-id) is in `text`.
    centre: Range<usize>,
    kind: NotificationType,
}

/// A topic that breaks the WTH rules: every problem, each with its fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{topic}` is not a WIS2 topic to publish on: {}", joined(.findings))]
pub struct InvalidTopic {
    topic: String,
    findings: Vec<Finding>,
}

fn joined(findings: &[Finding]) -> String {
    let all: Vec<String> = findings.iter().map(Finding::to_string).collect();
    all.join("; ")
}

impl InvalidTopic {
    /// The topic that was refused.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// What is wrong with it, as the topic check reports it.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

impl Topic {
    /// Checks `topic` against the built-in WTH rules and returns it, or every problem
    /// found with its fix.
    pub fn parse(topic: &str) -> Result<Topic, InvalidTopic> {
        let invalid = |findings| InvalidTopic {
            topic: topic.to_string(),
            findings,
        };
        let findings = check(topic, None, Mode::Publish);
        if !findings.is_empty() {
            return Err(invalid(findings));
        }
        // The check passed, so levels 4 and 5 are there; a topic without them is
        // refused rather than assumed.
        let levels: Vec<&str> = topic.split('/').collect();
        let (Some(centre), Some(kind)) = (levels.get(3), levels.get(4)) else {
            return Err(invalid(vec![Finding::new(
                "",
                "a topic has a centre-id (level 4) and a notification type (level 5)",
            )]));
        };
        let kind = match *kind {
            "metadata" => NotificationType::Metadata,
            _ => NotificationType::Data,
        };
        let start: usize = levels[..3].iter().map(|l| l.len() + 1).sum();
        Ok(Topic {
            text: topic.to_string(),
            centre: start..start + centre.len(),
            kind,
        })
    }

    /// The topic as it was given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The centre-id (level 4).
    pub fn centre_id(&self) -> &str {
        &self.text[self.centre.clone()]
    }

    /// The notification type (level 5).
    pub fn notification_type(&self) -> NotificationType {
        self.kind
    }

    /// The data policy (level 6, `core` or `recommended`) of a data topic; `None` for
    /// a metadata topic.
    pub fn data_policy(&self) -> Option<&str> {
        match self.kind {
            NotificationType::Data => self.text.split('/').nth(5),
            NotificationType::Metadata => None,
        }
    }
}

impl FromStr for Topic {
    type Err = InvalidTopic;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARGO: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

    #[test]
    fn a_data_topic_and_its_levels() {
        let t = Topic::parse(ARGO).expect("a WIS2 topic");
        assert_eq!(t.as_str(), ARGO);
        assert_eq!(t.centre_id(), "fr-ifremer-argo");
        assert_eq!(t.notification_type(), NotificationType::Data);
        assert_eq!(t.data_policy(), Some("core"));
        let cache: Topic = ARGO.replacen("origin", "cache", 1).parse().expect("cache");
        assert_eq!(cache.centre_id(), "fr-ifremer-argo");
    }

    #[test]
    fn a_metadata_topic() {
        let t = Topic::parse("origin/a/wis2/x/metadata").expect("a WIS2 topic");
        assert_eq!(t.centre_id(), "x");
        assert_eq!(t.notification_type(), NotificationType::Metadata);
        assert_eq!(t.data_policy(), None);
    }

    #[test]
    fn errors_are_the_topic_checks() {
        let swapped = ARGO.replace("data/core", "core/data");
        let e = Topic::parse(&swapped).expect_err("swapped levels");
        assert_eq!(
            e.findings(),
            check(&swapped, None, Mode::Publish).as_slice()
        );
        assert!(e.to_string().contains("levels 5 and 6 are swapped"), "{e}");
        assert!(e.to_string().contains(ARGO), "the fix: {e}");
        for bad in [
            "",
            "origin/a/wis2/+/data/core/#",
            "origin/a/wis2/x/data/core/ocean",
            "origin/a/wis2/Fr/data/core/ocean/x",
            "x/a/wis2/c/data/core/ocean/x",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
    }
}
