//! Validated logs rewritten in the contract's typed form, streaming: what
//! `hutong convert` and `hutong import` write. Rejected rows are set aside
//! exactly as `audit` would report them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use polars::prelude::*;

use super::accounting::{AccountingPlans, DatasetAccount};
use super::order::{Order, RowOrder};
use super::rejects::RejectedRow;
use super::sortmeta::SortedKey;
use super::{DatasetInput, Inputs};
use crate::contract::{Dataset, Kind};

/// The file format written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Typed Parquet; timestamps zone-aware UTC.
    Parquet,
    /// Contract CSV; timestamps in RFC 3339 (UTC).
    Csv,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Csv => "csv",
        }
    }
}

/// One dataset written: where, its row accounting and its rejected rows.
pub struct Converted {
    pub dataset: Dataset,
    pub target: PathBuf,
    pub account: DatasetAccount,
    pub rejected: Vec<RejectedRow>,
    /// The key the written rows are sorted by, recorded in the Parquet
    /// footer (see [`super::sortmeta`]).
    pub sorted_by: Option<SortedKey>,
}

/// Writes every dataset of `inputs` into `out` as `<dataset>.<format>`, in
/// one streaming pass (temporary names, renamed into place).
/// With `count_duplicates`, the accounting counts repeated `txn_id`s exactly,
/// which takes memory growing with the rows.
pub fn write_typed(
    inputs: &Inputs,
    out: &Path,
    format: OutputFormat,
    count_duplicates: bool,
) -> anyhow::Result<Vec<Converted>> {
    let mut batch = crate::exec::Batch::new();
    let mut temps = Vec::new();
    let mut guards = Vec::new();
    for input in inputs.datasets.values() {
        let target = out.join(format!("{}.{}", input.dataset.name(), format.extension()));
        // A unique temporary name: runs into one directory never share one.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.{}.", input.dataset.name(), format.extension()))
            .suffix(".tmp")
            .tempfile_in(out)
            .with_context(|| format!("creating a temporary file in {}", out.display()))?
            .into_temp_path();
        let columns: Vec<Expr> = input
            .present
            .iter()
            .map(|name| match (input.dataset.column(name).map(|c| c.kind), format) {
                // Zone-aware UTC timestamps: read back without --timezone.
                (Some(Kind::Timestamp), OutputFormat::Parquet) => {
                    col(*name).cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))).alias(*name)
                }
                (Some(Kind::Timestamp), OutputFormat::Csv) => col(*name)
                    .cast(DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)))
                    .dt()
                    .to_string("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .alias(*name),
                _ => col(*name),
            })
            .collect();
        let write = match format {
            OutputFormat::Parquet => FileWriteFormat::Parquet(Arc::new(ParquetWriteOptions {
                // What engines that read the file themselves check first.
                key_value_metadata: Some(KeyValueMetadata::from_static(vec![(
                    super::sortmeta::CONVERTED.to_string(),
                    input.dataset.name().to_string(),
                )])),
                ..ParquetWriteOptions::default()
            })),
            OutputFormat::Csv => FileWriteFormat::Csv(CsvWriterOptions::default()),
        };
        let sink = input.accepted().select(columns).sink(
            SinkDestination::File { target: SinkTarget::Path(PlRefPath::new(tmp.to_string_lossy().as_ref())) },
            write,
            UnifiedSinkArgs::default(),
        )?;
        // The sink writes the file; its (empty) result is not needed.
        let _sink = batch.add(sink);
        let order = match format {
            OutputFormat::Parquet => watch_order(input, &mut batch)?,
            OutputFormat::Csv => None,
        };
        guards.push(crate::cleanup::register(&tmp));
        let accounting = if count_duplicates {
            AccountingPlans::add(input, &mut batch)
        } else {
            AccountingPlans::add_without_duplicates(input, &mut batch)
        };
        temps.push((tmp, target, accounting, order));
    }
    let mut results = anyhow::Context::context(batch.run(), "converting")?;
    let mut done = Vec::new();
    for (input, (tmp, target, accounting, order)) in inputs.datasets.values().zip(temps) {
        let proven = order.and_then(|o| o.lock().ok().map(|o| o.proven())).unwrap_or_default();
        let sorted_by = match proven {
            RowOrder::Sorted(p) => {
                super::sortmeta::record(&tmp, std::slice::from_ref(&p.key), &p.constant)
                    .with_context(|| format!("recording the order of {} in its footer", target.display()))?;
                Some(p.key)
            }
            _ => None,
        };
        tmp.persist(&target).with_context(|| format!("moving {} into place", target.display()))?;
        let (account, rejected) = accounting.finish(input, &mut results, inputs.options.delimiter)?;
        done.push(Converted { dataset: input.dataset, target, account, rejected, sorted_by });
    }
    Ok(done)
}

/// Adds to `batch` a look at the order of the dataset's sortable key (and
/// of the columns grouped beside it) as its accepted rows are written (the
/// same scan, batch by batch in row order), when the dataset has one.
fn watch_order(input: &DatasetInput, batch: &mut crate::exec::Batch) -> anyhow::Result<Option<Arc<Mutex<Order>>>> {
    let Some(order) = Order::of(input.dataset, &input.present) else {
        return Ok(None);
    };
    let columns: Vec<Expr> = order.columns().into_iter().map(col).collect();
    let order = Arc::new(Mutex::new(order));
    let seen = order.clone();
    let watch = input.accepted().select(columns).sink_batches(
        PlanCallback::new(move |df: DataFrame| {
            let mut order = seen.lock().map_err(|_| polars_err!(ComputeError: "the order watch was poisoned"))?;
            order.see(&df, None)?;
            // Never stop early: the scan is shared with the file's writer.
            Ok(false)
        }),
        true,
        None,
    )?;
    let _watch = batch.add(watch);
    Ok(Some(order))
}
