//! Argo netCDF: time from `JULD` (or `JULD_LOCATION`), place from `LATITUDE`/`LONGITUDE`.
//!
//! Two readers, one set of rules ([`Source`]):
//! - netCDF classic files (CDF-1, CDF-2, CDF-5: Argo's format) are read in Rust, on
//!   the caller's thread: the header parser of [`super::classic`] (which checks the
//!   file's length anyway) says where each variable's values are, and they are taken
//!   from the bytes already read for that check (a small file is read whole) or read
//!   at their offset. No lock, no hand-off to another thread. (The `netcdf3` crate
//!   parses its header again for every 1 KiB it reads: slower than libnetcdf on an
//!   Argo profile.)
//! - netCDF-4/HDF5 files, and classic files whose number of records is not known yet
//!   (streaming), go through libnetcdf (the `netcdf` crate). libnetcdf is not
//!   thread-safe: every call into it, including the implicit close when a file is
//!   dropped, happens on one thread while [`NC_LOCK`] is held.
//!
//! [`read_with_libnetcdf`] reads a classic file through libnetcdf too: the tests check
//! that both readers give the same facts for every real file.
//!
//! Rules (Argo user manual):
//! - `JULD` is days since `REFERENCE_DATE_TIME` (`YYYYMMDDHHMISS`, normally
//!   1950-01-01 00:00:00 UTC); a CF `units` attribute `days since ...` wins when present.
//!   Values equal to `_FillValue` (999999), not finite, or whose `JULD_QC` is `9`
//!   (missing) are skipped. When no `JULD` value is usable, `JULD_LOCATION` is used.
//! - Days are converted with integer-millisecond precision, then rounded to the whole
//!   second: Argo times are whole seconds stored as fractional days, so
//!   `26405.408333333333` is 2022-04-18T09:48:00Z, not 09:47:59.99997.
//! - Positions equal to `_FillValue` (99999), not finite, out of range, or whose
//!   `POSITION_QC` is `9` are skipped.
//! - Files without these variables (`_meta`, `_tech`, non-Argo netCDF) give an unknown
//!   time and no geometry, with notes saying what was looked for: that is not an error.

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};

use crate::message::{Geometry, Temporal};

/// Serialises every call into libnetcdf (not thread-safe) made by this crate; held by
/// [`on_netcdf_thread`] around each job.
pub static NC_LOCK: Mutex<()> = Mutex::new(());

/// Argo's fill value for `JULD` and `JULD_LOCATION`.
pub const JULD_FILL: f64 = 999_999.0;
/// Argo's fill value for `LATITUDE` and `LONGITUDE`.
pub const POSITION_FILL: f64 = 99_999.0;
/// Reference time when neither `units` nor `REFERENCE_DATE_TIME` says otherwise.
pub const DEFAULT_REFERENCE: &str = "1950-01-01T00:00:00Z";

/// Variables longer than this are not read (a damaged header can claim any size).
const MAX_VALUES: usize = 20_000_000;

/// Derived times outside these years are damage, not data.
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// Time and place of an Argo (or any) netCDF file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetcdfFacts {
    pub temporal: Temporal,
    pub geometry: Option<Geometry>,
    /// Which variable gave the time (`JULD` or `JULD_LOCATION`), if any.
    pub time_variable: Option<&'static str>,
    /// What was skipped or assumed, for the operator.
    pub notes: Vec<String>,
}

/// Why a netCDF file cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetcdfError {
    #[error(
        "libnetcdf cannot open it ({0}): the file is damaged, truncated or not netCDF; send the complete, valid file"
    )]
    Open(String),
    #[error("cannot read variable {var} ({reason}): the file is damaged or truncated")]
    Read { var: String, reason: String },
    #[error(
        "{var} has {len} values, more than the {MAX_VALUES} this reader accepts: the header is damaged"
    )]
    TooLarge { var: String, len: usize },
    #[error("{var} units `{units}` are not understood: expected `days since YYYY-MM-DD HH:MM:SS`")]
    Units { var: String, units: String },
    #[error(
        "REFERENCE_DATE_TIME `{0}` is not a date YYYYMMDDHHMISS: correct it (normally 19500101000000)"
    )]
    Reference(String),
    #[error("{var} is not numeric: it must be days (double)")]
    NotNumeric { var: String },
    #[error(
        "the file is {actual} bytes but its header puts the end of its data at byte {expected}: it is truncated (still being written, or cut in transfer); send the complete file"
    )]
    Truncated { expected: u64, actual: u64 },
    #[error(
        "the netCDF classic header is cut off (the file is {0} bytes): it is truncated; send the complete file"
    )]
    HeaderTruncated(u64),
    #[error("the netCDF classic header is damaged ({0}); re-create the file")]
    Header(String),
}

/// Largest classic header read to check a file's length.
const MAX_HEADER: u64 = 64 * 1024 * 1024;

/// For netCDF classic files, checks that the file is as long as its header says.
/// HDF5-based files need no such check: libnetcdf refuses truncated ones.
pub fn check_classic_length(path: &Path) -> Result<(), NetcdfError> {
    classic_head(path).map(|_| ())
}

/// The first bytes of a classic file, read for the length check, and its header.
struct ClassicHead {
    header: super::classic::Header,
    bytes: Vec<u8>,
    /// `bytes` is the whole file.
    whole: bool,
    /// The open file (`None` when `bytes` was handed over whole).
    file: Option<std::fs::File>,
}

/// Checks a classic file's length as [`check_classic_length`], and returns what it
/// read (`None` for a file that is not netCDF classic).
fn classic_head(path: &Path) -> Result<Option<ClassicHead>, NetcdfError> {
    let (file, size) = open(path)?;
    classic_head_from(Some(file), Vec::new(), size)
}

/// A file opened for reading, and its size.
fn open(path: &Path) -> Result<(std::fs::File, u64), NetcdfError> {
    let io = |e: std::io::Error| NetcdfError::Open(e.to_string());
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    Ok((file, size))
}

/// [`classic_head`] of an open file of `size` bytes whose first bytes, `buf`, were
/// read already (the file's position is right after them); with no file, `buf` is
/// the whole file.
fn classic_head_from(
    mut file: Option<std::fs::File>,
    mut buf: Vec<u8>,
    size: u64,
) -> Result<Option<ClassicHead>, NetcdfError> {
    let io = |e: std::io::Error| NetcdfError::Open(e.to_string());
    let mut want: u64 = (64 * 1024).max(buf.len() as u64);
    loop {
        let have = buf.len() as u64;
        if let Some(file) = file.as_mut() {
            file.take(want.saturating_sub(have))
                .read_to_end(&mut buf)
                .map_err(io)?;
        }
        if buf.len() < 4 || &buf[..3] != b"CDF" {
            return Ok(None);
        }
        match super::classic::parse(&buf) {
            Ok(h) if size < h.extent.min_file_len => {
                return Err(NetcdfError::Truncated {
                    expected: h.extent.min_file_len,
                    actual: size,
                });
            }
            Ok(header) => {
                return Ok(Some(ClassicHead {
                    header,
                    whole: buf.len() as u64 == size,
                    bytes: buf,
                    file,
                }));
            }
            Err(super::classic::HeaderError::NeedMore) if (buf.len() as u64) < size => {
                if want >= MAX_HEADER {
                    return Err(NetcdfError::Header(format!(
                        "longer than {MAX_HEADER} bytes"
                    )));
                }
                want *= 4;
            }
            Err(super::classic::HeaderError::NeedMore) => {
                return Err(NetcdfError::HeaderTruncated(size));
            }
            Err(super::classic::HeaderError::Damaged(why)) => {
                return Err(NetcdfError::Header(why));
            }
        }
    }
}

/// Reads time and place from a netCDF file (Argo conventions).
pub fn read(path: &Path) -> Result<NetcdfFacts, NetcdfError> {
    let (file, size) = open(path)?;
    read_opened(path, file, Vec::new(), size)
}

/// [`read`] of a file already opened, of `size` bytes, whose first bytes `head` were
/// read already (the file's position is right after them): the media-type sniffing
/// hands over what it read instead of the file being opened and read again.
pub fn read_opened(
    path: &Path,
    file: std::fs::File,
    head: Vec<u8>,
    size: u64,
) -> Result<NetcdfFacts, NetcdfError> {
    read_head(path, classic_head_from(Some(file), head, size)?)
}

/// [`read`] of a file whose whole content, `bytes`, was read already: a classic file
/// is read from them, with no further I/O (netCDF-4 still goes through libnetcdf,
/// which opens `path`).
pub fn read_loaded(path: &Path, bytes: Vec<u8>) -> Result<NetcdfFacts, NetcdfError> {
    let size = bytes.len() as u64;
    read_head(path, classic_head_from(None, bytes, size)?)
}

/// Reads a classic file from what [`classic_head_from`] read, or any other through
/// libnetcdf.
fn read_head(path: &Path, head: Option<ClassicHead>) -> Result<NetcdfFacts, NetcdfError> {
    if let Some(head) = head
        && head.header.numrecs.is_some()
    {
        return read_source(&mut Classic {
            header: head.header,
            file: if head.whole { None } else { head.file },
            head: head.bytes,
        });
    }
    read_libnetcdf(path)
}

/// Reads a whole classic file held in memory as [`read`] does (for the fuzzer). `None`
/// when it is not a classic file whose number of records is known.
pub fn read_classic_bytes(bytes: Vec<u8>) -> Option<Result<NetcdfFacts, NetcdfError>> {
    let header = super::classic::parse(&bytes).ok()?;
    header.numrecs?;
    if (bytes.len() as u64) < header.extent.min_file_len {
        return Some(Err(NetcdfError::Truncated {
            expected: header.extent.min_file_len,
            actual: bytes.len() as u64,
        }));
    }
    Some(read_source(&mut Classic {
        header,
        head: bytes,
        file: None,
    }))
}

/// [`read`] through libnetcdf whatever the format (after the same length check): the
/// reference the pure-Rust classic reader is compared with.
pub fn read_with_libnetcdf(path: &Path) -> Result<NetcdfFacts, NetcdfError> {
    check_classic_length(path)?;
    read_libnetcdf(path)
}

fn read_libnetcdf(path: &Path) -> Result<NetcdfFacts, NetcdfError> {
    let path = path.to_path_buf();
    on_netcdf_thread(move || {
        // `file` is opened after the caller took NC_LOCK, so it is closed before the
        // lock is released.
        let file = netcdf::open(&path).map_err(|e| NetcdfError::Open(e.to_string()))?;
        read_source(&mut Lib(&file))
    })?
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs `f` on the one thread that makes libnetcdf calls, holding [`NC_LOCK`].
///
/// Why one thread and not only a lock: libnetcdf turns HDF5's automatic error printing
/// off when it initialises, and a thread-safe HDF5 keeps that setting per thread. Calls
/// from other threads would print pages of `HDF5-DIAG` to stderr for every attribute
/// libnetcdf probes and does not find. Anyone else in the process calling libnetcdf
/// (tests writing files, for one) should go through here too.
pub fn on_netcdf_thread<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, NetcdfError> {
    static WORKER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wis2-netcdf".into())
            .spawn(move || {
                for job in rx {
                    // A panic inside the netcdf crate must not kill the reader for good:
                    // the caller sees its reply channel closed and reports an error.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })
            .ok()
            .map(|_| tx)
    });
    let gone = || NetcdfError::Open("the netCDF reader thread is not running".into());
    let worker = worker.as_ref().ok_or_else(gone)?;
    let (tx, rx) = mpsc::sync_channel(1);
    worker
        .send(Box::new(move || {
            let _guard = NC_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
            let r = f();
            let _ = tx.send(r);
        }))
        .map_err(|_| gone())?;
    rx.recv().map_err(|_| {
        NetcdfError::Open("libnetcdf failed on this file (the reader panicked)".into())
    })
}

/// What the reading rules need of a netCDF file, whichever library reads it.
trait Source {
    /// The variable `name`, when the file has it.
    fn var(&self, name: &str) -> Option<Var>;
    /// All values of a numeric variable as `f64` (its kind is [`Kind::Number`]).
    fn numbers(&mut self, name: &str) -> Result<Vec<f64>, String>;
    /// The bytes of a `char` variable.
    fn chars(&mut self, name: &str) -> Result<Vec<u8>, String>;
    /// The value of a one-element netCDF-4 `string` variable.
    fn string(&mut self, name: &str) -> Result<String, String>;
    /// A text attribute of a variable (up to its first NUL).
    fn text_attribute(&self, var: &str, attr: &str) -> Option<String>;
    /// The first value of a numeric attribute of a variable.
    fn number_attribute(&self, var: &str, attr: &str) -> Option<f64>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Char,
    String,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Var {
    kind: Kind,
    len: usize,
}

/// A file opened by libnetcdf.
struct Lib<'a>(&'a netcdf::File);

impl Source for Lib<'_> {
    fn var(&self, name: &str) -> Option<Var> {
        use netcdf::types::NcVariableType as T;
        let v = self.0.variable(name)?;
        let kind = match v.vartype() {
            T::Int(_) | T::Float(_) => Kind::Number,
            T::Char => Kind::Char,
            T::String => Kind::String,
            _ => Kind::Other,
        };
        Some(Var { kind, len: v.len() })
    }

    fn numbers(&mut self, name: &str) -> Result<Vec<f64>, String> {
        let v = self.0.variable(name).ok_or("absent")?;
        v.get_values::<f64, _>(..).map_err(|e| e.to_string())
    }

    fn chars(&mut self, name: &str) -> Result<Vec<u8>, String> {
        let v = self.0.variable(name).ok_or("absent")?;
        v.get_raw_values(..).map_err(|e| e.to_string())
    }

    fn string(&mut self, name: &str) -> Result<String, String> {
        let v = self.0.variable(name).ok_or("absent")?;
        v.get_string(..).map_err(|e| e.to_string())
    }

    fn text_attribute(&self, var: &str, attr: &str) -> Option<String> {
        match self.0.variable(var)?.attribute_value(attr)?.ok()? {
            netcdf::AttributeValue::Str(s) => Some(s),
            netcdf::AttributeValue::Strs(v) => v.into_iter().next(),
            _ => None,
        }
    }

    fn number_attribute(&self, var: &str, attr: &str) -> Option<f64> {
        match self.0.variable(var)?.attribute_value(attr)?.ok()? {
            netcdf::AttributeValue::Doubles(v) => v.first().copied(),
            netcdf::AttributeValue::Floats(v) => v.first().map(|x| f64::from(*x)),
            other => f64::try_from(other).ok(),
        }
    }
}

/// A classic file, read with this crate's header parser.
struct Classic {
    header: super::classic::Header,
    /// The first bytes of the file: the whole header, and the whole file when `file`
    /// is `None`.
    head: Vec<u8>,
    file: Option<std::fs::File>,
}

impl Classic {
    /// `len` bytes at `offset`: from `head` when it holds them, else from the file.
    fn bytes(&self, offset: u64, len: u64) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        let end = offset.checked_add(len).ok_or("offset overflows")?;
        if end <= self.head.len() as u64 {
            return Ok(std::borrow::Cow::Borrowed(
                &self.head[offset as usize..end as usize],
            ));
        }
        let file = self.file.as_ref().ok_or("past the end of the file")?;
        let mut buf = vec![0; usize::try_from(len).map_err(|e| e.to_string())?];
        std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset)
            .map_err(|e| e.to_string())?;
        Ok(std::borrow::Cow::Owned(buf))
    }

    /// The big-endian bytes of every value of `v`, record after record.
    fn raw(&self, v: &super::classic::Variable) -> Result<Vec<u8>, String> {
        // The header parser checked that this does not overflow.
        let one = v.elems.saturating_mul(v.value_size());
        if !v.record {
            return Ok(self.bytes(v.begin, one)?.into_owned());
        }
        let numrecs = self.header.numrecs.unwrap_or(0);
        let recsize = self.header.recsize.ok_or("the record size overflows")?;
        let mut out = Vec::new();
        for r in 0..numrecs {
            let at = r
                .checked_mul(recsize)
                .and_then(|o| o.checked_add(v.begin))
                .ok_or("record offset overflows")?;
            out.extend_from_slice(&self.bytes(at, one)?);
        }
        Ok(out)
    }

    fn variable(&self, name: &str) -> Result<&super::classic::Variable, String> {
        self.header
            .variable(&self.head, name)
            .ok_or_else(|| "absent".into())
    }

    fn attribute(&self, var: &str, attr: &str) -> Option<(u32, &[u8])> {
        let v = self.header.variable(&self.head, var)?;
        let a = self.header.attribute(&self.head, v, attr)?;
        Some((a.ty, self.head.get(a.values.clone())?))
    }
}

/// Big-endian values of `nc_type` `ty` as `f64` (`None` for text).
fn decode(ty: u32, b: &[u8]) -> Option<Vec<f64>> {
    fn each<const N: usize>(b: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        b.chunks_exact(N)
            .map(|c| f(c.try_into().unwrap_or([0; N])))
            .collect()
    }
    Some(match ty {
        1 => b.iter().map(|&x| f64::from(x as i8)).collect(),
        3 => each(b, |c| f64::from(i16::from_be_bytes(c))),
        4 => each(b, |c| f64::from(i32::from_be_bytes(c))),
        5 => each(b, |c| f64::from(f32::from_be_bytes(c))),
        6 => each(b, f64::from_be_bytes),
        7 => b.iter().map(|&x| f64::from(x)).collect(),
        8 => each(b, |c| f64::from(u16::from_be_bytes(c))),
        9 => each(b, |c| f64::from(u32::from_be_bytes(c))),
        10 => each(b, |c| i64::from_be_bytes(c) as f64),
        11 => each(b, |c| u64::from_be_bytes(c) as f64),
        _ => return None,
    })
}

impl Source for Classic {
    fn var(&self, name: &str) -> Option<Var> {
        let v = self.header.variable(&self.head, name)?;
        let kind = match v.ty {
            super::classic::NC_CHAR => Kind::Char,
            _ => Kind::Number,
        };
        let records = if v.record {
            self.header.numrecs.unwrap_or(0)
        } else {
            1
        };
        let len = v.elems.saturating_mul(records);
        Some(Var {
            kind,
            len: usize::try_from(len).unwrap_or(usize::MAX),
        })
    }

    fn numbers(&mut self, name: &str) -> Result<Vec<f64>, String> {
        let v = self.variable(name)?;
        decode(v.ty, &self.raw(v)?).ok_or_else(|| "not numeric".into())
    }

    fn chars(&mut self, name: &str) -> Result<Vec<u8>, String> {
        let v = self.variable(name)?;
        self.raw(v)
    }

    fn string(&mut self, _name: &str) -> Result<String, String> {
        Err("netCDF classic has no string variables".into())
    }

    fn text_attribute(&self, var: &str, attr: &str) -> Option<String> {
        let (ty, bytes) = self.attribute(var, attr)?;
        if ty != super::classic::NC_CHAR {
            return None;
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    fn number_attribute(&self, var: &str, attr: &str) -> Option<f64> {
        let (ty, bytes) = self.attribute(var, attr)?;
        decode(ty, bytes)?.first().copied()
    }
}

fn read_source(file: &mut impl Source) -> Result<NetcdfFacts, NetcdfError> {
    let mut facts = NetcdfFacts::default();
    read_time(file, &mut facts)?;
    read_place(file, &mut facts)?;
    Ok(facts)
}

fn read_time(file: &mut impl Source, facts: &mut NetcdfFacts) -> Result<(), NetcdfError> {
    let reference = reference_date_time(file, &mut facts.notes)?;
    let mut tried = Vec::new();
    for name in ["JULD", "JULD_LOCATION"] {
        let Some(var) = file.var(name) else {
            tried.push(format!("{name} absent"));
            continue;
        };
        let values = numbers(file, var, name)?;
        let (scale_ms, base) = match file.text_attribute(name, "units") {
            Some(units) => {
                let (scale_ms, base) = parse_units(&units).ok_or_else(|| NetcdfError::Units {
                    var: name.into(),
                    units: units.clone(),
                })?;
                if let Some(r) = reference
                    && r != base
                {
                    facts.notes.push(format!(
                        "{name} units `{units}` disagree with REFERENCE_DATE_TIME {r}; the units are used"
                    ));
                }
                (scale_ms, base)
            }
            None => (MS_PER_DAY, reference.unwrap_or_else(default_reference)),
        };
        let fill = file
            .number_attribute(name, "_FillValue")
            .unwrap_or(JULD_FILL);
        // JULD_QC applies to JULD only; the location time has no QC of its own.
        let qc = if name == "JULD" {
            qc_flags(file, "JULD_QC", values.len(), &mut facts.notes)?
        } else {
            None
        };
        let (mut fills, mut nans, mut flagged, mut implausible) = (0, 0, 0, 0);
        let mut times = Vec::new();
        for (i, &d) in values.iter().enumerate() {
            if !d.is_finite() {
                nans += 1;
            } else if d == fill || d == JULD_FILL {
                fills += 1;
            } else if qc.as_ref().is_some_and(|q| q.get(i) == Some(&b'9')) {
                flagged += 1;
            } else {
                match offset_to_time(base, d, scale_ms) {
                    Some(t) => times.push(t),
                    None => implausible += 1,
                }
            }
        }
        let skipped = [
            (nans, "not a number"),
            (fills, "fill value"),
            (flagged, "JULD_QC 9 (missing)"),
            (implausible, "outside 1900-2200"),
        ];
        for (n, why) in skipped {
            if n > 0 {
                facts
                    .notes
                    .push(format!("{n} {name} value(s) skipped: {why}"));
            }
        }
        if times.is_empty() {
            tried.push(format!("{name} has no usable value"));
            continue;
        }
        facts.temporal = Temporal::from_times(times);
        facts.time_variable = Some(name);
        return Ok(());
    }
    facts
        .notes
        .push(format!("time unknown: {}", tried.join(", ")));
    Ok(())
}

fn read_place(file: &mut impl Source, facts: &mut NetcdfFacts) -> Result<(), NetcdfError> {
    let (Some(lat), Some(lon)) = (file.var("LATITUDE"), file.var("LONGITUDE")) else {
        facts
            .notes
            .push("place unknown: LATITUDE and LONGITUDE are not both present".into());
        return Ok(());
    };
    let lats = numbers(file, lat, "LATITUDE")?;
    let lons = numbers(file, lon, "LONGITUDE")?;
    if lats.len() != lons.len() {
        facts.notes.push(format!(
            "LATITUDE has {} values, LONGITUDE {}: only the first {} pairs are used",
            lats.len(),
            lons.len(),
            lats.len().min(lons.len())
        ));
    }
    let lat_fill = file
        .number_attribute("LATITUDE", "_FillValue")
        .unwrap_or(POSITION_FILL);
    let lon_fill = file
        .number_attribute("LONGITUDE", "_FillValue")
        .unwrap_or(POSITION_FILL);
    let qc = qc_flags(file, "POSITION_QC", lats.len(), &mut facts.notes)?;
    let mut skipped = 0;
    let mut positions = Vec::new();
    for (i, (&la, &lo)) in lats.iter().zip(&lons).enumerate() {
        let missing = la == lat_fill
            || lo == lon_fill
            || la == POSITION_FILL
            || lo == POSITION_FILL
            || qc.as_ref().is_some_and(|q| q.get(i) == Some(&b'9'));
        if missing {
            skipped += 1;
        } else {
            // Geometry::from_positions skips non-finite and out-of-range values.
            positions.push((lo, la));
        }
    }
    if skipped > 0 {
        facts.notes.push(format!(
            "{skipped} position(s) skipped: fill value or POSITION_QC 9"
        ));
    }
    facts.geometry = Geometry::from_positions(positions);
    if facts.geometry.is_none() {
        facts
            .notes
            .push("place unknown: no valid LATITUDE/LONGITUDE pair".into());
    }
    Ok(())
}

fn default_reference() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_REFERENCE)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// `REFERENCE_DATE_TIME` when present and filled.
fn reference_date_time(
    file: &mut impl Source,
    notes: &mut Vec<String>,
) -> Result<Option<DateTime<Utc>>, NetcdfError> {
    const NAME: &str = "REFERENCE_DATE_TIME";
    let Some(var) = file.var(NAME) else {
        return Ok(None);
    };
    let read_err = |reason: String| NetcdfError::Read {
        var: NAME.into(),
        reason,
    };
    let text = match var.kind {
        Kind::Char => {
            check_len(var, NAME)?;
            String::from_utf8_lossy(&file.chars(NAME).map_err(read_err)?).into_owned()
        }
        Kind::String if var.len == 1 => file.string(NAME).map_err(read_err)?,
        _ => {
            notes.push("REFERENCE_DATE_TIME is not a character variable; ignored".into());
            return Ok(None);
        }
    };
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if text.is_empty() {
        notes.push("REFERENCE_DATE_TIME is empty; 1950-01-01 00:00:00 UTC assumed".into());
        return Ok(None);
    }
    NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
        .map(|t| Some(t.and_utc()))
        .map_err(|_| NetcdfError::Reference(text.to_string()))
}

/// One QC flag per value, when the flag variable exists and has that many.
fn qc_flags(
    file: &mut impl Source,
    name: &str,
    expected: usize,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, NetcdfError> {
    let Some(var) = file.var(name) else {
        return Ok(None);
    };
    if var.kind != Kind::Char {
        notes.push(format!("{name} is not a character variable; ignored"));
        return Ok(None);
    }
    check_len(var, name)?;
    let raw = file.chars(name).map_err(|reason| NetcdfError::Read {
        var: name.into(),
        reason,
    })?;
    if raw.len() != expected {
        notes.push(format!(
            "{name} has {} flags for {expected} values; ignored",
            raw.len()
        ));
        return Ok(None);
    }
    Ok(Some(raw))
}

fn check_len(var: Var, name: &str) -> Result<(), NetcdfError> {
    if var.len > MAX_VALUES {
        return Err(NetcdfError::TooLarge {
            var: name.into(),
            len: var.len,
        });
    }
    Ok(())
}

/// All values of a numeric variable as `f64`.
fn numbers(file: &mut impl Source, var: Var, name: &str) -> Result<Vec<f64>, NetcdfError> {
    if var.kind != Kind::Number {
        return Err(NetcdfError::NotNumeric { var: name.into() });
    }
    check_len(var, name)?;
    if var.len == 0 {
        return Ok(Vec::new());
    }
    file.numbers(name).map_err(|reason| NetcdfError::Read {
        var: name.into(),
        reason,
    })
}

/// `<unit> since <date>[ <time>][ UTC|Z|+00:00]` → (milliseconds per unit, reference).
/// Only UTC references are accepted: a time zone offset other than zero is refused
/// rather than guessed.
pub fn parse_units(units: &str) -> Option<(i64, DateTime<Utc>)> {
    let (unit, since) = units.trim().split_once(" since ")?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "days" | "day" | "d" => 86_400_000,
        "hours" | "hour" | "h" => 3_600_000,
        "minutes" | "minute" | "min" => 60_000,
        "seconds" | "second" | "s" | "sec" => 1_000,
        _ => return None,
    };
    let mut s = since.trim().to_string();
    for suffix in [
        " UTC", " utc", " GMT", "Z", "+00:00", " +00:00", "+0000", " 00:00",
    ] {
        if let Some(rest) = s.strip_suffix(suffix) {
            s = rest.trim_end().to_string();
            break;
        }
    }
    let s = s.replace('T', " ");
    let t = NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Some((scale, t.and_utc()))
}

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// `base + days`, converted with integer-millisecond precision and rounded to the
/// nearest whole second (half away from zero). `None` when out of the plausible range.
pub fn days_to_time(base: DateTime<Utc>, days: f64) -> Option<DateTime<Utc>> {
    offset_to_time(base, days, MS_PER_DAY)
}

/// `base + value` units of `ms_per_unit` milliseconds, as [`days_to_time`].
pub fn offset_to_time(base: DateTime<Utc>, value: f64, ms_per_unit: i64) -> Option<DateTime<Utc>> {
    let ms = value * ms_per_unit as f64;
    // 1e16 ms is ~300,000 years: beyond it the value is meaningless (and i64 is near).
    if !ms.is_finite() || ms.abs() > 1e16 {
        return None;
    }
    let ms = ms.round() as i64;
    let secs = if ms >= 0 {
        (ms + 500) / 1000
    } else {
        -((-ms + 500) / 1000)
    };
    let t = base.checked_add_signed(TimeDelta::try_seconds(secs)?)?;
    PLAUSIBLE_YEARS.contains(&t.year()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn days_are_rounded_to_the_second() {
        let base = default_reference();
        assert_eq!(
            days_to_time(base, 26405.408333333333),
            Some(t("2022-04-18T09:48:00Z"))
        );
        // 05:44:42.99999... is 05:44:43, not 05:44:42.
        assert_eq!(
            days_to_time(base, 24980.239386574016),
            Some(t("2018-05-24T05:44:43Z"))
        );
        assert_eq!(days_to_time(base, 0.0), Some(t("1950-01-01T00:00:00Z")));
        assert_eq!(days_to_time(base, -1.0), Some(t("1949-12-31T00:00:00Z")));
        assert_eq!(days_to_time(base, f64::NAN), None);
        assert_eq!(days_to_time(base, 999_999.0), None, "year 4687");
        assert_eq!(days_to_time(base, 1e300), None);
    }

    #[test]
    fn units_are_parsed() {
        let r = t("1950-01-01T00:00:00Z");
        for u in [
            "days since 1950-01-01 00:00:00 UTC",
            "days since 1950-01-01T00:00:00Z",
            "days since 1950-01-01",
            "days since 1950-01-01 00:00",
        ] {
            assert_eq!(parse_units(u), Some((86_400_000, r)), "{u}");
        }
        assert_eq!(
            parse_units("seconds since 1970-01-01 00:00:00"),
            Some((1000, DateTime::<Utc>::UNIX_EPOCH))
        );
        assert_eq!(parse_units("days since 1950-01-01 00:00:00 +02:00"), None);
        assert_eq!(parse_units("degree_north"), None);
        assert_eq!(parse_units("fortnights since 1950-01-01"), None);
    }
}
