//! Argo netCDF: time from `JULD` (or `JULD_LOCATION`), place from `LATITUDE`/`LONGITUDE`.
//!
//! Two readers (`sources`), one set of rules (`rules`):
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

mod rules;
mod sources;

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError, mpsc};

pub use rules::{
    DEFAULT_REFERENCE, JULD_FILL, MS_PER_DAY, NetcdfError, NetcdfFacts, POSITION_FILL,
    days_to_time, offset_to_time, parse_units,
};

use rules::read_source;
use sources::{Classic, Lib};

/// Serialises every call into libnetcdf (not thread-safe) made by this crate; held by
/// [`on_netcdf_thread`] around each job.
pub static NC_LOCK: Mutex<()> = Mutex::new(());

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
