//! The findings model: what an audit concluded, rule by rule and group by
//! group. `findings.json`, the evidence files and the report all render this
//! one model, so no number is computed twice.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::rulebook::{Rule, Severity, SpecInfo};

/// Version of the `findings.json` contract (docs/findings-json.md).
pub const SCHEMA_VERSION: &str = "1.1";

pub use crate::verdict::{Basis, Verdict};

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

    /// Records how the group was judged: `basis`, and for samples the
    /// interval used (`ci_low`, `ci_high`), each bound's confidence, the
    /// Bonferroni-adjusted level and the family size.
    pub fn judged(mut self, j: &crate::verdict::Judgement) -> Group {
        self.verdict = j.verdict;
        self = self.with("basis", j.basis.name());
        if let Some((lo, hi)) = j.interval {
            self = self.with("ci_low", lo).with("ci_high", hi);
        }
        if let Some(f) = j.family {
            self = self
                .with("confidence", f.confidence())
                .with("alpha_adjusted", f.alpha_adjusted())
                .with("family_size", f.size as u64);
        }
        if let Some(n) = j.needed {
            self = self.with("needed_n", n);
        }
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

/// How the report draws a finding; set by the rule's kind, so the report
/// needs no knowledge of kinds and never reads meaning out of prose.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Presentation {
    /// The groups in a table, nothing more.
    #[default]
    Table,
    /// Bars of a share, or a ratio to the platform's own provider, per group
    /// against the target; `unit` is what is counted ("merchants").
    Coverage { ratio: bool, unit: &'static str, provider: String, merchant_list: bool },
    /// A success matrix (app × issuer) per region.
    Recognition { regions: Vec<String>, providers: Vec<String> },
    /// Provider pairs per region that must work alike both ways.
    Pairs,
    /// Merchants offering only their platform's own provider.
    Merchants,
    /// Provider shares per group, screened by HHI or by the Art. 24 presumption.
    Shares { dominance: bool },
    /// Each rival against the platform's own provider, per platform.
    Forest { ratio: bool, unit: MetricUnit, threshold: String },
}

/// How a compared metric's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    /// A rate, shown in percent with one decimal.
    Percent,
    /// A small rate (fees), in percent with two decimals.
    FinePercent,
    /// Milliseconds.
    Millis,
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
    /// How the report draws the finding.
    #[serde(skip)]
    pub presentation: Presentation,
}

/// The offending rows of a finding, as a table.
#[derive(Debug, Clone, Default)]
pub struct EvidenceTable {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Finding {
    /// A finding for a rule whose data lacks what it needs.
    pub fn not_evaluable<S: SpecInfo>(rule: &Rule<S>, reason: String) -> Finding {
        Finding::new(rule, Verdict::NotEvaluable, reason, None, None, String::new(), Vec::new())
    }

    pub fn new<S: SpecInfo>(
        rule: &Rule<S>,
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
            basis: rule.spec.basis(),
            alpha: rule.spec.alpha(),
            groups,
            evidence: None,
            evidence_table: None,
            presentation: Presentation::Table,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RulebookRef {
    pub id: String,
    pub title: String,
    pub version: String,
    pub jurisdiction: String,
    pub path: String,
    pub sha256: String,
}

/// One dataset's inputs, as `findings.json` reports them.
#[derive(Debug, Serialize)]
pub struct InputReport {
    #[serde(flatten)]
    pub account: crate::ingest::accounting::DatasetAccount,
    /// Where the rejected rows are, relative to the output directory.
    pub rejected_file: Option<String>,
}

/// The root of `findings.json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: &'static str,
    pub tool: Tool,
    pub generated_at: String,
    pub command: Vec<String>,
    pub rulebook: RulebookRef,
    pub inputs: Vec<InputReport>,
    pub window: Option<crate::ingest::window::Window>,
    pub summary: Summary,
    /// What the rulebook and the data raised that does not stop the audit.
    pub warnings: Vec<String>,
    pub unmapped_labels: Vec<UnmappedLabel>,
    pub findings: Vec<Finding>,
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
