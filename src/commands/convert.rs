//! `hutong convert`: rewrites validated logs as typed Parquet, streaming, so
//! repeated audits skip CSV parsing. Rejected rows are kept aside exactly as
//! `audit` would report them, and the accounting is printed.

use anyhow::{bail, Context as _};

use super::{ingest_options, input_spec};
use crate::cli::ConvertArgs;
use crate::ingest::rejects;

pub fn run_cli(args: &ConvertArgs) -> anyhow::Result<u8> {
    let progress = crate::progress::Progress::new(args.quiet);
    crate::text::set_raw_csv(args.raw_csv);
    crate::output::ensure_writable(&args.out)?;
    let spec = input_spec(&args.input);
    if spec.data.is_none()
        && spec.transactions.is_none()
        && spec.checkout.is_none()
        && spec.merchants.is_none()
        && spec.codes.is_none()
    {
        bail!("no input given: use --data DIR, or --transactions / --checkout / --merchants / --codes PATH");
    }
    progress.stage("reading every input file once: SHA-256 and record structure");
    let inputs = crate::ingest::open(&spec, ingest_options(&args.input)?)?;
    if inputs.datasets.is_empty() {
        bail!("no input files found");
    }
    crate::output::check_out_dir(&args.out, &inputs, false)?;
    let _lock = crate::output::lock(&args.out)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    progress.stage("writing Parquet in one streaming pass");
    let mut total_rejected = 0;
    for c in
        crate::ingest::convert::write_typed(&inputs, &args.out, crate::ingest::convert::OutputFormat::Parquet, true)?
    {
        if !c.rejected.is_empty() {
            let path = args.out.join("rejected").join(format!("{}.csv", c.dataset.name()));
            crate::output::write_atomic(&path, |p| rejects::write_to(p, &c.rejected))?;
        }
        total_rejected += c.account.rows_rejected;
        if !args.quiet {
            println!(
                "{:<13} {} rows read = {} written to {} + {} rejected{}{}",
                c.dataset.name(),
                c.account.rows_read,
                c.account.rows_accepted,
                c.target.display(),
                c.account.rows_rejected,
                c.account.outside_text(),
                c.sorted_by.as_ref().map(|k| format!("; sorted by `{}`", k.column)).unwrap_or_default()
            );
        }
    }
    if total_rejected > 0 && !args.quiet {
        println!("rejected rows are in {}", args.out.join("rejected").display());
    }
    progress.stage("done");
    Ok(0)
}
