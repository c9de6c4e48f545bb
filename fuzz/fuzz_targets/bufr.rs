//! BUFR headers: the scan of a whole file and the reading of one message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::formats::bufr;

fuzz_target!(|data: &[u8]| {
    let _ = bufr::scan(data);
    let _ = wis2::formats::sniff::magic(data);
    // Read a message at an offset given by the first two bytes, even out of range.
    if let [a, b, rest @ ..] = data {
        let offset = usize::from(u16::from_le_bytes([*a, *b]));
        let _ = bufr::read_message(rest, offset);
    }
});
