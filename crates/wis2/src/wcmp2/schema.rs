//! The authoritative WCMP2 JSON Schema: compiled once, with its `$ref`s repaired,
//! and its errors turned into findings with a fix.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::report::Finding;
use crate::schema::SchemaTexts;

use super::error::Wcmp2Error;

/// How the load errors name the WCMP2 schema, and their fixes.
static TEXTS: SchemaTexts = SchemaTexts {
    name: "WCMP2 schema",
    read_fix: "point --schema / WIS2_WCMP2_SCHEMA at wcmp2-bundled.json, or run `wis2-validate metadata sync`",
    json_fix: "re-download it with `wis2-validate metadata sync`",
    not_compiled: "does not compile as JSON Schema 2020-12",
    compile_fix: "use the official wcmp2-bundled.json",
};

/// Reads and compiles the schema file at `path`, its `$ref`s repaired.
///
/// The official bundle has `$ref`s through a referenced definition (e.g.
/// `#/properties/links/items/properties/distribution/...`, where `links/items` is
/// itself `{"$ref": "#/definitions/Link"}`). Python's `jsonschema` (pywcmp) resolves
/// references lazily and never meets them unless a record uses that member; the Rust
/// compiler resolves every reference up front and rejects them. [`repair_refs`]
/// rewrites each such reference to the canonical pointer of the same subschema
/// (following the intermediate `$ref`), in memory: the schema file is not changed and
/// the rules stay the same.
pub(super) fn load(path: &Path) -> Result<jsonschema::Validator, Wcmp2Error> {
    let repair = |doc: &mut Value| repair_refs(doc).map(|_| ());
    Ok(crate::schema::compile_file(path, &TEXTS, repair)?)
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Resolves a local JSON pointer, following `$ref`s met on the way; returns the
/// canonical pointer of the target.
fn resolve_through_refs(root: &Value, pointer: &str, depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let mut here: Vec<String> = Vec::new();
    for token in pointer.split('/').skip(1).map(unescape) {
        let mut hops = 0;
        loop {
            let cur = node_at(root, &here)?;
            if let Some(next) = child(cur, &token) {
                let _ = next;
                here.push(token.clone());
                break;
            }
            let target = cur.get("$ref")?.as_str()?.strip_prefix('#')?;
            let canon = resolve_through_refs(root, target, depth + 1)?;
            here = canon.split('/').skip(1).map(unescape).collect();
            hops += 1;
            if hops > 16 {
                return None;
            }
        }
    }
    Some(here.iter().map(|t| format!("/{}", escape(t))).collect())
}

fn child<'v>(v: &'v Value, token: &str) -> Option<&'v Value> {
    match v {
        Value::Object(m) => m.get(token),
        Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

fn node_at<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, t| child(v, t))
}

/// Rewrites local `$ref`s that only resolve through another `$ref` to their
/// canonical pointer (see [`load`]). Fails on a reference that does not
/// resolve at all.
fn repair_refs(schema: &mut Value) -> Result<usize, String> {
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref")
                    && let Some(p) = r.strip_prefix('#')
                {
                    out.push(p.to_string());
                }
                m.values().for_each(|c| collect(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| collect(c, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    collect(schema, &mut refs);
    let mut fixes = HashMap::new();
    for r in refs {
        if r.is_empty() || !r.starts_with('/') || schema.pointer(&r).is_some() {
            continue;
        }
        match resolve_through_refs(schema, &r, 0) {
            Some(canon) => {
                fixes.insert(r, canon);
            }
            None => return Err(format!("$ref #{r} does not resolve")),
        }
    }
    fn rewrite(v: &mut Value, fixes: &HashMap<String, String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get_mut("$ref")
                    && let Some(canon) = r.strip_prefix('#').and_then(|p| fixes.get(p))
                {
                    *r = format!("#{canon}");
                }
                m.values_mut().for_each(|c| rewrite(c, fixes));
            }
            Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, fixes)),
            _ => {}
        }
    }
    rewrite(schema, &fixes);
    Ok(fixes.len())
}

/// A schema error as a finding: where, what (with the schema rule), and a fix.
pub(super) fn finding(e: &jsonschema::ValidationError<'_>) -> Finding {
    use jsonschema::error::ValidationErrorKind as K;
    let fix = match e.kind() {
        K::Required { property } => format!("add the required member {property}"),
        K::Format { format } => match format.as_str() {
            "date-time" => "write an RFC 3339 date-time such as 2024-01-01T00:00:00Z".to_string(),
            "email" => "write a valid e-mail address".to_string(),
            f => format!("write a valid {f}"),
        },
        K::Enum { options } => format!("use one of {options}"),
        K::Constant { expected_value } => format!("write {expected_value}"),
        K::Contains => "add the required item".to_string(),
        K::Pattern { pattern } => format!("write a value matching {pattern}"),
        K::AdditionalProperties { unexpected } => {
            format!("remove {} (not allowed here)", unexpected.join(", "))
        }
        K::MinItems { limit } => format!("give at least {limit} item(s)"),
        K::Type { .. } => "change the value to the type the schema requires".to_string(),
        K::OneOfNotValid { .. } | K::AnyOf { .. } => {
            "make the value match one of the forms the schema allows".to_string()
        }
        _ => "make the record conform to the WCMP2 schema".to_string(),
    };
    Finding::new(
        e.instance_path().as_str(),
        format!("{e} (schema rule {})", e.schema_path()),
    )
    .with_fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_through_refs_are_repaired() {
        let mut s = serde_json::json!({
            "properties": {"links": {"items": {"$ref": "#/definitions/Link"}},
                           "x": {"$ref": "#/properties/links/items/properties/d"}},
            "definitions": {"Link": {"properties": {"d": {"type": "string"}}}}
        });
        assert_eq!(repair_refs(&mut s), Ok(1));
        assert_eq!(
            s["properties"]["x"]["$ref"],
            "#/definitions/Link/properties/d"
        );
        let mut bad = serde_json::json!({"properties": {"x": {"$ref": "#/nowhere"}}});
        assert!(repair_refs(&mut bad).is_err());
    }
}
