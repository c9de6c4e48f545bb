//! WCMP2 test suite: the official examples and the real Argo record pass with the
//! authoritative schema, code lists and WTH tables; each rule's smallest violating
//! variant fails exactly the expected test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use wis2::report::Code;
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options, mqtt_channels, record_time, test_id};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

fn shared(p: &str) -> PathBuf {
    PathBuf::from(SHARED).join(p)
}

fn options() -> Wcmp2Options {
    Wcmp2Options {
        schema: Some(shared("standards/wcmp2/wcmp2-bundled.json")),
        codelists_dir: Some(shared("standards/wcmp2/codelists")),
        wth_dir: Some(shared("standards/wth")),
    }
}

fn checker() -> &'static Wcmp2Checker {
    static C: OnceLock<Wcmp2Checker> = OnceLock::new();
    C.get_or_init(|| Wcmp2Checker::new(&options()).expect("authoritative documents load"))
}

fn read_json(path: &PathBuf) -> Value {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_valid(name: &str, v: &Value) {
    let r = checker().check_value(v);
    assert!(r.is_valid(), "{name}:\n{}", r.to_human());
    assert_eq!(r.ets_report.summary.skipped, 0, "{name}: {}", r.to_human());
}

/// Official examples whose MQTT channel stops at level 7 (`.../data/core/climate`,
/// `.../data/core/hydrology`). The WTH publishes data at level 8 or deeper, so an
/// exact subscription to these channels receives nothing and no notification can be
/// tied to the record: they pass (as in pywcmp, which checks only that each level is
/// in its table) with a warning on the channel that says so.
const LEVEL7_CHANNEL_EXAMPLES: [&str; 3] = [
    "ca-eccc-msc.daily-climate-observations.json",
    "ca-eccc-msc.hydrometric-archive.json",
    "ca-eccc-msc.hydrometric-realtime.json",
];

#[test]
fn official_examples_pass() {
    let dir = shared("standards/wcmp2/examples");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 17, "only {} examples found", entries.len());
    let mut bad = String::new();
    for p in &entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let r = checker().check_value(&read_json(p));
        assert_eq!(r.ets_report.summary.skipped, 0, "{name}: {}", r.to_human());
        if LEVEL7_CHANNEL_EXAMPLES.contains(&name) {
            assert!(r.is_valid(), "{name}: {}", r.to_human());
            assert!(
                r.ets_report.warnings.iter().any(
                    |w| w.path.ends_with("/channel") && w.message.contains("level 8 or deeper")
                ),
                "{name}: {}",
                r.to_human()
            );
        } else if !r.is_valid() {
            bad.push_str(&r.to_human());
        }
    }
    assert!(bad.is_empty(), "{bad}");
}

#[test]
fn real_argo_record_passes() {
    let p = shared("data/wcmp2/ifremer_fr-ifremer-argo-core-metadata.json");
    assert_valid("real Argo record", &read_json(&p));
}

fn project_record() -> Value {
    read_json(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/metadata/fr-ifremer-argo-core-metadata.json"
    )))
}

#[test]
fn project_record_passes_strictly() {
    let v = project_record();
    assert_valid("project record", &v);
    let strict = Wcmp2Checker::new(&options())
        .expect("load")
        .require_mqtt_link(true);
    let r = strict.check_value(&v);
    assert!(r.is_valid(), "{}", r.to_human());
    assert!(r.ets_report.warnings.is_empty(), "{}", r.to_human());
    assert_eq!(
        mqtt_channels(&v),
        vec![
            "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers"
                .to_string()
        ]
    );
    assert_eq!(
        record_time(&v).map(|t| t.to_rfc3339()),
        Some("2026-11-28T12:00:00+00:00".to_string())
    );
}

/// Code lists and WTH tables, no schema: the domain tests alone.
fn domain() -> &'static Wcmp2Checker {
    static C: OnceLock<Wcmp2Checker> = OnceLock::new();
    C.get_or_init(|| {
        Wcmp2Checker::new(&Wcmp2Options {
            schema: None,
            ..options()
        })
        .expect("code lists and WTH tables load")
    })
}

/// Applies `edit` to the project record; the domain tests must fail exactly `id`,
/// and the full checker (with the schema) must fail `id` and, when `schema_too`,
/// `validation` as well.
fn assert_fails(what: &str, edit: impl Fn(&mut Value), id: &str, schema_too: bool) -> Vec<String> {
    let mut v = project_record();
    edit(&mut v);
    let r = domain().check_value(&v);
    assert_eq!(r.failed_ids(), vec![id], "{what}: {}", r.to_human());
    for t in r.failures() {
        for e in &t.errors {
            assert!(e.fix.is_some(), "{what}: finding without fix: {e}");
        }
    }
    let full = checker().check_value(&v);
    let mut expected = vec![id];
    if schema_too {
        expected.insert(0, test_id::VALIDATION);
    }
    assert_eq!(
        full.failed_ids(),
        expected,
        "{what} (with schema): {}",
        full.to_human()
    );
    r.failures()
        .flat_map(|t| t.errors.iter().map(|e| e.to_string()))
        .collect()
}

/// Sets the member at `pointer`, adding it to its parent object when missing.
fn set(v: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = new;
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key.to_string(), new);
        }
        _ => panic!("no object at {parent}"),
    }
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let p = v
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match p {
        Value::Object(m) => {
            m.remove(key);
        }
        Value::Array(a) => {
            a.remove(key.parse::<usize>().expect("index"));
        }
        _ => panic!("{parent} is not a container"),
    }
}

/// A smallest violating variant of the project record: what it is, the edit that
/// makes it, the test that must fail, and whether the schema fails it too.
type Case = (&'static str, fn(&mut Value), &'static str, bool);

const ARGO_CHANNEL: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

/// Each rule's smallest violating variants, in the order of the suite's tests.
const CASES: &[Case] = &[
    (
        "id: x-wmo prefix",
        |v| set(v, "/id", json!("urn:x-wmo:md:fr-ifremer-argo:argo")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: no local id",
        |v| set(v, "/id", json!("urn:wmo:md:fr-ifremer-argo")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: space",
        |v| set(v, "/id", json!("urn:wmo:md:fr-ifremer-argo:argo profiles")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: accent",
        |v| set(v, "/id", json!("urn:wmo:md:fr-ifremer-argo:flotteurs-é")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: upper case centre",
        |v| set(v, "/id", json!("urn:wmo:md:FR-IFREMER-ARGO:argo")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: unregistered centre",
        |v| set(v, "/id", json!("urn:wmo:md:fr-nowhere:argo")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: centre differs from channel",
        |v| set(v, "/id", json!("urn:wmo:md:fr-meteofrance:argo")),
        // WCMP2 2.3.0 makes it a step of the links test.
        test_id::LINKS,
        false,
    ),
    (
        "id: semicolon in the local id",
        |v| set(v, "/id", json!("urn:wmo:md:fr-ifremer-argo:argo;core")),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "id: not a string",
        |v| set(v, "/id", json!(42)),
        test_id::IDENTIFIER,
        false,
    ),
    (
        "conformsTo: WCMP 2.0 draft class",
        |v| {
            set(
                v,
                "/conformsTo",
                json!(["http://wis.wmo.int/spec/wcmp/2.0"]),
            )
        },
        test_id::CONFORMANCE,
        true,
    ),
    (
        "type: collection",
        |v| set(v, "/properties/type", json!("collection")),
        test_id::TYPE,
        false,
    ),
    (
        "geometry: lon 190",
        |v| set(v, "/geometry/coordinates/0/1/0", json!(190)),
        test_id::EXTENT_GEOSPATIAL,
        false,
    ),
    (
        "geometry: lat 95",
        |v| set(v, "/geometry/coordinates/0/2/1", json!(95)),
        test_id::EXTENT_GEOSPATIAL,
        false,
    ),
    (
        "geometry: ring not closed",
        |v| set(v, "/geometry/coordinates/0/4", json!([-170, -90])),
        test_id::EXTENT_GEOSPATIAL,
        false,
    ),
    (
        "geometry: ring of 3",
        |v| {
            set(
                v,
                "/geometry/coordinates/0",
                json!([[-180, -90], [180, -90], [-180, -90]]),
            )
        },
        test_id::EXTENT_GEOSPATIAL,
        true,
    ),
    (
        "geometry: degenerate ring",
        |v| {
            set(
                v,
                "/geometry/coordinates/0",
                json!([[1, 1], [2, 2], [1, 1], [1, 1]]),
            )
        },
        test_id::EXTENT_GEOSPATIAL,
        false,
    ),
    (
        "bbox: south > north",
        |v| set(v, "/bbox", json!([-10, 50, 10, 40])),
        test_id::EXTENT_GEOSPATIAL,
        false,
    ),
    (
        "time: P1H",
        |v| set(v, "/time/resolution", json!("P1H")),
        test_id::EXTENT_TEMPORAL,
        true,
    ),
    (
        "time: 1H",
        |v| set(v, "/time/resolution", json!("1H")),
        test_id::EXTENT_TEMPORAL,
        true,
    ),
    (
        "time: reversed interval",
        |v| set(v, "/time/interval", json!(["2020-01-01", "1997-01-01"])),
        test_id::EXTENT_TEMPORAL,
        false,
    ),
    (
        "time: no such day",
        |v| set(v, "/time/interval/0", json!("2023-02-30")),
        test_id::EXTENT_TEMPORAL,
        false,
    ),
    (
        "time: not UTC",
        |v| set(v, "/time/interval/0", json!("1997-01-01T00:00:00+01:00")),
        test_id::EXTENT_TEMPORAL,
        true,
    ),
    (
        "time: one item",
        |v| set(v, "/time/interval", json!(["1997-01-01"])),
        test_id::EXTENT_TEMPORAL,
        true,
    ),
    (
        "time: none",
        |v| remove(v, "/time"),
        test_id::EXTENT_TEMPORAL,
        true,
    ),
    (
        "title: empty",
        |v| set(v, "/properties/title", json!(" ")),
        test_id::TITLE,
        false,
    ),
    (
        "title: none",
        |v| remove(v, "/properties/title"),
        test_id::TITLE,
        true,
    ),
    (
        "description: empty",
        |v| set(v, "/properties/description", json!("")),
        test_id::DESCRIPTION,
        false,
    ),
    (
        "description: none",
        |v| remove(v, "/properties/description"),
        test_id::DESCRIPTION,
        true,
    ),
    (
        "themes: no discipline theme",
        |v| {
            set(
                v,
                "/properties/themes",
                json!([{"scheme": "https://example.org/kw", "concepts": [{"id": "argo"}]}]),
            )
        },
        test_id::THEMES,
        false,
    ),
    (
        "themes: oceans is no discipline",
        |v| set(v, "/properties/themes/0/concepts/0/id", json!("oceans")),
        test_id::THEMES,
        false,
    ),
    (
        "themes: unknown WTH path",
        |v| {
            set(
                v,
                "/properties/themes/1/scheme",
                json!(
                    "https://codes.wmo.int/wis/topic-hierarchy/earth-system-discipline/ocean/floats"
                ),
            )
        },
        test_id::THEMES,
        false,
    ),
    (
        "themes: concept not under the path",
        |v| set(v, "/properties/themes/1/concepts/0/id", json!("gliders")),
        test_id::THEMES,
        false,
    ),
    (
        "themes: none",
        |v| remove(v, "/properties/themes"),
        test_id::THEMES,
        false,
    ),
    (
        "themes: no concepts",
        |v| set(v, "/properties/themes/0/concepts", json!([])),
        test_id::THEMES,
        true,
    ),
    (
        "contacts: unknown role",
        |v| {
            set(
                v,
                "/properties/contacts/0/roles",
                json!(["publisher", "host"]),
            )
        },
        test_id::CONTACTS,
        false,
    ),
    (
        "contacts: no host",
        |v| set(v, "/properties/contacts/0/roles", json!(["producer"])),
        test_id::CONTACTS,
        false,
    ),
    (
        "contacts: no roles",
        |v| remove(v, "/properties/contacts/0/roles"),
        test_id::CONTACTS,
        false,
    ),
    (
        "contacts: no organization",
        |v| remove(v, "/properties/contacts/0/organization"),
        test_id::CONTACTS,
        true,
    ),
    (
        "contacts: none",
        |v| set(v, "/properties/contacts", json!([])),
        test_id::CONTACTS,
        true,
    ),
    (
        "created: date only",
        |v| set(v, "/properties/created", json!("2026-11-28")),
        test_id::RECORD_CREATION_DATE,
        true,
    ),
    (
        "created: space separator",
        |v| set(v, "/properties/created", json!("2026-11-28 12:00:00Z")),
        test_id::RECORD_CREATION_DATE,
        true,
    ),
    (
        "created: none",
        |v| remove(v, "/properties/created"),
        test_id::RECORD_CREATION_DATE,
        true,
    ),
    (
        "updated before created",
        |v| set(v, "/properties/updated", json!("2020-01-01T00:00:00Z")),
        test_id::RECORD_CREATION_DATE,
        false,
    ),
    (
        "data policy: recommended on a core channel",
        |v| set(v, "/properties/wmo:dataPolicy", json!("recommended")),
        test_id::DATA_POLICY,
        false,
    ),
    (
        "data policy: none on a dataset",
        |v| remove(v, "/properties/wmo:dataPolicy"),
        test_id::DATA_POLICY,
        false,
    ),
    (
        "data policy: open is no policy",
        |v| set(v, "/properties/wmo:dataPolicy", json!("open")),
        test_id::DATA_POLICY,
        true,
    ),
    (
        "data policy: recommended without licence",
        |v| {
            set(v, "/properties/wmo:dataPolicy", json!("recommended"));
            set(
                v,
                "/links/0/channel",
                json!(ARGO_CHANNEL.replace("/data/core/", "/data/recommended/")),
            );
            remove(v, "/links/2");
        },
        test_id::DATA_POLICY,
        false,
    ),
    (
        "links: unknown rel",
        |v| set(v, "/links/1/rel", json!("download")),
        test_id::LINKS,
        false,
    ),
    (
        "links: no rel",
        |v| remove(v, "/links/1/rel"),
        test_id::LINKS,
        false,
    ),
    (
        "links: MQTT link without channel",
        |v| remove(v, "/links/0/channel"),
        test_id::LINKS,
        false,
    ),
    (
        "links: old core/data order",
        |v| {
            set(
                v,
                "/links/0/channel",
                json!(ARGO_CHANNEL.replace("/data/core/", "/core/data/")),
            )
        },
        test_id::LINKS,
        false,
    ),
    (
        "links: channel not in the WTH",
        |v| {
            set(
                v,
                "/links/0/channel",
                json!(ARGO_CHANNEL.replace("drifting-ocean-profilers", "floats")),
            )
        },
        test_id::LINKS,
        false,
    ),
    (
        "links: wildcard channel",
        |v| {
            set(
                v,
                "/links/0/channel",
                json!("origin/a/wis2/fr-ifremer-argo/data/core/ocean/#"),
            )
        },
        test_id::LINKS,
        false,
    ),
    (
        "links: filters not JSON Schema",
        |v| {
            set(
                v,
                "/links/0/filters",
                json!({"platform_code": {"type": "strin"}}),
            )
        },
        test_id::LINKS,
        false,
    ),
    (
        "links: security without description",
        |v| {
            set(
                v,
                "/links/1/security",
                json!({"basic": {"type": "http", "scheme": "basic"}}),
            )
        },
        test_id::LINKS,
        false,
    ),
    (
        "links: none",
        |v| set(v, "/links", json!([])),
        test_id::LINKS,
        true,
    ),
];

#[test]
fn each_rule_fails_exactly_its_test() {
    let errors: BTreeMap<&str, Vec<String>> = CASES
        .iter()
        .map(|(what, edit, id, schema_too)| (*what, assert_fails(what, edit, id, *schema_too)))
        .collect();
    // A text the first finding of a case has, or any of its findings.
    let first_says = |what: &str, text: &str| {
        let e = &errors[what];
        assert!(e[0].contains(text), "{what}: {e:?}");
    };
    let any_says = |what: &str, text: &str| {
        let e = &errors[what];
        assert!(e.iter().any(|e| e.contains(text)), "{what}: {e:?}");
    };
    first_says("id: x-wmo prefix", "urn:wmo:md:fr-ifremer-argo:argo");
    any_says("id: unregistered centre", "not registered");
    first_says(
        "id: centre differs from channel",
        "differs from centre-id \"fr-meteofrance\" of the record id",
    );
    first_says("type: collection", "dataset, service, process");
    any_says("geometry: lon 190", "longitude 190 is outside -180..180");
    first_says("geometry: ring not closed", "not closed");
    first_says(
        "time: P1H",
        "P1H is not a valid duration for one hour: write PT1H",
    );
    first_says("time: reversed interval", "after it ends");
    first_says("themes: no discipline theme", "earth-system-discipline");
    first_says(
        "contacts: unknown role",
        "licensor, producer, processor, host",
    );
    first_says("contacts: no host", "role host");
    first_says(
        "data policy: recommended on a core channel",
        "level 6 \"core\"",
    );
    first_says(
        "links: unknown rel",
        "neither an IANA link relation nor a WCMP2 link type",
    );
    first_says("links: old core/data order", "swapped");
    first_says(
        "links: filters not JSON Schema",
        "/links/0/filters/platform_code: filter \"platform_code\" is not a valid JSON Schema",
    );
}

/// What the rules allow: a test centre, a null geometry or time, open interval ends,
/// PT1H.
#[test]
fn what_the_rules_allow() {
    // Client-side filters on the MQTT link, as WCMP2 2.3.0's example writes them.
    let mut v = project_record();
    set(
        &mut v,
        "/links/0/filters",
        json!({
            "platform_code": {"type": "string", "title": "WMO platform code"},
            "model_run": {"type": "string", "format": "date-time", "example": "2025-05-27T00:00:00Z"}
        }),
    );
    assert!(checker().check_value(&v).is_valid());
    // A test centre (-test) is not looked up in the registry, like pywcmp, but the
    // channel must still agree.
    let mut v = project_record();
    set(&mut v, "/id", json!("urn:wmo:md:fr-ifremer-argo-test:argo"));
    remove(&mut v, "/links/0");
    assert!(domain().check_value(&v).is_valid());
    // ... nor in its MQTT link's channel, and the report says the check was skipped.
    let mut v = project_record();
    set(&mut v, "/id", json!("urn:wmo:md:fr-ifremer-argo-test:argo"));
    let mqtt = (0..4)
        .find(|i| {
            v.pointer(&format!("/links/{i}/channel"))
                .is_some_and(Value::is_string)
        })
        .expect("the record's MQTT link");
    let channel = v
        .pointer(&format!("/links/{mqtt}/channel"))
        .and_then(Value::as_str)
        .expect("channel")
        .replace("/fr-ifremer-argo/", "/fr-ifremer-argo-test/");
    set(&mut v, &format!("/links/{mqtt}/channel"), json!(channel));
    let r = checker().check_value(&v);
    assert!(r.is_valid(), "{}", r.to_human());
    assert!(
        r.ets_report
            .warnings
            .iter()
            .any(|w| w.message.contains("registry check was skipped")),
        "{}",
        r.to_human()
    );

    let mut v = project_record();
    set(&mut v, "/geometry", Value::Null);
    assert!(
        checker().check_value(&v).is_valid(),
        "null geometry is allowed"
    );

    let mut v = project_record();
    set(&mut v, "/time/resolution", json!("PT1H"));
    assert!(checker().check_value(&v).is_valid(), "PT1H is valid");

    // Open ends: `..` and null (null is left to the schema, which allows `..` only).
    let mut v = project_record();
    set(&mut v, "/time/interval", json!([null, "2020"]));
    assert!(domain().check_value(&v).is_valid());
    set(&mut v, "/time", Value::Null);
    assert!(checker().check_value(&v).is_valid(), "time null is allowed");
}

fn example(name: &str) -> Value {
    read_json(&shared(&format!("standards/wcmp2/examples/{name}")))
}

#[test]
fn global_service_theme_rules() {
    let id = test_id::THEMES_WIS2_GLOBAL_SERVICE;
    let check = |v: &Value| {
        domain()
            .check_value(v)
            .failed_ids()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let mut v = example("de-dwd.global-cache.json");
    assert!(check(&v).is_empty());
    let themes = v
        .pointer_mut("/properties/themes/0/concepts")
        .and_then(Value::as_array_mut)
        .expect("themes");
    themes.retain(|c| c["id"] != "space-weather");
    assert_eq!(check(&v), vec![id]);

    let mut v = example("fr-meteofrance-global-broker.json");
    set(
        &mut v,
        "/properties/themes/1/concepts/0/id",
        json!("global-relay"),
    );
    assert_eq!(check(&v), vec![id]);

    let mut v = example("fr-meteofrance-global-broker.json");
    set(&mut v, "/properties/type", json!("dataset"));
    set(&mut v, "/properties/wmo:dataPolicy", json!("core"));
    assert_eq!(check(&v), vec![id]);

    let mut v = example("fr-meteofrance-global-broker.json");
    remove(&mut v, "/properties/themes/1");
    assert_eq!(
        check(&v),
        vec![id],
        "a Global Broker centre must declare its service type"
    );

    // A Global Cache of a centre whose id names no service (de-dwd): its local id and
    // its title say what it is, and it must declare it too.
    let mut v = example("de-dwd.global-cache.json");
    remove(&mut v, "/properties/themes/1");
    let r = domain().check_value(&v);
    assert_eq!(r.failed_ids(), vec![id], "{}", r.to_human());
    assert!(
        r.to_human().contains("global-cache-service"),
        "{}",
        r.to_human()
    );
    set(&mut v, "/id", json!("urn:wmo:md:de-dwd:gc"));
    let r = domain().check_value(&v);
    assert_eq!(
        r.failed_ids(),
        vec![id],
        "the title says it: {}",
        r.to_human()
    );
    assert!(r.to_human().contains("its title"), "{}", r.to_human());
    // A service record that is no Global Service needs no such theme.
    set(
        &mut v,
        "/properties/title",
        json!("Argo profiles download service"),
    );
    assert!(check(&v).is_empty());
}

/// No MQTT link: a warning by default (archive records have none), a failure for a
/// publisher's own real-time records.
#[test]
fn a_record_without_an_mqtt_link() {
    let mut v = project_record();
    remove(&mut v, "/links/0");
    let r = domain().check_value(&v);
    assert!(r.is_valid(), "{}", r.to_human());
    assert!(
        r.ets_report
            .warnings
            .iter()
            .any(|w| w.message.contains("no MQTT link"))
    );
    let strict = Wcmp2Checker::new(&Wcmp2Options {
        schema: None,
        ..options()
    })
    .expect("load")
    .require_mqtt_link(true);
    assert_eq!(strict.check_value(&v).failed_ids(), vec![test_id::LINKS]);
}

#[test]
fn validation_rules() {
    let id = test_id::VALIDATION;
    // Formats are asserted, not annotations.
    let mut v = project_record();
    set(
        &mut v,
        "/properties/contacts/0/emails/0/value",
        json!("sismer at ifremer"),
    );
    let r = checker().check_value(&v);
    assert_eq!(r.failed_ids(), vec![id], "{}", r.to_human());
    assert!(
        r.to_human()
            .contains("/properties/contacts/0/emails/0/value"),
        "{}",
        r.to_human()
    );
    // additionalProperties: false on contacts.
    let mut v = project_record();
    set(&mut v, "/properties/contacts/0/fax", json!("+33298224041"));
    assert_eq!(checker().check_value(&v).failed_ids(), vec![id]);
}

#[test]
fn builtin_mode_skips_validation_with_reason() {
    let r = Wcmp2Checker::builtin().check_value(&project_record());
    assert!(r.is_valid(), "{}", r.to_human());
    let skipped: Vec<_> = r
        .ets_report
        .tests
        .iter()
        .filter(|t| t.code == Code::Skipped)
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].id, test_id::VALIDATION);
    assert!(
        skipped[0]
            .message
            .as_deref()
            .unwrap_or("")
            .contains("metadata sync")
    );
    // Built-in rules still catch the domain errors.
    let mut v = project_record();
    set(&mut v, "/time/resolution", json!("P1H"));
    assert_eq!(
        Wcmp2Checker::builtin().check_value(&v).failed_ids(),
        vec![test_id::EXTENT_TEMPORAL]
    );
    // What is not JSON fails validation, without a schema too.
    let r = Wcmp2Checker::builtin().check_record(b"{");
    assert_eq!(r.failed_ids(), vec![test_id::VALIDATION]);
}

#[test]
fn check_record_bytes_and_report_json() {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/metadata/fr-ifremer-argo-core-metadata.json"
    ))
    .expect("record");
    let r = checker().check_record(&raw);
    assert!(r.is_valid());
    let j: Value = serde_json::from_str(&r.to_json()).expect("report JSON");
    assert_eq!(j["ets-report"]["summary"]["PASSED"], 14);
    assert_eq!(
        j["ets-report"]["subject"],
        "urn:wmo:md:fr-ifremer-argo:cor:msg:argo"
    );
    let bad = checker().check_record(b"not json");
    assert_eq!(bad.failed_ids(), vec![test_id::VALIDATION]);
    assert_eq!(bad.ets_report.summary.skipped, 13);
}

#[test]
fn codelists_from_csv_replace_builtin() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in [
        "resource-type.csv",
        "link-type.csv",
        "global-service-type.csv",
    ] {
        std::fs::copy(
            shared(&format!("standards/wcmp2/codelists/{f}")),
            dir.path().join(f),
        )
        .expect("copy");
    }
    std::fs::write(
        dir.path().join("contact-role.csv"),
        "Name,Description\nproducer,Producer\n",
    )
    .expect("write");
    let c = Wcmp2Checker::new(&Wcmp2Options {
        codelists_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .expect("load");
    assert_eq!(c.codelists().contact_roles, vec!["producer".to_string()]);
    assert_eq!(
        c.check_value(&project_record()).failed_ids(),
        vec![test_id::CONTACTS]
    );
}

#[test]
fn load_errors_name_the_file_and_fix() {
    let e = Wcmp2Checker::new(&Wcmp2Options {
        schema: Some(PathBuf::from("/nonexistent/wcmp2-bundled.json")),
        ..Default::default()
    })
    .expect_err("missing schema");
    let msg = e.to_string();
    assert!(
        msg.contains("/nonexistent/wcmp2-bundled.json") && msg.contains("metadata sync"),
        "{msg}"
    );
    let e = Wcmp2Checker::new(&Wcmp2Options {
        codelists_dir: Some(PathBuf::from("/nonexistent")),
        ..Default::default()
    })
    .expect_err("missing code lists");
    assert!(e.to_string().contains("contact-role.csv"), "{e}");
}

#[test]
fn mqtt_channels_and_record_time() {
    let v = json!({
        "properties": {"created": "2024-01-01T00:00:00Z"},
        "links": [
            {"rel": "items", "href": "mqtts://b.example.org", "channel": "origin/a/wis2/x/data/core/weather"},
            {"rel": "items", "href": "wss://b.example.org:443", "channel": "cache/a/wis2/x/data/core/ocean"},
            {"rel": "hub", "href": "wss://b.example.org:443"},
            {"rel": "data", "href": "https://example.org", "channel": "not-mqtt"}
        ]
    });
    assert_eq!(
        mqtt_channels(&v),
        vec![
            "origin/a/wis2/x/data/core/weather".to_string(),
            "cache/a/wis2/x/data/core/ocean".to_string()
        ]
    );
    assert_eq!(
        record_time(&v).map(|t| t.to_rfc3339()),
        Some("2024-01-01T00:00:00+00:00".to_string())
    );
    assert_eq!(
        record_time(&json!({"properties": {"created": "yesterday"}})),
        None
    );
}

/// Every member of the record replaced, one at a time, by odd values: the checker
/// reports, it never panics.
#[test]
fn odd_values_never_panic() {
    fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, c)| {
                pointers(
                    c,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, c)| pointers(c, format!("{here}/{i}"), out)),
            _ => {}
        }
        out.push(here);
    }
    let base = project_record();
    let mut ps = Vec::new();
    pointers(&base, String::new(), &mut ps);
    let odd = [
        Value::Null,
        json!(-1e308),
        json!("12€-01"),
        json!("€€€€€€€€€€€€"),
        json!(""),
        json!([]),
        json!({}),
        json!([[1]]),
    ];
    for p in ps.iter().filter(|p| !p.is_empty()) {
        for o in &odd {
            let mut v = base.clone();
            if let Some(slot) = v.pointer_mut(p) {
                *slot = o.clone();
            }
            let _ = checker().check_value(&v);
            let _ = Wcmp2Checker::builtin().check_value(&v);
        }
    }
    for o in &odd {
        let _ = checker().check_value(o);
    }
}
