//! `hutong audit`: load the rulebook, read the logs, run the audit, print the
//! summary and map the findings to an exit code.

use std::io::Write;
use std::path::Path;

use anyhow::bail;

use super::{ingest_options, input_spec};
use crate::audit::{audit, datasets_needed, generated_at, History, Run};
use crate::baseline::Snapshot;
use crate::cli::{AuditArgs, TextOrJson};
use crate::engine::kinds;
use crate::findings::{BaselineStatus, Finding, Report, Verdict, WaiverStatus};
use crate::ingest;
use crate::output::check_out_dir;
use crate::waivers::Waivers;

pub fn run_cli(args: &AuditArgs) -> anyhow::Result<u8> {
    let progress = crate::progress::Progress::new(args.quiet || args.format == TextOrJson::Json);
    crate::text::set_raw_csv(args.raw_csv);
    crate::output::ensure_writable(&args.out)?;
    let rb = kinds::load(&args.rules)?;
    if !args.quiet {
        for w in &rb.warnings {
            eprint!("{w}");
        }
    }
    progress.stage(format!("rulebook {}: {} rules", rb.path, rb.rules.len()));
    let spec = input_spec(&args.input);
    if spec.data.is_none() && spec.transactions.is_none() && spec.checkout.is_none() && spec.codes.is_none() {
        bail!("no input given: use --data DIR, or --transactions and --checkout PATH (and --codes PATH)");
    }
    progress.stage("reading every input file once: SHA-256 and record structure");
    let mut inputs = ingest::open(&spec, ingest_options(&args.input)?)?;
    let (files, bytes, cached) = inputs
        .datasets
        .values()
        .flat_map(|d| d.files.iter())
        .fold((0, 0u64, 0), |(n, b, c), f| (n + 1, b + f.bytes, c + usize::from(f.cached)));
    progress.stage(format!(
        "{files} files, {:.1} MB checked{}",
        bytes as f64 / 1e6,
        match cached {
            0 => String::new(),
            n => format!(" ({n} unchanged since an earlier run: from the pre-read cache)"),
        }
    ));
    // An imported export has what it has: rules on a dataset it lacks are not
    // evaluable rather than an input error.
    for ds in datasets_needed(&rb) {
        if inputs.get(ds).is_none() && inputs.imported.is_none() && !ds.optional() {
            return Err(ingest::IngestError::MissingDataset { dataset: ds }.into());
        }
    }
    let engine = args.engine.engine();
    // An engine this build lacks is said before the inputs are looked at.
    #[cfg(not(feature = "distributed"))]
    runner(args)?;
    let budget = args.memory_budget.unwrap_or_else(crate::budget::default_budget);
    let input = crate::budget::input_of(&inputs)?;
    let execution = if engine.is_polars() {
        let execution = crate::budget::choose(
            budget,
            args.memory_budget.is_some(),
            input,
            args.strategy.strategy(),
            args.partitions.map(usize::from),
        )?;
        progress.stage(format!(
            "memory budget {}{}, {} rows: {}, estimated peak {}",
            crate::budget::size_text(budget),
            if args.memory_budget.is_some() { "" } else { " (default)" },
            input.rows,
            match execution.partitions {
                1 => execution.strategy.name().to_string(),
                k => format!("{}, keyed aggregations in {k} hash partitions", execution.strategy.name()),
            },
            crate::budget::size_text(execution.estimated_peak.unwrap_or(0)),
        ));
        execution
    } else {
        elsewhere(args, &mut inputs, input.rows)?
    };
    // Connected to (or started) once the inputs are known to suit it.
    let runner = runner(args)?;
    check_out_dir(&args.out, &inputs, args.out_inside_inputs)?;
    // One run at a time writes to an output directory.
    let _lock = crate::output::lock(&args.out)?;
    let generated_at = generated_at()?;
    let command = recorded_command(std::env::args().skip(1));
    let baseline = args.baseline.as_deref().map(Snapshot::load).transpose()?;
    if let Some(b) = &baseline {
        if b.rulebook_id != rb.meta.id && !args.quiet {
            eprintln!(
                "warning: the baseline {} was audited with rulebook `{}`, this audit uses `{}`",
                b.path.display(),
                b.rulebook_id,
                rb.meta.id
            );
        }
    }
    let waiver_file = match &args.waivers {
        Some(path) => {
            let ids = rb.rules.iter().map(|r| r.head.id.clone()).collect();
            Some(crate::rulebook::waivers::load(path, &ids)?)
        }
        None => None,
    };
    let as_of = match args.as_of {
        Some(d) => d,
        None => today(&generated_at)?,
    };
    let history = History {
        baseline: baseline.as_ref(),
        waivers: waiver_file.as_ref().map(|file| Waivers { file, as_of }),
        period: args.period.map(|p| p.period()),
    };
    let redaction = args
        .redact
        .map(|scope| crate::redact::Redaction::new(scope.scope(), args.redact_key.as_deref(), args.min_group))
        .transpose()?;
    let report_options = crate::report::ReportOptions {
        templates: args.templates.as_deref(),
        embed_evidence: args.embed_evidence,
        redaction: redaction.as_ref(),
        lang: args.lang,
    };
    let bounded = execution.strategy == crate::budget::Strategy::Bounded;
    if engine.is_polars() && !args.input.no_cache {
        let read = inputs.read_converted(!bounded);
        if !read.is_empty() {
            let names = read.iter().map(|(d, _)| d.name()).collect::<Vec<_>>().join(", ");
            let earlier: Vec<&str> =
                read.iter().filter(|(_, r)| *r == crate::ingest::Remembered::Yes).map(|(d, _)| d.name()).collect();
            let note = match earlier.is_empty() {
                true => String::new(),
                false => format!(" (the rows of {} found valid by an earlier run)", earlier.join(", ")),
            };
            progress.stage(format!("{names}: written by hutong convert, read as validated then{note}"));
        }
    }
    if bounded && inputs.datasets.values().any(|d| !d.converted) {
        progress.stage("bounded: staging the validated inputs once as Parquet");
        inputs.stage()?;
    }
    let sorted = match engine.is_polars() {
        true => crate::budget::sorted_keys(&inputs, args.sorted.path(), &execution, budget)?,
        false => crate::budget::SortedChoice::default(),
    };
    if let Some(why) = &sorted.declined {
        progress.stage(why.as_str());
    }
    if !sorted.keys.is_empty() {
        let names = |keys: &[&str]| keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ");
        let mut known = Vec::new();
        if !sorted.recorded.is_empty() {
            known.push(format!("the order of {} as recorded by hutong convert", names(&sorted.recorded)));
        }
        if !sorted.staged.is_empty() {
            known.push(format!("the order of {} as seen while staging", names(&sorted.staged)));
        }
        let recorded = match known.is_empty() {
            true => String::new(),
            false => format!(" ({})", known.join("; ")),
        };
        progress.stage(format!(
            "sorted path for the aggregations keyed on {}{recorded}, checked in the same pass",
            names(&sorted.keys)
        ));
    }
    if !engine.is_polars() {
        progress.stage(format!("running the plans as SQL on {}", engine.name()));
    }
    // Partitions the user gave are taken for every key.
    let key_budget = (engine.is_polars() && bounded && args.partitions.is_none()).then_some(budget);
    let run = Run { generated_at, command, execution, sorted_keys: sorted.keys, runner, key_budget };
    let report = audit(&rb, &inputs, &args.out, run, report_options, &history)?;
    if key_budget.is_some() && report.execution.partitions > 1 {
        let mut keys: Vec<String> =
            report.execution.partitioned.iter().map(|p| format!("`{}` in {}", p.key, p.partitions)).collect();
        keys.sort();
        keys.dedup();
        progress.stage(format!(
            "hash partitions by key, from the budget and each key's estimated distinct values: {} (a key not \
             listed ran whole or on the sorted path)",
            if keys.is_empty() { "none".to_string() } else { keys.join(", ") }
        ));
    }
    let failed: Vec<&str> = report.execution.sorted.iter().filter(|p| !p.held).map(|p| p.rule.as_str()).collect();
    if !failed.is_empty() {
        progress.stage(format!(
            "sorted path: the rows were not in order after all for {}; recomputed on the hashed path",
            failed.join(", ")
        ));
    }

    if let Some(path) = &args.junit {
        let xml = crate::junit::render(&report);
        crate::output::write_atomic(path, |tmp| std::fs::write(tmp, xml.as_bytes()))?;
    }
    let rows: u64 = report.inputs.iter().map(|i| i.account.rows_read).sum();
    progress.stage(format!("done: {rows} rows audited, outputs in {}", args.out.display()));
    if !args.quiet {
        for w in report.warnings.iter().skip(rb.warnings.len()) {
            eprintln!("warning: {}", crate::text::terminal(w));
        }
    }
    let counted = |f: &&Finding| match f.verdict {
        Verdict::Fail => !f.before_deadline || args.strict_deadlines,
        Verdict::Inconclusive => args.fail_on_inconclusive || args.strict,
        Verdict::NotEvaluable => args.fail_on_not_evaluable || args.strict,
        Verdict::Pass | Verdict::Waived => false,
    };
    // With --fail-on-new-only, a failing rule counts only through groups the
    // baseline did not already have failing.
    let new_only = |f: &&Finding| {
        !args.fail_on_new_only
            || f.verdict != Verdict::Fail
            || f.groups.iter().any(|g| g.baseline_status == Some(BaselineStatus::New))
    };
    let worst = report.findings.iter().filter(counted).filter(new_only).map(|f| f.severity).max();
    let code = match (worst, args.fail_on.threshold()) {
        (Some(s), Some(t)) if s >= t => 1,
        _ => 0,
    };
    match args.format {
        TextOrJson::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        TextOrJson::Text => {
            if !args.quiet {
                print!("{}", crate::text::terminal(&summary_text(&report, &args.out)));
            } else if code == 1 {
                // Quiet means no progress, not no reason.
                for f in report.findings.iter().filter(|f| f.verdict == Verdict::Fail) {
                    let note = crate::junit::deadline_note(f);
                    let line = format!("{} FAIL {}: {note}{}", f.rule_id, f.severity.name(), f.message);
                    println!("{}", crate::text::terminal(&line));
                }
            }
        }
    }
    Ok(code)
}

/// The execution of an audit on an engine other than polars, which reads
/// the typed Parquet `hutong convert` wrote, in one pass of its own making:
/// the options that tune polars' passes do not apply.
fn elsewhere(args: &AuditArgs, inputs: &mut ingest::Inputs, rows: u64) -> anyhow::Result<crate::findings::Execution> {
    let engine = args.engine.engine().name();
    if args.strategy != crate::cli::StrategyArg::Auto || args.partitions.is_some() {
        bail!("--strategy and --partitions tune the polars engine; --engine {engine} plans its own passes");
    }
    if args.sorted != crate::cli::SortedArg::Auto {
        bail!("--sorted tunes the polars engine; --engine {engine} plans its own passes");
    }
    inputs.as_converted()?;
    Ok(crate::findings::Execution {
        memory_budget: args.memory_budget,
        estimated_rows: rows,
        strategy: crate::budget::Strategy::SinglePass,
        partitions: 1,
        estimated_peak: None,
        partitioned: Vec::new(),
        sorted: Vec::new(),
        engine: args.engine.engine(),
    })
}

/// The engine that runs the plans, when not polars.
#[cfg(feature = "distributed")]
fn runner(args: &AuditArgs) -> anyhow::Result<Option<std::sync::Arc<dyn crate::exec::Runner>>> {
    use crate::distributed::{SqlRunner, Target};
    use crate::findings::Engine;
    if args.scheduler.is_some() && args.engine.engine() != Engine::Ballista {
        bail!("--scheduler names a Ballista scheduler: use it with --engine ballista");
    }
    let target = match args.engine.engine() {
        Engine::Polars => return Ok(None),
        Engine::DataFusion => Target::DataFusion { memory: args.memory_budget },
        Engine::Ballista => Target::Ballista { scheduler: args.scheduler.clone() },
    };
    Ok(Some(std::sync::Arc::new(SqlRunner::new(&target)?)))
}

#[cfg(not(feature = "distributed"))]
fn runner(args: &AuditArgs) -> anyhow::Result<Option<std::sync::Arc<dyn crate::exec::Runner>>> {
    match args.engine.engine() {
        crate::findings::Engine::Polars if args.scheduler.is_none() => Ok(None),
        crate::findings::Engine::Polars => {
            bail!("--scheduler names a Ballista scheduler: use it with --engine ballista")
        }
        e => Err(without_distributed(&format!("--engine {}", e.name()))),
    }
}

/// The error of a feature this build lacks.
#[cfg(not(feature = "distributed"))]
pub(super) fn without_distributed(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} needs a hutong built with the `distributed` feature: \
         cargo build --release --features distributed (docs/scale-out.md)"
    )
}

/// The terminal summary: one line per rule, then totals.
pub fn summary_text(report: &Report, out: &Path) -> String {
    let mut s = String::new();
    s.push_str(&format!("{} {} — {}\n", report.rulebook.title, report.rulebook.version, report.rulebook.path));
    if let Some(w) = &report.window {
        s.push_str(&format!("window {} .. {}\n", w.from, w.to));
    }
    for i in &report.inputs {
        s.push_str(&format!(
            "{:<13} {} rows read = {} accepted + {} rejected{}\n",
            i.account.dataset.name(),
            i.account.rows_read,
            i.account.rows_accepted,
            i.account.rows_rejected,
            i.account.outside_text()
        ));
    }
    s.push('\n');
    for f in &report.findings {
        let note = f
            .before_deadline_of()
            .map(|d| format!("[before the deadline of {d}: not counted without --strict-deadlines] "))
            .unwrap_or_default();
        s.push_str(&format!(
            "{:<10} {:<13} {:<8} {note}{}\n",
            f.rule_id,
            f.verdict.name().to_uppercase(),
            f.severity.name(),
            f.message
        ));
    }
    let sm = &report.summary;
    s.push_str(&format!(
        "\n{} of {} rules fail, {} inconclusive, {} not evaluable, {} pass{}; findings in {}\n",
        sm.fail,
        report.findings.len(),
        sm.inconclusive,
        sm.not_evaluable,
        sm.pass,
        if sm.waived > 0 { format!(", {} waived", sm.waived) } else { String::new() },
        out.join("findings.json").display()
    ));
    if sm.inconclusive + sm.not_evaluable > 0 {
        s.push_str(
            "inconclusive and not-evaluable rules do not change the exit code unless --fail-on-inconclusive, \
             --fail-on-not-evaluable or --strict is given\n",
        );
    }
    if let Some(b) = &report.baseline {
        s.push_str(&format!(
            "since the baseline {}: {} new, {} persisting, {} resolved failing groups\n",
            b.path, b.new, b.persisting, b.resolved
        ));
    }
    if let Some(w) = &report.waivers {
        let count = |st: WaiverStatus| w.waivers.iter().filter(|x| x.status == st).count();
        s.push_str(&format!(
            "waivers {} (as of {}): {} applied, {} expired, {} unused\n",
            w.file,
            w.as_of,
            count(WaiverStatus::Applied),
            count(WaiverStatus::Expired),
            count(WaiverStatus::Unused)
        ));
    }
    if !report.unmapped_labels.is_empty() {
        let labels: Vec<String> =
            report.unmapped_labels.iter().map(|u| format!("{} ({} rows)", u.label, u.rows)).collect();
        s.push_str(&format!("unmapped labels: {}\n", labels.join(", ")));
    }
    s
}

/// The day of `generated_at` (SOURCE_DATE_EPOCH when set, else now), UTC.
fn today(generated_at: &str) -> anyhow::Result<chrono::NaiveDate> {
    let day = generated_at.get(..10).unwrap_or_default();
    Ok(chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")?)
}

/// Flags that only say where and how to write, followed by their value (if any).
const OUTPUT_ONLY: [(&str, bool); 5] =
    [("--out", true), ("--junit", true), ("--format", true), ("--quiet", false), ("-q", false)];

/// The command line as findings.json and the report record it. The program
/// name as typed varies (cargo run, a path), so it is recorded as `hutong`;
/// output-only flags are left out, so the same audit written into two
/// directories gives byte-identical files.
fn recorded_command(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = vec!["hutong".to_string()];
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
        match OUTPUT_ONLY.iter().find(|(name, _)| *name == flag) {
            Some((_, takes_value)) => {
                if *takes_value && !a.contains('=') {
                    args.next();
                }
            }
            None => out.push(a),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::recorded_command;

    #[test]
    fn output_only_flags_are_not_recorded() {
        let args =
            "audit --rules r.toml --out /tmp/x --data d -q --format=json --out=/y --quiet --format text --strict";
        let recorded = recorded_command(args.split(' ').map(String::from));
        assert_eq!(recorded.join(" "), "hutong audit --rules r.toml --data d --strict");
    }
}
