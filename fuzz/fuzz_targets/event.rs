//! Event intake of wis2-create: any bytes from the broker's `chain/events`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::event::{CloudEvent, MAX_EVENT_BYTES};
use wis2::path::RelPath;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = CloudEvent::parse(data) {
        if let Ok((_, file)) = ev.file_event() {
            // What file_event accepts stays under the data directory.
            assert!(RelPath::parse(file.path.as_str()).is_ok(), "{:?}", file.path);
        }
        let _ = ev.time_utc();
        // What was accepted serialises and is accepted again (unless the compact
        // form grew past the size limit, which the fuzzer's short inputs cannot reach).
        let json = ev.to_json();
        if json.len() <= MAX_EVENT_BYTES {
            let again = CloudEvent::parse(json.as_bytes());
            assert!(again.is_ok(), "re-parse failed: {again:?}");
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = RelPath::parse(s);
    }
});
