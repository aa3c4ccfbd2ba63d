//! Concentration: provider shares of successful transactions per group
//! (online by payment method, offline by the scanning wallet app), as HHI
//! with CR1–CR3, or as the PRC Anti-Monopoly Law Art. 24 dominance
//! presumption (one firm ≥ 1/2, two ≥ 2/3, three ≥ 3/4; a firm under 1/10
//! is not presumed dominant). Rows whose label maps to no provider stay in
//! the denominator as "unmapped" (not a firm); where they exceed
//! `max_unmapped` of a group the verdict is inconclusive and names them.
//! Shares of the logged transactions are compared as observed (a census of
//! the window).

use std::collections::BTreeMap;

use polars::prelude::*;

use serde::Serialize;

use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::{floats, plural, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::findings::{Detail, EvidenceTable, Finding, Group, Presentation, ShareFields, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::stats;
use crate::verdict::{Basis, Breach, Judgement};

/// How a concentration rule weighs transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Count,
    Amount,
}

/// Concentration check mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcentrationMode {
    /// HHI must not exceed the maximum.
    Hhi { max_hhi: f64 },
    /// PRC Anti-Monopoly Law Art. 24 presumption must not be met.
    Dominance,
}

/// Concentration parameters: HHI or the Art. 24 dominance presumption.
#[derive(Debug, Clone, Serialize)]
pub struct ConcentrationSpec {
    pub by: Vec<String>,
    pub measure: Measure,
    pub mode: ConcentrationMode,
    /// Above this share of unmapped weight in a group its verdict is inconclusive.
    pub max_unmapped: f64,
}

/// The concentration kind.
pub struct Concentration;

impl Kind for Concentration {
    const NAME: &'static str = "concentration";
    const KEYS: &'static [&'static str] = &["by", "measure", "mode", "max_hhi", "max_unmapped"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-MK-01"
title = "Market concentration screen (HHI) by channel"
kind = "concentration"
severity = "info"
by = ["channel"]               # any of channel, platform, region
measure = "count"              # count | amount
mode = "hhi"                   # hhi (needs max_hhi) | dominance (PRC AML Art. 24)
max_hhi = 1800
max_unmapped = 0.05            # above this share of unmapped weight a group is inconclusive
citation = "Who sets the screen, in which document, with its date"
rationale = "Context for the other findings: a screen, not a market definition"
"#;
    const DATASET: Dataset = Dataset::Transactions;
    type Spec = ConcentrationSpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<ConcentrationSpec> {
        let by = p.by(d, &["channel", "platform", "region"], &["channel"]);
        let measure =
            p.choice(d, "measure", &[("count", Measure::Count), ("amount", Measure::Amount)], Some(Measure::Count));
        let mode = match p.choice(d, "mode", &[("hhi", true), ("dominance", false)], Some(true)) {
            Some(true) => {
                let v = p.number_in(d, "max_hhi", 0.0, 10_000.0, "an HHI between 0 and 10,000");
                p.required(d, "max_hhi", v).map(|max_hhi| ConcentrationMode::Hhi { max_hhi })
            }
            Some(false) => Some(ConcentrationMode::Dominance),
            None => None,
        };
        let max_unmapped = p.fraction_or(d, "max_unmapped", 0.05);
        Some(ConcentrationSpec { by: by?, measure: measure?, mode: mode?, max_unmapped: max_unmapped? })
    }

    fn basis(_: &ConcentrationSpec) -> Basis {
        Basis::Census
    }

    fn alpha(_: &ConcentrationSpec) -> Option<f64> {
        None
    }

    fn plans(rule: &Rule, spec: &ConcentrationSpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        let by = &spec.by;
        let firm = when(col("channel").eq(lit("offline")))
            .then(coalesce(&[col("app"), col("provider")]))
            .otherwise(col("provider"))
            .alias("firm");
        // The raw label behind an unmapped firm, to name it.
        let raw = when(col("channel").eq(lit("offline")).and(col("wallet_app").is_not_null()))
            .then(col("wallet_app"))
            .otherwise(col("method"));
        let label = when(col("firm").is_null()).then(raw).otherwise(lit(NULL).cast(DataType::String)).alias("label");
        let mut keys: Vec<Expr> = by.iter().map(|b| col(b.as_str())).collect();
        keys.push(col("firm"));
        keys.push(col("label"));
        let keys = ctx.keys(keys);
        // Rules that differ only in their measure or mode read the same aggregate.
        let what = format!("successful payments' count and amount per {by:?}, firm and label");
        Ok(vec![ctx.common(rule, Dataset::Transactions, &[], &what, |frame| {
            frame
                .filter(col("status").eq(lit("success")))
                .with_column(firm)
                .with_column(label)
                .group_by(keys)
                .agg([len().cast(DataType::Float64).alias("count"), col("amount").sum().alias("amount")])
        })?])
    }

    fn evaluate(
        rule: &Rule,
        spec: &ConcentrationSpec,
        _: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let (by, measure, mode) = (&spec.by, spec.measure, spec.mode);
        let df = frames.into_iter().next().unwrap_or_default();
        let key_vals: Vec<Vec<String>> = by.iter().map(|k| strings(&df, k)).collect::<anyhow::Result<_>>()?;
        let firm = strings(&df, "firm")?;
        let label = strings(&df, "label")?;
        let weight = floats(&df, if measure == Measure::Count { "count" } else { "amount" })?;
        let counts = floats(&df, "count")?;
        let mut groups_map: BTreeMap<Vec<String>, Weights> = BTreeMap::new();
        for i in 0..df.height() {
            let key: Vec<String> = key_vals.iter().map(|v| v[i].clone()).collect();
            let e = groups_map.entry(key).or_default();
            if firm[i].is_empty() {
                *e.unmapped.entry(label[i].clone()).or_default() += weight[i];
            } else {
                *e.firms.entry(firm[i].clone()).or_insert(0.0) += weight[i];
            }
            e.n += counts[i] as u64;
        }
        let mut groups = Vec::new();
        let mut evidence = EvidenceTable {
            header: ["group", "hhi", "cr1", "cr2", "cr3", "presumed_dominant", "shares", "unmapped_share"]
                .map(String::from)
                .to_vec(),
            rows: Vec::new(),
        };
        let mut failing = Vec::new();
        let mut undecided = Vec::new();
        for (key, w) in &groups_map {
            let mapped: f64 = w.firms.values().sum();
            let unmapped: f64 = w.unmapped.values().sum();
            let total = mapped + unmapped;
            let kv: Vec<(&str, &str)> = by.iter().map(String::as_str).zip(key.iter().map(String::as_str)).collect();
            if mapped <= 0.0 {
                groups.push(
                    Group::new(&kv, w.n, None, Verdict::NotEvaluable)
                        .reason("no successful transaction with a mapped provider"),
                );
                continue;
            }
            // Shares of all weight: unmapped rows stay in the denominator.
            let mut shares: Vec<(String, f64)> = w.firms.iter().map(|(f, x)| (f.clone(), x / total)).collect();
            shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let only: Vec<f64> = shares.iter().map(|s| s.1).collect();
            let hhi = stats::hhi(&only);
            let cr = |k: usize| only.iter().take(k).sum::<f64>();
            let dominant = dominance(&shares);
            let unmapped_share = unmapped / total;
            let (value, judged) = match mode {
                ConcentrationMode::Hhi { max_hhi } => (hhi, Judgement::census(hhi, max_hhi, Breach::Above)),
                ConcentrationMode::Dominance => {
                    (dominant.len() as f64, Judgement::census(dominant.len() as f64, 0.0, Breach::Above))
                }
            };
            let mut j = judged;
            let mut labels: Vec<(&String, &f64)> = w.unmapped.iter().collect();
            labels.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let label_text: Vec<String> = labels.iter().take(5).map(|(l, _)| (*l).clone()).collect();
            if unmapped_share > spec.max_unmapped {
                // Unreadable labels could be any firm: the shares cannot be trusted.
                j.verdict = Verdict::Inconclusive;
                undecided.push(format!(
                    "{}: {:.1}% of the weight has unmapped labels ({})",
                    key.join("/"),
                    100.0 * unmapped_share,
                    label_text.join(", ")
                ));
            }

            let share_text: Vec<String> = shares.iter().map(|(f, s)| format!("{f} {:.1}%", 100.0 * s)).collect();
            if j.verdict == Verdict::Fail {
                failing.push(match mode {
                    ConcentrationMode::Hhi { .. } => format!("{} HHI {:.0}", key.join("/"), hhi),
                    ConcentrationMode::Dominance => {
                        format!("{}: {} presumed dominant", key.join("/"), dominant.join(", "))
                    }
                });
                evidence.rows.push(vec![
                    key.join("/"),
                    format!("{hhi:.1}"),
                    format!("{:.6}", cr(1)),
                    format!("{:.6}", cr(2)),
                    format!("{:.6}", cr(3)),
                    dominant.join(" "),
                    share_text.join("; "),
                    format!("{unmapped_share:.6}"),
                ]);
            }
            let mut g = Group::new(&kv, w.n, Some(value), j.verdict).detail(Detail::Shares(ShareFields {
                hhi,
                cr1: cr(1),
                cr2: cr(2),
                cr3: cr(3),
                presumed_dominant: dominant,
                shares: shares.clone(),
                unmapped_weight: unmapped,
                unmapped_share,
                unmapped_labels: label_text,
            }));
            if j.verdict == Verdict::Inconclusive {
                g = g.reason(format!("more than {:.0}% of the weight is unmapped", 100.0 * spec.max_unmapped));
            }
            groups.push(g.judged(&j));
        }
        let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
        let (value, threshold, threshold_text) = match mode {
            ConcentrationMode::Hhi { max_hhi } => (
                groups
                    .iter()
                    .filter_map(|g| match &g.detail {
                        Some(Detail::Shares(s)) => Some(s.hhi),
                        _ => None,
                    })
                    .reduce(f64::max),
                Some(max_hhi),
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
            (Verdict::Inconclusive, _) => format!("Shares cannot be trusted: {}.", undecided.join("; ")),
            _ => "No successful transactions with a mapped provider.".to_string(),
        };
        let mut f = Finding::new(rule, verdict, message, value, threshold, threshold_text, groups);
        if !evidence.rows.is_empty() {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(c: &ConcentrationSpec) -> Vec<(&'static str, String)> {
        vec![
            ("by", c.by.join(", ")),
            ("measure", format!("{:?}", c.measure).to_lowercase()),
            (
                "mode",
                match c.mode {
                    ConcentrationMode::Hhi { max_hhi } => format!("HHI <= {max_hhi}"),
                    ConcentrationMode::Dominance => "AML Art. 24 dominance presumption".into(),
                },
            ),
            ("max_unmapped", format!("{} of a group's weight", c.max_unmapped)),
        ]
    }

    fn criteria(c: &ConcentrationSpec) -> Criteria {
        Criteria {
            fail: match c.mode {
                ConcentrationMode::Hhi { max_hhi } => format!("the HHI of observed shares exceeds {max_hhi}"),
                ConcentrationMode::Dominance => "any limb of the Art. 24 presumption is met".to_string(),
            },
            pass: "the screen is not met".to_string(),
            inconclusive: format!("more than {} of a group's weight carries unmapped labels", c.max_unmapped),
        }
    }

    fn presentation(c: &ConcentrationSpec) -> Presentation {
        Presentation::Shares { dominance: c.mode == ConcentrationMode::Dominance }
    }
}

/// The Art. 24 presumption on shares sorted high to low: every firm that
/// meets any limb (one firm ≥ 1/2; two together ≥ 2/3; three together
/// ≥ 3/4; under the two- and three-firm limbs a firm under 1/10 is not
/// presumed dominant). Empty when no limb is met.
pub fn dominance(sorted: &[(String, f64)]) -> Vec<String> {
    let s = |i: usize| sorted.get(i).map_or(0.0, |x| x.1);
    let mut out: Vec<String> = Vec::new();
    let mut add = |k: usize, floor: f64| {
        for x in sorted.iter().take(k).filter(|x| x.1 >= floor) {
            if !out.contains(&x.0) {
                out.push(x.0.clone());
            }
        }
    };
    if s(0) >= 0.5 {
        add(1, 0.0);
    }
    if s(0) + s(1) >= 2.0 / 3.0 {
        add(2, 0.1);
    }
    if s(0) + s(1) + s(2) >= 0.75 {
        add(3, 0.1);
    }
    out
}

/// One group's weights: per firm, unmapped per raw label, and the row count.
#[derive(Default)]
struct Weights {
    firms: BTreeMap<String, f64>,
    unmapped: BTreeMap<String, f64>,
    n: u64,
}

#[cfg(test)]
mod tests {
    use super::dominance;

    fn s(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
    }

    #[test]
    fn art24_presumption() {
        // One firm at 1/2, and with the second 0.8 >= 2/3: both.
        assert_eq!(dominance(&s(&[("a", 0.5), ("b", 0.3)])), vec!["a", "b"]);
        // 0.6 < 2/3 and 0.7 < 3/4: only the one-firm limb.
        assert_eq!(dominance(&s(&[("a", 0.5), ("b", 0.1), ("c", 0.1)])), vec!["a"]);
        assert_eq!(dominance(&s(&[("a", 0.4), ("b", 0.3), ("c", 0.3)])), vec!["a", "b", "c"]);
        // three reach 3/4 but the third is under 1/10: it is not presumed dominant.
        let small_third = [("a", 0.40), ("b", 0.27), ("c", 0.09), ("d", 0.09), ("e", 0.08), ("f", 0.07)];
        assert_eq!(dominance(&s(&small_third)), vec!["a", "b"]);
        // Every limb counts: one firm at 1/2 and a second with it at 2/3.
        assert_eq!(dominance(&s(&[("a", 0.55), ("b", 0.15), ("c", 0.1)])), vec!["a", "b", "c"]);
        assert_eq!(dominance(&s(&[("a", 0.55), ("b", 0.08), ("c", 0.07)])), vec!["a"]);
        // Two at 2/3 and a third completing 3/4.
        let shares = [("a", 0.35), ("b", 0.32), ("c", 0.10), ("d", 0.09), ("e", 0.07), ("f", 0.07)];
        assert_eq!(dominance(&s(&shares)), vec!["a", "b", "c"]);
        // top three hold 70% < 75%: not met.
        assert_eq!(
            dominance(&s(&[("a", 0.3), ("b", 0.2), ("c", 0.2), ("d", 0.15), ("e", 0.15)])),
            Vec::<String>::new()
        );
    }
}
