//! The findings model: what an audit concluded, rule by rule and group by
//! group. `findings.json`, the evidence files and the report all render this
//! one model, so no number is computed twice.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::rulebook::{Rule, Severity, SpecInfo};

/// Version of the `findings.json` contract (docs/findings-json.md).
pub const SCHEMA_VERSION: &str = "1.7";

pub use crate::verdict::{Basis, Verdict};

/// One breakdown group of a rule (a platform, a city cell, ...).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq)]
pub struct Group {
    pub key: BTreeMap<String, String>,
    pub n: u64,
    #[serde(serialize_with = "ser_opt_f64")]
    pub value: Option<f64>,
    pub verdict: Verdict,
    /// The kind's own fields, typed by how the report draws them.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
    /// Why the group is not evaluable or inconclusive, or why a cell fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How the verdict was reached.
    #[serde(flatten)]
    pub judged: Judged,
    /// Stable identity of the group across audits: rule id and key, hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Against a baseline audit: `new`, `persisting` or `resolved` failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_status: Option<BaselineStatus>,
    /// The waiver that turned this failing group's verdict into `waived`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverRef>,
    /// A failing group in data that ends before the rule's deadline.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub before_deadline: bool,
    /// With `audit --period`: the group judged in each period it has data in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<PeriodPoint>,
    /// A coverage group of a rule with a deadline, with `--period`: when the
    /// per-period trend reaches the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
    /// In a redacted edition: a group under `--min-group` units, its figures
    /// withheld (its verdict still counts).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// A finding or group judged within one period of `audit --period`: the
/// rule's own evaluation on that period's rows alone (its family-wise control
/// over the period's groups), before waivers, baselines and deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PeriodPoint {
    /// `2021-10-04` (day), `2021-W40` (ISO week), `2021-10` (month), `2021-Q4` (quarter).
    pub period: String,
    /// The period's first day (YYYY-MM-DD, in the audit's time zone).
    pub from: String,
    /// The first day after the period: `from` inclusive, `to` exclusive.
    pub to: String,
    /// Observations: the group's `n`; for a finding, the sum of its groups' `n`.
    pub n: u64,
    #[serde(serialize_with = "ser_opt_f64")]
    pub value: Option<f64>,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub ci_high: Option<f64>,
}

/// When a coverage group's trend reaches the rule's target: a plain linear
/// fit (least squares) of the value on the period index, extended forward.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Projection {
    /// How the projection was made, e.g. `linear fit over 3 months`.
    pub method: String,
    /// Change of the fitted value per period.
    #[serde(serialize_with = "ser_f64")]
    pub slope: f64,
    /// The first period whose fitted value is at or past the target; `null`
    /// when the trend never gets there (flat or moving away).
    pub reaches: Option<String>,
    /// Whether `reaches` ends on or before the rule's deadline.
    pub by_deadline: bool,
    /// The projection in one sentence, as the report shows it.
    pub text: String,
}

/// The waiver applied to a group, as findings.json and the report show it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct WaiverRef {
    pub reason: String,
    pub owner: String,
    /// The last day the waiver applies (YYYY-MM-DD).
    pub expires: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// What became of one waiver of `--waivers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaiverStatus {
    /// Current, and matched at least one failing group.
    Applied,
    /// Past its expiry date at `as_of`: the groups it names fail as usual.
    Expired,
    /// Current, but no failing group matched it.
    Unused,
}

/// One waiver of the file and its outcome.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WaiverOutcome {
    pub rule: String,
    pub group: BTreeMap<String, String>,
    #[serde(flatten)]
    pub waiver: WaiverRef,
    /// `file:line` of the waiver.
    pub location: String,
    pub status: WaiverStatus,
    /// Failing groups it waived (applied) or would have waived (expired).
    pub groups: u64,
}

/// The waivers an audit was run with.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WaiversReport {
    pub file: String,
    pub sha256: String,
    /// The date expiry is judged at (`--as-of`).
    pub as_of: String,
    pub waivers: Vec<WaiverOutcome>,
}

/// A group's failure compared with a baseline audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BaselineStatus {
    /// Failing now, not in the baseline.
    New,
    /// Failing now and in the baseline.
    Persisting,
    /// Failing in the baseline, not now.
    Resolved,
}

/// How a group's verdict was reached (docs/statistics.md): the basis, and for
/// a sample the interval used, each bound's confidence, the Bonferroni level
/// and family size, and the observations that would decide it.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct Judged {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub ci_high: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub alpha_adjusted: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed_n: Option<u64>,
}

/// A group's own fields, by the drawing its kind uses; every field keeps the
/// name findings.json has always used (docs/findings-json.md).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum Detail {
    Coverage(CoverageFields),
    Cell(CellFields),
    Pair(PairFields),
    Exclusivity(ExclusivityFields),
    Shares(ShareFields),
    Comparison(ComparisonFields),
    Codes(CodeFields),
}

/// A group of collection codes (`code_validity`, `code_interoperability`).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct CodeFields {
    /// Codes that count: well-formed with a correct CRC, or payable by
    /// every app the rule names.
    pub codes_ok: u64,
    /// Interoperability: codes whose payability rests on a scan cell not
    /// yet shown live or dead (counted as payable only in the verdict's
    /// favourable reading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes_undetermined: Option<u64>,
    /// Codes per scheme they carry (provider id, or the raw identifier).
    pub schemes: std::collections::BTreeMap<String, u64>,
}

/// A coverage group: units offering the provider and the gap to target.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct CoverageFields {
    pub offered: u64,
    /// Relative form: the rival's share, and the affiliated provider's.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_offered: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_f64")]
    pub reference_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_both: Option<u64>,
    /// Units that must add the provider to reach the target.
    pub gap_units: u64,
}

/// A mutual-recognition cell: successful scans, and whether it is live.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct CellFields {
    pub successes: u64,
    pub live: bool,
}

/// A provider pair's two directions.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct PairFields {
    pub attempts_a_to_b: u64,
    pub successes_a_to_b: u64,
    #[serde(serialize_with = "ser_opt_f64")]
    pub success_a_to_b: Option<f64>,
    pub attempts_b_to_a: u64,
    pub successes_b_to_a: u64,
    #[serde(serialize_with = "ser_opt_f64")]
    pub success_b_to_a: Option<f64>,
}

/// A platform's exclusive merchants.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct ExclusivityFields {
    pub exclusive_merchants: u64,
    /// Merchants that showed only the own provider in too few sessions to judge.
    pub too_few_sessions: u64,
    pub affiliated_provider: String,
}

/// A group's provider shares (of all weight, unmapped included).
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct ShareFields {
    #[serde(serialize_with = "ser_f64")]
    pub hhi: f64,
    #[serde(serialize_with = "ser_f64")]
    pub cr1: f64,
    #[serde(serialize_with = "ser_f64")]
    pub cr2: f64,
    #[serde(serialize_with = "ser_f64")]
    pub cr3: f64,
    pub presumed_dominant: Vec<String>,
    /// Firm → share, largest first.
    #[serde(serialize_with = "ser_shares")]
    #[schemars(with = "BTreeMap<String, f64>")]
    pub shares: Vec<(String, f64)>,
    #[serde(serialize_with = "ser_f64")]
    pub unmapped_weight: f64,
    #[serde(serialize_with = "ser_f64")]
    pub unmapped_share: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmapped_labels: Vec<String>,
}

/// A rival against the platform's own provider.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema, PartialEq)]
pub struct ComparisonFields {
    #[serde(serialize_with = "ser_opt_f64")]
    pub rival_value: Option<f64>,
    pub reference_provider: String,
    pub reference_n: u64,
    #[serde(serialize_with = "ser_opt_f64")]
    pub reference_value: Option<f64>,
    /// Presentation metrics: sessions offering both, and each side's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_sessions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rival_events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_events: Option<u64>,
    /// Failure rate: all failures of each arm, before classing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rival_failures: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_failures: Option<u64>,
    /// Fee parity: merchants taking both providers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchants: Option<u64>,
    /// An inconclusive group: what would decide it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed_per_arm: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_rival_needed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_reference_needed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_shared_sessions_needed: Option<u64>,
}

impl Group {
    pub fn new(key: &[(&str, &str)], n: u64, value: Option<f64>, verdict: Verdict) -> Group {
        Group {
            key: key.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            n,
            value: value.map(round),
            verdict,
            detail: None,
            reason: None,
            judged: Judged::default(),
            fingerprint: None,
            baseline_status: None,
            waiver: None,
            before_deadline: false,
            periods: Vec::new(),
            projection: None,
            suppressed: false,
        }
    }

    /// Sets the kind's typed fields.
    pub fn detail(mut self, detail: Detail) -> Group {
        self.detail = Some(detail);
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Group {
        self.reason = Some(reason.into());
        self
    }

    /// Records how the group was judged (its verdict too).
    pub fn judged(mut self, j: &crate::verdict::Judgement) -> Group {
        self.verdict = j.verdict;
        // Rounded as findings.json writes them, so the report draws the same numbers.
        self.judged = Judged {
            basis: Some(j.basis),
            ci_low: j.interval.map(|i| round(i.0)),
            ci_high: j.interval.map(|i| round(i.1)),
            confidence: j.family.map(|f| round(f.confidence())),
            alpha_adjusted: j.family.map(|f| round(f.alpha_adjusted())),
            family_size: j.family.map(|f| f.size as u64),
            needed_n: j.needed,
        };
        self
    }

    pub fn key_text(&self) -> String {
        self.key.values().cloned().collect::<Vec<_>>().join(" / ")
    }

    /// The comparison fields, when the group is one.
    pub fn comparison(&self) -> Option<&ComparisonFields> {
        match &self.detail {
            Some(Detail::Comparison(c)) => Some(c),
            _ => None,
        }
    }

    /// A field by its findings.json name, as JSON (for tests and tools that
    /// read groups generically; code reads the typed fields).
    pub fn get(&self, name: &str) -> Option<Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => m.remove(name).filter(|v| !v.is_null()),
            _ => None,
        }
    }
}

fn ser_f64<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    float(*v).serialize(s)
}

fn ser_opt_f64<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    v.map_or(Value::Null, float).serialize(s)
}

fn ser_shares<S: serde::Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    let m: Map<String, Value> = v.iter().map(|(k, x)| (k.clone(), float(*x))).collect();
    m.serialize(s)
}

/// The JSON Schema of findings.json, generated from these types (so it
/// cannot drift from what `audit` writes), as pretty JSON with a newline.
pub fn schema() -> String {
    // The schema of what audit writes (serialisation), not of what a reader
    // would accept: fields skipped when empty are not required.
    let generator = schemars::generate::SchemaSettings::draft2020_12().for_serialize().into_generator();
    let mut schema = generator.into_root_schema_for::<Report>();
    schema.insert("title".into(), "hutong findings.json".into());
    schema.insert(
        "description".into(),
        format!("findings.json schema {SCHEMA_VERSION}; see docs/findings-json.md").into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
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

/// A number as findings.json writes it (rounded; `1.0`, not `1`), for the
/// evidence files; empty when there is none.
pub fn number_text(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| float(v).to_string())
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
    /// Collection codes per group: the share that counts, and the schemes.
    Codes,
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Evidence {
    pub file: String,
    pub rows: u64,
}

/// One rule's finding.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// The first day the rule evaluates (its own `effective`, or the rulebook's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<String>,
    /// The day by which the rule must be met.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Failing, but the data ends before the deadline: counts for the exit
    /// code only with `--strict-deadlines`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub before_deadline: bool,
    /// With `audit --period`: the rule judged in each period, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub periods: Vec<PeriodPoint>,
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
    /// The deadline a failure comes before (data ending on or before it), if any.
    pub fn before_deadline_of(&self) -> Option<&str> {
        self.deadline.as_deref().filter(|_| self.before_deadline)
    }

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
            effective: rule.effective.map(|d| d.format("%Y-%m-%d").to_string()),
            deadline: rule.deadline.map(|d| d.format("%Y-%m-%d").to_string()),
            before_deadline: false,
            periods: Vec::new(),
            groups,
            evidence: None,
            evidence_table: None,
            presentation: Presentation::Table,
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RulebookRef {
    pub id: String,
    pub title: String,
    pub version: String,
    pub jurisdiction: String,
    pub path: String,
    pub sha256: String,
}

/// One dataset's inputs, as `findings.json` reports them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InputReport {
    #[serde(flatten)]
    pub account: crate::ingest::accounting::DatasetAccount,
    /// Where the rejected rows are, relative to the output directory.
    pub rejected_file: Option<String>,
}

/// What a redacted edition hides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Merchant ids and names, raw records and code payloads.
    Merchants,
    /// That, and what names the delivery: input file paths, the command
    /// line and the raw labels no provider maps.
    All,
}

/// How findings.json and the report say which edition they are.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Edition {
    pub redacted: Scope,
    /// Groups with fewer units than this are suppressed.
    pub min_group: u64,
    /// The first 8 hex digits of the key's SHA-256: which key made the pseudonyms.
    pub key_id: String,
}

/// The root of `findings.json`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub schema_version: &'static str,
    pub tool: Tool,
    pub generated_at: String,
    pub command: Vec<String>,
    pub rulebook: RulebookRef,
    pub inputs: Vec<InputReport>,
    pub window: Option<crate::ingest::window::Window>,
    /// With `audit --period`: how the window is cut into periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<crate::ingest::period::Period>,
    pub summary: Summary,
    /// What the rulebook and the data raised that does not stop the audit.
    pub warnings: Vec<String>,
    pub unmapped_labels: Vec<UnmappedLabel>,
    /// Against `--baseline`: where it came from and how many failing groups
    /// are new, persisting or resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineSummary>,
    /// With `--waivers`: every waiver and whether it applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waivers: Option<WaiversReport>,
    /// With `--redact`: which redacted edition this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edition: Option<Edition>,
    /// How the audit ran: in one pass or in hash-partitioned passes.
    pub execution: Execution,
    pub findings: Vec<Finding>,
}

/// How an audit ran within its memory budget.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Execution {
    /// `--memory-budget` in bytes, when given (the default depends on the
    /// machine and is left out, so findings stay the same across machines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_budget: Option<u64>,
    /// Input rows, known before the audit from the pre-read and the Parquet
    /// footers, from which the number of passes is chosen.
    pub estimated_rows: u64,
    /// `single pass` (every plan at once over one read of the input) or
    /// `bounded` (one plan at a time, the keyed ones in hash partitions).
    pub strategy: Strategy,
    /// Hash partitions of the keyed aggregations: each runs once per
    /// partition over the rows whose key falls in it. A key with few
    /// distinct values may take fewer (`partitioned`).
    pub partitions: u64,
    /// The peak memory the strategy was estimated to need, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_peak: Option<u64>,
    /// With more than one partition: the aggregations run per partition, the
    /// key whose hash chooses the partition, and in how many. Every other
    /// aggregation runs once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitioned: Vec<PartitionedPlan>,
    /// The aggregations that took the sorted path (`audit --sorted`): one
    /// pass over rows sorted by their key, holding one key's rows at a time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sorted: Vec<SortedPlan>,
    /// The engine that ran the plans (`audit --engine`); left out for
    /// polars, the built-in one.
    #[serde(skip_serializing_if = "Engine::is_polars")]
    pub engine: Engine,
}

/// The engine that runs an audit's plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
pub enum Engine {
    /// polars' streaming engine, built in.
    #[default]
    #[serde(rename = "polars")]
    Polars,
    /// Apache DataFusion, embedded.
    #[serde(rename = "datafusion")]
    DataFusion,
    /// An Apache Ballista cluster.
    #[serde(rename = "ballista")]
    Ballista,
}

impl Engine {
    pub fn is_polars(&self) -> bool {
        *self == Engine::Polars
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Polars => "polars",
            Engine::DataFusion => "datafusion",
            Engine::Ballista => "ballista",
        }
    }
}

/// How the plans of an audit run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum Strategy {
    /// Every plan at once over one read of the input: fastest; memory grows
    /// with the input.
    #[serde(rename = "single pass")]
    SinglePass,
    /// One plan at a time, each over its own read of the input (CSV staged
    /// once as typed Parquet), the keyed ones in hash partitions: memory
    /// bounded by the budget, slower.
    #[serde(rename = "bounded")]
    Bounded,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::SinglePass => "single pass",
            Strategy::Bounded => "bounded",
        }
    }
}

/// An aggregation run in hash partitions of its key.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PartitionedPlan {
    /// The rule (or `accounting` for the duplicate-id count).
    pub rule: String,
    pub key: String,
    /// The passes it ran in: the audit's partitions, or fewer for a key
    /// with few distinct values (`docs/performance.md`, "Partitions per
    /// key").
    pub partitions: u64,
}

/// An aggregation that took the sorted path.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SortedPlan {
    /// The rule (or `accounting` for the duplicate-id count).
    pub rule: String,
    pub key: String,
    /// Whether every row it read was in order of the key, as checked in the
    /// same pass. When not, its result was discarded and it ran again on
    /// the hashed path (in hash partitions, if the audit has them).
    pub held: bool,
}

/// The comparison of an audit with its baseline.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BaselineSummary {
    /// The baseline findings.json, as given.
    pub path: String,
    pub generated_at: String,
    pub new: u64,
    pub persisting: u64,
    pub resolved: u64,
    /// Failing groups of the baseline that this audit no longer has at all.
    pub resolved_groups: Vec<GroupRef>,
}

/// A group named by its rule and key.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GroupRef {
    pub rule_id: String,
    pub key: BTreeMap<String, String>,
}

/// Counts of findings by verdict.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub pass: u64,
    pub fail: u64,
    pub inconclusive: u64,
    pub not_evaluable: u64,
    /// Rules whose only failures are waived (`audit --waivers`).
    pub waived: u64,
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
                Verdict::Waived => s.waived += 1,
            }
        }
        s
    }
}

/// A raw label no provider's aliases match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
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
