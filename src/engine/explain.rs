//! Rules in words: each rule's parameters, and what makes its groups fail,
//! pass or stay inconclusive. `rules explain` and the report's method section
//! both print these.

use crate::findings::{alpha_of, basis_of, Basis};
use crate::rulebook::model::{ConcentrationMode, FailureScope, Threshold};
use crate::rulebook::{Rule, RuleSpec};

/// The kind-specific parameters as (name, value) text.
pub fn parameters(spec: &RuleSpec) -> Vec<(&'static str, String)> {
    let mut v = match spec {
        RuleSpec::Coverage(c) => vec![
            ("unit", format!("{:?}", c.unit).to_lowercase()),
            ("providers", c.providers.join(", ")),
            (if c.relative { "min_ratio" } else { "min_share" }, c.min.to_string()),
            ("by", if c.by_region { "platform, region".into() } else { "platform".into() }),
        ],
        RuleSpec::Acceptance(a) => vec![
            ("regions", a.regions.join(", ")),
            ("providers", a.providers.join(", ")),
            ("attempts", format!(">= {}", a.min_attempts)),
            ("success", format!(">= {}", a.min_success)),
        ],
        RuleSpec::Reciprocity(r) => vec![
            ("regions", r.regions.join(", ")),
            ("providers", r.providers.join(", ")),
            ("max_gap", format!("{} between the directions' success rates", r.max_gap)),
        ],
        RuleSpec::Exclusivity(e) => vec![
            ("max", format!("{} merchants per platform", e.max_merchants)),
            ("min_sessions", format!("{} per merchant to be judged", e.min_sessions)),
        ],
        RuleSpec::Concentration(c) => vec![
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
        ],
        RuleSpec::Parity(p) => {
            let mut v = vec![
                ("metric", super::metric_words(p)),
                ("rivals", p.rivals.join(", ")),
                ("threshold", p.threshold.describe()),
                ("min_n", format!("{} per arm", p.min_n)),
            ];
            if p.failures == FailureScope::Technical {
                v.push(("failures", "technical only (see [failure_codes])".into()));
            }
            v
        }
    };
    if let Some(a) = alpha_of(spec) {
        v.push(("alpha", format!("{a} family-wise (Bonferroni across the rule's groups)")));
    }
    v
}

/// What makes a group of the rule fail, pass or stay inconclusive, in words.
pub fn criteria(rule: &Rule) -> Vec<(&'static str, String)> {
    let spec = &rule.spec;
    let basis = match basis_of(spec) {
        Basis::Census => "census: every unit of the window is counted and compared exactly".to_string(),
        Basis::Sample => format!(
            "sample: events are judged by simultaneous intervals at family-wise alpha {}",
            alpha_of(spec).unwrap_or(0.05)
        ),
    };
    let (fail, pass, inconclusive) = match spec {
        RuleSpec::Coverage(c) if basis_of(spec) == Basis::Census => {
            let what = if c.relative { "ratio to the platform's own provider" } else { "share of merchants" };
            (
                format!("the {what} is below {}", c.min),
                format!("the {what} is at least {}", c.min),
                "never (a census has no sampling error)".to_string(),
            )
        }
        RuleSpec::Coverage(c) => {
            let what = if c.relative { "session-coverage ratio (Katz log, paired)" } else { "session share (Wilson)" };
            (
                format!("the whole one-sided interval of the {what} is below {}", c.min),
                format!("the whole interval is at or above {}", c.min),
                "the interval straddles the target; more sessions would decide".to_string(),
            )
        }
        RuleSpec::Acceptance(a) => (
            format!("a required cell has no scans, or its whole Wilson interval is below {}", a.min_success),
            format!("the whole interval is at or above {} with at least {} scans", a.min_success, a.min_attempts),
            "the interval straddles the threshold, or too few scans".to_string(),
        ),
        RuleSpec::Reciprocity(r) => (
            format!(
                "one direction has scans and the other none, or the Newcombe interval of the success-rate \
                 difference lies wholly beyond ±{}",
                r.max_gap
            ),
            format!("the interval lies wholly within ±{}", r.max_gap),
            "no scans either way, or the interval crosses the margin".to_string(),
        ),
        RuleSpec::Exclusivity(e) => (
            format!(
                "more than {} merchants with at least {} sessions offered only the platform's own provider",
                e.max_merchants, e.min_sessions
            ),
            format!("at most {} such merchants", e.max_merchants),
            "never; merchants with fewer sessions are listed as too few sessions to judge".to_string(),
        ),
        RuleSpec::Concentration(c) => (
            match c.mode {
                ConcentrationMode::Hhi { max_hhi } => format!("the HHI of observed shares exceeds {max_hhi}"),
                ConcentrationMode::Dominance => "any limb of the Art. 24 presumption is met".to_string(),
            },
            "the screen is not met".to_string(),
            format!("more than {} of a group's weight carries unmapped labels", c.max_unmapped),
        ),
        RuleSpec::Parity(p) => {
            let interval = match (p.metric.dataset(), p.threshold.is_ratio()) {
                (crate::contract::Dataset::Checkout, true) => "paired Katz log interval within shared sessions",
                (crate::contract::Dataset::Checkout, false) => "paired Newcombe interval within shared sessions",
                _ if p.metric == crate::rulebook::model::Metric::P95Latency => {
                    "interval from the arms' distribution-free quantile bounds"
                }
                (_, true) => "Katz log interval",
                (_, false) => "Newcombe hybrid score interval",
            };
            let side = match p.threshold {
                Threshold::MinRatio(t) | Threshold::MinDifference(t) => format!("below {t}"),
                Threshold::MaxRatio(t) | Threshold::MaxDifference(t) => format!("above {t}"),
            };
            (
                format!("the whole one-sided {interval} of rival vs own lies {side}"),
                "the whole interval lies on the compliant side".to_string(),
                format!("an arm has fewer than {} observations, or the interval crosses the threshold", p.min_n),
            )
        }
    };
    vec![("fails when", fail), ("passes when", pass), ("inconclusive", inconclusive), ("basis", basis)]
}
