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
    pub width: u32,
    pub height: u32,
    pub plot_x: f64,
    pub plot_w: f64,
    pub axis_y: f64,
    pub rows: Vec<BarRow>,
    pub threshold_x: Option<f64>,
    pub threshold_label: String,
    pub ticks: Vec<Tick>,
}

const WIDTH: u32 = 640;
const LABEL_W: f64 = 190.0;
const VALUE_W: f64 = 70.0;
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
    let plot_x = LABEL_W;
    let plot_w = f64::from(WIDTH) - LABEL_W - VALUE_W;
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
    let ticks = (0..=4)
        .map(|k| {
            let v = lo + span * f64::from(k) / 4.0;
            Tick { x: scale(v), label: scale_kind.label(v) }
        })
        .collect();
    BarChart {
        kind,
        title: title.to_string(),
        width: WIDTH,
        height: (axis_y + 22.0) as u32,
        plot_x,
        plot_w,
        axis_y,
        rows,
        threshold_x: threshold.map(scale),
        threshold_label: threshold.map_or(String::new(), |t| {
            if kind == "bars" {
                format!("target {}", scale_kind.label(t))
            } else {
                format!("threshold {}", scale_kind.label(t))
            }
        }),
        ticks,
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
    pub rate: String,
    pub attempts: String,
    pub one_way: bool,
}

impl Cell {
    pub fn same() -> Cell {
        Cell { kind: "same", rate: String::new(), attempts: String::new(), one_way: false }
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
            rate: rate.map_or_else(|| "no traffic".to_string(), |r| format!("{:.1}%", 100.0 * r)),
            attempts: super::view::thousands(attempts),
            one_way,
        }
    }
}

/// An app × issuer matrix for one region.
#[derive(Debug, Serialize)]
pub struct Heatmap {
    pub region: String,
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
        // plot from x = 190 over 380 px.
        assert_eq!((c.rows[0].x, c.rows[0].w), (190.0, 190.0));
        assert_eq!((c.rows[0].ci_x0, c.rows[0].ci_x1), (342.0, 418.0));
        assert_eq!(c.rows[1].w, 380.0);
        assert_eq!(c.threshold_x, Some(513.0));
        assert_eq!(c.rows[1].y, 47.0);
        assert_eq!(c.ticks[2].label, "50%");
        assert_eq!(c.threshold_label, "target 85%");
        assert_eq!(Scale::Points.label(0.0575), "+5.8 pp");
        assert_eq!(Scale::Ratio.label(1.25), "1.25×");
    }
}
