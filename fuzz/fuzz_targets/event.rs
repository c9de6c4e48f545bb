//! Event intake of wis2-create: any bytes from the broker's `chain/events`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::event::CloudEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = CloudEvent::parse(data) {
        let _ = ev.file_event();
        let _ = ev.time_utc();
        // What was accepted serialises and is accepted again.
        let again = CloudEvent::parse(ev.to_json().as_bytes());
        assert!(again.is_ok(), "re-parse failed: {again:?}");
    }
});
