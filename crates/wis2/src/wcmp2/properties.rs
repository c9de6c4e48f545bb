//! The descriptive properties of a record: title, description, contacts, and the
//! times it was created and updated.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::report::Finding;

use super::context::{Ctx, allowed, missing_props, non_empty_array};
use super::temporal;

/// `title` (and the first part of `description`): a present, non-blank string.
pub(super) fn text(cx: &Ctx<'_>, name: &str) -> Vec<Finding> {
    if cx.props.is_none() {
        return vec![missing_props()];
    }
    let path = format!("/properties/{name}");
    match cx.prop(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Vec::new(),
        Some(Value::String(_)) => vec![
            Finding::new(path, format!("properties.{name} is empty"))
                .with_fix(format!("write a meaningful {name}")),
        ],
        Some(other) => vec![
            Finding::new(path, format!("properties.{name} {other} is not a string"))
                .with_fix(format!("write the {name} as a string")),
        ],
        None => vec![
            Finding::new(path, format!("properties.{name} is missing"))
                .with_fix(format!("add a human-readable {name}")),
        ],
    }
}

/// `description`: a present, non-blank string (a warning when it repeats the title).
pub(super) fn description(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    let out = text(cx, "description");
    if out.is_empty()
        && cx.prop_str("description").map(str::trim) == cx.prop_str("title").map(str::trim)
    {
        warnings.push(
            Finding::new("/properties/description", "description repeats the title")
                .with_fix("describe the data: what, where, when, how it is produced"),
        );
    }
    out
}

/// `record_creation_date`: `created` (and `updated`) RFC 3339, updated not before
/// created.
pub(super) fn record_created(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    if cx.props.is_none() {
        return vec![missing_props()];
    }
    let fix = "write an RFC 3339 UTC date-time such as 2025-08-20T14:00:00Z";
    let mut out = Vec::new();
    let parse = |name: &str,
                 out: &mut Vec<Finding>,
                 warnings: &mut Vec<Finding>|
     -> Option<DateTime<Utc>> {
        let path = format!("/properties/{name}");
        let v = cx.prop(name)?;
        let Some(s) = v.as_str() else {
            out.push(
                Finding::new(path, format!("properties.{name} {v} is not a string")).with_fix(fix),
            );
            return None;
        };
        match temporal::parse_rfc3339(s) {
            Some(t) => {
                if !(s.ends_with('Z') || s.ends_with('z')) {
                    warnings.push(
                        Finding::new(&path, format!("properties.{name} {s:?} is not in UTC"))
                            .with_fix(fix),
                    );
                }
                if t > Utc::now() + chrono::Duration::days(1) {
                    warnings.push(
                        Finding::new(&path, format!("properties.{name} {s:?} is in the future"))
                            .with_fix("use the time the record was really created or changed"),
                    );
                }
                Some(t)
            }
            None => {
                out.push(
                    Finding::new(
                        path,
                        format!("properties.{name} {s:?} is not an RFC 3339 date-time"),
                    )
                    .with_fix(fix),
                );
                None
            }
        }
    };
    if cx.prop("created").is_none() {
        out.push(
            Finding::new("/properties/created", "properties.created is missing").with_fix(fix),
        );
    }
    let created = parse("created", &mut out, warnings);
    let updated = parse("updated", &mut out, warnings);
    if let (Some(c), Some(u)) = (created, updated)
        && u < c
    {
        out.push(
            Finding::new(
                "/properties/updated",
                format!("properties.updated ({u}) is before properties.created ({c})"),
            )
            .with_fix("set updated to the time of the last change, not before created"),
        );
    }
    out
}

/// `contacts`: an organization and code-list roles each, and one `host`.
pub(super) fn contacts(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    let roles_fix = format!("use roles from {}", allowed(&cx.codelists.contact_roles));
    let Some(props) = cx.props else {
        return vec![missing_props()];
    };
    let Some(contacts) = non_empty_array(props.get("contacts")) else {
        return vec![
            Finding::new("/properties/contacts", "properties.contacts needs at least one contact")
                .with_fix("add {\"organization\": \"...\", \"roles\": [\"host\"], ...} for the centre hosting the data"),
        ];
    };
    let mut out = Vec::new();
    let mut hosts = 0;
    for (i, c) in contacts.iter().enumerate() {
        let path = format!("/properties/contacts/{i}");
        if c.get("organization")
            .and_then(Value::as_str)
            .is_none_or(|o| o.trim().is_empty())
        {
            out.push(
                Finding::new(&path, "contact has no organization")
                    .with_fix("add \"organization\": the name of the organization"),
            );
        }
        match non_empty_array(c.get("roles")) {
            Some(roles) => {
                for (j, r) in roles.iter().enumerate() {
                    match r.as_str() {
                        Some(r) if cx.codelists.contact_roles.iter().any(|x| x == r) => {
                            if r == "host" {
                                hosts += 1;
                            }
                        }
                        _ => out.push(
                            Finding::new(
                                format!("{path}/roles/{j}"),
                                format!("role {r} is not in the WCMP2 contact-role code list"),
                            )
                            .with_fix(roles_fix.clone()),
                        ),
                    }
                }
            }
            None => out.push(
                Finding::new(&path, "contact has no roles")
                    .with_fix(format!("add \"roles\": [...]; {roles_fix}")),
            ),
        }
    }
    if hosts == 0 {
        out.push(
            Finding::new("/properties/contacts", "no contact has the role host")
                .with_fix("add \"host\" to the roles of the organization providing the data"),
        );
    } else if hosts > 1 {
        warnings.push(
            Finding::new(
                "/properties/contacts",
                format!("{hosts} contacts have the role host"),
            )
            .with_fix("keep a single host, listed last"),
        );
    }
    out
}
