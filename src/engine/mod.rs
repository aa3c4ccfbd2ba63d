//! The audit engine: compiles each rule to lazy polars plans over the shared
//! validated scans, runs all plans of a rulebook together on the streaming
//! engine, then turns the small aggregated results into findings.
//!
//! Each rule kind is one unit in `kinds` (its parameters, reading, plans,
//! evaluation through the shared protocol in `crate::verdict`, words and
//! drawing); this module holds what they share: the context rules are
//! compiled against, label mapping, and running every plan in one pass.

pub mod explain;
pub mod kinds;
mod periods;
pub(crate) mod util;

pub use kinds::{Rule, RuleSpec, Rulebook};

use std::sync::Arc;

use anyhow::Context as _;
use polars::prelude::*;

use std::collections::BTreeMap;

use crate::contract::Dataset;
use crate::exec::{Batch, Check, Flags, Handle, Merge, Part, Results, Stage, Then};
use crate::findings::{Finding, UnmappedLabel};
use crate::ingest::period::Period;
use crate::ingest::{DatasetInput, Inputs};
use crate::rulebook::Taxonomy;

/// Everything rules are compiled against.
pub struct Context<'a> {
    pub rulebook: &'a Rulebook,
    pub taxonomy: Arc<Taxonomy>,
    pub inputs: &'a Inputs,
    /// When set, every plan groups by the period as well (`audit --period`):
    /// the column [`PERIOD`] holds the first day of each row's period.
    pub period: Option<Period>,
    /// When set, plans built with [`Context::per_key`] keep only this share
    /// of their key's values (the audit runs in hash partitions).
    pub part: Option<Part>,
    /// When set, plans built with [`Context::per_key_stage`] take the sorted
    /// path (see [`Stage::sorted`]).
    pub sorted: bool,
}

/// A plan of a rule: run once, or (built by [`Context::per_key`]) once per
/// hash partition of a key whose groups would otherwise all be held at once.
pub struct Plan {
    frame: LazyFrame,
    split: Option<(&'static str, Merge)>,
    /// Built on the sorted path (a plan whose key has no sorted form is
    /// built the same in every context).
    sorted: bool,
    /// What the plan is, in full, when other rules may need the same plan
    /// (built by [`Context::common`]): it then runs once for all of them.
    name: Option<String>,
    /// A sorted stage of flags that other rules' stages over the same rows
    /// may share (built by [`Context::flags_stage`]).
    flags: Option<Flags>,
    /// What the rule computes from the plan's result, when the plan is one
    /// several rules share and each reads it its own way (built by
    /// [`Context::shared_per_key`]).
    then: Option<Then>,
}

/// A plan's result as its rule reads it: the handle of the plan in the
/// batch, and the rule's own step over a shared plan's result.
pub(crate) struct Taken {
    handle: Handle,
    then: Option<Then>,
}

impl Taken {
    /// The result from `results`.
    fn take(self, results: &mut Results) -> PolarsResult<DataFrame> {
        let df = results.take(self.handle)?;
        match self.then {
            // The shared result is small (a row per merchant and provider):
            // the rule's step runs on it in memory.
            Some(then) => then(df.lazy()).collect(),
            None => Ok(df),
        }
    }
}

/// The results of `taken`, in order.
fn take_all(taken: Vec<Taken>, results: &mut Results) -> PolarsResult<Vec<DataFrame>> {
    taken.into_iter().map(|t| t.take(results)).collect()
}

impl From<LazyFrame> for Plan {
    fn from(frame: LazyFrame) -> Plan {
        Plan { frame, split: None, sorted: false, name: None, flags: None, then: None }
    }
}

/// The column holding a row's period in plans compiled per period.
pub(crate) const PERIOD: &str = "__period";

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
    pub(crate) fn input(&self, ds: Dataset) -> Result<&DatasetInput, NotEvaluable> {
        self.inputs.get(ds).ok_or_else(|| match &self.inputs.imported {
            Some(i) => format!("no {ds} data was given (the data was imported from a `{}` export)", i.profile),
            None => format!("no {ds} data was given"),
        })
    }

    /// Accepted rows of a dataset with `platform` mapped to platform ids and
    /// raw labels mapped to provider ids (ambiguous labels as unmapped).
    fn base(&self, ds: Dataset) -> Result<LazyFrame, NotEvaluable> {
        let input = self.input(ds)?;
        let mut mapped: Vec<Expr> = MAPPED
            .iter()
            .filter(|(d, _, _)| *d == ds)
            .map(|(_, source, name)| map_labels(col(*source), self.taxonomy.clone()).alias(*name))
            .collect();
        if input.has_column("platform") {
            mapped.push(map_platforms(col("platform"), self.taxonomy.clone()).alias("platform"));
        }
        Ok(input.accepted().with_columns(mapped))
    }

    /// The same context with another period and share.
    fn variant(&self, period: Option<Period>, part: Option<Part>, sorted: bool) -> Context<'_> {
        Context { rulebook: self.rulebook, taxonomy: self.taxonomy.clone(), inputs: self.inputs, period, part, sorted }
    }

    /// A plan whose state grows with the distinct values of `key` (sessions,
    /// merchants): `build` aggregates `frame`, which in a partitioned audit
    /// holds only this pass's share of the keys, and `merge` says how the
    /// shares' results combine. Filter and merge come together here so that
    /// a kind cannot have one without the other.
    pub(crate) fn per_key(
        &self,
        frame: LazyFrame,
        key: &'static str,
        merge: Merge,
        build: impl FnOnce(LazyFrame) -> LazyFrame,
    ) -> Plan {
        let frame = build(crate::exec::share(frame, self.part, key));
        Plan { frame, split: Some((key, merge)), sorted: false, name: None, flags: None, then: None }
    }

    /// A plan whose first stage groups by a high-cardinality key (sessions,
    /// transaction ids) and `then` aggregates that stage's rows: hashed over
    /// this pass's share of the keys, or on the sorted path, whose result
    /// carries the check that decides whether it is used.
    pub(crate) fn per_key_stage(
        &self,
        frame: LazyFrame,
        stage: Stage,
        merge: Merge,
        then: impl FnOnce(LazyFrame) -> LazyFrame,
    ) -> Result<Plan, NotEvaluable> {
        let key = stage.key;
        if self.sorted {
            let constant = match self.inputs.get(stage.dataset).and_then(|i| i.order.ascending_by(key)) {
                Some(proven) => proven.constant.as_slice(),
                None => &[],
            };
            let frame = stage.sorted(frame, then, constant).map_err(|e| format!("building its sorted plan: {e}"))?;
            return Ok(Plan { frame, split: Some((key, merge)), sorted: true, name: None, flags: None, then: None });
        }
        let frame = stage.hashed(frame, self.part, then);
        Ok(Plan { frame, split: Some((key, merge)), sorted: false, name: None, flags: None, then: None })
    }

    /// As [`Context::per_key_stage`], for a stage of flags ([`Stage::flags`])
    /// that other rules' stages over the same rows may share: on the sorted
    /// path, the stages of one name run as one group-by. `rows` says what
    /// `frame` is beyond the rule's rows of the stage's dataset (as
    /// [`Context::rule_frame`] gives them); the name adds those rows'
    /// identity and the stage's keys. On the 10M audit: the paired parity
    /// rules' three stages over the checkout sessions (docs/performance.md).
    pub(crate) fn flags_stage(
        &self,
        rule: &Rule,
        rows: &str,
        frame: LazyFrame,
        stage: Stage,
        merge: Merge,
        then: Then,
    ) -> Result<Plan, NotEvaluable> {
        let key = stage.key;
        if !self.sorted {
            let frame = stage.hashed(frame, self.part, |f| then(f));
            return Ok(Plan { frame, split: Some((key, merge)), sorted: false, name: None, flags: None, then: None });
        }
        let constant = match self.inputs.get(stage.dataset).and_then(|i| i.order.ascending_by(key)) {
            Some(proven) => proven.constant.clone(),
            None => Vec::new(),
        };
        let name = format!("{rows} by {key} and {:?} | {}", stage.others, self.rows_name(rule, stage.dataset));
        let flags = Flags { name, frame, stage, then, constant };
        let frame = flags.alone().map_err(|e| format!("building its sorted plan: {e}"))?;
        Ok(Plan { frame, split: Some((key, merge)), sorted: true, name: None, flags: Some(flags), then: None })
    }

    /// What a rule's rows of `ds` are, in full: the dataset, the rule's
    /// `where` as written, its first instant and the period.
    fn rows_name(&self, rule: &Rule, ds: Dataset) -> String {
        let filter = rule.filter.as_ref().map(|f| f.text.as_str());
        format!("{ds} where {filter:?} from {:?} per {:?}", self.effective_start(rule), self.period)
    }

    /// A plan other rules may need too, run once for all of them: `build`
    /// over the rule's rows of `ds` (as [`Context::rule_frame`] gives them).
    /// `what` names what `build` computes, with every parameter of the rule
    /// it reads; the rows' own identity is added here (the dataset, the
    /// rule's `where` as written, its first instant, the period), so two
    /// plans of the same name are the same plan. On the 10M audit five
    /// rules' plans ran twice or three times each, 3.3 s of its 19 s of
    /// plans (docs/performance.md).
    pub(crate) fn common(
        &self,
        rule: &Rule,
        ds: Dataset,
        needs: &[&str],
        what: &str,
        build: impl FnOnce(LazyFrame) -> LazyFrame,
    ) -> Result<Plan, NotEvaluable> {
        let frame = self.rule_frame(rule, ds, needs)?;
        let name = format!("{what} | {}", self.rows_name(rule, ds));
        Ok(Plan { frame: build(frame), split: None, sorted: false, name: Some(name), flags: None, then: None })
    }

    /// As [`Context::common`], for a plan per key of `key` (split on it as
    /// [`Context::per_key`] splits, its shares' results concatenated),
    /// which each rule reads through its own `then`: a step over the shared
    /// result, not over the rows. Coverage per merchant, exclusivity and
    /// parity's presence each read the dataset once for a table a step
    /// away from the same rows per merchant and provider
    /// ([`kinds::per_merchant_and_provider`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn shared_per_key(
        &self,
        rule: &Rule,
        ds: Dataset,
        needs: &[&str],
        what: &str,
        key: &'static str,
        build: impl FnOnce(LazyFrame) -> LazyFrame,
        then: Then,
    ) -> Result<Plan, NotEvaluable> {
        let frame = self.rule_frame(rule, ds, needs)?;
        let name = format!("{what} per {key} | {}", self.rows_name(rule, ds));
        let plan = self.per_key(frame, key, Merge::Concat, build);
        Ok(Plan { name: Some(name), then: Some(then), ..plan })
    }

    /// The first instant a rule sees, in UTC microseconds: midnight of its
    /// `effective` day (or the rulebook's) in the audit's time zone.
    pub(crate) fn effective_start(&self, rule: &Rule) -> Option<i64> {
        let day = rule.head.effective.or_else(|| self.rulebook.effective_date())?;
        self.inputs.options.timezone.day_start_micros(day)
    }

    /// A plan's group keys, with the period appended when plans are compiled
    /// per period: every aggregate of a kind goes through here, so a kind
    /// never needs to know whether it runs per period.
    pub(crate) fn keys<I: IntoIterator<Item = Expr>>(&self, keys: I) -> Vec<Expr> {
        let mut out: Vec<Expr> = keys.into_iter().collect();
        if self.period.is_some() {
            out.push(col(PERIOD));
        }
        out
    }

    /// The rows a rule sees: its dataset's accepted rows, filtered by `where`,
    /// provided every column it needs is present.
    pub(crate) fn rule_frame(&self, rule: &Rule, ds: Dataset, needs: &[&str]) -> Result<LazyFrame, NotEvaluable> {
        self.frame(rule, ds, needs, true)
    }

    /// The rows of a dataset a rule reads besides its own (collection codes
    /// read scans too): as [`Context::rule_frame`], without the rule's
    /// `where`, which is written for the rule's own dataset.
    pub(crate) fn side_frame(&self, rule: &Rule, ds: Dataset, needs: &[&str]) -> Result<LazyFrame, NotEvaluable> {
        self.frame(rule, ds, needs, false)
    }

    fn frame(&self, rule: &Rule, ds: Dataset, needs: &[&str], filtered: bool) -> Result<LazyFrame, NotEvaluable> {
        let input = self.input(ds)?;
        let mut missing: Vec<String> = needs.iter().filter(|c| !input.has_column(c)).map(|c| c.to_string()).collect();
        let mut frame = self.base(ds)?;
        if let Some(filter) = rule.filter.as_ref().filter(|_| filtered) {
            for c in crate::rulebook::filter::columns(&filter.expr) {
                if !input.has_column(&c) && !missing.contains(&c) {
                    missing.push(c);
                }
            }
            frame = frame.filter(filter.expr.clone());
        }
        let time = ds.time_column().filter(|t| input.has_column(t));
        if let (Some(start), Some(t)) = (self.effective_start(rule), time) {
            frame = frame.filter(col(t).gt_eq(lit(start)));
        }
        if let Some(period) = self.period {
            let Some(t) = time else {
                return Err(format!("the {ds} data has no time column to cut into periods"));
            };
            frame = frame.with_column(period.expr(col(t), self.inputs.options.timezone).alias(PERIOD));
        }
        if !missing.is_empty() {
            let note = self.inputs.imported.as_ref().and_then(|i| i.lacks_note(&missing[0]));
            return Err(format!(
                "the {ds} data lacks column{} {}{}",
                if missing.len() == 1 { "" } else { "s" },
                missing.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                note.map(|n| format!(" ({n})")).unwrap_or_default()
            ));
        }
        Ok(frame)
    }
}

/// A string mapping applied inside a plan.
pub(crate) type StrFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Maps each string through `f`, once per distinct value in a batch.
pub(crate) fn map_strings(e: Expr, f: StrFn) -> Expr {
    e.map(
        move |c: Column| {
            let ca = c.str()?;
            // A batch holds few distinct labels: each is mapped once, and
            // every row then takes its label's result by index, so no row
            // allocates (this ran in every plan, 16% of an audit's CPU time
            // when each row cloned its mapped string).
            let mut labels = BatchLabels::default();
            let mut rows: Vec<IdxSize> = Vec::with_capacity(ca.len());
            for arr in ca.downcast_iter() {
                for (view, label) in arr.views().iter().zip(arr.iter()) {
                    let Some(label) = label else {
                        rows.push(labels.null());
                        continue;
                    };
                    if view.length <= INLINE {
                        // A short string lies whole in its 16-byte view:
                        // the view is the key, no string is hashed or
                        // compared (9% of the 10M audit's CPU time went to
                        // hashing and comparing label strings, measured).
                        rows.push(labels.inline(inline_key(view.as_u128(), view.length), || f(label)));
                    } else {
                        rows.push(labels.long(label, || f(label)));
                    }
                }
            }
            // Gathering from the few mapped values copies views, not strings.
            let values: StringChunked = labels.mapped.iter().map(|m| m.as_deref()).collect();
            let out = values.take(&IdxCa::from_vec(ca.name().clone(), rows))?;
            Ok(out.with_name(ca.name().clone()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::String)),
    )
}

/// The longest string Arrow's string views hold inline.
const INLINE: u32 = 12;

/// An inline view's key: its length (the low 32 bits) and its string's
/// bytes, the bytes past the string cleared so that the key stands for the
/// string whatever the padding holds.
fn inline_key(view: u128, length: u32) -> u128 {
    match length {
        INLINE => view,
        n => view & ((1u128 << (32 + 8 * n)) - 1),
    }
}

/// The distinct labels of one batch, each with its index in `mapped`.
#[derive(Default)]
struct BatchLabels<'a> {
    inline: PlHashMap<u128, IdxSize>,
    long: PlHashMap<&'a str, IdxSize>,
    null: Option<IdxSize>,
    mapped: Vec<Option<String>>,
}

impl<'a> BatchLabels<'a> {
    fn push(mapped: &mut Vec<Option<String>>, value: Option<String>) -> IdxSize {
        mapped.push(value);
        (mapped.len() - 1) as IdxSize
    }

    fn null(&mut self) -> IdxSize {
        *self.null.get_or_insert_with(|| BatchLabels::push(&mut self.mapped, None))
    }

    fn inline(&mut self, key: u128, f: impl FnOnce() -> Option<String>) -> IdxSize {
        *self.inline.entry(key).or_insert_with(|| BatchLabels::push(&mut self.mapped, f()))
    }

    fn long(&mut self, label: &'a str, f: impl FnOnce() -> Option<String>) -> IdxSize {
        *self.long.entry(label).or_insert_with(|| BatchLabels::push(&mut self.mapped, f()))
    }
}

/// Maps each raw label to its provider id; unmapped and ambiguous labels become null.
fn map_labels(e: Expr, taxonomy: Arc<Taxonomy>) -> Expr {
    map_strings(e, Arc::new(move |l| taxonomy.provider(l).map(str::to_string)))
}

/// Maps raw platform values to platform ids (unknown ones kept as written).
fn map_platforms(e: Expr, taxonomy: Arc<Taxonomy>) -> Expr {
    map_strings(e, Arc::new(move |p| Some(taxonomy.platform(p))))
}

/// What the audit saw besides the rules' aggregates, for their evaluation.
#[derive(Default)]
pub struct Seen {
    pub names: Names,
    /// Per platform, the labels no provider maps (or several match), most rows first.
    pub unmapped: BTreeMap<String, Vec<(String, u64)>>,
    /// Per dataset and platform, the providers its labels mapped to.
    pub providers: BTreeMap<(Dataset, String), std::collections::BTreeSet<String>>,
}

impl Seen {
    /// Whether any label of the dataset on the platform mapped to the provider.
    pub fn provider_seen(&self, ds: Dataset, platform: &str, provider: &str) -> bool {
        self.providers.get(&(ds, platform.to_string())).is_some_and(|s| s.contains(provider))
    }

    /// "礼品卡 (35 rows), PayPal (3 rows)" for a platform, or "none".
    pub fn unmapped_text(&self, platform: &str) -> String {
        match self.unmapped.get(platform) {
            Some(list) if !list.is_empty() => {
                list.iter().take(5).map(|(l, n)| format!("{l} ({n} rows)")).collect::<Vec<_>>().join(", ")
            }
            _ => "none".to_string(),
        }
    }
}

/// Merchant names and regions from the merchants dataset, for evidence.
pub type Names = std::collections::HashMap<String, (String, String)>;

/// The results of running a rulebook.
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub unmapped: Vec<UnmappedLabel>,
    /// Things about the data the rulebook does not cover (unknown platforms, ...).
    pub warnings: Vec<String>,
    /// The plans that took the sorted path, with their checks.
    pub checks: Vec<Check>,
}

/// A rule compiled to its plans' handles (and, with `--period`, those of
/// the same plans grouped by period), or already decided as not evaluable.
enum Compiled {
    Plans(Vec<Taken>, Option<Vec<Taken>>),
    NotEvaluable(NotEvaluable),
}

/// How many rules' plans run in one pass over the input. Each pass holds the
/// aggregation state of its rules only, so peak memory does not grow with
/// the number of rules; a rulebook with more rules reads the input once per
/// further `RULES_PER_PASS` rules.
pub const RULES_PER_PASS: usize = 32;

/// Adds the plans of `rules` to `batch`.
fn compile_rules(ctx: &Context, rules: &[Rule], batch: &mut Batch) -> Vec<Compiled> {
    let mut compiled = Vec::new();
    for rule in rules {
        // The pooled plans never group by period; the per-period ones always do.
        compiled.push(match add_plans(rule, &ctx.variant(None, None, false), batch) {
            Ok(handles) => {
                let periods = match ctx.period {
                    // A rule evaluable as a whole but not per period keeps its pooled verdict.
                    Some(_) => add_plans(rule, ctx, batch).ok(),
                    None => None,
                };
                Compiled::Plans(handles, periods)
            }
            Err(reason) => Compiled::NotEvaluable(reason),
        });
    }
    compiled
}

/// Adds a rule's plans to `batch`: each plan built per key once per
/// partition when the batch runs in partitions, every other plan once; a
/// plan whose key the batch takes on the sorted path is added in its sorted
/// form, with its hashed forms to fall back on.
fn add_plans(rule: &Rule, ctx: &Context, batch: &mut Batch) -> Result<Vec<Taken>, NotEvaluable> {
    // One build of the rule's plans per share, for each partition count a
    // key may have (one build when the batch runs in one pass); plan i of
    // every build is the same plan over another share of its key.
    let mut builds = Vec::new();
    for of in batch.partition_counts() {
        let mut shares = Vec::new();
        for part in crate::exec::shares_in(of) {
            shares.push(rule.spec.plans(rule, &ctx.variant(ctx.period, part, false))?.into_iter());
        }
        builds.push((of, shares));
    }
    let mut sorted = match batch.sorts_any() {
        true => Some(rule.spec.plans(rule, &ctx.variant(ctx.period, None, true))?.into_iter()),
        false => None,
    };
    let mut handles = Vec::new();
    loop {
        // Every build advances together, whether its plan is split or not.
        let mut by_count: Vec<(usize, Vec<Plan>)> = builds
            .iter_mut()
            .map(|(of, shares)| (*of, shares.iter_mut().filter_map(Iterator::next).collect()))
            .collect();
        let on_sorted = sorted.as_mut().and_then(Iterator::next);
        // The batch's own count comes first: its first share is the plan.
        let Some(first) = by_count.first_mut().and_then(|(_, plans)| plans.first()) else { break };
        let (name, then) = (first.name.clone(), first.then.clone());
        let Some((key, merge)) = first.split.clone() else {
            let first = by_count.swap_remove(0).1.remove(0);
            let handle = match name {
                Some(name) => batch.add_named(name, first.frame),
                None => batch.add(first.frame),
            };
            handles.push(Taken { handle, then });
            continue;
        };
        let of = batch.partitions_of(key);
        // Every count a key may have was built above.
        let Some((_, plans)) = by_count.into_iter().find(|(n, _)| *n == of) else {
            return Err(format!("its plans keyed on `{key}` were not built in {of} partitions"));
        };
        let frames: Vec<LazyFrame> = plans.into_iter().map(|p| p.frame).collect();
        let handle = match (on_sorted.filter(|p| p.sorted && batch.sorts(key)), name) {
            (Some(Plan { flags: Some(flags), .. }), _) => batch.add_flags(flags, frames, merge, &rule.id, key),
            (Some(s), _) => batch.add_sorted(s.frame, frames, merge, &rule.id, key),
            (None, Some(name)) => batch.add_named_shares(name, frames, merge),
            (None, None) => batch.add_shares(frames, merge),
        };
        handles.push(Taken { handle, then });
    }
    Ok(handles)
}

/// The keys a rule's plans are partitioned on (empty: none grows with a key).
pub fn split_keys(rule: &Rule, ctx: &Context) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = match rule.spec.plans(rule, ctx) {
        Ok(plans) => plans.into_iter().filter_map(|p| p.split.map(|s| s.0)).collect(),
        Err(_) => Vec::new(),
    };
    keys.dedup();
    keys
}

/// The plans of the label counts (each dataset's, with its label columns)
/// and the merchant names, added to `batch`.
type Extras = (Vec<(Dataset, Vec<&'static str>, Handle)>, Option<Handle>);

/// Adds the label counts and the merchant names to `batch`.
fn compile_extras(ctx: &Context, batch: &mut Batch) -> Extras {
    // Label counts for the unmapped-label report, from the same pass: one
    // plan per dataset, its rows counted per platform and every label column
    // at once (few combinations), then summed per column ([`read_labels`]).
    // A plan per column read the dataset again for each (0.3 s each for 10M
    // transactions, measured).
    let mut label_plans = Vec::new();
    for ds in [Dataset::Transactions, Dataset::Checkout] {
        let Some(input) = ctx.inputs.get(ds) else { continue };
        let sources: Vec<&'static str> =
            MAPPED.iter().filter(|(d, s, _)| *d == ds && input.has_column(s)).map(|(_, s, _)| *s).collect();
        if sources.is_empty() {
            continue;
        }
        // The platforms as logged: mapped on the result ([`read_labels`]),
        // not on every row.
        let keys: Vec<Expr> = std::iter::once(col("platform")).chain(sources.iter().map(|s| col(*s))).collect();
        let plan = input.accepted().group_by(keys).agg([len().cast(DataType::UInt64).alias("n")]);
        label_plans.push((ds, sources, batch.add(plan)));
    }
    let names = ctx
        .inputs
        .get(Dataset::Merchants)
        .map(|m| batch.add(m.accepted().select([col("merchant_id"), col("name"), col("region")])));
    (label_plans, names)
}

/// The optimised query plan of an audit (and the caller's plans in `batch`),
/// as polars prints it.
pub fn explain(ctx: &Context, mut batch: Batch) -> PolarsResult<String> {
    compile_rules(ctx, &ctx.rulebook.rules, &mut batch);
    compile_extras(ctx, &mut batch);
    batch.explain()
}

/// Runs every rule, the first [`RULES_PER_PASS`] together with the caller's
/// plans already in `batch` in one streaming pass, the rest in further passes
/// of as many; the caller takes its own results from the `Results` by the
/// handles it was given.
pub fn run(ctx: &Context, mut batch: Batch) -> anyhow::Result<(Outcome, Results)> {
    let rules = &ctx.rulebook.rules;
    let first = rules.len().min(RULES_PER_PASS);
    let sibling = batch.sibling();
    let compiled = compile_rules(ctx, &rules[..first], &mut batch);
    let (label_plans, names) = compile_extras(ctx, &mut batch);
    let mut results = anyhow::Context::context(batch.run(), "running the audit")?;
    let mut checks = results.checks().to_vec();
    let names = match names {
        Some(h) => merchant_names(results.take(h)?)?,
        None => Names::new(),
    };
    let labels = read_labels(ctx, &label_plans, &mut results)?;
    let (unmapped, platforms) = (labels.unmapped, labels.platforms);
    let seen = Seen { names, unmapped: labels.by_platform, providers: labels.providers };
    let mut findings = evaluate(ctx, &rules[..first], compiled, &mut results, &seen)?;
    for chunk in rules[first..].chunks(RULES_PER_PASS) {
        let mut pass = sibling.sibling();
        let compiled = compile_rules(ctx, chunk, &mut pass);
        let mut r = anyhow::Context::context(pass.run(), "running the audit")?;
        checks.extend_from_slice(r.checks());
        findings.extend(evaluate(ctx, chunk, compiled, &mut r, &seen)?);
    }
    let mut warnings = Vec::new();
    for p in platforms {
        if !ctx.rulebook.knows_platform(&p) {
            warnings.push(format!(
                "platform `{p}` appears in the data but the rulebook configures it nowhere \
                 (no [platforms] entry or affiliation): its groups have no affiliated provider"
            ));
        }
    }
    for u in unmapped.iter().filter(|u| !u.ambiguous.is_empty()) {
        warnings.push(format!(
            "label `{}` in {}.{} matches {} equally well and is left unmapped ({} rows)",
            u.label,
            u.dataset,
            u.column,
            u.ambiguous.join(" and "),
            u.rows
        ));
    }
    Ok((Outcome { findings, unmapped, warnings, checks }, results))
}

/// Every aggregate table of an audit, labelled: each plan of each rule
/// (`<rule id>#<n>`, and `<rule id>@period#<n>` per period), the label
/// counts (`labels:<dataset>.<column>+<column>…`) and the merchant names
/// (`merchants`). These are what an engine produces and the evaluation
/// reads, so two engines agree on an audit exactly when they agree here.
pub fn tables(ctx: &Context, batch: Batch) -> anyhow::Result<Vec<(String, DataFrame)>> {
    let mut out = Vec::new();
    let sibling = batch.sibling();
    let mut first = Some(batch);
    for chunk in ctx.rulebook.rules.chunks(RULES_PER_PASS) {
        let mut batch = first.take().unwrap_or_else(|| sibling.sibling());
        let compiled = compile_rules(ctx, chunk, &mut batch);
        let mut handles = Vec::new();
        for (rule, c) in chunk.iter().zip(compiled) {
            if let Compiled::Plans(pooled, periods) = c {
                handles.extend(pooled.into_iter().enumerate().map(|(i, t)| (format!("{}#{i}", rule.id), t)));
                for (i, t) in periods.into_iter().flatten().enumerate() {
                    handles.push((format!("{}@period#{i}", rule.id), t));
                }
            }
        }
        let extras = (out.is_empty()).then(|| compile_extras(ctx, &mut batch));
        let mut results = anyhow::Context::context(batch.run(), "running the audit")?;
        for (label, t) in handles {
            out.push((label, t.take(&mut results)?));
        }
        if let Some((labels, names)) = extras {
            for (ds, sources, h) in labels {
                out.push((format!("labels:{ds}.{}", sources.join("+")), results.take(h)?));
            }
            if let Some(h) = names {
                out.push(("merchants".to_string(), results.take(h)?));
            }
        }
    }
    Ok(out)
}

/// Evaluates `rules` from their compiled plans' results.
fn evaluate(
    ctx: &Context,
    rules: &[Rule],
    compiled: Vec<Compiled>,
    results: &mut Results,
    seen: &Seen,
) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for (rule, c) in rules.iter().zip(compiled) {
        let finding = match c {
            Compiled::NotEvaluable(reason) => {
                let mut f = Finding::not_evaluable(rule, format!("Not evaluable: {reason}."));
                f.presentation = rule.spec.presentation();
                f
            }
            Compiled::Plans(handles, periods) => {
                let frames = take_all(handles, results)?;
                let mut f = rule
                    .spec
                    .evaluate(rule, ctx, frames, seen)
                    .with_context(|| format!("evaluating rule {}", rule.id))?;
                if let (Some(handles), Some(period)) = (periods, ctx.period) {
                    let frames = take_all(handles, results)?;
                    let mut per = Vec::new();
                    for (start, frames) in periods::split(&frames)? {
                        let pf = rule
                            .spec
                            .evaluate(rule, ctx, frames, seen)
                            .with_context(|| format!("evaluating rule {} in {}", rule.id, period.label(start)))?;
                        per.push((start, pf));
                    }
                    periods::attach(&mut f, per, period);
                    periods::project(&mut f, rule, period);
                }
                f
            }
        };
        findings.push(finding);
    }
    Ok(findings)
}

/// What the per-platform label counts say.
struct Labels {
    unmapped: Vec<UnmappedLabel>,
    by_platform: BTreeMap<String, Vec<(String, u64)>>,
    providers: BTreeMap<(Dataset, String), std::collections::BTreeSet<String>>,
    platforms: Vec<String>,
}

/// Per-platform label counts → the unmapped (or ambiguous) labels overall
/// and per platform, the providers seen per platform, and every platform.
fn read_labels(
    ctx: &Context,
    label_plans: &[(Dataset, Vec<&'static str>, Handle)],
    results: &mut Results,
) -> anyhow::Result<Labels> {
    let mut overall: BTreeMap<(Dataset, &str, String), (u64, Vec<String>)> = BTreeMap::new();
    let mut by_platform: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut providers: BTreeMap<(Dataset, String), std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut platforms: Vec<String> = Vec::new();
    let mut counts = Vec::new();
    for (ds, sources, h) in label_plans {
        let all = results.take(*h)?;
        for source in sources {
            let per = all.clone().lazy().group_by([col("platform"), col(*source).alias("label")]);
            counts.push((ds, source, per.agg([col("n").sum().cast(DataType::UInt64)]).collect()?));
        }
    }
    for (ds, source, df) in counts {
        let plats = util::strings(&df, "platform")?.into_iter().map(|p| ctx.taxonomy.platform(&p));
        let labels = df.column("label")?.str()?.clone();
        let ns = util::counts(&df, "n")?;
        for ((platform, label), n) in plats.into_iter().zip(labels.iter()).zip(ns) {
            if !platforms.contains(&platform) {
                platforms.push(platform.clone());
            }
            let Some(label) = label else { continue };
            let ambiguous = match ctx.taxonomy.map(label) {
                Ok(Some(p)) => {
                    providers.entry((*ds, platform)).or_default().insert(p.to_string());
                    continue;
                }
                Ok(None) => Vec::new(),
                Err(e) => e.providers,
            };
            let e = overall.entry((*ds, *source, label.to_string())).or_insert((0, ambiguous));
            e.0 += n;
            *by_platform.entry(platform).or_default().entry(label.to_string()).or_default() += n;
        }
    }
    let unmapped = overall
        .into_iter()
        .map(|((ds, column, label), (rows, ambiguous))| UnmappedLabel {
            dataset: ds.name().into(),
            column: column.into(),
            label,
            rows,
            ambiguous,
        })
        .collect();
    let by_platform = by_platform
        .into_iter()
        .map(|(p, labels)| {
            let mut list: Vec<(String, u64)> = labels.into_iter().collect();
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (p, list)
        })
        .collect();
    platforms.sort();
    Ok(Labels { unmapped, by_platform, providers, platforms })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(values: &[Option<&str>]) -> Vec<Option<String>> {
        let df = df!("label" => values).unwrap();
        // Upper-cases labels, drops "x": a mapping with unmapped labels.
        let f: StrFn = Arc::new(|l: &str| (l != "x").then(|| l.to_uppercase()));
        let out = df.lazy().select([map_strings(col("label"), f)]).collect().unwrap();
        out.column("label").unwrap().str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn labels_map_row_by_row_with_nulls_kept() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            mapped(&[Some("a"), None, Some("b"), Some("a"), Some("x")]),
            vec![s("A"), None, s("B"), s("A"), None]
        );
        assert_eq!(mapped(&[None, None]), vec![None, None]);
        assert_eq!(mapped(&[]), Vec::<Option<String>>::new());
    }

    #[test]
    fn short_and_long_labels_map_alike_across_chunks() {
        let s = |v: &str| Some(v.to_string());
        // 12 bytes lie inline in a view, 13 do not; "" and "ab" and "ab\0"
        // differ in length only.
        let first = df!("label" => [Some("twelve_bytes"), Some("thirteen_byte"), Some(""), None]).unwrap();
        let second = df!("label" => [Some("thirteen_byte"), Some("ab"), Some("ab\0"), Some("twelve_bytes")]).unwrap();
        let mut both = first.vstack(&second).unwrap();
        assert_eq!(both.column("label").unwrap().n_chunks(), 2);
        both = both
            .lazy()
            .select([map_strings(col("label"), Arc::new(|l: &str| Some(format!("<{l}>"))))])
            .collect()
            .unwrap();
        let out: Vec<Option<String>> =
            both.column("label").unwrap().str().unwrap().iter().map(|v| v.map(str::to_string)).collect();
        let want =
            ["<twelve_bytes>", "<thirteen_byte>", "<>", "", "<thirteen_byte>", "<ab>", "<ab\0>", "<twelve_bytes>"];
        let want: Vec<Option<String>> = want.iter().map(|w| if w.is_empty() { None } else { s(w) }).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn an_inline_key_ignores_the_bytes_past_its_string() {
        // Length 2, then "ab", then bytes a writer need not have cleared.
        let clean = 2u128 | (u128::from(b'a') << 32) | (u128::from(b'b') << 40);
        let dirty = clean | (0xffu128 << 48) | (0x11u128 << 120);
        assert_eq!(inline_key(dirty, 2), clean);
        assert_eq!(inline_key(dirty, INLINE), dirty);
        assert_ne!(inline_key(clean, 2), inline_key(clean | (3u128 << 48), 3));
    }
}
