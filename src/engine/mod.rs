//! The audit engine: compiles each rule to lazy polars plans over the shared
//! validated scans, runs all plans of a rulebook together on the streaming
//! engine, then turns the small aggregated results into findings.
//!
//! A rule kind is one module with two functions: `plans` (what to aggregate)
//! and `evaluate` (verdicts from the aggregates).

mod acceptance;
mod concentration;
mod coverage;
mod exclusivity;
pub mod filter;
mod parity;
mod reciprocity;
mod util;

use std::sync::Arc;

use anyhow::Context as _;
use polars::prelude::*;

use crate::contract::Dataset;
use crate::findings::{Finding, UnmappedLabel};
use crate::ingest::{DatasetInput, Inputs};
use crate::rulebook::{Rule, RuleSpec, Rulebook, Taxonomy};

/// Everything rules are compiled against.
pub struct Context<'a> {
    pub rulebook: &'a Rulebook,
    pub taxonomy: Arc<Taxonomy>,
    pub inputs: &'a Inputs,
}

/// Why a rule cannot be evaluated on this data.
pub type NotEvaluable = String;

/// The labelled columns mapped to providers, per dataset: (source, mapped name).
const MAPPED: &[(Dataset, &str, &str)] = &[
    (Dataset::Transactions, "method", "provider"),
    (Dataset::Transactions, "wallet_app", "app"),
    (Dataset::Transactions, "code_issuer", "issuer"),
    (Dataset::Checkout, "method", "provider"),
];

impl Context<'_> {
    fn input(&self, ds: Dataset) -> Result<&DatasetInput, NotEvaluable> {
        self.inputs.get(ds).ok_or_else(|| format!("no {ds} data was given"))
    }

    /// Accepted rows of a dataset with raw labels mapped to provider ids.
    fn base(&self, ds: Dataset) -> Result<LazyFrame, NotEvaluable> {
        let input = self.input(ds)?;
        let mapped: Vec<Expr> = MAPPED
            .iter()
            .filter(|(d, _, _)| *d == ds)
            .map(|(_, source, name)| map_labels(col(*source), self.taxonomy.clone()).alias(*name))
            .collect();
        Ok(input.accepted().with_columns(mapped))
    }

    /// The rows a rule sees: its dataset's accepted rows, filtered by `where`,
    /// provided every column it needs is present.
    fn rule_frame(&self, rule: &Rule, ds: Dataset, needs: &[&str]) -> Result<LazyFrame, NotEvaluable> {
        let input = self.input(ds)?;
        let mut missing: Vec<String> = needs.iter().filter(|c| !input.has_column(c)).map(|c| c.to_string()).collect();
        let mut frame = self.base(ds)?;
        if let Some(text) = &rule.filter {
            let expr = filter::parse(text).map_err(|e| format!("invalid where filter: {e}"))?;
            for c in filter::columns(&expr) {
                if !input.has_column(&c) && !missing.contains(&c) {
                    missing.push(c);
                }
            }
            frame = frame.filter(expr);
        }
        if !missing.is_empty() {
            return Err(format!(
                "the {ds} data lacks column{} {}",
                if missing.len() == 1 { "" } else { "s" },
                missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(frame)
    }
}

/// Maps each raw label to its provider id through the taxonomy's cache.
fn map_labels(e: Expr, taxonomy: Arc<Taxonomy>) -> Expr {
    e.map(
        move |c: Column| {
            let ca = c.str()?;
            let mut err = None;
            // A batch holds few distinct labels: a local map spares the shared
            // cache's lock and hashing on every row.
            let mut local: PlHashMap<&str, Option<&str>> = PlHashMap::new();
            let out: StringChunked = ca
                .iter()
                .map(|label| {
                    let l = label?;
                    if let Some(hit) = local.get(l) {
                        return *hit;
                    }
                    let p = match taxonomy.map(l) {
                        Ok(p) => p,
                        Err(e) => {
                            err.get_or_insert(e);
                            None
                        }
                    };
                    local.insert(l, p);
                    p
                })
                .collect();
            if let Some(e) = err {
                polars_bail!(ComputeError: "{e}; make the rulebook's aliases more specific");
            }
            Ok(out.with_name(ca.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
    )
}

/// A rule compiled to plans, or already decided as not evaluable.
enum Compiled {
    Plans(usize, usize),
    NotEvaluable(NotEvaluable),
}

fn plans_for(rule: &Rule, ctx: &Context) -> Result<Vec<LazyFrame>, NotEvaluable> {
    match &rule.spec {
        RuleSpec::Coverage { .. } => coverage::plans(rule, ctx),
        RuleSpec::Acceptance { .. } => acceptance::plans(rule, ctx),
        RuleSpec::Reciprocity { .. } => reciprocity::plans(rule, ctx),
        RuleSpec::Exclusivity { .. } => exclusivity::plans(rule, ctx),
        RuleSpec::Concentration { .. } => concentration::plans(rule, ctx),
        RuleSpec::Parity { .. } => parity::plans(rule, ctx),
    }
}

fn evaluate(rule: &Rule, ctx: &Context, frames: Vec<DataFrame>, names: &Names) -> anyhow::Result<Finding> {
    match &rule.spec {
        RuleSpec::Coverage { .. } => coverage::evaluate(rule, ctx, frames),
        RuleSpec::Acceptance { .. } => acceptance::evaluate(rule, ctx, frames),
        RuleSpec::Reciprocity { .. } => reciprocity::evaluate(rule, ctx, frames),
        RuleSpec::Exclusivity { .. } => exclusivity::evaluate(rule, ctx, frames, names),
        RuleSpec::Concentration { .. } => concentration::evaluate(rule, ctx, frames),
        RuleSpec::Parity { .. } => parity::evaluate(rule, ctx, frames),
    }
}

/// Merchant names and regions from the merchants dataset, for evidence.
pub type Names = std::collections::HashMap<String, (String, String)>;

/// The results of running a rulebook.
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub unmapped: Vec<UnmappedLabel>,
    /// Extra frames the caller asked to run in the same pass.
    pub extra: Vec<DataFrame>,
}

/// Every plan of an audit, and where each rule's results will be.
struct Plan {
    plans: Vec<LazyFrame>,
    compiled: Vec<Compiled>,
    label_plans: Vec<(Dataset, &'static str, usize)>,
    names_at: Option<usize>,
    extra_at: usize,
    n_extra: usize,
}

fn compile(ctx: &Context, extra: Vec<LazyFrame>) -> Plan {
    let mut plans: Vec<LazyFrame> = Vec::new();
    let mut compiled = Vec::new();
    for rule in &ctx.rulebook.rules {
        match plans_for(rule, ctx) {
            Ok(p) => {
                compiled.push(Compiled::Plans(plans.len(), p.len()));
                plans.extend(p);
            }
            Err(reason) => compiled.push(Compiled::NotEvaluable(reason)),
        }
    }
    // Label counts for the unmapped-label report, from the same pass.
    let mut label_plans = Vec::new();
    for (ds, source, _) in MAPPED {
        if let Some(input) = ctx.inputs.get(*ds) {
            if input.has_column(source) {
                label_plans.push((*ds, *source, plans.len()));
                plans.push(crate::inspect::label_plan(input, source));
            }
        }
    }
    let names_at = ctx.inputs.get(Dataset::Merchants).map(|m| {
        plans.push(m.accepted().select([col("merchant_id"), col("name"), col("region")]));
        plans.len() - 1
    });
    let extra_at = plans.len();
    let n_extra = extra.len();
    plans.extend(extra);
    Plan { plans, compiled, label_plans, names_at, extra_at, n_extra }
}

/// The optimised query plan of an audit, as polars prints it.
pub fn explain(ctx: &Context, extra: Vec<LazyFrame>) -> PolarsResult<String> {
    let plan = compile(ctx, extra);
    let Some(first) = plan.plans.first() else { return Ok(String::new()) };
    let opt = first.get_current_optimizations();
    LazyFrame::explain_all(plan.plans.into_iter().map(|lf| lf.logical_plan).collect(), opt)
}

/// Runs every rule (and the caller's `extra` plans) in one streaming pass.
pub fn run(ctx: &Context, extra: Vec<LazyFrame>) -> anyhow::Result<Outcome> {
    let Plan { plans, compiled, label_plans, names_at, extra_at, n_extra } = compile(ctx, extra);
    let mut frames: Vec<Option<DataFrame>> =
        anyhow::Context::context(crate::exec::collect_all(plans), "running the audit")?.into_iter().map(Some).collect();
    let names = match names_at {
        Some(i) => merchant_names(frames[i].take().unwrap_or_default())?,
        None => Names::new(),
    };
    let mut findings = Vec::new();
    for (rule, c) in ctx.rulebook.rules.iter().zip(compiled) {
        let finding = match c {
            Compiled::NotEvaluable(reason) => Finding::not_evaluable(rule, format!("Not evaluable: {reason}.")),
            Compiled::Plans(start, len) => {
                let fr: Vec<DataFrame> =
                    frames[start..start + len].iter_mut().map(|f| f.take().unwrap_or_default()).collect();
                evaluate(rule, ctx, fr, &names).with_context(|| format!("evaluating rule {}", rule.id))?
            }
        };
        findings.push(finding);
    }
    let mut unmapped = Vec::new();
    for (ds, source, i) in label_plans {
        let df = frames[i].take().unwrap_or_default();
        let labels = df.column("label")?.str()?.clone();
        let ns = df.column("n")?.u64()?.clone();
        for (label, n) in labels.iter().zip(ns.iter()) {
            let (Some(label), Some(n)) = (label, n) else { continue };
            if ctx.taxonomy.map(label)?.is_none() {
                unmapped.push(UnmappedLabel {
                    dataset: ds.name().into(),
                    column: source.into(),
                    label: label.into(),
                    rows: n,
                });
            }
        }
    }
    unmapped.sort();
    let extra = frames[extra_at..extra_at + n_extra].iter_mut().map(|f| f.take().unwrap_or_default()).collect();
    Ok(Outcome { findings, unmapped, extra })
}

fn merchant_names(df: DataFrame) -> anyhow::Result<Names> {
    let ids = df.column("merchant_id")?.str()?.clone();
    let names = df.column("name")?.str()?.clone();
    let regions = df.column("region")?.str()?.clone();
    let mut out = Names::new();
    for ((id, name), region) in ids.iter().zip(names.iter()).zip(regions.iter()) {
        if let Some(id) = id {
            out.entry(id.to_string())
                .or_insert_with(|| (name.unwrap_or_default().to_string(), region.unwrap_or_default().to_string()));
        }
    }
    Ok(out)
}
