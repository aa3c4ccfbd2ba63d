//! Sorted stages of flags from several rules over the same rows, run as one
//! plan: one group-by per key computes every rule's flags, and each rule's
//! own aggregation reads its flags from that one stage.

use std::sync::Arc;

use polars::prelude::*;

use super::{any_per_group, checked, Stage, CHECK};

/// The column telling the fused plan's rules apart in its result.
const PART: &str = "__hutong_part";

/// A rule's aggregation over its stage's rows.
pub type Then = Arc<dyn Fn(LazyFrame) -> LazyFrame + Send + Sync>;

/// A sorted stage of flags per key (built by [`Stage::flags`]) that the
/// stages of the same name share (`Batch::add_flags`).
pub struct Flags {
    /// What the stage's rows are and how they are grouped, in full: stages
    /// of one name read the same rows by the same keys. Names are compared,
    /// never plans (polars' map closures print alike whatever they do).
    pub name: String,
    pub frame: LazyFrame,
    pub stage: Stage,
    pub then: Then,
    /// The other keys proven to hold one value per key ([`Stage::sorted`]).
    pub constant: Vec<String>,
}

impl Flags {
    /// The stage on its own, as [`Stage::sorted`] builds it.
    pub fn alone(&self) -> PolarsResult<LazyFrame> {
        let then = self.then.clone();
        self.stage.clone().sorted(self.frame.clone(), move |f| then(f), &self.constant)
    }
}

/// The stages of `members` (all of one name) as one sorted plan, with each
/// member's result columns: the members' flags, renamed apart, in one
/// group-by over the first member's rows (the others' are the same rows),
/// then each member's aggregation over its own flags under their own names,
/// its rows marked with its position, and the one check under them all.
pub fn fuse(members: &[&Flags]) -> PolarsResult<(LazyFrame, Vec<Vec<PlSmallStr>>)> {
    let Some(first) = members.first() else { polars_bail!(ComputeError: "no stages to fuse") };
    let key = first.stage.key;
    let others = first.stage.others.iter().map(|e| e.clone().meta().output_name()).collect::<PolarsResult<Vec<_>>>()?;
    // Each distinct flag once, however many members ask for it: every flag
    // is one more aggregation per group, the bulk of the plan's work.
    let mut rows: Vec<Expr> = Vec::new();
    let mut seen: Vec<(Expr, String)> = Vec::new();
    let mut picks = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let mut pick: Vec<Expr> = others.iter().map(|n| col(n.clone())).chain([col(key)]).collect();
        for row in &m.stage.rows {
            let name = row.clone().meta().output_name()?;
            let body = match row {
                Expr::Alias(inner, _) => inner.as_ref().clone(),
                other => other.clone(),
            };
            let inner = match seen.iter().find(|(e, _)| *e == body) {
                Some((_, inner)) => inner.clone(),
                None => {
                    let inner = format!("__hutong_{i}_{name}");
                    rows.push(body.clone().alias(inner.as_str()));
                    seen.push((body, inner.clone()));
                    inner
                }
            };
            pick.push(col(inner.as_str()).alias(name));
        }
        picks.push(pick);
    }
    let aggs = any_per_group(&rows)?;
    let stage = Stage { dataset: first.stage.dataset, key, others: first.stage.others.clone(), rows, aggs };
    let (staged, check) = stage.sorted_parts(first.frame.clone(), &first.constant)?;
    let mut results = Vec::new();
    let mut schemas = Vec::new();
    // Every member's columns, each once: a member lacking one has nulls there.
    let mut all = Schema::default();
    for (m, pick) in members.iter().zip(picks) {
        let mut result = (m.then)(staged.clone().select(pick));
        let schema = result.collect_schema()?;
        for (name, dtype) in schema.iter() {
            match all.get(name) {
                Some(d) if d != dtype => polars_bail!(ComputeError: "column {name} is {d} and {dtype}"),
                Some(_) => {}
                None => {
                    all.insert(name.clone(), dtype.clone());
                }
            }
        }
        results.push(result);
        schemas.push(schema);
    }
    let mut parts = Vec::new();
    for (i, (result, schema)) in results.into_iter().zip(&schemas).enumerate() {
        let columns = all.iter().map(|(name, dtype)| match schema.contains(name) {
            true => col(name.clone()),
            false => lit(NULL).cast(dtype.clone()).alias(name.clone()),
        });
        parts
            .push(result.select(columns.chain([lit(i as u32).cast(DataType::UInt32).alias(PART)]).collect::<Vec<_>>()));
    }
    // Unordered, as in `checked`: no part waits for another to be read whole.
    let body = concat(parts, UnionArgs { maintain_order: false, ..UnionArgs::default() })?;
    let names = schemas.iter().map(|s| s.iter_names().cloned().collect()).collect();
    Ok((checked(body, check)?, names))
}

/// Member `index`'s result out of a fused plan's, as its own sorted plan
/// would have returned it: its rows and columns, and the check row.
pub fn part(fused: &DataFrame, index: usize, names: &[PlSmallStr]) -> PolarsResult<DataFrame> {
    let marks = fused.column(PART)?.u32()?;
    // The check row is the one row no member marks.
    let mine: BooleanChunked = marks.iter().map(|m| Some(m.is_none_or(|m| m as usize == index))).collect();
    fused.filter(&mine)?.select(names.iter().cloned().chain([PlSmallStr::from(CHECK)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Dataset;
    use crate::exec::{resolve_flags, Batch, Check, Entry, Handle, Merge};

    /// Sessions s1..s3 on platforms a, b, a; `v` 1..5.
    fn rows(sessions: [&str; 5]) -> LazyFrame {
        df!(
            "session_id" => sessions,
            "platform" => ["a", "a", "b", "b", "a"],
            "v" => [1i64, 2, 3, 4, 5],
        )
        .unwrap()
        .lazy()
    }

    /// Rule A: sessions with a row over 3, counted per platform and flag.
    fn big(frame: LazyFrame, name: &str) -> (Flags, Vec<LazyFrame>) {
        let stage = Stage::flags(
            Dataset::Checkout,
            "session_id",
            vec![col("platform")],
            vec![col("v").gt(lit(3)).alias("big")],
        )
        .unwrap();
        let then: Then =
            Arc::new(|f| f.group_by([col("platform"), col("big")]).agg([len().cast(DataType::UInt64).alias("n")]));
        let hashed = stage.clone().hashed(frame.clone(), None, |f| then(f));
        (Flags { name: name.into(), frame, stage, then, constant: Vec::new() }, vec![hashed])
    }

    /// Rule B: sessions with an even row, counted per platform; a second
    /// flag (a row of 1) only to be carried.
    fn even(frame: LazyFrame, name: &str) -> (Flags, Vec<LazyFrame>) {
        let rows = vec![(col("v") % lit(2)).eq(lit(0)).alias("even"), col("v").eq(lit(1)).alias("one")];
        let stage = Stage::flags(Dataset::Checkout, "session_id", vec![col("platform")], rows).unwrap();
        let then: Then = Arc::new(|f| {
            f.filter(col("even")).group_by([col("platform")]).agg([len().cast(DataType::UInt64).alias("n")])
        });
        let hashed = stage.clone().hashed(frame.clone(), None, |f| then(f));
        (Flags { name: name.into(), frame, stage, then, constant: Vec::new() }, vec![hashed])
    }

    /// Each row as text, sorted: results compared whatever their order.
    fn lines(df: &DataFrame) -> Vec<String> {
        let mut out: Vec<String> = (0..df.height())
            .map(|i| df.get(i).unwrap().iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
            .collect();
        out.sort();
        out
    }

    /// Both rules' stages, named `a` and `b`, in one batch.
    fn batch(sessions: [&str; 5], a: &str, b: &str) -> (Batch, Handle, Handle) {
        let mut batch = Batch::bounded(1).sorting(vec!["session_id"]);
        let (f, h) = big(rows(sessions), a);
        let ha = batch.add_flags(f, h, Merge::Concat, "A", "session_id");
        let (f, h) = even(rows(sessions), b);
        let hb = batch.add_flags(f, h, Merge::Concat, "B", "session_id");
        (batch, ha, hb)
    }

    /// Both rules run as one batch, their stages named `a` and `b`: their
    /// results as lines, the checks, and how many sorted plans run.
    fn run(sessions: [&str; 5], a: &str, b: &str) -> (Vec<String>, Vec<String>, Vec<Check>, usize) {
        let (entries, _) = resolve_flags(batch(sessions, a, b).0.entries);
        let plans = entries.iter().filter(|e| matches!(e, Entry::Sorted(..))).count();
        let (batch, ha, hb) = batch(sessions, a, b);
        let mut r = batch.run().unwrap();
        let checks = r.checks().to_vec();
        (lines(&r.take(ha).unwrap()), lines(&r.take(hb).unwrap()), checks, plans)
    }

    #[test]
    fn stages_of_one_name_run_as_one_plan_and_each_takes_its_own_result() {
        // s1 (a): 1, 2; s2 (b): 3, 4; s3 (a): 5.
        let sorted = ["s1", "s1", "s2", "s2", "s3"];
        let (a, b, checks, plans) = run(sorted, "same rows", "same rows");
        assert_eq!(plans, 1);
        // A: s1 not big, s2 and s3 big. B: s1 and s2 have an even row.
        assert_eq!(a, ["\"a\" false 1", "\"a\" true 1", "\"b\" true 1"]);
        assert_eq!(b, ["\"a\" 1", "\"b\" 1"]);
        let held = |rule: &str| Check { rule: rule.into(), key: "session_id", held: true };
        assert_eq!(checks, [held("A"), held("B")]);
        // Other names: each alone, the same results.
        let (a2, b2, checks2, plans2) = run(sorted, "these rows", "those rows");
        assert_eq!((a2, b2, checks2, plans2), (a, b, checks, 2));
    }

    #[test]
    fn a_failed_check_of_the_fused_plan_runs_each_rule_hashed() {
        // s1 in two runs: the one check fails for both rules.
        let (a, b, checks, plans) = run(["s1", "s2", "s1", "s2", "s3"], "same rows", "same rows");
        assert_eq!(plans, 1);
        // Hashed: s1 = {1, 3} on a, s2 = {2, 4} on a then b (first row's
        // platform does not matter: the hashed stage groups by platform too).
        // s1 (a): v 1; s2 (a): v 2; s1 (b): v 3; s2 (b): v 4; s3 (a): v 5.
        assert_eq!(a, ["\"a\" false 2", "\"a\" true 1", "\"b\" false 1", "\"b\" true 1"]);
        assert_eq!(b, ["\"a\" 1", "\"b\" 1"]);
        let failed = |rule: &str| Check { rule: rule.into(), key: "session_id", held: false };
        assert_eq!(checks, [failed("A"), failed("B")]);
    }

    #[test]
    fn a_flag_two_stages_compute_alike_is_aggregated_once() {
        // Rule A's flag (a row over 3) again in rule C, under another name.
        let sorted = ["s1", "s1", "s2", "s2", "s3"];
        let (a, ha) = big(rows(sorted), "same rows");
        let stage = Stage::flags(
            Dataset::Checkout,
            "session_id",
            vec![col("platform")],
            vec![col("v").gt(lit(3)).alias("large")],
        )
        .unwrap();
        let then: Then = Arc::new(|f| {
            f.filter(col("large")).group_by([col("platform")]).agg([len().cast(DataType::UInt64).alias("n")])
        });
        let hc = vec![stage.clone().hashed(rows(sorted), None, |f| then(f))];
        let c = Flags { name: "same rows".into(), frame: rows(sorted), stage, then, constant: Vec::new() };
        let (fused, _) = fuse(&[&a, &c]).unwrap();
        let plan = fused.describe_plan().unwrap();
        assert_eq!(plan.matches("any_ignore_nulls").count(), 1, "{plan}");
        // Each rule still reads the flag under its own name.
        let mut batch = Batch::bounded(1).sorting(vec!["session_id"]);
        let ha = batch.add_flags(a, ha, Merge::Concat, "A", "session_id");
        let hc = batch.add_flags(c, hc, Merge::Concat, "C", "session_id");
        let mut r = batch.run().unwrap();
        // s1 (a): 1, 2; s2 (b): 3, 4; s3 (a): 5.
        assert_eq!(lines(&r.take(ha).unwrap()), ["\"a\" false 1", "\"a\" true 1", "\"b\" true 1"]);
        assert_eq!(lines(&r.take(hc).unwrap()), ["\"a\" 1", "\"b\" 1"]);
        assert!(r.checks().iter().all(|c| c.held));
    }
}
