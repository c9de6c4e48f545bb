//! What the checker targets share: the standards of ../shared, when they are there,
//! so that a target fuzzes the checkers as the services load them too.

use std::path::{Path, PathBuf};

/// The standards folder of ../shared when it holds `schema` (a path under it).
pub fn shared_standards(schema: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/standards");
    dir.join(schema).is_file().then_some(dir)
}

/// The built-in checker, then the one loaded from the standards when there is one.
pub fn checkers<'a, T>(builtin: &'a T, full: &'a Option<T>) -> impl Iterator<Item = &'a T> {
    std::iter::once(builtin).chain(full.as_ref())
}
