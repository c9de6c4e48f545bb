//! The netCDF parts read in Rust: the classic (CDF-1, CDF-2, CDF-5) header reader, the
//! pure-Rust reader of whole CDF-1/CDF-2 files, and the `units` of a time variable with the
//! conversion of its values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wis2::formats::{classic, netcdf};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = classic::extent(data) {
        // The header was read from these bytes, and the data come after it.
        assert!(e.header_len <= data.len() as u64, "{e:?}");
        assert!(e.min_file_len >= e.header_len, "{e:?}");
        // A whole file (as long as its header says): the pure-Rust reader reads it
        // or leaves it to libnetcdf, without crashing.
        if data.len() as u64 >= e.min_file_len && matches!(data[3], 1 | 2) {
            let _ = netcdf::read_classic_bytes(data.to_vec());
        }
    }
    // `units` text, then an f64 value: the last 8 bytes.
    if data.len() >= 8 {
        let (text, value) = data.split_at(data.len() - 8);
        if let Ok(units) = std::str::from_utf8(text)
            && let Some((ms, base)) = netcdf::parse_units(units)
        {
            let value = f64::from_le_bytes(value.try_into().expect("8 bytes"));
            let _ = netcdf::offset_to_time(base, value, ms);
            let _ = netcdf::days_to_time(base, value);
        }
    }
});
