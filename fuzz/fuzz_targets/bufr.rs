//! BUFR headers: the scan of a whole file and the reading of one message.
#![no_main]

use chrono::Datelike;
use libfuzzer_sys::fuzz_target;
use wis2::formats::bufr::{self, BufrMessage, PLAUSIBLE_YEARS};

/// What a message that reads must be: inside the bytes, from `BUFR` to `7777`.
fn check(data: &[u8], m: &BufrMessage) {
    let end = m.offset.checked_add(m.length).expect("offset + length");
    assert!(end <= data.len(), "{m:?} ends past {}", data.len());
    assert_eq!(&data[m.offset..m.offset + 4], b"BUFR");
    assert_eq!(&data[end - 4..end], b"7777");
    assert!(matches!(m.edition, 2..=4), "{m:?}");
    assert!(PLAUSIBLE_YEARS.contains(&m.typical_time.year()), "{m:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = bufr::scan(data) {
        assert!(!s.messages.is_empty());
        for m in &s.messages {
            check(data, m);
        }
    }
    // Read a message at an offset given by the first bytes: the first byte's low bit
    // picks a near-usize::MAX offset (a caller's arithmetic gone wrong) or a u16 one.
    if let [mode, a, b, rest @ ..] = data {
        let offset = if mode & 1 == 1 {
            usize::MAX - usize::from(*a)
        } else {
            usize::from(u16::from_le_bytes([*a, *b]))
        };
        if let Ok(m) = bufr::read_message(rest, offset) {
            assert_eq!(m.offset, offset);
            check(rest, &m);
        }
    }
});
