//! The concentration drawing: provider shares per group, HHI, CR1–CR3 and
//! the firms presumed dominant.

use super::*;

pub(super) fn presumed(g: &Group, rb: &Rulebook) -> String {
    match &g.detail {
        Some(Detail::Shares(s)) => {
            s.presumed_dominant.iter().map(|p| rb.display_name(p)).collect::<Vec<_>>().join(", ")
        }
        _ => String::new(),
    }
}

pub(super) fn concentration(f: &Finding, rb: &Rulebook) -> Section {
    let mut s = section(f);
    for g in &f.groups {
        let Some(Detail::Shares(share)) = &g.detail else { continue };
        let shares = &share.shares;
        let items = shares
            .iter()
            .map(|(firm, v)| charts::Item {
                label: rb.display_name(firm),
                value: *v,
                ci: None,
                verdict: "neutral",
                text: pct(*v),
            })
            .collect();
        s.charts.push(charts::bars(
            &format!("{}: provider shares, {}", f.rule_id, group_label(g)),
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
                group_label(g),
                thousands(g.n),
                share_cell(g, |s| thousands(s.hhi.round() as u64)),
                share_cell(g, |s| pct(s.cr1)),
                share_cell(g, |s| pct(s.cr2)),
                share_cell(g, |s| pct(s.cr3)),
                presumed(g, rb),
                verdict_text(g.verdict).to_string(),
            ],
            verdict: g.verdict.name(),
        })
        .collect();
    s.table = group_table(
        "Concentration per group",
        &["Group", "Transactions", "HHI", "CR1", "CR2", "CR3", "Presumed dominant (AML Art. 24)", "Verdict"],
        rows,
    );
    s
}
