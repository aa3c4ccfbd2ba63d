//! Per-period evaluation (`audit --period`): every rule's plans are compiled
//! a second time with the period as one more group key and run in the same
//! pass as the pooled ones; their results are split by period and handed to
//! the kind's own evaluation, so each period is judged exactly as the whole
//! window is. Coverage rules with a deadline get a projection of when their
//! trend reaches the target.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{Rule, PERIOD};
use crate::findings::{Finding, PeriodPoint, Presentation, Projection};
use crate::ingest::period::{day_of, Period};

/// The frames of one rule's per-period plans, split into the frames of each
/// period (the period column dropped), oldest period first. A period missing
/// from one frame but present in another gets that frame empty.
pub(crate) fn split(frames: &[DataFrame]) -> PolarsResult<Vec<(i32, Vec<DataFrame>)>> {
    let mut rows: BTreeMap<i32, Vec<Vec<IdxSize>>> = BTreeMap::new();
    for (i, df) in frames.iter().enumerate() {
        for (row, p) in df.column(PERIOD)?.i32()?.iter().enumerate() {
            if let Some(p) = p {
                rows.entry(p).or_insert_with(|| vec![Vec::new(); frames.len()])[i].push(row as IdxSize);
            }
        }
    }
    rows.into_iter()
        .map(|(p, idx)| {
            let dfs = frames
                .iter()
                .zip(idx)
                .map(|(df, idx)| df.take(&IdxCa::from_vec(PlSmallStr::EMPTY, idx))?.drop(PERIOD))
                .collect::<PolarsResult<Vec<_>>>()?;
            Ok((p, dfs))
        })
        .collect()
}

/// Fills `f.periods` and each group's `periods` from the rule's findings
/// per period (first day of the period, finding), oldest first.
pub(crate) fn attach(f: &mut Finding, per: Vec<(i32, Finding)>, period: Period) {
    let at: BTreeMap<_, usize> = f.groups.iter().enumerate().map(|(i, g)| (g.key.clone(), i)).collect();
    for (start, pf) in per {
        let (label, from, to) = period.bounds(start);
        let point = |n, value, verdict, ci_low, ci_high| PeriodPoint {
            period: label.clone(),
            from: from.clone(),
            to: to.clone(),
            n,
            value,
            verdict,
            ci_low,
            ci_high,
        };
        f.periods.push(point(pf.groups.iter().map(|g| g.n).sum(), pf.value, pf.verdict, None, None));
        for g in &pf.groups {
            if let Some(&i) = at.get(&g.key) {
                f.groups[i].periods.push(point(g.n, g.value, g.verdict, g.judged.ci_low, g.judged.ci_high));
            }
        }
    }
}

/// The longest projection, in periods, before a trend counts as never
/// reaching the target.
const HORIZON: f64 = 1000.0;

/// Adds a projection to each group of a coverage rule with a deadline that
/// has values in at least two periods.
pub(crate) fn project(f: &mut Finding, rule: &Rule, period: Period) {
    let (Some(deadline), Some(target)) = (rule.deadline, f.threshold) else { return };
    let Presentation::Coverage { ratio, .. } = f.presentation else { return };
    let Some(last) = f.periods.last() else { return };
    let Ok(last_start) = chrono::NaiveDate::parse_from_str(&last.from, "%Y-%m-%d").map(day_of) else { return };
    // Periods are indexed by their place among the rule's periods.
    let index: BTreeMap<&str, f64> = f.periods.iter().enumerate().map(|(i, p)| (p.period.as_str(), i as f64)).collect();
    let last_index = (f.periods.len() - 1) as f64;
    let after_deadline = day_of(deadline) + 1;
    let unit = period.name();
    let show = |v: f64| if ratio { format!("{v:.3}") } else { format!("{:.1}%", 100.0 * v) };
    let per = |v: f64| if ratio { format!("{v:+.3}") } else { format!("{:+.1} pp", 100.0 * v) };
    for g in f.groups.iter_mut() {
        let points: Vec<(f64, f64)> =
            g.periods.iter().filter_map(|p| Some((*index.get(p.period.as_str())?, p.value?))).collect();
        let Some(line) = Line::fit(&points) else { continue };
        let slope = line.slope;
        let Some(&(xl, yl)) = points.last() else { continue };
        let method = format!("linear fit over {} {unit}s", points.len());
        let pace = format!("{} per {unit}", per(slope));
        let (reaches, text) = if yl >= target && xl == last_index {
            let text = format!("Already at {} in {} (target {}).", show(yl), last.period, show(target));
            (Some(last_start), text)
        } else {
            let steps = ((target - line.at(last_index)) / slope).ceil();
            if slope <= 0.0 || !steps.is_finite() || steps > HORIZON {
                (None, format!("Not at the current pace ({method}: {pace}); the target is {}.", show(target)))
            } else {
                let start = period.advance(last_start, steps.max(0.0) as u32);
                let when = if period.next(start) <= after_deadline { "by" } else { "after" };
                let text = format!(
                    "At the current pace ({method}: {pace}), {} is reached in {}, {when} the deadline {}.",
                    show(target),
                    period.label(start),
                    deadline.format("%Y-%m-%d")
                );
                (Some(start), text)
            }
        };
        let by_deadline = reaches.is_some_and(|start| period.next(start) <= after_deadline);
        let reaches = reaches.map(|start| period.label(start));
        g.projection = Some(Projection { method, slope: crate::findings::round(slope), reaches, by_deadline, text });
    }
}

/// A least-squares line through points: its slope and the means it passes through.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Line {
    slope: f64,
    mx: f64,
    my: f64,
}

impl Line {
    /// The line through `points`, when x varies.
    fn fit(points: &[(f64, f64)]) -> Option<Line> {
        if points.len() < 2 {
            return None;
        }
        let n = points.len() as f64;
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
        let my = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        (sxx > 0.0).then(|| Line { slope: sxy / sxx, mx, my })
    }

    /// The fitted value at `x`.
    fn at(self, x: f64) -> f64 {
        self.my + self.slope * (x - self.mx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_by_hand() {
        // y = 0.70, 0.74, 0.78 at x = 0, 1, 2: slope 0.04, fitted 0.78 at 2.
        let pts = [(0.0, 0.70), (1.0, 0.74), (2.0, 0.78)];
        let line = Line::fit(&pts).unwrap();
        assert!((line.slope - 0.04).abs() < 1e-12);
        assert!((line.at(2.0) - 0.78).abs() < 1e-12);
        // Scattered: x 0,1,2,3 and y 1,3,2,4 (means 1.5, 2.5): Sxy = 2.25 - 0.25
        // - 0.25 + 2.25 = 4, Sxx = 5, slope 0.8; fitted at 3 = 2.5 + 0.8 * 1.5 = 3.7.
        let pts = [(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 4.0)];
        let line = Line::fit(&pts).unwrap();
        assert!((line.slope - 0.8).abs() < 1e-12);
        assert!((line.at(3.0) - 3.7).abs() < 1e-12);
        assert_eq!(Line::fit(&[(1.0, 2.0)]), None);
        assert_eq!(Line::fit(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }
}
