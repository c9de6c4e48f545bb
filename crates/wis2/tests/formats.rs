//! The data readers on real files from `shared/data` (never copied into the repo) and
//! on small files the tests write themselves.
//!
//! Expected values were checked independently of this crate: netCDF with scipy's
//! pure-Python netCDF-3 reader and h5py (not libnetcdf), BUFR with ecCodes 2.50
//! (`typicalYear`..`typicalSecond` per message). Argo times are rounded to the nearest
//! second after integer-millisecond conversion; where PROVENANCE.md shows a second less
//! (2902746_Sprof, D5900865_001) it truncated values like 05:44:42.99999.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use wis2::formats::{DataFacts, FormatError, describe};
use wis2::message::{Geometry, Temporal};

macro_rules! shared {
    ($rel:literal) => {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/",
            $rel
        ))
    };
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

fn instant(s: &str) -> Temporal {
    Temporal::Instant(t(s))
}

fn interval(a: &str, b: &str) -> Temporal {
    Temporal::Interval {
        start: t(a),
        end: t(b),
    }
}

fn ok(p: &Path) -> DataFacts {
    match describe(p) {
        Ok(f) => f,
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

const NETCDF: &str = "application/x-netcdf";
const BUFR: &str = "application/bufr";

// ---------------------------------------------------------------- real files

/// A file of shared/data.
fn data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel)
}

/// The time and place each real file gives, as read independently (see the top).
#[test]
fn real_files_give_their_time_and_place() {
    let point = |lon, lat| Some(Geometry::point(lon, lat));
    let cases = [
        // Argo, classic CDF-1.
        ("argo/13857_meta.nc", NETCDF, Temporal::Unknown, None),
        // JULD[0] = 19582.366458333334, JULD[7] = 19652.336840277778 (days since
        // 1950); LONGITUDE min/max, LATITUDE min/max over the 8 profiles (doubles in
        // the file).
        (
            "argo/2900313_prof.nc",
            NETCDF,
            interval("2003-08-13T08:47:42Z", "2003-10-22T08:05:03Z"),
            Some(Geometry::bbox(
                127.18000030517578,
                23.235000610351562,
                127.83999633789062,
                24.55900001525879,
            )),
        ),
        // JULD = 25710.416666666668 four times: one instant and a point.
        (
            "argo/BR6903247_135.nc",
            NETCDF,
            instant("2020-05-23T10:00:00Z"),
            point(22.525616666666668, 36.318176666666666),
        ),
        // A descending profile: JULD = 21239.16875 (JULD_LOCATION, 02:51:00, is not
        // the profile time).
        (
            "argo/D1900857_000D.nc",
            NETCDF,
            instant("2008-02-25T04:03:00Z"),
            point(10.809, -39.926),
        ),
        // JULD = 20328.26952546276 = 06:28:06.99998, rounded to 06:28:07.
        (
            "argo/D5900865_001.nc",
            NETCDF,
            instant("2005-08-28T06:28:07Z"),
            point(115.852, -9.768),
        ),
        // JULD = 22051.17986111111.
        (
            "argo/R2901623_000.nc",
            NETCDF,
            instant("2010-05-17T04:19:00Z"),
            point(92.214, -0.025),
        ),
        // JULD = 25366.227083333335.
        (
            "argo/R4902481_001.nc",
            NETCDF,
            instant("2019-06-14T05:27:00Z"),
            point(-52.73851013183594, 56.486080169677734),
        ),
        // JULD = 26725.813541690783.
        (
            "argo/R5906072_116.nc",
            NETCDF,
            instant("2023-03-04T19:31:30Z"),
            point(-99.476, -29.29),
        ),
        // JULD = 26405.408333333333 (x4): exactly 09:48:00 after rounding.
        (
            "argo/R6903247_274.nc",
            NETCDF,
            instant("2022-04-18T09:48:00Z"),
            point(22.860368333333334, 36.537435),
        ),
        // A synthetic profile: JULD = 25505.414583333335.
        (
            "argo/SR6903247_094.nc",
            NETCDF,
            instant("2019-10-31T09:57:00Z"),
            point(25.61749, 34.82749),
        ),
        // Argo, netCDF-4/HDF5: 91 profiles, JULD min 24980.239386574016
        // (05:44:42.99999), max 25880.24511574069.
        (
            "argo/2902746_Sprof.nc",
            NETCDF,
            interval("2018-05-24T05:44:43Z", "2020-11-09T05:52:58Z"),
            Some(Geometry::bbox(139.706, 17.96, 146.067, 22.546)),
        ),
        // A single profile, JULD = 23926.533333333333.
        (
            "argo/BD4901784_000.nc",
            NETCDF,
            instant("2015-07-05T12:48:00Z"),
            point(-129.00729370117188, 46.49919891357422),
        ),
        // Argo, negative: a technical file (N_TECH_PARAM = 0) under a profile-like
        // name, no JULD, no position: unknown, not an error.
        (
            "argo/negative/6903283_badName.nc",
            NETCDF,
            Temporal::Unknown,
            None,
        ),
        // The NaN is in TEMP, which does not disturb the time or the place;
        // JULD = 25872.071180555504, JULD_QC = '1'.
        (
            "argo/negative/R6903724_001_bodc_NaN.nc",
            NETCDF,
            instant("2020-11-01T01:42:30Z"),
            point(-13.2169, 59.1477),
        ),
        // BUFR: `BUFR` at byte 21 after "IOBH03 LFPW 161000\r\r\n"; edition 4;
        // section 1 octets 16-22 = 07e8 02 10 0b 13 00.
        (
            "bufr/A_IOBH03LFPW161000_C_EDZW_20240216112202_27622614.bin",
            BUFR,
            instant("2024-02-16T11:19:00Z"),
            None,
        ),
        // `BUFR` at byte 25 after "ISSA05 LFPW 111700 RRA\r\r\n"; 40 subsets, one
        // message.
        (
            "bufr/A_ISSA05LFPW111700RRA_C_EDZW_20240211170705_50982396.bin",
            BUFR,
            instant("2024-02-11T17:05:00Z"),
            None,
        ),
        // 10 edition-4 messages, typical times 09:00..21:00 on 2022-03-20.
        (
            "bufr/WIGOS_multi-message.bufr4",
            BUFR,
            interval("2022-03-20T09:00:00Z", "2022-03-20T21:00:00Z"),
            None,
        ),
        // One 1650-byte message, then 2 trailing zero bytes.
        (
            "bufr/pdbufr_synop_multi_subset_uncompressed.bufr",
            BUFR,
            instant("2015-01-26T10:00:00Z"),
            None,
        ),
        // Three messages of the same time.
        (
            "bufr/pdbufr_synop_wigos.bufr",
            BUFR,
            instant("2025-01-09T00:00:00Z"),
            None,
        ),
        // Edition 3: year of century 12 (octet 13), 10-30 20:09 and 21:20, centre 98.
        (
            "bufr/pybufrkit_ocea_132.bufr",
            BUFR,
            interval("2012-10-30T20:09:00Z", "2012-10-30T21:20:00Z"),
            None,
        ),
        // Trailing "NNNN\r\n" after 7777 (GTS end of bulletin).
        (
            "bufr/training_bufr-cli-ex1.bufr4",
            BUFR,
            instant("2023-10-02T00:00:00Z"),
            None,
        ),
    ];
    for (rel, media_type, temporal, geometry) in cases {
        let f = ok(&data(rel));
        assert_eq!(f.media_type, media_type, "{rel}");
        assert_eq!(f.temporal, temporal, "{rel}");
        assert_eq!(f.geometry, geometry, "{rel}");
    }
    // A point is written as a GeoJSON Point.
    let f = ok(&data("argo/R6903247_274.nc"));
    assert_eq!(
        serde_json::to_value(&f.geometry).expect("json")["type"],
        "Point"
    );
}

/// The notes say what was looked for and where the time came from.
#[test]
fn real_files_notes() {
    type Says = fn(&str) -> bool;
    let cases: [(&str, Says); 6] = [
        ("argo/13857_meta.nc", |n| n.contains("JULD absent")),
        ("argo/13857_meta.nc", |n| n.contains("JULD_LOCATION absent")),
        ("argo/13857_meta.nc", |n| {
            n.contains("LATITUDE and LONGITUDE")
        }),
        ("argo/2900313_prof.nc", |n| n == "time from JULD"),
        ("argo/negative/6903283_badName.nc", |n| {
            n.contains("time unknown")
        }),
        ("bufr/WIGOS_multi-message.bufr4", |n| {
            n.contains("10 BUFR message(s)")
        }),
    ];
    for (rel, says) in cases {
        let notes = ok(&data(rel)).notes;
        assert!(notes.iter().any(|n| says(n)), "{rel}: {notes:?}");
    }
    // The GTS end of bulletin after 7777 is not reported as junk.
    let notes = ok(&data("bufr/training_bufr-cli-ex1.bufr4")).notes;
    assert!(!notes.iter().any(|n| n.contains("trailing")), "{notes:?}");
}

/// The messages a BUFR file is scanned into.
#[test]
fn real_bufr_files_scanned() {
    /// What each message of a file has.
    type Each = fn(&wis2::formats::bufr::BufrMessage) -> bool;
    let cases: [(&str, usize, Each); 3] = [
        ("bufr/WIGOS_multi-message.bufr4", 10, |m| {
            m.edition == 4 && m.centre == 21
        }),
        ("bufr/pdbufr_synop_wigos.bufr", 3, |m| {
            m.centre == 219 && m.length == 293
        }),
        ("bufr/pybufrkit_ocea_132.bufr", 2, |m| {
            m.edition == 3 && m.centre == 98 && m.data_category == 31
        }),
    ];
    for (rel, count, each) in cases {
        let bytes = std::fs::read(data(rel)).expect("read");
        let scan = wis2::formats::bufr::scan(&bytes).expect("scan");
        assert_eq!(scan.messages.len(), count, "{rel}");
        assert!(scan.messages.iter().all(each), "{rel}");
    }
    let bytes = std::fs::read(data("bufr/WIGOS_multi-message.bufr4")).expect("read");
    let scan = wis2::formats::bufr::scan(&bytes).expect("scan");
    let offsets: Vec<usize> = scan.messages.iter().map(|m| m.offset).collect();
    assert_eq!(
        offsets,
        vec![0, 227, 458, 689, 920, 1151, 1382, 1613, 1844, 2071]
    );
}

#[test]
fn argo_truncated_copies_are_errors_never_a_wrong_time() {
    // libnetcdf alone would read the missing bytes of a classic file as zeros
    // (JULD 0 = 1950-01-01 at 0N 0E): the header check must refuse every cut.
    let dir = tempfile::tempdir().expect("tempdir");
    for src in [
        shared!("argo/R6903247_274.nc"),
        shared!("argo/BD4901784_000.nc"),
    ] {
        let bytes = std::fs::read(src).expect("read");
        let n = bytes.len();
        let mut cuts = vec![0, 4, 16, 100, 1000, 4000, 8000, n - 100, n - 1];
        cuts.extend((1..n / 5000).map(|i| i * 5000));
        for cut in cuts {
            let p = dir.path().join(format!("cut_{cut}.nc"));
            std::fs::write(&p, &bytes[..cut]).expect("write");
            match describe(&p) {
                Ok(f) => panic!("{} cut at {cut} was read: {f:?}", src.display()),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("cut_{cut}.nc")), "{msg}");
                    if bytes.starts_with(b"CDF") && cut >= 4 {
                        assert!(msg.contains("truncated"), "{msg}");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- Argo, written here

/// A minimal netCDF classic writer (CDF-1 or CDF-2), enough for Argo-like test files
/// with `char` variables, which the `netcdf` crate cannot write without unsafe code.
mod cdf {
    pub enum Data {
        Char(Vec<u8>),
        Double(Vec<f64>),
    }

    pub enum Attr {
        Text(&'static str),
        Double(f64),
    }

    pub struct Var {
        pub name: &'static str,
        pub dims: Vec<usize>,
        pub attrs: Vec<(&'static str, Attr)>,
        pub data: Data,
    }

    fn pad(b: &mut Vec<u8>) {
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
    }

    fn name(b: &mut Vec<u8>, s: &str) {
        b.extend_from_slice(&(s.len() as u32).to_be_bytes());
        b.extend_from_slice(s.as_bytes());
        pad(b);
    }

    pub fn write(version: u8, dims: &[(&str, usize)], vars: &[Var]) -> Vec<u8> {
        let offset_len = if version == 2 { 8 } else { 4 };
        let header = |begins: &[u64]| -> Vec<u8> {
            let mut b = b"CDF".to_vec();
            b.push(version);
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&10u32.to_be_bytes());
            b.extend_from_slice(&(dims.len() as u32).to_be_bytes());
            for (n, l) in dims {
                name(&mut b, n);
                b.extend_from_slice(&(*l as u32).to_be_bytes());
            }
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&11u32.to_be_bytes());
            b.extend_from_slice(&(vars.len() as u32).to_be_bytes());
            for (v, begin) in vars.iter().zip(begins) {
                name(&mut b, v.name);
                b.extend_from_slice(&(v.dims.len() as u32).to_be_bytes());
                for d in &v.dims {
                    b.extend_from_slice(&(*d as u32).to_be_bytes());
                }
                if v.attrs.is_empty() {
                    b.extend_from_slice(&[0; 8]);
                } else {
                    b.extend_from_slice(&12u32.to_be_bytes());
                    b.extend_from_slice(&(v.attrs.len() as u32).to_be_bytes());
                    for (an, a) in &v.attrs {
                        name(&mut b, an);
                        match a {
                            Attr::Text(s) => {
                                b.extend_from_slice(&2u32.to_be_bytes());
                                name(&mut b, s);
                            }
                            Attr::Double(x) => {
                                b.extend_from_slice(&6u32.to_be_bytes());
                                b.extend_from_slice(&1u32.to_be_bytes());
                                b.extend_from_slice(&x.to_be_bytes());
                            }
                        }
                    }
                }
                let (ty, size) = match &v.data {
                    Data::Char(c) => (2u32, c.len().div_ceil(4) * 4),
                    Data::Double(d) => (6u32, d.len() * 8),
                };
                b.extend_from_slice(&ty.to_be_bytes());
                b.extend_from_slice(&(size as u32).to_be_bytes());
                if offset_len == 8 {
                    b.extend_from_slice(&begin.to_be_bytes());
                } else {
                    b.extend_from_slice(&(*begin as u32).to_be_bytes());
                }
            }
            b
        };
        let mut begins = vec![0u64; vars.len()];
        let mut at = header(&begins).len() as u64;
        for (i, v) in vars.iter().enumerate() {
            begins[i] = at;
            at += match &v.data {
                Data::Char(c) => c.len().div_ceil(4) * 4,
                Data::Double(d) => d.len() * 8,
            } as u64;
        }
        let mut out = header(&begins);
        for v in vars {
            match &v.data {
                Data::Char(c) => out.extend_from_slice(c),
                Data::Double(d) => d
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
            }
            pad(&mut out);
        }
        out
    }
}

use cdf::{Attr, Data, Var};

const UNITS: (&str, Attr) = ("units", Attr::Text("days since 1950-01-01 00:00:00 UTC"));

fn juld(name: &'static str, v: Vec<f64>) -> Var {
    Var {
        name,
        dims: vec![0],
        attrs: vec![UNITS, ("_FillValue", Attr::Double(999999.0))],
        data: Data::Double(v),
    }
}

fn char_var(name: &'static str, dims: Vec<usize>, s: &[u8]) -> Var {
    Var {
        name,
        dims,
        attrs: vec![],
        data: Data::Char(s.to_vec()),
    }
}

fn position(name: &'static str, v: Vec<f64>) -> Var {
    Var {
        name,
        dims: vec![0],
        attrs: vec![("_FillValue", Attr::Double(99999.0))],
        data: Data::Double(v),
    }
}

/// `file`, a classic file of `vars` written in a fresh folder (removed with the returned
/// guard), once the Rust reader and libnetcdf are found to read it alike.
fn write_nc(
    file: &str,
    version: u8,
    n_prof: usize,
    vars: Vec<Var>,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(file);
    let bytes = cdf::write(version, &[("N_PROF", n_prof), ("DATE_TIME", 14)], &vars);
    std::fs::write(&p, bytes).expect("write nc");
    readers_agree(&p);
    (dir, p)
}

/// A file of one profile whose JULD (`days`, no units) counts from `reference`.
fn referenced(file: &str, reference: &[u8], days: f64) -> (tempfile::TempDir, PathBuf) {
    let juld = Var {
        name: "JULD",
        dims: vec![0],
        attrs: vec![],
        data: Data::Double(vec![days]),
    };
    let reference = char_var("REFERENCE_DATE_TIME", vec![1], reference);
    write_nc(file, 1, 1, vec![reference, juld])
}

/// The Rust classic reader and libnetcdf give the same facts, or both refuse the file.
fn readers_agree(p: &Path) {
    let ours = wis2::formats::netcdf::read(p);
    let theirs = wis2::formats::netcdf::read_with_libnetcdf(p);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", p.display()),
        (Err(_), Err(_)) => {}
        _ => panic!("{}: {ours:?} against libnetcdf {theirs:?}", p.display()),
    }
}

// 2022-04-18T09:48:00Z and 2022-04-18T10:07:50Z as Argo days.
const D1: f64 = 26405.408333333333;
const D2: f64 = 26405.422106481506;

#[test]
fn written_cdf1_and_cdf2_read_alike() {
    for version in [1u8, 2] {
        let (_dir, p) = write_nc(
            &format!("v{version}.nc"),
            version,
            2,
            vec![
                char_var("REFERENCE_DATE_TIME", vec![1], b"19500101000000"),
                juld("JULD", vec![D1, D2]),
                char_var("JULD_QC", vec![0], b"11"),
                position("LATITUDE", vec![10.0, 11.0]),
                position("LONGITUDE", vec![-20.0, -21.0]),
            ],
        );
        assert_eq!(
            &std::fs::read(&p).expect("read")[..4],
            [b'C', b'D', b'F', version]
        );
        let f = ok(&p);
        assert_eq!(f.media_type, NETCDF);
        assert_eq!(
            f.temporal,
            interval("2022-04-18T09:48:00Z", "2022-04-18T10:07:50Z")
        );
        assert_eq!(f.geometry, Some(Geometry::bbox(-21.0, 10.0, -20.0, 11.0)));
    }
}

#[test]
fn written_nan_fill_and_qc9_juld_values_are_skipped() {
    let (_dir, p) = write_nc(
        "skip.nc",
        1,
        4,
        vec![
            juld("JULD", vec![f64::NAN, 999999.0, 0.5, D1]),
            // Profile 2's JULD (0.5, 1950-01-01T12:00) is flagged missing.
            char_var("JULD_QC", vec![0], b"9991"),
            position("LATITUDE", vec![f64::NAN, 99999.0, 5.0, 36.5]),
            position("LONGITUDE", vec![1.0, 2.0, 6.0, 22.5]),
            char_var("POSITION_QC", vec![0], b"1191"),
        ],
    );
    let f = ok(&p);
    assert_eq!(f.temporal, instant("2022-04-18T09:48:00Z"));
    assert_eq!(f.geometry, Some(Geometry::point(22.5, 36.5)));
    let notes = f.notes.join("; ");
    assert!(
        notes.contains("1 JULD value(s) skipped: not a number"),
        "{notes}"
    );
    assert!(
        notes.contains("1 JULD value(s) skipped: fill value"),
        "{notes}"
    );
    assert!(notes.contains("JULD_QC 9"), "{notes}");
}

#[test]
fn written_all_fill_juld_falls_back_to_juld_location() {
    let (_dir, p) = write_nc(
        "loc.nc",
        1,
        1,
        vec![
            juld("JULD", vec![999999.0]),
            juld("JULD_LOCATION", vec![D2]),
            position("LATITUDE", vec![1.0]),
            position("LONGITUDE", vec![2.0]),
        ],
    );
    let f = ok(&p);
    assert_eq!(f.temporal, instant("2022-04-18T10:07:50Z"));
    assert!(
        f.notes.iter().any(|n| n == "time from JULD_LOCATION"),
        "{:?}",
        f.notes
    );
}

#[test]
fn written_reference_date_time_without_units() {
    let (_dir, p) = referenced("ref.nc", b"20000101000000", 1.25);
    let f = ok(&p);
    assert_eq!(f.temporal, instant("2000-01-02T06:00:00Z"));
    assert_eq!(f.geometry, None);
}

#[test]
fn written_damaged_reference_or_units_is_an_error_not_a_guess() {
    let (_dir, p) = referenced("badref.nc", b"19501301000000", 1.0);
    let e = describe(&p).expect_err("month 13");
    let msg = e.to_string();
    assert!(
        msg.contains("badref.nc") && msg.contains("19501301000000"),
        "{msg}"
    );
    let (_dir, p) = write_nc(
        "badunits.nc",
        1,
        1,
        vec![Var {
            name: "JULD",
            dims: vec![0],
            attrs: vec![("units", Attr::Text("days since the launch"))],
            data: Data::Double(vec![1.0]),
        }],
    );
    assert!(matches!(describe(&p), Err(FormatError::Netcdf { .. })));
}

#[test]
fn written_netcdf4_through_the_netcdf_crate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("nc4.nc");
    // The test writes through libnetcdf too, so it uses the same thread and lock.
    let target = p.clone();
    wis2::formats::netcdf::on_netcdf_thread(move || {
        let mut f = netcdf::create(&target).expect("create");
        f.add_dimension("N_PROF", 3).expect("dim");
        let mut v = f.add_variable::<f64>("JULD", &["N_PROF"]).expect("var");
        v.set_fill_value(999999.0).expect("fill");
        v.put_attribute("units", "days since 1950-01-01 00:00:00 UTC")
            .expect("units");
        v.put_values(&[f64::NAN, D1, 999999.0], ..).expect("put");
        let mut la = f.add_variable::<f64>("LATITUDE", &["N_PROF"]).expect("lat");
        la.put_values(&[1.0, 2.0, 99999.0], ..).expect("put");
        let mut lo = f
            .add_variable::<f64>("LONGITUDE", &["N_PROF"])
            .expect("lon");
        lo.put_values(&[3.0, 4.0, 5.0], ..).expect("put");
        f.close().expect("close");
    })
    .expect("netcdf thread");
    assert_eq!(&std::fs::read(&p).expect("read")[..4], b"\x89HDF");
    let f = ok(&p);
    assert_eq!(f.media_type, NETCDF);
    assert_eq!(f.temporal, instant("2022-04-18T09:48:00Z"));
    assert_eq!(f.geometry, Some(Geometry::bbox(3.0, 1.0, 4.0, 2.0)));
    // The same HDF5 under another name is HDF5, not read.
    let h5 = dir.path().join("nc4.h5");
    std::fs::copy(&p, &h5).expect("copy");
    let f = ok(&h5);
    assert_eq!(f.media_type, "application/x-hdf5");
    assert_eq!(f.temporal, Temporal::Unknown);
}

#[test]
fn many_threads_read_netcdf_at_once() {
    let files = [
        (
            shared!("argo/R6903247_274.nc"),
            instant("2022-04-18T09:48:00Z"),
        ),
        (
            shared!("argo/BD4901784_000.nc"),
            instant("2015-07-05T12:48:00Z"),
        ),
        (
            shared!("argo/SR6903247_094.nc"),
            instant("2019-10-31T09:57:00Z"),
        ),
    ];
    std::thread::scope(|s| {
        for i in 0..8 {
            let (p, want) = &files[i % files.len()];
            s.spawn(move || {
                for _ in 0..5 {
                    assert_eq!(&ok(p).temporal, want);
                }
            });
        }
    });
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn the_rust_classic_reader_agrees_with_libnetcdf_on_every_real_file() {
    // Classic files are read in Rust; libnetcdf is the reference. Both must give the
    // same time, place and notes (or both refuse the file). The files the tests write
    // are compared too (`write_nc`, and the record-variable files of every version).
    let mut files = Vec::new();
    files_under(shared!("argo"), &mut files);
    files.retain(|p| p.extension().is_some_and(|x| x == "nc"));
    let mut classic = 0;
    for p in &files {
        let bytes = std::fs::read(p).expect("read");
        classic += usize::from(bytes.starts_with(b"CDF"));
        readers_agree(p);
    }
    assert!(
        classic >= 10,
        "only {classic} classic files in shared/data/argo"
    );
}

#[test]
fn a_file_described_from_memory_gives_what_it_gives_from_disk() {
    // wis2-create reads a small file once and describes it from those bytes
    // (`describe_loaded`): every real file of shared/data (netCDF classic and HDF5,
    // BUFR, JSON) must give the same facts, or the same error, either way.
    let mut files = Vec::new();
    for dir in [
        shared!("argo"),
        shared!("bufr"),
        shared!("wcmp2"),
        shared!("wnm"),
    ] {
        files_under(dir, &mut files);
    }
    assert!(files.len() >= 20, "only {} files", files.len());
    let opts = wis2::formats::Options::default();
    for p in &files {
        let bytes = std::fs::read(p).expect("read");
        let from_disk = describe(p);
        let from_memory = wis2::formats::describe_loaded(p, &bytes, &opts);
        match (from_disk, from_memory) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", p.display()),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{}", p.display()),
            (a, b) => panic!("{}: from disk {a:?}, from memory {b:?}", p.display()),
        }
    }
}

// ---------------------------------------------------------------- BUFR

#[test]
fn bufr_damaged_copies_of_real_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(shared!("bufr/WIGOS_multi-message.bufr4")).expect("read");
    // Cut inside the third message: the file is incomplete, whatever the two
    // messages before the cut say.
    let p = dir.path().join("cut.bufr4");
    std::fs::write(&p, &bytes[..500]).expect("write");
    let msg = describe(&p).expect_err("truncated").to_string();
    assert!(
        msg.contains("cut.bufr4") && msg.contains("byte 458") && msg.contains("truncated"),
        "{msg}"
    );
    // Cut inside the first message: an error naming the offset.
    let one = std::fs::read(shared!(
        "bufr/A_IOBH03LFPW161000_C_EDZW_20240216112202_27622614.bin"
    ))
    .expect("read");
    let p = dir.path().join("cut.bin");
    std::fs::write(&p, &one[..150]).expect("write");
    let msg = describe(&p).expect_err("truncated").to_string();
    assert!(msg.contains("cut.bin") && msg.contains("byte 21"), "{msg}");
    // Month 13 in section 1 (octet 18 of an edition 4 section 1 is at 21 + 8 + 17).
    let mut bad = one.clone();
    bad[21 + 8 + 17] = 13;
    let p = dir.path().join("month13.bin");
    std::fs::write(&p, &bad).expect("write");
    let msg = describe(&p).expect_err("month 13").to_string();
    assert!(
        msg.contains("2024-13-16T11:19:00") && msg.contains("byte 21"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- STAC intake

#[test]
fn stac_ifremer_cloudevent_example() {
    use wis2::hash::Method;
    use wis2::stac::{StacOptions, specs_from_stac_event};
    let bytes =
        std::fs::read(shared!("wnm/ifremer_netcdf-creation-cloudevent_STAC.json")).expect("read");
    let ev = wis2::event::CloudEvent::parse(&bytes).expect("cloudevent");
    let assets = specs_from_stac_event(&ev, &StacOptions::default()).expect("stac");
    assert_eq!(assets.len(), 1);
    let a = &assets[0];
    assert_eq!(a.item_id, "Profile7901113_022A");
    assert_eq!(a.key, "R7901113_022.nc");
    assert_eq!(
        a.href,
        "https://data-argo.ifremer.fr/dac/coriolis/7901113/profiles/R7901113_022.nc"
    );
    assert_eq!(a.media_type.as_deref(), Some(NETCDF));
    assert_eq!(a.length, Some(25620));
    // "2024-11-09T21:08:00.000000Z" -> whole seconds, UTC.
    assert_eq!(a.temporal, instant("2024-11-09T21:08:00Z"));
    assert_eq!(
        a.geometry,
        Some(Geometry::point(21.059306666666668, -36.29987333333333))
    );
    // file:checksum 0x16 0x20 + 32 bytes: sha3-256, re-encoded in base64.
    let i = a.integrity.as_ref().expect("integrity");
    assert_eq!(i.method, Method::Sha3_256);
    assert_eq!(i.value, "9eWS/1G0ZQPWTKsAjvcycNjKwcS5miVZ/1unteEEV4E=");
}

#[test]
fn stac_check_local_file_reports_size_then_digest() {
    use wis2::hash::{Integrity, Method};
    use wis2::stac::{StacAsset, StacError, check_local_file};
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("R1.nc");
    std::fs::write(&p, b"argo profile bytes").expect("write");
    let mut asset = StacAsset {
        item_id: "i".into(),
        key: "R1.nc".into(),
        href: "https://x/R1.nc".into(),
        media_type: None,
        length: Some(18),
        integrity: Some(Integrity::of_bytes(Method::Sha3_256, b"argo profile bytes")),
        temporal: Temporal::Unknown,
        geometry: None,
        roles: vec![],
    };
    check_local_file(&asset, &p).expect("same file");
    asset.length = Some(19);
    let e = check_local_file(&asset, &p).expect_err("size");
    assert!(
        matches!(
            e,
            StacError::SizeMismatch {
                expected: 19,
                actual: 18,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("R1.nc"));
    asset.length = Some(18);
    asset.integrity = Some(Integrity::of_bytes(Method::Sha3_256, b"other bytes"));
    let e = check_local_file(&asset, &p).expect_err("digest");
    assert!(matches!(e, StacError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains("sha3-256"), "{e}");
    asset.integrity = None;
    check_local_file(&asset, &p).expect("size only");
    assert!(matches!(
        check_local_file(&asset, &dir.path().join("missing.nc")),
        Err(StacError::Io { .. })
    ));
}

// ---------------------------------------------------------------- JSON sniffing

#[test]
fn json_files_of_shared_data() {
    // A WCMP2 record is a GeoJSON Feature; a CloudEvent is plain JSON.
    let f = ok(shared!("wcmp2/ifremer_fr-ifremer-argo-core-metadata.json"));
    assert_eq!(f.media_type, "application/geo+json");
    assert_eq!(f.temporal, Temporal::Unknown);
    let f = ok(shared!("wnm/wis2watch_node_messages_gh_gmet.json"));
    assert_eq!(f.media_type, "application/geo+json", "a FeatureCollection");
    let f = ok(shared!("wnm/ifremer_netcdf-creation-cloudevent_STAC.json"));
    assert_eq!(f.media_type, "application/json");
    // The same answers from the first bytes alone.
    for (rel, want) in [
        (
            shared!("wcmp2/ifremer_fr-ifremer-argo-core-metadata.json"),
            "application/geo+json",
        ),
        (
            shared!("wnm/ifremer_netcdf-creation-cloudevent_STAC.json"),
            "application/json",
        ),
        (shared!("argo/R6903247_274.nc"), NETCDF),
        (shared!("argo/2902746_Sprof.nc"), NETCDF),
        (
            shared!("bufr/A_IOBH03LFPW161000_C_EDZW_20240216112202_27622614.bin"),
            BUFR,
        ),
    ] {
        let bytes = std::fs::read(rel).expect("read");
        let head = &bytes[..bytes.len().min(wis2::formats::sniff::HEAD_LEN)];
        assert_eq!(
            wis2::formats::sniff_media_type(head, rel),
            want,
            "{}",
            rel.display()
        );
    }
}

#[test]
fn libnetcdf_written_classic_files_with_record_variables_pass_the_length_check() {
    // libnetcdf lays out record variables (unlimited N_PROF, as in trajectory files);
    // the header check must agree with it for CDF-1, CDF-2 and CDF-5, and refuse the
    // same files one byte short.
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, opts) in [
        ("cdf1.nc", netcdf::Options::empty()),
        ("cdf2.nc", netcdf::Options::_64BIT_OFFSET),
        ("cdf5.nc", netcdf::Options::_64BIT_DATA),
    ] {
        let p = dir.path().join(name);
        let target = p.clone();
        wis2::formats::netcdf::on_netcdf_thread(move || {
            let mut f = netcdf::create_with(&target, opts).expect("create");
            f.add_unlimited_dimension("N_PROF").expect("dim");
            f.add_dimension("N_LEVELS", 3).expect("dim");
            f.add_attribute("title", "test").expect("attr");
            // Classic files: define everything first, then write.
            f.add_variable::<f64>("JULD", &["N_PROF"])
                .expect("var")
                .put_attribute("units", "days since 1950-01-01 00:00:00 UTC")
                .expect("units");
            f.add_variable::<i16>("CYCLE", &["N_PROF"]).expect("short");
            f.add_variable::<f64>("LATITUDE", &["N_PROF"]).expect("lat");
            f.add_variable::<f64>("LONGITUDE", &["N_PROF"])
                .expect("lon");
            f.add_variable::<f32>("PRES", &["N_PROF", "N_LEVELS"])
                .expect("pres");
            f.add_variable::<i8>("FLAGS", &["N_LEVELS"]).expect("fixed");
            f.enddef().expect("enddef");
            let mut put = |name: &str, v: &[f64]| {
                f.variable_mut(name)
                    .expect("defined")
                    .put_values(v, ..)
                    .expect("put");
            };
            put("JULD", &[D1, D2, D1]);
            put("CYCLE", &[1.0, 2.0, 3.0]);
            put("LATITUDE", &[1.0, 2.0, 3.0]);
            put("LONGITUDE", &[4.0, 5.0, 6.0]);
            put("PRES", &[1.0; 9]);
            put("FLAGS", &[1.0, 2.0, 3.0]);
            f.close().expect("close");
        })
        .expect("netcdf thread");
        readers_agree(&p);
        let f = ok(&p);
        assert_eq!(
            f.temporal,
            interval("2022-04-18T09:48:00Z", "2022-04-18T10:07:50Z"),
            "{name}"
        );
        assert_eq!(
            f.geometry,
            Some(Geometry::bbox(4.0, 1.0, 6.0, 3.0)),
            "{name}"
        );
        let bytes = std::fs::read(&p).expect("read");
        std::fs::write(&p, &bytes[..bytes.len() - 1]).expect("write");
        let msg = describe(&p).expect_err("one byte short").to_string();
        assert!(msg.contains("truncated"), "{name}: {msg}");
    }
}
