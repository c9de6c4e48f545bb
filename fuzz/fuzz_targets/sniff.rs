//! Media-type sniffing of a file's first bytes (magic numbers, GeoJSON from a head
//! that may be cut anywhere), as wis2-create does for every file, and the description
//! of a whole file from memory (`describe_loaded`).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wis2::formats::sniff::{self, MediaTypes};

fuzz_target!(|data: &[u8]| {
    // wis2-create sniffs the first HEAD_LEN bytes of a file.
    let head = &data[..data.len().min(sniff::HEAD_LEN)];
    let _ = sniff::magic(head);
    for name in ["a.nc", "a.json", "a.bin", "noext"] {
        let _ = sniff::sniff_media_type(head, Path::new(name));
        let _ = sniff::sniff_content(head, Path::new(name));
    }
    let _ = MediaTypes::default().sniff(head, Path::new("a.dat"));
    // wis2-create describes a small file from the bytes it read once (netCDF classic,
    // BUFR and JSON readers on whatever the bytes are; the path names no real file).
    let opts = wis2::formats::Options::default();
    for name in ["fuzz-no-such-dir/a.nc", "fuzz-no-such-dir/a.json"] {
        let _ = wis2::formats::describe_loaded(Path::new(name), data, &opts);
    }
});
