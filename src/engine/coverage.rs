//! Coverage: the share of units (merchants or sessions) of each platform
//! that offered a provider at checkout, against a minimum share; or, in the
//! relative form, a rival's coverage divided by the affiliated provider's.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::util::{bools, counts, needed, pct, plural, strings};
use super::{Context, NotEvaluable};
use crate::contract::Dataset;
use crate::findings::{EvidenceTable, Finding, Group, Verdict};
use crate::rulebook::model::Unit;
use crate::rulebook::{Rule, RuleSpec};
use crate::stats;

struct Params<'a> {
    unit: Unit,
    providers: &'a [String],
    relative: bool,
    min: f64,
    by_region: bool,
}

fn params(rule: &Rule) -> Params<'_> {
    match &rule.spec {
        RuleSpec::Coverage { unit, providers, relative, min, by_region } => {
            Params { unit: *unit, providers, relative: *relative, min: *min, by_region: *by_region }
        }
        _ => unreachable!("coverage module called for another kind"),
    }
}

/// The providers whose offer flags are computed: the rule's, plus every
/// affiliated provider in the relative form.
fn flagged(rule: &Rule, ctx: &Context) -> Vec<String> {
    let p = params(rule);
    let mut out: Vec<String> = p.providers.to_vec();
    if p.relative {
        for prov in &ctx.rulebook.providers {
            if !prov.affiliated_platforms.is_empty() && !out.contains(&prov.id) {
                out.push(prov.id.clone());
            }
        }
    }
    out
}

fn keys(by_region: bool) -> Vec<&'static str> {
    if by_region {
        vec!["platform", "region"]
    } else {
        vec!["platform"]
    }
}

fn flag_name(i: usize) -> String {
    format!("offered_{i}")
}

pub fn plans(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    let p = params(rule);
    let frame = ctx.rule_frame(rule, Dataset::Checkout, &[])?;
    let unit_col = match p.unit {
        Unit::Merchant => "merchant_id",
        Unit::Session => "session_id",
    };
    let mut group: Vec<Expr> = keys(p.by_region).into_iter().map(col).collect();
    group.push(col(unit_col).alias("unit"));
    let flags: Vec<Expr> = flagged(rule, ctx)
        .iter()
        .enumerate()
        .map(|(i, id)| col("provider").eq(lit(id.as_str())).any(true).alias(flag_name(i)))
        .collect();
    let per_unit = frame.group_by(group).agg(flags.clone());
    Ok(vec![match p.unit {
        // Merchants are few enough to collect one row each: the uncovered
        // ones are the evidence.
        Unit::Merchant => per_unit,
        Unit::Session => {
            let sums: Vec<Expr> = (0..flags.len()).map(|i| col(flag_name(i)).sum().alias(flag_name(i))).collect();
            let mut agg = vec![len().alias("units")];
            agg.extend(sums);
            per_unit.group_by(keys(p.by_region).into_iter().map(col).collect::<Vec<_>>()).agg(agg)
        }
    }])
}

/// Counts per breakdown group: units and units offering each flagged provider.
struct Tally {
    units: u64,
    offered: Vec<u64>,
    /// Units (merchants) not offering each flagged provider, for evidence.
    missing: Vec<Vec<String>>,
}

pub fn evaluate(rule: &Rule, ctx: &Context, frames: Vec<DataFrame>) -> anyhow::Result<Finding> {
    let p = params(rule);
    let flagged = flagged(rule, ctx);
    let df = frames.into_iter().next().unwrap_or_default();
    let key_cols = keys(p.by_region);
    let key_vals: Vec<Vec<String>> = key_cols.iter().map(|k| strings(&df, k)).collect::<anyhow::Result<_>>()?;
    let flag_vals: Vec<Vec<u64>> = match p.unit {
        Unit::Merchant => (0..flagged.len())
            .map(|i| bools(&df, &flag_name(i)).map(|v| v.into_iter().map(u64::from).collect()))
            .collect::<anyhow::Result<_>>()?,
        Unit::Session => (0..flagged.len()).map(|i| counts(&df, &flag_name(i))).collect::<anyhow::Result<_>>()?,
    };
    let units: Vec<u64> = match p.unit {
        Unit::Merchant => vec![1; df.height()],
        Unit::Session => counts(&df, "units")?,
    };
    let unit_ids = match p.unit {
        Unit::Merchant => strings(&df, "unit")?,
        Unit::Session => vec![String::new(); df.height()],
    };
    let mut tallies: BTreeMap<Vec<String>, Tally> = BTreeMap::new();
    for row in 0..df.height() {
        let key: Vec<String> = key_vals.iter().map(|v| v[row].clone()).collect();
        let t = tallies.entry(key).or_insert_with(|| Tally {
            units: 0,
            offered: vec![0; flagged.len()],
            missing: vec![Vec::new(); flagged.len()],
        });
        t.units += units[row];
        for (i, f) in flag_vals.iter().enumerate() {
            t.offered[i] += f[row];
            if p.unit == Unit::Merchant && f[row] == 0 {
                t.missing[i].push(unit_ids[row].clone());
            }
        }
    }
    for t in tallies.values_mut() {
        for m in t.missing.iter_mut() {
            m.sort();
        }
    }
    let unit_word = match p.unit {
        Unit::Merchant => "merchant",
        Unit::Session => "session",
    };
    let mut groups = Vec::new();
    let mut evidence = EvidenceTable::default();
    let mut shortfalls = Vec::new();
    for (key, t) in &tallies {
        let mut kv: Vec<(&str, &str)> = key_cols.iter().copied().zip(key.iter().map(String::as_str)).collect();
        let platform = key[0].as_str();
        if p.relative {
            let Some(aff) = ctx.rulebook.affiliated(platform) else {
                kv.push(("provider", "*"));
                groups.push(
                    Group::new(&kv, t.units, None, Verdict::NotEvaluable)
                        .with("reason", "platform has no affiliated provider in the taxonomy"),
                );
                continue;
            };
            let ai = flagged.iter().position(|f| *f == aff.id).unwrap_or(0);
            for (i, prov) in p.providers.iter().enumerate() {
                if *prov == aff.id {
                    continue;
                }
                let mut kvp = kv.clone();
                kvp.push(("provider", prov));
                let (rival, own) = (t.offered[i], t.offered[ai]);
                if own == 0 {
                    groups.push(
                        Group::new(&kvp, t.units, None, Verdict::NotEvaluable)
                            .with("reason", format!("the affiliated provider {} was never offered", aff.name)),
                    );
                    continue;
                }
                let ratio = rival as f64 / own as f64;
                let verdict = if ratio >= p.min { Verdict::Pass } else { Verdict::Fail };
                let gap = needed(p.min, own).saturating_sub(rival);
                if verdict == Verdict::Fail {
                    shortfalls.push(format!(
                        "{} on {platform}: {:.2} ({} more {unit_word}s must offer it)",
                        ctx.rulebook.display_name(prov),
                        ratio,
                        gap
                    ));
                    evidence.rows.push(vec![
                        key.join("/"),
                        prov.clone(),
                        t.units.to_string(),
                        rival.to_string(),
                        own.to_string(),
                        format!("{ratio:.6}"),
                        gap.to_string(),
                    ]);
                }
                groups.push(
                    Group::new(&kvp, t.units, Some(ratio), verdict)
                        .with("offered", rival)
                        .with("share", rival as f64 / t.units as f64)
                        .with("reference_provider", aff.id.as_str())
                        .with("reference_offered", own)
                        .with("reference_value", own as f64 / t.units as f64)
                        .with("gap_units", gap),
                );
            }
        } else {
            for (i, prov) in p.providers.iter().enumerate() {
                let mut kvp = kv.clone();
                if p.providers.len() > 1 {
                    kvp.push(("provider", prov));
                }
                let share = t.offered[i] as f64 / t.units as f64;
                let (lo, hi) = stats::wilson(t.offered[i], t.units).unwrap_or((0.0, 1.0));
                let verdict = if share >= p.min { Verdict::Pass } else { Verdict::Fail };
                let gap = needed(p.min, t.units).saturating_sub(t.offered[i]);
                if verdict == Verdict::Fail {
                    shortfalls.push(format!(
                        "{} on {}: {} ({gap} more {unit_word}s must offer it)",
                        ctx.rulebook.display_name(prov),
                        key.join("/"),
                        pct(share)
                    ));
                    if p.unit == Unit::Merchant {
                        for m in &t.missing[i] {
                            evidence.rows.push(vec![key.join("/"), prov.clone(), m.clone()]);
                        }
                    } else {
                        evidence.rows.push(vec![
                            key.join("/"),
                            prov.clone(),
                            t.units.to_string(),
                            t.offered[i].to_string(),
                            format!("{share:.6}"),
                            gap.to_string(),
                        ]);
                    }
                }
                groups.push(
                    Group::new(&kvp, t.units, Some(share), verdict)
                        .with("offered", t.offered[i])
                        .with("ci_low", lo)
                        .with("ci_high", hi)
                        .with("gap_units", gap),
                );
            }
        }
    }
    evidence.header = if p.relative {
        ["group", "provider", "units", "offered", "reference_offered", "ratio", "gap_units"].map(String::from).to_vec()
    } else if p.unit == Unit::Merchant {
        ["group", "provider", "merchant_id"].map(String::from).to_vec()
    } else {
        ["group", "provider", "units", "offered", "share", "gap_units"].map(String::from).to_vec()
    };
    let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
    let value = groups.iter().filter_map(|g| g.value).reduce(f64::min);
    let names: Vec<String> = p.providers.iter().map(|x| ctx.rulebook.display_name(x)).collect();
    let what = if p.relative {
        format!("{} session coverage relative to each platform's own provider", names.join(", "))
    } else {
        format!("{} offered by {unit_word}s", names.join(", "))
    };
    let evaluable = groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).count();
    let message = match verdict {
        Verdict::Fail => format!(
            "{what}: {} of {} below target. {}.",
            plural(shortfalls.len(), "group"),
            evaluable,
            shortfalls.join("; ")
        ),
        Verdict::Pass => format!("{what}: all {} groups meet the target.", evaluable),
        _ => format!("{what}: no group could be evaluated (no checkout sessions matched)."),
    };
    let threshold_text = if p.relative { format!("ratio >= {}", p.min) } else { format!("share >= {}", p.min) };
    let mut f = Finding::new(rule, verdict, message, value, Some(p.min), threshold_text, groups);
    if !evidence.rows.is_empty() {
        f.evidence_table = Some(evidence);
    }
    Ok(f)
}
