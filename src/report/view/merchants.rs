//! The exclusivity drawing: exclusive merchants per platform, with the
//! offenders from the evidence.

use super::*;

pub(super) fn exclusivity(f: &Finding, rb: &Rulebook, l: &Catalog) -> Section {
    let mut s = section(f, rb, l);
    let rows = f
        .groups
        .iter()
        .map(|g| Row {
            cells: vec![
                platform(g, l),
                thousands(g.n),
                g.value.map(|v| thousands(v as u64)).unwrap_or_else(|| reason(g, l)),
                rb.display_name_in(&fields!(g, Exclusivity, ExclusivityFields).affiliated_provider, l.lang),
                verdict_text(g.verdict, l),
            ],
            verdict: g.verdict.name(),
        })
        .collect();
    s.show_preview = true;
    let header = ["platform", "merchants", "exclusive", "own_provider", "verdict"].map(|k| l.t(k));
    s.table = group_table(l, &l.t("exclusive_caption"), &header.each_ref().map(String::as_str), rows);
    s
}
