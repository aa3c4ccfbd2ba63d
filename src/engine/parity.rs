//! Parity (non-discrimination): per platform and rival provider, a metric
//! for the rival against the platform's affiliated provider. Rates are
//! tested for significance (z-test or Fisher, Holm-corrected across the
//! rule's groups); an arm below `min_n` makes its group inconclusive.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::util::{counts, opt_ints, strings};
use super::{Context, NotEvaluable};
use crate::findings::{EvidenceTable, Finding, Group, Verdict};
use crate::rulebook::model::{Metric, Threshold};
use crate::rulebook::{Rule, RuleSpec};
use crate::stats;

struct Params<'a> {
    metric: Metric,
    rivals: &'a [String],
    threshold: Threshold,
    alpha: Option<f64>,
    min_n: u64,
}

fn params(rule: &Rule) -> Params<'_> {
    match &rule.spec {
        RuleSpec::Parity { metric, rivals, threshold, alpha, min_n } => {
            Params { metric: *metric, rivals, threshold: *threshold, alpha: *alpha, min_n: *min_n }
        }
        _ => unreachable!("parity module called for another kind"),
    }
}

/// The per-row event a rate metric counts.
fn event(metric: Metric) -> Expr {
    match metric {
        Metric::FailureRate => col("status").eq(lit("failed")),
        Metric::VisibleRate => col("folded").not(),
        Metric::DefaultRate => col("is_default"),
        Metric::TopPositionRate => col("position").eq(lit(1i64)),
        // No surcharge or discount written means none.
        Metric::SurchargeRate => col("surcharge").fill_null(lit(0.0)).gt(lit(0.0)),
        Metric::DiscountRate => col("discount").fill_null(lit(0.0)).gt(lit(0.0)),
        Metric::P95Latency => lit(false),
    }
}

pub fn plans(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    let p = params(rule);
    let frame = ctx.rule_frame(rule, p.metric.dataset(), &[p.metric.column()])?.filter(col("provider").is_not_null());
    Ok(vec![if p.metric == Metric::P95Latency {
        // The exact latency distribution per arm: few distinct values, so
        // exact quantiles without holding the column.
        frame
            .filter(col("latency_ms").is_not_null())
            .group_by([col("platform"), col("provider"), col("latency_ms")])
            .agg([len().cast(DataType::UInt64).alias("n")])
    } else {
        frame
            .group_by([col("platform"), col("provider")])
            .agg([len().cast(DataType::UInt64).alias("n"), event(p.metric).sum().cast(DataType::UInt64).alias("x")])
    }])
}

/// One arm's observations: a rate (x of n) or a latency distribution.
#[derive(Default, Clone)]
struct Arm {
    n: u64,
    x: u64,
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

/// Confidence interval of the compared value for rates: Newcombe's hybrid
/// score interval for a difference, Katz's log interval for a ratio.
fn compared_ci(t: Threshold, r: &Arm, a: &Arm) -> Option<(f64, f64)> {
    let (pr, pa) = (r.x as f64 / r.n as f64, a.x as f64 / a.n as f64);
    if t.is_ratio() {
        if r.x == 0 || a.x == 0 {
            return None;
        }
        let se = (1.0 / r.x as f64 - 1.0 / r.n as f64 + 1.0 / a.x as f64 - 1.0 / a.n as f64).sqrt();
        let ln = (pr / pa).ln();
        Some(((ln - stats::Z95 * se).exp(), (ln + stats::Z95 * se).exp()))
    } else {
        let (l1, u1) = stats::wilson(r.x, r.n)?;
        let (l2, u2) = stats::wilson(a.x, a.n)?;
        let d = pr - pa;
        Some((d - ((pr - l1).powi(2) + (u2 - pa).powi(2)).sqrt(), d + ((u1 - pr).powi(2) + (pa - l2).powi(2)).sqrt()))
    }
}

struct Pending {
    group: Group,
    breach: bool,
    p_value: Option<f64>,
}

pub fn evaluate(rule: &Rule, ctx: &Context, frames: Vec<DataFrame>) -> anyhow::Result<Finding> {
    let p = params(rule);
    let df = frames.into_iter().next().unwrap_or_default();
    let (platform, provider) = (strings(&df, "platform")?, strings(&df, "provider")?);
    let ns = counts(&df, "n")?;
    let mut arms: BTreeMap<String, BTreeMap<String, Arm>> = BTreeMap::new();
    if p.metric == Metric::P95Latency {
        let lat = opt_ints(&df, "latency_ms")?;
        for i in 0..df.height() {
            let arm = arms.entry(platform[i].clone()).or_default().entry(provider[i].clone()).or_default();
            arm.n += ns[i];
            if let Some(v) = lat[i] {
                arm.dist.push((v, ns[i]));
            }
        }
        for per in arms.values_mut() {
            for arm in per.values_mut() {
                arm.dist.sort_unstable();
            }
        }
    } else {
        let xs = counts(&df, "x")?;
        for i in 0..df.height() {
            let arm = arms.entry(platform[i].clone()).or_default().entry(provider[i].clone()).or_default();
            arm.n += ns[i];
            arm.x += xs[i];
        }
    }
    let mut pending: Vec<Pending> = Vec::new();
    for (plat, per) in &arms {
        let Some(aff) = ctx.rulebook.affiliated(plat) else {
            pending.push(Pending {
                group: Group::new(&[("platform", plat), ("provider", "*")], 0, None, Verdict::NotEvaluable)
                    .with("reason", "platform has no affiliated provider in the taxonomy"),
                breach: false,
                p_value: None,
            });
            continue;
        };
        let reference = per.get(&aff.id).cloned().unwrap_or_default();
        for rival in p.rivals {
            if *rival == aff.id {
                continue;
            }
            let Some(r) = per.get(rival) else { continue };
            let (rv, av) = (r.value(p.metric), reference.value(p.metric));
            let value = match (rv, av) {
                (Some(x), Some(y)) => Some(compare(p.threshold, x, y)),
                _ => None,
            };
            let mut g = Group::new(
                &[("platform", plat), ("provider", rival)],
                r.n,
                value.filter(|v| v.is_finite()),
                Verdict::Pass,
            )
            .with("rival_value", rv)
            .with("reference_provider", aff.id.as_str())
            .with("reference_n", reference.n)
            .with("reference_value", av);
            if r.n < p.min_n || reference.n < p.min_n {
                let rate_need = match (p.metric.is_rate(), rv, av) {
                    (true, Some(x), Some(y)) => stats::n_per_arm(x, y, p.alpha.unwrap_or(0.05), 0.8),
                    _ => None,
                };
                let need = rate_need.unwrap_or(0).max(p.min_n);
                g.verdict = Verdict::Inconclusive;
                g = g
                    .with("reason", format!("fewer than {} observations in an arm", p.min_n))
                    .with("needed_per_arm", need)
                    .with("more_rival_needed", need.saturating_sub(r.n))
                    .with("more_reference_needed", need.saturating_sub(reference.n));
                pending.push(Pending { group: g, breach: false, p_value: None });
                continue;
            }
            let Some(v) = value else { continue };
            let breach = p.threshold.breached(v);
            let mut p_value = None;
            if p.metric.is_rate() {
                if let Some((test, pv)) = stats::compare_rates(r.x, r.n, reference.x, reference.n) {
                    p_value = Some(pv);
                    g = g
                        .with("test", if test == stats::RateTest::ZTest { "z_test" } else { "fisher_exact" })
                        .with("p_value", pv);
                }
                if let Some((lo, hi)) = compared_ci(p.threshold, r, &reference) {
                    g = g.with("ci_low", lo).with("ci_high", hi);
                }
            }
            pending.push(Pending { group: g, breach, p_value });
        }
    }
    // Holm across the groups that were tested.
    let tested: Vec<usize> = pending.iter().enumerate().filter(|(_, x)| x.p_value.is_some()).map(|(i, _)| i).collect();
    let adjusted = stats::holm(&tested.iter().filter_map(|&i| pending[i].p_value).collect::<Vec<_>>());
    let mut adj_of: BTreeMap<usize, f64> = BTreeMap::new();
    for (k, &i) in tested.iter().enumerate() {
        adj_of.insert(i, adjusted[k]);
    }
    let mut groups = Vec::new();
    let mut evidence = EvidenceTable {
        header: [
            "platform",
            "provider",
            "rival_n",
            "rival_value",
            "reference_provider",
            "reference_n",
            "reference_value",
            "value",
            "p_adjusted",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for (i, mut pend) in pending.into_iter().enumerate() {
        let adj = adj_of.get(&i).copied();
        if let Some(a) = adj {
            pend.group = pend.group.with("p_adjusted", a);
        }
        if matches!(pend.group.verdict, Verdict::Pass) {
            pend.group.verdict = match (pend.breach, p.alpha, adj) {
                (false, _, _) => Verdict::Pass,
                (true, None, _) => Verdict::Fail,
                (true, Some(alpha), Some(a)) if a < alpha => Verdict::Fail,
                (true, Some(_), _) => Verdict::Inconclusive,
            };
            if pend.breach && pend.group.verdict == Verdict::Inconclusive {
                pend.group =
                    pend.group.with("reason", "the gap breaches the threshold but is not statistically significant");
            }
        }
        if pend.group.verdict == Verdict::Fail {
            let g = &pend.group;
            let cell = |k: &str| g.get(k).map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default();
            evidence.rows.push(vec![
                g.key.get("platform").cloned().unwrap_or_default(),
                g.key.get("provider").cloned().unwrap_or_default(),
                g.n.to_string(),
                cell("rival_value"),
                cell("reference_provider"),
                cell("reference_n"),
                cell("reference_value"),
                g.value.map_or(String::new(), |v| v.to_string()),
                cell("p_adjusted"),
            ]);
        }
        groups.push(pend.group);
    }
    let verdict = Verdict::combine(groups.iter().map(|g| g.verdict));
    let values = groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).filter_map(|g| g.value);
    let value = match p.threshold {
        Threshold::MinRatio(_) | Threshold::MinDifference(_) => values.reduce(f64::min),
        _ => values.reduce(f64::max),
    };
    let fails: Vec<String> = groups
        .iter()
        .filter(|g| g.verdict == Verdict::Fail)
        .map(|g| {
            let part = |k: &str| g.key.get(k).map_or("", String::as_str);
            format!(
                "{} on {}: {}",
                ctx.rulebook.display_name(part("provider")),
                part("platform"),
                g.value.map_or("n/a".into(), |v| format!("{v:.3}"))
            )
        })
        .collect();
    let inconclusive = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
    let what = p.metric.name().replace('_', " ");
    let message = match verdict {
        Verdict::Fail => format!("Rival {what} worse than the affiliated provider's ({}): {}.", p.threshold.describe(), fails.join("; ")),
        Verdict::Inconclusive => format!("No significant breach, but {inconclusive} group(s) could not be decided (too few observations or a gap that is not significant)."),
        Verdict::Pass => format!("Rival {what} within {} of the affiliated provider's on every platform.", p.threshold.describe()),
        Verdict::NotEvaluable => format!("No platform with an affiliated provider had comparable {what} data."),
    };
    let mut threshold_text = p.threshold.describe();
    if let Some(a) = p.alpha {
        threshold_text.push_str(&format!(", Holm-adjusted p < {a}"));
    }
    threshold_text.push_str(&format!(", min {} per arm", p.min_n));
    let mut f = Finding::new(rule, verdict, message, value, Some(p.threshold.limit()), threshold_text, groups);
    if !evidence.rows.is_empty() {
        f.evidence_table = Some(evidence);
    }
    Ok(f)
}
