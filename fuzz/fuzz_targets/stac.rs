//! STAC item events from an upstream system (wis2-create's STAC intake).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::event::CloudEvent;
use wis2::stac::{StacOptions, multihash_to_integrity, specs_from_stac_event};

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = CloudEvent::parse(data) {
        let _ = specs_from_stac_event(&ev, &StacOptions::default());
        let _ = specs_from_stac_event(
            &ev,
            &StacOptions {
                roles: vec![],
                require_checksum: true,
            },
        );
    }
    // A bare item (or anything) as the data of an event, as producers send it.
    if let Ok(item) = serde_json::from_slice::<serde_json::Value>(data) {
        let ev = serde_json::json!({
            "specversion": "1.0", "id": "fuzz", "source": "fuzz",
            "type": "fr.ifremer.file.diffusion", "data": item,
        });
        if let Ok(ev) = CloudEvent::parse(ev.to_string().as_bytes()) {
            let _ = specs_from_stac_event(&ev, &StacOptions::default());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = multihash_to_integrity(s);
    }
});
