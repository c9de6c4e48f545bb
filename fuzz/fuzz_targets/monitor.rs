//! WIS2 monitoring events from a Global Broker: any bytes on `monitor/a/wis2/...`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::monitor::MonitoringEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = MonitoringEvent::parse(data) {
        let _ = e.is_problem();
        // References are short, non-empty and never repeated.
        for (i, r) in e.references.iter().enumerate() {
            assert!(!r.is_empty() && r.len() <= 512, "{r:?}");
            assert!(!e.references[..i].contains(r), "repeated {r:?}");
        }
    }
});
