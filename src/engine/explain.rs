//! Rules in words: each rule's parameters, and what makes its groups fail,
//! pass or stay inconclusive. `rules explain` and the report's method section
//! both print these; the words come from each rule's kind.

use super::{Rule, RuleSpec};
use crate::rulebook::SpecInfo;
use crate::verdict::Basis;

/// The kind-specific parameters as (name, value) text.
pub fn parameters(spec: &RuleSpec) -> Vec<(&'static str, String)> {
    let mut v = spec.parameters();
    if let Some(a) = spec.alpha() {
        v.push(("alpha", format!("{a} family-wise (Bonferroni across the rule's groups)")));
    }
    v
}

/// What makes a group of the rule fail, pass or stay inconclusive, in words.
pub fn criteria(rule: &Rule) -> Vec<(&'static str, String)> {
    let basis = match rule.spec.basis() {
        Basis::Census => "census: every unit of the window is counted and compared exactly".to_string(),
        Basis::Sample => format!(
            "sample: events are judged by simultaneous intervals at family-wise alpha {}",
            rule.spec.alpha().unwrap_or(0.05)
        ),
    };
    let c = rule.spec.criteria();
    vec![("fails when", c.fail), ("passes when", c.pass), ("inconclusive", c.inconclusive), ("basis", basis)]
}
