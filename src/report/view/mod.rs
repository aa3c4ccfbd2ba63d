//! The report's view model: the findings model of `findings.json`, arranged
//! and worded for people. Numbers are only formatted here, never computed
//! again: every figure comes from a `Finding` or its groups.

use std::collections::BTreeMap;

use serde::Serialize;

use super::charts::{self, BarChart, Heatmap};
use crate::engine::{Rule, Rulebook};
use crate::findings::Report;
use crate::findings::{CoverageFields, Detail, ExclusivityFields, MetricUnit, PairFields, Presentation, ShareFields};
use crate::findings::{Finding, Group, Verdict};
use crate::rulebook::Severity;

/// How many offending rows a table shows before pointing to the evidence file.
pub const TABLE_CAP: usize = 200;

#[derive(Debug, Serialize)]
pub struct View {
    pub title: String,
    pub outcome: String,
    pub outcome_verdict: &'static str,
    pub counts: Vec<(String, u64)>,
    /// Severity rows × verdict columns.
    pub matrix: Vec<SeverityRow>,
    pub glance: Vec<GlanceRow>,
    /// The executive summary: failing findings that count, most severe and
    /// widest breach first; findings that cannot be decided, with why; and
    /// failures that are context (info-level screens, or before a deadline).
    pub triage: Vec<TriageItem>,
    pub undecided: Vec<TriageItem>,
    pub context: Vec<TriageItem>,
    pub coverage: Vec<Section>,
    pub recognition: Vec<Section>,
    pub exclusivity: Vec<Section>,
    pub concentration: Vec<Section>,
    pub parity: Vec<Section>,
    pub codes: Vec<Section>,
    pub datasets: Vec<DatasetView>,
    pub unmapped: Vec<Vec<String>>,
    /// Against a baseline: the failing groups new or resolved since it
    /// (persisting ones are counted only).
    pub baseline_table: Table,
    /// With `--waivers`: every waiver and what became of it.
    pub waiver_table: Table,
    /// With `--waivers`: the waived groups.
    pub waived_table: Table,
    pub rules: Vec<RuleView>,
    pub command: String,
}

#[derive(Debug, Serialize)]
pub struct SeverityRow {
    pub severity: &'static str,
    pub cells: Vec<u64>,
}

/// How a finding is named and marked wherever the report shows it.
#[derive(Debug, Serialize)]
pub struct Head {
    pub id: String,
    pub anchor: String,
    pub title: String,
    pub severity: &'static str,
    pub verdict: &'static str,
    pub verdict_text: &'static str,
    pub icon: &'static str,
    /// "before the deadline of 2022-03-31" for a failure that does not count yet.
    pub deadline_note: String,
}

impl Head {
    fn of(f: &Finding) -> Head {
        Head {
            id: f.rule_id.clone(),
            anchor: anchor(&f.rule_id),
            title: f.title.clone(),
            severity: f.severity.name(),
            verdict: f.verdict.name(),
            verdict_text: verdict_text(f.verdict),
            icon: icon(f.verdict),
            deadline_note: f.before_deadline_of().map(|d| format!("before the deadline of {d}")).unwrap_or_default(),
        }
    }
}

/// One line of the executive summary: a finding in one sentence.
#[derive(Debug, Serialize)]
pub struct TriageItem {
    pub id: String,
    pub anchor: String,
    pub severity: &'static str,
    pub verdict: &'static str,
    pub sentence: String,
}

#[derive(Debug, Serialize)]
pub struct GlanceRow {
    #[serde(flatten)]
    pub head: Head,
    pub headline: String,
    pub gap: String,
    /// With `--period`: the rule's value per period and its last verdict.
    pub spark: Option<super::trend::Spark>,
}

/// One rule's section: its finding in words, a chart and a table.
#[derive(Debug, Serialize)]
pub struct Section {
    #[serde(flatten)]
    pub head: Head,
    pub message: String,
    pub threshold: String,
    pub engineering_default: bool,
    pub charts: Vec<BarChart>,
    /// What was left out of the drawing, in one line.
    pub folded_note: String,
    pub heatmaps: Vec<Heatmap>,
    pub table: Table,
    pub evidence: Option<EvidenceLink>,
    /// Show the first evidence rows in the page: true where the evidence
    /// lists merchants rather than repeating the group table.
    pub show_preview: bool,
    /// With `--period`: the rule's value per period, group by group.
    pub trend: Option<super::trend::Trend>,
}

#[derive(Debug, Serialize, Default)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    /// The first column is a row header.
    pub rows: Vec<Row>,
    pub total: usize,
    pub shown: usize,
    /// Rows folded away by default (`<details>`, no script needed): passing
    /// groups, or the rest of a long offender list; and what they are.
    pub folded: Vec<Row>,
    pub folded_label: String,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub cells: Vec<String>,
    pub verdict: &'static str,
}

#[derive(Debug, Serialize)]
pub struct EvidenceLink {
    pub file: String,
    pub rows: u64,
    /// With `--embed-evidence`: the file as a data URI, and its file name.
    pub embedded: Option<String>,
    pub download_name: String,
    /// Why the file was not embedded (over the size cap).
    pub embed_note: String,
    /// The first rows of the evidence, for the page.
    pub preview: Table,
}

#[derive(Debug, Serialize)]
pub struct DatasetView {
    pub name: String,
    pub files: Vec<Vec<String>>,
    pub rows_read: String,
    pub rows_accepted: String,
    pub rows_rejected: String,
    /// ` + N outside the window`, or empty.
    pub outside: String,
    pub reasons: Vec<(String, String)>,
    pub rejected_file: Option<String>,
    pub missing: String,
    pub extra: String,
    pub duplicates: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    pub id: String,
    pub anchor: String,
    pub title: String,
    pub kind: &'static str,
    pub severity: &'static str,
    pub filter: Option<String>,
    pub parameters: Vec<(String, String)>,
    /// What fails, passes and stays inconclusive, in words.
    pub criteria: Vec<(String, String)>,
    pub engineering_default: bool,
    pub rationale: String,
    pub citation: String,
}

pub fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "Pass",
        Verdict::Fail => "Fail",
        Verdict::Inconclusive => "Inconclusive",
        Verdict::NotEvaluable => "Not evaluable",
        Verdict::Waived => "Waived",
    }
}

/// A text symbol beside the verdict word, so colour is never the only cue.
pub fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✓",
        Verdict::Fail => "✗",
        Verdict::Inconclusive => "?",
        Verdict::NotEvaluable => "–",
        Verdict::Waived => "W",
    }
}

pub fn anchor(id: &str) -> String {
    format!("rule-{}", id.to_ascii_lowercase())
}

/// `12,345`
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The interval a group's verdict was read from.
fn ci(g: &Group) -> Option<(f64, f64)> {
    g.judged.ci_low.zip(g.judged.ci_high)
}

fn reason(g: &Group) -> String {
    g.reason.clone().unwrap_or_default()
}

/// A group's typed fields of one drawing (defaults for another kind's group).
macro_rules! fields {
    ($g:expr, $variant:ident, $ty:ty) => {
        match &$g.detail {
            Some(Detail::$variant(x)) => x.clone(),
            _ => <$ty>::default(),
        }
    };
}

/// A cell of the shares table, empty for a group without shares.
fn share_cell(g: &Group, f: impl Fn(&ShareFields) -> String) -> String {
    match &g.detail {
        Some(Detail::Shares(s)) => f(s),
        _ => String::new(),
    }
}

mod codes;
mod coverage;
mod forest;
mod merchants;
mod recognition;
mod shares;

use shares::presumed;

fn key(g: &Group, k: &str) -> String {
    g.key.get(k).cloned().unwrap_or_default()
}

/// A key value for reading: a region code with its names.
fn key_label(g: &Group, k: &str) -> String {
    let v = key(g, k);
    if k == "region" {
        super::regions::label(&v)
    } else {
        v
    }
}

/// A group's key for reading, region codes with their names.
fn group_label(g: &Group) -> String {
    g.key
        .iter()
        .map(|(k, v)| if k == "region" { super::regions::label(v) } else { v.clone() })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// How a compared value reads: a ratio to two decimals, a difference in points.
fn compared(value: Option<f64>, ratio: bool) -> String {
    match value {
        None => "n/a".into(),
        Some(v) if ratio => format!("{v:.2}×"),
        Some(v) => format!("{:+.1} pp", 100.0 * v),
    }
}

pub fn build(report: &Report, rb: &Rulebook) -> View {
    let findings = &report.findings;
    let mut counts = Vec::new();
    for (label, n) in [
        ("Fail", report.summary.fail),
        ("Inconclusive", report.summary.inconclusive),
        ("Pass", report.summary.pass),
        ("Not evaluable", report.summary.not_evaluable),
    ] {
        counts.push((label.to_string(), n));
    }
    let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];
    let order = [Verdict::Fail, Verdict::Inconclusive, Verdict::Pass, Verdict::NotEvaluable];
    let matrix = severities
        .iter()
        .map(|s| SeverityRow {
            severity: s.name(),
            cells: order
                .iter()
                .map(|v| findings.iter().filter(|f| f.severity == *s && f.verdict == *v).count() as u64)
                .collect(),
        })
        .collect();
    let failing: Vec<&Finding> = findings.iter().filter(|f| f.verdict == Verdict::Fail).collect();
    // Info-level screens and failures before their deadline are context:
    // they are listed, but do not set the headline's alarm.
    let is_context = |f: &Finding| f.severity == Severity::Info || f.before_deadline_of().is_some();
    let counted: Vec<&&Finding> = failing.iter().filter(|f| !is_context(f)).collect();
    let worst = counted.iter().map(|f| f.severity).max();
    let sm = &report.summary;
    let rest = format!("{} inconclusive, {} not evaluable, {} pass", sm.inconclusive, sm.not_evaluable, sm.pass);
    let context_note = match failing.len() - counted.len() {
        0 => String::new(),
        1 => " One more fails as context (a market screen, or before its deadline).".to_string(),
        n => format!(" {n} more fail as context (market screens, or before their deadline)."),
    };
    let outcome = match worst {
        Some(s) => format!(
            "{} of {} rules fail, the most severe at {} severity; {rest}.{context_note}",
            counted.len(),
            findings.len(),
            s.name(),
        ),
        None if !failing.is_empty() => format!(
            "No rule fails that counts: {} of {} fail only as context (market screens, or before their deadline); {rest}.",
            failing.len(),
            findings.len()
        ),
        None if sm.inconclusive + sm.not_evaluable > 0 => format!(
            "No rule fails, but {} of {} cannot be decided on this data: {rest}.",
            sm.inconclusive + sm.not_evaluable,
            findings.len()
        ),
        None => format!("No rule fails: {} of {} pass.", sm.pass, findings.len()),
    };
    let outcome_verdict = if worst.is_some() {
        "fail"
    } else if sm.inconclusive + sm.not_evaluable > 0 {
        "inconclusive"
    } else {
        "pass"
    };
    let mut view = View {
        title: format!("{} — audit report", rb.meta.title),
        outcome,
        outcome_verdict,
        counts,
        matrix,
        glance: glance_rows(findings, rb),
        triage: triage(findings, rb, |f| f.verdict == Verdict::Fail && !is_context(f)),
        undecided: triage(findings, rb, |f| matches!(f.verdict, Verdict::Inconclusive | Verdict::NotEvaluable)),
        context: triage(findings, rb, |f| f.verdict == Verdict::Fail && is_context(f)),
        coverage: Vec::new(),
        recognition: Vec::new(),
        exclusivity: Vec::new(),
        concentration: Vec::new(),
        parity: Vec::new(),
        codes: Vec::new(),
        datasets: datasets(report),
        unmapped: report
            .unmapped_labels
            .iter()
            .map(|u| {
                let label = if u.ambiguous.is_empty() {
                    u.label.clone()
                } else {
                    format!("{} (ambiguous: {})", u.label, u.ambiguous.join(", "))
                };
                vec![label, u.dataset.clone(), u.column.clone(), thousands(u.rows)]
            })
            .collect(),
        baseline_table: capped(
            "Failing groups new or resolved since the baseline",
            &["Status", "Rule", "Group", "Verdict now"],
            baseline_rows(report),
        ),
        waiver_table: capped(
            "Every waiver and what became of it",
            &["Status", "Rule", "Group", "Reason", "Owner", "Expires", "Ticket", "Failing groups matched"],
            waiver_rows(report),
        ),
        waived_table: capped("Waived groups", &["Rule", "Group", "Value", "Waiver reason"], waived_groups(report)),
        rules: rb.rules.iter().map(rule_view).collect(),
        command: report.command.join(" "),
    };
    // Pair findings mark the matrices' cells that work one way only.
    let pairs: Vec<&Finding> = findings.iter().filter(|f| f.presentation == Presentation::Pairs).collect();
    for f in findings {
        match &f.presentation {
            Presentation::Coverage { ratio, merchant_list, .. } => {
                view.coverage.push(coverage::coverage(f, *ratio, *merchant_list, rb))
            }
            Presentation::Recognition { regions, providers } => {
                view.recognition.push(recognition::acceptance(f, regions, providers, &pairs))
            }
            Presentation::Pairs => view.recognition.push(recognition::reciprocity_section(f)),
            Presentation::Merchants => view.exclusivity.push(merchants::exclusivity(f)),
            Presentation::Shares { .. } => view.concentration.push(shares::concentration(f, rb)),
            Presentation::Forest { ratio, unit, .. } => view.parity.push(forest::parity(f, *ratio, *unit, rb)),
            Presentation::Codes => view.codes.push(codes::codes(f, rb)),
            // A finding without a drawing is still in the glance table.
            Presentation::Table => {}
        }
    }
    view
}

fn section(f: &Finding) -> Section {
    Section {
        head: Head::of(f),
        message: f.message.clone(),
        threshold: f.threshold_text.clone(),
        engineering_default: f.engineering_default,
        charts: Vec::new(),
        folded_note: String::new(),
        heatmaps: Vec::new(),
        table: Table::default(),
        evidence: f.evidence.as_ref().map(|e| EvidenceLink {
            file: e.file.clone(),
            rows: e.rows,
            embedded: None,
            download_name: e.file.rsplit('/').next().unwrap_or(&e.file).to_string(),
            embed_note: String::new(),
            preview: f.evidence_table.as_ref().map(preview).unwrap_or_default(),
        }),
        show_preview: false,
        trend: super::trend::trend(f, group_label),
    }
}

/// Offenders shown openly before the rest of the list is folded away.
pub const PREVIEW_ROWS: usize = 10;

fn preview(t: &crate::findings::EvidenceTable) -> Table {
    let mut rows: Vec<Row> = t.rows.iter().take(TABLE_CAP).map(|r| Row { cells: r.clone(), verdict: "fail" }).collect();
    let folded = if rows.len() > PREVIEW_ROWS { rows.split_off(PREVIEW_ROWS) } else { Vec::new() };
    let folded_label = match folded.len() {
        0 => String::new(),
        n if t.rows.len() > TABLE_CAP => {
            format!(
                "{} more offenders here (of {} in all; every one is in the evidence file)",
                thousands(n as u64),
                thousands(t.rows.len() as u64)
            )
        }
        n => format!("{} more offenders", thousands(n as u64)),
    };
    Table {
        caption: "Offenders (from the evidence file)".to_string(),
        header: t.header.clone(),
        rows,
        total: t.rows.len(),
        shown: t.rows.len().min(PREVIEW_ROWS),
        folded,
        folded_label,
    }
}

/// A rule's group table: groups that fail or are undecided shown, passing
/// groups folded away (when there are both).
fn group_table(caption: &str, header: &[&str], rows: Vec<Row>) -> Table {
    let mut t = capped(caption, header, rows);
    let (passing, open): (Vec<Row>, Vec<Row>) =
        std::mem::take(&mut t.rows).into_iter().partition(|r| r.verdict == "pass");
    if passing.is_empty() || open.is_empty() {
        t.rows = if open.is_empty() { passing } else { open };
        return t;
    }
    t.shown = open.len() + passing.len();
    t.folded_label =
        if passing.len() == 1 { "1 passing group".into() } else { format!("{} passing groups", passing.len()) };
    t.rows = open;
    t.folded = passing;
    t
}

/// A row for each group that does not pass, with the given cells.
fn rows_not_passing(f: &Finding, cells: impl Fn(&Group) -> Vec<String>) -> Vec<Row> {
    f.groups
        .iter()
        .filter(|g| g.verdict != Verdict::Pass)
        .map(|g| Row { cells: cells(g), verdict: g.verdict.name() })
        .collect()
}

fn capped(caption: &str, header: &[&str], rows: Vec<Row>) -> Table {
    let total = rows.len();
    Table {
        caption: caption.to_string(),
        header: header.iter().map(|s| s.to_string()).collect(),
        rows: rows.into_iter().take(TABLE_CAP).collect(),
        total,
        shown: total.min(TABLE_CAP),
        folded: Vec::new(),
        folded_label: String::new(),
    }
}

/// At most this many bytes of one evidence file are embedded in the report,
/// and at most `EMBED_TOTAL` in all: a report stays small enough to mail.
pub const EMBED_FILE: usize = 2 << 20;
pub const EMBED_TOTAL: usize = 16 << 20;

/// Embeds every section's evidence file as a data URI, in rule order, until
/// the caps; a file over them keeps its link and says why it is not embedded.
pub fn embed_evidence(view: &mut View, report: &Report) -> anyhow::Result<()> {
    use base64::Engine as _;
    let mut total = 0usize;
    let mut files: BTreeMap<String, (Option<String>, String)> = BTreeMap::new();
    for f in &report.findings {
        let (Some(table), Some(e)) = (f.evidence_table.as_ref(), f.evidence.as_ref()) else { continue };
        let csv = crate::output::evidence_csv(table)?;
        let entry = if csv.len() > EMBED_FILE || total + csv.len() > EMBED_TOTAL {
            let cap = if csv.len() > EMBED_FILE { EMBED_FILE } else { EMBED_TOTAL };
            let note = format!(
                "not embedded: {} is {:.1} MB, over the {} MB {} for embedded evidence",
                e.file,
                csv.len() as f64 / 1e6,
                cap >> 20,
                if csv.len() > EMBED_FILE { "limit per file" } else { "limit in all" }
            );
            (None, note)
        } else {
            total += csv.len();
            let uri = format!(
                "data:text/csv;charset=utf-8;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&csv)
            );
            (Some(uri), String::new())
        };
        files.insert(f.rule_id.clone(), entry);
    }
    let sections = view
        .coverage
        .iter_mut()
        .chain(view.recognition.iter_mut())
        .chain(view.exclusivity.iter_mut())
        .chain(view.concentration.iter_mut())
        .chain(view.parity.iter_mut())
        .chain(view.codes.iter_mut());
    for s in sections {
        if let (Some(link), Some((uri, note))) = (s.evidence.as_mut(), files.get(&s.head.id)) {
            link.embedded = uri.clone();
            link.embed_note = note.clone();
        }
    }
    Ok(())
}

/// Most severe first, then failing, undecided, not evaluable, passing; then id.
fn severity_order(f: &Finding) -> (std::cmp::Reverse<Severity>, u8, String) {
    let verdict = match f.verdict {
        Verdict::Fail => 0,
        Verdict::Inconclusive => 1,
        Verdict::NotEvaluable => 2,
        Verdict::Waived => 3,
        Verdict::Pass => 4,
    };
    (std::cmp::Reverse(f.severity), verdict, f.rule_id.clone())
}

/// The glance table's rows, sorted by severity, verdict, then id.
fn glance_rows(findings: &[Finding], rb: &Rulebook) -> Vec<GlanceRow> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| severity_order(f));
    sorted.into_iter().map(|f| glance(f, rb)).collect()
}

/// The findings `keep` selects, each in one sentence, most severe first and,
/// at one severity, the widest breach (most failing groups) first.
fn triage(findings: &[Finding], rb: &Rulebook, keep: impl Fn(&Finding) -> bool) -> Vec<TriageItem> {
    let mut picked: Vec<&Finding> = findings.iter().filter(|f| keep(f)).collect();
    let failing_groups = |f: &Finding| f.groups.iter().filter(|g| g.verdict == Verdict::Fail).count();
    picked.sort_by_key(|f| (std::cmp::Reverse(f.severity), std::cmp::Reverse(failing_groups(f)), f.rule_id.clone()));
    picked
        .into_iter()
        .map(|f| {
            let sentence = if f.verdict == Verdict::Fail {
                let g = glance(f, rb);
                let what = if g.gap.is_empty() { g.headline } else { g.gap };
                let deadline =
                    f.before_deadline_of().map(|d| format!(" (before the deadline of {d})")).unwrap_or_default();
                format!("{}{deadline}: {what}.", f.title)
            } else {
                format!("{}: {}", f.title, f.message)
            };
            TriageItem {
                id: f.rule_id.clone(),
                anchor: anchor(&f.rule_id),
                severity: f.severity.name(),
                verdict: f.verdict.name(),
                sentence,
            }
        })
        .collect()
}

/// The headline and the gap to target, in plain words, from the groups.
fn glance(f: &Finding, rb: &Rulebook) -> GlanceRow {
    let name = |id: &str| rb.display_name(id);
    // Suppressed groups (redacted editions) have no figures to word.
    let fails: Vec<&Group> = f.groups.iter().filter(|g| g.verdict == Verdict::Fail && !g.suppressed).collect();
    let hidden: Vec<String> =
        f.groups.iter().filter(|g| g.verdict == Verdict::Fail && g.suppressed).map(group_label).collect();
    let evaluable = f.groups.iter().filter(|g| g.verdict != Verdict::NotEvaluable).count();
    let threshold = f.threshold.unwrap_or(0.0);
    let (headline, gap) = match &f.presentation {
        Presentation::Coverage { ratio, unit, provider, .. } => {
            let relative = *ratio;
            let headline = match f.value {
                Some(v) if relative => format!("lowest ratio {v:.2} (target ≥ {threshold})"),
                Some(v) => format!("lowest share {} (target ≥ {})", pct(v), pct(threshold)),
                None => "no data".into(),
            };
            let gap = fails
                .iter()
                .map(|g| {
                    let prov = if g.key.contains_key("provider") { key(g, "provider") } else { provider.clone() };
                    let target = if relative {
                        format!(
                            "{threshold}× {}",
                            name(&fields!(g, Coverage, CoverageFields).reference_provider.unwrap_or_default())
                        )
                    } else {
                        pct(threshold)
                    };
                    format!(
                        "{} more {} {unit} must offer {} to reach {target}",
                        fields!(g, Coverage, CoverageFields).gap_units,
                        key(g, "platform"),
                        name(&prov)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            (headline, gap)
        }
        Presentation::Recognition { .. } => (
            format!("{} of {} city cells not live", fails.len(), f.groups.len()),
            fails
                .iter()
                .map(|g| {
                    let why = if g.n == 0 {
                        "no scans".to_string()
                    } else {
                        format!("success {}", pct(g.value.unwrap_or(0.0)))
                    };
                    format!("{} {} → {}: {why}", key_label(g, "region"), name(&key(g, "app")), name(&key(g, "issuer")))
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Presentation::Pairs => (
            format!("{} of {} pairs not alike both ways", fails.len(), f.groups.len()),
            fails
                .iter()
                .map(|g| {
                    format!(
                        "{}: {} ↔ {} does not work alike both ways",
                        key_label(g, "region"),
                        name(&key(g, "provider_a")),
                        name(&key(g, "provider_b"))
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Presentation::Codes => (
            match f.value {
                Some(v) => format!("lowest share {} (target ≥ {})", pct(v), pct(threshold)),
                None => "no codes".into(),
            },
            fails
                .iter()
                .map(|g| {
                    let c = fields!(g, Codes, crate::findings::CodeFields);
                    let more = crate::engine::util::needed(threshold, g.n).saturating_sub(c.codes_ok);
                    format!("{}: {} more of {} codes must count", group_label(g), more, g.n)
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Presentation::Merchants => (
            format!("{} exclusive merchants (allowed ≤ {threshold})", f.value.unwrap_or(0.0)),
            fails
                .iter()
                .map(|g| {
                    format!(
                        "{} {} merchants offer only {}",
                        fields!(g, Exclusivity, ExclusivityFields).exclusive_merchants,
                        key(g, "platform"),
                        name(&fields!(g, Exclusivity, ExclusivityFields).affiliated_provider)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Presentation::Shares { dominance } => {
            let dominance = *dominance;
            let headline = if dominance {
                format!("presumption met in {} of {} groups", fails.len(), evaluable)
            } else {
                format!(
                    "highest HHI {} (screen ≤ {})",
                    thousands(f.value.unwrap_or(0.0).round() as u64),
                    thousands(threshold as u64)
                )
            };
            let gap = fails
                .iter()
                .map(|g| {
                    if dominance {
                        format!("{}: {} presumed dominant", group_label(g), presumed(g, rb))
                    } else {
                        format!(
                            "{}: HHI {}",
                            group_label(g),
                            thousands(fields!(g, Shares, ShareFields).hhi.round() as u64)
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            (headline, gap)
        }
        Presentation::Table => (
            format!("{} of {} groups fail", fails.len(), f.groups.len()),
            fails.iter().map(|g| group_label(g)).collect::<Vec<_>>().join("; "),
        ),
        Presentation::Forest { ratio, threshold, .. } => {
            let ratio = *ratio;
            let headline = format!("worst {} (threshold {threshold})", compared(f.value, ratio));
            let gap = fails
                .iter()
                .map(|g| {
                    format!("{} on {}: {}", name(&key(g, "provider")), key(g, "platform"), compared(g.value, ratio))
                })
                .collect::<Vec<_>>()
                .join("; ");
            (headline, gap)
        }
    };
    let gap = if f.verdict == Verdict::NotEvaluable {
        f.message.clone()
    } else if gap.is_empty() {
        match f.verdict {
            Verdict::Pass => "target met".into(),
            Verdict::Inconclusive => "more data needed".into(),
            _ => String::new(),
        }
    } else {
        gap
    };
    let gap = match (gap.is_empty(), hidden.is_empty()) {
        (_, true) => gap,
        (true, false) => format!("{}: failing, figures suppressed (a small group)", hidden.join(", ")),
        (false, false) => format!("{gap}; {}: failing, figures suppressed (a small group)", hidden.join(", ")),
    };
    GlanceRow { head: Head::of(f), headline, gap, spark: super::trend::spark(f) }
}

fn baseline_rows(report: &Report) -> Vec<Row> {
    let mut rows = Vec::new();
    for f in &report.findings {
        for g in &f.groups {
            let status = match g.baseline_status {
                Some(crate::findings::BaselineStatus::New) => "new",
                Some(crate::findings::BaselineStatus::Resolved) => "resolved",
                _ => continue,
            };
            let cells =
                vec![status.to_string(), f.rule_id.clone(), group_label(g), verdict_text(g.verdict).to_string()];
            rows.push(Row { cells, verdict: g.verdict.name() });
        }
    }
    if let Some(b) = &report.baseline {
        for gone in &b.resolved_groups {
            let group = gone.key.values().cloned().collect::<Vec<_>>().join(" / ");
            rows.push(Row {
                cells: vec!["resolved".into(), gone.rule_id.clone(), group, "absent".into()],
                verdict: "",
            });
        }
    }
    rows
}

fn waiver_rows(report: &Report) -> Vec<Row> {
    let Some(w) = &report.waivers else { return Vec::new() };
    w.waivers
        .iter()
        .map(|x| {
            let status = match x.status {
                crate::findings::WaiverStatus::Applied => "applied",
                crate::findings::WaiverStatus::Expired => "expired: not applied",
                crate::findings::WaiverStatus::Unused => "unused",
            };
            let group = if x.group.is_empty() {
                "every group".to_string()
            } else {
                x.group.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
            };
            let cells = vec![
                status.to_string(),
                x.rule.clone(),
                group,
                x.waiver.reason.clone(),
                x.waiver.owner.clone(),
                x.waiver.expires.clone(),
                x.waiver.ticket.clone().unwrap_or_default(),
                x.groups.to_string(),
            ];
            Row { cells, verdict: "" }
        })
        .collect()
}

fn waived_groups(report: &Report) -> Vec<Row> {
    let mut rows = Vec::new();
    for f in &report.findings {
        for g in f.groups.iter().filter(|g| g.verdict == Verdict::Waived) {
            let reason = g.waiver.as_ref().map(|w| w.reason.clone()).unwrap_or_default();
            let cells = vec![f.rule_id.clone(), group_label(g), crate::findings::number_text(g.value), reason];
            rows.push(Row { cells, verdict: "waived" });
        }
    }
    rows
}

fn datasets(report: &Report) -> Vec<DatasetView> {
    report
        .inputs
        .iter()
        .map(|i| {
            let a = &i.account;
            DatasetView {
                name: a.dataset.name().to_string(),
                files: a
                    .files
                    .iter()
                    .map(|f| {
                        vec![f.path.display().to_string(), thousands(f.bytes), thousands(f.rows_read), f.sha256.clone()]
                    })
                    .collect(),
                rows_read: thousands(a.rows_read),
                rows_accepted: thousands(a.rows_accepted),
                rows_rejected: thousands(a.rows_rejected),
                outside: if a.rows_outside_window > 0 {
                    format!(" + {} outside the audit window (--from / --to)", thousands(a.rows_outside_window))
                } else {
                    String::new()
                },
                reasons: a.rejected_by_reason.iter().map(|(r, n)| (r.clone(), thousands(*n))).collect(),
                rejected_file: i.rejected_file.clone(),
                missing: a.columns_missing.join(", "),
                extra: a.extra_columns.join(", "),
                duplicates: a.duplicate_ids.filter(|n| *n > 0).map(thousands),
            }
        })
        .collect()
}

fn rule_view(r: &Rule) -> RuleView {
    RuleView {
        id: r.id.clone(),
        anchor: format!("method-{}", r.id.to_ascii_lowercase()),
        title: r.title.clone(),
        kind: crate::rulebook::SpecInfo::kind(&r.spec),
        severity: r.severity.name(),
        filter: r.filter.as_ref().map(|f| f.text.clone()),
        parameters: crate::engine::explain::parameters(&r.spec).into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        criteria: crate::engine::explain::criteria(r).into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        engineering_default: r.engineering_default,
        rationale: r.rationale.clone(),
        citation: r.citation.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(compared(Some(0.0575), false), "+5.8 pp");
        assert_eq!(compared(Some(1.6875), true), "1.69×");
        assert_eq!(anchor("CN-PL-01"), "rule-cn-pl-01");
    }
}

#[cfg(test)]
mod cap_tests {
    use super::*;
    use crate::findings::EvidenceTable;

    #[test]
    fn long_evidence_is_capped_in_the_page() {
        let table = EvidenceTable {
            header: vec!["merchant_id".into()],
            rows: (0..100_000).map(|i| vec![format!("M{i}")]).collect(),
        };
        let t = preview(&table);
        // Ten shown, the rest of the first 200 folded away, all in the file.
        assert_eq!((t.shown, t.total, t.rows.len(), t.folded.len()), (PREVIEW_ROWS, 100_000, 10, 190));
        assert_eq!(t.folded_label, "190 more offenders here (of 100,000 in all; every one is in the evidence file)");
        let short = EvidenceTable { header: vec!["merchant_id".into()], rows: vec![vec!["M1".into()]; 12] };
        let t = preview(&short);
        assert_eq!((t.rows.len(), t.folded.len(), t.folded_label.as_str()), (10, 2, "2 more offenders"));
    }

    #[test]
    fn passing_groups_are_folded_only_beside_others() {
        let row = |v: &'static str| Row { cells: vec![v.into()], verdict: v };
        let t = group_table("c", &["h"], vec![row("pass"), row("fail"), row("pass"), row("inconclusive")]);
        let verdicts = |rows: &[Row]| rows.iter().map(|r| r.verdict).collect::<Vec<_>>();
        assert_eq!((verdicts(&t.rows), verdicts(&t.folded)), (vec!["fail", "inconclusive"], vec!["pass", "pass"]));
        assert_eq!(t.folded_label, "2 passing groups");
        let all_pass = group_table("c", &["h"], vec![row("pass"), row("pass")]);
        assert_eq!((all_pass.rows.len(), all_pass.folded.len()), (2, 0));
    }
}
