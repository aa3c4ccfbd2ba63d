//! Trend charts of `audit --period`: per rule, small multiples (one panel per
//! group: the value in each period with its interval, and the threshold), and
//! the glance table's sparkline of the rule's value. Geometry only; the
//! templates draw it as inline SVG. Every number comes from the findings'
//! `periods`.

use serde::Serialize;

use super::charts::{nice_range, text_width, Scale};
use super::i18n::Catalog;
use crate::findings::{Finding, Group, PeriodPoint, Presentation, Verdict};

/// At most this many panels per rule; the rest are counted.
pub const PANEL_CAP: usize = 12;

const PANEL_W: f64 = 220.0;
const PANEL_H: f64 = 132.0;
/// Room for the value axis labels on the left, and period labels below.
const LEFT: f64 = 46.0;
const RIGHT: f64 = 8.0;
/// Room for the panel's title above the plot.
const TOP: f64 = 22.0;
const BOTTOM: f64 = 20.0;

const SPARK_W: f64 = 96.0;
const SPARK_H: f64 = 22.0;

/// One period of a panel or sparkline.
#[derive(Debug, Serialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub has_ci: bool,
    pub y0: f64,
    pub y1: f64,
    pub verdict: &'static str,
    /// `2021-11: 82.0% (fail)`, for the point's tooltip and the table below.
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub y: f64,
    pub label: String,
}

/// One group's trend.
#[derive(Debug, Serialize)]
pub struct Panel {
    pub title: String,
    pub points: Vec<Point>,
    /// The line through the values: `x,y x,y …`.
    pub line: String,
    pub threshold_y: Option<f64>,
    pub ticks: Vec<Tick>,
    pub first: String,
    pub last: String,
    /// The projection sentence of a coverage group with a deadline.
    pub projection: String,
}

/// A rule's small multiples.
#[derive(Debug, Serialize)]
pub struct Trend {
    pub width: f64,
    pub height: f64,
    pub plot_x: f64,
    pub plot_w: f64,
    pub axis_y: f64,
    pub panels: Vec<Panel>,
    /// Groups with periods that have no panel (beyond [`PANEL_CAP`]).
    pub more: usize,
    pub threshold_label: String,
    /// Each period's value per group, as a table for readers without the chart.
    pub caption: String,
    /// The figure's whole caption.
    pub full_caption: String,
}

/// The glance table's sparkline of a rule's value per period.
#[derive(Debug, Serialize)]
pub struct Spark {
    pub width: f64,
    pub height: f64,
    pub line: String,
    pub points: Vec<Point>,
    pub last_period: String,
    pub last_verdict: &'static str,
    pub last_text: String,
    /// `Per period: 2021-10 pass, 2021-11 fail`, for screen readers.
    pub aria: String,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// How a finding's values read on a trend axis.
pub fn scale_of(f: &Finding) -> Scale {
    match &f.presentation {
        Presentation::Coverage { ratio: true, .. } => Scale::Ratio,
        Presentation::Coverage { .. } | Presentation::Recognition { .. } | Presentation::Codes => Scale::Percent,
        Presentation::Pairs => Scale::Points,
        Presentation::Forest { ratio: true, .. } => Scale::Ratio,
        Presentation::Forest { .. } => Scale::Points,
        // Exclusive merchants are counted; HHIs and presumptions are numbers.
        Presentation::Merchants | Presentation::Shares { .. } | Presentation::Table => Scale::Number,
    }
}

/// The value range of a rule's panels: every value, interval bound and the
/// threshold, so panels compare at a glance.
fn range(groups: &[&Group], threshold: Option<f64>, scale: Scale) -> (f64, f64) {
    let (lo, hi) = padded(groups, threshold);
    // Shares stay within 0–100%.
    if scale == Scale::Percent {
        let (lo, hi) = (lo.max(0.0), hi.min(1.0));
        if hi - lo < 1e-9 {
            (0.0, 1.0)
        } else {
            (lo, hi)
        }
    } else {
        (lo, hi)
    }
}

fn padded(groups: &[&Group], threshold: Option<f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let values = groups.iter().flat_map(|g| g.periods.iter()).flat_map(|p| [p.value, p.ci_low, p.ci_high]);
    for v in values.flatten().chain(threshold) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        let pad = if hi.abs() > 1e-9 { hi.abs() * 0.1 } else { 0.1 };
        return (lo - pad, hi + pad);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Whether a group's trend is worth a panel before others: it fails or is
/// undecided in some period.
fn troubled(g: &Group) -> bool {
    g.periods.iter().any(|p| matches!(p.verdict, Verdict::Fail | Verdict::Inconclusive))
}

/// The small multiples of a finding judged per period, if it was.
pub fn trend(f: &Finding, group_title: impl Fn(&Group) -> String, l: &Catalog) -> Option<Trend> {
    let periods: Vec<&str> = f.periods.iter().map(|p| p.period.as_str()).collect();
    if periods.is_empty() {
        return None;
    }
    let mut groups: Vec<&Group> = f.groups.iter().filter(|g| !g.periods.is_empty()).collect();
    // Troubled groups first, each set in the finding's own order.
    groups.sort_by_key(|g| !troubled(g));
    let more = groups.len().saturating_sub(PANEL_CAP);
    groups.truncate(PANEL_CAP);
    let scale = scale_of(f);
    let (lo, hi) = range(&groups, f.threshold, scale);
    // Nice ticks (1, 2, 5 × 10ⁿ); shares stay within 0..100%.
    let (mut lo, mut hi, step) = nice_range(lo, hi);
    if scale == Scale::Percent {
        lo = lo.max(0.0);
        hi = hi.min(1.0);
    }
    let tick_values: Vec<f64> = (0..=((hi - lo) / step).round() as i64).map(|k| lo + step * k as f64).collect();
    // Panel text is 11 px: room for the longest tick label and title.
    let at11 = |s: &str| text_width(s) * 11.0 / 12.0;
    let plot_x = tick_values.iter().map(|v| at11(&scale.tick(*v, step)) + 10.0).fold(LEFT, f64::max).ceil();
    let titles: Vec<String> = groups.iter().map(|g| group_title(g)).collect();
    let width = titles.iter().map(|t| at11(t) + 12.0).fold(PANEL_W.max(plot_x + 150.0), f64::max).ceil();
    let plot_w = width - plot_x - RIGHT;
    let axis_y = PANEL_H - BOTTOM;
    let plot_h = axis_y - TOP;
    let x_of = |i: usize| {
        let step = if periods.len() > 1 { plot_w / (periods.len() - 1) as f64 } else { 0.0 };
        round1(if periods.len() > 1 { plot_x + step * i as f64 } else { plot_x + plot_w / 2.0 })
    };
    let y_of = |v: f64| round1(axis_y - ((v - lo) / (hi - lo)).clamp(0.0, 1.0) * plot_h);
    let ticks: Vec<Tick> =
        tick_values.iter().map(|v| Tick { y: y_of(*v), label: l.axis_units(&scale.tick(*v, step)) }).collect();
    let panels = groups
        .iter()
        .zip(titles)
        .map(|(g, title)| {
            let points: Vec<Point> = g
                .periods
                .iter()
                .filter_map(|p| {
                    let i = periods.iter().position(|x| *x == p.period)?;
                    point(p, x_of(i), &y_of, scale, l)
                })
                .collect();
            Panel {
                title,
                line: line(&points),
                points,
                threshold_y: f.threshold.map(y_of),
                ticks: ticks.iter().map(|t| Tick { y: t.y, label: t.label.clone() }).collect(),
                first: periods.first().map(|s| s.to_string()).unwrap_or_default(),
                last: if periods.len() > 1 {
                    periods.last().map(|s| s.to_string()).unwrap_or_default()
                } else {
                    String::new()
                },
                projection: g.projection.as_ref().map(|p| l.engine_text(&p.text)).unwrap_or_default(),
            }
        })
        .collect();
    Some(Trend {
        width,
        height: PANEL_H,
        plot_x,
        plot_w,
        axis_y,
        panels,
        more,
        threshold_label: f.threshold.map(|t| l.units(&scale.label(t))).unwrap_or_default(),
        caption: l.f(
            "trend_caption",
            &[
                ("rule", &f.rule_id),
                ("n", &periods.len()),
                ("first", &periods[0]),
                ("last", &periods[periods.len() - 1]),
            ],
        ),
        full_caption: String::new(),
    })
    .map(|mut t| {
        t.full_caption = trend_caption(&t, l);
        t
    })
}

/// The figure caption under a rule's small multiples.
fn trend_caption(t: &Trend, l: &Catalog) -> String {
    let more = if t.more > 0 { l.n("trend_more", t.more as u64, &[("n", &t.more)]) } else { String::new() };
    let threshold = if t.threshold_label.is_empty() {
        String::new()
    } else {
        l.f("trend_threshold", &[("threshold", &t.threshold_label)])
    };
    l.f("trend_full_caption", &[("caption", &t.caption), ("more", &more), ("threshold", &threshold)])
}

fn point(p: &PeriodPoint, x: f64, y_of: &impl Fn(f64) -> f64, scale: Scale, l: &Catalog) -> Option<Point> {
    let v = p.value?;
    let (c0, c1) = p.ci_low.zip(p.ci_high).unwrap_or((v, v));
    Some(Point {
        x,
        y: y_of(v),
        has_ci: p.ci_low.is_some() && p.ci_high.is_some(),
        y0: y_of(c0),
        y1: y_of(c1),
        verdict: p.verdict.name(),
        text: l.f(
            "period_point",
            &[
                ("period", &p.period),
                ("value", &l.units(&scale.precise(v))),
                ("verdict", &super::view::verdict_text(p.verdict, l).to_lowercase()),
            ],
        ),
    })
}

fn line(points: &[Point]) -> String {
    points.iter().map(|p| format!("{},{}", p.x, p.y)).collect::<Vec<_>>().join(" ")
}

/// The sparkline of a finding's value per period, if it was judged per period.
pub fn spark(f: &Finding, l: &Catalog) -> Option<Spark> {
    let last = f.periods.last()?;
    let values: Vec<f64> = f.periods.iter().filter_map(|p| p.value).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi - lo > 1e-12 { hi - lo } else { 1.0 };
    let n = f.periods.len();
    let x_of = |i: usize| round1(if n > 1 { 3.0 + (SPARK_W - 6.0) * i as f64 / (n - 1) as f64 } else { SPARK_W / 2.0 });
    // A flat series sits in the middle.
    let y_of = |v: f64| {
        if hi - lo > 1e-12 {
            round1(SPARK_H - 3.0 - (v - lo) / span * (SPARK_H - 6.0))
        } else {
            SPARK_H / 2.0
        }
    };
    let scale = scale_of(f);
    let points: Vec<Point> =
        f.periods.iter().enumerate().filter_map(|(i, p)| point(p, x_of(i), &y_of, scale, l)).collect();
    Some(Spark {
        width: SPARK_W,
        height: SPARK_H,
        line: line(&points),
        aria: l.f(
            "per_period_aria",
            &[(
                "list",
                &f.periods
                    .iter()
                    .map(|p| format!("{} {}", p.period, super::view::verdict_text(p.verdict, l).to_lowercase()))
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
        ),
        points,
        last_period: last.period.clone(),
        last_verdict: last.verdict.name(),
        last_text: super::view::verdict_text(last.verdict, l),
    })
}
