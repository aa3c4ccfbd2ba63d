//! Runs several lazy plans together on polars' streaming engine, so that
//! plans over the same scans share one read of the input. A [`Batch`] hands
//! out a [`Handle`] for each plan added, and each result is taken back by its
//! handle, never by position.
//!
//! A batch may run in hash partitions (`Batch::partitioned`): a plan whose
//! state grows with a high-cardinality key (one group per session, per
//! merchant, per transaction id) is added as one variant per partition, each
//! keeping only the rows whose key hashes to it ([`Part::keeps`]). The batch
//! then reads the input once per partition, holding one partition's keys at a
//! time, and merges the partial results ([`Merge`]). Every key falls in
//! exactly one partition and keeps its own value within it, so the merged
//! result is exact whatever the hash does. A key may take fewer partitions
//! than the batch (`Batch::fewer_partitions`): its plans then read the input
//! fewer times.
//!
//! When the rows come sorted by such a key, a plan may instead take the
//! sorted path ([`Stage::sorted`]): one pass whose group-by holds one key's
//! rows at a time. The same pass checks that the key really was sorted; a
//! plan whose check fails is discarded and run again on the hashed path
//! ([`Batch::add_sorted`]), so its result is never used.

use std::sync::Arc;

use polars::prelude::*;
use polars_plan::plans::{HintIR, Sorted};

use crate::contract::Dataset;

mod fuse;

pub use fuse::{Flags, Then};

/// Produces the results of plans on an engine other than polars' own
/// (`audit --engine`): it reads the same plans, so the kinds build them once
/// whatever runs them.
pub trait Runner: Send + Sync {
    /// The result of each plan, in order.
    fn collect(&self, plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>>;
}

/// Collects plans on `runner`, or on polars' streaming engine in one pass.
fn collect_on(runner: Option<&dyn Runner>, plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
    match runner {
        Some(r) => r.collect(plans),
        None => collect_all(plans),
    }
}

/// Collects every plan in one pass.
pub fn collect_all(plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
    let Some(first) = plans.first() else { return Ok(Vec::new()) };
    let opt = first.get_current_optimizations();
    let dsl: Vec<DslPlan> = plans.into_iter().map(|lf| lf.logical_plan).collect();
    LazyFrame::collect_all_with_engine(dsl, Engine::Streaming, opt)
}

/// One share of a key's values: pass `index` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub of: usize,
}

impl Part {
    /// Whether a row belongs to this share, by the hash of its `key`: an
    /// integer column by its value's bytes (no text formatting per row), any
    /// other column by its text. Null keys fall in the first share.
    pub fn keeps(self, key: Expr) -> Expr {
        let Part { index, of } = self;
        let share = move |h: Option<u64>| Some(h.map_or(0, |h| (h % of as u64) as usize) == index);
        key.map(
            move |c: Column| {
                let out: BooleanChunked = if c.dtype().is_integer() {
                    let ints = c.cast(&DataType::Int64)?;
                    ints.i64()?.iter().map(|v| share(v.map(|v| fnv1a(&v.to_le_bytes())))).collect()
                } else {
                    let text = c.cast(&DataType::String)?;
                    text.str()?.iter().map(|v| share(v.map(|s| fnv1a(s.as_bytes())))).collect()
                };
                Ok(out.with_name(c.name().clone()).into_column())
            },
            |_, f| Ok(Field::new(f.name().clone(), DataType::Boolean)),
        )
    }
}

/// The rows of `frame` in `part`'s share of `key`; every row when the audit
/// is not partitioned.
pub fn share(frame: LazyFrame, part: Option<Part>, key: &str) -> LazyFrame {
    match part {
        Some(p) => frame.filter(p.keeps(col(key))),
        None => frame,
    }
}

/// The column of a sorted plan's result that carries its check (on one row
/// of its own, null on the result's rows).
const CHECK: &str = "__hutong_sorted";

/// The column of a sorted stage saying that a key's rows disagree on
/// another group key.
const MIXED: &str = "__hutong_mixed";

/// The first stage of an aggregation over a high-cardinality key: one row
/// per value of `key` and of `others` (the other group keys), with `aggs`
/// over the columns `rows` adds to each row.
#[derive(Clone)]
pub struct Stage {
    /// The dataset whose accepted rows the stage reads (a subset of them,
    /// with columns added): what a pass proved of their order
    /// (`ingest::order`) holds for the stage's rows too.
    pub dataset: Dataset,
    pub key: &'static str,
    pub others: Vec<Expr>,
    /// Row-level columns the aggregates read, computed before the group-by:
    /// on the sorted path an expression inside an aggregate (`(a == b).any()`)
    /// is evaluated group by group, more slowly than over the rows with a
    /// plain `col(..).any()` after (the five sorted plans of the 10M audit:
    /// 13.2 s with their flags inside, 11.7–12.4 s with them row by row).
    pub rows: Vec<Expr>,
    pub aggs: Vec<Expr>,
}

/// Per group, whether any of its rows has each of the boolean `rows`
/// ([`Stage::rows`]), under the row column's own name.
pub fn any_per_group(rows: &[Expr]) -> PolarsResult<Vec<Expr>> {
    rows.iter().map(|r| r.clone().meta().output_name().map(|n| col(n.clone()).any(true).alias(n))).collect()
}

/// `frame` with `rows` added.
fn with_rows(frame: LazyFrame, rows: Vec<Expr>) -> LazyFrame {
    match rows.is_empty() {
        true => frame,
        false => frame.with_columns(rows),
    }
}

impl Stage {
    /// A stage of flags: per key, whether any of its rows has each of the
    /// boolean `rows` (named as they are). Such stages of several rules over
    /// the same rows run as one ([`Flags`]).
    pub fn flags(dataset: Dataset, key: &'static str, others: Vec<Expr>, rows: Vec<Expr>) -> PolarsResult<Stage> {
        let aggs = any_per_group(&rows)?;
        Ok(Stage { dataset, key, others, rows, aggs })
    }

    /// The stage by hash group-by over `part`'s share of the keys (every
    /// key when `None`), then `then` over its result.
    pub fn hashed(self, frame: LazyFrame, part: Option<Part>, then: impl FnOnce(LazyFrame) -> LazyFrame) -> LazyFrame {
        let Stage { key, mut others, rows, aggs, .. } = self;
        others.push(col(key));
        then(with_rows(share(frame, part, key), rows).group_by(others).agg(aggs))
    }

    /// The stage over rows sorted by `key`, then `then`: the group-by takes
    /// each run of equal keys in input order as a group, so it holds one
    /// key's rows at a time instead of every key's. That is exact only if
    /// every key forms one run, and the result carries its own check: the
    /// keys of the runs, in order, are sorted (so no key has two runs) and
    /// not null, and no key's rows disagree on the other group keys (which
    /// the hashed stage groups by, and this one takes from each run's first
    /// row). The plan's result has one row more, with the check in
    /// [`CHECK`]; [`Batch`] takes it off, and runs the plan's hashed form
    /// instead when the check fails.
    ///
    /// The other group keys that are columns among `constant` (proven to
    /// hold one value per key over every accepted row, `ingest::order`) are
    /// not compared: a third of the sorted plans' time.
    pub fn sorted(
        self,
        frame: LazyFrame,
        then: impl FnOnce(LazyFrame) -> LazyFrame,
        constant: &[String],
    ) -> PolarsResult<LazyFrame> {
        let (stage, check) = self.sorted_parts(frame, constant)?;
        checked(then(stage), check)
    }

    /// The sorted stage in the hashed stage's column order, and its
    /// one-row check, both over the one group-by ([`Stage::sorted`]).
    fn sorted_parts(self, frame: LazyFrame, constant: &[String]) -> PolarsResult<(LazyFrame, LazyFrame)> {
        let Stage { key, others, rows, aggs, .. } = self;
        let frame = with_rows(frame, rows);
        let names =
            others.iter().chain(&aggs).map(|e| e.clone().meta().output_name()).collect::<PolarsResult<Vec<_>>>()?;
        let mut agg: Vec<Expr> = others.iter().map(|e| e.clone().first()).collect();
        agg.extend(aggs);
        // Min against max and nulls against values: no per-group hashing.
        // Comparing each row with the row before it (polars' streaming
        // `shift`) instead was faster, but its memory grew with the input:
        // the 50M default audit's heap tripled (docs/performance.md).
        let varies = |e: &Expr| {
            let e = e.clone();
            e.clone().min().neq_missing(e.clone().max()).or(e.clone().null_count().gt(lit(0)).and(e.count().gt(lit(0))))
        };
        let proven = |e: &&Expr| matches!(e, Expr::Column(name) if constant.iter().any(|c| c == name.as_str()));
        let mixed = others.iter().filter(|e| !proven(e)).map(varies).reduce(Expr::or);
        if let Some(mixed) = &mixed {
            agg.push(mixed.clone().alias(MIXED));
        }
        let hint = HintIR::Sorted(Arc::from([Sorted { column: key.into(), descending: None, nulls_last: None }]));
        // Cached: the result and the check (and, fused, every rule's
        // aggregation) read the one group-by. Without it polars ran the
        // group-by once per reader; `cse` shares only the scan below it.
        let stage = frame.hint(hint)?.group_by([col(key)]).agg(agg).cache();
        // The hashed stage's columns, in its order.
        let n_others = others.len();
        let order: Vec<Expr> = names[..n_others]
            .iter()
            .map(|n| col(n.clone()))
            .chain([col(key)])
            .chain(names[n_others..].iter().map(|n| col(n.clone())))
            .collect();
        let mut check = col(key).is_sorted(None, None).and(col(key).null_count().eq(lit(0)));
        if mixed.is_some() {
            check = check.and(col(MIXED).not().all(true));
        }
        Ok((stage.clone().select(order), stage.select([check.alias(CHECK)])))
    }
}

/// `result` with the one-row `check` stacked under it, in a column of its own.
fn checked(result: LazyFrame, check: LazyFrame) -> PolarsResult<LazyFrame> {
    let schema = result.clone().collect_schema()?;
    let nulls = schema.iter().map(|(name, dtype)| lit(NULL).cast(dtype.clone()).alias(name.clone()));
    let body = result.with_column(lit(NULL).cast(DataType::Boolean).alias(CHECK));
    let tail = check.select(nulls.chain([col(CHECK)]).collect::<Vec<_>>());
    // Unordered: an ordered union would read all of `result` first, and the
    // stage that both read would be held whole for `check` meanwhile.
    concat([body, tail], UnionArgs { maintain_order: false, ..UnionArgs::default() })
}

/// A sorted plan's result without its check row, and whether the check held.
fn unchecked(df: DataFrame) -> PolarsResult<(DataFrame, bool)> {
    let flags = df.column(CHECK)?.bool()?.clone();
    let held = flags.iter().flatten().next().unwrap_or(false);
    let result = df.filter(&df.column(CHECK)?.is_null())?.drop(CHECK)?;
    Ok((result, held))
}

/// Returns the memory jemalloc holds freed to the system, so that the next
/// plan of a bounded batch starts from what is live. A no-op where jemalloc
/// is not the allocator in use (its arenas are then empty).
pub fn release_memory() {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena.
    let name = c"arena.4096.purge";
    // SAFETY: a void mallctl: no old or new value is read or written.
    unsafe {
        tikv_jemalloc_sys::mallctl(name.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0);
    }
}

/// FNV-1a: fixed, fast, and the same in every run, so a key's share never
/// depends on the process (std's hasher is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits down: `% of` with a small `of` would otherwise see
    // mostly the last byte's influence.
    h ^ (h >> 29) ^ (h >> 47)
}

/// How the partial results of a partitioned plan combine into its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The partition key is among the result's group keys: each partition
    /// holds whole groups, so the partial results are stacked.
    Concat,
    /// The result aggregates over the partition key: rows with equal values
    /// in every other column are one group, and these columns are summed.
    Sum(Vec<String>),
}

impl Merge {
    /// The sums of the named columns over groups of the others.
    pub fn sum<I: IntoIterator<Item = S>, S: Into<String>>(columns: I) -> Merge {
        Merge::Sum(columns.into_iter().map(Into::into).collect())
    }

    fn apply(&self, frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
        let Some(first) = frames.first() else { return Ok(DataFrame::empty()) };
        let schema = first.schema().clone();
        let all = concat(frames.into_iter().map(IntoLazy::lazy).collect::<Vec<_>>(), UnionArgs::default())?;
        match self {
            Merge::Concat => all.collect(),
            Merge::Sum(values) => {
                let mut keys = Vec::new();
                let mut sums = Vec::new();
                for (name, dtype) in schema.iter() {
                    if values.iter().any(|v| v == name.as_str()) {
                        // Summing narrows nothing: the partial sums keep their type.
                        sums.push(col(name.clone()).sum().cast(dtype.clone()).alias(name.clone()));
                    } else {
                        keys.push(col(name.clone()));
                    }
                }
                let order: Vec<Expr> = schema.iter_names().map(|n| col(n.clone())).collect();
                let merged = if keys.is_empty() { all.select(sums) } else { all.group_by(keys).agg(sums) };
                merged.select(order).collect()
            }
        }
    }
}

/// A plan of a batch: run once, or once per partition, or on the sorted
/// path with its hashed form to run if the sorted one's check fails.
enum Entry {
    Whole(Box<LazyFrame>),
    Split(Vec<LazyFrame>, Merge),
    Sorted(Box<LazyFrame>, Box<Entry>),
    /// A sorted stage of flags, run as one plan with the others of its name.
    Flags(Box<Flags>, Box<Entry>),
    /// A sorted plan whose result is part of another entry's fused plan's,
    /// with its hashed form.
    Fused(Box<Entry>),
    /// No plan of its own to run: its result comes from another entry's.
    Elsewhere,
}

/// A fused plan: the entry that runs it, and each member's entry, place
/// in it and result columns.
struct Fusion {
    at: usize,
    members: Vec<(usize, Vec<PlSmallStr>)>,
}

/// The batch's entries with every stage of flags resolved: alone, as a
/// sorted plan, when no other stage has its name; else all of that name as
/// one plan, run by the first member's entry. A stage whose sorted form
/// cannot be built runs hashed (the hashed form's run reports the cause).
fn resolve_flags(entries: Vec<Entry>) -> (Vec<Entry>, Vec<Fusion>) {
    let mut by_name: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if let Entry::Flags(f, _) = e {
            match by_name.iter_mut().find(|(n, _)| *n == f.name) {
                Some((_, members)) => members.push(i),
                None => by_name.push((f.name.clone(), vec![i])),
            }
        }
    }
    let mut slots: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    let mut fusions = Vec::new();
    for (_, at) in by_name {
        let mut members: Vec<(usize, Flags, Entry)> = Vec::new();
        for i in at {
            if let Some(Entry::Flags(flags, fallback)) = slots[i].take() {
                members.push((i, *flags, *fallback));
            }
        }
        let flags: Vec<&Flags> = members.iter().map(|(_, f, _)| f).collect();
        let fused = match flags.len() {
            0 | 1 => None,
            _ => fuse::fuse(&flags).ok(),
        };
        match fused {
            Some((plan, names)) => {
                let mut placed = Vec::new();
                for (n, ((i, _, fallback), names)) in members.into_iter().zip(names).enumerate() {
                    slots[i] = Some(match n {
                        0 => Entry::Sorted(Box::new(plan.clone()), Box::new(fallback)),
                        _ => Entry::Fused(Box::new(fallback)),
                    });
                    placed.push((i, names));
                }
                fusions.push(Fusion { at: placed[0].0, members: placed });
            }
            None => {
                for (i, flags, fallback) in members {
                    slots[i] = Some(match flags.alone() {
                        Ok(plan) => Entry::Sorted(Box::new(plan), Box::new(fallback)),
                        Err(_) => fallback,
                    });
                }
            }
        }
    }
    (slots.into_iter().map(|s| s.unwrap_or(Entry::Elsewhere)).collect(), fusions)
}

/// Plans to be run together in one streaming pass (or one per partition),
/// or one at a time.
pub struct Batch {
    entries: Vec<Entry>,
    partitions: usize,
    one_at_a_time: bool,
    /// The keys whose plans take the sorted path.
    sorted: Vec<&'static str>,
    /// The sorted plans, by entry: their rule and key.
    labels: Vec<(usize, String, &'static str)>,
    /// Keys whose plans run in fewer partitions than `partitions`: keys with
    /// few distinct values, for which speed asks fewer passes
    /// (`budget::key_partitions`).
    fewer: Vec<(&'static str, usize)>,
    /// The engine that runs the plans, when not polars.
    runner: Option<Arc<dyn Runner>>,
    /// The plans added by name ([`Batch::add_named`]), each with its handle.
    named: Vec<(String, Handle)>,
    /// How many handles were given out for each entry: a result is taken
    /// that many times.
    takers: Vec<usize>,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

/// Where the result of one plan of a [`Batch`] will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(usize);

impl Batch {
    /// A batch run in one pass.
    pub fn new() -> Batch {
        Batch::partitioned(1)
    }

    /// A batch whose split plans run in `partitions` passes (at least one).
    pub fn partitioned(partitions: usize) -> Batch {
        Batch {
            entries: Vec::new(),
            partitions: partitions.max(1),
            one_at_a_time: false,
            sorted: Vec::new(),
            labels: Vec::new(),
            fewer: Vec::new(),
            runner: None,
            named: Vec::new(),
            takers: Vec::new(),
        }
    }

    /// The same batch with its plans run by `runner` instead of polars.
    pub fn running_on(self, runner: Option<Arc<dyn Runner>>) -> Batch {
        Batch { runner, ..self }
    }

    /// A batch whose plans run one at a time, each reading the input itself,
    /// with freed memory returned to the system after each: memory holds one
    /// plan's state, not every plan's, and no plan's input waits in a buffer
    /// for a slower one (polars' shared scans buffer without bound). Split
    /// plans run once per partition, as in [`Batch::partitioned`].
    pub fn bounded(partitions: usize) -> Batch {
        Batch { one_at_a_time: true, ..Batch::partitioned(partitions) }
    }

    /// An empty batch run the same way as this one.
    pub fn sibling(&self) -> Batch {
        Batch {
            entries: Vec::new(),
            partitions: self.partitions,
            one_at_a_time: self.one_at_a_time,
            sorted: self.sorted.clone(),
            labels: Vec::new(),
            fewer: self.fewer.clone(),
            runner: self.runner.clone(),
            named: Vec::new(),
            takers: Vec::new(),
        }
    }

    /// The same batch with the plans keyed on `keys` taken on the sorted path.
    pub fn sorting(self, keys: Vec<&'static str>) -> Batch {
        Batch { sorted: keys, ..self }
    }

    /// Whether plans keyed on `key` take the sorted path.
    pub fn sorts(&self, key: &str) -> bool {
        self.sorted.contains(&key)
    }

    /// Whether any key takes the sorted path.
    pub fn sorts_any(&self) -> bool {
        !self.sorted.is_empty()
    }

    /// The same batch with the plans keyed on each of `keys` run in the
    /// partitions given beside it, when fewer than the batch's.
    pub fn fewer_partitions(self, keys: Vec<(&'static str, usize)>) -> Batch {
        let fewer = keys.into_iter().filter(|(_, k)| *k < self.partitions).map(|(key, k)| (key, k.max(1))).collect();
        Batch { fewer, ..self }
    }

    /// The partitions of the plans keyed on `key`.
    pub fn partitions_of(&self, key: &str) -> usize {
        self.fewer.iter().find(|(k, _)| *k == key).map_or(self.partitions, |(_, k)| *k)
    }

    /// Every partition count a keyed plan of this batch may run in, the
    /// batch's own first.
    pub fn partition_counts(&self) -> Vec<usize> {
        let mut counts = vec![self.partitions];
        for (_, k) in &self.fewer {
            if !counts.contains(k) {
                counts.push(*k);
            }
        }
        counts
    }

    /// The shares of a key, one per pass, or none when the batch runs in one pass.
    pub fn parts(&self) -> Option<Vec<Part>> {
        (self.partitions > 1).then(|| (0..self.partitions).map(|index| Part { index, of: self.partitions }).collect())
    }

    /// The entry of a keyed plan's variants, one per share of its key: run
    /// once when there is one, else once per partition.
    fn keyed_entry(&self, mut variants: Vec<LazyFrame>, merge: Merge) -> Entry {
        if variants.len() == 1 {
            return Entry::Whole(Box::new(variants.remove(0)));
        }
        debug_assert!(variants.len() <= self.partitions);
        Entry::Split(variants, merge)
    }

    /// Adds a keyed plan's variants, one per share of its key, whose
    /// results combine by `merge`.
    pub fn add_shares(&mut self, variants: Vec<LazyFrame>, merge: Merge) -> Handle {
        let entry = self.keyed_entry(variants, merge);
        self.push(entry)
    }

    /// Adds an entry, taken back once.
    fn push(&mut self, entry: Entry) -> Handle {
        self.entries.push(entry);
        self.takers.push(1);
        Handle(self.entries.len() - 1)
    }

    /// Adds a plan run once; its result is taken back with the handle returned.
    pub fn add(&mut self, plan: LazyFrame) -> Handle {
        self.push(Entry::Whole(Box::new(plan)))
    }

    /// Adds a plan run once for every rule that needs it: a plan added under
    /// a `name` already added is not added again, and each caller takes
    /// its own copy of the one result. The name must say everything the
    /// plan is built from (see `engine::Context::common`): plans are never
    /// compared, only their names.
    pub fn add_named(&mut self, name: String, plan: LazyFrame) -> Handle {
        self.named_entry(name, |batch| batch.add(plan))
    }

    /// As [`Batch::add_named`], for a keyed plan's variants (as
    /// [`Batch::add_shares`] adds them).
    pub fn add_named_shares(&mut self, name: String, variants: Vec<LazyFrame>, merge: Merge) -> Handle {
        self.named_entry(name, |batch| batch.add_shares(variants, merge))
    }

    /// The handle of the entry added under `name`, one more taker for it;
    /// else the entry `add` adds, under that name.
    fn named_entry(&mut self, name: String, add: impl FnOnce(&mut Batch) -> Handle) -> Handle {
        if let Some((_, h)) = self.named.iter().find(|(n, _)| *n == name) {
            let h = *h;
            self.takers[h.0] += 1;
            return h;
        }
        let h = add(self);
        self.named.push((name, h));
        h
    }

    /// Adds the plan of `stage` then `then` over `frame`: on the sorted path
    /// when the batch sorts its key (see [`Batch::add_sorted`]), else hashed,
    /// one variant per share of its key.
    pub fn add_stage(
        &mut self,
        frame: &LazyFrame,
        stage: impl Fn() -> Stage,
        then: impl Fn(LazyFrame) -> LazyFrame,
        merge: Merge,
        rule: &str,
    ) -> Handle {
        let key = stage().key;
        // A sorted form that cannot be built (its schema does not resolve)
        // leaves the hashed one, whose run reports the cause.
        let sorted = match self.sorts(key) {
            // Its other keys are all compared: nothing here proves them.
            true => stage().sorted(frame.clone(), &then, &[]).ok(),
            false => None,
        };
        let hashed = shares_in(self.partitions_of(key)).into_iter().map(|p| stage().hashed(frame.clone(), p, &then));
        match sorted {
            Some(sorted) => self.add_sorted(sorted, hashed.collect(), merge, rule, key),
            None => self.add_shares(hashed.collect(), merge),
        }
    }

    /// Adds a plan on the sorted path (built by [`Stage::sorted`]) and its
    /// hashed form, one variant per share of its key as in
    /// [`Batch::add_shares`], which runs only if the sorted plan's check
    /// fails.
    /// `rule` and `key` name the plan in [`Results::checks`].
    pub fn add_sorted(
        &mut self,
        sorted: LazyFrame,
        hashed: Vec<LazyFrame>,
        merge: Merge,
        rule: &str,
        key: &'static str,
    ) -> Handle {
        self.push_sorted(|fallback| Entry::Sorted(Box::new(sorted), fallback), hashed, merge, rule, key)
    }

    /// Adds the entry `sorted` makes of its hashed form, one variant per
    /// share of its key, and names it in [`Results::checks`].
    fn push_sorted(
        &mut self,
        sorted: impl FnOnce(Box<Entry>) -> Entry,
        hashed: Vec<LazyFrame>,
        merge: Merge,
        rule: &str,
        key: &'static str,
    ) -> Handle {
        let fallback = self.keyed_entry(hashed, merge);
        let h = self.push(sorted(Box::new(fallback)));
        self.labels.push((h.0, rule.to_string(), key));
        h
    }

    /// Adds a sorted stage of flags per key that the stages of other rules
    /// under the same name share: all of them run as one plan, one group-by
    /// computing every rule's flags, and each takes its own result (see
    /// [`Flags`]). `hashed`, `merge`, `rule` and `key` as for
    /// [`Batch::add_sorted`]: when the one check fails, each stage's hashed
    /// form runs.
    pub fn add_flags(
        &mut self,
        flags: Flags,
        hashed: Vec<LazyFrame>,
        merge: Merge,
        rule: &str,
        key: &'static str,
    ) -> Handle {
        self.push_sorted(|fallback| Entry::Flags(Box::new(flags), fallback), hashed, merge, rule, key)
    }

    /// Adds a plan as its variants per partition (in the order of
    /// [`Batch::parts`]), whose results combine by `merge`.
    pub fn add_split(&mut self, parts: Vec<LazyFrame>, merge: Merge) -> Handle {
        debug_assert!(parts.len() <= self.partitions);
        self.push(Entry::Split(parts, merge))
    }

    /// Runs every plan: the whole and sorted ones and the first partition of
    /// the split ones in the first pass, each further partition in a pass of
    /// its own; then the hashed form of every sorted plan whose check failed.
    pub fn run(self) -> PolarsResult<Results> {
        let (passes, one_at_a_time) = (self.partitions, self.one_at_a_time);
        let runner = self.runner.as_deref();
        let (labels, takers) = (self.labels, self.takers);
        let mut fallbacks = Vec::new();
        let (entries, fusions) = resolve_flags(self.entries);
        let entries: Vec<Entry> = entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| match e {
                Entry::Sorted(plan, fallback) => {
                    fallbacks.push((i, *fallback));
                    Entry::Whole(plan)
                }
                Entry::Fused(fallback) => {
                    fallbacks.push((i, *fallback));
                    Entry::Elsewhere
                }
                e => e,
            })
            .collect();
        let mut frames = run_entries(entries, passes, one_at_a_time, runner)?;
        // Each member of a fused plan takes its part, check row included.
        for Fusion { at, members } in fusions {
            if let Some(fused) = frames[at].take() {
                for (index, (i, names)) in members.into_iter().enumerate() {
                    frames[i] = Some(fuse::part(&fused, index, &names)?);
                }
            }
        }
        let mut checks = Vec::new();
        let mut failed = Vec::new();
        for (i, fallback) in fallbacks {
            let (result, held) = match frames[i].take() {
                Some(df) => unchecked(df)?,
                None => (DataFrame::empty(), false),
            };
            if let Some((_, rule, key)) = labels.iter().find(|l| l.0 == i) {
                checks.push(Check { rule: rule.clone(), key, held });
            }
            if held {
                frames[i] = Some(result);
            } else {
                failed.push((i, fallback));
            }
        }
        if !failed.is_empty() {
            let (ids, entries): (Vec<usize>, Vec<Entry>) = failed.into_iter().unzip();
            for (i, df) in ids.into_iter().zip(run_entries(entries, passes, one_at_a_time, runner)?) {
                frames[i] = df;
            }
        }
        Ok(Results { frames, checks, takers })
    }

    /// The optimised query plan of the whole batch (its first pass), as polars prints it.
    pub fn explain(self) -> PolarsResult<String> {
        // The plans as they will run: stages of flags fused.
        let (entries, _) = resolve_flags(self.entries);
        let plans: Vec<LazyFrame> = entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Whole(lf) => Some(*lf),
                Entry::Split(parts, _) => parts.into_iter().next(),
                Entry::Sorted(plan, _) => Some(*plan),
                Entry::Flags(..) | Entry::Fused(_) | Entry::Elsewhere => None,
            })
            .collect();
        let Some(first) = plans.first() else { return Ok(String::new()) };
        let opt = first.get_current_optimizations();
        LazyFrame::explain_all(plans.into_iter().map(|lf| lf.logical_plan).collect(), opt)
    }
}

/// What each variant of a plan keyed in `of` partitions keeps: one share
/// each, or every row (`None`) when `of` is one.
pub fn shares_in(of: usize) -> Vec<Option<Part>> {
    match of {
        0 | 1 => vec![None],
        _ => (0..of).map(|index| Some(Part { index, of })).collect(),
    }
}

/// Runs whole and split plans (no sorted ones) in `passes` passes, and
/// returns each plan's result by its position.
fn run_entries(
    entries: Vec<Entry>,
    passes: usize,
    one_at_a_time: bool,
    runner: Option<&dyn Runner>,
) -> PolarsResult<Vec<Option<DataFrame>>> {
    let mut plans: Vec<Vec<(usize, LazyFrame)>> = (0..passes).map(|_| Vec::new()).collect();
    let mut merges: Vec<Option<Merge>> = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            Entry::Whole(lf) | Entry::Sorted(lf, _) => {
                plans[0].push((i, *lf));
                merges.push(None);
            }
            Entry::Split(parts, merge) => {
                for (p, lf) in parts.into_iter().enumerate() {
                    plans[p.min(passes - 1)].push((i, lf));
                }
                merges.push(Some(merge));
            }
            // Resolved before a run (`Batch::run`): nothing left to run here.
            Entry::Flags(..) | Entry::Fused(_) | Entry::Elsewhere => merges.push(None),
        }
    }
    let mut partial: Vec<Vec<DataFrame>> = (0..merges.len()).map(|_| Vec::new()).collect();
    for pass in plans {
        let (ids, lfs): (Vec<usize>, Vec<LazyFrame>) = pass.into_iter().unzip();
        if one_at_a_time {
            for (i, lf) in ids.into_iter().zip(lfs) {
                partial[i].extend(collect_on(runner, vec![lf])?);
                release_memory();
            }
            continue;
        }
        for (i, df) in ids.into_iter().zip(collect_on(runner, lfs)?) {
            partial[i].push(df);
        }
    }
    partial
        .into_iter()
        .zip(merges)
        .map(|(mut dfs, merge)| match merge {
            Some(m) => m.apply(dfs).map(Some),
            None => Ok(dfs.pop()),
        })
        .collect()
}

/// A plan run on the sorted path, and whether its check held (when not,
/// its result is its hashed form's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub rule: String,
    pub key: &'static str,
    pub held: bool,
}

/// The results of a [`Batch`], taken by handle.
pub struct Results {
    frames: Vec<Option<DataFrame>>,
    checks: Vec<Check>,
    /// How many takes of each result are left.
    takers: Vec<usize>,
}

impl Results {
    /// The plans run on the sorted path, in the order they were added.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The result of the plan added as `h`. Each result is taken once per
    /// handle given out for it (once, unless added by name by several
    /// callers); a further take is an error, not an empty frame.
    pub fn take(&mut self, h: Handle) -> PolarsResult<DataFrame> {
        let left = self.takers.get_mut(h.0).filter(|n| **n > 1);
        let df = match left {
            // A copy shares the columns' buffers: nothing is copied row by row.
            Some(n) => {
                *n -= 1;
                self.frames.get(h.0).and_then(Option::clone)
            }
            None => self.frames.get_mut(h.0).and_then(Option::take),
        };
        match df {
            Some(df) => Ok(df),
            None => polars_bail!(ComputeError: "the result of plan {} was taken already", h.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_by_handle_once() {
        let mut batch = Batch::new();
        let a = batch.add(df!("x" => [1i64, 2]).unwrap().lazy());
        let b = batch.add(df!("y" => [3i64]).unwrap().lazy().select([col("y") * lit(2i64)]));
        let mut results = batch.run().unwrap();
        assert_eq!(results.take(b).unwrap().column("y").unwrap().i64().unwrap().get(0), Some(6));
        assert_eq!(results.take(a).unwrap().height(), 2);
        assert!(results.take(a).is_err());
    }

    #[test]
    fn a_plan_added_under_one_name_runs_once_for_every_caller() {
        for mut batch in [Batch::new(), Batch::bounded(3)] {
            let first = batch.add_named("x doubled".into(), df!("x" => [1i64, 2]).unwrap().lazy());
            // The name is what counts: a second plan under it is not run.
            let again = batch.add_named("x doubled".into(), df!("x" => [7i64]).unwrap().lazy());
            let other = batch.add_named("y".into(), df!("y" => [3i64]).unwrap().lazy());
            assert_eq!(first, again);
            assert_ne!(first, other);
            let mut results = batch.run().unwrap();
            for _ in 0..2 {
                let df = results.take(first).unwrap();
                assert_eq!(df.column("x").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [1, 2]);
            }
            // Two callers, two takes.
            assert!(results.take(first).is_err());
            assert_eq!(results.take(other).unwrap().height(), 1);
            assert!(results.take(other).is_err());
        }
    }

    /// A frame of 1,000 sessions over 3 platforms, 4 rows each.
    fn sessions() -> DataFrame {
        let n = 4000usize;
        df!(
            "platform" => (0..n).map(|i| ["a", "b", "c"][i % 3]).collect::<Vec<_>>(),
            "session_id" => (0..n).map(|i| format!("s{}", i / 4)).collect::<Vec<_>>(),
            "x" => (0..n).map(|i| (i % 7) as u64).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn per_session(df: &DataFrame, part: Option<Part>) -> LazyFrame {
        share(df.clone().lazy(), part, "session_id")
            .group_by([col("session_id")])
            .agg([col("x").sum().alias("x"), len().alias("rows")])
    }

    fn sorted(df: DataFrame, by: &[&str]) -> DataFrame {
        df.sort(by.to_vec(), SortMultipleOptions::default()).unwrap()
    }

    #[test]
    fn every_key_falls_in_exactly_one_part() {
        let df = sessions();
        for of in [1usize, 2, 7] {
            let mut seen = 0;
            for index in 0..of {
                let kept = df.clone().lazy().filter(Part { index, of }.keeps(col("session_id"))).collect().unwrap();
                // A session is kept whole or not at all.
                let ids = kept.column("session_id").unwrap().n_unique().unwrap();
                assert_eq!(kept.height(), ids * 4);
                seen += ids;
            }
            assert_eq!(seen, 1000);
        }
    }

    #[test]
    fn integer_keys_fall_in_exactly_one_part_and_nulls_in_the_first() {
        // 300 distinct latencies, each on 3 rows, and 5 rows without one.
        let ms: Vec<Option<i64>> = (0..900).map(|i| Some(i % 300)).chain((0..5).map(|_| None)).collect();
        let df = df!("latency_ms" => ms).unwrap();
        for of in [1usize, 2, 7] {
            let (mut rows, mut values) = (0, 0);
            for index in 0..of {
                let kept = df.clone().lazy().filter(Part { index, of }.keeps(col("latency_ms"))).collect().unwrap();
                let col = kept.column("latency_ms").unwrap();
                let nulls = col.null_count();
                assert_eq!(nulls, if index == 0 { 5 } else { 0 });
                // A value is kept on all its rows or on none.
                assert_eq!(kept.height() - nulls, (col.n_unique().unwrap() - usize::from(nulls > 0)) * 3);
                rows += kept.height();
                values += col.n_unique().unwrap() - usize::from(nulls > 0);
            }
            assert_eq!((rows, values), (905, 300));
        }
    }

    #[test]
    fn split_plans_merge_to_the_whole_result() {
        let df = sessions();
        let whole = sorted(per_session(&df, None).collect().unwrap(), &["session_id"]);
        let count = |lf: LazyFrame| {
            lf.group_by([col("rows")]).agg([len().cast(DataType::UInt64).alias("sessions"), col("x").sum().alias("x")])
        };
        let whole_counts = sorted(count(per_session(&df, None)).collect().unwrap(), &["rows"]);
        for k in [2usize, 7] {
            let mut batch = Batch::partitioned(k);
            let parts = batch.parts().unwrap();
            let stacked = batch.add_split(parts.iter().map(|p| per_session(&df, Some(*p))).collect(), Merge::Concat);
            let summed = batch.add_split(
                parts.iter().map(|p| count(per_session(&df, Some(*p)))).collect(),
                Merge::sum(["sessions", "x"]),
            );
            let once = batch.add(df.clone().lazy().select([len().alias("n")]));
            let mut r = batch.run().unwrap();
            assert_eq!(sorted(r.take(stacked).unwrap(), &["session_id"]), whole);
            let s = sorted(r.take(summed).unwrap(), &["rows"]);
            assert_eq!(s, whole_counts);
            assert_eq!(s.column("sessions").unwrap().u64().unwrap().get(0), Some(1000));
            // A plan run once is not repeated per partition.
            assert_eq!(r.take(once).unwrap().column("n").unwrap().get(0).unwrap().extract::<u64>(), Some(4000));
        }
    }

    /// The per-session stage of the tests: rows and the sum of `x` per
    /// session and platform.
    fn stage() -> Stage {
        Stage {
            dataset: Dataset::Checkout,
            key: "session_id",
            others: vec![col("platform")],
            // x doubled row by row, then halved again: the sum of x.
            rows: vec![(col("x") * lit(2)).alias("x2")],
            aggs: vec![(col("x2").sum() / lit(2)).alias("x"), len().cast(DataType::UInt64).alias("rows")],
        }
    }

    /// Sessions counted by their row count, with `x` summed: the second stage.
    fn by_rows(f: LazyFrame) -> LazyFrame {
        f.group_by([col("platform"), col("rows")]).agg([len().cast(DataType::UInt64).alias("sessions"), col("x").sum()])
    }

    /// The sorted plan of `df` and its hashed form in `k` partitions, run as a batch.
    fn sorted_run(df: &DataFrame, k: usize) -> (DataFrame, Vec<Check>) {
        let mut batch = Batch::partitioned(k).sorting(vec!["session_id"]);
        let h = batch.add_stage(&df.clone().lazy(), stage, by_rows, Merge::sum(["sessions", "x"]), "R-1");
        let mut r = batch.run().unwrap();
        let checks = r.checks().to_vec();
        (sorted(r.take(h).unwrap(), &["platform", "rows"]), checks)
    }

    fn hashed_result(df: &DataFrame) -> DataFrame {
        let plan = stage().hashed(df.clone().lazy(), None, by_rows);
        sorted(collect_all(vec![plan]).unwrap().remove(0), &["platform", "rows"])
    }

    #[test]
    fn the_sorted_path_on_sorted_rows_is_used_and_exact() {
        // Sessions s0000..s0999 in order, 4 rows each, one platform each.
        let n = 4000usize;
        let df = df!(
            "platform" => (0..n).map(|i| ["a", "b", "c"][(i / 4) % 3]).collect::<Vec<_>>(),
            "session_id" => (0..n).map(|i| format!("s{:04}", i / 4)).collect::<Vec<_>>(),
            "x" => (0..n).map(|i| (i % 7) as u64).collect::<Vec<_>>(),
        )
        .unwrap();
        let whole = hashed_result(&df);
        // 1,000 sessions of 4 rows: 334 on a, 333 on b and c.
        assert_eq!(
            whole.column("sessions").unwrap().u64().unwrap().into_no_null_iter().collect::<Vec<_>>(),
            [334, 333, 333]
        );
        for k in [1usize, 2, 7] {
            let (result, checks) = sorted_run(&df, k);
            assert_eq!(result, whole, "K={k}");
            assert_eq!(checks, [Check { rule: "R-1".into(), key: "session_id", held: true }]);
        }
    }

    #[test]
    fn a_key_with_fewer_partitions_runs_in_them_and_merges_to_the_whole_result() {
        let df = sessions();
        let whole = hashed_result(&df);
        for fewer in [1usize, 2] {
            // merchant_id's 9 is more than the batch's 7: it keeps 7.
            let batch = Batch::bounded(7).fewer_partitions(vec![("session_id", fewer), ("merchant_id", 9)]);
            assert_eq!((batch.partitions_of("session_id"), batch.partitions_of("merchant_id")), (fewer, 7));
            assert_eq!(batch.partition_counts(), [7, fewer]);
            let mut batch = batch;
            let h = batch.add_stage(&df.clone().lazy(), stage, by_rows, Merge::sum(["sessions", "x"]), "R-1");
            let n = batch.add(df.clone().lazy().select([len().alias("n")]));
            let mut r = batch.run().unwrap();
            assert_eq!(sorted(r.take(h).unwrap(), &["platform", "rows"]), whole, "{fewer} partitions");
            assert_eq!(r.take(n).unwrap().column("n").unwrap().get(0).unwrap().extract::<u64>(), Some(4000));
        }
    }

    /// The sorted plan alone: its result rows and its check.
    fn sorted_only(df: &DataFrame) -> (DataFrame, bool) {
        let plan = stage().sorted(df.clone().lazy(), |f| f, &[]).unwrap();
        let (result, held) = unchecked(collect_all(vec![plan]).unwrap().remove(0)).unwrap();
        (result, held)
    }

    #[test]
    fn a_key_out_of_order_fails_the_check_and_the_hashed_form_is_used() {
        // s1 twice apart: the sorted group-by sees it as two runs.
        let df = df!(
            "platform" => ["a", "a", "a", "a", "a"],
            "session_id" => ["s1", "s1", "s2", "s1", "s3"],
            "x" => [1u64, 2, 3, 4, 5],
        )
        .unwrap();
        let (runs, held) = sorted_only(&df);
        // Four runs, so the sorted group-by ran; the check catches it.
        assert_eq!(runs.height(), 4);
        assert!(!held);
        let (result, checks) = sorted_run(&df, 1);
        assert_eq!(result, hashed_result(&df));
        assert!(!checks[0].held);
        // s1 has 3 rows (x 7), s2 and s3 one each.
        assert_eq!(result.column("sessions").unwrap().u64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn a_key_spanning_two_values_of_another_key_fails_the_check() {
        // Sorted by session, but s2 is on two platforms: two groups when hashed.
        let df = df!(
            "platform" => ["a", "a", "b", "a", "c"],
            "session_id" => ["s1", "s2", "s2", "s2", "s3"],
            "x" => [1u64, 2, 3, 4, 5],
        )
        .unwrap();
        assert!(!sorted_only(&df).1);
        let (result, checks) = sorted_run(&df, 2);
        assert_eq!(result, hashed_result(&df));
        assert!(!checks[0].held);
        // By platform and rows: (a, 1) for s1, (a, 2) and (b, 1) for s2, (c, 1) for s3.
        assert_eq!(result.height(), 4);
    }

    #[test]
    fn a_key_disagreeing_anywhere_in_a_long_run_fails_the_check() {
        // 300,000 rows, 30 sessions of 10,000 rows each, so runs span the
        // streaming engine's batches; each session on one platform of its
        // own, so neighbouring sessions differ and that alone must not count.
        let n = 300_000usize;
        let sessions: Vec<String> = (0..n).map(|i| format!("s{:02}", i / 10_000)).collect();
        let platforms = |odd: Option<usize>| -> Vec<String> {
            (0..n).map(|i| if Some(i) == odd { "z".into() } else { format!("p{}", (i / 10_000) % 3) }).collect()
        };
        let frame =
            |odd| df!("platform" => platforms(odd), "session_id" => sessions.clone(), "x" => vec![1u64; n]).unwrap();
        assert!(sorted_only(&frame(None)).1);
        // One row on another platform: first, inside or last of its session,
        // and at powers of two, where batches are likely to break.
        for odd in [0, 10_000, 10_001, 19_999, 65_536, 131_071, 131_072, 262_144, n - 1] {
            assert!(!sorted_only(&frame(Some(odd))).1, "row {odd}");
        }
    }

    #[test]
    fn a_null_key_fails_the_check() {
        let df = df!(
            "platform" => ["a", "a", "a"],
            "session_id" => [None, Some("s1"), Some("s2")],
            "x" => [1u64, 2, 3],
        )
        .unwrap();
        let (_, held) = sorted_only(&df);
        assert!(!held);
        assert_eq!(sorted_run(&df, 1).0, hashed_result(&df));
    }

    #[test]
    fn other_keys_proven_constant_are_not_compared() {
        // Sorted by session, s2 on two platforms.
        let df = df!(
            "platform" => ["a", "a", "b", "a", "c"],
            "session_id" => ["s1", "s2", "s2", "s2", "s3"],
            "x" => [1u64, 2, 3, 4, 5],
        )
        .unwrap();
        let run = |df: &DataFrame, constant: &[&str]| {
            let constant: Vec<String> = constant.iter().map(|c| c.to_string()).collect();
            let plan = stage().sorted(df.clone().lazy(), |f| f, &constant).unwrap();
            unchecked(collect_all(vec![plan]).unwrap().remove(0)).unwrap()
        };
        assert!(!run(&df, &[]).1);
        // A proof of another column leaves the platform compared.
        assert!(!run(&df, &["region"]).1);
        // A proof that the platform cannot vary (false here, to show it is
        // believed): only the key is checked, and s2 takes its first row's.
        let (result, held) = run(&df, &["platform"]);
        assert!(held);
        let result = sorted(result, &["session_id"]);
        let platforms: Vec<&str> = result.column("platform").unwrap().str().unwrap().iter().flatten().collect();
        let rows: Vec<u64> = result.column("rows").unwrap().u64().unwrap().into_no_null_iter().collect();
        assert_eq!((platforms, rows), (vec!["a", "a", "c"], vec![1, 3, 1]));
        // The key's order is checked whatever is proven.
        let shuffled = df!(
            "platform" => ["a", "a", "a"],
            "session_id" => ["s1", "s2", "s1"],
            "x" => [1u64, 2, 3],
        )
        .unwrap();
        assert!(!run(&shuffled, &["platform"]).1);
    }

    #[test]
    fn descending_keys_pass_the_check() {
        let df = df!(
            "platform" => ["a", "a", "b", "a"],
            "session_id" => ["s3", "s3", "s2", "s1"],
            "x" => [1u64, 2, 3, 4],
        )
        .unwrap();
        let (runs, held) = sorted_only(&df);
        assert_eq!((runs.height(), held), (3, true));
        assert_eq!(sorted_run(&df, 1).0, hashed_result(&df));
    }
}
