//! Chart geometry for the report: bars, forest plots and recognition
//! matrices. Positions are computed here; the templates draw them as inline
//! SVG or tables, so every label passes through Tera's escaping.

use serde::Serialize;

/// One thing to plot: a labelled value, maybe with an interval.
#[derive(Debug, Clone)]
pub struct Item {
    pub label: String,
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    pub verdict: &'static str,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct BarRow {
    pub label: String,
    pub y: f64,
    pub x: f64,
    pub w: f64,
    pub cx: f64,
    pub ci_x0: f64,
    pub ci_x1: f64,
    pub has_ci: bool,
    pub verdict: &'static str,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct BarChart {
    /// `bars` or `forest`.
    pub kind: &'static str,
    pub title: String,
    /// The figure caption (the report's view words it).
    pub caption: String,
    pub width: u32,
    pub height: u32,
    pub plot_x: f64,
    pub plot_w: f64,
    pub axis_y: f64,
    pub rows: Vec<BarRow>,
    pub threshold_x: Option<f64>,
    /// The threshold's value as the axis reads it (`85%`), or empty.
    pub threshold_label: String,
    pub ticks: Vec<Tick>,
    /// Difference plots: where zero is, drawn as a solid line.
    pub zero_x: Option<f64>,
}

/// The plot's own width; the label column grows with the longest label.
const PLOT_W: f64 = 380.0;
const MIN_LABEL_W: f64 = 90.0;
const VALUE_W: f64 = 70.0;
/// Chart text is 12 px: an estimate of a label's width, generous so that no
/// label is cut: 7.5 px per Latin character, 12.5 px per CJK one.
pub(super) fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                7.5
            } else if c as u32 >= 0x2E80 {
                12.5
            } else {
                8.5
            }
        })
        .sum()
}

/// "Nice" axis ticks: a step of 1, 2 or 5 × 10ⁿ giving about four
/// intervals, and the range widened to whole steps. Returns (lo, hi, step).
pub fn nice_range(lo: f64, hi: f64) -> (f64, f64, f64) {
    let span = if hi - lo > 1e-12 { hi - lo } else { 1.0 };
    let raw = span / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    // The candidate nearest the raw step (in ratio): 4 to 8 intervals.
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .min_by(|a, b| (a / raw).ln().abs().total_cmp(&(b / raw).ln().abs()))
        .unwrap_or(mag);
    let nlo = (lo / step + 1e-9).floor() * step;
    let nhi = (hi / step - 1e-9).ceil() * step;
    (nlo, if nhi - nlo > 1e-12 { nhi } else { nlo + step }, step)
}
const ROW_H: f64 = 26.0;
const TOP: f64 = 8.0;

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// How axis ticks and the threshold are labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Shares: `85%`.
    Percent,
    /// Ratios: `1.25×`.
    Ratio,
    /// Differences of rates: `+1 pp`.
    Points,
    /// Plain numbers (an HHI, a count): `2990`, `1.25`.
    Number,
}

impl Scale {
    /// A value read off a point, with one more digit than an axis tick.
    pub fn precise(self, v: f64) -> String {
        match self {
            Scale::Percent => format!("{:.1}%", 100.0 * v),
            Scale::Ratio => format!("{v:.3}×"),
            Scale::Points => format!("{:+.2} pp", 100.0 * v),
            Scale::Number => self.label(v),
        }
    }

    /// An axis tick at a multiple of `step`: as many decimals as the step needs.
    pub fn tick(self, v: f64, step: f64) -> String {
        let shown = match self {
            Scale::Percent | Scale::Points => 100.0 * step,
            Scale::Ratio | Scale::Number => step,
        };
        let d = (-shown.log10().floor()).max(0.0) as usize;
        let v0 = if v.abs() < step * 1e-6 { 0.0 } else { v };
        match self {
            Scale::Percent => format!("{:.d$}%", 100.0 * v0),
            Scale::Points if v0 == 0.0 => "0".to_string(),
            Scale::Points => format!("{:+.d$} pp", 100.0 * v0),
            Scale::Ratio => format!("{v0:.d$}×"),
            Scale::Number => format!("{v0:.d$}"),
        }
    }

    pub fn label(self, v: f64) -> String {
        match self {
            Scale::Number if v.abs() >= 100.0 => format!("{v:.0}"),
            Scale::Number => format!("{v:.2}"),
            Scale::Percent => format!("{:.0}%", 100.0 * v),
            Scale::Ratio => format!("{v:.2}×"),
            Scale::Points => format!("{:+.1} pp", 100.0 * v),
        }
    }
}

fn layout(
    kind: &'static str,
    title: &str,
    items: Vec<Item>,
    lo: f64,
    hi: f64,
    threshold: Option<f64>,
    scale_kind: Scale,
) -> BarChart {
    // Shares stay within 0..1: a nice range never passes 100%.
    let (mut lo, mut hi, step) = nice_range(lo, hi);
    if scale_kind == Scale::Percent {
        lo = lo.max(0.0);
        hi = hi.min(1.0);
    }
    let longest = items.iter().map(|i| text_width(&i.label)).fold(0.0, f64::max);
    let plot_x = (longest + 14.0).max(MIN_LABEL_W).ceil();
    // The value column fits the longest value with its verdict mark.
    let value_w = items.iter().map(|i| text_width(&i.text) + 24.0).fold(VALUE_W, f64::max).ceil();
    let plot_w = PLOT_W;
    let span = if hi - lo > 1e-12 { hi - lo } else { 1.0 };
    let scale = |v: f64| round1(plot_x + ((v - lo) / span).clamp(0.0, 1.0) * plot_w);
    let rows: Vec<BarRow> = items
        .into_iter()
        .enumerate()
        .map(|(i, it)| {
            let y = round1(TOP + ROW_H * i as f64 + ROW_H / 2.0);
            let (c0, c1) = it.ci.unwrap_or((it.value, it.value));
            let base = scale(lo.max(0.0).min(hi));
            let end = scale(it.value);
            BarRow {
                label: it.label,
                y,
                x: base.min(end),
                w: round1((end - base).abs()),
                cx: end,
                ci_x0: scale(c0),
                ci_x1: scale(c1),
                has_ci: it.ci.is_some(),
                verdict: it.verdict,
                text: it.text,
            }
        })
        .collect();
    let axis_y = round1(TOP + ROW_H * rows.len() as f64 + 4.0);
    let count = ((hi - lo) / step).round() as i64;
    let ticks = (0..=count)
        .map(|k| {
            let v = lo + step * k as f64;
            Tick { x: scale(v), label: scale_kind.tick(v, step) }
        })
        .collect();
    let zero_x = (scale_kind == Scale::Points && lo < 0.0 && hi > 0.0).then(|| scale(0.0));
    BarChart {
        kind,
        title: title.to_string(),
        caption: String::new(),
        width: (plot_x + plot_w + value_w) as u32,
        height: (axis_y + 22.0) as u32,
        plot_x,
        plot_w,
        axis_y,
        rows,
        threshold_x: threshold.map(scale),
        threshold_label: threshold.map_or(String::new(), |t| scale_kind.label(t)),
        ticks,
        zero_x,
    }
}

/// Horizontal bars from `lo` (usually 0) with optional interval whiskers.
pub fn bars(title: &str, items: Vec<Item>, lo: f64, hi: f64, threshold: Option<f64>, scale: Scale) -> BarChart {
    layout("bars", title, items, lo, hi, threshold, scale)
}

/// Points with interval whiskers around a reference line (forest plot).
pub fn forest(title: &str, items: Vec<Item>, lo: f64, hi: f64, threshold: f64, scale: Scale) -> BarChart {
    layout("forest", title, items, lo, hi, Some(threshold), scale)
}

/// One cell of a recognition matrix.
#[derive(Debug, Serialize)]
pub struct Cell {
    /// `same` (app = issuer, not required), `live`, `dead`, `none` (no attempts).
    pub kind: &'static str,
    /// The success rate, or empty where there were no scans.
    pub rate: String,
    pub attempts: String,
    pub one_way: bool,
    /// "✓ live · 1,234 scans", as the report words it.
    pub state: String,
}

impl Cell {
    pub fn same() -> Cell {
        Cell { kind: "same", rate: String::new(), attempts: String::new(), one_way: false, state: String::new() }
    }

    pub fn of(attempts: u64, rate: Option<f64>, live: bool, one_way: bool) -> Cell {
        Cell {
            kind: if attempts == 0 {
                "none"
            } else if live {
                "live"
            } else {
                "dead"
            },
            rate: rate.map_or_else(String::new, |r| format!("{:.1}%", 100.0 * r)),
            attempts: super::view::thousands(attempts),
            one_way,
            state: String::new(),
        }
    }
}

/// An app × issuer matrix for one region.
#[derive(Debug, Serialize)]
pub struct Heatmap {
    pub region: String,
    pub caption: String,
    /// The corner cell's heading ("App / issuer").
    pub corner: String,
    /// The matrix's fixed words (macros see no catalogue).
    pub words: std::collections::BTreeMap<&'static str, String>,
    pub issuers: Vec<String>,
    /// One row per scanning app, one cell per issuer.
    pub rows: Vec<MatrixRow>,
}

#[derive(Debug, Serialize)]
pub struct MatrixRow {
    pub app: String,
    pub cells: Vec<Cell>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_geometry() {
        let items = vec![
            Item { label: "a".into(), value: 0.5, ci: Some((0.4, 0.6)), verdict: "fail", text: "50%".into() },
            Item { label: "b".into(), value: 1.0, ci: None, verdict: "pass", text: "100%".into() },
        ];
        let c = bars("t", items, 0.0, 1.0, Some(0.85), Scale::Percent);
        // Short labels: the plot starts at x = 90 and runs 380 px.
        assert_eq!((c.rows[0].x, c.rows[0].w), (90.0, 190.0));
        assert_eq!((c.rows[0].ci_x0, c.rows[0].ci_x1), (242.0, 318.0));
        assert_eq!(c.rows[1].w, 380.0);
        assert_eq!(c.threshold_x, Some(413.0));
        assert_eq!(c.rows[1].y, 47.0);
        // 0..1 in steps of 0.2: 0%, 20%, ..., 100%.
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["0%", "20%", "40%", "60%", "80%", "100%"]);
        assert_eq!(c.width, 90 + 380 + 70);
        assert_eq!(c.threshold_label, "85%");
        assert_eq!(Scale::Points.label(0.0575), "+5.8 pp");
        assert_eq!(Scale::Ratio.label(1.25), "1.25×");
    }

    #[test]
    fn ticks_are_nice_and_differences_have_a_zero_line() {
        // -2.1 pp .. +11.5 pp: steps of 5 pp from -5 to +15, zero included.
        let close = |a: (f64, f64, f64), b: (f64, f64, f64)| {
            (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9 && (a.2 - b.2).abs() < 1e-9
        };
        assert!(close(nice_range(-0.021, 0.115), (-0.05, 0.15, 0.05)), "{:?}", nice_range(-0.021, 0.115));
        let item = |v: f64| Item {
            label: "UnionPay Cloud QuickPass on meituan".into(),
            value: v,
            ci: Some((v - 0.01, v + 0.01)),
            verdict: "fail",
            text: String::new(),
        };
        let c = forest("t", vec![item(0.07)], -0.021, 0.115, 0.01, Scale::Points);
        let labels: Vec<&str> = c.ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["-5 pp", "0", "+5 pp", "+10 pp", "+15 pp"]);
        // Zero at a quarter of the 380 px plot.
        assert_eq!(c.zero_x, Some(c.plot_x + 95.0));
        // The label column fits the 35-character label: 35 × 7.5 + 14 px.
        assert_eq!(c.plot_x, 277.0);
        // Ratios 0.61 .. 1.73: steps of 0.2 from 0.6 to 1.8.
        assert!(close(nice_range(0.61, 1.73), (0.6, 1.8, 0.2)), "{:?}", nice_range(0.61, 1.73));
        // Shares 0 .. 1: steps of 0.2.
        assert!(close(nice_range(0.0, 1.0), (0.0, 1.0, 0.2)));
        assert_eq!(Scale::Ratio.tick(1.5, 0.5), "1.5×");
        assert_eq!(Scale::Percent.tick(0.95, 0.01), "95%");
        assert_eq!(Scale::Percent.tick(0.955, 0.005), "95.5%");
    }
}
