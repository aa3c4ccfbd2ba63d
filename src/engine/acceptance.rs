//! Acceptance (bar-code mutual recognition): for every required cell
//! (region × app ≠ issuer), attempts and success rate of offline scans. A
//! cell is live with enough attempts and a high enough success rate; a
//! required cell with no attempts is listed with n = 0 and is not live.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::util::{counts, pct, strings};
use super::{Context, NotEvaluable};
use crate::contract::Dataset;
use crate::findings::{EvidenceTable, Finding, Group, Verdict};
use crate::rulebook::{Rule, RuleSpec};
use crate::stats;

/// The scan aggregate both acceptance and reciprocity use.
pub fn scan_plan(rule: &Rule, ctx: &Context) -> Result<LazyFrame, NotEvaluable> {
    let frame = ctx.rule_frame(rule, Dataset::Transactions, &["wallet_app", "code_issuer"])?;
    Ok(frame
        .filter(col("channel").eq(lit("offline")).and(col("app").is_not_null()).and(col("issuer").is_not_null()))
        .group_by([col("region"), col("app"), col("issuer")])
        .agg([
            len().cast(DataType::UInt64).alias("attempts"),
            col("status").eq(lit("success")).sum().cast(DataType::UInt64).alias("successes"),
        ]))
}

/// Attempts and successes per (region, app, issuer).
pub type Cells = BTreeMap<(String, String, String), (u64, u64)>;

pub fn cells(df: &DataFrame) -> anyhow::Result<Cells> {
    let (r, a, i) = (strings(df, "region")?, strings(df, "app")?, strings(df, "issuer")?);
    let (n, s) = (counts(df, "attempts")?, counts(df, "successes")?);
    let mut out = Cells::new();
    for k in 0..df.height() {
        out.insert((r[k].clone(), a[k].clone(), i[k].clone()), (n[k], s[k]));
    }
    Ok(out)
}

/// Whether a cell with these counts is live.
pub fn live(attempts: u64, successes: u64, min_attempts: u64, min_success: f64) -> bool {
    attempts > 0 && attempts >= min_attempts && successes as f64 / attempts as f64 >= min_success
}

pub fn plans(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    Ok(vec![scan_plan(rule, ctx)?])
}

pub fn evaluate(rule: &Rule, _ctx: &Context, frames: Vec<DataFrame>) -> anyhow::Result<Finding> {
    let RuleSpec::Acceptance { regions, providers, min_attempts, min_success } = &rule.spec else {
        unreachable!("acceptance module called for another kind")
    };
    let cells = cells(&frames.into_iter().next().unwrap_or_default())?;
    let mut groups = Vec::new();
    let mut evidence = EvidenceTable {
        header: ["region", "app", "issuer", "attempts", "successes", "success_rate", "reason"]
            .map(String::from)
            .to_vec(),
        rows: Vec::new(),
    };
    for region in regions {
        for app in providers {
            for issuer in providers {
                if app == issuer {
                    continue;
                }
                let (n, s) = cells.get(&(region.clone(), app.clone(), issuer.clone())).copied().unwrap_or((0, 0));
                let is_live = live(n, s, *min_attempts, *min_success);
                let rate = (n > 0).then(|| s as f64 / n as f64);
                let (lo, hi) = match stats::wilson(s, n) {
                    Some((l, h)) => (Some(l), Some(h)),
                    None => (None, None),
                };
                let reason = if n == 0 {
                    "no attempts".to_string()
                } else if n < *min_attempts {
                    format!("only {n} attempts (< {min_attempts})")
                } else if !is_live {
                    format!("success {} < {}", pct(s as f64 / n as f64), pct(*min_success))
                } else {
                    String::new()
                };
                let verdict = if is_live { Verdict::Pass } else { Verdict::Fail };
                if !is_live {
                    evidence.rows.push(vec![
                        region.clone(),
                        app.clone(),
                        issuer.clone(),
                        n.to_string(),
                        s.to_string(),
                        rate.map_or(String::new(), |r| format!("{r:.6}")),
                        reason.clone(),
                    ]);
                }
                let mut g = Group::new(&[("region", region), ("app", app), ("issuer", issuer)], n, rate, verdict)
                    .with("successes", s)
                    .with("ci_low", lo)
                    .with("ci_high", hi)
                    .with("live", is_live);
                if !reason.is_empty() {
                    g = g.with("reason", reason);
                }
                groups.push(g);
            }
        }
    }
    let total = groups.len();
    let dead = evidence.rows.len();
    let verdict = if total == 0 { Verdict::NotEvaluable } else { Verdict::combine(groups.iter().map(|g| g.verdict)) };
    let message = if total == 0 {
        "No required cells: the rule names fewer than two providers or no region.".to_string()
    } else if dead == 0 {
        format!("All {total} required city cells are live.")
    } else {
        let no_traffic = evidence.rows.iter().filter(|r| r[3] == "0").count();
        let listed: Vec<String> =
            evidence.rows.iter().take(5).map(|r| format!("{} {}→{} ({})", r[0], r[1], r[2], r[6])).collect();
        format!(
            "{dead} of {total} required city cells are not live ({no_traffic} with no attempts at all): {}{}.",
            listed.join("; "),
            if dead > 5 { "; ..." } else { "" }
        )
    };
    let mut f = Finding::new(
        rule,
        verdict,
        message,
        Some(dead as f64),
        Some(0.0),
        format!("every cell live: attempts >= {min_attempts} and success >= {min_success}"),
        groups,
    );
    if dead > 0 {
        f.evidence_table = Some(evidence);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::live;

    #[test]
    fn liveness() {
        assert!(live(100, 95, 100, 0.95));
        assert!(!live(99, 99, 100, 0.95));
        assert!(!live(100, 94, 100, 0.95));
        assert!(!live(0, 0, 0, 0.0));
    }
}
