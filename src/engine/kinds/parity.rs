//! Parity (non-discrimination): per platform and rival provider, a metric
//! for the rival against the platform's affiliated provider.
//!
//! Payment outcomes (failure rate, p95 latency of successful payments) are
//! independent samples per arm. Presentation metrics (visible, default, top
//! position, surcharge, discount) are compared within the checkout sessions
//! that offered both providers, as paired proportions, so that which
//! merchants or sessions offer a rival cannot fake or hide a difference.
//! Verdicts follow the shared protocol (`crate::verdict`): simultaneous
//! one-sided intervals across the rule's groups against the margin.

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::*;

use serde::Serialize;

use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::{counts, opt_ints, plural, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::exec::{Merge, Stage, Then};
use crate::findings::{ComparisonFields, Detail, EvidenceTable, Finding, Group, MetricUnit, Presentation, Verdict};
use crate::rulebook::diag::{codes, Diagnostics};
use crate::rulebook::model::FailureClass;
use crate::rulebook::{taxonomy, Params};
use crate::stats::{self, Paired};
use crate::verdict::{Breach, Family, Judgement};

/// The metric a parity rule compares between a rival and the affiliated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    FailureRate,
    P95Latency,
    VisibleRate,
    DefaultRate,
    TopPositionRate,
    SurchargeRate,
    DiscountRate,
}

impl Metric {
    pub const NAMES: [&'static str; 7] = [
        "failure_rate",
        "p95_latency",
        "visible_rate",
        "default_rate",
        "top_position_rate",
        "surcharge_rate",
        "discount_rate",
    ];

    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "failure_rate" => Metric::FailureRate,
            "p95_latency" => Metric::P95Latency,
            "visible_rate" => Metric::VisibleRate,
            "default_rate" => Metric::DefaultRate,
            "top_position_rate" => Metric::TopPositionRate,
            "surcharge_rate" => Metric::SurchargeRate,
            "discount_rate" => Metric::DiscountRate,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        Metric::NAMES[self as usize]
    }

    /// Whether the metric is a proportion (tested for significance) rather than a quantile.
    pub fn is_rate(self) -> bool {
        self != Metric::P95Latency
    }

    /// The contract column the metric needs beyond the basics.
    pub fn column(self) -> &'static str {
        match self {
            Metric::FailureRate => "status",
            Metric::P95Latency => "latency_ms",
            Metric::VisibleRate => "folded",
            Metric::DefaultRate => "is_default",
            Metric::TopPositionRate => "position",
            Metric::SurchargeRate => "surcharge",
            Metric::DiscountRate => "discount",
        }
    }

    /// Transactions for payment outcomes, checkout options for presentation.
    pub fn dataset(self) -> crate::contract::Dataset {
        match self {
            Metric::FailureRate | Metric::P95Latency => crate::contract::Dataset::Transactions,
            _ => crate::contract::Dataset::Checkout,
        }
    }
}

/// A parity threshold: how the rival's value may differ from the affiliated one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// rival / affiliated must be at least this.
    MinRatio(f64),
    /// rival / affiliated must be at most this.
    MaxRatio(f64),
    /// rival − affiliated must be at most this.
    MaxDifference(f64),
    /// rival − affiliated must be at least this.
    MinDifference(f64),
}

impl Threshold {
    pub fn is_ratio(self) -> bool {
        matches!(self, Threshold::MinRatio(_) | Threshold::MaxRatio(_))
    }

    pub fn limit(self) -> f64 {
        match self {
            Threshold::MinRatio(v)
            | Threshold::MaxRatio(v)
            | Threshold::MaxDifference(v)
            | Threshold::MinDifference(v) => v,
        }
    }

    /// Whether `value` breaches the threshold.
    pub fn breached(self, value: f64) -> bool {
        match self {
            Threshold::MinRatio(v) | Threshold::MinDifference(v) => value < v,
            Threshold::MaxRatio(v) | Threshold::MaxDifference(v) => value > v,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Threshold::MinRatio(v) => format!("ratio >= {v}"),
            Threshold::MaxRatio(v) => format!("ratio <= {v}"),
            Threshold::MaxDifference(v) => format!("difference <= {v}"),
            Threshold::MinDifference(v) => format!("difference >= {v}"),
        }
    }
}

/// Which failures a failure-rate parity rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureScope {
    All,
    Technical,
}

/// Parity parameters: a metric for each rival against the platform's
/// affiliated provider.
#[derive(Debug, Clone, Serialize)]
pub struct ParitySpec {
    pub metric: Metric,
    pub rivals: Vec<String>,
    pub threshold: Threshold,
    pub alpha: f64,
    pub min_n: u64,
    /// failure_rate only: which failures count.
    pub failures: FailureScope,
    /// discount_rate only: count only those funded by this party.
    pub funded_by: Option<String>,
}

/// The parity kind.
pub struct Parity;

impl Kind for Parity {
    const NAME: &'static str = "parity";
    const KEYS: &'static [&'static str] = &[
        "metric",
        "rivals",
        "min_ratio",
        "max_ratio",
        "max_difference",
        "min_difference",
        "alpha",
        "min_n",
        "failures",
        "funded_by",
    ];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-ND-01"
title = "Rival payments do not fail more often for technical reasons"
kind = "parity"
severity = "high"
where = "channel = 'online'"   # SQL over contract columns; strings in single quotes
metric = "failure_rate"        # failure_rate | p95_latency | visible_rate | default_rate
                               # | top_position_rate | surcharge_rate | discount_rate
failures = "technical"         # failure_rate only: all | technical (see [failure_codes])
rivals = ["alipay", "wechat_pay", "unionpay"]  # or the name of a set
max_difference = 0.01          # exactly one of min_ratio, max_ratio, max_difference,
                               # min_difference; differences are fractions (0.01 = 1 point)
alpha = 0.05                   # family-wise error rate over platforms x rivals
min_n = 200                    # fewer observations in an arm -> inconclusive
engineering_default = true
citation = "Who requires it, in which document, with its date"
rationale = "Why the margin is what it is, in plain words"
"#;
    const DATASET: Dataset = Dataset::Transactions;
    type Spec = ParitySpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<ParitySpec> {
        read_parity(p, d)
    }

    fn dataset_of(p: &Params) -> Option<Dataset> {
        p.peek_str("metric").as_deref().and_then(Metric::parse).map(Metric::dataset)
    }

    fn dataset(spec: &ParitySpec) -> Dataset {
        spec.metric.dataset()
    }

    fn alpha(spec: &ParitySpec) -> Option<f64> {
        Some(spec.alpha)
    }

    fn plans(rule: &Rule, spec: &ParitySpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        let mut needs = vec![spec.metric.column()];
        if spec.funded_by.is_some() {
            needs.push("discount_funder");
        }
        let frame = ctx.rule_frame(rule, spec.metric.dataset(), &needs)?;
        // Which providers (null: unmapped labels) each platform logged at
        // all, from the rows per merchant and provider that other rules over
        // the same rows count too.
        let per_provider = ctx.keys([col("platform"), col("provider")]);
        let present = super::per_merchant_and_provider(
            rule,
            spec.metric.dataset(),
            ctx,
            &needs,
            Arc::new(move |f| f.group_by(per_provider.clone()).agg([col("n").sum().cast(DataType::UInt64)])),
        )?;
        let mapped = frame.filter(col("provider").is_not_null());
        let main = match spec.metric {
            // The exact latency distribution of successful payments per arm:
            // exact quantiles without holding the column. Its groups (arm ×
            // distinct latency) run to hundreds of thousands, and polars'
            // streaming group-by holds rows in proportion to the input once
            // the groups outgrow its cache (827 MB alone at 144M rows), so it
            // is split on the latency: each share holds whole groups.
            Metric::P95Latency => {
                let successes = mapped.filter(col("status").eq(lit("success")).and(col("latency_ms").is_not_null()));
                return Ok(vec![
                    present,
                    ctx.per_key(successes, "latency_ms", Merge::Concat, |f| {
                        f.group_by(ctx.keys([col("platform"), col("provider"), col("latency_ms")]))
                            .agg([len().cast(DataType::UInt64).alias("n")])
                    }),
                ]);
            }
            Metric::FailureRate => mapped.group_by(ctx.keys([col("platform"), col("provider")])).agg([
                len().cast(DataType::UInt64).alias("n"),
                event(spec, ctx).sum().cast(DataType::UInt64).alias("x"),
                col("status").eq(lit("failed")).sum().cast(DataType::UInt64).alias("failed"),
            ]),
            // Paired within sessions: one row per session (within its period)
            // saying whether the own provider and each rival were offered,
            // and with the event; then the sessions counted by those flags.
            // No join of rival rows to own rows and no provider dimension per
            // session: the session-level state is a few booleans.
            _ => {
                let ev = event(spec, ctx);
                let own = col("provider").eq(col("aff"));
                // Each row's flags first, then per session whether any row has them.
                let mut rows = vec![own.clone().alias("own"), own.clone().and(ev.clone()).alias("ev_a")];
                for (i, rival) in spec.rivals.iter().enumerate() {
                    let is_rival = col("provider").eq(lit(rival.as_str())).and(own.clone().not());
                    rows.push(is_rival.clone().alias(rival_offered(i)));
                    rows.push(is_rival.and(ev.clone()).alias(rival_event(i)));
                }
                let names: Vec<Expr> = ["ev_a".to_string()]
                    .into_iter()
                    .chain((0..spec.rivals.len()).flat_map(|i| [rival_offered(i), rival_event(i)]))
                    .map(|n| col(n.as_str()))
                    .collect();
                // Sessions counted by their flags add up over the shares of the sessions.
                // Each row with its platform's own provider (`aff`). With one
                // provider per platform, a lookup: it keeps the rows in
                // input order, as the sorted path needs, where a streaming
                // join keeps it only at a cost in memory (docs/performance.md).
                // Otherwise a join, which repeats a row per provider; the
                // sorted path is then not taken.
                let (joined, ctx) = match own_providers(ctx) {
                    Some((platforms, providers)) => {
                        // when/then per platform: elementwise, where a lookup
                        // against literal lists is not to the streaming engine.
                        let aff = platforms.iter().zip(&providers).rev().fold(
                            lit(NULL).cast(DataType::String),
                            |rest, (platform, provider)| {
                                when(col("platform").eq(lit(platform.as_str())))
                                    .then(lit(provider.as_str()))
                                    .otherwise(rest)
                            },
                        );
                        (
                            mapped.with_column(aff.alias("aff")).filter(col("aff").is_not_null()),
                            ctx.variant(ctx.period, ctx.part, ctx.sorted),
                        )
                    }
                    None => (
                        mapped.join(
                            affiliations(ctx),
                            [col("platform")],
                            [col("platform")],
                            JoinArgs::new(JoinType::Inner),
                        ),
                        ctx.variant(ctx.period, ctx.part, false),
                    ),
                };
                let ctx = &ctx;
                let stage = Stage::flags(spec.metric.dataset(), "session_id", ctx.keys([col("platform")]), rows)
                    .map_err(|e| format!("naming its session flags: {e}"))?;
                let keys: Vec<Expr> = ctx.keys([col("platform")]).into_iter().chain(names).collect();
                let then: Then = Arc::new(move |f: LazyFrame| {
                    f.filter(col("own")).group_by(keys.clone()).agg([len().cast(DataType::UInt64).alias("n")])
                });
                // The other paired rules over the same rows share the stage.
                let rows = "rows with a mapped provider and their platform's own provider";
                return Ok(vec![present, ctx.flags_stage(rule, rows, joined, stage, Merge::sum(["n"]), then)?]);
            }
        };
        Ok(vec![present, main.into()])
    }

    fn evaluate(
        rule: &Rule,
        spec: &ParitySpec,
        ctx: &Context,
        frames: Vec<DataFrame>,
        seen: &Seen,
    ) -> anyhow::Result<Finding> {
        let mut frames = frames.into_iter();
        let present_df = frames.next().unwrap_or_default();
        let df = frames.next().unwrap_or_default();
        // platform -> provider -> rows ("" for unmapped labels)
        let mut present: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let (pp, pv, pn) =
            (strings(&present_df, "platform")?, strings(&present_df, "provider")?, counts(&present_df, "n")?);
        for i in 0..present_df.height() {
            *present.entry(pp[i].clone()).or_default().entry(pv[i].clone()).or_default() += pn[i];
        }
        let mut arms: BTreeMap<(String, String), Arm> = BTreeMap::new();
        let mut tables: BTreeMap<(String, String), Paired> = BTreeMap::new();
        let platform = strings(&df, "platform")?;
        let ns = counts(&df, "n")?;
        if paired(spec.metric) {
            // Each row: sessions offering the own provider, by which rivals
            // were offered too and with the event.
            let bools = |name: &str| crate::engine::util::bools(&df, name);
            let ea = bools("ev_a")?;
            for (r, rival) in spec.rivals.iter().enumerate() {
                let (offered, er) = (bools(&rival_offered(r))?, bools(&rival_event(r))?);
                for i in (0..df.height()).filter(|i| offered[*i]) {
                    let t = tables.entry((platform[i].clone(), rival.clone())).or_default();
                    match (er[i], ea[i]) {
                        (true, true) => t.both += ns[i],
                        (true, false) => t.first_only += ns[i],
                        (false, true) => t.second_only += ns[i],
                        (false, false) => t.neither += ns[i],
                    }
                }
            }
        } else if spec.metric == Metric::P95Latency {
            let provider = strings(&df, "provider")?;
            let lat = opt_ints(&df, "latency_ms")?;
            for i in 0..df.height() {
                let arm = arms.entry((platform[i].clone(), provider[i].clone())).or_default();
                arm.n += ns[i];
                if let Some(v) = lat[i] {
                    arm.dist.push((v, ns[i]));
                }
            }
            for arm in arms.values_mut() {
                arm.dist.sort_unstable();
            }
        } else {
            let provider = strings(&df, "provider")?;
            let (xs, failed) = (counts(&df, "x")?, counts(&df, "failed")?);
            for i in 0..df.height() {
                let arm = arms.entry((platform[i].clone(), provider[i].clone())).or_default();
                arm.n += ns[i];
                arm.x += xs[i];
                arm.failed += failed[i];
            }
        }
        let unit = if paired(spec.metric) { "shared sessions" } else { "observations in an arm" };
        let mut pending: Vec<Pending> = Vec::new();
        for (plat, provs) in &present {
            let Some(aff) = ctx.rulebook.affiliated(plat) else {
                pending.push(Pending {
                    group: Group::new(&[("platform", plat), ("provider", "*")], 0, None, Verdict::NotEvaluable)
                        .reason("platform has no affiliated provider in the taxonomy"),
                    data: None,
                    n: 0,
                });
                continue;
            };
            if provs.get(&aff.id).copied().unwrap_or(0) == 0 {
                pending.push(Pending {
                    group: Group::new(&[("platform", plat), ("provider", "*")], 0, None, Verdict::NotEvaluable).reason(
                        format!(
                            "the affiliated provider {} has no mapped rows on this platform; unmapped labels seen: {}",
                            aff.name,
                            seen.unmapped_text(plat)
                        ),
                    ),
                    data: None,
                    n: 0,
                });
                continue;
            }
            for rival in &spec.rivals {
                if *rival == aff.id || provs.get(rival).copied().unwrap_or(0) == 0 {
                    continue;
                }
                let key = [("platform", plat.as_str()), ("provider", rival.as_str())];
                let (data, n_r, n_a, rv, av) = if paired(spec.metric) {
                    let t = tables.get(&(plat.clone(), rival.clone())).copied().unwrap_or_default();
                    let n = t.n();
                    let v = |x: u64| (n > 0).then(|| x as f64 / n as f64);
                    (Data::Paired(t), n, n, v(t.x1()), v(t.x2()))
                } else {
                    let r = arms.get(&(plat.clone(), rival.clone())).cloned().unwrap_or_default();
                    let a = arms.get(&(plat.clone(), aff.id.clone())).cloned().unwrap_or_default();
                    let (rv, av) = (r.value(spec.metric), a.value(spec.metric));
                    let (nr, na) = (r.n, a.n);
                    (Data::Arms(r, a), nr, na, rv, av)
                };
                let value = match (rv, av) {
                    (Some(x), Some(y)) => Some(compare(spec.threshold, x, y)),
                    _ => None,
                };
                let mut fields = ComparisonFields {
                    rival_value: rv,
                    reference_provider: aff.id.clone(),
                    reference_n: n_a,
                    reference_value: av,
                    ..ComparisonFields::default()
                };
                match &data {
                    Data::Paired(t) => {
                        fields.shared_sessions = Some(t.n());
                        fields.rival_events = Some(t.x1());
                        fields.reference_events = Some(t.x2());
                    }
                    Data::Arms(r, a) if spec.metric == Metric::FailureRate => {
                        fields.rival_failures = Some(r.failed);
                        fields.reference_failures = Some(a.failed);
                    }
                    Data::Arms(..) => {}
                }
                if n_r.min(n_a) < spec.min_n {
                    let need = spec.min_n;
                    fields.needed_per_arm = Some(need);
                    fields.more_rival_needed = Some(need.saturating_sub(n_r));
                    fields.more_reference_needed = Some(need.saturating_sub(n_a));
                    let g = Group::new(&key, n_r, value.filter(|v| v.is_finite()), Verdict::Inconclusive)
                        .detail(Detail::Comparison(fields))
                        .reason(format!("fewer than min_n = {} {unit}", spec.min_n))
                        .judged(&Judgement::undecided(None, Some(need)));
                    pending.push(Pending { group: g, data: None, n: 0 });
                    continue;
                }
                let g = Group::new(&key, n_r, value.filter(|v| v.is_finite()), Verdict::Inconclusive)
                    .detail(Detail::Comparison(fields));
                pending.push(Pending { group: g, data: Some(data), n: n_r.min(n_a) });
            }
        }
        let family =
            Family::new(spec.alpha, pending.iter().filter(|p| p.data.is_some()).count(), breach(spec.threshold));
        let mut groups = Vec::new();
        let mut evidence = comparison_table();
        for p in pending {
            let Pending { mut group, data, n } = p;
            if let Some(data) = data {
                let j = match interval(spec, &data, &family) {
                    Some(ci) => Judgement::sample(ci, spec.threshold.limit(), family, n, margin(spec.threshold)),
                    None => Judgement::undecided(Some(family), None),
                };
                if j.verdict == Verdict::Inconclusive {
                    group = group.reason("the interval straddles the threshold");
                    if let Some(Detail::Comparison(c)) = &mut group.detail {
                        match (j.needed, &data) {
                            (Some(need), Data::Arms(r, a)) => {
                                // Both arms grow in proportion: the interval narrows as 1/√n.
                                let factor = need as f64 / n.max(1) as f64;
                                let grow = |k: u64| ((k as f64 * factor).ceil() as u64).saturating_sub(k);
                                c.more_rival_needed = Some(grow(r.n));
                                c.more_reference_needed = Some(grow(a.n));
                            }
                            (Some(need), Data::Paired(_)) => {
                                c.more_shared_sessions_needed = Some(need.saturating_sub(n));
                            }
                            (None, _) => {}
                        }
                    }
                }
                group = group.judged(&j);
                if group.verdict == Verdict::Fail {
                    evidence.rows.push(comparison_row(&group));
                }
            }
            groups.push(group);
        }
        let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
        let values = groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).filter_map(|g| g.value);
        let value = match spec.threshold {
            Threshold::MinRatio(_) | Threshold::MinDifference(_) => values.reduce(f64::min),
            _ => values.reduce(f64::max),
        };
        let what = metric_words(spec);
        let fmt_v = |v: f64| if spec.threshold.is_ratio() { format!("{v:.3}") } else { format!("{v:+.4}") };
        let fails: Vec<String> = groups
            .iter()
            .filter(|g| g.verdict == Verdict::Fail)
            .map(|g| {
                format!(
                    "{}: {} (interval {} to {})",
                    super::rival_on_platform(g, ctx),
                    g.value.map_or("n/a".into(), fmt_v),
                    g.judged.ci_low.map_or("-inf".into(), fmt_v),
                    g.judged.ci_high.map_or("+inf".into(), fmt_v),
                )
            })
            .collect();
        let undecided_groups = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive);
        let below_min = undecided_groups.clone().filter(|g| g.judged.ci_low.is_none()).count();
        let straddle = undecided_groups.filter(|g| g.judged.ci_low.is_some()).count();
        let most_needed = groups.iter().filter_map(|g| g.judged.needed_n).max();
        let confidence = format!("{:.0}% family-wise confidence", 100.0 * (1.0 - spec.alpha));
        let mut undecided = Vec::new();
        if below_min > 0 {
            undecided.push(format!("{} below min_n = {} {unit}", plural(below_min, "group"), spec.min_n));
        }
        if straddle > 0 {
            let need = most_needed.map_or(String::new(), |n| format!(" (up to {n} per arm would decide)"));
            undecided.push(format!("{} whose interval straddles the threshold{need}", plural(straddle, "group")));
        }
        let not_evaluable: Vec<String> = groups
            .iter()
            .filter(|g| g.verdict == Verdict::NotEvaluable)
            .map(|g| {
                format!("{}: {}", g.key.get("platform").map_or("", String::as_str), g.reason.as_deref().unwrap_or(""))
            })
            .collect();
        let message = match verdict {
            Verdict::Fail => format!(
                "Rival {what} worse than the affiliated provider's beyond the margin ({}), at {confidence}: {}.",
                spec.threshold.describe(),
                fails.join("; ")
            ),
            Verdict::Inconclusive => format!("No group fails; undecided: {}.", undecided.join("; ")),
            Verdict::Pass => format!(
                "Rival {what} within {} of the affiliated provider's on every platform, at {confidence}.",
                spec.threshold.describe()
            ),
            Verdict::NotEvaluable | Verdict::Waived => {
                if not_evaluable.is_empty() {
                    format!("No platform with an affiliated provider had comparable {what} data.")
                } else {
                    format!("No platform could be compared: {}.", not_evaluable.join("; "))
                }
            }
        };
        let threshold_text = format!(
            "{}, one-sided simultaneous intervals at family-wise alpha {}, min {} {unit}",
            spec.threshold.describe(),
            spec.alpha,
            spec.min_n
        );
        let mut f = Finding::new(rule, verdict, message, value, Some(spec.threshold.limit()), threshold_text, groups);
        if !evidence.rows.is_empty() {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(p: &ParitySpec) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("metric", metric_words(p)),
            ("rivals", p.rivals.join(", ")),
            ("threshold", p.threshold.describe()),
            ("min_n", format!("{} per arm", p.min_n)),
        ];
        if p.failures == FailureScope::Technical {
            v.push(("failures", "technical only (see [failure_codes])".into()));
        }
        v
    }

    fn criteria(p: &ParitySpec) -> Criteria {
        let interval = match (paired(p.metric), p.threshold.is_ratio()) {
            (true, true) => "paired Katz log interval within shared sessions",
            (true, false) => "paired Newcombe interval within shared sessions",
            _ if p.metric == Metric::P95Latency => "log-ratio interval from distribution-free quantile standard errors",
            (false, true) => "Katz log interval",
            (false, false) => "Newcombe hybrid score interval",
        };
        threshold_criteria(interval, p.threshold, &format!("an arm has fewer than {} observations", p.min_n))
    }

    fn presentation(p: &ParitySpec) -> Presentation {
        Presentation::Forest {
            ratio: p.threshold.is_ratio(),
            unit: if p.metric == Metric::P95Latency { MetricUnit::Millis } else { MetricUnit::Percent },
            threshold: p.threshold.describe(),
        }
    }
}

/// The evidence table of a rival-vs-own comparison, without rows.
pub(super) fn comparison_table() -> EvidenceTable {
    let header = [
        "platform",
        "provider",
        "rival_n",
        "rival_value",
        "reference_provider",
        "reference_n",
        "reference_value",
        "value",
        "ci_low",
        "ci_high",
    ];
    EvidenceTable { header: header.map(String::from).to_vec(), rows: Vec::new() }
}

/// One failing comparison as a row of `comparison_table`.
pub(super) fn comparison_row(g: &Group) -> Vec<String> {
    let num = crate::findings::number_text;
    let c = g.comparison().cloned().unwrap_or_default();
    vec![
        g.key.get("platform").cloned().unwrap_or_default(),
        g.key.get("provider").cloned().unwrap_or_default(),
        g.n.to_string(),
        num(c.rival_value),
        c.reference_provider,
        c.reference_n.to_string(),
        num(c.reference_value),
        num(g.value),
        num(g.judged.ci_low),
        num(g.judged.ci_high),
    ]
}

/// What fails, passes and stays inconclusive for a rival-vs-own comparison
/// read from `interval` against `threshold`.
pub(super) fn threshold_criteria(interval: &str, threshold: Threshold, too_few: &str) -> Criteria {
    let side = match threshold {
        Threshold::MinRatio(t) | Threshold::MinDifference(t) => format!("below {t}"),
        Threshold::MaxRatio(t) | Threshold::MaxDifference(t) => format!("above {t}"),
    };
    Criteria {
        fail: format!("the whole one-sided {interval} of rival vs own lies {side}"),
        pass: "the whole interval lies on the compliant side".to_string(),
        inconclusive: format!("{too_few}, or the interval crosses the threshold"),
    }
}

fn read_parity(p: &Params, d: &mut Diagnostics) -> Option<ParitySpec> {
    let metric = p.str(d, "metric", true).and_then(|m| {
        let metric = Metric::parse(m.get_ref());
        if metric.is_none() {
            d.push(
                codes::BAD_VALUE,
                m.span(),
                format!("unknown metric `{}`", m.get_ref()),
                format!("expected one of {}", Metric::NAMES.join(", ")),
            );
        }
        metric
    });
    let rivals = p.providers(d, "rivals");
    let rivals = p.required(d, "rivals", rivals);
    let mut thresholds = Vec::new();
    for key in ["min_ratio", "max_ratio", "max_difference", "min_difference"] {
        if let Some(v) = p.f64(d, key) {
            let x = *v.get_ref();
            let t = match key {
                "min_ratio" => Threshold::MinRatio(x),
                "max_ratio" => Threshold::MaxRatio(x),
                "max_difference" => Threshold::MaxDifference(x),
                _ => Threshold::MinDifference(x),
            };
            if t.is_ratio() && x <= 0.0 {
                d.push(codes::OUT_OF_RANGE, v.span(), format!("`{key}` = {x} is not positive"), "a ratio is > 0");
            } else if !t.is_ratio() && metric.is_some_and(Metric::is_rate) && !(-1.0..=1.0).contains(&x) {
                d.push(
                    codes::OUT_OF_RANGE,
                    v.span(),
                    format!("`{key}` = {x} is out of range"),
                    "differences of rates are fractions: 0.02 for 2 points",
                );
            }
            thresholds.push((t, v.span()));
        }
    }
    let threshold = match thresholds.as_slice() {
        [(t, _)] => Some(*t),
        [] => {
            p.missing(d, "min_ratio, max_ratio, max_difference or min_difference");
            None
        }
        [_, (_, span), ..] => {
            d.push(
                codes::BAD_VALUE,
                span.clone(),
                "a parity rule takes exactly one threshold",
                "remove all but one of min_ratio, max_ratio, max_difference, min_difference",
            );
            None
        }
    };
    let alpha = p.alpha(d);
    let min_n = p.count_or(d, "min_n", 30, 1);
    let failures = match p.str(d, "failures", false) {
        None => Some(FailureScope::All),
        Some(f) => {
            let scope = match f.get_ref().as_str() {
                "all" => Some(FailureScope::All),
                "technical" => Some(FailureScope::Technical),
                _ => None,
            };
            if scope.is_none() {
                d.push(
                    codes::BAD_VALUE,
                    f.span(),
                    format!("unknown `failures` = `{}`", f.get_ref()),
                    "expected all or technical",
                );
            } else if metric.is_some_and(|m| m != Metric::FailureRate) {
                d.push(codes::BAD_VALUE, f.span(), "`failures` applies to metric failure_rate only", "remove it");
            }
            scope
        }
    };
    let funded_by = match p.str(d, "funded_by", false) {
        None => Some(None),
        Some(f) => {
            let known = crate::contract::FUNDERS;
            if !known.contains(&f.get_ref().as_str()) {
                d.push(
                    codes::BAD_VALUE,
                    f.span(),
                    format!("unknown funder `{}`", f.get_ref()),
                    format!("expected one of {}", known.join(", ")),
                );
                None
            } else if metric.is_some_and(|m| m != Metric::DiscountRate) {
                d.push(codes::BAD_VALUE, f.span(), "`funded_by` applies to metric discount_rate only", "remove it");
                None
            } else {
                Some(Some(f.into_inner()))
            }
        }
    };
    Some(ParitySpec {
        metric: metric?,
        rivals: rivals?,
        threshold: threshold?,
        alpha: alpha?,
        min_n: min_n?,
        failures: failures?,
        funded_by: funded_by?,
    })
}

/// The per-row event a rate metric counts.
fn event(spec: &ParitySpec, ctx: &Context) -> Expr {
    match spec.metric {
        Metric::FailureRate => {
            let failed = col("status").eq(lit("failed"));
            let has_codes = ctx.inputs.get(spec.metric.dataset()).is_some_and(|i| i.has_column("failure_code"));
            if spec.failures == FailureScope::Technical && has_codes {
                let rb = Arc::new(ctx.rulebook.clone());
                let class = crate::engine::map_strings(
                    col("failure_code"),
                    Arc::new(move |code| Some(rb.failure_class(&taxonomy::normalize(code)).name().to_string())),
                );
                // A failure without a code counts as technical: unclassified.
                failed.and(class.fill_null(lit(FailureClass::Technical.name())).eq(lit(FailureClass::Technical.name())))
            } else {
                failed
            }
        }
        Metric::VisibleRate => col("folded").not(),
        Metric::DefaultRate => col("is_default"),
        Metric::TopPositionRate => col("position").eq(lit(1i64)),
        // No surcharge or discount written means none.
        Metric::SurchargeRate => col("surcharge").fill_null(lit(0.0)).gt(lit(0.0)),
        Metric::DiscountRate => {
            let any = col("discount").fill_null(lit(0.0)).gt(lit(0.0));
            match &spec.funded_by {
                Some(f) => any.and(col("discount_funder").eq(lit(f.as_str())).fill_null(lit(false))),
                None => any,
            }
        }
        Metric::P95Latency => lit(false),
    }
}

/// The paired plan's column: sessions where the i-th rival was offered.
fn rival_offered(i: usize) -> String {
    format!("offered_{i}")
}

/// The paired plan's column: sessions where the i-th rival had the event.
fn rival_event(i: usize) -> String {
    format!("event_{i}")
}

/// Whether the metric is compared within shared checkout sessions.
fn paired(metric: Metric) -> bool {
    metric.dataset() == crate::contract::Dataset::Checkout
}

/// Platform → affiliated provider, as a frame to join.
/// Each platform's own provider, when every platform is listed once (a
/// join would repeat the rows of a platform listed twice).
fn own_providers(ctx: &Context) -> Option<(Vec<String>, Vec<String>)> {
    let mut own: BTreeMap<&str, &str> = BTreeMap::new();
    for p in &ctx.rulebook.providers {
        for plat in &p.affiliated_platforms {
            if own.insert(plat, &p.id).is_some() {
                return None;
            }
        }
    }
    Some(own.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).unzip())
}

fn affiliations(ctx: &Context) -> LazyFrame {
    let mut platforms = Vec::new();
    let mut providers = Vec::new();
    for p in &ctx.rulebook.providers {
        for plat in &p.affiliated_platforms {
            platforms.push(plat.clone());
            providers.push(p.id.clone());
        }
    }
    let df = DataFrame::new_infer_height(vec![
        Column::new("platform".into(), platforms),
        Column::new("aff".into(), providers),
    ])
    .unwrap_or_default();
    df.lazy()
}

/// One arm's observations.
#[derive(Default, Clone)]
struct Arm {
    n: u64,
    x: u64,
    failed: u64,
    dist: Vec<(i64, u64)>,
}

impl Arm {
    fn value(&self, metric: Metric) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        if metric == Metric::P95Latency {
            stats::quantile_from_counts(&self.dist, 0.95).map(|v| v as f64)
        } else {
            Some(self.x as f64 / self.n as f64)
        }
    }
}

/// What a rival is compared on.
enum Data {
    Arms(Arm, Arm),
    Paired(Paired),
}

fn compare(t: Threshold, rival: f64, reference: f64) -> f64 {
    if t.is_ratio() {
        if reference > 0.0 {
            rival / reference
        } else if rival == 0.0 {
            1.0
        } else {
            f64::INFINITY
        }
    } else {
        rival - reference
    }
}

pub(super) fn breach(t: Threshold) -> Breach {
    match t {
        Threshold::MinRatio(_) | Threshold::MinDifference(_) => Breach::Below,
        Threshold::MaxRatio(_) | Threshold::MaxDifference(_) => Breach::Above,
    }
}

/// How far a compliant value (no difference: ratio 1, difference 0) lies
/// from the threshold: the margin the sample size is computed for.
pub(super) fn margin(t: Threshold) -> f64 {
    if t.is_ratio() {
        (t.limit() - 1.0).abs()
    } else {
        t.limit().abs()
    }
}

/// The simultaneous interval of the compared value.
fn interval(spec: &ParitySpec, data: &Data, fam: &Family) -> Option<(f64, f64)> {
    let z = fam.z();
    let ratio = spec.threshold.is_ratio();
    match data {
        Data::Paired(t) if ratio => stats::katz_paired(*t, z),
        Data::Paired(t) => stats::newcombe_paired(*t, z),
        Data::Arms(r, a) if spec.metric == Metric::P95Latency => {
            // Delta method on each arm's p95 with a distribution-free
            // standard error (docs/statistics.md).
            if ratio {
                stats::quantile_ratio_interval(&r.dist, &a.dist, 0.95, z)
            } else {
                stats::quantile_difference_interval(&r.dist, &a.dist, 0.95, z)
            }
        }
        Data::Arms(r, a) if ratio => stats::katz(r.x, r.n, a.x, a.n, z),
        Data::Arms(r, a) => stats::newcombe(r.x, r.n, a.x, a.n, z),
    }
}

/// A group waiting for the family size before it is judged.
struct Pending {
    group: Group,
    data: Option<Data>,
    /// Observations per arm (shared sessions when paired), for the sample size.
    n: u64,
}

/// The metric in words, e.g. "technical failure rate" or "platform-funded discount rate".
pub fn metric_words(spec: &ParitySpec) -> String {
    let base = spec.metric.name().replace('_', " ");
    match (spec.metric, spec.failures, &spec.funded_by) {
        (Metric::FailureRate, FailureScope::Technical, _) => format!("technical {base}"),
        (Metric::P95Latency, _, _) => "p95 latency of successful payments".to_string(),
        (Metric::DiscountRate, _, Some(f)) => format!("{f}-funded {base}"),
        _ => base,
    }
}
