//! The coverage drawing: bars of each group's share (or ratio to the
//! platform's own provider) against the target, and the group table.

use super::*;

pub(super) fn coverage(f: &Finding, relative: bool, merchant_unit: bool, rb: &Rulebook) -> Section {
    let mut s = section(f);
    s.show_preview = merchant_unit && !relative;
    let threshold = f.threshold.unwrap_or(0.0);
    let groups: Vec<&Group> = f.groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).collect();
    let label = |g: &Group| {
        let mut parts = vec![key(g, "platform")];
        if g.key.contains_key("region") {
            parts.push(key_label(g, "region"));
        }
        if g.key.contains_key("provider") {
            parts.push(rb.display_name(&key(g, "provider")));
        }
        parts.join(" · ")
    };
    let items: Vec<charts::Item> = groups
        .iter()
        .map(|g| charts::Item {
            label: label(g),
            value: g.value.unwrap_or(0.0),
            ci: ci(g),
            verdict: g.verdict.name(),
            text: if relative { format!("{:.2}", g.value.unwrap_or(0.0)) } else { pct(g.value.unwrap_or(0.0)) },
        })
        .collect();
    let max = if relative { items.iter().map(|i| i.value).fold(1.0, f64::max).max(threshold) } else { 1.0 };
    s.charts.push(charts::bars(
        &format!("{}: {} by group", f.rule_id, if relative { "ratio to the platform's own provider" } else { "share" }),
        items,
        0.0,
        max,
        Some(threshold),
        if relative { charts::Scale::Ratio } else { charts::Scale::Percent },
    ));
    let rows = f
        .groups
        .iter()
        .map(|g| {
            let ci = match ci(g) {
                Some((lo, hi)) => format!("{} – {}", pct(lo), pct(hi)),
                _ => String::new(),
            };
            let value = match g.value {
                Some(v) if relative => format!("{v:.3}"),
                Some(v) => pct(v),
                None => reason(g),
            };
            let mut cells =
                vec![label(g), thousands(g.n), thousands(fields!(g, Coverage, CoverageFields).offered), value];
            if relative {
                cells.push(
                    rb.display_name(&fields!(g, Coverage, CoverageFields).reference_provider.unwrap_or_default()),
                );
            } else {
                cells.push(ci);
            }
            cells.push(match &g.detail {
                Some(Detail::Coverage(c)) => thousands(c.gap_units),
                _ => String::new(),
            });
            cells.push(verdict_text(g.verdict).to_string());
            Row { cells, verdict: g.verdict.name() }
        })
        .collect();
    let header: &[&str] = if relative {
        &["Group", "Units", "Offering the rival", "Ratio", "Compared with", "Gap (units)", "Verdict"]
    } else {
        &["Group", "Units", "Offering", "Share", "Simultaneous interval", "Gap (units)", "Verdict"]
    };
    s.table = group_table(&format!("{} by group", f.rule_id), header, rows);
    s
}
