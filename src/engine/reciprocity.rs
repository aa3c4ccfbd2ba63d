//! Reciprocity: for each region and unordered provider pair, interconnection
//! must work both ways. Exactly one live direction fails; neither live is
//! inconclusive (the acceptance rule reports the dead cells).

use polars::prelude::*;

use super::acceptance::{cells, live, scan_plan};
use super::{Context, NotEvaluable};
use crate::findings::{EvidenceTable, Finding, Group, Verdict};
use crate::rulebook::{Rule, RuleSpec};

pub fn plans(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    Ok(vec![scan_plan(rule, ctx)?])
}

pub fn evaluate(rule: &Rule, _ctx: &Context, frames: Vec<DataFrame>) -> anyhow::Result<Finding> {
    let RuleSpec::Reciprocity { regions, providers, min_attempts, min_success } = &rule.spec else {
        unreachable!("reciprocity module called for another kind")
    };
    let cells = cells(&frames.into_iter().next().unwrap_or_default())?;
    let state = |r: &String, a: &String, b: &String| -> (u64, u64, bool) {
        let (n, s) = cells.get(&(r.clone(), a.clone(), b.clone())).copied().unwrap_or((0, 0));
        (n, s, live(n, s, *min_attempts, *min_success))
    };
    let mut groups = Vec::new();
    let mut evidence = EvidenceTable {
        header: ["region", "live_direction", "dead_direction", "dead_attempts", "dead_successes"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    for region in regions {
        for (i, a) in providers.iter().enumerate() {
            for b in providers.iter().skip(i + 1) {
                let (n_ab, s_ab, ab) = state(region, a, b);
                let (n_ba, s_ba, ba) = state(region, b, a);
                let verdict = match (ab, ba) {
                    (true, true) => Verdict::Pass,
                    (false, false) => Verdict::Inconclusive,
                    _ => Verdict::Fail,
                };
                if verdict == Verdict::Fail {
                    let (live_dir, dead_dir, dn, ds) = if ab {
                        (format!("{a}→{b}"), format!("{b}→{a}"), n_ba, s_ba)
                    } else {
                        (format!("{b}→{a}"), format!("{a}→{b}"), n_ab, s_ab)
                    };
                    evidence.rows.push(vec![region.clone(), live_dir, dead_dir, dn.to_string(), ds.to_string()]);
                }
                groups.push(
                    Group::new(&[("region", region), ("provider_a", a), ("provider_b", b)], n_ab + n_ba, None, verdict)
                        .with("attempts_a_to_b", n_ab)
                        .with("attempts_b_to_a", n_ba)
                        .with("live_a_to_b", ab)
                        .with("live_b_to_a", ba),
                );
            }
        }
    }
    let one_way = evidence.rows.len();
    let neither = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
    let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
    let message = if groups.is_empty() {
        "No provider pairs to check.".to_string()
    } else if one_way > 0 {
        let listed: Vec<String> =
            evidence.rows.iter().take(5).map(|r| format!("{}: {} live but {} not", r[0], r[1], r[2])).collect();
        format!("{one_way} of {} region pairs work one way only: {}.", groups.len(), listed.join("; "))
    } else if neither > 0 {
        format!(
            "No one-way pair, but {neither} of {} pairs are live in neither direction, so reciprocity cannot be shown.",
            groups.len()
        )
    } else {
        format!("All {} region pairs work both ways.", groups.len())
    };
    let mut f = Finding::new(rule, verdict, message, Some(one_way as f64), Some(0.0), "no one-way pair".into(), groups);
    if one_way > 0 {
        f.evidence_table = Some(evidence);
    }
    Ok(f)
}
