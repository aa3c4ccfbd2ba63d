//! `hutong inspect`: what the input logs hold, before any rule is applied.
//!
//! One streaming pass over every dataset computes the row accounting, the
//! time window and the distinct labels, so a user can check a delivery and
//! tune a rulebook's taxonomy before auditing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use polars::prelude::*;
use serde::Serialize;

use crate::cli::{InspectArgs, TextOrJson};
use crate::contract::Dataset;
use crate::ingest::accounting::{self, DatasetAccount};
use crate::ingest::rejects::{self, RejectedRow};
use crate::ingest::{self, DatasetInput, IngestOptions, InputSpec, Inputs, Offset};
use crate::timefmt;

/// How many rejected rows the report shows; the rest are in the rejected files.
const REJECT_SAMPLE: usize = 20;

/// The labelled columns `inspect` lists, per dataset.
fn label_columns(ds: Dataset) -> &'static [&'static str] {
    match ds {
        Dataset::Transactions => &["platform", "channel", "region", "method", "wallet_app", "code_issuer"],
        Dataset::Checkout => &["platform", "region", "method"],
        Dataset::Merchants => &["platform", "region"],
    }
}

/// Distinct values of one column with their row counts, most frequent first.
#[derive(Debug, Clone, Serialize)]
pub struct LabelCounts {
    pub distinct: usize,
    pub values: Vec<(String, u64)>,
    /// Rows whose value is beyond the listed ones.
    pub other_rows: u64,
}

/// Accepted-row time window.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub from: String,
    pub to: String,
}

/// Everything `inspect` reports about one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    #[serde(flatten)]
    pub account: DatasetAccount,
    pub window: Option<Window>,
    pub labels: BTreeMap<String, LabelCounts>,
    pub rejected_sample: Vec<RejectedRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub datasets: Vec<DatasetReport>,
}

pub fn input_spec(args: &crate::cli::InputArgs) -> InputSpec {
    InputSpec {
        data: args.data.clone(),
        transactions: args.transactions.clone(),
        checkout: args.checkout.clone(),
        merchants: args.merchants.clone(),
    }
}

pub fn ingest_options(args: &crate::cli::InputArgs) -> anyhow::Result<IngestOptions> {
    let timezone = Offset::parse(&args.timezone)
        .with_context(|| format!("--timezone `{}`: expected an offset such as +08:00, -05:30 or Z", args.timezone))?;
    let delimiter = match args.delimiter.as_str() {
        "tab" | "\\t" | "\t" => b'\t',
        d if d.len() == 1 && d.is_ascii() && d != "\"" && d != "\n" && d != "\r" => d.as_bytes()[0],
        d => anyhow::bail!("--delimiter `{d}`: expected one ASCII character other than a quote or line end, or `tab`"),
    };
    Ok(IngestOptions {
        timezone,
        delimiter,
        encoding: args.encoding,
        amounts_in_fen: args.amount_unit == crate::cli::AmountUnit::Fen,
    })
}

pub fn run_cli(args: &InspectArgs) -> anyhow::Result<u8> {
    let spec = input_spec(&args.input);
    if spec.data.is_none() && spec.transactions.is_none() && spec.checkout.is_none() && spec.merchants.is_none() {
        anyhow::bail!("no input given: use --data DIR, or --transactions / --checkout / --merchants PATH");
    }
    let inputs = ingest::open(&spec, ingest_options(&args.input)?)?;
    if inputs.datasets.is_empty() {
        let dir = spec.data.as_deref().map_or_else(String::new, |d| format!(" in {}", d.display()));
        anyhow::bail!(
            "no input files found{dir}: --data expects transactions.csv|parquet, checkout.csv|parquet or \
             merchants.csv|parquet (or a folder of that name per dataset)"
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
        TextOrJson::Text => render_text(&inspection),
    };
    print!("{text}");
    Ok(0)
}

/// Runs the inspection pass; also returns every rejected row, located.
pub fn inspect(inputs: &Inputs, top: usize) -> anyhow::Result<(Inspection, BTreeMap<Dataset, Vec<RejectedRow>>)> {
    let mut plans = Vec::new();
    let mut layout = Vec::new();
    for input in inputs.datasets.values() {
        let labels: Vec<&str> = label_columns(input.dataset).iter().copied().filter(|c| input.has_column(c)).collect();
        plans.push(accounting::counts_plan(input));
        plans.push(rejects::rejected_plan(input));
        plans.push(window_plan(input));
        let dups = accounting::duplicates_plan(input);
        let has_dups = dups.is_some();
        plans.extend(dups);
        for c in &labels {
            plans.push(label_plan(input, c));
        }
        layout.push((input, labels, has_dups));
    }
    let mut frames = anyhow::Context::context(crate::exec::collect_all(plans), "reading the input files")?.into_iter();
    let mut datasets = Vec::new();
    let mut all_rejected = BTreeMap::new();
    for (input, labels, has_dups) in layout {
        let mut next = || frames.next().context("missing result frame");
        let counts = next()?;
        let rejected_df = next()?;
        let window_df = next()?;
        let mut account = accounting::from_counts(input, &counts)?;
        if has_dups {
            accounting::set_duplicates(&mut account, &next()?)?;
        }
        let rejected = rejects::locate(input, &rejected_df, inputs.options.delimiter)?;
        let window = Window::of(window_bounds(&window_df)?, inputs.options.timezone);
        let mut label_map = BTreeMap::new();
        for c in labels {
            label_map.insert(c.to_string(), label_counts(&next()?, top)?);
        }
        datasets.push(DatasetReport {
            account,
            window,
            labels: label_map,
            rejected_sample: rejected.iter().take(REJECT_SAMPLE).cloned().collect(),
        });
        all_rejected.insert(input.dataset, rejected);
    }
    Ok((Inspection { datasets }, all_rejected))
}

/// The earliest and latest accepted `ts` (`from`, `to`); no row for a dataset without time.
pub fn window_plan(input: &DatasetInput) -> LazyFrame {
    if input.has_column("ts") {
        input.accepted().select([col("ts").min().alias("from"), col("ts").max().alias("to")])
    } else {
        // merchants has no time column; an empty frame keeps the result order.
        input
            .accepted()
            .select([lit(NULL).cast(DataType::Int64).alias("from"), lit(NULL).cast(DataType::Int64).alias("to")])
            .limit(0)
    }
}

/// The bounds of a collected `window_plan`, if it found any timestamp.
pub fn window_bounds(df: &DataFrame) -> anyhow::Result<Option<(i64, i64)>> {
    if df.height() == 0 {
        return Ok(None);
    }
    Ok(df.column("from")?.i64()?.get(0).zip(df.column("to")?.i64()?.get(0)))
}

impl Window {
    pub fn of(bounds: Option<(i64, i64)>, tz: Offset) -> Option<Window> {
        bounds.map(|(f, t)| Window { from: timefmt::rfc3339(f, tz), to: timefmt::rfc3339(t, tz) })
    }
}

/// Rows per distinct value of a column of accepted rows: `label`, `n`. The
/// audit uses it too, to report labels no provider's aliases match.
pub fn label_plan(input: &DatasetInput, column: &str) -> LazyFrame {
    input.accepted().group_by([col(column).alias("label")]).agg([len().cast(DataType::UInt64).alias("n")])
}

fn label_counts(df: &DataFrame, top: usize) -> anyhow::Result<LabelCounts> {
    let labels = df.column("label")?.str()?;
    let ns = df.column("n")?.u64()?;
    let mut values: Vec<(String, u64)> =
        labels.iter().zip(ns.iter()).filter_map(|(l, n)| Some((l.unwrap_or("(empty)").to_string(), n?))).collect();
    // Most frequent first; ties by label so the listing is deterministic.
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let distinct = values.len();
    let other_rows = values.iter().skip(top).map(|v| v.1).sum();
    values.truncate(top);
    Ok(LabelCounts { distinct, values, other_rows })
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
            "  rows      {} read = {} accepted + {} rejected",
            a.rows_read, a.rows_accepted, a.rows_rejected
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
