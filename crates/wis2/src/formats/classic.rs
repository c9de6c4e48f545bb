//! The header of netCDF classic files (CDF-1, CDF-2, CDF-5): how long the file must
//! be, and where each variable's values are (the Argo reader reads them from there).
//!
//! libnetcdf opens a classic file whose data were cut off (still being written, or a
//! transfer that stopped) and returns zeros for the missing bytes: `JULD = 0` would be
//! published as 1950-01-01T00:00:00Z at 0°N 0°E. It even opens some files whose header
//! is cut. So before any value is read, the header is parsed here (format in the
//! netCDF User Guide, "The NetCDF Classic Format Specification") and the file size is
//! compared with the end of the last variable's data. The same parse gives each
//! variable's type, shape, offset and attributes, from which
//! [`super::netcdf`] reads Argo's few variables without libnetcdf.

use std::ops::Range;

/// How far a classic header says the data go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Bytes of the header (up to the first byte of data).
    pub header_len: u64,
    /// The smallest file size that holds every variable's data.
    pub min_file_len: u64,
}

/// Why a header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The header goes on past the bytes given: read more, or the file is truncated.
    NeedMore,
    /// The header is inconsistent.
    Damaged(String),
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    /// CDF-5 uses 64-bit counts and sizes.
    wide: bool,
}

impl Cursor<'_> {
    fn u32(&mut self) -> Result<u32, HeaderError> {
        let s = self
            .b
            .get(self.at..self.at + 4)
            .ok_or(HeaderError::NeedMore)?;
        self.at += 4;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, HeaderError> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Ok(hi << 32 | lo)
    }

    /// A count or length: 32 bits, 64 in CDF-5.
    fn count(&mut self) -> Result<u64, HeaderError> {
        if self.wide {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    fn skip(&mut self, n: u64) -> Result<(), HeaderError> {
        let end = n
            .checked_next_multiple_of(4)
            .and_then(|padded| (self.at as u64).checked_add(padded))
            .ok_or_else(|| damaged(&format!("a length of {n} bytes overflows")))?;
        if end > self.b.len() as u64 {
            return Err(HeaderError::NeedMore);
        }
        self.at = end as usize;
        Ok(())
    }

    /// A name: where its bytes are.
    fn name(&mut self) -> Result<Range<usize>, HeaderError> {
        let n = self.count()?;
        if n == 0 || n > 256 * 1024 {
            return Err(damaged(&format!("a name of {n} bytes")));
        }
        let start = self.at;
        self.skip(n)?;
        Ok(start..start + n as usize)
    }

    /// `ABSENT` or `tag nelems`: the number of elements.
    fn list(&mut self, tag: u32, what: &str) -> Result<u64, HeaderError> {
        let t = self.u32()?;
        let n = self.count()?;
        match t {
            0 if n == 0 => Ok(0),
            t if t == tag => Ok(n),
            _ => Err(damaged(&format!("bad {what} list tag {t:#x}"))),
        }
    }

    /// An attribute list, appended to `attrs` when given; returns where they are in it.
    fn attributes(
        &mut self,
        mut attrs: Option<&mut Vec<Attribute>>,
    ) -> Result<Range<usize>, HeaderError> {
        let n = self.list(0x0C, "attribute")?;
        let first = attrs.as_ref().map_or(0, |a| a.len());
        for _ in 0..n {
            let name = self.name()?;
            let ty = self.u32()?;
            let len = self.count()?;
            let size = type_size(ty, self.wide)?;
            let start = self.at;
            let bytes = len
                .checked_mul(size)
                .ok_or_else(|| damaged("attribute size"))?;
            self.skip(bytes)?;
            if let Some(a) = attrs.as_deref_mut() {
                a.push(Attribute {
                    name,
                    ty,
                    values: start..start + bytes as usize,
                });
            }
        }
        Ok(first..attrs.map_or(0, |a| a.len()))
    }
}

fn damaged(what: &str) -> HeaderError {
    HeaderError::Damaged(what.to_string())
}

/// The `nc_type` of text.
pub const NC_CHAR: u32 = 2;

/// An attribute of a variable: where its name and values are in the header bytes
/// (no allocation per name), and its `nc_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: Range<usize>,
    pub ty: u32,
    pub values: std::ops::Range<usize>,
}

/// A variable of a classic file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Where its name is in the header bytes.
    pub name: Range<usize>,
    /// `nc_type`: 1 byte, 2 char, 3 short, 4 int, 5 float, 6 double; CDF-5 adds 7
    /// ubyte, 8 ushort, 9 uint, 10 int64, 11 uint64.
    pub ty: u32,
    /// Values in one record (a record variable) or in all (any other).
    pub elems: u64,
    /// Offset of its first value in the file.
    pub begin: u64,
    /// Its first dimension is the unlimited one.
    pub record: bool,
    /// Its attributes in [`Header::attributes`].
    pub attributes: Range<usize>,
}

impl Variable {
    /// Bytes of one value.
    pub fn value_size(&self) -> u64 {
        type_size(self.ty, true).unwrap_or(1)
    }
}

/// A parsed classic header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 1, 2 or 5.
    pub version: u8,
    /// Number of records; `None` while the file is being streamed (unknown).
    pub numrecs: Option<u64>,
    /// Bytes from one record to the next.
    pub recsize: Option<u64>,
    pub variables: Vec<Variable>,
    /// The attributes of every variable (global attributes are not kept).
    pub attributes: Vec<Attribute>,
    pub extent: Extent,
}

impl Header {
    /// The variable `name`; `b` are the bytes given to [`parse`].
    pub fn variable(&self, b: &[u8], name: &str) -> Option<&Variable> {
        self.variables
            .iter()
            .find(|v| b.get(v.name.clone()) == Some(name.as_bytes()))
    }

    /// The attribute `name` of `v`; `b` are the bytes given to [`parse`].
    pub fn attribute(&self, b: &[u8], v: &Variable, name: &str) -> Option<&Attribute> {
        self.attributes
            .get(v.attributes.clone())?
            .iter()
            .find(|a| b.get(a.name.clone()) == Some(name.as_bytes()))
    }
}

fn type_size(ty: u32, wide: bool) -> Result<u64, HeaderError> {
    Ok(match ty {
        1 | 2 => 1,
        3 => 2,
        4 | 5 => 4,
        6 => 8,
        7 if wide => 1,
        8 if wide => 2,
        9 if wide => 4,
        10 | 11 if wide => 8,
        _ => return Err(damaged(&format!("unknown type {ty}"))),
    })
}

/// How long a classic file must be, from its first bytes.
pub fn extent(b: &[u8]) -> Result<Extent, HeaderError> {
    parse(b).map(|h| h.extent)
}

/// Parses a classic header from the first bytes of a file.
pub fn parse(b: &[u8]) -> Result<Header, HeaderError> {
    if b.len() < 4 {
        return Err(HeaderError::NeedMore);
    }
    if &b[..3] != b"CDF" {
        return Err(damaged("no CDF magic"));
    }
    let version = b[3];
    let wide = version == 5;
    let offsets64 = version != 1;
    if !matches!(version, 1 | 2 | 5) {
        return Err(damaged(&format!("unknown version {version}")));
    }
    let mut c = Cursor { b, at: 4, wide };
    let numrecs = c.count()?;
    let streaming = if wide {
        numrecs == u64::MAX
    } else {
        numrecs == u64::from(u32::MAX)
    };

    let ndims = c.list(0x0A, "dimension")?;
    if ndims > 65_536 {
        return Err(damaged(&format!("{ndims} dimensions")));
    }
    // Capacities are capped: a few header bytes can claim any count, and the loops
    // below stop at the first element the bytes do not hold.
    let mut dims = Vec::with_capacity(ndims.min(1024) as usize);
    for _ in 0..ndims {
        c.name()?;
        dims.push(c.count()?);
    }
    c.attributes(None)?;

    let nvars = c.list(0x0B, "variable")?;
    if nvars > 1_000_000 {
        return Err(damaged(&format!("{nvars} variables")));
    }
    let mut vars = Vec::with_capacity(nvars.min(1024) as usize);
    let mut attrs = Vec::new();
    for _ in 0..nvars {
        let name = c.name()?;
        let nd = c.count()?;
        if nd > 1024 {
            return Err(damaged(&format!("a variable with {nd} dimensions")));
        }
        let mut record = false;
        let mut elems: u64 = 1;
        for i in 0..nd {
            let id = c.count()?;
            let len = *dims
                .get(usize::try_from(id).unwrap_or(usize::MAX))
                .ok_or_else(|| damaged(&format!("dimension id {id} of {ndims}")))?;
            if len == 0 && i == 0 {
                record = true;
            } else {
                elems = elems
                    .checked_mul(len)
                    .ok_or_else(|| damaged("variable size overflows"))?;
            }
        }
        let attributes = c.attributes(Some(&mut attrs))?;
        let ty = c.u32()?;
        let size = type_size(ty, wide)?;
        let _vsize = c.count()?;
        let begin = if offsets64 {
            c.u64()?
        } else {
            u64::from(c.u32()?)
        };
        elems
            .checked_mul(size)
            .ok_or_else(|| damaged("variable size overflows"))?;
        vars.push(Variable {
            name,
            ty,
            elems,
            begin,
            record,
            attributes,
        });
    }
    let header_len = c.at as u64;
    // Checked above.
    let bytes_of = |v: &Variable| v.elems.saturating_mul(v.value_size());

    let recvars: Vec<_> = vars.iter().filter(|v| v.record).collect();
    // Records are padded to 4 bytes, except when there is exactly one record variable.
    // `None` when a record's size overflows: an error only if a second record is there.
    let recsize: Option<u64> = if recvars.len() == 1 {
        Some(bytes_of(recvars[0]))
    } else {
        recvars.iter().try_fold(0u64, |sum, v| {
            sum.checked_add(bytes_of(v).checked_next_multiple_of(4)?)
        })
    };
    let mut min_file_len = header_len;
    for v in &vars {
        let (begin, bytes, record) = (v.begin, bytes_of(v), v.record);
        if begin < header_len {
            return Err(damaged(&format!(
                "data begin at byte {begin}, inside the {header_len}-byte header"
            )));
        }
        let end = if record {
            if streaming || numrecs == 0 {
                continue;
            }
            match numrecs - 1 {
                0 => Some(0),
                more => recsize.and_then(|r| more.checked_mul(r)),
            }
            .and_then(|r| r.checked_add(begin))
            .and_then(|r| r.checked_add(bytes))
        } else {
            begin.checked_add(bytes)
        }
        .ok_or_else(|| damaged("data end overflows"))?;
        min_file_len = min_file_len.max(end);
    }
    Ok(Header {
        version,
        numrecs: (!streaming).then_some(numrecs),
        recsize,
        variables: vars,
        attributes: attrs,
        extent: Extent {
            header_len,
            min_file_len,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_odd_headers() {
        assert_eq!(extent(b"CD"), Err(HeaderError::NeedMore));
        assert_eq!(extent(b"CDF\x01\0\0\0\0"), Err(HeaderError::NeedMore));
        assert!(matches!(
            extent(b"CDF\x03\0\0\0\0"),
            Err(HeaderError::Damaged(_))
        ));
        // Empty file: no dims, no attributes, no variables.
        let empty = [b"CDF\x01".as_slice(), &[0u8; 28]].concat();
        assert_eq!(
            extent(&empty),
            Ok(Extent {
                header_len: 32,
                min_file_len: 32
            })
        );
        // Bad list tag.
        let bad = b"CDF\x01\0\0\0\0\0\0\0\x07\0\0\0\x01";
        assert!(matches!(extent(bad), Err(HeaderError::Damaged(_))));
    }

    /// CDF-5 header bytes: counts and sizes are 64-bit.
    fn cdf5(parts: &[&[u8]]) -> Vec<u8> {
        [b"CDF\x05".as_slice()]
            .iter()
            .chain(parts)
            .flat_map(|p| p.iter().copied())
            .collect()
    }

    fn be32(v: u32) -> [u8; 4] {
        v.to_be_bytes()
    }

    fn be64(v: u64) -> [u8; 8] {
        v.to_be_bytes()
    }

    #[test]
    fn an_attribute_longer_than_any_file_is_damage_not_a_panic() {
        // Found by fuzzing (fuzz target `classic`): a CDF-5 attribute of u64::MAX
        // bytes overflowed while padding its length to 4 bytes.
        let b = cdf5(&[
            &be64(0),        // numrecs
            &be32(0),        // no dimensions
            &be64(0),        //
            &be32(0x0C),     // global attributes: 1
            &be64(1),        //
            &be64(1),        // name of 1 byte, padded
            b"a\0\0\0",      //
            &be32(7),        // NC_UBYTE
            &be64(u64::MAX), // u64::MAX values
        ]);
        match extent(&b) {
            Err(HeaderError::Damaged(why)) => assert!(why.contains("overflows"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A length that does not overflow but is not there: read more.
        let mut b = b;
        let n = b.len();
        b[n - 8..].copy_from_slice(&be64(1 << 40));
        assert_eq!(extent(&b), Err(HeaderError::NeedMore));
    }

    #[test]
    fn record_sizes_that_overflow_are_damage_not_a_panic() {
        // Two record variables of 2^63 bytes per record each: their padded sum, the
        // record size, overflows u64. One record is still a (huge) valid extent; two
        // records are damage.
        let var = |begin: u64| -> Vec<u8> {
            [
                &be64(1)[..], // name
                b"v\0\0\0",   //
                &be64(2),     // 2 dimensions: the record one and x
                &be64(0),     //
                &be64(1),     //
                &be32(0),     // no attributes
                &be64(0),     //
                &be32(1),     // NC_BYTE
                &be64(0),     // vsize
                &be64(begin), // begin
            ]
            .concat()
        };
        let header = |numrecs: u64| {
            cdf5(&[
                &be64(numrecs),
                &be32(0x0A), // dimensions: 2
                &be64(2),
                &be64(1), // t, the record dimension
                b"t\0\0\0",
                &be64(0),
                &be64(1), // x, of 2^63
                b"x\0\0\0",
                &be64(1 << 63),
                &be32(0), // no global attributes
                &be64(0),
                &be32(0x0B), // variables: 2
                &be64(2),
                &var(1000),
                &var(2000),
            ])
        };
        let one = extent(&header(1)).expect("one record");
        assert_eq!(one.min_file_len, 2000 + (1 << 63));
        match extent(&header(2)) {
            Err(HeaderError::Damaged(why)) => assert!(why.contains("overflows"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545F4914F6CDD1Du64;
        for len in 0..400 {
            let mut b = b"CDF\x01".to_vec();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly small numbers, as in real headers.
                b.push(if seed.is_multiple_of(3) {
                    (seed >> 8) as u8
                } else {
                    0
                });
            }
            let _ = extent(&b);
            b[3] = 5;
            let _ = extent(&b);
        }
    }
}
