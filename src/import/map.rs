//! A profile's column expressions applied to one source row: the first
//! non-empty of several columns, constants, value maps, exact decimal unit
//! conversion (fen → yuan) and times, including times written without a year
//! (the year comes from the file's date).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::profile::{Expr, Source, TimeFormat};

/// The value of `e` for a row (`index`: source column → position); `Ok(None)`
/// when empty; `Err` with the reason when the value cannot be converted.
pub fn eval(
    e: &Expr,
    row: &[String],
    index: &BTreeMap<String, usize>,
    file_date: Option<NaiveDate>,
) -> Result<Option<String>, String> {
    let raw = match &e.source {
        Source::Constant(v) => Some(v.clone()),
        Source::Columns(list) => list
            .iter()
            .filter_map(|c| index.get(c).and_then(|&i| row.get(i)))
            .map(|v| v.as_str())
            .find(|v| !v.is_empty() && !e.ignore.iter().any(|x| x == v))
            .map(str::to_string),
    };
    let Some(mut v) = raw else { return Ok(None) };
    if let Some(suffix) = &e.strip_suffix {
        v = v.strip_suffix(suffix.as_str()).unwrap_or(&v).trim().to_string();
    }
    if let Some(map) = &e.map {
        if let Some(m) = map.get(&v) {
            v = m.clone();
        }
    }
    if let Some(n) = e.divide_by {
        v = shift(&v, n.to_string().len() - 1).ok_or_else(|| format!("`{v}` is not a decimal number"))?;
    }
    if let Some(t) = &e.time {
        v = time(&v, t, file_date)?;
    }
    Ok(Some(v))
}

/// A decimal divided by 10^places, exactly, as text: `000000001234`, 2 → `12.34`.
pub fn shift(v: &str, places: usize) -> Option<String> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let all = format!("{int}{frac}");
    let point = int.len() as isize - places as isize;
    let (i, f) = if point <= 0 {
        (String::from("0"), format!("{}{all}", "0".repeat((-point) as usize)))
    } else {
        (all[..point as usize].to_string(), all[point as usize..].to_string())
    };
    let i = i.trim_start_matches('0');
    let f = f.trim_end_matches('0');
    let i = if i.is_empty() { "0" } else { i };
    let body = if f.is_empty() { i.to_string() } else { format!("{i}.{f}") };
    Some(if neg && body != "0" { format!("-{body}") } else { body })
}

/// A time in the profile's format, as RFC 3339 at its offset.
fn time(v: &str, t: &TimeFormat, file_date: Option<NaiveDate>) -> Result<String, String> {
    let dt = if t.year_from_file {
        let fd = file_date.ok_or("the time has no year and the file's date is unknown (use --file-date)")?;
        // The year of the file's date, or the one before when that would put
        // the row after the file's date (a January file holding December rows).
        let at = |year: i32| NaiveDateTime::parse_from_str(&format!("{year:04}{v}"), &format!("%Y{}", t.format));
        let this = at(fd.year()).map_err(|_| format!("`{v}` does not match the time format `{}`", t.format))?;
        if this.date() > fd.succ_opt().unwrap_or(fd) {
            at(fd.year() - 1).map_err(|_| format!("`{v}` does not match the time format `{}`", t.format))?
        } else {
            this
        }
    } else {
        NaiveDateTime::parse_from_str(v, &t.format)
            .map_err(|_| format!("`{v}` does not match the time format `{}`", t.format))?
    };
    Ok(format!("{}{}", dt.format("%Y-%m-%dT%H:%M:%S"), t.offset.to_rfc3339()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Offset;

    #[test]
    fn decimals_shift_exactly() {
        assert_eq!(shift("000000001234", 2).as_deref(), Some("12.34"));
        assert_eq!(shift("5", 2).as_deref(), Some("0.05"));
        assert_eq!(shift("-150", 2).as_deref(), Some("-1.5"));
        assert_eq!(shift("12.5", 0).as_deref(), Some("12.5"));
        assert_eq!(shift("000000000000", 2).as_deref(), Some("0"));
        assert_eq!(shift("1.2.3", 2), None);
        assert_eq!(shift("", 2), None);
    }

    #[test]
    fn times_without_a_year_take_the_file_date() {
        let t = TimeFormat { format: "%m%d%H%M%S".into(), offset: Offset::CHINA, year_from_file: true };
        let fd = NaiveDate::from_ymd_opt(2021, 10, 23);
        assert_eq!(time("1022235959", &t, fd).unwrap(), "2021-10-22T23:59:59+08:00");
        // A December row in a file of 2 January belongs to the year before.
        let jan = NaiveDate::from_ymd_opt(2022, 1, 2);
        assert_eq!(time("1231120000", &t, jan).unwrap(), "2021-12-31T12:00:00+08:00");
        assert!(time("1022", &t, fd).is_err());
        assert!(time("1022235959", &t, None).unwrap_err().contains("--file-date"));
    }
}
