//! The exclusivity drawing: exclusive merchants per platform, with the
//! offenders from the evidence.

use super::*;

pub(super) fn exclusivity(f: &Finding) -> Section {
    let mut s = section(f);
    let rows = f
        .groups
        .iter()
        .map(|g| Row {
            cells: vec![
                key(g, "platform"),
                thousands(g.n),
                g.value.map(|v| thousands(v as u64)).unwrap_or_else(|| reason(g)),
                fields!(g, Exclusivity, ExclusivityFields).affiliated_provider,
                verdict_text(g.verdict).to_string(),
            ],
            verdict: g.verdict.name(),
        })
        .collect();
    s.show_preview = true;
    s.table = group_table(
        "Exclusive merchants per platform",
        &["Platform", "Merchants", "Exclusive", "Own provider", "Verdict"],
        rows,
    );
    s
}
