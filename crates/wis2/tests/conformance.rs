//! `docs/conformance.md` against the standards: every abstract test of WCMP2 2.3.0, of
//! WNM 1.3.0 and of its INFCOM-4 draft, every WNM 1.3.0 requirement and every level of
//! the WIS2 Topic Hierarchy has a row; every row's label is the file's; every report
//! id is one the checkers report; every function and test a row names exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use wis2::validate::{Profile, Validator};
use wis2::wcmp2::Wcmp2Checker;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn standards() -> PathBuf {
    repo().join("../shared/standards")
}

/// One table row: its cells, trimmed.
type Row = Vec<String>;

/// The tables of the document, by section heading (`## ...`).
fn tables(doc: &str) -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut section = String::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
            continue;
        }
        let Some(inner) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Row = inner
            .trim_end_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        let header = cells.first().is_some_and(|c| c == "file" || c == "level");
        let rule = cells.iter().all(|c| c.chars().all(|ch| ch == '-'));
        if !header && !rule {
            out.entry(section.clone()).or_default().push(cells);
        }
    }
    out
}

/// The section whose heading starts with `prefix`.
fn section<'a>(t: &'a BTreeMap<String, Vec<Row>>, prefix: &str) -> &'a [Row] {
    t.iter()
        .find(|(h, _)| h.starts_with(prefix))
        .map(|(_, rows)| rows.as_slice())
        .unwrap_or_else(|| panic!("docs/conformance.md has no section `## {prefix}...`"))
}

/// `file name -> label` of the `.adoc` files of `dir`, the label found by `key`.
fn adoc_labels(dir: &Path, key: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        if p.extension().and_then(|x| x.to_str()) != Some("adoc") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("adoc readable");
        let label = text
            .lines()
            .find_map(&key)
            .unwrap_or_else(|| panic!("{}: no label", p.display()));
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        out.insert(name.to_string(), label);
    }
    assert!(!out.is_empty(), "no .adoc in {}", dir.display());
    out
}

fn ats_label(line: &str) -> Option<String> {
    line.strip_prefix("label::").map(|l| l.trim().to_string())
}

fn req_label(line: &str) -> Option<String> {
    let start = line.find("|*/req/")?;
    let rest = &line[start + 2..];
    Some(rest[..rest.find('*')?].to_string())
}

/// The backticked spans of a cell.
fn spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Asserts that `path` (`crate::module::[Type::]function`) names a function that
/// exists in the sources.
fn assert_function(path: &str, row: &str) {
    let mut segs = path.split("::");
    let krate = segs.next().expect("crate");
    let mut dir = repo()
        .join("crates")
        .join(krate.replace('_', "-"))
        .join("src");
    let segs: Vec<&str> = segs.collect();
    let mut file = None;
    let mut rest: &[&str] = &[];
    for (i, s) in segs.iter().enumerate() {
        if dir.join(format!("{s}.rs")).is_file() {
            file = Some(dir.join(format!("{s}.rs")));
            rest = &segs[i + 1..];
            break;
        }
        if dir.join(s).is_dir() {
            dir = dir.join(s);
            continue;
        }
        let m = ["mod.rs", "lib.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file());
        file = m;
        rest = &segs[i..];
        break;
    }
    let file = file.unwrap_or_else(|| panic!("`{path}` ({row}): no source file"));
    let text = std::fs::read_to_string(&file).expect("source readable");
    let (ty, name) = match rest {
        [name] => (None, *name),
        [ty, name] => (Some(*ty), *name),
        _ => panic!("`{path}` ({row}): expected module::[Type::]function"),
    };
    assert!(
        text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<")),
        "`{path}` ({row}): no fn {name} in {}",
        file.display()
    );
    if let Some(ty) = ty {
        assert!(
            text.contains(&format!("struct {ty}")),
            "`{path}` ({row}): no struct {ty} in {}",
            file.display()
        );
    }
}

/// Asserts that `path` (`crates/.../file.rs::test_name`) names a test that exists.
fn assert_test(path: &str, row: &str) {
    let (file, name) = path
        .rsplit_once("::")
        .unwrap_or_else(|| panic!("`{path}` ({row}): expected file.rs::test"));
    let p = repo().join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("`{path}` ({row}): {e}"));
    let at = text
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("`{path}` ({row}): no fn {name}"));
    let before = &text[..at];
    let attr = before
        .rfind("#[test]")
        .into_iter()
        .chain(before.rfind("#[tokio::test"));
    assert!(
        attr.max().is_some_and(|a| !before[a..].contains("\n}\n")),
        "`{path}` ({row}): {name} is not a #[test]"
    );
}

/// Checks the check, tests and note cells of a row (columns from `check`).
fn assert_cells(row: &Row, check: usize) {
    let what = row.join(" | ");
    let (c, tests, note) = (&row[check], &row[check + 1], &row[check + 2]);
    if c == "—" {
        assert!(note.len() > 20, "a rule without a check says why: {what}");
        return;
    }
    assert!(!spans(c).is_empty(), "a check: {what}");
    for f in spans(c).into_iter().chain(spans(note)) {
        if f.starts_with("wis2::") || f.starts_with("wis2_validate::") {
            assert_function(f, &what);
        }
    }
    let t = spans(tests);
    assert!(!t.is_empty(), "a test: {what}");
    for t in t {
        assert_test(t, &what);
    }
}

/// Checks a table keyed by file against the `.adoc` files of `dir`.
fn assert_files(
    rows: &[Row],
    labels: &BTreeMap<String, String>,
    reported: &BTreeSet<String>,
    base: &str,
    what: &str,
) {
    let mut seen = BTreeSet::new();
    for row in rows {
        assert_eq!(row.len(), 6, "{what}: six cells: {row:?}");
        let (file, label, id) = (&row[0], &row[1], &row[2]);
        let want = labels
            .get(file)
            .unwrap_or_else(|| panic!("{what}: {file} is not a file of the standard"));
        assert_eq!(label, want, "{what}: the label of {file}");
        if id != "—" {
            let full = format!("{base}{id}");
            assert!(
                reported.contains(&full),
                "{what}: {file}: {full} is not in the report ({reported:?})"
            );
        }
        assert_cells(row, 3);
        seen.insert(file.clone());
    }
    let missing: Vec<_> = labels.keys().filter(|f| !seen.contains(*f)).collect();
    assert!(missing.is_empty(), "{what}: no row for {missing:?}");
}

fn doc() -> BTreeMap<String, Vec<Row>> {
    let text =
        std::fs::read_to_string(repo().join("docs/conformance.md")).expect("docs/conformance.md");
    tables(&text)
}

fn ids(r: &wis2::report::Report) -> BTreeSet<String> {
    r.ets_report.tests.iter().map(|t| t.id.clone()).collect()
}

#[test]
fn every_wcmp2_abstract_test_has_its_row() {
    let labels = adoc_labels(
        &standards().join("wcmp2/standard/abstract_tests/core"),
        ats_label,
    );
    assert_eq!(
        labels.len(),
        14,
        "WCMP2 2.3.0 has 14 abstract tests: {labels:?}"
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("data/metadata/fr-ifremer-argo-core-metadata.json"))
            .expect("record"),
    )
    .expect("record JSON");
    let reported = ids(&Wcmp2Checker::builtin().check_value(&record));
    let t = doc();
    assert_files(
        section(&t, "WCMP2 2.3.0: abstract tests"),
        &labels,
        &reported,
        "http://wis.wmo.int/spec/wcmp/2/conf/core/",
        "WCMP2",
    );
}

fn wnm_ids(profile: Profile) -> BTreeSet<String> {
    let msg = serde_json::json!({"id": "x", "properties": {}});
    ids(&Validator::builtin()
        .with_profile(profile)
        .check_value(&msg, None))
}

#[test]
fn every_wnm_abstract_test_and_requirement_has_its_row() {
    let t = doc();
    let base = "http://wis.wmo.int/spec/wnm/1/conf/core/";
    let ats = adoc_labels(
        &standards().join("wnm/standard/abstract_tests/core"),
        ats_label,
    );
    assert_eq!(ats.len(), 10, "{ats:?}");
    assert_files(
        section(&t, "WNM 1.3.0: abstract tests"),
        &ats,
        &wnm_ids(Profile::Wnm13),
        base,
        "WNM ATS",
    );
    let req = adoc_labels(
        &standards().join("wnm/standard/requirements/core"),
        req_label,
    );
    assert_files(
        section(&t, "WNM 1.3.0: requirements"),
        &req,
        &wnm_ids(Profile::Wnm13),
        base,
        "WNM requirements",
    );
    let draft = adoc_labels(
        &standards().join("wnm-infcom4-draft/standard/abstract_tests/core"),
        ats_label,
    );
    assert_files(
        section(&t, "WNM 1.4.0 draft"),
        &draft,
        &wnm_ids(Profile::Infcom4Draft),
        base,
        "WNM 1.4.0 draft",
    );
}

#[test]
fn every_level_of_the_topic_hierarchy_has_its_row() {
    let t = doc();
    let rows = section(&t, "WIS2 Topic Hierarchy");
    let csv =
        std::fs::read_to_string(standards().join("wth-tree/topic-hierarchy.csv")).expect("levels");
    let mut levels = 0;
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cells = line.split(',');
        let (n, name) = (cells.next().expect("level"), cells.next().expect("name"));
        assert!(
            rows.iter().any(|r| r[0] == n && r[1] == name),
            "no row for level {n} ({name})"
        );
        levels += 1;
    }
    assert_eq!(levels, 7, "the WTH has 7 levels");
    for rule in ["sub-levels", "Status"] {
        assert!(rows.iter().any(|r| r[1] == rule), "no row for {rule}");
    }
    for row in rows {
        assert_eq!(row.len(), 5, "five cells: {row:?}");
        assert_cells(row, 2);
    }
}

#[test]
fn a_row_naming_what_does_not_exist_is_caught() {
    let bad_fn =
        std::panic::catch_unwind(|| assert_function("wis2::validate::ets::no_such_check", "t"));
    assert!(bad_fn.is_err());
    let bad_test = std::panic::catch_unwind(|| {
        assert_test("crates/wis2/tests/validate.rs::no_such_test", "t")
    });
    assert!(bad_test.is_err());
    assert_function("wis2::validate::ets::links", "t");
    assert_function("wis2::topic::check::Checker::in_force", "t");
    assert_test("crates/wis2/tests/validate.rs::link_hrefs", "t");
}
