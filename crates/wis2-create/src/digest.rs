//! Integrity digests of data files, fast and in constant memory.
//!
//! Large files are read on a second thread while this one hashes, through a fixed
//! pool of [`BUFFERS`] buffers of [`CHUNK`] bytes (4 MiB in all, whatever the file
//! size), so reading and hashing overlap. The digests are [`wis2::hash`]'s: SHA-2
//! through OpenSSL's libcrypto (the code `openssl speed` measures; `bench/hash.sh`:
//! 98 % of `openssl speed -evp sha512` on a 1 GiB file, where `ring`'s SHA-512 made
//! 88 %), SHA-3 through the `sha3` crate.

use std::io::{self, Read};
use std::sync::mpsc;

use wis2::hash::{Digested, Integrity, Method};

/// Size of one read.
pub const CHUNK: usize = 1 << 20;
/// Buffers in flight between the reader thread and the hasher.
pub const BUFFERS: usize = 4;

/// An incremental digest of one of the six WNM methods.
pub struct FastHasher(wis2::hash::Hasher, Method);

impl FastHasher {
    pub fn new(method: Method) -> Self {
        FastHasher(method.hasher(), method)
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The integrity (base64 digest) of everything fed.
    pub fn finish(self) -> Integrity {
        Integrity::from_digest(self.1, &self.0.finalize())
    }
}

/// The integrity of bytes in memory.
pub fn digest_bytes(method: Method, data: &[u8]) -> Integrity {
    let mut h = FastHasher::new(method);
    h.update(data);
    h.finish()
}

/// Fills `buf` as far as the reader allows; returns how many bytes were read (less
/// than `buf.len()` only at the end).
fn fill<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Hashes everything `reader` yields. `size_hint` (the file size) decides whether a
/// reader thread is worth it: sources up to two chunks are read on this thread.
pub fn digest_reader<R: Read + Send>(
    method: Method,
    mut reader: R,
    size_hint: u64,
) -> io::Result<Digested> {
    if size_hint <= 2 * CHUNK as u64 {
        let mut h = FastHasher::new(method);
        let mut buf = vec![0u8; (size_hint as usize).clamp(8192, CHUNK)];
        let mut length = 0u64;
        loop {
            let n = fill(&mut reader, &mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            length += n as u64;
        }
        return Ok(Digested {
            integrity: h.finish(),
            length,
        });
    }
    std::thread::scope(|s| {
        let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<(Vec<u8>, usize)>>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        for _ in 0..BUFFERS {
            // The receiver is alive here: sending cannot fail.
            let _ = empty_tx.send(vec![0u8; CHUNK]);
        }
        s.spawn(move || {
            // Ends when the file ends, on an error, or when the hasher is gone.
            while let Ok(mut buf) = empty_rx.recv() {
                let r = fill(&mut reader, &mut buf);
                let done = !matches!(r, Ok(n) if n > 0);
                if full_tx.send(r.map(|n| (buf, n))).is_err() || done {
                    return;
                }
            }
        });
        let mut h = FastHasher::new(method);
        let mut length = 0u64;
        loop {
            match full_rx.recv() {
                Ok(Ok((_, 0))) => break,
                Ok(Ok((buf, n))) => {
                    h.update(&buf[..n]);
                    length += n as u64;
                    // The reader may have stopped already: then the buffer is dropped.
                    let _ = empty_tx.send(buf);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::other(
                        "the reader thread stopped before the end of the file",
                    ));
                }
            }
        }
        Ok(Digested {
            integrity: h.finish(),
            length,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_equals_one_shot_for_every_method() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        for m in Method::ALL {
            let want = Integrity::of_bytes(m, &data);
            let d = digest_reader(m, &data[..], data.len() as u64).expect("pipelined");
            assert_eq!(d.integrity, want, "{m}");
            assert_eq!(d.length, data.len() as u64);
            // A wrong size hint only changes the strategy.
            let d = digest_reader(m, &data[..], 0).expect("single thread");
            assert_eq!(d.integrity, want, "{m}");
            assert_eq!(digest_bytes(m, &data), want, "{m}");
        }
    }

    #[test]
    fn read_errors_surface() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let e = digest_reader(Method::Sha512, Failing(3 * CHUNK + 7), u64::MAX).expect_err("error");
        assert!(e.to_string().contains("disk on fire"));
        let e = digest_reader(Method::Sha256, Failing(10), 10).expect_err("error");
        assert!(e.to_string().contains("disk on fire"));
    }
}
