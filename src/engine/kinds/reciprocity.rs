//! Reciprocity: for each region and unordered provider pair, interconnection
//! must work both ways. The two directions' success rates are compared
//! directly: a pair fails when one direction has scans and the other none, or
//! when the simultaneous Newcombe interval of the difference lies wholly
//! beyond ± `max_gap`; it passes when the interval lies wholly within; it is
//! inconclusive otherwise (including no scans either way).

use polars::prelude::*;

use serde::Serialize;

use super::acceptance::{read_cells, regions_text, required_cells, scan_plan};
use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::pct;
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::findings::{Detail, EvidenceTable, Finding, Group, PairFields, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::stats;
use crate::verdict::{Breach, Family, Judgement};

/// Reciprocity parameters: the pairs, and the gap tolerated between directions.
#[derive(Debug, Clone, Serialize)]
pub struct ReciprocitySpec {
    pub regions: Vec<String>,
    pub providers: Vec<String>,
    /// The largest tolerated gap between the directions' success rates.
    pub max_gap: f64,
    pub alpha: f64,
}

/// The reciprocity kind.
pub struct Reciprocity;

impl Kind for Reciprocity {
    const NAME: &'static str = "reciprocity";
    const KEYS: &'static [&'static str] = &["regions", "providers", "max_gap", "alpha"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-IO-02"
title = "Interconnection works both ways"
kind = "reciprocity"
severity = "medium"
regions = ["110000", "440300"]  # GB/T 2260 codes, a set's name, or "*" (every city in the data)
providers = ["alipay", "wechat_pay", "unionpay"]  # every unordered pair is compared
max_gap = 0.05                 # tolerated gap between the two directions' success rates
alpha = 0.05                   # family-wise error rate over all pairs (two-sided)
engineering_default = true
citation = "Who requires it, in which document, with its date"
rationale = "Recognition that works only one way keeps one network's codes closed"
"#;
    const DATASET: Dataset = Dataset::Transactions;
    type Spec = ReciprocitySpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<ReciprocitySpec> {
        let (regions, providers) = read_cells(p, d);
        let max_gap = p.fraction_or(d, "max_gap", 0.05);
        let alpha = p.alpha(d);
        Some(ReciprocitySpec { regions: regions?, providers: providers?, max_gap: max_gap?, alpha: alpha? })
    }

    fn alpha(spec: &ReciprocitySpec) -> Option<f64> {
        Some(spec.alpha)
    }

    fn plans(rule: &Rule, _: &ReciprocitySpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        Ok(vec![scan_plan(rule, ctx)?])
    }

    fn evaluate(
        rule: &Rule,
        spec: &ReciprocitySpec,
        _: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let (cells, regions) = required_cells(frames, &spec.regions)?;
        let get = |r: &String, a: &String, b: &String| {
            cells.get(&(r.clone(), a.clone(), b.clone())).copied().unwrap_or((0, 0))
        };
        let k = spec.providers.len();
        let family = Family::new(spec.alpha, regions.len() * k * k.saturating_sub(1) / 2, Breach::Outside);
        let mut groups = Vec::new();
        let mut evidence = EvidenceTable {
            header: [
                "region",
                "provider_a",
                "provider_b",
                "attempts_a_to_b",
                "successes_a_to_b",
                "attempts_b_to_a",
                "successes_b_to_a",
                "reason",
            ]
            .map(String::from)
            .to_vec(),
            rows: Vec::new(),
        };
        for region in &regions {
            for (i, a) in spec.providers.iter().enumerate() {
                for b in spec.providers.iter().skip(i + 1) {
                    let (ab, ba) = (get(region, a, b), get(region, b, a));
                    let (j, reason) = judge(ab, ba, spec, family);
                    let rate = |(n, s): (u64, u64)| (n > 0).then(|| s as f64 / n as f64);
                    let gap = match (rate(ab), rate(ba)) {
                        (Some(x), Some(y)) => Some(x - y),
                        _ => None,
                    };
                    if j.verdict == Verdict::Fail {
                        evidence.rows.push(vec![
                            region.clone(),
                            a.clone(),
                            b.clone(),
                            ab.0.to_string(),
                            ab.1.to_string(),
                            ba.0.to_string(),
                            ba.1.to_string(),
                            reason.clone(),
                        ]);
                    }
                    let mut g = Group::new(
                        &[("region", region), ("provider_a", a), ("provider_b", b)],
                        ab.0 + ba.0,
                        gap,
                        j.verdict,
                    )
                    .detail(Detail::Pair(PairFields {
                        attempts_a_to_b: ab.0,
                        successes_a_to_b: ab.1,
                        success_a_to_b: rate(ab),
                        attempts_b_to_a: ba.0,
                        successes_b_to_a: ba.1,
                        success_b_to_a: rate(ba),
                    }));
                    if !reason.is_empty() {
                        g = g.reason(reason);
                    }
                    groups.push(g.judged(&j));
                }
            }
        }
        let one_way = evidence.rows.len();
        let undecided = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
        let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
        let confidence = format!("{:.0}% family-wise confidence", 100.0 * (1.0 - spec.alpha));
        let message = if groups.is_empty() {
            "No provider pairs to check.".to_string()
        } else if one_way > 0 {
            let listed: Vec<String> =
                evidence.rows.iter().take(5).map(|r| format!("{} {}↔{}: {}", r[0], r[1], r[2], r[7])).collect();
            format!(
                "{one_way} of {} region pairs do not work alike both ways ({confidence}): {}.",
                groups.len(),
                listed.join("; ")
            )
        } else if undecided > 0 {
            format!(
                "No pair is shown one-way, but {undecided} of {} cannot be decided (no scans, or too few to place the \
                 gap inside ±{}).",
                groups.len(),
                pct(spec.max_gap)
            )
        } else {
            format!("All {} region pairs work alike both ways ({confidence}).", groups.len())
        };
        let mut f = Finding::new(
            rule,
            verdict,
            message,
            Some(one_way as f64),
            Some(spec.max_gap),
            format!(
                "success rates of the two directions within ±{} (two-sided simultaneous Newcombe intervals, alpha {})",
                spec.max_gap, spec.alpha
            ),
            groups,
        );
        if one_way > 0 {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(r: &ReciprocitySpec) -> Vec<(&'static str, String)> {
        vec![
            ("regions", regions_text(&r.regions)),
            ("providers", r.providers.join(", ")),
            ("max_gap", format!("{} between the directions' success rates", r.max_gap)),
        ]
    }

    fn criteria(r: &ReciprocitySpec) -> Criteria {
        Criteria {
            fail: format!(
                "one direction has scans and the other none, or the Newcombe interval of the success-rate \
                 difference lies wholly beyond ±{}",
                r.max_gap
            ),
            pass: format!("the interval lies wholly within ±{}", r.max_gap),
            inconclusive: "no scans either way, or the interval crosses the margin".to_string(),
        }
    }

    fn presentation(_: &ReciprocitySpec) -> Presentation {
        Presentation::Pairs
    }
}

/// Judges one pair from (attempts, successes) a→b and b→a.
pub fn judge(ab: (u64, u64), ba: (u64, u64), spec: &ReciprocitySpec, family: Family) -> (Judgement, String) {
    let ((n_ab, s_ab), (n_ba, s_ba)) = (ab, ba);
    match (n_ab, n_ba) {
        (0, 0) => (Judgement::undecided(Some(family), None), "no scans in either direction".to_string()),
        (0, _) | (_, 0) => {
            // Traffic one way and none the other is itself a one-way finding.
            (Judgement::census(1.0, 0.0, Breach::Above), "scans in one direction only".to_string())
        }
        _ => {
            let Some(ci) = stats::newcombe(s_ab, n_ab, s_ba, n_ba, family.z()) else {
                return (Judgement::undecided(Some(family), None), String::new());
            };
            let j = Judgement::sample(ci, spec.max_gap, family, n_ab.min(n_ba), spec.max_gap);
            let gap = s_ab as f64 / n_ab as f64 - s_ba as f64 / n_ba as f64;
            let reason = match j.verdict {
                Verdict::Fail => format!("success differs by {:+.1} points between directions", 100.0 * gap),
                Verdict::Inconclusive => {
                    format!("gap {:+.1} points cannot be told from the ±{} margin", 100.0 * gap, pct(spec.max_gap))
                }
                _ => String::new(),
            };
            (j, reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_are_compared_directly() {
        let spec = ReciprocitySpec { regions: vec![], providers: vec![], max_gap: 0.05, alpha: 0.05 };
        let fam = Family::new(0.05, 21, Breach::Outside);
        // 10% one way against 99% the other: one-way.
        assert_eq!(judge((150, 15), (150, 149), &spec, fam).0.verdict, Verdict::Fail);
        // Traffic one way only.
        assert_eq!(judge((0, 0), (150, 149), &spec, fam).0.verdict, Verdict::Fail);
        // Neither way: cannot be judged.
        assert_eq!(judge((0, 0), (0, 0), &spec, fam).0.verdict, Verdict::Inconclusive);
        // Uneven traffic at equal rates is not a breach.
        assert_ne!(judge((3000, 2910), (150, 145), &spec, fam).0.verdict, Verdict::Fail);
        // Large, equal samples pass.
        assert_eq!(judge((20000, 19400), (20000, 19390), &spec, fam).0.verdict, Verdict::Pass);
    }
}
