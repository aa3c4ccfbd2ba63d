//! The comparison drawing: each rival against the platform's own provider,
//! a forest plot per platform and the comparison table.

use super::*;

pub(super) fn parity(f: &Finding, ratio: bool, unit: MetricUnit, rb: &Rulebook, l: &Catalog) -> Section {
    let mut s = section(f, rb, l);
    let name = |id: &str| rb.display_name_in(id, l.lang);
    let compared = |v: Option<f64>, ratio: bool| compared(v, ratio, l);
    let threshold = f.threshold.unwrap_or(if ratio { 1.0 } else { 0.0 });
    let evaluable: Vec<&Group> = f.groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).collect();
    let mut platforms: Vec<String> = evaluable.iter().map(|g| platform(g, l)).collect();
    platforms.dedup();
    // One axis for the whole rule so platforms compare at a glance.
    let mut lo = if ratio { 0.0 } else { threshold.min(0.0) };
    let mut hi = if ratio { threshold.max(1.0) } else { threshold.max(0.0) };
    for g in &evaluable {
        for v in [g.value, g.judged.ci_low, g.judged.ci_high].into_iter().flatten() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    // A panel only where a rival fails or is undecided; the rest in one line.
    let mut quiet: Vec<String> = Vec::new();
    for p in &platforms {
        if evaluable.iter().filter(|g| platform(g, l) == *p).all(|g| g.verdict == Verdict::Pass) {
            quiet.push(p.clone());
            continue;
        }
        let items: Vec<charts::Item> = evaluable
            .iter()
            .filter(|g| platform(g, l) == *p && g.value.is_some())
            .map(|g| charts::Item {
                label: name(&key(g, "provider")),
                value: g.value.unwrap_or(0.0),
                ci: ci(g),
                verdict: g.verdict.name(),
                text: compared(g.value, ratio),
            })
            .collect();
        if !items.is_empty() {
            s.charts.push(charts::forest(
                &l.f("forest_chart", &[("rule", &f.rule_id), ("platform", p)]),
                items,
                lo,
                hi,
                threshold,
                if ratio { charts::Scale::Ratio } else { charts::Scale::Points },
            ));
        }
    }
    if !quiet.is_empty() {
        s.folded_note = l.f("quiet_platforms", &[("platforms", &quiet.join(&l.t("comma")))]);
    }
    let metric_value = |v: Option<f64>| match (v, unit) {
        (None, _) => "—".to_string(),
        (Some(x), MetricUnit::Millis) => format!("{x:.0} ms"),
        (Some(x), MetricUnit::FinePercent) => format!("{:.2}%", 100.0 * x),
        (Some(x), MetricUnit::Percent) => pct(x),
    };
    let rows = f
        .groups
        .iter()
        .map(|g| {
            let mut why = reason(g, l);
            let c = g.comparison().cloned().unwrap_or_default();
            if g.verdict == Verdict::Inconclusive {
                if let (Some(r), Some(a)) = (c.more_rival_needed, c.more_reference_needed) {
                    let more = l.f("more_rival_own", &[("rival", &thousands(r)), ("own", &thousands(a))]);
                    why = format!("{why}{}{more}", l.t("list_sep"));
                } else if let Some(n) = c.more_shared_sessions_needed {
                    let more = l.f("more_shared", &[("n", &thousands(n))]);
                    why = format!("{why}{}{more}", l.t("list_sep"));
                }
            }
            Row {
                cells: vec![
                    format!("{} · {}", platform(g, l), name(&key(g, "provider"))),
                    thousands(g.n),
                    metric_value(c.rival_value),
                    name(&c.reference_provider),
                    g.comparison().map(|c| thousands(c.reference_n)).unwrap_or_default(),
                    metric_value(c.reference_value),
                    compared(g.value, ratio),
                    match ci(g) {
                        Some((lo, hi)) => {
                            format!("{} – {}", compared(Some(lo), ratio), compared(Some(hi), ratio))
                        }
                        _ => "—".into(),
                    },
                    verdict_text(g.verdict, l),
                    why.trim_start_matches(&l.t("list_sep")).to_string(),
                ],
                verdict: g.verdict.name(),
            }
        })
        .collect();
    let header = [
        "platform_rival",
        "rival_n",
        "rival",
        "own_provider",
        "own_n",
        "own",
        "compared",
        "simultaneous_interval",
        "verdict",
        "note",
    ]
    .map(|k| l.t(k));
    s.table = group_table(l, &l.t("forest_caption"), &header.each_ref().map(String::as_str), rows);
    s
}
