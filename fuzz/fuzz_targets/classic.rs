//! The classic netCDF (CDF-1, CDF-2, CDF-5) header reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::formats::classic;

fuzz_target!(|data: &[u8]| {
    let _ = classic::extent(data);
});
