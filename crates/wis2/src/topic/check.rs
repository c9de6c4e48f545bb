//! The topic check: every problem of a topic, each with its fix.

use crate::report::{Finding, Report, TestResult};

use super::levels::{
    CHANNELS, DATA_POLICIES, DISCIPLINES, EXPERIMENTAL, NOTIFICATION_TYPES, SYSTEM, VERSION,
    is_level_name, metadata_topic,
};
use super::tables::TopicTables;

/// Test id of the topic check in reports.
pub const TOPIC_TEST_ID: &str = "http://wis.wmo.int/spec/wth/1/conf/core/topic";

/// Whether a topic is used to publish (concrete) or to subscribe (wildcards allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Publish,
    Subscribe,
}

/// Level index, name, table accessor, built-in values.
type FixedLevel = (
    usize,
    &'static str,
    fn(&TopicTables) -> &[String],
    &'static [&'static str],
);

/// Checks a topic; an empty list means it is valid.
pub fn check(topic: &str, tables: Option<&TopicTables>, mode: Mode) -> Vec<Finding> {
    Checker {
        topic,
        tables,
        mode,
        out: Vec::new(),
    }
    .run()
}

/// Whether `centre` is a test centre-id (it ends with `-test`).
pub fn is_test_centre(centre: &str) -> bool {
    centre.ends_with("-test")
}

/// What a report says besides the topic's errors: that the registry check of a test
/// centre-id was skipped, that a level is experimental in the WTH.
pub fn notes(topic: &str, tables: Option<&TopicTables>) -> Vec<Finding> {
    let levels: Vec<&str> = topic.split('/').collect();
    let mut out = tables.map_or_else(Vec::new, |t| experimental_notes(&levels, t));
    out.extend(test_centre_note(&levels, tables));
    out
}

fn test_centre_note(levels: &[&str], tables: Option<&TopicTables>) -> Vec<Finding> {
    match (tables, levels.get(3)) {
        (Some(_), Some(c)) if levels.len() > 3 && is_test_centre(c) => vec![
            Finding::new(
                level_path(4),
                format!(
                    "centre-id `{c}` is a test centre: the WTH centre-id registry check was skipped"
                ),
            )
            .with_fix("publish under your registered centre-id once out of the test environment"),
        ],
        _ => Vec::new(),
    }
}

/// Checks a topic and returns a one-test report ([`TOPIC_TEST_ID`]).
pub fn check_report(topic: &str, tables: Option<&TopicTables>, mode: Mode) -> Report {
    Report::new(
        Some(topic.to_string()),
        vec![check_result(topic, tables, mode)],
        notes(topic, tables),
    )
}

/// The topic test alone, to add to a message report.
pub fn check_result(topic: &str, tables: Option<&TopicTables>, mode: Mode) -> TestResult {
    TestResult::from_errors(TOPIC_TEST_ID, check(topic, tables, mode))
}

fn level_path(n: usize) -> String {
    format!("level {n}")
}

fn is_wildcard(l: &str) -> bool {
    l == "+" || l == "#"
}

/// A fix listing allowed values, truncated.
fn allowed_list(values: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut s = values
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if values.len() > SHOWN {
        s.push_str(&format!(", ... ({} more)", values.len() - SHOWN));
    }
    s
}

struct Checker<'a> {
    topic: &'a str,
    tables: Option<&'a TopicTables>,
    mode: Mode,
    out: Vec<Finding>,
}

impl<'a> Checker<'a> {
    fn push(&mut self, level: usize, msg: String, fix: String) {
        self.out
            .push(Finding::new(level_path(level), msg).with_fix(fix));
    }

    fn table_or<'t>(
        &self,
        f: impl Fn(&'t TopicTables) -> &'t [String],
        builtin: &[&str],
    ) -> Vec<String>
    where
        'a: 't,
    {
        match self.tables {
            Some(t) => f(t).to_vec(),
            None => builtin.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn in_table(
        &self,
        value: &str,
        f: impl Fn(&TopicTables) -> &[String],
        builtin: &[&str],
    ) -> bool {
        match self.tables {
            Some(t) => f(t).iter().any(|v| v == value),
            None => builtin.contains(&value),
        }
    }

    /// Syntax of one level; returns false when it is not a usable name.
    fn syntax(&mut self, n: usize, l: &str, last: bool) -> bool {
        if l.is_empty() {
            let fixed: Vec<&str> = self.topic.split('/').filter(|l| !l.is_empty()).collect();
            self.push(
                n,
                "empty level (a leading, trailing or doubled `/`)".into(),
                format!("remove the extra `/`: {}", fixed.join("/")),
            );
            return false;
        }
        if l.contains(['+', '#']) {
            match self.mode {
                Mode::Publish => self.push(
                    n,
                    format!("wildcard `{l}` in a topic to publish on"),
                    "publish on a concrete topic; the wildcards `+` and `#` are for subscriptions only"
                        .into(),
                ),
                Mode::Subscribe => {
                    if l == "#" && !last {
                        self.push(
                            n,
                            "`#` must be the last level".into(),
                            "put `#` last (it matches every deeper level), or use `+` for one level"
                                .into(),
                        );
                    } else if !is_wildcard(l) {
                        self.push(
                            n,
                            format!("wildcard inside the level `{l}`"),
                            "a wildcard must be a whole level: `+` for one level, `#` for the rest"
                                .into(),
                        );
                    }
                }
            }
            return false;
        }
        if is_level_name(l) {
            return true;
        }
        let fixed: String = l
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let why = if l.contains('.') {
            "contains a dot"
        } else if l.bytes().any(|b| b.is_ascii_uppercase()) {
            "is not lowercase"
        } else if l.contains(['_', ' ']) {
            "joins words with something other than `-`"
        } else {
            "is not lowercase words joined by `-`"
        };
        self.push(
            n,
            format!("level `{l}` {why}"),
            format!("levels are lowercase letters and digits, words joined by `-`, no dots: use `{fixed}`"),
        );
        false
    }

    fn run(mut self) -> Vec<Finding> {
        let topic = self.topic;
        if topic.is_empty() {
            self.out.push(Finding::new("", "empty topic").with_fix(
                "a data topic is origin/a/wis2/<centre-id>/data/<core|recommended>/<discipline>/<sub-levels...>",
            ));
            return self.out;
        }
        let levels: Vec<&str> = topic.split('/').collect();
        let count = levels.len();
        let mut ok = Vec::with_capacity(count);
        for (i, l) in levels.iter().enumerate() {
            let good = self.syntax(i + 1, l, i + 1 == count);
            ok.push(good);
        }
        let ends_with_hash = self.mode == Mode::Subscribe && levels.last() == Some(&"#");
        // Levels that are concrete names and may be checked against the tables.
        let usable = |i: usize| ok.get(i).copied().unwrap_or(false);

        // Level 1 to 3: fixed vocabularies.
        let fixed_levels: [FixedLevel; 3] = [
            (0, "channel", |t| &t.channels, &CHANNELS),
            (1, "version", |t| &t.versions, &[VERSION]),
            (2, "system", |t| &t.systems, &[SYSTEM]),
        ];
        for (i, what, f, builtin) in fixed_levels {
            if usable(i) && !self.in_table(levels[i], f, builtin) {
                let allowed = self.table_or(f, builtin);
                let hint = if i == 0 {
                    " (origin for data providers, cache for Global Caches)"
                } else {
                    ""
                };
                self.push(
                    i + 1,
                    format!("`{}` is not a WTH {what}", levels[i]),
                    format!(
                        "level {} is the {what}: {}{hint}; a data topic starts origin/a/wis2/<centre-id>/",
                        i + 1,
                        allowed.join(" or ")
                    ),
                );
            }
        }

        // Level 4: centre-id.
        if usable(3) {
            self.centre(levels[3]);
        }

        if count < 5 {
            if !(ends_with_hash || self.mode == Mode::Subscribe && levels.contains(&"+")) {
                self.push(
                    count,
                    format!("topic has {count} levels, too few"),
                    "a data topic is origin/a/wis2/<centre-id>/data/<core|recommended>/<discipline>/<sub-levels...>, a metadata topic origin/a/wis2/<centre-id>/metadata".into(),
                );
            }
            return self.out;
        }

        // Levels 5 and 6, with the frequent swap of the older draft order.
        let l5 = levels[4];
        let l6 = levels.get(5).copied();
        let is_type = |s: &str| self.in_table(s, |t| &t.notification_types, &NOTIFICATION_TYPES);
        let is_policy = |s: &str| self.in_table(s, |t| &t.data_policies, &DATA_POLICIES);
        if usable(4) && is_policy(l5) {
            if let Some(l6) = l6.filter(|s| is_type(s)) {
                let mut fixed = levels.clone();
                fixed.swap(4, 5);
                let fixed = if l6 == "metadata" {
                    metadata_topic(levels[3])
                } else {
                    fixed.join("/")
                };
                self.push(
                    5,
                    format!("levels 5 and 6 are swapped (`{l5}/{l6}`, the older draft order)"),
                    format!(
                        "level 5 is the notification type (data or metadata) and level 6 the data policy (core or recommended); use {fixed}"
                    ),
                );
                return self.out;
            }
            self.push(
                5,
                format!("`{l5}` is a data policy, not a notification type"),
                "level 5 is the notification type (data or metadata) and level 6 the data policy (core or recommended)".into(),
            );
            return self.out;
        }
        if usable(4) && !is_type(l5) {
            self.push(
                5,
                format!("`{l5}` is not a WTH notification type"),
                "level 5 is the notification type: data or metadata".into(),
            );
            return self.out;
        }
        if l5 == "metadata" {
            self.metadata(&levels);
            return self.out;
        }
        // Level 6: data policy.
        match l6 {
            None => {
                if !ends_with_hash {
                    self.too_short(&levels);
                }
                return self.out;
            }
            Some(p) => {
                if usable(5) && !is_policy(p) {
                    let fix = if is_type(p) {
                        format!(
                            "level 6 is the data policy (core or recommended), not a second notification type `{p}`"
                        )
                    } else {
                        "level 6 is the data policy: core or recommended".into()
                    };
                    self.push(6, format!("`{p}` is not a WTH data policy"), fix);
                }
            }
        }

        // Level 7: discipline; levels 8+: sub-levels.
        let Some(&disc) = levels.get(6) else {
            if !ends_with_hash {
                self.too_short(&levels);
            }
            return self.out;
        };
        if !usable(6) {
            if disc == "+" {
                self.sub_levels_depth(&levels, ends_with_hash);
            }
            return self.out;
        }
        let known_disc = match self.tables {
            Some(t) => t.disciplines.iter().any(|d| d == disc),
            None => DISCIPLINES.contains(&disc),
        };
        if !known_disc {
            let allowed = match self.tables {
                Some(t) => t.disciplines.clone(),
                None => DISCIPLINES.iter().map(|s| s.to_string()).collect(),
            };
            self.push(
                7,
                format!("`{disc}` is not a WTH earth-system discipline"),
                format!(
                    "level 7 is the earth-system discipline: {}",
                    allowed.join(", ")
                ),
            );
            return self.out;
        }
        self.sub_levels(&levels, &ok, ends_with_hash);
        self.out
    }

    fn centre(&mut self, c: &str) {
        let Some(t) = self.tables else {
            return;
        };
        // A test centre (the WIS2 test environments', a centre's first records) is in
        // no registry: its check is skipped, as pywcmp does ([`notes`] says so).
        if is_test_centre(c) {
            return;
        }
        match t.centre_status(c) {
            Some(s) if s.eq_ignore_ascii_case("retired") => self.push(
                4,
                format!("centre-id `{c}` is retired in the WTH registry"),
                "use the centre-id currently registered for your centre (Global Brokers discard messages from unregistered centre-ids)".into(),
            ),
            Some(_) => {}
            None => {
                let prefix = c.split('-').next().unwrap_or(c);
                let similar: Vec<String> = t
                    .centre_ids()
                    .filter(|id| id.split('-').next() == Some(prefix))
                    .map(str::to_string)
                    .collect();
                let hint = if similar.is_empty() {
                    String::new()
                } else {
                    format!("; registered ids starting `{prefix}-`: {}", allowed_list(&similar))
                };
                self.push(
                    4,
                    format!("centre-id `{c}` is not in the WTH centre-id registry"),
                    format!(
                        "use your registered centre-id, or register it with WMO (Global Brokers discard messages from unregistered centre-ids){hint}"
                    ),
                );
            }
        }
    }

    fn metadata(&mut self, levels: &[&str]) {
        let count = levels.len();
        if count == 5 {
            return;
        }
        if self.mode == Mode::Subscribe && count == 6 && levels[5] == "#" {
            return;
        }
        let centre = levels[3];
        self.push(
            6,
            format!("metadata topic has {count} levels"),
            format!(
                "metadata is published on exactly origin/a/wis2/<centre-id>/metadata: use {}",
                metadata_topic(centre)
            ),
        );
    }

    fn too_short(&mut self, levels: &[&str]) {
        // A publish topic with wildcards was already refused; its depth says nothing.
        if self.mode == Mode::Publish && self.topic.contains(['+', '#']) {
            return;
        }
        let count = levels.len();
        let hint = match (self.tables, levels.get(6)) {
            (Some(t), Some(d)) if t.disciplines.iter().any(|x| x == d) => {
                format!("; sub-levels of {d}: {}", allowed_list(t.children(d)))
            }
            _ => String::new(),
        };
        let extra = if self.mode == Mode::Subscribe {
            " (or end a subscription with `/#`)"
        } else {
            ""
        };
        self.push(
            count,
            format!("data topic has {count} levels; data is published at level 8 or deeper"),
            format!(
                "add the earth-system discipline (level 7) and its sub-levels from earth-system-discipline.csv{extra}{hint}"
            ),
        );
    }

    /// After a `+` discipline: only the depth can be checked.
    fn sub_levels_depth(&mut self, levels: &[&str], ends_with_hash: bool) {
        if levels.len() < 8 && !ends_with_hash {
            self.too_short(levels);
        }
    }

    fn sub_levels(&mut self, levels: &[&str], ok: &[bool], ends_with_hash: bool) {
        if levels.len() < 8 {
            if !ends_with_hash {
                self.too_short(levels);
            }
            return;
        }
        let Some(t) = self.tables else {
            return;
        };
        let mut path = levels[6].to_string();
        if !self.in_force(6, &path, t) {
            return;
        }
        for i in 7..levels.len() {
            let l = levels[i];
            if i == 7 && l == EXPERIMENTAL {
                return;
            }
            if !ok[i] {
                // A wildcard or a malformed level: deeper names cannot be resolved.
                if l == "+" && t.children(&path).is_empty() {
                    self.push(
                        i + 1,
                        format!("`{path}` has no sub-levels"),
                        format!("remove the levels after {path}"),
                    );
                }
                return;
            }
            let parent_len = path.len();
            path.push('/');
            path.push_str(l);
            if !t.has_path(&path) {
                let parent = &path[..parent_len];
                let kids = t.children(parent);
                let fix = if kids.is_empty() {
                    format!(
                        "`{parent}` has no sub-levels: publish on {}",
                        levels[..i].join("/")
                    )
                } else {
                    format!(
                        "allowed sub-levels of {parent}: {} (or {}/experimental/... for anything else)",
                        allowed_list(kids),
                        levels[6]
                    )
                };
                self.push(
                    i + 1,
                    format!("`{l}` is not a WTH sub-level of `{parent}`"),
                    fix,
                );
                return;
            }
            if !self.in_force(i, &path, t) {
                return;
            }
        }
    }

    /// Publishing needs a topic in force: a retired or planned one (the WTH's
    /// `Status`) fails, with the reason. False when it failed.
    fn in_force(&mut self, i: usize, path: &str, t: &TopicTables) -> bool {
        if self.mode != Mode::Publish {
            return true;
        }
        let status = t.path_status(path).unwrap_or_default();
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        let experimental = if parent.is_empty() {
            String::new()
        } else {
            format!(" or {parent}/experimental/...")
        };
        if status.eq_ignore_ascii_case("retired") {
            self.push(
                i + 1,
                format!("`{path}` is retired in the WIS2 Topic Hierarchy: Global Brokers no longer relay it"),
                format!("publish on the topic that replaced it (see the WTH's earth-system-discipline tree){experimental}"),
            );
            return false;
        }
        if status.eq_ignore_ascii_case("planned") {
            self.push(
                i + 1,
                format!("`{path}` is planned in the WIS2 Topic Hierarchy, not yet open for publication"),
                format!("wait until WMO makes it Experimental or Operational, and publish meanwhile on an operational topic{experimental}"),
            );
            return false;
        }
        true
    }
}

/// The experimental topics among `path`'s levels (WTH `Status`), as warnings.
fn experimental_notes(levels: &[&str], tables: &TopicTables) -> Vec<Finding> {
    let mut out = Vec::new();
    if levels.len() < 7 || levels.get(4) != Some(&"data") {
        return out;
    }
    let mut path = String::new();
    for (i, l) in levels.iter().enumerate().skip(6) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(l);
        if tables
            .path_status(&path)
            .is_some_and(|s| s.eq_ignore_ascii_case("experimental"))
        {
            out.push(
                Finding::new(
                    level_path(i + 1),
                    format!("`{path}` is experimental in the WIS2 Topic Hierarchy: it may change or be withdrawn"),
                )
                .with_fix("follow the WTH's changes; move to the operational topic when there is one"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::levels::centre_id;

    #[test]
    fn builtin_rules() {
        let argo = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";
        assert!(check(argo, None, Mode::Publish).is_empty());
        let swapped = argo.replace("data/core", "core/data");
        let f = check(&swapped, None, Mode::Publish);
        assert_eq!(f.len(), 1);
        assert!(f[0].fix.as_deref().unwrap_or("").contains(argo));
        assert!(check("origin/a/wis2/x/metadata", None, Mode::Publish).is_empty());
        assert!(!check("origin/a/wis2/x/data/core/ocean", None, Mode::Publish).is_empty());
        assert!(check("origin/a/wis2/+/data/core/#", None, Mode::Subscribe).is_empty());
        assert!(!check("origin/a/wis2/+/data/core/#", None, Mode::Publish).is_empty());
        assert_eq!(centre_id(argo), Some("fr-ifremer-argo"));
    }
}
