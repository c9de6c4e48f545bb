//! Which edition of the WNM standard the tests apply.
//!
//! - [`Profile::Wnm13`] (the default): WNM 1.3.0, in force.
//! - [`Profile::Infcom4Draft`]: the 1.4.0 draft going to INFCOM-4 (branch `INFCOM-4` of
//!   wmo-im/wis2-notification-message). What changes: `properties.metadata_id` is
//!   required (`/req/core/metadata_id`), `properties.integrity` is required with one of
//!   the six methods and a base64 value (`/req/core/integrity`, a test of its own),
//!   the deprecated `version` is gone (`conformsTo` only), and `data_id` should start
//!   with the record's identifier (`/rec/core/data_id`, a warning). Its schema is the
//!   draft's bundled schema (`schema sync --profile infcom4-draft`).

use std::fmt;
use std::str::FromStr;

/// The edition of the WNM standard a [`super::Validator`] checks against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// WNM 1.3.0 (in force).
    #[default]
    Wnm13,
    /// The WNM 1.4.0 draft for INFCOM-4.
    Infcom4Draft,
}

impl Profile {
    /// Every profile, the default first.
    pub const ALL: [Profile; 2] = [Profile::Wnm13, Profile::Infcom4Draft];

    /// The name used by `--profile` and `WIS2_WNM_PROFILE`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Wnm13 => "1.3.0",
            Profile::Infcom4Draft => "infcom4-draft",
        }
    }

    /// True for the INFCOM-4 draft (1.4.0).
    pub fn is_draft(self) -> bool {
        self == Profile::Infcom4Draft
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a WNM profile: use 1.3.0 (WNM 1.3.0, the default) or infcom4-draft (the 1.4.0 draft for INFCOM-4)"
)]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1.3.0" | "1.3" | "wnm-1.3.0" => Ok(Profile::Wnm13),
            "infcom4-draft" | "1.4.0-draft" => Ok(Profile::Infcom4Draft),
            _ => Err(UnknownProfile(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_others_are_refused() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
        }
        let err = "1.4".parse::<Profile>().unwrap_err().to_string();
        assert!(
            err.contains("infcom4-draft") && err.contains("`1.4`"),
            "{err}"
        );
    }
}
