//! The authoritative WNM JSON Schema, compiled once.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::Finding;
use crate::schema::SchemaTexts;

use super::error::ValidateError;

use At::{Inside, Time, Under};

/// How the load errors name the WNM schema, and their fixes.
static TEXTS: SchemaTexts = SchemaTexts {
    name: "the WNM schema",
    read_fix: "pass --schema / WIS2_WNM_SCHEMA with the path of wis2-notification-message-bundled.json, or run `wis2-validate schema sync`",
    json_fix: "re-download it with `wis2-validate schema sync`",
    not_compiled: "does not compile",
    compile_fix: "use the bundled, self-contained schema wis2-notification-message-bundled.json; `wis2-validate schema sync` fetches it",
};

/// A compiled WNM schema.
pub(crate) struct Schema {
    pub path: PathBuf,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Schema {
    /// Reads and compiles the schema at `path`.
    pub fn load(path: &Path) -> Result<Self, ValidateError> {
        let validator = crate::schema::compile_file(path, &TEXTS, |_| Ok(()))?;
        Ok(Schema {
            path: path.to_path_buf(),
            validator,
        })
    }

    /// Fast verdict.
    pub fn is_valid(&self, v: &Value) -> bool {
        self.validator.is_valid(v)
    }

    /// Every violation, with a fix where the schema keyword tells what to do.
    pub fn errors(&self, v: &Value, out: &mut Vec<Finding>) {
        for e in self.validator.iter_errors(v) {
            let schema_path = e.schema_path().as_str();
            let path = e.instance_path().as_str().to_string();
            let whole = matches!(
                e.kind(),
                jsonschema::error::ValidationErrorKind::OneOfNotValid { .. }
                    | jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. }
                    | jsonschema::error::ValidationErrorKind::Required { .. }
                    | jsonschema::error::ValidationErrorKind::AnyOf { .. }
            );
            // oneOf/required messages quote the whole instance: keep them short.
            let message = if whole {
                e.masked().to_string()
            } else {
                e.to_string()
            };
            let message = format!("{message} (schema {schema_path})");
            out.push(Finding::new(path, message).with_fix(fix_for(schema_path)));
        }
    }
}

/// Where a violated keyword is in the schema.
enum At {
    /// Under this schema path.
    Under(&'static str),
    /// Wherever the schema path contains this.
    Inside(&'static str),
    /// The `date-time` format of a time, or any keyword of `pubtime`.
    Time,
}

impl At {
    fn holds(&self, schema_path: &str) -> bool {
        let p = schema_path;
        match self {
            At::Under(prefix) => p.starts_with(prefix),
            At::Inside(part) => p.contains(part),
            At::Time => p.ends_with("/format") && p.contains("datetime") || p.contains("pubtime"),
        }
    }
}

/// How to fix a violation, by where its keyword is: the first place that holds.
const FIXES: [(At, &str); 12] = [
    (
        Under("/oneOf"),
        "a WNM has id, conformsTo [\"http://wis.wmo.int/spec/wnm/1/conf/core\"] (or the deprecated version \"v04\", never both), type, geometry, properties and links",
    ),
    (
        Under("/properties/properties/oneOf"),
        "give either datetime (null when unknown), or both start_datetime and end_datetime",
    ),
    (
        Under("/properties/geometry"),
        "geometry is null, {\"type\": \"Point\", \"coordinates\": [lon, lat]} or {\"type\": \"Polygon\", \"coordinates\": [[[lon, lat], ...]]}",
    ),
    (
        Time,
        "write RFC 3339 in UTC: YYYY-MM-DDThh:mm:ss[.fff]Z, e.g. 2024-05-01T12:00:00Z",
    ),
    (
        Under("/properties/id"),
        "use a fresh random UUID (v4) such as 31e9d66a-cd83-4174-9429-b932f1abe1be",
    ),
    (
        Under("/properties/conformsTo"),
        "conformsTo is [\"http://wis.wmo.int/spec/wnm/1/conf/core\"]",
    ),
    (
        Under("/properties/version"),
        "remove version and use conformsTo [\"http://wis.wmo.int/spec/wnm/1/conf/core\"]",
    ),
    (Under("/properties/type"), "set \"type\": \"Feature\""),
    (
        Inside("/integrity"),
        "integrity is {\"method\": \"sha512\" (or sha256, sha384, sha3-256, sha3-384, sha3-512), \"value\": \"<base64 digest>\"}",
    ),
    (
        Inside("/content"),
        "content is {\"encoding\": \"utf-8\"|\"base64\"|\"gzip\", \"size\": <decoded bytes>, \"value\": \"<at most 4096 characters>\"}; drop it for larger data",
    ),
    (
        Under("/properties/links"),
        "links is a non-empty array of {\"href\": \"https://...\", \"rel\": \"canonical\", \"type\": \"<media type>\", \"length\": <bytes>}",
    ),
    (
        Under("/properties/properties"),
        "properties needs pubtime and data_id (strings), and the time of the data",
    ),
];

/// How to fix a violation of the schema keyword at `schema_path`.
fn fix_for(schema_path: &str) -> String {
    FIXES
        .iter()
        .find(|(at, _)| at.holds(schema_path))
        .map_or("see the WNM schema at the schema path given", |(_, fix)| {
            fix
        })
        .to_string()
}
