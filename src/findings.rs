//! The findings model: what an audit concluded, rule by rule and group by
//! group. `findings.json`, the evidence files and the report all render this
//! one model, so no number is computed twice.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::rulebook::model::Unit;
use crate::rulebook::{Rule, RuleSpec, Severity};

/// Version of the `findings.json` contract (docs/findings-json.md).
pub const SCHEMA_VERSION: &str = "1.1";

/// The outcome of a rule or of one of its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
    NotEvaluable,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotEvaluable => "not_evaluable",
        }
    }

    /// A rule fails if any group fails, else is inconclusive if any group is,
    /// else passes if any group passes; with no evaluable group it is not evaluable.
    pub fn combine(groups: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut seen = [false; 4];
        for v in groups {
            seen[v as usize] = true;
        }
        if seen[Verdict::Fail as usize] {
            Verdict::Fail
        } else if seen[Verdict::Inconclusive as usize] {
            Verdict::Inconclusive
        } else if seen[Verdict::Pass as usize] {
            Verdict::Pass
        } else {
            Verdict::NotEvaluable
        }
    }
}

/// Whether a group's number is the whole population or a sample of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Every unit of the population (e.g. every merchant of a platform): the
    /// exact figure is the fact and is compared directly.
    Census,
    /// Events (sessions, payments, scans) sampled from a process: judged by
    /// an interval.
    Sample,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Census => "census",
            Basis::Sample => "sample",
        }
    }

    /// Which basis a rule's groups are judged on.
    pub fn of(spec: &RuleSpec) -> Basis {
        match spec {
            RuleSpec::Coverage(c) if c.unit == Unit::Merchant => Basis::Census,
            RuleSpec::Exclusivity(_) | RuleSpec::Concentration(_) => Basis::Census,
            _ => Basis::Sample,
        }
    }
}

/// The family-wise error rate of a sample-based rule.
pub fn alpha_of(spec: &RuleSpec) -> Option<f64> {
    match spec {
        RuleSpec::Coverage(c) if c.unit == Unit::Session => Some(c.alpha),
        RuleSpec::Acceptance(a) => Some(a.alpha),
        RuleSpec::Reciprocity(r) => Some(r.alpha),
        RuleSpec::Parity(p) => Some(p.alpha),
        _ => None,
    }
}

/// One breakdown group of a rule (a platform, a city cell, ...).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub key: BTreeMap<String, String>,
    pub n: u64,
    pub value: Option<f64>,
    pub verdict: Verdict,
    /// Kind-specific fields (reference_value, p_value, ci_low, ...), in a fixed order.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Group {
    pub fn new(key: &[(&str, &str)], n: u64, value: Option<f64>, verdict: Verdict) -> Group {
        Group {
            key: key.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            n,
            value: value.map(round),
            verdict,
            fields: Map::new(),
        }
    }

    /// Adds a kind-specific field; floats are rounded for stable output.
    pub fn with(mut self, name: &str, value: impl Into<FieldValue>) -> Group {
        self.fields.insert(name.to_string(), value.into().0);
        self
    }

    pub fn key_text(&self) -> String {
        self.key.values().cloned().collect::<Vec<_>>().join(" / ")
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
}

/// A JSON value for a group field.
pub struct FieldValue(pub Value);

impl From<f64> for FieldValue {
    fn from(v: f64) -> Self {
        FieldValue(float(v))
    }
}
impl From<Option<f64>> for FieldValue {
    fn from(v: Option<f64>) -> Self {
        FieldValue(v.map_or(Value::Null, float))
    }
}
impl From<u64> for FieldValue {
    fn from(v: u64) -> Self {
        FieldValue(Value::from(v))
    }
}
impl From<Option<u64>> for FieldValue {
    fn from(v: Option<u64>) -> Self {
        FieldValue(v.map_or(Value::Null, Value::from))
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue(Value::from(v))
    }
}
impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue(Value::from(v))
    }
}
impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue(Value::from(v))
    }
}
impl From<Value> for FieldValue {
    fn from(v: Value) -> Self {
        FieldValue(v)
    }
}
impl From<Vec<String>> for FieldValue {
    fn from(v: Vec<String>) -> Self {
        FieldValue(Value::from(v))
    }
}

/// Rounds to 6 significant decimals so output does not depend on summation order noise.
pub fn round(v: f64) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let r = (v * 1e6).round() / 1e6;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

fn float(v: f64) -> Value {
    if v.is_finite() {
        serde_json::Number::from_f64(round(v)).map_or(Value::Null, Value::Number)
    } else {
        Value::Null
    }
}

/// Where the complete list of offenders is.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub file: String,
    pub rows: u64,
}

/// One rule's finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub kind: &'static str,
    pub title: String,
    pub severity: Severity,
    pub verdict: Verdict,
    pub message: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// The threshold in words, e.g. `share >= 0.85`.
    pub threshold_text: String,
    pub engineering_default: bool,
    /// `census` (exact comparison) or `sample` (interval-based verdicts).
    pub basis: Basis,
    /// The family-wise error rate of the rule's verdicts (sample basis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    pub groups: Vec<Group>,
    pub evidence: Option<Evidence>,
    /// Rows of evidence, written to `evidence/<rule>.csv`; not serialised here.
    #[serde(skip)]
    pub evidence_table: Option<EvidenceTable>,
}

/// The offending rows of a finding, as a table.
#[derive(Debug, Clone, Default)]
pub struct EvidenceTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Finding {
    /// A finding for a rule whose data lacks what it needs.
    pub fn not_evaluable(rule: &Rule, reason: String) -> Finding {
        Finding::new(rule, Verdict::NotEvaluable, reason, None, None, String::new(), Vec::new())
    }

    pub fn new(
        rule: &Rule,
        verdict: Verdict,
        message: String,
        value: Option<f64>,
        threshold: Option<f64>,
        threshold_text: String,
        groups: Vec<Group>,
    ) -> Finding {
        Finding {
            rule_id: rule.id.clone(),
            kind: rule.spec.kind(),
            title: rule.title.clone(),
            severity: rule.severity,
            verdict,
            message,
            value: value.filter(|v| v.is_finite()).map(round),
            threshold,
            threshold_text,
            engineering_default: rule.engineering_default,
            basis: Basis::of(&rule.spec),
            alpha: alpha_of(&rule.spec),
            groups,
            evidence: None,
            evidence_table: None,
        }
    }
}

/// Counts of findings by verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub pass: u64,
    pub fail: u64,
    pub inconclusive: u64,
    pub not_evaluable: u64,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Inconclusive => s.inconclusive += 1,
                Verdict::NotEvaluable => s.not_evaluable += 1,
            }
        }
        s
    }
}

/// A raw label no provider's aliases match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UnmappedLabel {
    pub dataset: String,
    pub column: String,
    pub label: String,
    pub rows: u64,
    /// The providers whose aliases match the label equally well, when it is
    /// ambiguous rather than unknown.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambiguous: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_combine() {
        use Verdict::*;
        assert_eq!(Verdict::combine([Pass, Inconclusive, Fail]), Fail);
        assert_eq!(Verdict::combine([Pass, Inconclusive, NotEvaluable]), Inconclusive);
        assert_eq!(Verdict::combine([Pass, NotEvaluable]), Pass);
        assert_eq!(Verdict::combine([NotEvaluable]), NotEvaluable);
        assert_eq!(Verdict::combine([]), NotEvaluable);
    }

    #[test]
    fn rounding_is_stable() {
        assert_eq!(round(0.1 + 0.2), 0.3);
        assert_eq!(round(-0.0000001), 0.0);
        assert_eq!(round(2.0 / 3.0), 0.666667);
    }
}
