//! `hutong audit`: load the rulebook, read the logs, run every rule in one
//! streaming pass, and write `findings.json`, evidence and rejected rows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::cli::{AuditArgs, TextOrJson};
use crate::contract::Dataset;
use crate::engine::{self, Context};
use crate::findings::{Evidence, Finding, Summary, UnmappedLabel, Verdict, SCHEMA_VERSION};
use crate::ingest::accounting::{self, DatasetAccount};
use crate::ingest::rejects;
use crate::ingest::{self, Inputs};
use crate::inspect::{ingest_options, input_spec, Window};
use crate::rulebook::{self, Rulebook, Taxonomy};

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RulebookRef {
    pub id: String,
    pub title: String,
    pub version: String,
    pub jurisdiction: String,
    pub path: String,
    pub sha256: String,
}

/// One dataset's inputs, as `findings.json` reports them.
#[derive(Debug, Serialize)]
pub struct InputReport {
    #[serde(flatten)]
    pub account: DatasetAccount,
    /// Where the rejected rows are, relative to the output directory.
    pub rejected_file: Option<String>,
}

/// The root of `findings.json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: &'static str,
    pub tool: Tool,
    pub generated_at: String,
    pub command: Vec<String>,
    pub rulebook: RulebookRef,
    pub inputs: Vec<InputReport>,
    pub window: Option<Window>,
    pub summary: Summary,
    /// What the rulebook and the data raised that does not stop the audit.
    pub warnings: Vec<String>,
    pub unmapped_labels: Vec<UnmappedLabel>,
    pub findings: Vec<Finding>,
}

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

pub fn run_cli(args: &AuditArgs) -> anyhow::Result<u8> {
    let progress = crate::progress::Progress::new(args.quiet || args.format == TextOrJson::Json);
    let rb = rulebook::load(&args.rules)?;
    if !args.quiet {
        for w in &rb.warnings {
            eprint!("{w}");
        }
    }
    progress.stage(format!("rulebook {}: {} rules", rb.path, rb.rules.len()));
    let spec = input_spec(&args.input);
    if spec.data.is_none() && spec.transactions.is_none() && spec.checkout.is_none() {
        bail!("no input given: use --data DIR, or --transactions and --checkout PATH");
    }
    progress.stage("reading every input file once: SHA-256 and record structure");
    let inputs = ingest::open(&spec, ingest_options(&args.input)?)?;
    let (files, bytes) =
        inputs.datasets.values().flat_map(|d| d.files.iter()).fold((0, 0u64), |(n, b), f| (n + 1, b + f.bytes));
    progress
        .stage(format!("{files} files, {:.1} MB checked; running all rules in one streaming pass", bytes as f64 / 1e6));
    for ds in datasets_needed(&rb) {
        if inputs.get(ds).is_none() {
            return Err(ingest::IngestError::MissingDataset { dataset: ds }.into());
        }
    }
    check_out_dir(&args.out, &inputs, args.out_inside_inputs)?;
    let generated_at = generated_at()?;
    // The program name as typed varies (cargo run, a path); record it as `hutong`.
    let command: Vec<String> = std::iter::once("hutong".to_string()).chain(std::env::args().skip(1)).collect();
    let report = audit(&rb, &inputs, &args.out, generated_at, command, args.templates.as_deref())?;
    let rows: u64 = report.inputs.iter().map(|i| i.account.rows_read).sum();
    progress.stage(format!("done: {rows} rows audited, outputs in {}", args.out.display()));
    if !args.quiet {
        for w in report.warnings.iter().skip(rb.warnings.len()) {
            eprintln!("warning: {w}");
        }
    }
    let counted = |f: &&Finding| match f.verdict {
        Verdict::Fail => true,
        Verdict::Inconclusive => args.fail_on_inconclusive || args.strict,
        Verdict::NotEvaluable => args.fail_on_not_evaluable || args.strict,
        Verdict::Pass => false,
    };
    let worst = report.findings.iter().filter(counted).map(|f| f.severity).max();
    match args.format {
        TextOrJson::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        TextOrJson::Text => {
            if !args.quiet {
                print!("{}", summary_text(&report, &args.out));
            }
        }
    }
    Ok(match worst {
        Some(s) if s >= args.fail_on => 1,
        _ => 0,
    })
}

/// Refuses an output directory that is, or lies inside, a directory holding
/// inputs, unless the user asked for it: outputs written among inputs could be
/// read back as inputs, or mistaken for them.
pub fn check_out_dir(out: &Path, inputs: &Inputs, allow: bool) -> anyhow::Result<()> {
    if allow {
        return Ok(());
    }
    let out_abs = absolute(out);
    for input in inputs.datasets.values() {
        for f in &input.files {
            if let Some(dir) = absolute(&f.path).parent() {
                if out_abs.starts_with(dir) {
                    bail!(
                        "--out {} is inside {}, which holds the input {}; choose another output directory \
                         (or pass --out-inside-inputs)",
                        out.display(),
                        dir.display(),
                        f.path.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// An absolute, symlink-resolved path, also for paths that do not exist yet.
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => absolute(parent).join(name),
        _ => std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// The file listing what the previous run wrote into an output directory:
/// only those files are ever removed as stale.
const MANIFEST: &str = ".hutong-outputs";

fn read_manifest(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join(MANIFEST)).map(|t| t.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// Runs the audit and writes every output file under `out`.
pub fn audit(
    rb: &Rulebook,
    inputs: &Inputs,
    out: &Path,
    generated_at: String,
    command: Vec<String>,
    templates: Option<&Path>,
) -> anyhow::Result<Report> {
    let taxonomy = Arc::new(Taxonomy::new(rb).context("compiling the taxonomy's aliases")?);
    let ctx = Context { rulebook: rb, taxonomy, inputs };
    // Accounting and rejected rows ride along in the same pass as the rules.
    let mut extra = Vec::new();
    let mut order = Vec::new();
    for input in inputs.datasets.values() {
        extra.push(accounting::counts_plan(input));
        extra.push(rejects::rejected_plan(input));
        let dups = accounting::duplicates_plan(input);
        order.push((input.dataset, dups.is_some()));
        extra.extend(dups);
    }
    let window_plans: Vec<Dataset> =
        [Dataset::Transactions, Dataset::Checkout].into_iter().filter(|ds| inputs.get(*ds).is_some()).collect();
    for ds in &window_plans {
        if let Some(input) = inputs.get(*ds) {
            extra.push(crate::inspect::window_plan(input));
        }
    }
    let outcome = engine::run(&ctx, extra)?;
    let mut frames = outcome.extra.into_iter();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let previous = read_manifest(out);
    let mut written: Vec<String> = Vec::new();
    let mut input_reports = Vec::new();
    for (ds, has_dups) in order {
        let input = inputs.get(ds).context("dataset vanished")?;
        let counts = frames.next().unwrap_or_default();
        let rejected_df = frames.next().unwrap_or_default();
        let mut account = accounting::from_counts(input, &counts)?;
        if has_dups {
            accounting::set_duplicates(&mut account, &frames.next().unwrap_or_default())?;
        }
        let rejected = rejects::locate(input, &rejected_df, inputs.options.delimiter)?;
        let rel = format!("rejected/{}.csv", ds.name());
        let rejected_file = if rejected.is_empty() {
            remove_stale(out, &rel, &previous)?;
            None
        } else {
            write_atomic(&out.join(&rel), |p| rejects::write_to(p, &rejected))?;
            written.push(rel.clone());
            Some(rel)
        };
        input_reports.push(InputReport { account, rejected_file });
    }
    // The audit window spans both datasets.
    let mut bounds: Option<(i64, i64)> = None;
    for _ in &window_plans {
        if let Some((f, t)) = crate::inspect::window_bounds(&frames.next().unwrap_or_default())? {
            bounds = Some(bounds.map_or((f, t), |(bf, bt)| (bf.min(f), bt.max(t))));
        }
    }
    let window = Window::of(bounds, inputs.options.timezone);
    let mut findings = outcome.findings;
    findings.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    for f in findings.iter_mut() {
        let rel = format!("evidence/{}.csv", f.rule_id);
        match f.evidence_table.as_ref() {
            Some(table) => {
                write_atomic(&out.join(&rel), |p| write_evidence(p, table))?;
                f.evidence = Some(Evidence { file: rel.clone(), rows: table.rows.len() as u64 });
                written.push(rel);
            }
            None => remove_stale(out, &rel, &previous)?,
        }
    }
    // Evidence of rules no longer in the rulebook, from an earlier run.
    for old in previous.iter().filter(|p| p.starts_with("evidence/") && !written.contains(p)) {
        remove_stale(out, old, &previous)?;
    }
    let report = Report {
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
        summary: Summary::of(&findings),
        warnings: rb.warnings.iter().map(|w| w.trim_end().to_string()).chain(outcome.warnings).collect(),
        unmapped_labels: outcome.unmapped,
        findings,
    };
    let html = crate::report::render(&report, rb, templates)?;
    write_atomic(&out.join("report.html"), |p| std::fs::write(p, &html))?;
    write_atomic(&out.join("findings.json"), |p| {
        let mut text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(p, text)
    })?;
    written.extend(["report.html".to_string(), "findings.json".to_string()]);
    written.sort();
    write_atomic(&out.join(MANIFEST), |p| std::fs::write(p, written.join("\n") + "\n"))?;
    Ok(report)
}

/// Writes through a temporary file renamed into place, so an interrupted run
/// never leaves a complete-looking but partial file.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("out")));
    write(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("moving {} into place", path.display()))?;
    Ok(())
}

/// Removes an output an earlier run wrote that this run does not produce
/// (e.g. evidence for a rule that now passes) — only if the earlier run's
/// manifest lists it, so a file hutong did not write is never deleted.
fn remove_stale(out: &Path, rel: &str, previous: &[String]) -> anyhow::Result<()> {
    if !previous.iter().any(|p| p == rel) {
        return Ok(());
    }
    let path = out.join(rel);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing stale {}", path.display())),
    }
}

fn write_evidence(path: &Path, table: &crate::findings::EvidenceTable) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
    w.write_record(&table.header).map_err(std::io::Error::other)?;
    for row in &table.rows {
        w.write_record(row).map_err(std::io::Error::other)?;
    }
    w.flush()
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
            "{:<13} {} rows read = {} accepted + {} rejected\n",
            i.account.dataset.name(),
            i.account.rows_read,
            i.account.rows_accepted,
            i.account.rows_rejected
        ));
    }
    s.push('\n');
    for f in &report.findings {
        s.push_str(&format!(
            "{:<10} {:<13} {:<8} {}\n",
            f.rule_id,
            f.verdict.name().to_uppercase(),
            f.severity.name(),
            f.message
        ));
    }
    let sm = &report.summary;
    s.push_str(&format!(
        "\n{} of {} rules fail, {} inconclusive, {} not evaluable, {} pass; findings in {}\n",
        sm.fail,
        report.findings.len(),
        sm.inconclusive,
        sm.not_evaluable,
        sm.pass,
        out.join("findings.json").display()
    ));
    if sm.inconclusive + sm.not_evaluable > 0 {
        s.push_str(
            "inconclusive and not-evaluable rules do not change the exit code unless --fail-on-inconclusive, \
             --fail-on-not-evaluable or --strict is given\n",
        );
    }
    if !report.unmapped_labels.is_empty() {
        let labels: Vec<String> =
            report.unmapped_labels.iter().map(|u| format!("{} ({} rows)", u.label, u.rows)).collect();
        s.push_str(&format!("unmapped labels: {}\n", labels.join(", ")));
    }
    s
}
