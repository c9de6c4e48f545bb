//! What the record is: its identifier, its conformance class, its resource type.

use serde_json::Value;

use crate::report::Finding;

use super::context::{Ctx, ID_PREFIX, allowed, missing_props};

/// The conformance class every WCMP2 record declares in `conformsTo`.
pub const WCMP2_CONFORMANCE: &str = "http://wis.wmo.int/spec/wcmp/2/conf/core";

/// `identifier`: `urn:wmo:md:<centre-id>:<local-id>`, ASCII, no spaces; the centre-id
/// registered and equal to the MQTT channels'.
pub(super) fn identifier(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    let shape = "urn:wmo:md:<centre-id>:<local-id>, e.g. urn:wmo:md:fr-ifremer-argo:cor:msg:argo";
    let id = match cx.rec.get("id") {
        None => {
            return vec![
                Finding::new("/id", "the record has no `id`")
                    .with_fix(format!("add an id {shape}")),
            ];
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return vec![
                Finding::new("/id", format!("id {other} is not a string"))
                    .with_fix(format!("write the id as a string {shape}")),
            ];
        }
    };
    let mut out = Vec::new();
    let Some(rest) = id.strip_prefix(ID_PREFIX) else {
        let fix = match id.strip_prefix("urn:x-wmo:md:") {
            Some(r) => format!("WCMP2 dropped the x- of WCMP1: write urn:wmo:md:{r}"),
            None => format!("write {shape}"),
        };
        return vec![
            Finding::new("/id", format!("id {id:?} does not start with {ID_PREFIX}")).with_fix(fix),
        ];
    };
    let (centre, local) = rest.split_once(':').unwrap_or((rest, ""));
    if centre.is_empty() || local.is_empty() {
        return vec![
            Finding::new(
                "/id",
                format!("id {id:?} needs a centre-id and a local identifier after {ID_PREFIX}"),
            )
            .with_fix(format!("write {shape}")),
        ];
    }
    if id.chars().any(char::is_whitespace) {
        out.push(
            Finding::new("/id", format!("id {id:?} contains spaces"))
                .with_fix("replace spaces with - or ."),
        );
    }
    if local.contains(';') {
        out.push(
            Finding::new(
                "/id",
                format!("local identifier {local:?} contains a semicolon"),
            )
            .with_fix("WCMP2 allows no semicolon in the local identifier: use : - . or _"),
        );
    }
    if !id.is_ascii() {
        out.push(
            Finding::new(
                "/id",
                format!("id {id:?} has non-ASCII (accented) characters"),
            )
            .with_fix("use ASCII letters, digits, - . _ and : only"),
        );
    }
    let syntax_ok = centre
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !centre.starts_with('-')
        && !centre.ends_with('-');
    if !syntax_ok {
        out.push(
            Finding::new(
                "/id",
                format!("centre-id {centre:?} of the id is not a WTH centre-id (lowercase letters, digits and -)"),
            )
            .with_fix(format!(
                "write your registered centre-id, e.g. {}",
                centre.to_ascii_lowercase()
            )),
        );
    } else if let Some(tables) = cx.tables
        && !centre.ends_with("-test")
    {
        match tables.centre_status(centre) {
            None => out.push(
                Finding::new(
                    "/id",
                    format!("centre-id {centre:?} of the id is not registered in the WTH centre-id table"),
                )
                .with_fix("use the centre-id WMO registered for your centre (centre-id.csv of the WTH bundle), or register it; test centres end with -test"),
            ),
            Some(s) if s.eq_ignore_ascii_case("retired") => warnings.push(
                Finding::new("/id", format!("centre-id {centre:?} is retired in the WTH centre-id table"))
                    .with_fix("publish under the centre-id that replaced it"),
            ),
            Some(_) => {}
        }
    }
    out
}

/// `type`: `properties.type` in the resource-type code list.
pub(super) fn resource_type(cx: &Ctx<'_>) -> Vec<Finding> {
    let types = &cx.codelists.resource_types;
    let fix = format!("use one of {}", allowed(types));
    if cx.props.is_none() {
        return vec![missing_props()];
    }
    match cx.prop("type") {
        None => {
            vec![Finding::new("/properties/type", "properties.type is missing").with_fix(fix)]
        }
        Some(Value::String(t)) if types.iter().any(|x| x == t) => Vec::new(),
        Some(other) => vec![
            Finding::new(
                "/properties/type",
                format!("{other} is not in the WCMP2 resource-type code list"),
            )
            .with_fix(fix),
        ],
    }
}

/// `conformance`: `conformsTo` holds the WCMP2 core class.
pub(super) fn conformance(cx: &Ctx<'_>) -> Vec<Finding> {
    let fix = format!("add \"conformsTo\": [\"{WCMP2_CONFORMANCE}\"]");
    match cx.rec.get("conformsTo").and_then(Value::as_array) {
        Some(a) if a.iter().any(|c| c.as_str() == Some(WCMP2_CONFORMANCE)) => Vec::new(),
        Some(_) => vec![
            Finding::new(
                "/conformsTo",
                format!("conformsTo does not contain {WCMP2_CONFORMANCE}"),
            )
            .with_fix(fix),
        ],
        None => {
            vec![Finding::new("/conformsTo", "conformsTo is missing or not an array").with_fix(fix)]
        }
    }
}
