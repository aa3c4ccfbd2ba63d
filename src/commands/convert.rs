//! `hutong convert`: rewrites validated logs as typed Parquet, streaming, so
//! repeated audits skip CSV parsing. Rejected rows are kept aside exactly as
//! `audit` would report them, and the accounting is printed.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use polars::prelude::*;

use super::{ingest_options, input_spec};
use crate::cli::ConvertArgs;
use crate::contract::Kind;
use crate::ingest::accounting::AccountingPlans;
use crate::ingest::rejects;

pub fn run_cli(args: &ConvertArgs) -> anyhow::Result<u8> {
    let progress = crate::progress::Progress::new(args.quiet);
    let spec = input_spec(&args.input);
    if spec.data.is_none() && spec.transactions.is_none() && spec.checkout.is_none() && spec.merchants.is_none() {
        bail!("no input given: use --data DIR, or --transactions / --checkout / --merchants PATH");
    }
    progress.stage("reading every input file once: SHA-256 and record structure");
    let inputs = crate::ingest::open(&spec, ingest_options(&args.input)?)?;
    if inputs.datasets.is_empty() {
        bail!("no input files found");
    }
    crate::output::check_out_dir(&args.out, &inputs, false)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut batch = crate::exec::Batch::new();
    let mut temps = Vec::new();
    for input in inputs.datasets.values() {
        let target = args.out.join(format!("{}.parquet", input.dataset.name()));
        let tmp = args.out.join(format!("{}.parquet.tmp", input.dataset.name()));
        let columns: Vec<Expr> = input
            .present
            .iter()
            .map(|name| {
                let c = input.dataset.column(name).map(|c| c.kind);
                match c {
                    // Zone-aware UTC timestamps: read back without --timezone.
                    Some(Kind::Timestamp) => {
                        col(*name).cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))).alias(*name)
                    }
                    _ => col(*name),
                }
            })
            .collect();
        let sink = input.accepted().select(columns).sink(
            SinkDestination::File { target: SinkTarget::Path(PlRefPath::new(tmp.to_string_lossy().as_ref())) },
            FileWriteFormat::Parquet(Arc::new(ParquetWriteOptions::default())),
            UnifiedSinkArgs::default(),
        )?;
        // The sink writes the file; its (empty) result is not needed.
        let _sink = batch.add(sink);
        let accounting = AccountingPlans::add(input, &mut batch);
        temps.push((tmp, target, accounting));
    }
    progress.stage("writing Parquet in one streaming pass");
    let mut results = anyhow::Context::context(batch.run(), "converting")?;
    let mut total_rejected = 0;
    for (input, (tmp, target, accounting)) in inputs.datasets.values().zip(temps) {
        std::fs::rename(&tmp, &target).with_context(|| format!("moving {} into place", target.display()))?;
        let (account, rejected) = accounting.finish(input, &mut results, inputs.options.delimiter)?;
        if !rejected.is_empty() {
            let path = args.out.join("rejected").join(format!("{}.csv", input.dataset.name()));
            crate::output::write_atomic(&path, |p| rejects::write_to(p, &rejected))?;
        }
        total_rejected += account.rows_rejected;
        if !args.quiet {
            println!(
                "{:<13} {} rows read = {} written to {} + {} rejected{}",
                input.dataset.name(),
                account.rows_read,
                account.rows_accepted,
                target.display(),
                account.rows_rejected,
                account.outside_text()
            );
        }
    }
    if total_rejected > 0 && !args.quiet {
        println!("rejected rows are in {}", args.out.join("rejected").display());
    }
    progress.stage("done");
    Ok(0)
}
