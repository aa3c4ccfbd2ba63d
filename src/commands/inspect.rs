//! `hutong inspect`: summarise the input logs, as text or JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::{ingest_options, input_spec};
use crate::cli::{InspectArgs, TextOrJson};
use crate::ingest::{self, rejects};
use crate::inspect::{inspect, Inspection};

pub fn run_cli(args: &InspectArgs) -> anyhow::Result<u8> {
    let spec = input_spec(&args.input);
    if spec.data.is_none()
        && spec.transactions.is_none()
        && spec.checkout.is_none()
        && spec.merchants.is_none()
        && spec.codes.is_none()
    {
        anyhow::bail!("no input given: use --data DIR, or --transactions / --checkout / --merchants / --codes PATH");
    }
    let inputs = ingest::open(&spec, ingest_options(&args.input)?)?;
    if inputs.datasets.is_empty() {
        let dir = spec.data.as_deref().map_or_else(String::new, |d| format!(" in {}", d.display()));
        anyhow::bail!(
            "no input files found{dir}: --data expects transactions.csv|parquet, checkout.csv|parquet or \
             merchants.csv|parquet or codes.csv|parquet (or a folder of that name per dataset)"
        );
    }
    let (inspection, rejected) = inspect(&inputs, args.top)?;
    if let Some(out) = &args.out {
        for (ds, rows) in &rejected {
            rejects::write(&out.join("rejected"), ds.name(), rows)
                .with_context(|| format!("writing rejected rows under {}", out.display()))?;
        }
    }
    let text = match args.format {
        TextOrJson::Json => serde_json::to_string_pretty(&inspection)? + "\n",
        TextOrJson::Text => crate::text::terminal(&render_text(&inspection)).into_owned(),
    };
    print!("{text}");
    Ok(0)
}

fn render_text(insp: &Inspection) -> String {
    let mut s = String::new();
    for d in &insp.datasets {
        let a = &d.account;
        let _ = writeln!(s, "{}", a.dataset);
        for f in &a.files {
            let _ = writeln!(s, "  file      {} ({} bytes, sha256 {})", f.path.display(), f.bytes, f.sha256);
        }
        let _ = writeln!(
            s,
            "  rows      {} read = {} accepted + {} rejected{}",
            a.rows_read,
            a.rows_accepted,
            a.rows_rejected,
            a.outside_text()
        );
        for (reason, n) in &a.rejected_by_reason {
            let _ = writeln!(s, "    rejected {n:>8}  {reason}");
        }
        if let Some(n) = a.duplicate_ids.filter(|n| *n > 0) {
            let _ = writeln!(s, "  duplicate {n} accepted rows repeat an earlier txn_id (kept, audited as logged)");
        }
        if let Some(w) = &d.window {
            let _ = writeln!(s, "  window    {} .. {}", w.from, w.to);
        }
        if let Some(key) = &d.sorted_by {
            let _ = writeln!(s, "  order     sorted by {key} (recorded by hutong convert)");
            if !d.constant_within.is_empty() {
                let _ = writeln!(s, "            one {} per key", d.constant_within.join(", "));
            }
        }
        if !a.columns_missing.is_empty() {
            let _ = writeln!(s, "  absent    {} (optional)", a.columns_missing.join(", "));
        }
        if !a.extra_columns.is_empty() {
            let _ = writeln!(s, "  extra     {} (ignored)", a.extra_columns.join(", "));
        }
        for (column, lc) in &d.labels {
            let _ = writeln!(s, "  {column}: {} distinct", lc.distinct);
            for (label, n) in &lc.values {
                let _ = writeln!(s, "    {n:>10}  {label}");
            }
            if lc.other_rows > 0 {
                let _ = writeln!(s, "    {:>10}  (other values)", lc.other_rows);
            }
        }
        if !d.rejected_sample.is_empty() {
            let _ = writeln!(s, "  rejected rows (first {}):", d.rejected_sample.len());
            for r in &d.rejected_sample {
                let at = r.line.map_or_else(|| format!("row {}", r.record), |l| format!("line {l}"));
                let _ = writeln!(s, "    {}:{}: {}", short(&r.file), at, r.reason);
            }
        }
        s.push('\n');
    }
    s
}

fn short(path: &str) -> String {
    Path::new(path).display().to_string()
}
