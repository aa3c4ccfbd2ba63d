//! The HTML report: one self-contained file (inline CSS and SVG, no network)
//! rendered with Tera from the same findings model as `findings.json`.

pub mod charts;
pub mod i18n;
mod regions;
pub mod trend;
pub mod view;

use std::path::Path;

use anyhow::Context as _;
use tera::Tera;

use crate::engine::Rulebook;
use crate::findings::Report;

/// The templates compiled into the binary; `--templates DIR` overrides any of them by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("report.html", include_str!("../../reports/templates/report.html")),
    ("macros.html", include_str!("../../reports/templates/macros.html")),
    ("style.css", include_str!("../../reports/templates/style.css")),
    ("script.js", include_str!("../../reports/templates/script.js")),
];

fn engine(overrides: Option<&Path>) -> anyhow::Result<Tera> {
    let mut tera = Tera::default();
    // Every value from the data is escaped; the stylesheet and script are ours.
    tera.autoescape_on(vec![".html"]);
    let mut templates: Vec<(String, String)> = TEMPLATES.iter().map(|(n, c)| (n.to_string(), c.to_string())).collect();
    if let Some(dir) = overrides {
        for (name, content) in templates.iter_mut() {
            let p = dir.join(name.as_str());
            if p.is_file() {
                *content = std::fs::read_to_string(&p).with_context(|| format!("reading template {}", p.display()))?;
            }
        }
    }
    tera.add_raw_templates(templates).map_err(|e| anyhow::anyhow!("report templates: {}", tera_message(&e)))?;
    Ok(tera)
}

fn tera_message(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Renders the report for an audit.
/// How the report is rendered.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReportOptions<'a> {
    /// Templates overriding the built-in ones by name.
    pub templates: Option<&'a Path>,
    /// Embed the evidence files as downloadable data URIs (capped in size),
    /// so the report alone is complete when mailed.
    pub embed_evidence: bool,
    /// A redacted edition (`--redact`).
    pub redaction: Option<&'a crate::redact::Redaction>,
    /// The language of the report's text (`--lang`).
    pub lang: crate::lang::Lang,
}

pub fn render(report: &Report, rb: &Rulebook, options: ReportOptions) -> anyhow::Result<String> {
    let tera = engine(options.templates)?;
    let mut catalog = i18n::Catalog::new(options.lang)?;
    // The engine names providers by their English names (and lists their
    // ids): both read in the report's language where the rulebook gives it.
    catalog.add_names(rb.providers.iter().flat_map(|p| {
        let (name, fallback) = p.names.get(options.lang);
        let pairs = [(p.name.clone(), name.to_string()), (p.id.clone(), name.to_string())];
        pairs.into_iter().filter(move |(from, to)| fallback.is_none() && from != to)
    }));
    // Platforms are named by their ids in the data; another language than
    // English reads them by the rulebook's name in that language.
    if options.lang != crate::lang::Lang::En {
        catalog.add_names(rb.platforms.iter().filter_map(|p| match p.names.get(options.lang) {
            (name, None) => Some((p.id.clone(), name.to_string())),
            _ => None,
        }));
    }
    let mut view = view::build(report, rb, &catalog);
    if options.embed_evidence {
        view::embed_evidence(&mut view, report, &catalog)?;
    }
    let mut ctx = tera::Context::new();
    ctx.insert("t", catalog.ui());
    ctx.insert("view", &view);
    ctx.insert("report", report);
    ctx.insert("meta", &rb.meta);
    tera.render("report.html", &ctx).map_err(|e| anyhow::anyhow!("rendering the report: {}", tera_message(&e)))
}
