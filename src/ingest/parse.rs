//! Parsers for raw field text: timestamps, numbers, booleans and enumerations.
//!
//! Pure functions over one value, so each accepted spelling is unit-tested here;
//! `validate` lifts them over whole columns.

use chrono::NaiveDate;

/// A fixed UTC offset in seconds, used for timestamps that carry none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset(pub i32);

impl Offset {
    pub const CHINA: Offset = Offset(8 * 3600);

    /// Parses `+08:00`, `-05:30`, `+0800`, `Z` or `UTC`.
    pub fn parse(text: &str) -> Option<Offset> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Some(Offset(0));
        }
        let (secs, rest) = parse_offset(t.as_bytes())?;
        rest.is_empty().then_some(Offset(secs))
    }

    /// Midnight starting `day` at this offset, in UTC microseconds: where
    /// rule `effective` days, deadlines and `--from`/`--to` dates begin.
    pub fn day_start_micros(self, day: NaiveDate) -> Option<i64> {
        let utc = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp() - i64::from(self.0);
        utc.checked_mul(1_000_000)
    }

    /// `+08:00` style text.
    pub fn to_rfc3339(self) -> String {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let a = self.0.abs();
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    }
}

/// Parses a timestamp into microseconds since the Unix epoch (UTC).
///
/// Accepted: RFC 3339 (`2021-10-02T10:15:00+08:00`, `...Z`, fractional
/// seconds), the same with a space instead of `T`, and either without an
/// offset (read at `default`); also `yyyyMMddHHmmss` as WeChat Pay logs it.
pub fn timestamp_micros(text: &str, default: Offset) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() == 14 && b.iter().all(u8::is_ascii_digit) {
        let n = |i: usize, len: usize| digits(&b[i..i + len]);
        return to_micros(n(0, 4)?, n(4, 2)?, n(6, 2)?, n(8, 2)?, n(10, 2)?, n(12, 2)?, 0, default.0);
    }
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ' || b[10] == b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let mut rest = &b[19..];
    let mut micros = 0u32;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return None;
        }
        let mut value = 0u32;
        for (i, d) in frac[..len].iter().enumerate() {
            if i < 6 {
                value = value * 10 + u32::from(d - b'0');
            }
        }
        micros = value * 10u32.pow(6u32.saturating_sub(len as u32));
        rest = &frac[len..];
    }
    let offset = if rest.is_empty() {
        default.0
    } else if rest == b"Z" || rest == b"z" {
        0
    } else {
        let (secs, tail) = parse_offset(rest)?;
        if !tail.is_empty() {
            return None;
        }
        secs
    };
    to_micros(year, month, day, hour, minute, second, micros, offset)
}

#[allow(clippy::too_many_arguments)]
fn to_micros(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32, offset: i32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?;
    let dt = date.and_hms_micro_opt(h, mi, s, micros)?;
    let local = dt.and_utc().timestamp_micros();
    Some(local - i64::from(offset) * 1_000_000)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

/// `+08:00`, `+0800` or `+08`, returning the offset and the unparsed rest.
fn parse_offset(b: &[u8]) -> Option<(i32, &[u8])> {
    let (&sign, rest) = b.split_first()?;
    let sign = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = digits(rest.get(0..2)?)?;
    let mut rest = &rest[2..];
    if rest.first() == Some(&b':') {
        rest = &rest[1..];
    }
    let minutes = match rest.get(0..2) {
        Some(m) if m.iter().all(u8::is_ascii_digit) => {
            rest = &rest[2..];
            digits(m)?
        }
        _ => 0,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60) as i32, rest))
}

/// A finite decimal number; thousands separators and spaces inside are not accepted.
pub fn decimal(text: &str) -> Option<f64> {
    let t = text.trim();
    // Rust also parses "inf" and "NaN"; neither is an amount.
    if !t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A whole number.
pub fn integer(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok()
}

/// `true/false`, `1/0`, `yes/no`, any case.
pub fn boolean(text: &str) -> Option<bool> {
    let t = text.trim();
    let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if is(crate::contract::TRUE_WORDS) {
        Some(true)
    } else if is(crate::contract::FALSE_WORDS) {
        Some(false)
    } else {
        None
    }
}

/// The canonical (lower-case) spelling of an enumeration value, if allowed.
pub fn enumeration(text: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
    let t = text.trim();
    allowed.iter().copied().find(|v| t.eq_ignore_ascii_case(v))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_day_starts_at_midnight_of_the_offset() {
        let day = NaiveDate::from_ymd_opt(2021, 10, 1).unwrap();
        assert_eq!(Offset::CHINA.day_start_micros(day), Some(1_633_017_600_000_000));
        assert_eq!(Offset(0).day_start_micros(day), Some(1_633_046_400_000_000));
    }

    use super::*;

    const CST: Offset = Offset::CHINA;
    // 2021-10-02T02:15:00Z
    const T: i64 = 1_633_140_900_000_000;

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(timestamp_micros("2021-10-02T10:15:00+08:00", CST), Some(T));
        assert_eq!(timestamp_micros("2021-10-02T02:15:00Z", CST), Some(T));
        assert_eq!(timestamp_micros("2021-10-02T04:15:00+0200", CST), Some(T));
        assert_eq!(timestamp_micros("2021-10-01T21:15:00-05:00", CST), Some(T));
        assert_eq!(timestamp_micros("2021-10-02T10:15:00.25+08:00", CST), Some(T + 250_000));
        assert_eq!(timestamp_micros("2021-10-02T10:15:00.123456789+08:00", CST), Some(T + 123_456));
    }

    #[test]
    fn no_offset_uses_the_default() {
        assert_eq!(timestamp_micros("2021-10-02T10:15:00", CST), Some(T));
        assert_eq!(timestamp_micros("2021-10-02 10:15:00", CST), Some(T));
        assert_eq!(timestamp_micros("2021-10-02 02:15:00", Offset(0)), Some(T));
        assert_eq!(timestamp_micros("20211002101500", CST), Some(T));
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2021-10-02",
            "2021/10/02 10:15:00",
            "2021-13-02T10:15:00+08:00",
            "2021-02-30T10:15:00+08:00",
            "2021-10-02T25:15:00+08:00",
            "2021-10-02T10:15:00+08:00x",
            "2021-10-02T10:15:00+24:00",
            "2021-10-02T10:15:00.+08:00",
            "1633140900",
            "yesterday",
        ] {
            assert_eq!(timestamp_micros(bad, CST), None, "{bad}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(Offset::parse("+08:00"), Some(Offset(28_800)));
        assert_eq!(Offset::parse("-0530"), Some(Offset(-19_800)));
        assert_eq!(Offset::parse("Z"), Some(Offset(0)));
        assert_eq!(Offset::parse("Asia/Shanghai"), None);
        assert_eq!(Offset(-19_800).to_rfc3339(), "-05:30");
    }

    #[test]
    fn numbers() {
        assert_eq!(decimal("12.50"), Some(12.5));
        assert_eq!(decimal(" -3 "), Some(-3.0));
        assert_eq!(decimal("1e3"), Some(1000.0));
        for bad in ["", "abc", "1,000", "NaN", "inf", "12.5元", "1 000"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
        assert_eq!(integer("250"), Some(250));
        assert_eq!(integer("2.5"), None);
    }

    #[test]
    fn booleans_and_enums() {
        assert_eq!(boolean("TRUE"), Some(true));
        assert_eq!(boolean("yes"), Some(true));
        assert_eq!(boolean("0"), Some(false));
        assert_eq!(boolean("No"), Some(false));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(enumeration("SUCCESS", crate::contract::STATUSES), Some("success"));
        assert_eq!(enumeration("refund", crate::contract::STATUSES), None);
    }
}
