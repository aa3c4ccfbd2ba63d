//! The coverage drawing: bars of each group's share (or ratio to the
//! platform's own provider) against the target, and the group table.

use super::*;

pub(super) fn coverage(f: &Finding, relative: bool, merchant_unit: bool, rb: &Rulebook, l: &Catalog) -> Section {
    let mut s = section(f, rb, l);
    s.show_preview = merchant_unit && !relative;
    let threshold = f.threshold.unwrap_or(0.0);
    let groups: Vec<&Group> = f.groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).collect();
    let label = |g: &Group| {
        let mut parts = vec![platform(g, l)];
        if g.key.contains_key("region") {
            parts.push(key_label(g, "region", l));
        }
        if g.key.contains_key("provider") {
            parts.push(rb.display_name_in(&key(g, "provider"), l.lang));
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
        &l.f(if relative { "coverage_chart_ratio" } else { "coverage_chart_share" }, &[("rule", &f.rule_id)]),
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
                None => reason(g, l),
            };
            let mut cells =
                vec![label(g), thousands(g.n), thousands(fields!(g, Coverage, CoverageFields).offered), value];
            if relative {
                cells.push(rb.display_name_in(
                    &fields!(g, Coverage, CoverageFields).reference_provider.unwrap_or_default(),
                    l.lang,
                ));
            } else {
                cells.push(ci);
            }
            cells.push(match &g.detail {
                Some(Detail::Coverage(c)) => thousands(c.gap_units),
                _ => String::new(),
            });
            cells.push(verdict_text(g.verdict, l));
            Row { cells, verdict: g.verdict.name() }
        })
        .collect();
    let keys: &[&str] = if relative {
        &["group", "units", "offering_rival", "ratio", "compared_with", "gap_units", "verdict"]
    } else {
        &["group", "units", "offering", "share", "simultaneous_interval", "gap_units", "verdict"]
    };
    let header: Vec<String> = keys.iter().map(|k| l.t(k)).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    s.table = group_table(l, &l.f("by_group", &[("rule", &f.rule_id)]), &header, rows);
    s
}
