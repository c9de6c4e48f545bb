//! WCMP2 discovery metadata checks (wis2-validate metadata, wis2-create's records).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wis2::wcmp2::Wcmp2Checker;

static CHECKER: LazyLock<Wcmp2Checker> = LazyLock::new(Wcmp2Checker::builtin);

fuzz_target!(|data: &[u8]| {
    let report = CHECKER.check_record(data);
    let _ = report.is_valid();
    let _ = report.to_human();
});
