//! The mutual-recognition drawings: a success matrix per city, and the
//! provider pairs that do not work alike both ways.

use super::*;

pub(super) fn acceptance(f: &Finding, regions: &[String], providers: &[String], reciprocity: &[&Finding]) -> Section {
    let mut s = section(f);
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
                app: app.clone(),
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
                        charts::Cell::of(g.n, g.value, g.verdict == Verdict::Pass, marked)
                    })
                    .collect(),
            })
            .collect();
        s.heatmaps.push(Heatmap { region: super::super::regions::label(region), issuers: providers.to_vec(), rows });
    }
    let rows = rows_not_passing(f, |g| {
        vec![
            format!("{} {} → {}", key_label(g, "region"), key(g, "app"), key(g, "issuer")),
            thousands(g.n),
            g.value.map(pct).unwrap_or_else(|| "—".into()),
            match ci(g) {
                Some((lo, hi)) => format!("{} – {}", pct(lo), pct(hi)),
                _ => "—".into(),
            },
            reason(g),
        ]
    });
    s.table = capped("Cells that are not live", &["Cell", "Attempts", "Success", "Simultaneous interval", "Why"], rows);
    s
}

pub(super) fn reciprocity_section(f: &Finding) -> Section {
    let mut s = section(f);
    let dir = |rate: Option<f64>, n: u64| match rate {
        Some(r) => format!("{} of {}", pct(r), thousands(n)),
        None => "no scans".to_string(),
    };
    let rows = rows_not_passing(f, |g| {
        vec![
            format!("{} {} ↔ {}", key_label(g, "region"), key(g, "provider_a"), key(g, "provider_b")),
            dir(fields!(g, Pair, PairFields).success_a_to_b, fields!(g, Pair, PairFields).attempts_a_to_b),
            dir(fields!(g, Pair, PairFields).success_b_to_a, fields!(g, Pair, PairFields).attempts_b_to_a),
            match ci(g) {
                Some((lo, hi)) => format!("{:+.1} to {:+.1} pp", 100.0 * lo, 100.0 * hi),
                _ => "—".into(),
            },
            verdict_text(g.verdict).to_string(),
            reason(g),
        ]
    });
    s.table = group_table(
        "Pairs not shown to work alike both ways",
        &["Pair", "A → B success", "B → A success", "Gap interval", "Verdict", "Why"],
        rows,
    );
    s
}
