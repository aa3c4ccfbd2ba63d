//! Coverage: the share of units (merchants or sessions) of each platform
//! that offered a provider at checkout, against a minimum share; or, in the
//! relative form, a rival's coverage divided by the affiliated provider's.

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::*;

use serde::Serialize;

use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::{bools, counts, needed, pct, plural, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::exec::{any_per_group, Merge, Stage};
use crate::findings::{CoverageFields, Detail, EvidenceTable, Finding, Group, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::stats::{self, Paired};
use crate::verdict::{Basis, Breach, Family, Judgement};

/// What a coverage rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Merchant,
    Session,
}

/// Coverage parameters: the share of units offering a provider (absolute),
/// or a rival's coverage over the affiliated provider's (relative).
#[derive(Debug, Clone, Serialize)]
pub struct CoverageSpec {
    pub unit: Unit,
    /// Providers whose coverage is measured.
    pub providers: Vec<String>,
    /// Relative form: rival coverage ÷ the affiliated provider's.
    pub relative: bool,
    /// Minimum share (absolute form) or minimum ratio (relative form).
    pub min: f64,
    /// Extra breakdown beyond platform (and provider): region.
    pub by_region: bool,
    /// Family-wise error rate for sampled units (sessions).
    pub alpha: f64,
}

/// The coverage kind.
pub struct Coverage;

impl Kind for Coverage {
    const NAME: &'static str = "coverage";
    const KEYS: &'static [&'static str] =
        &["unit", "provider", "providers", "relative", "min_share", "min_ratio", "by", "alpha"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-PL-01"                # stable id, never reused
title = "UnionPay offered at checkout by each platform's merchants"
kind = "coverage"
severity = "high"              # critical | high | medium | low | info
unit = "merchant"              # merchant (a census, compared exactly) | session (a sample)
provider = "unionpay"          # or providers = ["...", "..."] or the name of a set
min_share = 0.85               # relative = true takes min_ratio instead
by = ["platform"]              # or ["platform", "region"]
# alpha = 0.05                 # sessions only: family-wise error rate
engineering_default = true     # the target is not set by law
citation = "Who requires it, in which document, with its date"
rationale = "Why it matters, in plain words"
"#;
    const DATASET: Dataset = Dataset::Checkout;
    type Spec = CoverageSpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<CoverageSpec> {
        let unit =
            p.choice(d, "unit", &[("merchant", Unit::Merchant), ("session", Unit::Session)], Some(Unit::Merchant));
        let relative = p.bool(d, "relative").unwrap_or(false);
        let list = if p.has("provider") {
            p.provider(d, "provider").map(|one| vec![one])
        } else {
            let list = p.providers(d, "providers");
            p.required(d, "provider", list)
        };
        let by_region = p.by(d, &["platform", "region"], &["platform"]).map(|b| b.iter().any(|b| b == "region"));
        let min = if relative {
            let v = p.number_in(d, "min_ratio", 0.0, 1.0, "a ratio between 0 and 1");
            p.required(d, "min_ratio", v)
        } else {
            let v = p.share(d, "min_share");
            p.required(d, "min_share", v)
        };
        let alpha = p.alpha(d);
        Some(CoverageSpec { unit: unit?, providers: list?, relative, min: min?, by_region: by_region?, alpha: alpha? })
    }

    fn basis(spec: &CoverageSpec) -> Basis {
        if spec.unit == Unit::Merchant {
            Basis::Census
        } else {
            Basis::Sample
        }
    }

    fn alpha(spec: &CoverageSpec) -> Option<f64> {
        (spec.unit == Unit::Session).then_some(spec.alpha)
    }

    fn plans(rule: &Rule, p: &CoverageSpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        let frame = ctx.rule_frame(rule, Dataset::Checkout, &[])?;
        let unit_col = match p.unit {
            Unit::Merchant => "merchant_id",
            Unit::Session => "session_id",
        };
        let mut group: Vec<Expr> = keys(p.by_region).into_iter().map(col).collect();
        group.push(col(unit_col).alias("unit"));
        let group = ctx.keys(group);
        let flagged = flagged(p, ctx);
        let flags: Vec<Expr> =
            flagged.iter().enumerate().map(|(i, id)| offers(id).any(true).alias(flag_name(i))).collect();
        Ok(vec![match p.unit {
            // Merchants are few enough to collect one row each: the uncovered
            // ones are the evidence. Which providers each merchant offers is
            // a step away from the rows per merchant and provider that other
            // rules count too.
            Unit::Merchant => {
                let per_unit = Arc::new(move |f: LazyFrame| f.group_by(group.clone()).agg(flags.clone()));
                super::per_merchant_and_provider(rule, Dataset::Checkout, ctx, &[], per_unit)?
            }
            Unit::Session => {
                let mut agg = vec![len().alias("units")];
                let mut sums = vec!["units".to_string()];
                for i in 0..flags.len() {
                    agg.push(col(flag_name(i)).sum().alias(flag_name(i)));
                    sums.push(flag_name(i));
                }
                // The relative form compares each rival with each platform's own
                // provider within the same sessions: count sessions offering both.
                if p.relative {
                    for i in 0..p.providers.len() {
                        for j in (0..flagged.len()).filter(|j| *j != i) {
                            agg.push(col(flag_name(i)).and(col(flag_name(j))).sum().alias(both_name(i, j)));
                            sums.push(both_name(i, j));
                        }
                    }
                }
                // Session counts add up over the shares of the sessions.
                let by = || ctx.keys(keys(p.by_region).into_iter().map(col));
                // Each row's offers first, then per session whether any row offered.
                let rows: Vec<Expr> =
                    flagged.iter().enumerate().map(|(i, id)| offers(id).alias(flag_name(i))).collect();
                let aggs = any_per_group(&rows).map_err(|e| format!("naming its session flags: {e}"))?;
                let stage = Stage { dataset: Dataset::Checkout, key: unit_col, others: by(), rows, aggs };
                ctx.per_key_stage(frame, stage, Merge::Sum(sums), |f| f.group_by(by()).agg(agg))?
            }
        }])
    }

    fn evaluate(
        rule: &Rule,
        p: &CoverageSpec,
        ctx: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let flagged = flagged(p, ctx);
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
        // Per-row "offered both" counts: merchants from their flags, sessions from the plan.
        let mut both_cols: BTreeMap<(usize, usize), Vec<u64>> = BTreeMap::new();
        if p.relative {
            for i in 0..p.providers.len() {
                for j in (0..flagged.len()).filter(|j| *j != i) {
                    let col = match p.unit {
                        Unit::Session => counts(&df, &both_name(i, j))?,
                        Unit::Merchant => flag_vals[i].iter().zip(&flag_vals[j]).map(|(a, b)| a & b).collect(),
                    };
                    both_cols.insert((i, j), col);
                }
            }
        }
        let mut tallies: BTreeMap<Vec<String>, Tally> = BTreeMap::new();
        for row in 0..df.height() {
            let key: Vec<String> = key_vals.iter().map(|v| v[row].clone()).collect();
            let t = tallies.entry(key).or_insert_with(|| Tally {
                units: 0,
                offered: vec![0; flagged.len()],
                both: BTreeMap::new(),
                missing: vec![Vec::new(); flagged.len()],
            });
            t.units += units[row];
            for (i, f) in flag_vals.iter().enumerate() {
                t.offered[i] += f[row];
                if p.unit == Unit::Merchant && f[row] == 0 {
                    t.missing[i].push(unit_ids[row].clone());
                }
            }
            for (k, v) in &both_cols {
                *t.both.entry(*k).or_default() += v[row];
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
        let census = p.unit == Unit::Merchant;
        let mut pending: Vec<Pending> = Vec::new();
        for (key, t) in &tallies {
            let mut kv: Vec<(&str, &str)> = key_cols.iter().copied().zip(key.iter().map(String::as_str)).collect();
            let platform = key[0].as_str();
            if p.relative {
                let Some(aff) = ctx.rulebook.affiliated(platform) else {
                    kv.push(("provider", "*"));
                    pending.push(Pending::settled(
                        Group::new(&kv, t.units, None, Verdict::NotEvaluable)
                            .reason("platform has no affiliated provider in the taxonomy"),
                    ));
                    continue;
                };
                let Some(ai) = flagged.iter().position(|f| *f == aff.id) else { continue };
                for (i, prov) in p.providers.iter().enumerate() {
                    if *prov == aff.id {
                        continue;
                    }
                    let mut kvp = kv.clone();
                    kvp.push(("provider", prov));
                    let (rival, own) = (t.offered[i], t.offered[ai]);
                    if own == 0 {
                        pending.push(Pending::settled(
                            Group::new(&kvp, t.units, None, Verdict::NotEvaluable)
                                .reason(format!("the affiliated provider {} was never offered", aff.name)),
                        ));
                        continue;
                    }
                    let ratio = rival as f64 / own as f64;
                    let gap = needed(p.min, own).saturating_sub(rival);
                    let both = t.both.get(&(i, ai)).copied().unwrap_or(0);
                    let group = Group::new(&kvp, t.units, Some(ratio), Verdict::Inconclusive).detail(Detail::Coverage(
                        CoverageFields {
                            offered: rival,
                            share: Some(rival as f64 / t.units as f64),
                            reference_provider: Some(aff.id.clone()),
                            reference_offered: Some(own),
                            reference_value: Some(own as f64 / t.units as f64),
                            offered_both: Some(both),
                            gap_units: gap,
                        },
                    ));
                    let evidence = vec![vec![
                        key.join("/"),
                        prov.clone(),
                        t.units.to_string(),
                        rival.to_string(),
                        own.to_string(),
                        format!("{ratio:.6}"),
                        gap.to_string(),
                    ]];
                    let shortfall = format!(
                        "{} on {platform}: {:.2} ({gap} more {unit_word}s must offer it)",
                        ctx.rulebook.display_name(prov),
                        ratio
                    );
                    let table = Paired {
                        both,
                        first_only: rival - both,
                        second_only: own - both,
                        neither: t.units - rival - own + both,
                    };
                    pending.push(Pending {
                        group,
                        sample: (!census).then_some(Sample::Ratio(table)),
                        evidence,
                        shortfall,
                    });
                }
            } else {
                for (i, prov) in p.providers.iter().enumerate() {
                    let mut kvp = kv.clone();
                    if p.providers.len() > 1 {
                        kvp.push(("provider", prov));
                    }
                    let share = t.offered[i] as f64 / t.units as f64;
                    let gap = needed(p.min, t.units).saturating_sub(t.offered[i]);
                    let group = Group::new(&kvp, t.units, Some(share), Verdict::Inconclusive).detail(Detail::Coverage(
                        CoverageFields { offered: t.offered[i], gap_units: gap, ..CoverageFields::default() },
                    ));
                    let evidence = if census {
                        t.missing[i].iter().map(|m| vec![key.join("/"), prov.clone(), m.clone()]).collect()
                    } else {
                        vec![vec![
                            key.join("/"),
                            prov.clone(),
                            t.units.to_string(),
                            t.offered[i].to_string(),
                            format!("{share:.6}"),
                            gap.to_string(),
                        ]]
                    };
                    let shortfall = format!(
                        "{} on {}: {} ({gap} more {unit_word}s must offer it)",
                        ctx.rulebook.display_name(prov),
                        key.join("/"),
                        pct(share)
                    );
                    pending.push(Pending {
                        group,
                        sample: (!census).then_some(Sample::Share { x: t.offered[i], n: t.units }),
                        evidence,
                        shortfall,
                    });
                }
            }
        }
        let family = Family::new(p.alpha, pending.iter().filter(|x| x.sample.is_some()).count(), Breach::Below);
        let mut groups = Vec::new();
        let mut evidence = EvidenceTable::default();
        let mut shortfalls = Vec::new();
        for pend in pending {
            let Pending { mut group, sample, evidence: rows, shortfall } = pend;
            if group.verdict != Verdict::NotEvaluable {
                let value = group.value.unwrap_or(0.0);
                let j = match &sample {
                    None => Judgement::census(value, p.min, Breach::Below),
                    Some(s) => {
                        let (ci, n) = match s {
                            Sample::Share { x, n } => (stats::proportion_interval(*x, *n, family.z()), *n),
                            Sample::Ratio(t) => (stats::katz_paired(*t, family.z()), t.n()),
                        };
                        // One proportion against a threshold has no margin: the
                        // sample size is for the observed distance.
                        match ci {
                            Some(ci) => Judgement::sample(ci, p.min, family, n, (value - p.min).abs()),
                            None => Judgement::undecided(Some(family), None),
                        }
                    }
                };
                group = group.judged(&j);
                if group.verdict == Verdict::Fail {
                    shortfalls.push(shortfall);
                    evidence.rows.extend(rows);
                }
            }
            groups.push(group);
        }
        evidence.header = if p.relative {
            ["group", "provider", "units", "offered", "reference_offered", "ratio", "gap_units"]
                .map(String::from)
                .to_vec()
        } else if census {
            ["group", "provider", "merchant_id"].map(String::from).to_vec()
        } else {
            ["group", "provider", "units", "offered", "share", "gap_units"].map(String::from).to_vec()
        };
        let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
        let value = groups.iter().filter_map(|g| g.value).reduce(f64::min);
        let names: Vec<String> = p.providers.iter().map(|x| ctx.rulebook.display_name(x)).collect();
        let what = if p.relative {
            format!("{} {unit_word} coverage relative to each platform's own provider", names.join(", "))
        } else {
            format!("{} {unit_word} coverage", names.join(", "))
        };
        let evaluable = groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).count();
        let basis = if census {
            format!("a census: every {unit_word} of the window counted, compared exactly")
        } else {
            format!("{:.0}% family-wise confidence over {} groups", 100.0 * (1.0 - p.alpha), family.size)
        };
        let undecided = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
        let message = match verdict {
            Verdict::Fail => format!(
                "{what}: {} of {} below target ({basis}). {}.",
                plural(shortfalls.len(), "group"),
                evaluable,
                shortfalls.join("; ")
            ),
            Verdict::Pass => format!("{what}: all {evaluable} groups meet the target ({basis})."),
            Verdict::Inconclusive => format!(
                "{what}: no group is below target, but {} of {evaluable} cannot be told apart from it ({basis}); \
                 more sessions would decide them.",
                plural(undecided, "group")
            ),
            Verdict::NotEvaluable | Verdict::Waived => {
                format!("{what}: no group could be evaluated (no checkout sessions matched).")
            }
        };
        let threshold_text = if p.relative { format!("ratio >= {}", p.min) } else { format!("share >= {}", p.min) };
        let mut f = Finding::new(rule, verdict, message, value, Some(p.min), threshold_text, groups);
        if !evidence.rows.is_empty() {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(c: &CoverageSpec) -> Vec<(&'static str, String)> {
        vec![
            ("unit", format!("{:?}", c.unit).to_lowercase()),
            ("providers", c.providers.join(", ")),
            (if c.relative { "min_ratio" } else { "min_share" }, c.min.to_string()),
            ("by", if c.by_region { "platform, region".into() } else { "platform".into() }),
        ]
    }

    fn criteria(c: &CoverageSpec) -> Criteria {
        if c.unit == Unit::Merchant {
            let what = if c.relative { "ratio to the platform's own provider" } else { "share of merchants" };
            Criteria {
                fail: format!("the {what} is below {}", c.min),
                pass: format!("the {what} is at least {}", c.min),
                inconclusive: "never (a census has no sampling error)".to_string(),
            }
        } else {
            let what = if c.relative { "session-coverage ratio (Katz log, paired)" } else { "session share (Wilson)" };
            Criteria {
                fail: format!("the whole one-sided interval of the {what} is below {}", c.min),
                pass: format!("the whole interval is at or above {}", c.min),
                inconclusive: "the interval straddles the target; more sessions would decide".to_string(),
            }
        }
    }

    fn presentation(c: &CoverageSpec) -> Presentation {
        Presentation::Coverage {
            ratio: c.relative,
            unit: if c.unit == Unit::Merchant { "merchants" } else { "sessions" },
            provider: c.providers.first().cloned().unwrap_or_default(),
            merchant_list: c.unit == Unit::Merchant && !c.relative,
        }
    }
}

/// Whether a row offers the provider `id`.
fn offers(id: &str) -> Expr {
    col("provider").eq(lit(id))
}

/// The providers whose offer flags are computed: the rule's, plus every
/// affiliated provider in the relative form.
fn flagged(p: &CoverageSpec, ctx: &Context) -> Vec<String> {
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

/// Column of the number of units offering both flagged providers i and j.
fn both_name(i: usize, j: usize) -> String {
    format!("both_{i}_{j}")
}

/// Counts per breakdown group: units and units offering each flagged provider.
struct Tally {
    units: u64,
    offered: Vec<u64>,
    /// Units offering both flagged providers (i, j), relative session form.
    both: BTreeMap<(usize, usize), u64>,
    /// Units (merchants) not offering each flagged provider, for evidence.
    missing: Vec<Vec<String>>,
}

/// A group before the family size is known.
struct Pending {
    group: Group,
    /// For sample groups: the interval's input.
    sample: Option<Sample>,
    evidence: Vec<Vec<String>>,
    shortfall: String,
}

enum Sample {
    /// Offered in x of n sessions.
    Share { x: u64, n: u64 },
    /// Rival vs own provider offered in the same sessions.
    Ratio(Paired),
}

impl Pending {
    /// A group whose verdict is already known.
    fn settled(group: Group) -> Pending {
        Pending { group, sample: None, evidence: Vec::new(), shortfall: String::new() }
    }
}
