//! Formatting instants (microseconds since the epoch, UTC) for people and files.

use chrono::{DateTime, FixedOffset};

use super::Offset;

/// RFC 3339 in the given offset, to the second: `2021-10-01T00:00:00+08:00`.
pub fn rfc3339(micros: i64, offset: Offset) -> String {
    let Some(tz) = FixedOffset::east_opt(offset.0) else { return micros.to_string() };
    match DateTime::from_timestamp_micros(micros) {
        Some(dt) => dt.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_offset() {
        assert_eq!(rfc3339(1_633_017_600_000_000, Offset::CHINA), "2021-10-01T00:00:00+08:00");
        assert_eq!(rfc3339(1_633_017_600_000_000, Offset(0)), "2021-09-30T16:00:00+00:00");
    }
}
