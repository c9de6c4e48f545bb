//! The themes of a record: the WTH earth-system disciplines, and the declaration of
//! a WIS2 Global Service.

use serde_json::Value;

use crate::report::Finding;
use crate::topic;

use super::context::{Ctx, allowed, missing_props, non_empty_array};

/// The earth-system disciplines: the WTH table's, or the built-in ones.
fn disciplines<'a>(cx: &Ctx<'a>) -> Vec<&'a str> {
    match cx.tables {
        Some(t) => t.disciplines().collect(),
        None => topic::DISCIPLINES.to_vec(),
    }
}

/// `themes`: concepts and a scheme each, and an earth-system-discipline theme whose
/// concepts are in the WTH.
pub(super) fn themes(cx: &Ctx<'_>, warnings: &mut Vec<Finding>) -> Vec<Finding> {
    let esd_fix = "add {\"scheme\": \"https://codes.wmo.int/wis/topic-hierarchy/earth-system-discipline\", \"concepts\": [{\"id\": \"<discipline>\"}]} with the WTH level-7 discipline(s) of the data";
    let Some(props) = cx.props else {
        return vec![missing_props()];
    };
    let themes = match props.get("themes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None => {
            return vec![
                Finding::new(
                    "/properties/themes",
                    "properties.themes needs at least one theme",
                )
                .with_fix(esd_fix),
            ];
        }
        Some(_) => {
            return vec![
                Finding::new("/properties/themes", "properties.themes must be an array")
                    .with_fix(esd_fix),
            ];
        }
    };
    let disciplines = disciplines(cx);
    let mut out = Vec::new();
    let mut esd_found = false;
    let mut esd_concepts: Vec<&str> = Vec::new();
    for (i, t) in themes.iter().enumerate() {
        let tpath = format!("/properties/themes/{i}");
        let Some(concepts) = non_empty_array(t.get("concepts")) else {
            out.push(
                Finding::new(&tpath, "theme has no concepts: at least one is required")
                    .with_fix("add \"concepts\": [{\"id\": \"...\"}]"),
            );
            continue;
        };
        let Some(scheme) = t.get("scheme").and_then(Value::as_str) else {
            out.push(
                Finding::new(&tpath, "theme has no scheme")
                    .with_fix("add \"scheme\": the URI of the vocabulary its concepts come from"),
            );
            continue;
        };
        let mut ids = Vec::with_capacity(concepts.len());
        for (j, c) in concepts.iter().enumerate() {
            match c.get("id").and_then(Value::as_str) {
                Some(id) if !id.trim().is_empty() => ids.push((j, id)),
                _ => out.push(
                    Finding::new(format!("{tpath}/concepts/{j}"), "concept has no id")
                        .with_fix("add \"id\": the concept's identifier in the scheme"),
                ),
            }
        }
        let Some(pos) = scheme.find("earth-system-discipline") else {
            continue;
        };
        esd_found = true;
        let after = &scheme[pos + "earth-system-discipline".len()..];
        let after = after.trim_end_matches(".csv").trim_matches('/');
        if after.is_empty() {
            for (j, id) in ids {
                esd_concepts.push(id);
                if !disciplines.contains(&id) {
                    out.push(
                        Finding::new(
                            format!("{tpath}/concepts/{j}/id"),
                            format!("{id:?} is not a WTH earth-system discipline"),
                        )
                        .with_fix(format!("use one of {}", disciplines.join(", "))),
                    );
                }
            }
        } else {
            // A scheme scoped to a WTH path: .../earth-system-discipline/ocean/...
            let path = after;
            let known = match cx.tables {
                Some(tb) => tb.has_path(path),
                None => path
                    .split('/')
                    .next()
                    .is_some_and(|d| disciplines.contains(&d)),
            };
            if let Some(d) = path.split('/').next() {
                esd_concepts.push(d);
            }
            if !known {
                out.push(
                    Finding::new(
                        format!("{tpath}/scheme"),
                        format!("{path:?} in scheme {scheme:?} is not a WTH earth-system-discipline path"),
                    )
                    .with_fix("name a path of earth-system-discipline.csv, e.g. .../earth-system-discipline/ocean/surface-based-observations/drifting-ocean-profilers"),
                );
                continue;
            }
            let last = path.rsplit('/').next().unwrap_or(path);
            for (j, id) in ids {
                let ok = id == last
                    || match cx.tables {
                        Some(tb) => tb.has_path(&format!("{path}/{id}")),
                        None => true,
                    };
                if !ok {
                    out.push(
                        Finding::new(
                            format!("{tpath}/concepts/{j}/id"),
                            format!("{id:?} is neither {last:?} nor a sub-level of {path:?} in the WTH"),
                        )
                        .with_fix(format!("use {last:?} or a sub-level listed under {path} in earth-system-discipline.csv")),
                    );
                }
            }
        }
    }
    if !esd_found {
        out.push(
            Finding::new(
                "/properties/themes",
                "no theme uses the WTH earth-system-discipline scheme",
            )
            .with_fix(esd_fix),
        );
    }
    if esd_found {
        for (i, ch) in cx.wis2_channels() {
            if let Some(d) = ch.split('/').nth(6)
                && !esd_concepts.contains(&d)
            {
                warnings.push(
                    Finding::new(
                        "/properties/themes",
                        format!("discipline {d:?} of /links/{i}/channel is not among the earth-system-discipline concepts"),
                    )
                    .with_fix(format!("add {{\"id\": \"{d}\"}} to the earth-system-discipline theme")),
                );
            }
        }
    }
    out
}

/// Whether a record describes a WIS2 Global Service, and which type: its centre-id
/// ends in a global-service type (`fr-meteofrance-global-broker`), its local id names
/// one (`urn:wmo:md:de-dwd:global-cache-service`), or its title does ("WIS2 Global
/// Cache provided by ..."). Returns the type and what said so.
fn describes_global_service(cx: &Ctx<'_>) -> Option<(String, String)> {
    let types = &cx.codelists.global_service_types;
    if let Some(c) = cx.centre_id
        && let Some(t) = types.iter().find(|t| c.ends_with(t.as_str()))
    {
        return Some((t.clone(), format!("its centre-id {c:?}")));
    }
    let local = cx
        .rec
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.strip_prefix(super::context::ID_PREFIX))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, local)| local.to_ascii_lowercase());
    if let Some(local) = &local
        && let Some(t) = types.iter().find(|t| local.contains(t.as_str()))
    {
        return Some((t.clone(), format!("its local id {local:?}")));
    }
    let title = cx.prop_str("title")?.to_ascii_lowercase().replace('-', " ");
    let t = types
        .iter()
        .find(|t| title.contains(&t.replace('-', " ")))?;
    Some((
        t.clone(),
        format!("its title names a {}", t.replace('-', " ")),
    ))
}

/// `themes_wis2_global_service`: a Global Service record is a `service` with one
/// global-service-type concept, and serves every discipline.
pub(super) fn global_service(cx: &Ctx<'_>) -> Vec<Finding> {
    let Some(props) = cx.props else {
        return vec![missing_props()];
    };
    let themes: &[Value] = props
        .get("themes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let scheme_last = |t: &Value| -> Option<String> {
        let s = t.get("scheme").and_then(Value::as_str)?;
        let s = s.trim_end_matches('/').trim_end_matches(".csv");
        Some(s.rsplit('/').next().unwrap_or(s).to_string())
    };
    let gs_theme = themes.iter().enumerate().find(|(_, t)| {
        scheme_last(t).is_some_and(|l| {
            matches!(
                l.as_str(),
                "service-type" | "service-types" | "global-service-type" | "global-service-types"
            )
        })
    });
    let rtype = cx.prop_str("type");
    let types = &cx.codelists.global_service_types;
    let Some((i, theme)) = gs_theme else {
        // Not declared as a Global Service: a service record that describes one must.
        if rtype == Some("service")
            && let Some((t, why)) = describes_global_service(cx)
        {
            return vec![
                Finding::new("/properties/themes", format!("this record describes a WIS2 Global Service ({why}) but has no global-service-type theme"))
                    .with_fix(format!("add {{\"scheme\": \"https://codes.wmo.int/wis/global-service-type\", \"concepts\": [{{\"id\": \"{t}\"}}]}}")),
            ];
        }
        return Vec::new();
    };
    let tpath = format!("/properties/themes/{i}");
    let mut out = Vec::new();
    if rtype != Some("service") {
        out.push(
            Finding::new(
                "/properties/type",
                "a record with a global-service-type theme must have properties.type \"service\"",
            )
            .with_fix(
                "set properties.type to \"service\", or remove the global-service-type theme",
            ),
        );
    }
    let concepts: Vec<&str> = theme
        .get("concepts")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|c| c.get("id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if concepts.len() != 1 {
        out.push(
            Finding::new(
                format!("{tpath}/concepts"),
                format!(
                    "the global-service-type theme needs exactly one concept, found {}",
                    concepts.len()
                ),
            )
            .with_fix(format!("keep one of {}", allowed(types))),
        );
    }
    for (j, c) in concepts.iter().enumerate() {
        if !types.iter().any(|t| t == c) {
            out.push(
                Finding::new(
                    format!("{tpath}/concepts/{j}/id"),
                    format!("{c:?} is not in the global-service-type code list"),
                )
                .with_fix(format!("use one of {}", allowed(types))),
            );
        }
    }
    let disciplines = disciplines(cx);
    let esd: Option<Vec<&str>> = themes
        .iter()
        .find(|t| {
            t.get("scheme").and_then(Value::as_str).is_some_and(|s| {
                s.trim_end_matches('/')
                    .trim_end_matches(".csv")
                    .ends_with("earth-system-discipline")
            })
        })
        .map(|t| {
            t.get("concepts")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c.get("id").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default()
        });
    match esd {
        None => out.push(
            Finding::new("/properties/themes", "a Global Service record needs an earth-system-discipline theme listing every discipline")
                .with_fix(format!("add {{\"scheme\": \"https://codes.wmo.int/wis/topic-hierarchy/earth-system-discipline\", \"concepts\": [...]}} with {}", disciplines.join(", "))),
        ),
        Some(ids) => {
            let missing: Vec<&str> = disciplines.iter().copied().filter(|d| !ids.contains(d)).collect();
            if !missing.is_empty() {
                out.push(
                    Finding::new("/properties/themes", format!("a Global Service serves every discipline: the earth-system-discipline theme lacks {}", missing.join(", ")))
                        .with_fix(format!("add the concepts {}", missing.join(", "))),
                );
            }
        }
    }
    out
}
