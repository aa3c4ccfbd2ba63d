//! The validated rulebook: what the engine receives. Built only by
//! `rulebook::load`, so nothing downstream sees a half-checked rulebook.

use std::collections::BTreeMap;
use std::fmt;

use crate::lang::{Lang, Localized};
use serde::Serialize;

/// Finding severity, lowest to highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
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
    /// The title, note and sources in each report language.
    #[serde(skip)]
    pub text: MetaText,
}

/// A rulebook's words for people, in one or both report languages.
#[derive(Debug, Clone, Default)]
pub struct MetaText {
    pub title: Localized,
    pub note: Localized,
    pub sources: Vec<Localized>,
}

/// A payment provider in the taxonomy.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    /// The name in each report language (`name = { en = "…", zh-CN = "…" }`).
    #[serde(skip)]
    pub names: Localized,
    pub operator: String,
    pub kind: String,
    /// Case-insensitive regular expressions over normalised labels
    /// (`taxonomy::normalize`).
    pub aliases: Vec<String>,
    pub affiliated_platforms: Vec<String>,
    /// Breaks ties between providers whose aliases match one label: the
    /// higher priority wins before anchoring and match length are compared.
    pub priority: i64,
    /// How collection codes name the provider (docs/codes.md): EMV template
    /// identifiers (GUIDs or AIDs, case-insensitive), reserved card-scheme
    /// tags (`15`), URL hosts and URL schemes (lower case).
    pub codes: CodeKeys,
}

/// What identifies a provider in a collection code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CodeKeys {
    pub emv_guids: Vec<String>,
    pub emv_tags: Vec<String>,
    pub url_hosts: Vec<String>,
    pub url_schemes: Vec<String>,
}

impl CodeKeys {
    /// Whether a code's identifier names this provider.
    pub fn matches(&self, id: &crate::codes::Identifier) -> bool {
        use crate::codes::Identifier;
        match id {
            Identifier::Guid(g) => self.emv_guids.iter().any(|x| x.eq_ignore_ascii_case(g)),
            Identifier::Tag(t) => self.emv_tags.iter().any(|x| x == t),
            Identifier::Host(h) => self.url_hosts.iter().any(|x| x.eq_ignore_ascii_case(h)),
            Identifier::Scheme(s) => self.url_schemes.iter().any(|x| x.eq_ignore_ascii_case(s)),
            Identifier::Issuer(_) => false,
        }
    }
}

/// The schemes a collection code carries: the providers its identifiers
/// name, and, for identifiers no provider claims, the raw identifier (a
/// GUID, a reserved tag, or a URL code's built-in issuer or host).
pub fn code_schemes(providers: &[Provider], payload: &crate::codes::Payload) -> Vec<String> {
    use crate::codes::Identifier;
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    let ids = payload.identifiers();
    let url_mapped = ids
        .iter()
        .filter(|i| matches!(i, Identifier::Host(_) | Identifier::Scheme(_)))
        .any(|i| providers.iter().any(|p| p.codes.matches(i)));
    for id in &ids {
        match providers.iter().find(|p| p.codes.matches(id)) {
            Some(p) => push(p.id.clone()),
            None => match id {
                Identifier::Guid(_) | Identifier::Tag(_) => push(id.raw()),
                // A URL code is one scheme: its known issuer, else its host.
                Identifier::Issuer(_) if !url_mapped => push(id.raw()),
                Identifier::Host(_) if !url_mapped && payload.url.as_ref().is_some_and(|u| u.issuer.is_none()) => {
                    push(id.raw())
                }
                _ => {}
            },
        }
    }
    out
}

/// A platform the rulebook knows, with the spellings logs use for it.
#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    pub id: String,
    pub name: String,
    /// The name in each report language.
    #[serde(skip)]
    pub names: Localized,
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

/// What the rulebook and the findings need to know of a rule's kind and
/// parameters, whatever the kind; the engine's registry implements it.
pub trait SpecInfo {
    /// The kind's name (`kind = "..."`).
    fn kind(&self) -> &'static str;
    /// The dataset the rule reads.
    fn dataset(&self) -> crate::contract::Dataset;
    /// Whether its groups are a census or a sample.
    fn basis(&self) -> crate::verdict::Basis;
    /// The family-wise error rate of a sample rule.
    fn alpha(&self) -> Option<f64>;
}

/// A rule's words for people, in one or both report languages.
#[derive(Debug, Clone, Default)]
pub struct RuleText {
    pub title: Localized,
    pub citation: Localized,
    pub rationale: Localized,
}

/// What every rule has, whatever its kind.
#[derive(Debug, Clone, Serialize)]
pub struct RuleHead {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub citation: String,
    pub rationale: String,
    /// The title, citation and rationale in each report language.
    #[serde(skip)]
    pub text: RuleText,
    /// SQL boolean filter over contract columns, parsed when read.
    #[serde(rename = "where")]
    pub filter: Option<super::filter::Filter>,
    /// The thresholds are engineering defaults, not set by law.
    pub engineering_default: bool,
    /// Rows before this day (in the audit's time zone) are not evaluated by
    /// the rule; when absent, the rulebook's `effective` applies.
    #[serde(serialize_with = "date_text")]
    pub effective: Option<chrono::NaiveDate>,
    /// The day by which the rule must be met: failures in data that ends
    /// before it are reported `before_deadline` and do not fail the run
    /// unless `--strict-deadlines`.
    #[serde(serialize_with = "date_text")]
    pub deadline: Option<chrono::NaiveDate>,
    /// 1-based line of the rule in its file.
    #[serde(skip)]
    pub line: usize,
}

/// One validated rule: its head and its kind's typed parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Rule<S> {
    #[serde(flatten)]
    pub head: RuleHead,
    #[serde(flatten)]
    pub spec: S,
}

impl<S> std::ops::Deref for Rule<S> {
    type Target = RuleHead;

    fn deref(&self) -> &RuleHead {
        &self.head
    }
}

/// A validated rulebook, with its rules' parameters typed as `S` (the
/// engine's `RuleSpec`).
#[derive(Debug, Clone, Serialize)]
pub struct Rulebook<S> {
    pub path: String,
    pub sha256: String,
    pub meta: Meta,
    pub providers: Vec<Provider>,
    pub platforms: Vec<Platform>,
    pub sets: BTreeMap<String, Vec<String>>,
    /// Normalised failure codes per class (`[failure_codes]`).
    pub failure_codes: BTreeMap<FailureClass, Vec<String>>,
    pub rules: Vec<Rule<S>>,
    /// Problems that do not stop an audit (overlapping aliases, ...), rendered
    /// with file:line:column.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl<S> Rulebook<S> {
    /// The rulebook's `effective` as a day, the default for its rules.
    pub fn effective_date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(self.meta.effective.get(..10)?, "%Y-%m-%d").ok()
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn rule(&self, id: &str) -> Option<&Rule<S>> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The provider affiliated with a platform, if any.
    pub fn affiliated(&self, platform: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.affiliated_platforms.iter().any(|a| a == platform))
    }

    pub fn display_name(&self, provider_id: &str) -> String {
        self.provider(provider_id).map_or_else(|| provider_id.to_string(), |p| p.name.clone())
    }

    /// A provider's name in a report language (falling back to the other).
    pub fn display_name_in(&self, provider_id: &str, lang: Lang) -> String {
        self.provider(provider_id).map_or_else(|| provider_id.to_string(), |p| p.names.get(lang).0.to_string())
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

fn date_text<S: serde::Serializer>(d: &Option<chrono::NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.format("%Y-%m-%d").to_string()).serialize(s)
}
