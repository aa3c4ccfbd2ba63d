//! The report's view model: the findings model of `findings.json`, arranged
//! and worded for people. Numbers are only formatted here, never computed
//! again: every figure comes from a `Finding` or its groups.

use std::collections::BTreeMap;

use serde::Serialize;

use super::charts::{self, BarChart, Heatmap};
use super::i18n::Catalog;
use crate::engine::{Rule, Rulebook};
use crate::findings::Report;
use crate::findings::{CoverageFields, Detail, ExclusivityFields, MetricUnit, PairFields, Presentation, ShareFields};
use crate::findings::{Finding, Group, Verdict};
use crate::lang::{Lang, Localized};
use crate::rulebook::Severity;

/// How many offending rows a table shows before pointing to the evidence file.
pub const TABLE_CAP: usize = 200;

/// Text as shown, with its `lang` attribute (and fallback mark) when it is
/// not in the report's language.
#[derive(Debug, Serialize, Default, Clone)]
pub struct Shown {
    pub text: String,
    /// ` lang="en" data-fallback="…"`, or empty.
    pub attr: String,
}

impl Shown {
    /// Rulebook text in the report's language, else the other one, marked.
    pub fn of(text: &Localized, l: &Catalog) -> Shown {
        let (t, fallback) = text.get(l.lang);
        Shown { text: t.to_string(), attr: fallback.map(|from| marked(from, l)).unwrap_or_default() }
    }

    /// The engine's English text, translated where the catalogue can.
    pub fn engine(text: &str, l: &Catalog) -> Shown {
        let t = l.engine(text);
        Shown { text: t.text, attr: if t.english { marked(Lang::En, l) } else { String::new() } }
    }
}

/// The attributes of text in another language than the report's.
fn marked(from: Lang, l: &Catalog) -> String {
    format!(r#" lang="{}" data-fallback="{}""#, from.tag(), l.t(&format!("lang_{}", from.tag().replace('-', "_"))))
}

#[derive(Debug, Serialize)]
pub struct View {
    /// The report's language tag.
    pub lang: &'static str,
    pub title: String,
    pub meta_title: Shown,
    /// Rulebook version, jurisdiction, effective date and window, in a line.
    pub sub: String,
    /// The redacted edition's note, or empty.
    pub edition: String,
    pub undecided_intro: String,
    pub context_intro: String,
    pub inputs: String,
    pub generated: String,
    pub generated_at: String,
    pub per_period: String,
    pub baseline_intro: String,
    pub waivers_intro: String,
    pub warnings: Vec<Shown>,
    pub note: Shown,
    pub sources: Vec<Shown>,
    pub schema: String,
    pub footer: String,
    pub outcome: String,
    pub outcome_verdict: &'static str,
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
    pub severity_text: String,
    pub cells: Vec<u64>,
}

/// How a finding is named and marked wherever the report shows it.
#[derive(Debug, Serialize)]
pub struct Head {
    pub id: String,
    pub anchor: String,
    pub title: String,
    /// The title's `lang` attribute where it falls back to another language.
    pub title_attr: String,
    pub severity: &'static str,
    pub severity_text: String,
    pub verdict: &'static str,
    pub verdict_text: String,
    pub icon: &'static str,
    /// "before the deadline of 2022-03-31" for a failure that does not count yet.
    pub deadline_note: String,
}

impl Head {
    fn of(f: &Finding, rb: &Rulebook, l: &Catalog) -> Head {
        let title = rule_title(f, rb, l);
        Head {
            id: f.rule_id.clone(),
            anchor: anchor(&f.rule_id),
            title: title.text,
            title_attr: title.attr,
            severity: f.severity.name(),
            severity_text: severity_text(f.severity, l),
            verdict: f.verdict.name(),
            verdict_text: verdict_text(f.verdict, l),
            icon: icon(f.verdict),
            deadline_note: f
                .before_deadline_of()
                .map(|d| l.f("before_deadline", &[("date", &l.date(d))]))
                .unwrap_or_default(),
        }
    }
}

/// A finding's rule title in the report's language (the finding's own
/// title when the rulebook no longer has the rule).
fn rule_title(f: &Finding, rb: &Rulebook, l: &Catalog) -> Shown {
    match rb.rules.iter().find(|r| r.id == f.rule_id) {
        Some(r) => Shown::of(&r.text.title, l),
        None => Shown::of(&Localized::plain(f.title.clone()), l),
    }
}

pub fn severity_text(s: Severity, l: &Catalog) -> String {
    l.t(&format!("severity_{}", s.name()))
}

/// One line of the executive summary: a finding in one sentence.
#[derive(Debug, Serialize)]
pub struct TriageItem {
    pub id: String,
    pub anchor: String,
    pub severity: &'static str,
    pub severity_text: String,
    pub verdict: &'static str,
    pub verdict_text: String,
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
    pub message_attr: String,
    /// "Threshold: … (an engineering default, not set by law)."
    pub threshold_line: String,
    pub engineering_default: bool,
    /// The section's fixed words (macros see no catalogue).
    pub words: BTreeMap<&'static str, String>,
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
    /// " — first 200 of 1,234 rows", or empty.
    pub more_rows: String,
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
    /// "(12 rows)".
    pub rows_text: String,
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
    pub title: String,
    pub files: Vec<Vec<String>>,
    pub files_caption: String,
    /// "N rows read = accepted + rejected (+ outside the window)."
    pub account: String,
    pub reasons: Vec<(String, String)>,
    pub reasons_caption: String,
    pub rejected_file: Option<String>,
    /// Sentences, or empty.
    pub missing: String,
    pub extra: String,
    pub duplicates: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    pub id: String,
    pub anchor: String,
    pub title: Shown,
    pub kind: String,
    pub severity: String,
    pub filter: Option<String>,
    pub parameters: Vec<(String, String)>,
    /// What fails, passes and stays inconclusive, in words, with the
    /// `lang` attribute of text left in English.
    pub criteria: Vec<(String, String, String)>,
    pub engineering_default: bool,
    pub rationale: Shown,
    pub citation: Shown,
}

pub fn verdict_text(v: Verdict, l: &Catalog) -> String {
    l.t(&format!("verdict_{}", v.name()))
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

fn reason(g: &Group, l: &Catalog) -> String {
    g.reason.as_deref().map(|r| l.engine_text(r)).unwrap_or_default()
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

/// A group's platform for reading: its name in a language other than
/// English where the rulebook gives one, else its id.
fn platform(g: &Group, l: &Catalog) -> String {
    l.name_of(&key(g, "platform"))
}

/// A key value for reading: a region code with its names.
fn key_label(g: &Group, k: &str, l: &Catalog) -> String {
    let v = key(g, k);
    if k == "region" {
        super::regions::label(&v, l.lang)
    } else {
        v
    }
}

/// A group's key for reading, region codes with their names.
fn group_label(g: &Group, l: &Catalog) -> String {
    g.key.iter().map(|(k, v)| key_value(k, v, l)).collect::<Vec<_>>().join(" / ")
}

/// One key value for reading: regions named, channels in words.
fn key_value(k: &str, v: &str, l: &Catalog) -> String {
    match k {
        "region" => super::regions::label(v, l.lang),
        "channel" => l.t_or(&format!("channel_{v}"), v),
        "provider" | "app" | "issuer" | "provider_a" | "provider_b" | "platform" => l.name_of(v),
        _ => v.to_string(),
    }
}

/// How a compared value reads: a ratio to two decimals, a difference in points.
fn compared(value: Option<f64>, ratio: bool, l: &Catalog) -> String {
    match value {
        None => l.t("not_available"),
        Some(v) if ratio => format!("{v:.2}×"),
        Some(v) => format!("{:+.1}{}", 100.0 * v, l.t("pp")),
    }
}

pub fn build(report: &Report, rb: &Rulebook, l: &Catalog) -> View {
    let findings = &report.findings;
    let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];
    let order = [Verdict::Fail, Verdict::Inconclusive, Verdict::Pass, Verdict::NotEvaluable];
    let matrix = severities
        .iter()
        .map(|s| SeverityRow {
            severity: s.name(),
            severity_text: severity_text(*s, l),
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
    let rest = l.f(
        "outcome_rest",
        &[("inconclusive", &sm.inconclusive), ("not_evaluable", &sm.not_evaluable), ("pass", &sm.pass)],
    );
    let context_note = match failing.len() - counted.len() {
        0 => String::new(),
        n => l.n("outcome_context", n as u64, &[("n", &n)]),
    };
    let total = findings.len();
    let outcome = match worst {
        Some(s) => l.f(
            "outcome_fail",
            &[
                ("n", &counted.len()),
                ("total", &total),
                ("severity", &severity_text(s, l)),
                ("rest", &rest),
                ("context", &context_note),
            ],
        ),
        None if !failing.is_empty() => {
            l.f("outcome_context_only", &[("n", &failing.len()), ("total", &total), ("rest", &rest)])
        }
        None if sm.inconclusive + sm.not_evaluable > 0 => l.f(
            "outcome_undecided",
            &[("n", &(sm.inconclusive + sm.not_evaluable)), ("total", &total), ("rest", &rest)],
        ),
        None => l.f("outcome_pass", &[("n", &sm.pass), ("total", &total)]),
    };
    let outcome_verdict = if worst.is_some() {
        "fail"
    } else if sm.inconclusive + sm.not_evaluable > 0 {
        "inconclusive"
    } else {
        "pass"
    };
    let meta_title = Shown::of(&rb.meta.text.title, l);
    let undecided = triage(findings, rb, l, |f| matches!(f.verdict, Verdict::Inconclusive | Verdict::NotEvaluable));
    let context = triage(findings, rb, l, |f| f.verdict == Verdict::Fail && is_context(f));
    let mut view = View {
        lang: l.lang.tag(),
        title: l.f("page_title", &[("title", &meta_title.text)]),
        sub: sub_line(report, rb, l),
        edition: report.edition.as_ref().map(|e| edition_note(e, l)).unwrap_or_default(),
        undecided_intro: l.f("undecided_intro", &[("n", &undecided.len())]),
        context_intro: l.f("context_intro", &[("n", &context.len())]),
        inputs: report
            .inputs
            .iter()
            .map(|i| {
                l.f(
                    "input_line",
                    &[
                        ("dataset", &dataset_title(i.account.dataset.name(), l)),
                        ("rows", &thousands(i.account.rows_read)),
                        ("rejected", &thousands(i.account.rows_rejected)),
                    ],
                )
            })
            .collect::<Vec<_>>()
            .join(&l.t("list_sep")),
        generated: l.f("generated_by", &[("at", &l.date(&report.generated_at)), ("version", &report.tool.version)]),
        generated_at: l.date(&report.generated_at),
        per_period: report.period.as_ref().map(|p| l.t(&format!("per_{}", p.name()))).unwrap_or_default(),
        baseline_intro: report
            .baseline
            .as_ref()
            .map(|b| {
                l.f(
                    "baseline_intro",
                    &[
                        ("date", &l.date(&b.generated_at)),
                        ("path", &b.path),
                        ("new", &b.new),
                        ("persisting", &b.persisting),
                        ("resolved", &b.resolved),
                    ],
                )
            })
            .unwrap_or_default(),
        waivers_intro: report
            .waivers
            .as_ref()
            .map(|w| l.f("waivers_intro", &[("file", &w.file), ("date", &l.date(&w.as_of))]))
            .unwrap_or_default(),
        warnings: report.warnings.iter().map(|w| Shown::engine(w, l)).collect(),
        note: Shown::of(&rb.meta.text.note, l),
        sources: rb.meta.text.sources.iter().map(|s| Shown::of(s, l)).collect(),
        schema: l.f("schema_version", &[("version", &report.schema_version)]),
        footer: l.f(
            "footer",
            &[
                ("version", &report.tool.version),
                ("title", &meta_title.text),
                ("rulebook_version", &rb.meta.version),
                ("at", &l.date(&report.generated_at)),
            ],
        ),
        meta_title,
        outcome,
        outcome_verdict,
        matrix,
        glance: glance_rows(findings, rb, l),
        triage: triage(findings, rb, l, |f| f.verdict == Verdict::Fail && !is_context(f)),
        undecided,
        context,
        coverage: Vec::new(),
        recognition: Vec::new(),
        exclusivity: Vec::new(),
        concentration: Vec::new(),
        parity: Vec::new(),
        codes: Vec::new(),
        datasets: datasets(report, l),
        unmapped: report
            .unmapped_labels
            .iter()
            .map(|u| {
                let label = if u.ambiguous.is_empty() {
                    u.label.clone()
                } else {
                    l.f("ambiguous", &[("label", &u.label), ("providers", &u.ambiguous.join(", "))])
                };
                vec![label, dataset_title(&u.dataset, l), u.column.clone(), thousands(u.rows)]
            })
            .collect(),
        baseline_table: capped(
            l,
            &l.t("baseline_caption"),
            &[&l.t("status"), &l.t("rule"), &l.t("group"), &l.t("verdict_now")],
            baseline_rows(report, l),
        ),
        waiver_table: capped(
            l,
            &l.t("waiver_caption"),
            &[
                &l.t("status"),
                &l.t("rule"),
                &l.t("group"),
                &l.t("reason"),
                &l.t("owner"),
                &l.t("expires"),
                &l.t("ticket"),
                &l.t("failing_groups_matched"),
            ],
            waiver_rows(report, l),
        ),
        waived_table: capped(
            l,
            &l.t("waived_caption"),
            &[&l.t("rule"), &l.t("group"), &l.t("value"), &l.t("waiver_reason")],
            waived_groups(report, l),
        ),
        rules: rb.rules.iter().map(|r| rule_view(r, l)).collect(),
        command: report.command.join(" "),
    };
    // Pair findings mark the matrices' cells that work one way only.
    let pairs: Vec<&Finding> = findings.iter().filter(|f| f.presentation == Presentation::Pairs).collect();
    for f in findings {
        match &f.presentation {
            Presentation::Coverage { ratio, merchant_list, .. } => {
                view.coverage.push(coverage::coverage(f, *ratio, *merchant_list, rb, l))
            }
            Presentation::Recognition { regions, providers } => {
                view.recognition.push(recognition::acceptance(f, regions, providers, &pairs, rb, l))
            }
            Presentation::Pairs => view.recognition.push(recognition::reciprocity_section(f, rb, l)),
            Presentation::Merchants => view.exclusivity.push(merchants::exclusivity(f, rb, l)),
            Presentation::Shares { .. } => view.concentration.push(shares::concentration(f, rb, l)),
            Presentation::Forest { ratio, unit, .. } => view.parity.push(forest::parity(f, *ratio, *unit, rb, l)),
            Presentation::Codes => view.codes.push(codes::codes(f, rb, l)),
            // A finding without a drawing is still in the glance table.
            Presentation::Table => {}
        }
    }
    for s in sections(&mut view) {
        for c in s.charts.iter_mut() {
            caption_chart(c, l);
        }
    }
    view
}

/// Every rule section of the view, in page order.
fn sections(view: &mut View) -> impl Iterator<Item = &mut Section> {
    view.coverage
        .iter_mut()
        .chain(view.recognition.iter_mut())
        .chain(view.exclusivity.iter_mut())
        .chain(view.concentration.iter_mut())
        .chain(view.parity.iter_mut())
        .chain(view.codes.iter_mut())
}

/// A chart's caption (what the line and whiskers are), and its axis in the
/// locale's units.
fn caption_chart(c: &mut BarChart, l: &Catalog) {
    let mut caption = c.title.clone();
    if !c.threshold_label.is_empty() {
        let key = if c.kind == "bars" { "dashed_target" } else { "dashed_threshold" };
        caption.push_str(&l.f(key, &[("value", &l.units(&c.threshold_label))]));
    }
    if c.kind == "forest" {
        caption.push_str(&l.t("whiskers_forest"));
    } else if c.rows.first().is_some_and(|r| r.has_ci) {
        caption.push_str(&l.t("whiskers_wilson"));
    }
    if c.ticks.iter().any(|t| t.label.ends_with(" pp")) && l.lang != Lang::En {
        caption.push_str(&l.t("axis_in_points"));
    }
    caption.push_str(&l.t("stop"));
    c.caption = caption;
    for t in c.ticks.iter_mut() {
        t.label = l.axis_units(&t.label);
    }
}

/// A dataset's name for reading.
fn dataset_title(name: &str, l: &Catalog) -> String {
    l.t_or(&format!("dataset_{name}"), name)
}

/// "Rulebook version 2.3.0 · jurisdiction CN · effective 2021-09-01 · audit window …"
fn sub_line(report: &Report, rb: &Rulebook, l: &Catalog) -> String {
    let mut s = l.f(
        "sub_line",
        &[
            ("version", &rb.meta.version),
            ("jurisdiction", &rb.meta.jurisdiction),
            ("date", &l.date(&rb.meta.effective)),
        ],
    );
    if let Some(w) = &report.window {
        s.push_str(&l.f("window", &[("from", &l.date(&w.from)), ("to", &l.date(&w.to))]));
    }
    s
}

fn edition_note(e: &crate::findings::Edition, l: &Catalog) -> String {
    let all_scope = e.redacted == crate::findings::Scope::All;
    let what = l.t(if all_scope { "redact_all" } else { "redact_merchants" });
    let all = if all_scope { l.t("edition_all") } else { String::new() };
    l.f("edition", &[("what", &what), ("key", &e.key_id), ("all", &all), ("min_group", &e.min_group)])
}

fn section(f: &Finding, rb: &Rulebook, l: &Catalog) -> Section {
    let head = Head::of(f, rb, l);
    let threshold_line = l.f(
        if f.engineering_default { "threshold_line_default" } else { "threshold_line" },
        &[("threshold", &l.engine_text(&f.threshold_text))],
    );
    let words =
        ["rule_text", "passing_figures", "legend", "complete_list", "in_this_file", "download", "semicolon", "stop"]
            .into_iter()
            .map(|k| (k, l.t(k)))
            .collect();
    // The English edition keeps the engine's own sentence; another language
    // words the finding from its figures (the glance row), so no sentence is
    // left half translated.
    let message = if l.lang == Lang::En || f.verdict == Verdict::NotEvaluable {
        Shown::engine(&f.message, l)
    } else {
        let g = glance(f, rb, l);
        let mut text = l.f("section_message", &[("verdict", &head.verdict_text), ("headline", &g.headline)]);
        if !g.gap.is_empty() {
            text.push_str(&l.f("section_gap", &[("gap", &g.gap)]));
        }
        Shown { text, attr: String::new() }
    };
    Section {
        head,
        message: message.text,
        message_attr: message.attr,
        threshold_line,
        engineering_default: f.engineering_default,
        words,
        charts: Vec::new(),
        folded_note: String::new(),
        heatmaps: Vec::new(),
        table: Table::default(),
        evidence: f.evidence.as_ref().map(|e| EvidenceLink {
            file: e.file.clone(),
            rows: e.rows,
            rows_text: l.n("rows_count", e.rows, &[("n", &thousands(e.rows))]),
            embedded: None,
            download_name: e.file.rsplit('/').next().unwrap_or(&e.file).to_string(),
            embed_note: String::new(),
            preview: f.evidence_table.as_ref().map(|t| preview(t, l)).unwrap_or_default(),
        }),
        show_preview: false,
        trend: super::trend::trend(f, |g| group_label(g, l), l),
    }
}

/// Failing groups named in a glance row or a summary sentence; the rest are counted.
pub const GAP_ITEMS: usize = 5;

/// Offenders shown openly before the rest of the list is folded away.
pub const PREVIEW_ROWS: usize = 10;

fn preview(t: &crate::findings::EvidenceTable, l: &Catalog) -> Table {
    let mut rows: Vec<Row> = t
        .rows
        .iter()
        .take(TABLE_CAP)
        .map(|r| Row { cells: r.iter().map(|c| l.engine_text(c)).collect(), verdict: "fail" })
        .collect();
    let folded = if rows.len() > PREVIEW_ROWS { rows.split_off(PREVIEW_ROWS) } else { Vec::new() };
    let folded_label = match folded.len() {
        0 => String::new(),
        n if t.rows.len() > TABLE_CAP => {
            l.f("more_offenders_of", &[("n", &thousands(n as u64)), ("total", &thousands(t.rows.len() as u64))])
        }
        n => l.n("more_offenders", n as u64, &[("n", &thousands(n as u64))]),
    };
    let shown = t.rows.len().min(PREVIEW_ROWS);
    Table {
        caption: l.t("offenders_caption"),
        more_rows: more_rows(l, shown, t.rows.len()),
        header: t.header.iter().map(|h| column_title(h, l)).collect(),
        rows,
        total: t.rows.len(),
        shown,
        folded,
        folded_label,
    }
}

/// An evidence column's heading: its name (the English catalogue's headings
/// are the names), or its translation where the catalogue has one.
fn column_title(name: &str, l: &Catalog) -> String {
    l.t_or(&format!("col_{name}"), name)
}

/// A rule's group table: groups that fail or are undecided shown, passing
/// groups folded away (when there are both).
fn group_table(l: &Catalog, caption: &str, header: &[&str], rows: Vec<Row>) -> Table {
    let mut t = capped(l, caption, header, rows);
    let (passing, open): (Vec<Row>, Vec<Row>) =
        std::mem::take(&mut t.rows).into_iter().partition(|r| r.verdict == "pass");
    if passing.is_empty() || open.is_empty() {
        t.rows = if open.is_empty() { passing } else { open };
        return t;
    }
    t.shown = open.len() + passing.len();
    t.folded_label = l.n("passing_groups", passing.len() as u64, &[("n", &passing.len())]);
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

/// " — first 10 of 28 rows" for a table showing part of its rows, else empty.
fn more_rows(l: &Catalog, shown: usize, total: usize) -> String {
    if total > shown {
        l.f("first_rows", &[("shown", &thousands(shown as u64)), ("total", &thousands(total as u64))])
    } else {
        String::new()
    }
}

fn capped(l: &Catalog, caption: &str, header: &[&str], rows: Vec<Row>) -> Table {
    let total = rows.len();
    let shown = total.min(TABLE_CAP);
    Table {
        caption: caption.to_string(),
        more_rows: more_rows(l, shown, total),
        header: header.iter().map(|s| s.to_string()).collect(),
        rows: rows.into_iter().take(TABLE_CAP).collect(),
        total,
        shown,
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
pub fn embed_evidence(view: &mut View, report: &Report, l: &Catalog) -> anyhow::Result<()> {
    use base64::Engine as _;
    let mut total = 0usize;
    let mut files: BTreeMap<String, (Option<String>, String)> = BTreeMap::new();
    for f in &report.findings {
        let (Some(table), Some(e)) = (f.evidence_table.as_ref(), f.evidence.as_ref()) else { continue };
        let csv = crate::output::evidence_csv(table)?;
        let entry = if csv.len() > EMBED_FILE || total + csv.len() > EMBED_TOTAL {
            let cap = if csv.len() > EMBED_FILE { EMBED_FILE } else { EMBED_TOTAL };
            let note = l.f(
                if csv.len() > EMBED_FILE { "not_embedded_file" } else { "not_embedded_total" },
                &[("file", &e.file), ("mb", &format!("{:.1}", csv.len() as f64 / 1e6)), ("cap", &(cap >> 20))],
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
    for s in sections(view) {
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
fn glance_rows(findings: &[Finding], rb: &Rulebook, l: &Catalog) -> Vec<GlanceRow> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| severity_order(f));
    sorted.into_iter().map(|f| glance(f, rb, l)).collect()
}

/// The findings `keep` selects, each in one sentence, most severe first and,
/// at one severity, the widest breach (most failing groups) first.
fn triage(findings: &[Finding], rb: &Rulebook, l: &Catalog, keep: impl Fn(&Finding) -> bool) -> Vec<TriageItem> {
    let mut picked: Vec<&Finding> = findings.iter().filter(|f| keep(f)).collect();
    let failing_groups = |f: &Finding| f.groups.iter().filter(|g| g.verdict == Verdict::Fail).count();
    picked.sort_by_key(|f| (std::cmp::Reverse(f.severity), std::cmp::Reverse(failing_groups(f)), f.rule_id.clone()));
    picked
        .into_iter()
        .map(|f| {
            let g = glance(f, rb, l);
            let title = g.head.title.clone();
            let sentence = if f.verdict == Verdict::Fail {
                let what = if g.gap.is_empty() { g.headline } else { g.gap };
                let deadline = match &g.head.deadline_note {
                    d if d.is_empty() => String::new(),
                    d => l.f("in_parentheses", &[("text", d)]),
                };
                l.f("triage_fail", &[("title", &title), ("deadline", &deadline), ("what", &what)])
            } else {
                let why = if l.lang == Lang::En || f.verdict == Verdict::NotEvaluable {
                    l.engine_text(&f.message)
                } else {
                    g.headline
                };
                l.f("triage_other", &[("title", &title), ("why", &why)])
            };
            TriageItem {
                id: f.rule_id.clone(),
                anchor: anchor(&f.rule_id),
                severity: f.severity.name(),
                severity_text: g.head.severity_text,
                verdict: f.verdict.name(),
                verdict_text: g.head.verdict_text,
                sentence,
            }
        })
        .collect()
}

/// The headline and the gap to target, in plain words, from the groups.
fn glance(f: &Finding, rb: &Rulebook, l: &Catalog) -> GlanceRow {
    let name = |id: &str| rb.display_name_in(id, l.lang);
    let group_label = |g: &Group| group_label(g, l);
    let key_label = |g: &Group, k: &str| key_label(g, k, l);
    let compared = |v: Option<f64>, ratio: bool| compared(v, ratio, l);
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
                Some(v) if relative => l.f("lowest_ratio", &[("value", &format!("{v:.2}")), ("target", &threshold)]),
                Some(v) => l.f("lowest_share", &[("value", &pct(v)), ("target", &pct(threshold))]),
                None => l.t("no_data"),
            };
            let gap = fails
                .iter()
                .map(|g| {
                    let prov = if g.key.contains_key("provider") { key(g, "provider") } else { provider.clone() };
                    let target = if relative {
                        l.f(
                            "times_provider",
                            &[
                                ("ratio", &threshold),
                                (
                                    "provider",
                                    &name(&fields!(g, Coverage, CoverageFields).reference_provider.unwrap_or_default()),
                                ),
                            ],
                        )
                    } else {
                        pct(threshold)
                    };
                    l.f(
                        &format!("coverage_gap_{unit}"),
                        &[
                            ("n", &fields!(g, Coverage, CoverageFields).gap_units),
                            ("platform", &platform(g, l)),
                            ("provider", &name(&prov)),
                            ("target", &target),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep"));
            (headline, gap)
        }
        Presentation::Recognition { .. } => (
            l.f("cells_not_live", &[("n", &fails.len()), ("total", &f.groups.len())]),
            fails
                .iter()
                .map(|g| {
                    let why = if g.n == 0 {
                        l.t("no_scans")
                    } else {
                        l.f("success_rate", &[("rate", &pct(g.value.unwrap_or(0.0)))])
                    };
                    l.f(
                        "cell_why",
                        &[
                            ("region", &key_label(g, "region")),
                            ("app", &name(&key(g, "app"))),
                            ("issuer", &name(&key(g, "issuer"))),
                            ("why", &why),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep")),
        ),
        Presentation::Pairs => (
            l.f("pairs_not_alike", &[("n", &fails.len()), ("total", &f.groups.len())]),
            fails
                .iter()
                .map(|g| {
                    l.f(
                        "pair_not_alike",
                        &[
                            ("region", &key_label(g, "region")),
                            ("a", &name(&key(g, "provider_a"))),
                            ("b", &name(&key(g, "provider_b"))),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep")),
        ),
        Presentation::Codes => (
            match f.value {
                Some(v) => l.f("lowest_share", &[("value", &pct(v)), ("target", &pct(threshold))]),
                None => l.t("no_codes"),
            },
            fails
                .iter()
                .map(|g| {
                    let c = fields!(g, Codes, crate::findings::CodeFields);
                    let more = crate::engine::util::needed(threshold, g.n).saturating_sub(c.codes_ok);
                    l.f("codes_gap", &[("group", &group_label(g)), ("n", &more), ("total", &g.n)])
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep")),
        ),
        Presentation::Merchants => (
            l.f("exclusive_headline", &[("n", &f.value.unwrap_or(0.0)), ("allowed", &threshold)]),
            fails
                .iter()
                .map(|g| {
                    l.f(
                        "exclusive_gap",
                        &[
                            ("n", &fields!(g, Exclusivity, ExclusivityFields).exclusive_merchants),
                            ("platform", &platform(g, l)),
                            ("provider", &name(&fields!(g, Exclusivity, ExclusivityFields).affiliated_provider)),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep")),
        ),
        Presentation::Shares { dominance } => {
            let dominance = *dominance;
            let headline = if dominance {
                l.f("presumption_met", &[("n", &fails.len()), ("total", &evaluable)])
            } else {
                l.f(
                    "highest_hhi",
                    &[
                        ("hhi", &thousands(f.value.unwrap_or(0.0).round() as u64)),
                        ("screen", &thousands(threshold as u64)),
                    ],
                )
            };
            let gap = fails
                .iter()
                .map(|g| {
                    if dominance {
                        l.f("presumed_dominant", &[("group", &group_label(g)), ("firms", &presumed(g, rb, l))])
                    } else {
                        l.f(
                            "group_hhi",
                            &[
                                ("group", &group_label(g)),
                                ("hhi", &thousands(fields!(g, Shares, ShareFields).hhi.round() as u64)),
                            ],
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep"));
            (headline, gap)
        }
        Presentation::Table => (
            l.f("groups_fail", &[("n", &fails.len()), ("total", &f.groups.len())]),
            fails.iter().map(|g| group_label(g)).collect::<Vec<_>>().join(&l.t("list_sep")),
        ),
        Presentation::Forest { ratio, threshold, .. } => {
            let ratio = *ratio;
            let headline =
                l.f("worst", &[("value", &compared(f.value, ratio)), ("threshold", &l.engine_text(threshold))]);
            let gap = fails
                .iter()
                .map(|g| {
                    l.f(
                        "provider_on_platform",
                        &[
                            ("provider", &name(&key(g, "provider"))),
                            ("platform", &platform(g, l)),
                            ("value", &compared(g.value, ratio)),
                        ],
                    )
                })
                .collect::<Vec<_>>()
                .join(&l.t("list_sep"));
            (headline, gap)
        }
    };
    // A long list of failing groups is cut to its first few: the section
    // and the evidence hold them all.
    let sep = l.t("list_sep");
    let items: Vec<&str> = if gap.is_empty() { Vec::new() } else { gap.split(sep.as_str()).collect() };
    let gap = if items.len() > GAP_ITEMS {
        let rest = (items.len() - GAP_ITEMS) as u64;
        format!("{}{}", items[..GAP_ITEMS].join(&sep), l.n("and_more", rest, &[("n", &rest)]))
    } else {
        gap
    };
    let gap = if f.verdict == Verdict::NotEvaluable {
        l.engine_text(&f.message)
    } else if gap.is_empty() {
        match f.verdict {
            Verdict::Pass => l.t("target_met"),
            Verdict::Inconclusive => l.t("more_data_needed"),
            _ => String::new(),
        }
    } else {
        gap
    };
    let suppressed = l.f("suppressed_failing", &[("groups", &hidden.join(", "))]);
    let gap = match (gap.is_empty(), hidden.is_empty()) {
        (_, true) => gap,
        (true, false) => suppressed,
        (false, false) => format!("{gap}{}{suppressed}", l.t("list_sep")),
    };
    GlanceRow { head: Head::of(f, rb, l), headline, gap, spark: super::trend::spark(f, l) }
}

fn baseline_rows(report: &Report, l: &Catalog) -> Vec<Row> {
    let mut rows = Vec::new();
    for f in &report.findings {
        for g in &f.groups {
            let status = match g.baseline_status {
                Some(crate::findings::BaselineStatus::New) => "new",
                Some(crate::findings::BaselineStatus::Resolved) => "resolved",
                _ => continue,
            };
            let cells = vec![
                l.t(&format!("status_{status}")),
                f.rule_id.clone(),
                group_label(g, l),
                verdict_text(g.verdict, l),
            ];
            rows.push(Row { cells, verdict: g.verdict.name() });
        }
    }
    if let Some(b) = &report.baseline {
        for gone in &b.resolved_groups {
            let group = gone.key.values().cloned().collect::<Vec<_>>().join(" / ");
            rows.push(Row {
                cells: vec![l.t("status_resolved"), gone.rule_id.clone(), group, l.t("absent")],
                verdict: "",
            });
        }
    }
    rows
}

fn waiver_rows(report: &Report, l: &Catalog) -> Vec<Row> {
    let Some(w) = &report.waivers else { return Vec::new() };
    w.waivers
        .iter()
        .map(|x| {
            let status = match x.status {
                crate::findings::WaiverStatus::Applied => "waiver_applied",
                crate::findings::WaiverStatus::Expired => "waiver_expired",
                crate::findings::WaiverStatus::Unused => "waiver_unused",
            };
            let group = if x.group.is_empty() {
                l.t("every_group")
            } else {
                x.group.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
            };
            let cells = vec![
                l.t(status),
                x.rule.clone(),
                group,
                x.waiver.reason.clone(),
                x.waiver.owner.clone(),
                l.date(&x.waiver.expires),
                x.waiver.ticket.clone().unwrap_or_default(),
                x.groups.to_string(),
            ];
            Row { cells, verdict: "" }
        })
        .collect()
}

fn waived_groups(report: &Report, l: &Catalog) -> Vec<Row> {
    let mut rows = Vec::new();
    for f in &report.findings {
        for g in f.groups.iter().filter(|g| g.verdict == Verdict::Waived) {
            let reason = g.waiver.as_ref().map(|w| w.reason.clone()).unwrap_or_default();
            let cells = vec![f.rule_id.clone(), group_label(g, l), crate::findings::number_text(g.value), reason];
            rows.push(Row { cells, verdict: "waived" });
        }
    }
    rows
}

fn datasets(report: &Report, l: &Catalog) -> Vec<DatasetView> {
    report
        .inputs
        .iter()
        .map(|i| {
            let a = &i.account;
            let name = a.dataset.name();
            let title = dataset_title(name, l);
            let outside = if a.rows_outside_window > 0 {
                l.f("outside_window", &[("n", &thousands(a.rows_outside_window))])
            } else {
                String::new()
            };
            DatasetView {
                name: name.to_string(),
                files_caption: l.f("files_caption", &[("dataset", &title)]),
                reasons_caption: l.f("reasons_caption", &[("dataset", &title)]),
                title,
                files: a
                    .files
                    .iter()
                    .map(|f| {
                        vec![f.path.display().to_string(), thousands(f.bytes), thousands(f.rows_read), f.sha256.clone()]
                    })
                    .collect(),
                account: l.f(
                    "account",
                    &[
                        ("read", &thousands(a.rows_read)),
                        ("accepted", &thousands(a.rows_accepted)),
                        ("rejected", &thousands(a.rows_rejected)),
                        ("outside", &outside),
                    ],
                ),
                reasons: a.rejected_by_reason.iter().map(|(r, n)| (l.engine_text(r), thousands(*n))).collect(),
                rejected_file: i.rejected_file.clone(),
                missing: if a.columns_missing.is_empty() {
                    String::new()
                } else {
                    l.f("columns_missing", &[("columns", &a.columns_missing.join(", "))])
                },
                extra: if a.extra_columns.is_empty() {
                    String::new()
                } else {
                    l.f("columns_extra", &[("columns", &a.extra_columns.join(", "))])
                },
                duplicates: a.duplicate_ids.filter(|n| *n > 0).map(|n| l.f("duplicate_ids", &[("n", &thousands(n))])),
            }
        })
        .collect()
}

fn rule_view(r: &Rule, l: &Catalog) -> RuleView {
    let kind = crate::rulebook::SpecInfo::kind(&r.spec);
    RuleView {
        id: r.id.clone(),
        anchor: format!("method-{}", r.id.to_ascii_lowercase()),
        title: Shown::of(&r.text.title, l),
        kind: l.t_or(&format!("kind_{kind}"), kind),
        severity: severity_text(r.severity, l),
        filter: r.filter.as_ref().map(|f| f.text.clone()),
        parameters: crate::engine::explain::parameters(&r.spec)
            .into_iter()
            .map(|(k, v)| (k.to_string(), l.engine_text(&v)))
            .collect(),
        criteria: crate::engine::explain::criteria(r)
            .into_iter()
            .map(|(k, v)| {
                let shown = Shown::engine(&v, l);
                (l.t(&format!("criterion_{}", k.replace(' ', "_"))), shown.text, shown.attr)
            })
            .collect(),
        engineering_default: r.engineering_default,
        rationale: Shown::of(&r.text.rationale, l),
        citation: Shown::of(&r.text.citation, l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        let en = Catalog::new(Lang::En).unwrap();
        let zh = Catalog::new(Lang::ZhCn).unwrap();
        assert_eq!(compared(Some(0.0575), false, &en), "+5.8 pp");
        assert_eq!(compared(Some(0.0575), false, &zh), "+5.8 个百分点");
        assert_eq!(compared(Some(1.6875), true, &en), "1.69×");
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
        let en = Catalog::new(Lang::En).unwrap();
        let t = preview(&table, &en);
        // Ten shown, the rest of the first 200 folded away, all in the file.
        assert_eq!((t.shown, t.total, t.rows.len(), t.folded.len()), (PREVIEW_ROWS, 100_000, 10, 190));
        assert_eq!(t.folded_label, "190 more offenders here (of 100,000 in all; every one is in the evidence file)");
        let short = EvidenceTable { header: vec!["merchant_id".into()], rows: vec![vec!["M1".into()]; 12] };
        let t = preview(&short, &en);
        assert_eq!((t.rows.len(), t.folded.len(), t.folded_label.as_str()), (10, 2, "2 more offenders"));
    }

    #[test]
    fn passing_groups_are_folded_only_beside_others() {
        let row = |v: &'static str| Row { cells: vec![v.into()], verdict: v };
        let en = Catalog::new(Lang::En).unwrap();
        let t = group_table(&en, "c", &["h"], vec![row("pass"), row("fail"), row("pass"), row("inconclusive")]);
        let verdicts = |rows: &[Row]| rows.iter().map(|r| r.verdict).collect::<Vec<_>>();
        assert_eq!((verdicts(&t.rows), verdicts(&t.folded)), (vec!["fail", "inconclusive"], vec!["pass", "pass"]));
        assert_eq!(t.folded_label, "2 passing groups");
        let all_pass = group_table(&en, "c", &["h"], vec![row("pass"), row("pass")]);
        assert_eq!((all_pass.rows.len(), all_pass.folded.len()), (2, 0));
    }
}
