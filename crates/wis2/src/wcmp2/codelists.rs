//! WCMP2 code lists: built in as small constant arrays, replaced by the official CSVs
//! (`contact-role.csv`, `resource-type.csv`, `link-type.csv`, `global-service-type.csv`,
//! as `wmo-im/wcmp2-codelists` ships them) when a directory is given.
//!
//! The IANA link relations are always built in: like pywcmp, a link's `rel` is valid
//! when it is an IANA link relation or a WCMP2 link type.

use std::path::{Path, PathBuf};

use super::error::Wcmp2Error;

/// Contact roles (`contact-role.csv`).
pub const CONTACT_ROLES: &[&str] = &["licensor", "producer", "processor", "host"];

/// Resource types (`resource-type.csv`).
pub const RESOURCE_TYPES: &[&str] = &["dataset", "service", "process"];

/// WCMP2 link types (`link-type.csv`).
pub const LINK_TYPES: &[&str] = &["stations", "station", "update", "deletion", "items", "data"];

/// WIS2 Global Service types (`global-service-type.csv`).
pub const GLOBAL_SERVICE_TYPES: &[&str] = &[
    "global-broker",
    "global-cache",
    "global-discovery-catalogue",
    "global-monitor",
];

/// IANA link relations (<https://www.iana.org/assignments/link-relations/>).
pub const IANA_LINK_RELATIONS: &[&str] = &[
    "about",
    "acl",
    "alternate",
    "amphtml",
    "api-catalog",
    "appendix",
    "apple-touch-icon",
    "apple-touch-startup-image",
    "archives",
    "author",
    "blocked-by",
    "bookmark",
    "c2pa-manifest",
    "canonical",
    "chapter",
    "cite-as",
    "collection",
    "compression-dictionary",
    "contents",
    "convertedfrom",
    "copyright",
    "create-form",
    "current",
    "deprecation",
    "describedby",
    "describes",
    "disclosure",
    "dns-prefetch",
    "duplicate",
    "edit",
    "edit-form",
    "edit-media",
    "enclosure",
    "external",
    "first",
    "geofeed",
    "glossary",
    "help",
    "hosts",
    "hub",
    "ice-server",
    "icon",
    "index",
    "intervalafter",
    "intervalbefore",
    "intervalcontains",
    "intervaldisjoint",
    "intervalduring",
    "intervalequals",
    "intervalfinishedby",
    "intervalfinishes",
    "intervalin",
    "intervalmeets",
    "intervalmetby",
    "intervaloverlappedby",
    "intervaloverlaps",
    "intervalstartedby",
    "intervalstarts",
    "item",
    "last",
    "latest-version",
    "license",
    "linkset",
    "lrdd",
    "manifest",
    "mask-icon",
    "me",
    "media-feed",
    "memento",
    "micropub",
    "modulepreload",
    "monitor",
    "monitor-group",
    "next",
    "next-archive",
    "nofollow",
    "noopener",
    "noreferrer",
    "opener",
    "openid2.local_id",
    "openid2.provider",
    "original",
    "P3Pv1",
    "payment",
    "pingback",
    "preconnect",
    "predecessor-version",
    "prefetch",
    "preload",
    "prerender",
    "prev",
    "prev-archive",
    "preview",
    "previous",
    "privacy-policy",
    "profile",
    "publication",
    "related",
    "replies",
    "restconf",
    "ruleinput",
    "search",
    "section",
    "self",
    "service",
    "service-desc",
    "service-doc",
    "service-meta",
    "sip-trunking-capability",
    "sponsored",
    "start",
    "status",
    "stylesheet",
    "subsection",
    "successor-version",
    "sunset",
    "tag",
    "terms-of-service",
    "timegate",
    "timemap",
    "type",
    "ugc",
    "up",
    "version-history",
    "via",
    "webmention",
    "working-copy",
    "working-copy-of",
];

/// The file names of the code lists the checker reads from a directory.
pub const CODELIST_FILES: [&str; 4] = [
    "contact-role.csv",
    "resource-type.csv",
    "link-type.csv",
    "global-service-type.csv",
];

/// The code lists in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLists {
    pub contact_roles: Vec<String>,
    pub resource_types: Vec<String>,
    pub link_types: Vec<String>,
    pub global_service_types: Vec<String>,
    /// Where they came from: `None` for the built-in lists.
    pub source: Option<PathBuf>,
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

impl Default for CodeLists {
    fn default() -> Self {
        Self::builtin()
    }
}

impl CodeLists {
    /// The built-in lists.
    pub fn builtin() -> Self {
        CodeLists {
            contact_roles: owned(CONTACT_ROLES),
            resource_types: owned(RESOURCE_TYPES),
            link_types: owned(LINK_TYPES),
            global_service_types: owned(GLOBAL_SERVICE_TYPES),
            source: None,
        }
    }

    /// Loads the four CSVs from `dir` (flat layout, as in the `codelists/` folder of
    /// `wmo-im/wcmp2-codelists`).
    pub fn load_dir(dir: &Path) -> Result<Self, Wcmp2Error> {
        Ok(CodeLists {
            contact_roles: read_codelist(&dir.join("contact-role.csv"))?,
            resource_types: read_codelist(&dir.join("resource-type.csv"))?,
            link_types: read_codelist(&dir.join("link-type.csv"))?,
            global_service_types: read_codelist(&dir.join("global-service-type.csv"))?,
            source: Some(dir.to_path_buf()),
        })
    }

    /// True when `rel` is an IANA link relation or a WCMP2 link type.
    pub fn is_link_relation(&self, rel: &str) -> bool {
        IANA_LINK_RELATIONS.contains(&rel) || self.link_types.iter().any(|t| t == rel)
    }
}

/// Reads the `Name` column of a code list CSV.
pub fn read_codelist(path: &Path) -> Result<Vec<String>, Wcmp2Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Wcmp2Error::ReadCodelist {
        path: path.to_path_buf(),
        source,
    })?;
    let entries = crate::codetable::entries(&text).map_err(|reason| Wcmp2Error::Codelist {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(entries.into_iter().map(|e| e.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_relations() {
        let c = CodeLists::builtin();
        assert!(c.is_link_relation("items"));
        assert!(c.is_link_relation("license"));
        assert!(!c.is_link_relation("download"));
    }
}
