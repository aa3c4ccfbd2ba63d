//! `hutong rules check | list | explain`: validate and read rulebooks
//! without any data.

use std::fmt::Write as _;

use crate::cli::RulesCommand;
use crate::rulebook::{self, Rule, RuleSpec, RulebookError};

pub fn run_cli(cmd: &RulesCommand) -> anyhow::Result<u8> {
    match cmd {
        RulesCommand::Check { files } => {
            let mut bad = 0;
            for f in files {
                match rulebook::load(f) {
                    Ok(rb) => {
                        println!("{}: ok ({} rules, {} providers)", f.display(), rb.rules.len(), rb.providers.len())
                    }
                    Err(RulebookError::Invalid { rendered, count, .. }) => {
                        bad += 1;
                        eprint!("{rendered}");
                        eprintln!("{}: {count} problem{}", f.display(), if count == 1 { "" } else { "s" });
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            Ok(if bad > 0 { 2 } else { 0 })
        }
        RulesCommand::List { file } => {
            let rb = rulebook::load(file)?;
            println!(
                "{} {} ({}, effective {})",
                rb.meta.title, rb.meta.version, rb.meta.jurisdiction, rb.meta.effective
            );
            for r in &rb.rules {
                println!("{:<10} {:<13} {:<8} {}", r.id, r.spec.kind(), r.severity.name(), r.title);
            }
            Ok(0)
        }
        RulesCommand::Explain { file, rule } => {
            let rb = rulebook::load(file)?;
            let Some(r) = rb.rule(rule) else {
                let ids: Vec<&str> = rb.rules.iter().map(|r| r.id.as_str()).collect();
                anyhow::bail!("no rule `{rule}` in {}; rules: {}", file.display(), ids.join(", "));
            };
            print!("{}", explain(r));
            Ok(0)
        }
    }
}

/// A rule's text, parameters, rationale and citation, for people.
pub fn explain(r: &Rule) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}  {}", r.id, r.title);
    let _ = writeln!(s, "kind       {}", r.spec.kind());
    let _ = writeln!(s, "severity   {}", r.severity);
    if let Some(w) = &r.filter {
        let _ = writeln!(s, "where      {w}");
    }
    for (k, v) in parameters(&r.spec) {
        let _ = writeln!(s, "{k:<10} {v}");
    }
    if r.engineering_default {
        let _ = writeln!(s, "thresholds engineering defaults, not set by law");
    }
    let _ = writeln!(s, "\nrationale\n  {}", r.rationale);
    let _ = writeln!(s, "\ncitation\n  {}", r.citation);
    s
}

/// The kind-specific parameters as (name, value) text.
pub fn parameters(spec: &RuleSpec) -> Vec<(&'static str, String)> {
    match spec {
        RuleSpec::Coverage { unit, providers, relative, min, by_region } => vec![
            ("unit", format!("{unit:?}").to_lowercase()),
            ("providers", providers.join(", ")),
            (if *relative { "min_ratio" } else { "min_share" }, min.to_string()),
            ("by", if *by_region { "platform, region".into() } else { "platform".into() }),
        ],
        RuleSpec::Acceptance { regions, providers, min_attempts, min_success }
        | RuleSpec::Reciprocity { regions, providers, min_attempts, min_success } => vec![
            ("regions", regions.join(", ")),
            ("providers", providers.join(", ")),
            ("attempts", format!(">= {min_attempts}")),
            ("success", format!(">= {min_success}")),
        ],
        RuleSpec::Exclusivity { max_merchants } => vec![("max", format!("{max_merchants} merchants per platform"))],
        RuleSpec::Concentration { by, measure, mode } => vec![
            ("by", by.join(", ")),
            ("measure", format!("{measure:?}").to_lowercase()),
            (
                "mode",
                match mode {
                    rulebook::model::ConcentrationMode::Hhi { max_hhi } => format!("HHI <= {max_hhi}"),
                    rulebook::model::ConcentrationMode::Dominance => "AML Art. 24 dominance presumption".into(),
                },
            ),
        ],
        RuleSpec::Parity { metric, rivals, threshold, alpha, min_n } => {
            let mut v = vec![
                ("metric", metric.name().to_string()),
                ("rivals", rivals.join(", ")),
                ("threshold", threshold.describe()),
            ];
            if let Some(a) = alpha {
                v.push(("alpha", format!("{a} (Holm-adjusted)")));
            }
            v.push(("min_n", format!("{min_n} per arm")));
            v
        }
    }
}
