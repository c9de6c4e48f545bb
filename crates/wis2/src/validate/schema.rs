//! The authoritative WNM JSON Schema, compiled once.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::Finding;

use super::error::ValidateError;

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
    /// Reads and compiles the schema at `path` (Draft 2020-12, formats asserted, no
    /// remote references: the bundled schema is self-contained).
    pub fn load(path: &Path) -> Result<Self, ValidateError> {
        let text = std::fs::read(path).map_err(|source| ValidateError::SchemaRead {
            path: path.to_path_buf(),
            source,
        })?;
        let doc: Value =
            serde_json::from_slice(&text).map_err(|source| ValidateError::SchemaJson {
                path: path.to_path_buf(),
                source,
            })?;
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&doc)
            .map_err(|e| ValidateError::SchemaCompile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
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

/// How to fix a violation of the schema keyword at `schema_path`.
fn fix_for(schema_path: &str) -> String {
    let p = schema_path;
    let s = if p.starts_with("/oneOf") {
        "a WNM has id, conformsTo [\"http://wis.wmo.int/spec/wnm/1/conf/core\"] (or the deprecated version \"v04\", never both), type, geometry, properties and links"
    } else if p.starts_with("/properties/properties/oneOf") {
        "give either datetime (null when unknown), or both start_datetime and end_datetime"
    } else if p.starts_with("/properties/geometry") {
        "geometry is null, {\"type\": \"Point\", \"coordinates\": [lon, lat]} or {\"type\": \"Polygon\", \"coordinates\": [[[lon, lat], ...]]}"
    } else if p.ends_with("/format") && p.contains("datetime") || p.contains("pubtime") {
        "write RFC 3339 in UTC: YYYY-MM-DDThh:mm:ss[.fff]Z, e.g. 2024-05-01T12:00:00Z"
    } else if p.starts_with("/properties/id") {
        "use a fresh random UUID (v4) such as 31e9d66a-cd83-4174-9429-b932f1abe1be"
    } else if p.starts_with("/properties/conformsTo") {
        "conformsTo is [\"http://wis.wmo.int/spec/wnm/1/conf/core\"]"
    } else if p.starts_with("/properties/version") {
        "remove version and use conformsTo [\"http://wis.wmo.int/spec/wnm/1/conf/core\"]"
    } else if p.starts_with("/properties/type") {
        "set \"type\": \"Feature\""
    } else if p.contains("/integrity") {
        "integrity is {\"method\": \"sha512\" (or sha256, sha384, sha3-256, sha3-384, sha3-512), \"value\": \"<base64 digest>\"}"
    } else if p.contains("/content") {
        "content is {\"encoding\": \"utf-8\"|\"base64\"|\"gzip\", \"size\": <decoded bytes>, \"value\": \"<at most 4096 characters>\"}; drop it for larger data"
    } else if p.starts_with("/properties/links") {
        "links is a non-empty array of {\"href\": \"https://...\", \"rel\": \"canonical\", \"type\": \"<media type>\", \"length\": <bytes>}"
    } else if p.starts_with("/properties/properties") {
        "properties needs pubtime and data_id (strings), and the time of the data"
    } else {
        "see the WNM schema at the schema path given"
    };
    s.to_string()
}
