//! Exclusivity: per platform, the merchants whose checkout offered only the
//! platform's affiliated provider over the whole window (no rival ever).
//! A label no alias maps counts as "possibly a rival", so a merchant is
//! never flagged on the strength of a label hutong could not read. A merchant
//! is judged only with at least `min_sessions` sessions; those with fewer
//! that showed only the affiliated provider are listed as "too few sessions
//! to judge", not counted and not hidden. The count over the platform's
//! merchants is a census, compared exactly with `max_merchants`.

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::*;

use serde::Serialize;

use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::{counts, plural, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::exec::{Merge, Stage};
use crate::findings::{Detail, EvidenceTable, ExclusivityFields, Finding, Group, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::verdict::{Basis, Breach, Judgement};

/// Exclusivity parameters.
#[derive(Debug, Clone, Serialize)]
pub struct ExclusivitySpec {
    pub max_merchants: u64,
    /// A merchant is judged only with at least this many sessions.
    pub min_sessions: u64,
}

/// The exclusivity kind.
pub struct Exclusivity;

impl Kind for Exclusivity {
    const NAME: &'static str = "exclusivity";
    const KEYS: &'static [&'static str] = &["max_merchants", "min_sessions"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-PL-03"
title = "No merchant offers only its platform's own provider"
kind = "exclusivity"
severity = "critical"
max_merchants = 0              # exclusive merchants allowed per platform (a census)
min_sessions = 5               # merchants with fewer sessions are listed, not judged
citation = "Who requires it, in which document, with its date"
rationale = "A checkout that never shows a rival is the footprint of an exclusive arrangement"
"#;
    const DATASET: Dataset = Dataset::Checkout;
    type Spec = ExclusivitySpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<ExclusivitySpec> {
        let max_merchants = p.count_or(d, "max_merchants", 0, 0);
        let min_sessions = p.count_or(d, "min_sessions", 5, 1);
        Some(ExclusivitySpec { max_merchants: max_merchants?, min_sessions: min_sessions? })
    }

    fn basis(_: &ExclusivitySpec) -> Basis {
        Basis::Census
    }

    fn alpha(_: &ExclusivitySpec) -> Option<f64> {
        None
    }

    fn plans(rule: &Rule, _: &ExclusivitySpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        let frame = ctx.rule_frame(rule, Dataset::Checkout, &[])?;
        let merchant = || ctx.keys([col("platform"), col("merchant_id")]);
        Ok(vec![
            // One row per merchant, whose rows are whole in one share. Its
            // distinct providers (an unmapped label, null, counting as one,
            // as `n_unique` counts it) are grouped first: `n_unique` inside
            // the group-by would be a second group-by per merchant, and took
            // 1.3 s of the 10M audit's plans.
            super::per_merchant_and_provider(rule, Dataset::Checkout, ctx, &[], {
                let merchant = ctx.keys([col("platform"), col("merchant_id")]);
                let providers: Vec<Expr> = merchant.iter().cloned().chain([col("provider")]).collect();
                Arc::new(move |f| {
                    f.group_by(providers.clone())
                        .agg([col("region").min().alias("region")])
                        .group_by(merchant.clone())
                        .agg([
                            len().cast(DataType::UInt64).alias("n_providers"),
                            // The least, not the first: the same whatever order the
                            // rows come in (the one provider of an exclusive merchant,
                            // and its region, one per merchant in any sound log).
                            col("provider").min().alias("only"),
                            col("region").min().alias("region"),
                        ])
                })
            })?,
            // Each merchant's distinct sessions, counted apart and split on
            // the session: merchants are few and each holds many sessions, so
            // shares of merchants are uneven and grow with the input; each
            // session falls in one share, so the shares' counts add up.
            ctx.per_key_stage(
                frame,
                Stage {
                    dataset: Dataset::Checkout,
                    key: "session_id",
                    others: merchant(),
                    rows: Vec::new(),
                    aggs: vec![len()],
                },
                Merge::sum(["sessions"]),
                |f| f.group_by(merchant()).agg([len().cast(DataType::UInt64).alias("sessions")]),
            )?,
        ])
    }

    fn evaluate(
        rule: &Rule,
        spec: &ExclusivitySpec,
        ctx: &Context,
        frames: Vec<DataFrame>,
        seen: &Seen,
    ) -> anyhow::Result<Finding> {
        let mut frames = frames.into_iter();
        let df = frames.next().unwrap_or_default();
        let per_session = frames.next().unwrap_or_default();
        let (platform, merchant, only, region) =
            (strings(&df, "platform")?, strings(&df, "merchant_id")?, strings(&df, "only")?, strings(&df, "region")?);
        let n_providers = counts(&df, "n_providers")?;
        let session_counts: BTreeMap<(String, String), u64> = {
            let (p, m, n) = (
                strings(&per_session, "platform")?,
                strings(&per_session, "merchant_id")?,
                counts(&per_session, "sessions")?,
            );
            p.into_iter().zip(m).zip(n).collect()
        };
        let sessions: Vec<u64> = (0..df.height())
            .map(|i| session_counts.get(&(platform[i].clone(), merchant[i].clone())).copied().unwrap_or(0))
            .collect();
        let only_nulls = df.column("only")?.is_null();
        #[derive(Default)]
        struct PerPlatform {
            merchants: u64,
            /// Merchants whose checkout ever showed the affiliated provider.
            with_own: u64,
            exclusive: Vec<usize>,
            too_few: Vec<usize>,
        }
        let mut by_platform: BTreeMap<String, PerPlatform> = BTreeMap::new();
        for i in 0..df.height() {
            let entry = by_platform.entry(platform[i].clone()).or_default();
            entry.merchants += 1;
            let aff = ctx.rulebook.affiliated(&platform[i]);
            let mapped = !only_nulls.get(i).unwrap_or(true);
            if n_providers[i] == 1 && mapped && aff.is_some_and(|a| a.id == only[i]) {
                entry.with_own += 1;
                if sessions[i] >= spec.min_sessions {
                    entry.exclusive.push(i);
                } else {
                    entry.too_few.push(i);
                }
            }
        }
        let mut evidence = EvidenceTable {
            header: ["platform", "merchant_id", "name", "region", "sessions", "provider", "status"]
                .map(String::from)
                .to_vec(),
            rows: Vec::new(),
        };
        let mut groups = Vec::new();
        let mut offenders = Vec::new();
        let mut too_few_total = 0;
        for (p, per) in &by_platform {
            let Some(aff) = ctx.rulebook.affiliated(p) else {
                groups.push(
                    Group::new(&[("platform", p)], per.merchants, None, Verdict::NotEvaluable)
                        .reason("platform has no affiliated provider in the taxonomy"),
                );
                continue;
            };
            if !seen.provider_seen(Dataset::Checkout, p, &aff.id) {
                groups.push(Group::new(&[("platform", p)], per.merchants, None, Verdict::NotEvaluable).reason(
                    format!(
                        "the affiliated provider {} has no mapped rows on this platform; unmapped labels seen: {}",
                        aff.name,
                        seen.unmapped_text(p)
                    ),
                ));
                continue;
            }
            for (rows, status) in [(&per.exclusive, EXCLUSIVE), (&per.too_few, TOO_FEW)] {
                let mut sorted = rows.clone();
                sorted.sort_by(|&a, &b| merchant[a].cmp(&merchant[b]));
                for i in sorted {
                    let (name, reg) =
                        seen.names.get(&merchant[i]).cloned().unwrap_or_else(|| (String::new(), region[i].clone()));
                    evidence.rows.push(vec![
                        p.clone(),
                        merchant[i].clone(),
                        name,
                        reg,
                        sessions[i].to_string(),
                        aff.id.clone(),
                        status.to_string(),
                    ]);
                }
            }
            let count = per.exclusive.len() as u64;
            too_few_total += per.too_few.len();
            let j = Judgement::census(count as f64, spec.max_merchants as f64, Breach::Above);
            if j.verdict == Verdict::Fail {
                offenders.push(format!("{p}: {} offer only {}", plural(per.exclusive.len(), "merchant"), aff.name));
            }
            groups.push(
                Group::new(&[("platform", p)], per.merchants, Some(count as f64), j.verdict)
                    .detail(Detail::Exclusivity(ExclusivityFields {
                        exclusive_merchants: count,
                        too_few_sessions: per.too_few.len() as u64,
                        affiliated_provider: aff.id.clone(),
                    }))
                    .judged(&j),
            );
        }
        let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
        let total: u64 = groups.iter().filter_map(|g| g.value).map(|v| v as u64).sum();
        let set_aside = if too_few_total > 0 {
            format!(
                " {} with fewer than {} sessions showed only the platform's own provider: listed as too few sessions \
                 to judge, not counted.",
                plural(too_few_total, "merchant"),
                spec.min_sessions
            )
        } else {
            String::new()
        };
        let message = match verdict {
            Verdict::Fail => format!("{} exclusive merchants: {}.{set_aside}", total, offenders.join("; ")),
            Verdict::Pass => format!(
                "No platform has more than {} merchants offering only its own provider (every merchant with at least \
                 {} sessions counted).{set_aside}",
                spec.max_merchants, spec.min_sessions
            ),
            _ => {
                let reasons: Vec<String> =
                    groups.iter().filter_map(|g| g.reason.as_ref().map(|r| format!("{}: {r}", g.key_text()))).collect();
                if reasons.is_empty() {
                    "No platform with an affiliated provider had checkout sessions.".to_string()
                } else {
                    format!("No platform could be judged: {}.", reasons.join("; "))
                }
            }
        };
        let mut f = Finding::new(
            rule,
            verdict,
            message,
            Some(total as f64),
            Some(spec.max_merchants as f64),
            format!(
                "exclusive merchants <= {} per platform (merchants with at least {} sessions)",
                spec.max_merchants, spec.min_sessions
            ),
            groups,
        );
        if !evidence.rows.is_empty() {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(e: &ExclusivitySpec) -> Vec<(&'static str, String)> {
        vec![
            ("max", format!("{} merchants per platform", e.max_merchants)),
            ("min_sessions", format!("{} per merchant to be judged", e.min_sessions)),
        ]
    }

    fn criteria(e: &ExclusivitySpec) -> Criteria {
        Criteria {
            fail: format!(
                "more than {} merchants with at least {} sessions offered only the platform's own provider",
                e.max_merchants, e.min_sessions
            ),
            pass: format!("at most {} such merchants", e.max_merchants),
            inconclusive: "never; merchants with fewer sessions are listed as too few sessions to judge".to_string(),
        }
    }

    fn presentation(_: &ExclusivitySpec) -> Presentation {
        Presentation::Merchants
    }
}

/// Status of a merchant that offered only its platform's own provider.
const EXCLUSIVE: &str = "exclusive";
const TOO_FEW: &str = "too few sessions to judge";
