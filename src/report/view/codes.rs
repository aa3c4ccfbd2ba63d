//! The collection-codes drawing: per group, the codes that count, the
//! schemes the codes carry, and the offending codes from the evidence.

use super::*;
use crate::findings::CodeFields;

/// "alipay 120, wechat_pay 80, …": the schemes most carried first.
fn schemes_text(c: &CodeFields, rb: &Rulebook) -> String {
    let mut s: Vec<(&String, &u64)> = c.schemes.iter().collect();
    s.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> =
        s.iter().take(4).map(|(k, n)| format!("{} {}", rb.display_name(k), thousands(**n))).collect();
    let more = if s.len() > 4 { format!(", +{} more", s.len() - 4) } else { String::new() };
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ") + &more
    }
}

pub(super) fn codes(f: &Finding, rb: &Rulebook) -> Section {
    let mut s = section(f);
    let rows = f
        .groups
        .iter()
        .map(|g| {
            let c = fields!(g, Codes, CodeFields);
            let group = if g.key.is_empty() { "all codes".to_string() } else { group_label(g) };
            let counted = match c.codes_undetermined {
                Some(u) => format!("{} (+{} undetermined)", thousands(c.codes_ok), thousands(u)),
                None => thousands(c.codes_ok),
            };
            Row {
                cells: vec![
                    group,
                    thousands(g.n),
                    counted,
                    g.value.map(pct).unwrap_or_else(|| reason(g)),
                    schemes_text(&c, rb),
                    verdict_text(g.verdict).to_string(),
                ],
                verdict: g.verdict.name(),
            }
        })
        .collect();
    s.show_preview = true;
    s.table = group_table(
        "Collection codes per group",
        &["Group", "Codes", "Counted", "Share", "Schemes carried", "Verdict"],
        rows,
    );
    s
}
