//! What the checker targets share: a checker with the built-in rules, and one loaded
//! from the standards of ../shared when they are there, so that a target fuzzes the
//! checkers as the services load them too.

use std::path::Path;

use wis2::validate::ValidatorOptions;
use wis2::wcmp2::Wcmp2Options;

/// The built-in checker, and the one loaded from ../shared/standards.
pub struct Checkers<T> {
    pub builtin: T,
    pub full: Option<T>,
}

impl<T> Checkers<T> {
    /// The built-in checker, then the loaded one when there is one.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        std::iter::once(&self.builtin).chain(self.full.as_ref())
    }
}

/// The options of the WNM validator and of the WCMP2 checker for the standards of
/// ../shared, as the services load them; none for a checker whose schema is not there.
pub fn shared_standards() -> (Option<ValidatorOptions>, Option<Wcmp2Options>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/standards");
    let wth_dir = Some(dir.join("wth"));
    let wnm_schema = dir.join("wnm/wis2-notification-message-bundled.json");
    let wnm = wnm_schema.is_file().then(|| ValidatorOptions {
        schema: Some(wnm_schema),
        wth_dir: wth_dir.clone(),
        ..ValidatorOptions::default()
    });
    let wcmp2_schema = dir.join("wcmp2/wcmp2-bundled.json");
    let wcmp2 = wcmp2_schema.is_file().then(|| Wcmp2Options {
        schema: Some(wcmp2_schema),
        codelists_dir: Some(dir.join("wcmp2/codelists")),
        wth_dir,
    });
    (wnm, wcmp2)
}
