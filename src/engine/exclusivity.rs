//! Exclusivity: per platform, the merchants whose checkout offered only the
//! platform's affiliated provider over the whole window (no rival ever).
//! A label no alias maps counts as "possibly a rival", so a merchant is
//! never flagged on the strength of a label hutong could not read.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::util::{counts, plural, strings};
use super::{Context, Names, NotEvaluable};
use crate::contract::Dataset;
use crate::findings::{EvidenceTable, Finding, Group, Verdict};
use crate::rulebook::{Rule, RuleSpec};

pub fn plans(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    let frame = ctx.rule_frame(rule, Dataset::Checkout, &[])?;
    Ok(vec![frame.group_by([col("platform"), col("merchant_id")]).agg([
        col("provider").n_unique().cast(DataType::UInt64).alias("n_providers"),
        col("provider").first().alias("only"),
        col("session_id").n_unique().cast(DataType::UInt64).alias("sessions"),
        col("region").first().alias("region"),
    ])])
}

pub fn evaluate(rule: &Rule, ctx: &Context, frames: Vec<DataFrame>, names: &Names) -> anyhow::Result<Finding> {
    let RuleSpec::Exclusivity { max_merchants } = &rule.spec else {
        unreachable!("exclusivity module called for another kind")
    };
    let df = frames.into_iter().next().unwrap_or_default();
    let (platform, merchant, only, region) =
        (strings(&df, "platform")?, strings(&df, "merchant_id")?, strings(&df, "only")?, strings(&df, "region")?);
    let (n_providers, sessions) = (counts(&df, "n_providers")?, counts(&df, "sessions")?);
    let only_nulls = df.column("only")?.is_null();
    // platform -> (merchants, exclusive merchant rows)
    let mut by_platform: BTreeMap<String, (u64, Vec<usize>)> = BTreeMap::new();
    for i in 0..df.height() {
        let entry = by_platform.entry(platform[i].clone()).or_default();
        entry.0 += 1;
        let aff = ctx.rulebook.affiliated(&platform[i]);
        let mapped = !only_nulls.get(i).unwrap_or(true);
        if n_providers[i] == 1 && mapped && aff.is_some_and(|a| a.id == only[i]) {
            entry.1.push(i);
        }
    }
    let mut evidence = EvidenceTable {
        header: ["platform", "merchant_id", "name", "region", "sessions", "provider"].map(String::from).to_vec(),
        rows: Vec::new(),
    };
    let mut groups = Vec::new();
    let mut offenders = Vec::new();
    for (p, (merchants, rows)) in &by_platform {
        let Some(aff) = ctx.rulebook.affiliated(p) else {
            groups.push(
                Group::new(&[("platform", p)], *merchants, None, Verdict::NotEvaluable)
                    .with("reason", "platform has no affiliated provider in the taxonomy"),
            );
            continue;
        };
        let mut sorted = rows.clone();
        sorted.sort_by(|&a, &b| merchant[a].cmp(&merchant[b]));
        for &i in &sorted {
            let (name, reg) = names.get(&merchant[i]).cloned().unwrap_or_else(|| (String::new(), region[i].clone()));
            evidence.rows.push(vec![
                p.clone(),
                merchant[i].clone(),
                name,
                reg,
                sessions[i].to_string(),
                aff.id.clone(),
            ]);
        }
        let count = rows.len() as u64;
        let verdict = if count > *max_merchants { Verdict::Fail } else { Verdict::Pass };
        if verdict == Verdict::Fail {
            offenders.push(format!("{p}: {} offer only {}", plural(rows.len(), "merchant"), aff.name));
        }
        groups.push(
            Group::new(&[("platform", p)], *merchants, Some(count as f64), verdict)
                .with("exclusive_merchants", count)
                .with("affiliated_provider", aff.id.as_str()),
        );
    }
    let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
    let total: u64 = groups.iter().filter_map(|g| g.value).map(|v| v as u64).sum();
    let message = match verdict {
        Verdict::Fail => format!("{} exclusive merchants: {}.", total, offenders.join("; ")),
        Verdict::Pass => format!("No platform has more than {max_merchants} merchants offering only its own provider."),
        _ => "No platform with an affiliated provider had checkout sessions.".to_string(),
    };
    let mut f = Finding::new(
        rule,
        verdict,
        message,
        Some(total as f64),
        Some(*max_merchants as f64),
        format!("exclusive merchants <= {max_merchants} per platform"),
        groups,
    );
    if !evidence.rows.is_empty() && verdict == Verdict::Fail {
        f.evidence_table = Some(evidence);
    }
    Ok(f)
}
