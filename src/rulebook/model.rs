//! The validated rulebook: what the engine receives. Built only by
//! `rulebook::load`, so nothing downstream sees a half-checked rulebook.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Finding severity, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 5] = ["critical", "high", "medium", "low", "info"];

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Rulebook metadata.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub id: String,
    pub title: String,
    pub version: String,
    pub jurisdiction: String,
    pub effective: String,
    pub sources: Vec<String>,
    pub note: String,
}

/// A payment provider in the taxonomy.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub operator: String,
    pub kind: String,
    /// Case-insensitive regular expressions over normalised labels
    /// (`taxonomy::normalize`).
    pub aliases: Vec<String>,
    pub affiliated_platforms: Vec<String>,
    /// Breaks ties between providers whose aliases match one label: the
    /// higher priority wins before anchoring and match length are compared.
    pub priority: i64,
}

/// A platform the rulebook knows, with the spellings logs use for it.
#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    pub id: String,
    pub name: String,
    /// Case-insensitive regular expressions over normalised platform values.
    pub aliases: Vec<String>,
}

/// The classes a `failure_code` can fall in. Codes the rulebook does not
/// list count as technical, so a platform cannot hide failures behind a
/// new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    UserCancel,
    InsufficientFunds,
    RiskDecline,
    Technical,
}

impl FailureClass {
    pub const ALL: [FailureClass; 4] =
        [FailureClass::UserCancel, FailureClass::InsufficientFunds, FailureClass::RiskDecline, FailureClass::Technical];

    pub fn name(self) -> &'static str {
        match self {
            FailureClass::UserCancel => "user_cancel",
            FailureClass::InsufficientFunds => "insufficient_funds",
            FailureClass::RiskDecline => "risk_decline",
            FailureClass::Technical => "technical",
        }
    }

    pub fn parse(s: &str) -> Option<FailureClass> {
        FailureClass::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What a coverage rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Merchant,
    Session,
}

/// How a concentration rule weighs transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Count,
    Amount,
}

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

/// Concentration check mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcentrationMode {
    /// HHI must not exceed the maximum.
    Hhi { max_hhi: f64 },
    /// PRC Anti-Monopoly Law Art. 24 presumption must not be met.
    Dominance,
}

/// Coverage: the share of units offering a provider (absolute), or a
/// rival's session coverage over the affiliated provider's (relative).
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

/// Bar-code mutual recognition: every required cell live.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptanceSpec {
    pub regions: Vec<String>,
    pub providers: Vec<String>,
    pub min_attempts: u64,
    pub min_success: f64,
    pub alpha: f64,
}

/// Reciprocity: the two directions of each pair succeed alike.
#[derive(Debug, Clone, Serialize)]
pub struct ReciprocitySpec {
    pub regions: Vec<String>,
    pub providers: Vec<String>,
    /// The largest tolerated gap between the directions' success rates.
    pub max_gap: f64,
    pub alpha: f64,
}

/// Exclusivity: merchants whose checkout offered only the platform's own provider.
#[derive(Debug, Clone, Serialize)]
pub struct ExclusivitySpec {
    pub max_merchants: u64,
    /// A merchant is judged only with at least this many sessions.
    pub min_sessions: u64,
}

/// Concentration: HHI or the Art. 24 dominance presumption.
#[derive(Debug, Clone, Serialize)]
pub struct ConcentrationSpec {
    pub by: Vec<String>,
    pub measure: Measure,
    pub mode: ConcentrationMode,
    /// Above this share of unmapped weight in a group its verdict is inconclusive.
    pub max_unmapped: f64,
}

/// Which failures a failure-rate parity rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureScope {
    All,
    Technical,
}

/// Parity: a metric for each rival against the platform's affiliated provider.
#[derive(Debug, Clone, Serialize)]
pub struct ParitySpec {
    pub metric: Metric,
    pub rivals: Vec<String>,
    pub threshold: Threshold,
    pub alpha: f64,
    pub min_n: u64,
    /// failure_rate only: which failures count.
    pub failures: FailureScope,
    /// surcharge_rate / discount_rate only: count only those funded by this party.
    pub funded_by: Option<String>,
}

/// Kind-specific rule parameters.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleSpec {
    Coverage(CoverageSpec),
    Acceptance(AcceptanceSpec),
    Reciprocity(ReciprocitySpec),
    Exclusivity(ExclusivitySpec),
    Concentration(ConcentrationSpec),
    Parity(ParitySpec),
}

/// The dataset a rule kind reads; parity depends on its metric. `None` for an
/// unknown kind or a parity rule without a known metric.
pub fn kind_dataset(kind: &str, metric: Option<Metric>) -> Option<crate::contract::Dataset> {
    use crate::contract::Dataset;
    match kind {
        "coverage" | "exclusivity" => Some(Dataset::Checkout),
        "acceptance" | "reciprocity" | "concentration" => Some(Dataset::Transactions),
        "parity" => metric.map(Metric::dataset),
        _ => None,
    }
}

impl RuleSpec {
    /// The dataset the rule reads.
    pub fn dataset(&self) -> crate::contract::Dataset {
        let metric = match self {
            RuleSpec::Parity(p) => Some(p.metric),
            _ => None,
        };
        kind_dataset(self.kind(), metric).unwrap_or(crate::contract::Dataset::Transactions)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            RuleSpec::Coverage(_) => "coverage",
            RuleSpec::Acceptance(_) => "acceptance",
            RuleSpec::Reciprocity(_) => "reciprocity",
            RuleSpec::Exclusivity(_) => "exclusivity",
            RuleSpec::Concentration(_) => "concentration",
            RuleSpec::Parity(_) => "parity",
        }
    }
}

/// One validated rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub citation: String,
    pub rationale: String,
    /// SQL boolean filter over contract columns, parsed when read.
    #[serde(rename = "where")]
    pub filter: Option<super::filter::Filter>,
    /// The thresholds are engineering defaults, not set by law.
    pub engineering_default: bool,
    pub spec: RuleSpec,
    /// 1-based line of the rule in its file.
    #[serde(skip)]
    pub line: usize,
}

/// A validated rulebook.
#[derive(Debug, Clone, Serialize)]
pub struct Rulebook {
    pub path: String,
    pub sha256: String,
    pub meta: Meta,
    pub providers: Vec<Provider>,
    pub platforms: Vec<Platform>,
    pub sets: BTreeMap<String, Vec<String>>,
    /// Normalised failure codes per class (`[failure_codes]`).
    pub failure_codes: BTreeMap<FailureClass, Vec<String>>,
    pub rules: Vec<Rule>,
    /// Problems that do not stop an audit (overlapping aliases, ...), rendered
    /// with file:line:column.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Rulebook {
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The provider affiliated with a platform, if any.
    pub fn affiliated(&self, platform: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.affiliated_platforms.iter().any(|a| a == platform))
    }

    pub fn display_name(&self, provider_id: &str) -> String {
        self.provider(provider_id).map_or_else(|| provider_id.to_string(), |p| p.name.clone())
    }

    /// Whether the rulebook names a platform (in `[platforms]` or as an affiliation).
    pub fn knows_platform(&self, id: &str) -> bool {
        self.platforms.iter().any(|p| p.id == id)
            || self.providers.iter().any(|p| p.affiliated_platforms.iter().any(|a| a == id))
    }

    /// The class of a failure code (normalised by the caller); unlisted codes are technical.
    pub fn failure_class(&self, normalized_code: &str) -> FailureClass {
        self.failure_codes
            .iter()
            .find(|(_, codes)| codes.iter().any(|c| c == normalized_code))
            .map_or(FailureClass::Technical, |(class, _)| *class)
    }
}
