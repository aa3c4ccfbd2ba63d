//! The collection-codes drawing: per group, the codes that count, the
//! schemes the codes carry, and the offending codes from the evidence.

use super::*;
use crate::findings::CodeFields;

/// "alipay 120, wechat_pay 80, …": the schemes most carried first.
fn schemes_text(c: &CodeFields, rb: &Rulebook, l: &Catalog) -> String {
    let mut s: Vec<(&String, &u64)> = c.schemes.iter().collect();
    s.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> =
        s.iter().take(4).map(|(k, n)| format!("{} {}", rb.display_name_in(k, l.lang), thousands(**n))).collect();
    let more = if s.len() > 4 { l.f("n_more", &[("n", &(s.len() - 4))]) } else { String::new() };
    if shown.is_empty() {
        l.t("none")
    } else {
        shown.join(", ") + &more
    }
}

pub(super) fn codes(f: &Finding, rb: &Rulebook, l: &Catalog) -> Section {
    let mut s = section(f, rb, l);
    let rows = f
        .groups
        .iter()
        .map(|g| {
            let c = fields!(g, Codes, CodeFields);
            let group = if g.key.is_empty() { l.t("all_codes") } else { group_label(g, l) };
            let counted = match c.codes_undetermined {
                Some(u) => l.f("undetermined", &[("n", &thousands(c.codes_ok)), ("u", &thousands(u))]),
                None => thousands(c.codes_ok),
            };
            Row {
                cells: vec![
                    group,
                    thousands(g.n),
                    counted,
                    g.value.map(pct).unwrap_or_else(|| reason(g, l)),
                    schemes_text(&c, rb, l),
                    verdict_text(g.verdict, l),
                ],
                verdict: g.verdict.name(),
            }
        })
        .collect();
    s.show_preview = true;
    let header = ["group", "codes_n", "counted", "share", "schemes_carried", "verdict"].map(|k| l.t(k));
    s.table = group_table(l, &l.t("codes_caption"), &header.each_ref().map(String::as_str), rows);
    s
}
