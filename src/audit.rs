//! The audit pipeline: run every rule of a rulebook over the inputs in one
//! streaming pass, and write `findings.json`, the report, evidence and
//! rejected rows.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::contract::Dataset;
use crate::engine::Rulebook;
use crate::engine::{self, Context};
use crate::exec::{Batch, Handle};
use crate::findings::{
    Evidence, Execution, Finding, InputReport, PartitionedPlan, Report, RulebookRef, SortedPlan, Summary, Tool,
    Verdict, SCHEMA_VERSION,
};
use crate::ingest::accounting::AccountingPlans;
use crate::ingest::rejects;
use crate::ingest::window::{window_bounds, window_plan, Window};
use crate::ingest::{DatasetInput, Inputs};
use crate::output::{write_evidence, Staging};
use crate::rulebook::{SpecInfo, Taxonomy};

/// The datasets a rulebook's rules read.
pub fn datasets_needed(rb: &Rulebook) -> Vec<Dataset> {
    let mut out = Vec::new();
    for r in &rb.rules {
        let ds = r.spec.dataset();
        if !out.contains(&ds) {
            out.push(ds);
        }
    }
    out.sort();
    out
}

/// `generated_at`: SOURCE_DATE_EPOCH when set (reproducible builds), else now.
pub fn generated_at() -> anyhow::Result<String> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a whole number of seconds"))?,
        Err(_) => chrono::Utc::now().timestamp(),
    };
    let dt = chrono::DateTime::from_timestamp(secs, 0).context("SOURCE_DATE_EPOCH out of range")?;
    Ok(dt.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Records each finding's effective day (the rulebook's when the rule has
/// none) and, for a rule with a deadline, whether the data end before it: the
/// latest row falls before the day after the deadline in the audit's time
/// zone. Failing findings and groups in such data are `before_deadline`.
fn mark_dates(findings: &mut [Finding], rb: &Rulebook, data_end: Option<i64>, tz: crate::ingest::Offset) {
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    for f in findings.iter_mut() {
        let Some(rule) = rb.rules.iter().find(|r| r.id == f.rule_id) else { continue };
        if f.effective.is_none() {
            f.effective = rb.effective_date().map(day);
        }
        let (Some(deadline), Some(end)) = (rule.deadline, data_end) else { continue };
        let Some(after) = deadline.succ_opt().and_then(|d| tz.day_start_micros(d)) else { continue };
        if end < after && f.verdict == Verdict::Fail {
            f.before_deadline = true;
            for g in f.groups.iter_mut().filter(|g| g.verdict == Verdict::Fail) {
                g.before_deadline = true;
            }
        }
    }
}

/// An aggregation keyed on a high-cardinality key: its rule and key.
struct KeyedPlan {
    rule: String,
    key: &'static str,
}

/// The aggregations an audit runs per hash partition, and their keys.
fn partitioned_plans(ctx: &Context, inputs: &Inputs) -> Vec<KeyedPlan> {
    let mut out: Vec<KeyedPlan> = inputs
        .datasets
        .values()
        .filter_map(crate::ingest::accounting::unique_id)
        .map(|key| KeyedPlan { rule: crate::ingest::accounting::ACCOUNTING.into(), key })
        .collect();
    for rule in &ctx.rulebook.rules {
        for key in engine::split_keys(rule, ctx) {
            out.push(KeyedPlan { rule: rule.id.clone(), key });
        }
    }
    out
}

/// What findings.json records about the run itself.
pub struct Run {
    /// See [`generated_at`].
    pub generated_at: String,
    /// The command line, as recorded.
    pub command: Vec<String>,
    /// How the plans run (`crate::budget::choose`).
    pub execution: Execution,
    /// The keys whose aggregations take the sorted path (`crate::budget::sorted_keys`).
    pub sorted_keys: Vec<&'static str>,
    /// The engine that runs the plans, when not polars (`audit --engine`).
    pub runner: Option<Arc<dyn crate::exec::Runner>>,
    /// The budget each key's partitions are chosen by, from its distinct
    /// values (`crate::budget::key_partitions`), when the audit chose its
    /// partitions itself; otherwise every keyed plan runs in
    /// `execution.partitions`.
    pub key_budget: Option<u64>,
}

/// How an audit is judged over time besides its rulebook: per period, against
/// an earlier audit, and with accepted exceptions.
#[derive(Default)]
pub struct History<'a> {
    pub baseline: Option<&'a crate::baseline::Snapshot>,
    pub waivers: Option<crate::waivers::Waivers<'a>>,
    /// `--period`: also judge every rule in each period of the window.
    pub period: Option<crate::ingest::period::Period>,
}

/// Runs the audit and writes every output file under `out`.
pub fn audit(
    rb: &Rulebook,
    inputs: &Inputs,
    out: &Path,
    run: Run,
    report_options: crate::report::ReportOptions,
    history: &History,
) -> anyhow::Result<Report> {
    let Run { generated_at, command, mut execution, sorted_keys, runner, key_budget } = run;
    let taxonomy = Arc::new(Taxonomy::new(rb).context("compiling the taxonomy's aliases")?);
    let ctx = Context { rulebook: rb, taxonomy, inputs, period: history.period, part: None, sorted: false };
    // Accounting, rejected rows and the time window ride along in the same
    // pass as the rules.
    let partitions = execution.partitions as usize;
    let mut batch = if execution.strategy == crate::budget::Strategy::Bounded {
        Batch::bounded(partitions)
    } else {
        Batch::partitioned(partitions)
    }
    .sorting(sorted_keys)
    .running_on(runner);
    if batch.parts().is_some() {
        let plans = partitioned_plans(&ctx, inputs);
        let input = crate::budget::Input { rows: execution.estimated_rows };
        // When the budget alone asks for every partition, no key can take
        // fewer: the distinct values are not worth a pass.
        let budget = key_budget.filter(|b| crate::budget::memory_partitions(*b, input) < partitions as u64);
        if let Some(budget) = budget {
            // A key on the sorted path runs in partitions only if its check
            // fails: it keeps the batch's partitions then, and its distinct
            // values (sessions, transaction ids: most of the pass) are not
            // sketched (0.8 s of the 10M Parquet audit went to sketching).
            let mut keys: Vec<&'static str> = plans.iter().map(|p| p.key).filter(|k| !batch.sorts(k)).collect();
            keys.sort_unstable();
            keys.dedup();
            let distinct = crate::budget::distinct_keys(inputs, &keys)?;
            batch = batch.fewer_partitions(crate::budget::key_partitions(budget, input, partitions, &distinct));
        }
        execution.partitioned = plans
            .into_iter()
            .map(|p| PartitionedPlan { partitions: batch.partitions_of(p.key) as u64, rule: p.rule, key: p.key.into() })
            .filter(|p| p.partitions > 1)
            .collect();
    }
    let accounting: Vec<(&DatasetInput, AccountingPlans)> =
        inputs.datasets.values().map(|input| (input, AccountingPlans::add(input, &mut batch))).collect();
    let windows: Vec<Handle> = [Dataset::Transactions, Dataset::Checkout]
        .into_iter()
        .filter_map(|ds| inputs.get(ds))
        .map(|input| batch.add(window_plan(input)))
        .collect();
    let (outcome, mut results) = engine::run(&ctx, batch)?;
    // What ran on the sorted path with its check held did not run per partition.
    let on_sorted = |rule: &str, key: &str| {
        let mut checks = outcome.checks.iter().filter(|c| c.rule == rule && c.key == key).peekable();
        checks.peek().is_some() && checks.all(|c| c.held)
    };
    execution.partitioned.retain(|p| !on_sorted(&p.rule, &p.key));
    // One record per rule and key: with --period a rule's plans run pooled
    // and per period, and the record holds only if every check did.
    for c in &outcome.checks {
        match execution.sorted.iter_mut().find(|p| p.rule == c.rule && p.key == c.key) {
            Some(p) => p.held &= c.held,
            None => execution.sorted.push(SortedPlan { rule: c.rule.clone(), key: c.key.into(), held: c.held }),
        }
    }
    // Every output goes into a staging directory, published at the end in
    // one step (see `output::publish`).
    let mut stage = Staging::begin(out)?;
    let mut input_reports = Vec::new();
    for (input, plans) in accounting {
        let (account, rejected) = plans.finish(input, &mut results, inputs.options.delimiter)?;
        let rel = format!("rejected/{}.csv", input.dataset.name());
        let mut rejected = rejected;
        if let Some(r) = report_options.redaction {
            r.rejected(&mut rejected);
        }
        let rejected_file = if rejected.is_empty() {
            None
        } else {
            stage.write(&rel, |p| rejects::write_to(p, &rejected))?;
            Some(rel)
        };
        input_reports.push(InputReport { account, rejected_file });
    }
    // The audit window spans both datasets.
    let mut bounds: Option<(i64, i64)> = None;
    for h in windows {
        if let Some((f, t)) = window_bounds(&results.take(h)?)? {
            bounds = Some(bounds.map_or((f, t), |(bf, bt)| (bf.min(f), bt.max(t))));
        }
    }
    let window = Window::of(bounds, inputs.options.timezone);
    let mut findings = outcome.findings;
    findings.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    mark_dates(&mut findings, rb, bounds.map(|b| b.1), inputs.options.timezone);
    if let Some(r) = report_options.redaction {
        r.findings(&mut findings);
    }
    for f in findings.iter_mut() {
        let rel = format!("evidence/{}.csv", f.rule_id);
        if let Some(table) = f.evidence_table.as_ref() {
            stage.write(&rel, |p| write_evidence(p, table))?;
            f.evidence = Some(Evidence { file: rel, rows: table.rows.len() as u64 });
        }
    }
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool { name: "hutong", version: env!("CARGO_PKG_VERSION") },
        generated_at,
        command,
        rulebook: RulebookRef {
            id: rb.meta.id.clone(),
            title: rb.meta.title.clone(),
            version: rb.meta.version.clone(),
            jurisdiction: rb.meta.jurisdiction.clone(),
            path: rb.path.clone(),
            sha256: rb.sha256.clone(),
        },
        inputs: input_reports,
        window,
        period: history.period,
        summary: Summary::of(&findings),
        warnings: rb.warnings.iter().map(|w| w.trim_end().to_string()).chain(outcome.warnings).collect(),
        unmapped_labels: outcome.unmapped,
        baseline: None,
        waivers: None,
        edition: None,
        execution,
        findings,
    };
    if let Some(r) = report_options.redaction {
        r.report(&mut report);
    }
    for f in report.findings.iter_mut() {
        for g in f.groups.iter_mut() {
            g.fingerprint = Some(crate::baseline::fingerprint(&f.rule_id, &g.key));
        }
    }
    // Waivers first: a waived group is not a failure, new or old.
    if let Some(w) = &history.waivers {
        crate::waivers::apply(&mut report, w);
    }
    if let Some(b) = history.baseline {
        crate::baseline::classify(&mut report, b)?;
    }
    let html = crate::report::render(&report, rb, report_options)?;
    stage.write("report.html", |p| std::fs::write(p, &html))?;
    stage.write("findings.json", |p| {
        let mut text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(p, text)
    })?;
    stage.publish()?;
    Ok(report)
}
