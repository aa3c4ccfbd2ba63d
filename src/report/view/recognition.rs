//! The mutual-recognition drawings: a success matrix per city, and the
//! provider pairs that do not work alike both ways.

use super::*;

pub(super) fn acceptance(
    f: &Finding,
    regions: &[String],
    providers: &[String],
    reciprocity: &[&Finding],
    rb: &Rulebook,
    l: &Catalog,
) -> Section {
    let mut s = section(f, rb, l);
    let name = |id: &str| rb.display_name_in(id, l.lang);
    let words: BTreeMap<&'static str, String> = ["not_required", "one_way"].into_iter().map(|k| (k, l.t(k))).collect();
    let one_way: Vec<(String, String, String)> = reciprocity
        .iter()
        .flat_map(|r| r.groups.iter())
        .filter(|g| g.verdict == Verdict::Fail)
        .map(|g| (key(g, "region"), key(g, "provider_a"), key(g, "provider_b")))
        .collect();
    let by_cell: BTreeMap<(String, String, String), &Group> =
        f.groups.iter().map(|g| ((key(g, "region"), key(g, "app"), key(g, "issuer")), g)).collect();
    // `regions = "*"`: the cities the rule found in the data, from its groups.
    let regions: Vec<String> = if regions.iter().any(|r| r == "*") {
        let seen: std::collections::BTreeSet<String> = f.groups.iter().map(|g| key(g, "region")).collect();
        seen.into_iter().collect()
    } else {
        regions.to_vec()
    };
    for region in &regions {
        let rows = providers
            .iter()
            .map(|app| charts::MatrixRow {
                app: name(app),
                cells: providers
                    .iter()
                    .map(|issuer| {
                        if app == issuer {
                            return charts::Cell::same();
                        }
                        let Some(g) = by_cell.get(&(region.clone(), app.clone(), issuer.clone())) else {
                            return charts::Cell::same();
                        };
                        let marked = one_way
                            .iter()
                            .any(|(r, a, b)| r == region && ((a == app && b == issuer) || (a == issuer && b == app)));
                        let mut cell = charts::Cell::of(g.n, g.value, g.verdict == Verdict::Pass, marked);
                        cell.state = l.f(
                            if cell.kind == "live" { "cell_live" } else { "cell_not_live" },
                            &[("n", &cell.attempts)],
                        );
                        if cell.rate.is_empty() {
                            cell.rate = l.t("no_traffic");
                        }
                        cell
                    })
                    .collect(),
            })
            .collect();
        let region = super::super::regions::label(region, l.lang);
        s.heatmaps.push(Heatmap {
            caption: l.f("matrix_caption_region", &[("region", &region)]),
            corner: l.t("app_issuer"),
            words: words.clone(),
            region,
            issuers: providers.iter().map(|p| name(p)).collect(),
            rows,
        });
    }
    let rows = rows_not_passing(f, |g| {
        vec![
            format!("{} {} → {}", key_label(g, "region", l), name(&key(g, "app")), name(&key(g, "issuer"))),
            thousands(g.n),
            g.value.map(pct).unwrap_or_else(|| "—".into()),
            match ci(g) {
                Some((lo, hi)) => format!("{} – {}", pct(lo), pct(hi)),
                _ => "—".into(),
            },
            reason(g, l),
        ]
    });
    let header = ["cell", "attempts", "success", "simultaneous_interval", "why"].map(|k| l.t(k));
    s.table = capped(l, &l.t("cells_caption"), &header.each_ref().map(String::as_str), rows);
    s
}

pub(super) fn reciprocity_section(f: &Finding, rb: &Rulebook, l: &Catalog) -> Section {
    let mut s = section(f, rb, l);
    let name = |id: &str| rb.display_name_in(id, l.lang);
    let dir = |rate: Option<f64>, n: u64| match rate {
        Some(r) => l.f("rate_of", &[("rate", &pct(r)), ("n", &thousands(n))]),
        None => l.t("no_scans"),
    };
    let rows = rows_not_passing(f, |g| {
        vec![
            format!("{} {} ↔ {}", key_label(g, "region", l), name(&key(g, "provider_a")), name(&key(g, "provider_b"))),
            dir(fields!(g, Pair, PairFields).success_a_to_b, fields!(g, Pair, PairFields).attempts_a_to_b),
            dir(fields!(g, Pair, PairFields).success_b_to_a, fields!(g, Pair, PairFields).attempts_b_to_a),
            match ci(g) {
                Some((lo, hi)) => l.f(
                    "points_range",
                    &[("lo", &format!("{:+.1}", 100.0 * lo)), ("hi", &format!("{:+.1}", 100.0 * hi))],
                ),
                _ => "—".into(),
            },
            verdict_text(g.verdict, l),
            reason(g, l),
        ]
    });
    let header = ["pair", "a_to_b", "b_to_a", "gap_interval", "verdict", "why"].map(|k| l.t(k));
    s.table = group_table(l, &l.t("pairs_caption"), &header.each_ref().map(String::as_str), rows);
    s
}
