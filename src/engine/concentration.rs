//! Concentration: provider shares of successful transactions per group
//! (online by payment method, offline by the scanning wallet app), as HHI
//! with CR1–CR3, or as the PRC Anti-Monopoly Law Art. 24 dominance
//! presumption (one firm ≥ 1/2, two ≥ 2/3, three ≥ 3/4; a firm under 1/10
//! is not presumed dominant).

use std::collections::BTreeMap;

use polars::prelude::*;
use serde_json::{Map, Value};

use super::util::{floats, plural, strings};
use super::{Context, NotEvaluable};
use crate::contract::Dataset;
use crate::findings::{round, EvidenceTable, Finding, Group, Verdict};
use crate::rulebook::model::{ConcentrationMode, Measure};
use crate::rulebook::{Rule, RuleSpec};
use crate::stats;

pub fn plans(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    let RuleSpec::Concentration { by, .. } = &rule.spec else {
        unreachable!("concentration module called for another kind")
    };
    let frame = ctx.rule_frame(rule, Dataset::Transactions, &[])?;
    let firm = when(col("channel").eq(lit("offline")))
        .then(coalesce(&[col("app"), col("provider")]))
        .otherwise(col("provider"))
        .alias("firm");
    let mut keys: Vec<Expr> = by.iter().map(|b| col(b.as_str())).collect();
    keys.push(col("firm"));
    Ok(vec![frame
        .filter(col("status").eq(lit("success")))
        .with_column(firm)
        .group_by(keys)
        .agg([len().cast(DataType::Float64).alias("count"), col("amount").sum().alias("amount")])])
}

/// The Art. 24 presumption on shares sorted high to low: the firms presumed
/// dominant (empty when it is not met).
pub fn dominance(sorted: &[(String, f64)]) -> Vec<String> {
    let s = |i: usize| sorted.get(i).map_or(0.0, |x| x.1);
    let firms =
        |k: usize| -> Vec<String> { sorted.iter().take(k).filter(|x| x.1 >= 0.1).map(|x| x.0.clone()).collect() };
    if s(0) >= 0.5 {
        return firms(1);
    }
    if s(0) + s(1) >= 2.0 / 3.0 {
        return firms(2);
    }
    if s(0) + s(1) + s(2) >= 0.75 {
        return firms(3);
    }
    Vec::new()
}

pub fn evaluate(rule: &Rule, _ctx: &Context, frames: Vec<DataFrame>) -> anyhow::Result<Finding> {
    let RuleSpec::Concentration { by, measure, mode } = &rule.spec else {
        unreachable!("concentration module called for another kind")
    };
    let df = frames.into_iter().next().unwrap_or_default();
    let key_vals: Vec<Vec<String>> = by.iter().map(|k| strings(&df, k)).collect::<anyhow::Result<_>>()?;
    let firm = strings(&df, "firm")?;
    let weight = floats(&df, if *measure == Measure::Count { "count" } else { "amount" })?;
    let counts = floats(&df, "count")?;
    let mut groups_map: BTreeMap<Vec<String>, (BTreeMap<String, f64>, f64, u64)> = BTreeMap::new();
    for i in 0..df.height() {
        let key: Vec<String> = key_vals.iter().map(|v| v[i].clone()).collect();
        let e = groups_map.entry(key).or_default();
        if firm[i].is_empty() {
            e.1 += weight[i];
        } else {
            *e.0.entry(firm[i].clone()).or_insert(0.0) += weight[i];
        }
        e.2 += counts[i] as u64;
    }
    let mut groups = Vec::new();
    let mut evidence = EvidenceTable {
        header: ["group", "hhi", "cr1", "cr2", "cr3", "presumed_dominant", "shares"].map(String::from).to_vec(),
        rows: Vec::new(),
    };
    let mut failing = Vec::new();
    for (key, (firms, unmapped, n)) in &groups_map {
        let total: f64 = firms.values().sum();
        let kv: Vec<(&str, &str)> = by.iter().map(String::as_str).zip(key.iter().map(String::as_str)).collect();
        if total <= 0.0 {
            groups.push(
                Group::new(&kv, *n, None, Verdict::NotEvaluable)
                    .with("reason", "no successful transaction with a mapped provider"),
            );
            continue;
        }
        let mut shares: Vec<(String, f64)> = firms.iter().map(|(f, w)| (f.clone(), w / total)).collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let only: Vec<f64> = shares.iter().map(|s| s.1).collect();
        let hhi = stats::hhi(&only);
        let cr = |k: usize| only.iter().take(k).sum::<f64>();
        let dominant = dominance(&shares);
        let (value, verdict) = match mode {
            ConcentrationMode::Hhi { max_hhi } => (hhi, if hhi > *max_hhi { Verdict::Fail } else { Verdict::Pass }),
            ConcentrationMode::Dominance => {
                (dominant.len() as f64, if dominant.is_empty() { Verdict::Pass } else { Verdict::Fail })
            }
        };
        let share_obj: Map<String, Value> = shares.iter().map(|(f, s)| (f.clone(), Value::from(round(*s)))).collect();
        let share_text: Vec<String> = shares.iter().map(|(f, s)| format!("{f} {:.1}%", 100.0 * s)).collect();
        if verdict == Verdict::Fail {
            failing.push(match mode {
                ConcentrationMode::Hhi { .. } => format!("{} HHI {:.0}", key.join("/"), hhi),
                ConcentrationMode::Dominance => format!("{}: {} presumed dominant", key.join("/"), dominant.join(", ")),
            });
            evidence.rows.push(vec![
                key.join("/"),
                format!("{hhi:.1}"),
                format!("{:.6}", cr(1)),
                format!("{:.6}", cr(2)),
                format!("{:.6}", cr(3)),
                dominant.join(" "),
                share_text.join("; "),
            ]);
        }
        groups.push(
            Group::new(&kv, *n, Some(value), verdict)
                .with("hhi", hhi)
                .with("cr1", cr(1))
                .with("cr2", cr(2))
                .with("cr3", cr(3))
                .with("presumed_dominant", dominant)
                .with("shares", Value::Object(share_obj))
                .with("unmapped_weight", *unmapped),
        );
    }
    let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
    let (value, threshold, threshold_text) = match mode {
        ConcentrationMode::Hhi { max_hhi } => (
            groups.iter().filter_map(|g| g.get("hhi").and_then(Value::as_f64)).reduce(f64::max),
            Some(*max_hhi),
            format!("HHI <= {max_hhi}"),
        ),
        ConcentrationMode::Dominance => (
            Some(groups.iter().filter(|g| g.verdict == Verdict::Fail).count() as f64),
            Some(0.0),
            "dominance presumption not met".to_string(),
        ),
    };
    let message = match (verdict, mode) {
        (Verdict::Fail, ConcentrationMode::Hhi { max_hhi }) => {
            format!("{} above HHI {max_hhi}: {}.", plural(failing.len(), "group"), failing.join("; "))
        }
        (Verdict::Fail, ConcentrationMode::Dominance) => {
            format!("Dominance presumption met in {}: {}.", plural(failing.len(), "group"), failing.join("; "))
        }
        (Verdict::Pass, _) => format!("No group exceeds the threshold ({}).", plural(groups.len(), "group")),
        _ => "No successful transactions with a mapped provider.".to_string(),
    };
    let mut f = Finding::new(rule, verdict, message, value, threshold, threshold_text, groups);
    if !evidence.rows.is_empty() {
        f.evidence_table = Some(evidence);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::dominance;

    fn s(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }

    #[test]
    fn art24_presumption() {
        assert_eq!(dominance(&s(&[("a", 0.5), ("b", 0.3)])), vec!["a"]);
        assert_eq!(dominance(&s(&[("a", 0.4), ("b", 0.3), ("c", 0.3)])), vec!["a", "b"]);
        // three reach 3/4 but the third is under 1/10: it is not presumed dominant.
        let small_third = [("a", 0.40), ("b", 0.26), ("c", 0.09), ("d", 0.09), ("e", 0.08), ("f", 0.08)];
        assert_eq!(dominance(&s(&small_third)), vec!["a", "b"]);
        // top three hold 70% < 75%: not met.
        assert_eq!(
            dominance(&s(&[("a", 0.3), ("b", 0.2), ("c", 0.2), ("d", 0.15), ("e", 0.15)])),
            Vec::<String>::new()
        );
    }
}
