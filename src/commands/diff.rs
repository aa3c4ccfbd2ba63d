//! `hutong diff OLD NEW`: failing groups new, resolved and persisting between
//! two audits, and other verdict changes; exit 1 on a new failure at or above
//! `--fail-on`.

use std::io::Write;

use crate::baseline::{diff, text, Snapshot};
use crate::cli::{DiffArgs, TextOrJson};

pub fn run_cli(args: &DiffArgs) -> anyhow::Result<u8> {
    let old = Snapshot::load(&args.old)?;
    let new = Snapshot::load(&args.new)?;
    if old.rulebook_id != new.rulebook_id {
        eprintln!(
            "warning: {} used rulebook `{}` and {} used `{}`: groups are matched by rule id and key anyway",
            old.path.display(),
            old.rulebook_id,
            new.path.display(),
            new.rulebook_id
        );
    }
    let d = diff(&old, &new)?;
    match args.format {
        TextOrJson::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &d)?;
            writeln!(out)?;
        }
        TextOrJson::Text => print!("{}", text(&d)),
    }
    let threshold = args.fail_on.threshold();
    let fails = d.new.iter().any(|e| matches!((e.severity, threshold), (Some(s), Some(t)) if s >= t));
    Ok(u8::from(fails))
}
