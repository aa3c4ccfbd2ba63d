//! Rule kinds: one module per kind, registered once, below.
//!
//! A kind is one unit ([`Kind`]): its typed parameters, how its TOML keys are
//! read and validated, the dataset it reads, the plans it aggregates with,
//! how it turns their results into a finding through the shared verdict
//! protocol, how it is explained in words, and how the report draws it. The
//! [`registry!`] list at the bottom is the only place that names every kind;
//! it generates [`RuleSpec`] (one variant per kind, holding the typed
//! parameters) and the dispatch that hands each kind its own payload.

mod acceptance;
mod code_interoperability;
mod code_validity;
mod concentration;
mod coverage;
mod exclusivity;
mod fee_parity;
mod parity;
mod reciprocity;

use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::{Context, NotEvaluable, Plan, Seen};
use crate::contract::Dataset;
use crate::findings::{Finding, Presentation};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::{self, KindTable, Params, RulebookError, SpecInfo};
use crate::verdict::Basis;

pub use parity::{metric_words, Metric, Threshold};

/// A rulebook whose rules carry the registered kinds' parameters.
pub type Rulebook = rulebook::Rulebook<RuleSpec>;
/// A rule with its kind's typed parameters.
pub type Rule = rulebook::Rule<RuleSpec>;

/// A rule's rows of `ds` counted per platform, merchant, provider and
/// region (column `n`), a plan run once for every rule over the same rows
/// and read by each through its own `then`: which providers each merchant
/// offers (coverage per merchant, exclusivity) and each platform logs
/// (parity's presence) are all a step away from it. Split on the merchant,
/// as the merchants' own plans are. On the 10M audit each of the three read
/// the checkout rows for 0.7-1.0 s (docs/performance.md).
pub(crate) fn per_merchant_and_provider(
    rule: &Rule,
    ds: Dataset,
    ctx: &Context,
    needs: &[&str],
    then: crate::exec::Then,
) -> Result<Plan, NotEvaluable> {
    let keys = ctx.keys([col("platform"), col("merchant_id"), col("provider"), col("region")]);
    let count = |f: LazyFrame| f.group_by(keys).agg([len().cast(DataType::UInt64).alias("n")]);
    ctx.shared_per_key(rule, ds, needs, "rows per platform, merchant, provider and region", "merchant_id", count, then)
}

/// What fails, passes and stays inconclusive in a rule of a kind, in words.
pub struct Criteria {
    pub fail: String,
    pub pass: String,
    pub inconclusive: String,
}

/// A rule kind. Implemented by a unit struct in the kind's module; the
/// engine never calls a kind directly, only through the registry.
///
/// When each method is called:
/// - loading a rulebook: [`Kind::dataset_of`] (to check the `where` filter's
///   columns), then [`Kind::read`]; [`Kind::KEYS`] lists what `read` may ask
///   for, every other key is reported as unknown;
/// - running an audit: [`Kind::plans`] once per rule, before any data is
///   read; all plans of all rules then run together in one streaming pass,
///   and [`Kind::evaluate`] receives the collected frames of its own plans,
///   in the order `plans` returned them;
/// - explaining a rule (`rules explain`, the report's method section):
///   [`Kind::parameters`] and [`Kind::criteria`];
/// - drawing the report: [`Kind::presentation`].
pub trait Kind {
    /// The name rulebooks use: `kind = "..."`.
    const NAME: &'static str;
    /// The rule keys the kind reads, beyond the common ones.
    const KEYS: &'static [&'static str];
    /// A complete, commented `[[rules]]` entry to start from (`hutong rules new`).
    const TEMPLATE: &'static str;
    /// The dataset the kind reads (a kind whose dataset depends on its
    /// parameters overrides `dataset_of` and `dataset`).
    const DATASET: Dataset;
    /// The kind's typed parameters.
    type Spec: Clone + std::fmt::Debug + Serialize;

    /// Reads and validates the kind's keys, reporting every problem (with its
    /// span) into `d`; `None` when any is wrong.
    fn read(p: &Params, d: &mut Diagnostics) -> Option<Self::Spec>;
    /// The dataset a rule reads, from its table as written, when it can be told.
    fn dataset_of(_: &Params) -> Option<Dataset> {
        Some(Self::DATASET)
    }
    /// The dataset a rule reads.
    fn dataset(_: &Self::Spec) -> Dataset {
        Self::DATASET
    }
    /// Whether the groups are a census (compared exactly) or a sample.
    fn basis(_spec: &Self::Spec) -> Basis {
        Basis::Sample
    }
    /// The family-wise error rate of a sample rule.
    fn alpha(spec: &Self::Spec) -> Option<f64>;
    /// The lazy plans the rule needs, or why the data cannot answer it.
    fn plans(rule: &Rule, spec: &Self::Spec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable>;
    /// The finding, from the collected results of `plans` (same order).
    fn evaluate(
        rule: &Rule,
        spec: &Self::Spec,
        ctx: &Context,
        frames: Vec<DataFrame>,
        seen: &Seen,
    ) -> anyhow::Result<Finding>;
    /// The parameters as (name, value) lines.
    fn parameters(spec: &Self::Spec) -> Vec<(&'static str, String)>;
    /// What fails, passes and stays inconclusive.
    fn criteria(spec: &Self::Spec) -> Criteria;
    /// How the report draws a finding of the kind.
    fn presentation(spec: &Self::Spec) -> Presentation;
}

/// Reads the rulebook file at `path` with the registered kinds.
pub fn load(path: &Path) -> Result<Rulebook, RulebookError> {
    rulebook::load(path, &Registry)
}

/// Validates rulebook text with the registered kinds; `path` is for messages.
pub fn parse(path: &str, source: &str) -> Result<Rulebook, RulebookError> {
    rulebook::parse(path, source, &Registry)
}

/// The registry as the rulebook loader sees it.
struct Registry;

/// Generates [`RuleSpec`] and its dispatch from the list of kinds.
macro_rules! registry {
    ($($variant:ident => $kind:ty),* $(,)?) => {
        /// A rule's typed parameters: one variant per registered kind.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum RuleSpec {
            $($variant(<$kind as Kind>::Spec),)*
        }

        /// Every registered kind: name, keys and template.
        pub const KINDS: &[(&str, &[&str], &str)] = &[$((<$kind>::NAME, <$kind>::KEYS, <$kind>::TEMPLATE),)*];

        impl KindTable<RuleSpec> for Registry {
            fn names(&self) -> Vec<&'static str> {
                KINDS.iter().map(|k| k.0).collect()
            }

            fn keys(&self, kind: &str) -> Option<&'static [&'static str]> {
                KINDS.iter().find(|k| k.0 == kind).map(|k| k.1)
            }

            fn dataset(&self, kind: &str, p: &Params) -> Option<Dataset> {
                $(if kind == <$kind>::NAME {
                    return <$kind>::dataset_of(p);
                })*
                None
            }

            fn read(&self, kind: &str, p: &Params, d: &mut Diagnostics) -> Option<RuleSpec> {
                $(if kind == <$kind>::NAME {
                    return <$kind>::read(p, d).map(RuleSpec::$variant);
                })*
                None
            }
        }

        impl SpecInfo for RuleSpec {
            fn kind(&self) -> &'static str {
                match self {
                    $(RuleSpec::$variant(_) => <$kind>::NAME,)*
                }
            }

            fn dataset(&self) -> Dataset {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::dataset(s),)*
                }
            }

            fn basis(&self) -> Basis {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::basis(s),)*
                }
            }

            fn alpha(&self) -> Option<f64> {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::alpha(s),)*
                }
            }
        }

        impl RuleSpec {
            /// The rule's plans (see [`Kind::plans`]).
            pub fn plans(&self, rule: &Rule, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::plans(rule, s, ctx),)*
                }
            }

            /// The rule's finding (see [`Kind::evaluate`]), drawn as the kind says.
            pub fn evaluate(
                &self,
                rule: &Rule,
                ctx: &Context,
                frames: Vec<DataFrame>,
                seen: &Seen,
            ) -> anyhow::Result<Finding> {
                let mut f = match self {
                    $(RuleSpec::$variant(s) => <$kind>::evaluate(rule, s, ctx, frames, seen)?,)*
                };
                f.presentation = self.presentation();
                Ok(f)
            }

            /// The parameters as (name, value) lines.
            pub fn parameters(&self) -> Vec<(&'static str, String)> {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::parameters(s),)*
                }
            }

            /// What fails, passes and stays inconclusive.
            pub fn criteria(&self) -> Criteria {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::criteria(s),)*
                }
            }

            /// How the report draws the rule's finding.
            pub fn presentation(&self) -> Presentation {
                match self {
                    $(RuleSpec::$variant(s) => <$kind>::presentation(s),)*
                }
            }
        }
    };
}

// The registered kinds. Adding a kind: its module above, one line here.
registry! {
    Coverage => coverage::Coverage,
    Acceptance => acceptance::Acceptance,
    Reciprocity => reciprocity::Reciprocity,
    Exclusivity => exclusivity::Exclusivity,
    Concentration => concentration::Concentration,
    Parity => parity::Parity,
    FeeParity => fee_parity::FeeParity,
    CodeValidity => code_validity::CodeValidity,
    CodeInterop => code_interoperability::CodeInterop,
}

/// "UnionPay Cloud QuickPass on jd": a rival-vs-own group in words.
pub(crate) fn rival_on_platform(g: &crate::findings::Group, ctx: &Context) -> String {
    let part = |k: &str| g.key.get(k).map_or("", String::as_str);
    format!("{} on {}", ctx.rulebook.display_name(part("provider")), part("platform"))
}

/// The template of a registered kind, for `hutong rules new KIND`.
pub fn template(kind: &str) -> Option<&'static str> {
    KINDS.iter().find(|k| k.0 == kind).map(|k| k.2)
}
