//! The two readers of a netCDF file behind [`Source`]: libnetcdf, and this crate's
//! classic-format header parser.

use crate::formats::classic;

use super::rules::{Kind, Source, Var};

/// A file opened by libnetcdf.
pub(super) struct Lib<'a>(pub &'a netcdf::File);

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
pub(super) struct Classic {
    pub header: classic::Header,
    /// The first bytes of the file: the whole header, and the whole file when `file`
    /// is `None`.
    pub head: Vec<u8>,
    pub file: Option<std::fs::File>,
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
    fn raw(&self, v: &classic::Variable) -> Result<Vec<u8>, String> {
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

    fn variable(&self, name: &str) -> Result<&classic::Variable, String> {
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
            classic::NC_CHAR => Kind::Char,
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
        if ty != classic::NC_CHAR {
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
