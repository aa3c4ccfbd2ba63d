//! The concentration drawing: provider shares per group, HHI, CR1–CR3 and
//! the firms presumed dominant.

use super::*;

pub(super) fn presumed(g: &Group, rb: &Rulebook, l: &Catalog) -> String {
    match &g.detail {
        Some(Detail::Shares(s)) => {
            s.presumed_dominant.iter().map(|p| rb.display_name_in(p, l.lang)).collect::<Vec<_>>().join(&l.t("comma"))
        }
        _ => String::new(),
    }
}

pub(super) fn concentration(f: &Finding, rb: &Rulebook, l: &Catalog) -> Section {
    let mut s = section(f, rb, l);
    for g in &f.groups {
        let Some(Detail::Shares(share)) = &g.detail else { continue };
        let shares = &share.shares;
        let items = shares
            .iter()
            .map(|(firm, v)| charts::Item {
                label: rb.display_name_in(firm, l.lang),
                value: *v,
                ci: None,
                verdict: "neutral",
                text: pct(*v),
            })
            .collect();
        s.charts.push(charts::bars(
            &l.f("shares_chart", &[("rule", &f.rule_id), ("group", &group_label(g, l))]),
            items,
            0.0,
            1.0,
            None,
            charts::Scale::Percent,
        ));
    }
    let rows = f
        .groups
        .iter()
        .map(|g| Row {
            cells: vec![
                group_label(g, l),
                thousands(g.n),
                share_cell(g, |s| thousands(s.hhi.round() as u64)),
                share_cell(g, |s| pct(s.cr1)),
                share_cell(g, |s| pct(s.cr2)),
                share_cell(g, |s| pct(s.cr3)),
                presumed(g, rb, l),
                verdict_text(g.verdict, l),
            ],
            verdict: g.verdict.name(),
        })
        .collect();
    let header = [
        l.t("group"),
        l.t("transactions"),
        "HHI".into(),
        "CR1".into(),
        "CR2".into(),
        "CR3".into(),
        l.t("presumed"),
        l.t("verdict"),
    ];
    s.table = group_table(l, &l.t("concentration_caption"), &header.each_ref().map(String::as_str), rows);
    s
}
