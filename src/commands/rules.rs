//! `hutong rules check | list | explain`: validate and read rulebooks
//! without any data.

use std::fmt::Write as _;

use crate::cli::RulesCommand;
use crate::engine::explain::{criteria, parameters};
use crate::engine::kinds::{self, Rule};
use crate::rulebook::{RulebookError, SpecInfo};

pub fn run_cli(cmd: &RulesCommand) -> anyhow::Result<u8> {
    match cmd {
        RulesCommand::Check { files } => {
            let mut bad = 0;
            for f in files {
                match kinds::load(f) {
                    Ok(rb) => {
                        for w in &rb.warnings {
                            eprint!("{w}");
                        }
                        let warned = if rb.warnings.is_empty() {
                            String::new()
                        } else {
                            format!(", {} warning{}", rb.warnings.len(), if rb.warnings.len() == 1 { "" } else { "s" })
                        };
                        println!(
                            "{}: ok ({} rules, {} providers{warned})",
                            f.display(),
                            rb.rules.len(),
                            rb.providers.len()
                        )
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
        RulesCommand::List { files } => {
            for (i, file) in files.iter().enumerate() {
                let rb = kinds::load(file)?;
                if i > 0 {
                    println!();
                }
                println!(
                    "{} {} ({}, effective {}): {}",
                    rb.meta.title,
                    rb.meta.version,
                    rb.meta.jurisdiction,
                    rb.meta.effective,
                    file.display()
                );
                let width = rb.rules.iter().map(|r| r.spec.kind().len()).max().unwrap_or(0).max(13);
                for r in &rb.rules {
                    println!("{:<10} {:<width$} {:<8} {}", r.id, r.spec.kind(), r.severity.name(), r.title);
                }
            }
            Ok(0)
        }
        RulesCommand::New { kind } => {
            let Some(text) = kinds::template(kind) else {
                let names: Vec<&str> = kinds::KINDS.iter().map(|k| k.0).collect();
                anyhow::bail!("unknown rule kind `{kind}`; kinds: {}", names.join(", "));
            };
            print!("{text}");
            Ok(0)
        }
        RulesCommand::Explain { file, rule } => {
            let rb = kinds::load(file)?;
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
        let _ = writeln!(s, "where      {}", w.text);
    }
    if let Some(d) = r.effective {
        let _ = writeln!(s, "effective  {d} (rows before it are not evaluated)");
    }
    if let Some(d) = r.deadline {
        let _ = writeln!(s, "deadline   {d} (failures in data ending before it count only with --strict-deadlines)");
    }
    for (k, v) in parameters(&r.spec) {
        let _ = writeln!(s, "{k:<10} {v}");
    }
    if r.engineering_default {
        let _ = writeln!(s, "thresholds engineering defaults, not set by law");
    }
    let _ = writeln!(s, "\nverdicts");
    for (k, v) in criteria(r) {
        let _ = writeln!(s, "  {k:<13} {v}");
    }
    let _ = writeln!(s, "\nrationale\n  {}", r.rationale);
    let _ = writeln!(s, "\ncitation\n  {}", r.citation);
    s
}
