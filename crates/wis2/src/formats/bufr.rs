//! BUFR (WMO FM 94) headers: sections 0 and 1 only, parsed by hand.
//!
//! There is no well-kept pure-Rust BUFR decoder to depend on, and binding ecCodes
//! would bring a large C library and its tables into a crate that only needs the
//! typical date/time of each message. Sections 0 and 1 have a fixed layout per edition,
//! so they are read here directly; section 4 (the data) is never decoded, hence no
//! geometry from BUFR.
//!
//! What is handled: an optional GTS abbreviated heading before `BUFR`, several
//! messages per file (with or without bytes between them), trailing bytes after the
//! last `7777`, editions 2, 3 and 4. Every length is checked against the bytes really
//! there; a damaged message is an error naming its byte offset, unless earlier messages
//! were read, in which case those are used and the damage is reported as a warning.
//! A file that ends inside a message is always an error, wherever the cut: it is
//! incomplete (still being written, or cut in transfer), and announcing it would send
//! users a broken file.

use chrono::{DateTime, NaiveDate, Utc};

use super::sniff::find;

/// Where the first `BUFR` may start (a GTS heading may precede it).
pub const FIRST_INDICATOR_WINDOW: usize = super::sniff::INDICATOR_WINDOW;

/// Typical years outside this range are taken as damage, not data (a missing year in
/// edition 4 is all ones: 65535).
pub const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 1850..=2500;

/// What sections 0 and 1 of one message say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufrMessage {
    /// Byte offset of `BUFR` in the file.
    pub offset: usize,
    /// Total length from section 0, `BUFR` to `7777` inclusive.
    pub length: usize,
    /// BUFR edition (2, 3 or 4).
    pub edition: u8,
    /// Originating centre (common code table C-11).
    pub centre: u16,
    /// Originating sub-centre.
    pub sub_centre: u16,
    /// Data category (BUFR table A).
    pub data_category: u8,
    /// Typical date/time of the message content (section 1), UTC.
    pub typical_time: DateTime<Utc>,
}

/// Every message read from a file, and what was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BufrScan {
    pub messages: Vec<BufrMessage>,
    /// Damage after the last good message, trailing bytes, ...
    pub warnings: Vec<String>,
}

/// Why a BUFR file cannot be dated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BufrError {
    #[error(
        "no BUFR message: `BUFR` followed by an edition 2-4 indicator is not in the first {FIRST_INDICATOR_WINDOW} bytes; send a BUFR file (a GTS heading before `BUFR` is fine)"
    )]
    NoIndicator,
    #[error(
        "BUFR message at byte {offset} declares {declared} bytes but only {available} remain: the file is truncated; send the complete file"
    )]
    Truncated {
        offset: usize,
        declared: usize,
        available: usize,
    },
    #[error(
        "BUFR message at byte {offset} does not end with `7777` at byte {end_at} where its declared length puts the end: the length field or the message is damaged; re-encode the message"
    )]
    NoEndSection { offset: usize, end_at: usize },
    #[error(
        "BUFR message at byte {offset} is edition {edition}: only editions 2, 3 and 4 are read; re-encode it in edition 4"
    )]
    Edition { offset: usize, edition: u8 },
    #[error("BUFR message at byte {offset} has a bad section {section}: {reason}")]
    Section {
        offset: usize,
        section: u8,
        reason: String,
    },
    #[error(
        "BUFR message at byte {offset} has an impossible typical date/time {value} in section 1: fix the date in section 1 (year, month, day, hour, minute, second)"
    )]
    BadDate { offset: usize, value: String },
}

fn u24(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some((usize::from(s[0]) << 16) | (usize::from(s[1]) << 8) | usize::from(s[2]))
}

fn u16be(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Reads every message of a file held in memory.
///
/// The first `BUFR` must start within [`FIRST_INDICATOR_WINDOW`] bytes. After each
/// message the next `BUFR` is searched in what follows (GTS bulletins separate messages
/// with their own headings).
pub fn scan(bytes: &[u8]) -> Result<BufrScan, BufrError> {
    let mut out = BufrScan::default();
    let Some(mut pos) = first_indicator(bytes) else {
        return Err(BufrError::NoIndicator);
    };
    loop {
        match read_message(bytes, pos) {
            Ok(m) => {
                let end = pos + m.length;
                out.messages.push(m);
                match find(&bytes[end..], b"BUFR") {
                    Some(i) => pos = end + i,
                    None => {
                        let rest = &bytes[end..];
                        let meaningful = rest
                            .iter()
                            .filter(|b| !matches!(b, b'\r' | b'\n' | b'\x03' | b'\0' | b'N'))
                            .count();
                        if meaningful > 0 {
                            out.warnings.push(format!(
                                "{} trailing bytes after the last BUFR message (ends at byte {end}) were ignored",
                                rest.len()
                            ));
                        }
                        break;
                    }
                }
            }
            Err(e) if out.messages.is_empty() => return Err(e),
            Err(e @ BufrError::Truncated { .. }) => return Err(e),
            Err(e) => {
                out.warnings.push(format!(
                    "{e}; the {} message(s) before it are used",
                    out.messages.len()
                ));
                break;
            }
        }
    }
    Ok(out)
}

fn first_indicator(bytes: &[u8]) -> Option<usize> {
    let last = bytes.len().min(FIRST_INDICATOR_WINDOW + 3);
    let mut from = 0;
    while let Some(i) = find(&bytes[from..last], b"BUFR") {
        let at = from + i;
        if bytes.get(at + 7).is_some_and(|e| matches!(e, 2..=4)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Reads and checks one message starting at `offset`, where `BUFR` must be.
pub fn read_message(bytes: &[u8], offset: usize) -> Result<BufrMessage, BufrError> {
    let available = bytes.len().saturating_sub(offset);
    // Past this check `offset + 8 <= bytes.len()`: no sum below can overflow, whatever
    // offset the caller gave.
    let (true, Some(length), Some(&edition)) = (
        available >= 8,
        u24(bytes, offset.saturating_add(4)),
        bytes.get(offset.saturating_add(7)),
    ) else {
        return Err(BufrError::Truncated {
            offset,
            declared: 8,
            available,
        });
    };
    if bytes[offset..offset + 4] != *b"BUFR" {
        return Err(BufrError::Section {
            offset,
            section: 0,
            reason: "it does not start with `BUFR`".into(),
        });
    }
    if !matches!(edition, 2..=4) {
        return Err(BufrError::Edition { offset, edition });
    }
    // Section 0 (8) + shortest section 1 + section 3 (7) + section 4 (4) + `7777`.
    let min_s1 = if edition == 4 { 22 } else { 17 };
    if length < 8 + min_s1 + 7 + 4 + 4 {
        return Err(BufrError::Section {
            offset,
            section: 0,
            reason: format!(
                "total length {length} is too short for a BUFR message; the length field is damaged"
            ),
        });
    }
    if length > available {
        return Err(BufrError::Truncated {
            offset,
            declared: length,
            available,
        });
    }
    let end_at = offset + length - 4;
    if bytes.get(end_at..end_at + 4) != Some(b"7777".as_slice()) {
        return Err(BufrError::NoEndSection { offset, end_at });
    }
    let s1 = offset + 8;
    let s1_len = u24(bytes, s1).unwrap_or(0);
    if s1_len < min_s1 || 8 + s1_len > length - 4 {
        return Err(BufrError::Section {
            offset,
            section: 1,
            reason: format!(
                "length {s1_len} is outside {min_s1}..={} for edition {edition}",
                length - 12
            ),
        });
    }
    // Octet n of section 1 (1-based, as the Manual on Codes numbers them).
    let o = |n: usize| bytes.get(s1 + n - 1).copied().unwrap_or(0);
    let (centre, sub_centre, data_category, year, month, day, hour, minute, second);
    if edition == 4 {
        centre = u16be(bytes, s1 + 4).unwrap_or(0);
        sub_centre = u16be(bytes, s1 + 6).unwrap_or(0);
        data_category = o(11);
        year = i32::from(u16be(bytes, s1 + 15).unwrap_or(0));
        (month, day, hour, minute, second) = (o(18), o(19), o(20), o(21), o(22));
    } else {
        // Edition 3: octet 5 sub-centre, 6 centre; edition 2: octets 5-6 centre.
        if edition == 3 {
            centre = u16::from(o(6));
            sub_centre = u16::from(o(5));
        } else {
            centre = u16be(bytes, s1 + 4).unwrap_or(0);
            sub_centre = 0;
        }
        data_category = o(9);
        let yoc = o(13);
        year = match yoc {
            // The Manual on Codes codes 2000 as 100 in editions 2-3; some encoders
            // wrote 0. Years of century up to 50 are taken as 20xx (BUFR 3 is older
            // than 1950 nowhere).
            100 => 2000,
            0..=50 => 2000 + i32::from(yoc),
            51..=99 => 1900 + i32::from(yoc),
            _ => -1,
        };
        (month, day, hour, minute, second) = (o(14), o(15), o(16), o(17), 0);
    }
    let value = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    let bad = || BufrError::BadDate {
        offset,
        value: value.clone(),
    };
    if !PLAUSIBLE_YEARS.contains(&year) {
        return Err(bad());
    }
    let typical_time = NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day))
        .and_then(|d| d.and_hms_opt(u32::from(hour), u32::from(minute), u32::from(second)))
        .ok_or_else(bad)?
        .and_utc();
    Ok(BufrMessage {
        offset,
        length,
        edition,
        centre,
        sub_centre,
        data_category,
        typical_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal, well-formed edition 4 message with the given typical date.
    pub(crate) fn ed4(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Vec<u8> {
        let mut s1 = vec![0, 0, 22, 0, 0, 98, 0, 0, 0, 0, 0, 0, 0, 40, 0];
        s1.extend_from_slice(&y.to_be_bytes());
        s1.extend_from_slice(&[mo, d, h, mi, s]);
        let s3 = [0u8, 0, 9, 0, 0, 1, 0x80, 0xc1, 0x01];
        let s4 = [0u8, 0, 4, 0];
        let total = 8 + s1.len() + s3.len() + s4.len() + 4;
        let mut m = b"BUFR".to_vec();
        m.extend_from_slice(&[(total >> 16) as u8, (total >> 8) as u8, total as u8, 4]);
        m.extend_from_slice(&s1);
        m.extend_from_slice(&s3);
        m.extend_from_slice(&s4);
        m.extend_from_slice(b"7777");
        m
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn one_message_with_heading_and_trailer() {
        let mut f = b"ISMD01 LFPW 101200\r\r\n".to_vec();
        f.extend(ed4(2024, 2, 29, 12, 0, 30));
        f.extend_from_slice(b"\r\r\n\x03");
        let s = scan(&f).expect("scan");
        assert_eq!(s.messages.len(), 1);
        assert_eq!(s.messages[0].offset, 21);
        assert_eq!(s.messages[0].typical_time, t("2024-02-29T12:00:30Z"));
        assert_eq!(s.messages[0].centre, 98);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn impossible_month_is_an_error_not_a_date() {
        let e = scan(&ed4(2024, 13, 1, 0, 0, 0)).expect_err("month 13");
        assert_eq!(
            e,
            BufrError::BadDate {
                offset: 0,
                value: "2024-13-01T00:00:00".into()
            }
        );
        assert!(e.to_string().contains("byte 0"));
        assert!(scan(&ed4(2023, 2, 29, 0, 0, 0)).is_err(), "no 29 Feb 2023");
        assert!(scan(&ed4(2023, 1, 1, 24, 0, 0)).is_err(), "hour 24");
        assert!(scan(&ed4(65535, 1, 1, 0, 0, 0)).is_err(), "missing year");
    }

    #[test]
    fn truncated_first_message_names_the_offset() {
        let mut f = b"HEADER\r\r\n".to_vec();
        f.extend(ed4(2024, 1, 1, 0, 0, 0));
        f.truncate(f.len() - 10);
        let e = scan(&f).expect_err("truncated");
        assert!(matches!(e, BufrError::Truncated { offset: 9, .. }), "{e}");
        assert!(e.to_string().contains("byte 9"));
    }

    #[test]
    fn missing_end_section_names_the_offset() {
        let mut f = ed4(2024, 1, 1, 0, 0, 0);
        let n = f.len();
        f[n - 1] = b'6';
        let e = scan(&f).expect_err("no 7777");
        assert_eq!(
            e,
            BufrError::NoEndSection {
                offset: 0,
                end_at: n - 4
            }
        );
    }

    #[test]
    fn a_file_cut_after_a_good_message_is_truncated() {
        let mut f = ed4(2024, 1, 1, 6, 0, 0);
        let second = f.len();
        let mut m2 = ed4(2024, 1, 1, 12, 0, 0);
        m2.truncate(m2.len() - 3);
        f.extend(m2);
        let e = scan(&f).expect_err("cut inside the second message");
        assert!(
            matches!(e, BufrError::Truncated { offset, .. } if offset == second),
            "{e}"
        );
        // Cut inside the second message's section 0.
        f.truncate(second + 5);
        assert!(matches!(scan(&f), Err(BufrError::Truncated { .. })));
    }

    #[test]
    fn damage_after_a_good_message_keeps_what_is_known() {
        let mut f = ed4(2024, 1, 1, 6, 0, 0);
        let second = f.len();
        let mut m2 = ed4(2024, 1, 1, 12, 0, 0);
        let n = m2.len();
        m2[n - 1] = b'6';
        f.extend(m2);
        let s = scan(&f).expect("first message is good");
        assert_eq!(s.messages.len(), 1);
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].contains(&format!("byte {second}")),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn several_messages_and_trailing_junk() {
        let mut f = ed4(2024, 1, 1, 6, 0, 0);
        f.extend(ed4(2024, 1, 1, 18, 0, 0));
        f.extend_from_slice(b"some junk");
        let s = scan(&f).expect("scan");
        let times: Vec<_> = s.messages.iter().map(|m| m.typical_time).collect();
        assert_eq!(
            times,
            vec![t("2024-01-01T06:00:00Z"), t("2024-01-01T18:00:00Z")]
        );
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    }

    #[test]
    fn edition_3_year_of_century() {
        // Section 0 + an 18-octet edition 3 section 1: year of century 12 -> 2012.
        let mut m = b"BUFR\0\0\0\x03".to_vec();
        m.extend_from_slice(&[0, 0, 18, 0, 0, 98, 0, 0, 31, 0, 13, 0, 12, 10, 30, 20, 9, 0]);
        m.extend_from_slice(&[0, 0, 8, 0, 0, 1, 0x80, 0]);
        m.extend_from_slice(&[0, 0, 4, 0]);
        m.extend_from_slice(b"7777");
        let n = m.len();
        m[6] = n as u8;
        let s = scan(&m).expect("scan");
        assert_eq!(s.messages[0].edition, 3);
        assert_eq!(s.messages[0].centre, 98);
        assert_eq!(s.messages[0].data_category, 31);
        assert_eq!(s.messages[0].typical_time, t("2012-10-30T20:09:00Z"));
    }

    #[test]
    fn an_offset_past_the_bytes_is_truncation_not_a_panic() {
        // Found by fuzzing (fuzz target `bufr`): an offset near usize::MAX overflowed
        // while locating section 0.
        let m = ed4(2024, 1, 1, 0, 0, 0);
        for offset in [
            usize::MAX,
            usize::MAX - 4,
            usize::MAX - 7,
            m.len(),
            m.len() + 1,
        ] {
            assert_eq!(
                read_message(&m, offset),
                Err(BufrError::Truncated {
                    offset,
                    declared: 8,
                    available: 0
                }),
                "offset {offset}"
            );
        }
        assert!(read_message(&m, 0).is_ok());
    }

    #[test]
    fn a_message_must_start_with_its_indicator() {
        // Found by fuzzing (fuzz target `bufr`): read at an offset where `BUFR` is
        // not, a message whose other fields fit was accepted.
        let mut f = b"\0\0FR".to_vec();
        f.extend(&ed4(2024, 1, 1, 0, 0, 0)[4..]);
        match read_message(&f, 0) {
            Err(BufrError::Section {
                offset: 0,
                section: 0,
                reason,
            }) => assert!(reason.contains("BUFR"), "{reason}"),
            other => panic!("{other:?}"),
        }
        f[..4].copy_from_slice(b"BUFR");
        assert!(read_message(&f, 0).is_ok());
    }

    #[test]
    fn garbage_never_panics() {
        assert_eq!(scan(b""), Err(BufrError::NoIndicator));
        assert_eq!(scan(b"BUFR"), Err(BufrError::NoIndicator));
        assert!(scan(b"BUFR\xff\xff\xff\x04").is_err());
        assert!(scan(b"BUFR\0\0\x01\x04").is_err());
        let base = ed4(2024, 1, 1, 0, 0, 0);
        for cut in 0..base.len() {
            let _ = scan(&base[..cut]);
        }
        for i in 4..base.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut m = base.clone();
                m[i] = v;
                let _ = scan(&m);
            }
        }
    }
}
