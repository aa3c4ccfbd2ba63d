//! Calendar periods of an audit (`audit --period`): the period a timestamp
//! falls in, by the calendar of the audit's time zone, and its label
//! (`2021-10-04`, `2021-W40`, `2021-10`, `2021-Q4`).
//!
//! A period is held as the day it starts, in days since 1970-01-01: a small
//! integer the engine can group by in the same pass as every other key.

use chrono::{Datelike, Days, Months, NaiveDate};
use polars::prelude::*;
use serde::Serialize;

use super::Offset;

/// How an audit's window is cut into periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    /// ISO 8601 weeks, Monday to Sunday.
    Week,
    Month,
    Quarter,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// 1970-01-01 in chrono's days from the common era.
const EPOCH_CE: i32 = 719_163;

/// The date `day` days after 1970-01-01.
pub fn date(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(day.checked_add(EPOCH_CE)?)
}

/// Days since 1970-01-01 of `d`.
pub fn day_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - EPOCH_CE
}

impl Period {
    pub const NAMES: &'static [&'static str] = &["day", "week", "month", "quarter"];

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
        }
    }

    /// The first day of the period holding `day` (both in days since 1970-01-01).
    pub fn start(self, day: i32) -> i32 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: Monday is (day + 3) mod 7 = 0.
            Period::Week => day - (day + 3).rem_euclid(7),
            Period::Month | Period::Quarter => match date(day) {
                Some(d) => {
                    let month0 = if self == Period::Month { d.month0() } else { d.month0() / 3 * 3 };
                    NaiveDate::from_ymd_opt(d.year(), month0 + 1, 1).map_or(day, day_of)
                }
                None => day,
            },
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: i32) -> i32 {
        let step = |months: u32| date(start).and_then(|d| d.checked_add_months(Months::new(months))).map(day_of);
        match self {
            Period::Day => start.saturating_add(1),
            Period::Week => start.saturating_add(7),
            Period::Month => step(1).unwrap_or(i32::MAX),
            Period::Quarter => step(3).unwrap_or(i32::MAX),
        }
    }

    /// The label of the period starting on `start`.
    pub fn label(self, start: i32) -> String {
        let Some(d) = date(start) else { return start.to_string() };
        match self {
            Period::Day => d.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = d.iso_week();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
            Period::Month => d.format("%Y-%m").to_string(),
            Period::Quarter => format!("{:04}-Q{}", d.year(), d.month0() / 3 + 1),
        }
    }

    /// The period starting on `start` as `(label, from, to)`, `from` and `to`
    /// being its first day and the first day after it, as dates.
    pub fn bounds(self, start: i32) -> (String, String, String) {
        let show = |day: i32| date(day).map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string());
        (self.label(start), show(start), show(self.next(start)))
    }

    /// The period `steps` periods after the one starting on `start`.
    pub fn advance(self, start: i32, steps: u32) -> i32 {
        match self {
            Period::Day | Period::Week => {
                let days = if self == Period::Day { 1 } else { 7 };
                date(start)
                    .and_then(|d| d.checked_add_days(Days::new(u64::from(steps) * days)))
                    .map_or(i32::MAX, day_of)
            }
            Period::Month | Period::Quarter => {
                let months = if self == Period::Month { steps } else { steps.saturating_mul(3) };
                date(start).and_then(|d| d.checked_add_months(Months::new(months))).map_or(i32::MAX, day_of)
            }
        }
    }

    /// The day a UTC timestamp (microseconds) falls on at offset `tz`.
    pub fn local_day(ts: i64, tz: Offset) -> i32 {
        let local = ts.saturating_add(i64::from(tz.0) * 1_000_000);
        local.div_euclid(MICROS_PER_DAY).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }

    /// An expression turning `ts` (UTC microseconds) into the first day of
    /// its period at offset `tz`, as `Int32`. The local day is plain
    /// arithmetic (which an engine reading the plan as SQL can say); only
    /// the day's period is looked up, per row here and per distinct day there.
    pub fn expr(self, ts: Expr, tz: Offset) -> Expr {
        let day = (ts + lit(i64::from(tz.0) * 1_000_000)).floor_div(lit(MICROS_PER_DAY)).cast(DataType::Int32);
        day.map(
            move |c: Column| {
                let ca = c.i32()?;
                // Rows arrive clustered in time: remember the last day's period.
                let mut last: Option<(i32, i32)> = None;
                let out: Int32Chunked = ca
                    .iter()
                    .map(|day| {
                        let day = day?;
                        Some(match last {
                            Some((d, s)) if d == day => s,
                            _ => {
                                let s = self.start(day);
                                last = Some((day, s));
                                s
                            }
                        })
                    })
                    .collect();
                Ok(out.with_name(ca.name().clone()).into_column())
            },
            |_, f| Ok(Field::new(f.name().clone(), DataType::Int32)),
        )
    }
}

impl std::str::FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Period, String> {
        match s {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            "quarter" => Ok(Period::Quarter),
            _ => Err(format!("expected one of {}", Period::NAMES.join(", "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        day_of(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn periods_start_and_are_labelled_by_the_calendar() {
        // 2021-10-06 is a Wednesday of ISO week 40 (Monday 2021-10-04).
        let d = day(2021, 10, 6);
        assert_eq!(Period::Day.label(Period::Day.start(d)), "2021-10-06");
        assert_eq!(Period::Week.start(d), day(2021, 10, 4));
        assert_eq!(Period::Week.label(Period::Week.start(d)), "2021-W40");
        assert_eq!(Period::Month.start(d), day(2021, 10, 1));
        assert_eq!(Period::Month.label(Period::Month.start(d)), "2021-10");
        assert_eq!(Period::Quarter.start(d), day(2021, 10, 1));
        assert_eq!(Period::Quarter.label(Period::Quarter.start(day(2021, 12, 31))), "2021-Q4");
        assert_eq!(Period::Quarter.start(day(2021, 8, 15)), day(2021, 7, 1));
        // ISO weeks belong to the year of their Thursday: 2021-01-03 is in 2020-W53.
        assert_eq!(Period::Week.label(Period::Week.start(day(2021, 1, 3))), "2020-W53");
        assert_eq!(Period::Week.start(day(1970, 1, 1)), day(1969, 12, 29));
    }

    #[test]
    fn next_and_advance_step_by_calendar_periods() {
        assert_eq!(Period::Month.next(day(2021, 12, 1)), day(2022, 1, 1));
        assert_eq!(Period::Quarter.next(day(2021, 10, 1)), day(2022, 1, 1));
        assert_eq!(Period::Week.next(day(2021, 10, 4)), day(2021, 10, 11));
        assert_eq!(Period::Month.advance(day(2021, 11, 1), 5), day(2022, 4, 1));
        assert_eq!(Period::Quarter.advance(day(2021, 10, 1), 2), day(2022, 4, 1));
        assert_eq!(Period::Day.advance(day(2021, 10, 30), 3), day(2021, 11, 2));
        let (label, from, to) = Period::Month.bounds(day(2021, 2, 1));
        assert_eq!((label.as_str(), from.as_str(), to.as_str()), ("2021-02", "2021-02-01", "2021-03-01"));
    }

    #[test]
    fn timestamps_fall_on_the_local_day() {
        // 2021-09-30T16:00:00Z is 2021-10-01 00:00 in China and still
        // 2021-09-30 in UTC.
        let ts = 1_633_017_600_000_000;
        assert_eq!(Period::local_day(ts, Offset::CHINA), day(2021, 10, 1));
        assert_eq!(Period::local_day(ts, Offset(0)), day(2021, 9, 30));
        assert_eq!(Period::local_day(ts - 1, Offset::CHINA), day(2021, 9, 30));
        // Before the epoch, days still round down.
        assert_eq!(Period::local_day(-1, Offset(0)), -1);
    }
}
