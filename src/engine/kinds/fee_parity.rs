//! Fee parity: the merchant fee rate (`fee` / `amount`, the merchant discount
//! rate) charged when customers pay with a rival provider against the
//! platform's affiliated provider, paired within merchant: each merchant's
//! own rival-minus-own difference, summarised per platform and rival by its
//! mean with a simultaneous Student-t interval. Merchants with only one of
//! the two providers do not count, so merchant mix cannot fake or hide a
//! difference.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use super::parity::{comparison_row, comparison_table, threshold_criteria, Threshold};
use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::{floats, plural, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::exec::Merge;
use crate::findings::{ComparisonFields, Detail, Finding, Group, MetricUnit, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::stats;
use crate::verdict::{Breach, Family, Judgement};

/// Fee-parity parameters.
#[derive(Debug, Clone, Serialize)]
pub struct FeeParitySpec {
    pub rivals: Vec<String>,
    /// How much higher (as a fraction of the amount) a rival's fee rate may be.
    pub max_difference: f64,
    pub alpha: f64,
    /// Merchants with both providers needed to judge a platform and rival.
    pub min_merchants: u64,
}

/// The fee-parity kind.
pub struct FeeParity;

impl Kind for FeeParity {
    const NAME: &'static str = "fee_parity";
    const KEYS: &'static [&'static str] = &["rivals", "max_difference", "alpha", "min_merchants"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-ND-06"
title = "Merchants are not charged more when customers pay with a rival"
kind = "fee_parity"
severity = "high"
where = "channel = 'online'"
rivals = ["alipay", "wechat_pay", "unionpay"]  # or the name of a set
max_difference = 0.001         # fee rate (fee / amount) a rival may cost more: 0.001 = 0.1 point
min_merchants = 10             # merchants taking both providers, per platform and rival
alpha = 0.05                   # family-wise error rate over platforms x rivals
engineering_default = true
citation = "Who requires it, in which document, with its date"
rationale = "A fee surcharge on rival payments steers merchants away from rivals"
"#;
    const DATASET: Dataset = Dataset::Transactions;
    type Spec = FeeParitySpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<FeeParitySpec> {
        let rivals = p.providers(d, "rivals");
        let rivals = p.required(d, "rivals", rivals);
        let max_difference = p.fraction_or(d, "max_difference", 0.001);
        let alpha = p.alpha(d);
        let min_merchants = p.count_or(d, "min_merchants", 10, 2);
        Some(FeeParitySpec {
            rivals: rivals?,
            max_difference: max_difference?,
            alpha: alpha?,
            min_merchants: min_merchants?,
        })
    }

    fn alpha(spec: &FeeParitySpec) -> Option<f64> {
        Some(spec.alpha)
    }

    fn plans(rule: &Rule, _: &FeeParitySpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        // Fees are charged on successful payments.
        let frame = ctx.rule_frame(rule, Dataset::Transactions, &["fee"])?.filter(
            col("provider")
                .is_not_null()
                .and(col("status").eq(lit("success")))
                .and(col("fee").is_not_null())
                .and(col("amount").gt(lit(0.0))),
        );
        // One row per merchant and provider: each merchant is whole in one share.
        Ok(vec![ctx.per_key(frame, "merchant_id", Merge::Concat, |f| {
            f.group_by(ctx.keys([col("platform"), col("merchant_id"), col("provider")]))
                .agg([col("fee").sum().alias("fee"), col("amount").sum().alias("amount")])
        })])
    }

    fn evaluate(
        rule: &Rule,
        spec: &FeeParitySpec,
        ctx: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let df = frames.into_iter().next().unwrap_or_default();
        let (platform, merchant, provider) =
            (strings(&df, "platform")?, strings(&df, "merchant_id")?, strings(&df, "provider")?);
        let (fee, amount) = (floats(&df, "fee")?, floats(&df, "amount")?);
        let mut rates: Rates = BTreeMap::new();
        for i in 0..df.height() {
            if amount[i] > 0.0 {
                rates
                    .entry(platform[i].clone())
                    .or_default()
                    .entry(merchant[i].clone())
                    .or_default()
                    .insert(provider[i].clone(), fee[i] / amount[i]);
            }
        }
        /// A platform × rival comparison before the family size is known.
        struct Pending {
            group: Group,
            diffs: Vec<f64>,
        }
        let mut pending = Vec::new();
        for (plat, merchants) in &rates {
            let Some(aff) = ctx.rulebook.affiliated(plat) else {
                let g = Group::new(&[("platform", plat), ("provider", "*")], 0, None, Verdict::NotEvaluable)
                    .reason("platform has no affiliated provider in the taxonomy");
                pending.push(Pending { group: g, diffs: Vec::new() });
                continue;
            };
            for rival in spec.rivals.iter().filter(|r| **r != aff.id) {
                // Each merchant that took both: (rival rate, own rate).
                let pairs: Vec<(f64, f64)> =
                    merchants.values().filter_map(|m| Some((*m.get(rival)?, *m.get(&aff.id)?))).collect();
                if pairs.is_empty() {
                    continue;
                }
                let k = pairs.len() as f64;
                let mean = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / k;
                let (rv, av) = (mean(|p| p.0), mean(|p| p.1));
                let diffs: Vec<f64> = pairs.iter().map(|(r, a)| r - a).collect();
                let mut group = Group::new(
                    &[("platform", plat), ("provider", rival)],
                    pairs.len() as u64,
                    Some(rv - av),
                    Verdict::Inconclusive,
                )
                .detail(Detail::Comparison(ComparisonFields {
                    rival_value: Some(rv),
                    reference_provider: aff.id.clone(),
                    reference_n: pairs.len() as u64,
                    reference_value: Some(av),
                    merchants: Some(pairs.len() as u64),
                    ..ComparisonFields::default()
                }));
                if (pairs.len() as u64) < spec.min_merchants {
                    group = group
                        .reason(format!("fewer than min_merchants = {} merchants take both", spec.min_merchants))
                        .judged(&Judgement::undecided(None, Some(spec.min_merchants)));
                    pending.push(Pending { group, diffs: Vec::new() });
                    continue;
                }
                pending.push(Pending { group, diffs });
            }
        }
        let family = Family::new(spec.alpha, pending.iter().filter(|p| !p.diffs.is_empty()).count(), Breach::Above);
        let mut groups = Vec::new();
        let mut evidence = comparison_table();
        for Pending { mut group, diffs } in pending {
            if !diffs.is_empty() {
                let k = diffs.len() as f64;
                let mean = diffs.iter().sum::<f64>() / k;
                let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (k - 1.0);
                let t = stats::t_quantile(1.0 - family.tail(), k - 1.0);
                let half = t * (var / k).sqrt();
                // The sample size that would decide is computed from the half-width
                // at the family's normal deviate; for a t interval it errs large.
                let j = Judgement::sample(
                    (mean - half, mean + half),
                    spec.max_difference,
                    family,
                    diffs.len() as u64,
                    spec.max_difference,
                );
                group = group.judged(&j);
                if j.verdict == Verdict::Inconclusive {
                    group = group.reason("the interval straddles the threshold");
                }
                if j.verdict == Verdict::Fail {
                    evidence.rows.push(comparison_row(&group));
                }
            }
            groups.push(group);
        }
        let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
        let value =
            groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).filter_map(|g| g.value).reduce(f64::max);
        let fails: Vec<String> = groups
            .iter()
            .filter(|g| g.verdict == Verdict::Fail)
            .map(|g| {
                format!(
                    "{}: {:+.3} points over {}",
                    super::rival_on_platform(g, ctx),
                    100.0 * g.value.unwrap_or(0.0),
                    plural(g.n as usize, "merchant")
                )
            })
            .collect();
        let undecided = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
        let message = match verdict {
            Verdict::Fail => format!(
                "Merchants pay a higher fee rate on rival payments than on the platform's own, beyond {} points \
                 (within-merchant, {:.0}% family-wise confidence): {}.",
                100.0 * spec.max_difference,
                100.0 * (1.0 - spec.alpha),
                fails.join("; ")
            ),
            Verdict::Inconclusive => format!(
                "No group fails; {} cannot be decided (too few merchants taking both providers, or an interval \
                 straddling the threshold).",
                plural(undecided, "group")
            ),
            Verdict::Pass => "Rival fee rates within the margin of the platform's own on every platform.".to_string(),
            Verdict::NotEvaluable | Verdict::Waived => {
                "No platform with an affiliated provider had merchants taking both.".to_string()
            }
        };
        let threshold_text = format!(
            "rival fee rate - own fee rate <= {} within merchant, alpha {}, min {} merchants",
            spec.max_difference, spec.alpha, spec.min_merchants
        );
        let mut f = Finding::new(rule, verdict, message, value, Some(spec.max_difference), threshold_text, groups);
        if !evidence.rows.is_empty() {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(s: &FeeParitySpec) -> Vec<(&'static str, String)> {
        vec![
            ("rivals", s.rivals.join(", ")),
            ("threshold", format!("rival fee rate - own fee rate <= {} (paired within merchant)", s.max_difference)),
            ("min_merchants", format!("{} taking both providers", s.min_merchants)),
        ]
    }

    fn criteria(s: &FeeParitySpec) -> Criteria {
        threshold_criteria(
            "Student-t interval of the mean within-merchant difference",
            Threshold::MaxDifference(s.max_difference),
            &format!("fewer than {} merchants take both providers", s.min_merchants),
        )
    }

    fn presentation(s: &FeeParitySpec) -> Presentation {
        Presentation::Forest {
            ratio: false,
            unit: MetricUnit::FinePercent,
            threshold: format!("difference <= {}", s.max_difference),
        }
    }
}

/// Per platform: merchant -> provider -> fee rate.
type Rates = BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>;
