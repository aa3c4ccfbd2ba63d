//! Validated logs rewritten in the contract's typed form, streaming: what
//! `hutong convert` and `hutong import` write. Rejected rows are set aside
//! exactly as `audit` would report them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use polars::prelude::*;

use super::accounting::{AccountingPlans, DatasetAccount};
use super::rejects::RejectedRow;
use super::sortmeta::SortedKey;
use super::{DatasetInput, Inputs};
use crate::contract::{Dataset, Kind, SORTABLE};

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
        let sorted_by = order.and_then(|o| o.lock().ok().and_then(|o| o.sorted_by()));
        if let Some(key) = &sorted_by {
            super::sortmeta::record(&tmp, std::slice::from_ref(key))
                .with_context(|| format!("recording the order of {} in its footer", target.display()))?;
        }
        tmp.persist(&target).with_context(|| format!("moving {} into place", target.display()))?;
        let (account, rejected) = accounting.finish(input, &mut results, inputs.options.delimiter)?;
        done.push(Converted { dataset: input.dataset, target, account, rejected, sorted_by });
    }
    Ok(done)
}

/// Adds to `batch` a look at the order of the dataset's sortable key as
/// its accepted rows are written (the same scan, batch by batch in row
/// order), when the dataset has one.
fn watch_order(input: &DatasetInput, batch: &mut crate::exec::Batch) -> anyhow::Result<Option<Arc<Mutex<Order>>>> {
    let Some(&(_, key)) = SORTABLE.iter().find(|(ds, key)| *ds == input.dataset && input.has_column(key)) else {
        return Ok(None);
    };
    let order = Arc::new(Mutex::new(Order::new(key)));
    let seen = order.clone();
    let watch = input.accepted().select([col(key)]).sink_batches(
        PlanCallback::new(move |df: DataFrame| {
            let mut order = seen.lock().map_err(|_| polars_err!(ComputeError: "the order watch was poisoned"))?;
            order.see(df.column(key)?.str()?);
            // Never stop early: the scan is shared with the file's writer.
            Ok(false)
        }),
        true,
        None,
    )?;
    let _watch = batch.add(watch);
    Ok(Some(order))
}

/// The order of a key column's values seen so far, in row order.
#[derive(Debug)]
struct Order {
    column: &'static str,
    last: Option<String>,
    ascending: bool,
    descending: bool,
    nulls: bool,
}

impl Order {
    fn new(column: &'static str) -> Order {
        Order { column, last: None, ascending: true, descending: true, nulls: false }
    }

    /// Takes in the next batch of values.
    fn see(&mut self, values: &StringChunked) {
        if self.nulls || !(self.ascending || self.descending) {
            return;
        }
        let mut last = self.last.take();
        let mut previous: Option<&str> = last.as_deref();
        for value in values.iter() {
            let Some(v) = value else {
                self.nulls = true;
                return;
            };
            if let Some(p) = previous {
                self.ascending &= p <= v;
                self.descending &= p >= v;
            }
            previous = Some(v);
        }
        if let Some(p) = previous {
            last = Some(p.to_string());
        }
        self.last = last;
    }

    /// The key and direction the rows were sorted in, if they were: with no
    /// null key, and at least one row. Rows all of one key are ascending.
    fn sorted_by(&self) -> Option<SortedKey> {
        if self.nulls || self.last.is_none() {
            return None;
        }
        match (self.ascending, self.descending) {
            (true, _) => Some(SortedKey { column: self.column.to_string(), descending: false }),
            (false, true) => Some(SortedKey { column: self.column.to_string(), descending: true }),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(batches: &[&[Option<&str>]]) -> Option<SortedKey> {
        let mut order = Order::new("session_id");
        for b in batches {
            order.see(&StringChunked::from_iter_options(PlSmallStr::EMPTY, b.iter().copied()));
        }
        order.sorted_by()
    }

    #[test]
    fn the_order_is_followed_across_batches() {
        let asc = Some(SortedKey { column: "session_id".into(), descending: false });
        let desc = Some(SortedKey { column: "session_id".into(), descending: true });
        assert_eq!(seen(&[&[Some("s1"), Some("s1")], &[Some("s1"), Some("s2")], &[Some("s3")]]), asc);
        assert_eq!(seen(&[&[Some("s3"), Some("s2")], &[], &[Some("s2"), Some("s1")]]), desc);
        // Out of order only across a batch boundary.
        assert_eq!(seen(&[&[Some("s1"), Some("s2")], &[Some("s1"), Some("s3")]]), None);
        // Bytewise, as polars compares text: "s10" sorts before "s9".
        assert_eq!(seen(&[&[Some("s10"), Some("s9")]]), asc);
        assert_eq!(seen(&[&[Some("s9"), Some("s10")]]), desc);
        assert_eq!(seen(&[&[Some("s1"), None, Some("s2")]]), None);
        assert_eq!(seen(&[&[Some("s1"), Some("s1")]]), asc);
        assert_eq!(seen(&[&[]]), None);
    }
}
