//! Row accounting: rows read, accepted and rejected by reason, per file and
//! per dataset, so that `rows_read = rows_accepted + rows_rejected +
//! rows_outside_window` is shown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use polars::prelude::*;
use serde::Serialize;

use super::validate::{FILE, REASON};
use super::{DatasetInput, Format, IngestError};
use crate::contract::Dataset;
use crate::exec::{Batch, Handle, Merge, Results, Stage};

/// The accounting of one input file.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FileAccount {
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
    pub sha256: String,
    /// CSV: the text encoding the file was read in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    pub rows_read: u64,
    pub rows_rejected: u64,
}

/// The accounting of one dataset.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DatasetAccount {
    pub dataset: Dataset,
    pub files: Vec<FileAccount>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Valid rows outside `--from` / `--to`: read, not rejected, not audited.
    pub rows_outside_window: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Accepted rows whose id (`txn_id`) repeats an earlier row's; such rows
    /// are kept and audited as logged. None for datasets without a unique id.
    pub duplicate_ids: Option<u64>,
    /// Contract columns the files provide.
    pub columns_present: Vec<&'static str>,
    /// Optional contract columns no file provides.
    pub columns_missing: Vec<&'static str>,
    pub extra_columns: Vec<String>,
}

impl DatasetAccount {
    /// ` + N outside the window` when `--from` / `--to` left rows out.
    pub fn outside_text(&self) -> String {
        if self.rows_outside_window > 0 {
            format!(" + {} outside the window", self.rows_outside_window)
        } else {
            String::new()
        }
    }
}

/// The accounting plans of one dataset, added to a batch: row counts per
/// file and reason, the rejected rows, and (with an id column) duplicates.
/// Audit, inspect and convert all account for their inputs through it.
pub struct AccountingPlans {
    counts: Counts,
    duplicates: Option<Handle>,
}

/// Where a dataset's row counts and rejected rows come from.
enum Counts {
    /// Plans of the batch: the counts per file and reason, the rejected rows.
    Plans(Handle, Handle),
    /// Each file's rows, every one accepted ([`DatasetInput::known_rows`]).
    Known(Vec<u64>),
}

impl AccountingPlans {
    /// Adds the dataset's accounting plans to `batch`.
    pub fn add(input: &DatasetInput, batch: &mut Batch) -> AccountingPlans {
        AccountingPlans { duplicates: add_duplicates(input, batch), ..AccountingPlans::add_counts(input, batch) }
    }

    /// Adds the plans without the exact duplicate-id count, whose memory grows
    /// with the rows: for writers (`import`) that must stay flat.
    pub fn add_without_duplicates(input: &DatasetInput, batch: &mut Batch) -> AccountingPlans {
        AccountingPlans { duplicates: None, ..AccountingPlans::add_counts(input, batch) }
    }

    fn add_counts(input: &DatasetInput, batch: &mut Batch) -> AccountingPlans {
        let counts = match &input.known_rows {
            Some(rows) => Counts::Known(rows.clone()),
            None => Counts::Plans(batch.add(counts_plan(input)), batch.add(super::rejects::rejected_plan(input))),
        };
        AccountingPlans { counts, duplicates: None }
    }

    /// The accounting and every rejected row, located, from the batch's results.
    pub fn finish(
        self,
        input: &DatasetInput,
        results: &mut Results,
        delimiter: u8,
    ) -> anyhow::Result<(DatasetAccount, Vec<super::rejects::RejectedRow>)> {
        let (counts, rejected) = match self.counts {
            Counts::Plans(counts, rejected) => (results.take(counts)?, Some(results.take(rejected)?)),
            Counts::Known(rows) => (known_counts(&rows)?, None),
        };
        let mut account = from_counts(input, &counts)?;
        if let Some(h) = self.duplicates {
            set_duplicates(&mut account, &results.take(h)?)?;
        }
        let rejected = match rejected {
            Some(df) => super::rejects::locate(input, &df, delimiter)?,
            None => Vec::new(),
        };
        Ok((account, rejected))
    }
}

/// The plan that counts rows per file and reason.
fn counts_plan(input: &DatasetInput) -> LazyFrame {
    input
        .frame
        .clone()
        .group_by([col(FILE), col(REASON), col(super::OUTSIDE)])
        .agg([len().cast(DataType::UInt64).alias("n")])
}

/// The counts `counts_plan` would give for files whose rows are all
/// accepted and inside the window: `rows` per file.
fn known_counts(rows: &[u64]) -> PolarsResult<DataFrame> {
    let files: Vec<u32> = (0..rows.len() as u32).collect();
    df!(
        FILE => files,
        REASON => Series::full_null(REASON.into(), rows.len(), &DataType::UInt16),
        super::OUTSIDE => vec![false; rows.len()],
        "n" => rows,
    )
}

/// The name of the accounting's plans where rules' ids go (the execution
/// record lists the duplicate-id count under it).
pub const ACCOUNTING: &str = "accounting";

/// The column that must be unique per row, if the dataset has one.
pub fn unique_id(input: &DatasetInput) -> Option<&'static str> {
    match input.dataset {
        Dataset::Transactions => Some("txn_id"),
        _ => None,
    }
}

/// Adds the plan that counts accepted rows and distinct ids, if the dataset
/// has an id: the distinct count holds every id, so in a partitioned batch
/// each pass counts one share of them and the counts add up.
fn add_duplicates(input: &DatasetInput, batch: &mut Batch) -> Option<Handle> {
    let id = unique_id(input)?;
    // A group-by streams; `n_unique` over the whole column does not, and
    // would hold every id of the input whatever the partition.
    let stage = || Stage {
        dataset: input.dataset,
        key: id,
        others: Vec::new(),
        rows: Vec::new(),
        aggs: vec![len().cast(DataType::UInt64).alias("n")],
    };
    let then = |f: LazyFrame| {
        f.select([col("n").sum().cast(DataType::UInt64).alias("rows"), len().cast(DataType::UInt64).alias("distinct")])
    };
    Some(batch.add_stage(&input.accepted(), stage, then, Merge::sum(["rows", "distinct"]), ACCOUNTING))
}

/// Records the duplicate count from the collected `duplicates_plan`.
fn set_duplicates(account: &mut DatasetAccount, df: &DataFrame) -> Result<(), IngestError> {
    let err = |cause| IngestError::Polars { context: format!("{}: counting duplicate ids", account.dataset), cause };
    let rows = df.column("rows").and_then(|c| c.u64().cloned()).map_err(err)?.get(0).unwrap_or(0);
    let distinct = df.column("distinct").and_then(|c| c.u64().cloned()).map_err(err)?.get(0).unwrap_or(0);
    account.duplicate_ids = Some(rows.saturating_sub(distinct));
    Ok(())
}

/// Builds the accounting from the collected `counts_plan`.
fn from_counts(input: &DatasetInput, counts: &DataFrame) -> Result<DatasetAccount, IngestError> {
    let err = |cause| IngestError::Polars { context: format!("{}: counting rows", input.dataset), cause };
    let files = counts.column(FILE).and_then(|c| c.u32().cloned()).map_err(err)?;
    let reasons = counts.column(REASON).and_then(|c| c.u16().cloned()).map_err(err)?;
    let table = super::validate::reason_table(input.dataset);
    let ns = counts.column("n").and_then(|c| c.u64().cloned()).map_err(err)?;
    let outside = counts.column(super::OUTSIDE).and_then(|c| c.bool().cloned()).map_err(err)?;
    let mut per_file = vec![(0u64, 0u64); input.files.len()];
    let mut by_reason = BTreeMap::new();
    let mut rows_outside_window = 0;
    for (((f, reason), n), out) in files.iter().zip(reasons.iter()).zip(ns.iter()).zip(outside.iter()) {
        let (Some(f), Some(n)) = (f, n) else { continue };
        if out == Some(true) {
            rows_outside_window += n;
        }
        if let Some(slot) = per_file.get_mut(f as usize) {
            slot.0 += n;
            if let Some(r) = reason {
                slot.1 += n;
                let text = table.get(usize::from(r)).cloned().unwrap_or_else(|| format!("reason {r}"));
                *by_reason.entry(text).or_insert(0) += n;
            }
        }
    }
    let files: Vec<FileAccount> = input
        .files
        .iter()
        .zip(per_file)
        .map(|(f, (read, rejected))| FileAccount {
            path: f.path.clone(),
            format: f.format,
            bytes: f.bytes,
            sha256: f.sha256.clone(),
            encoding: f.encoding,
            rows_read: read,
            rows_rejected: rejected,
        })
        .collect();
    for (f, acc) in input.files.iter().zip(&files) {
        // The pre-read and polars must agree on what a record is, or line
        // numbers in the rejected rows would be wrong: refuse to guess.
        if let Some(records) = f.records {
            if records != acc.rows_read {
                return Err(IngestError::Polars {
                    context: format!("{}: {}", input.dataset, f.path.display()),
                    cause: PolarsError::ComputeError(
                        format!(
                            "the CSV reader found {} rows but the pre-read found {records} records; \
                             the file's quoting may be irregular",
                            acc.rows_read
                        )
                        .into(),
                    ),
                });
            }
        }
    }
    let rows_read = files.iter().map(|f| f.rows_read).sum();
    let rows_rejected = files.iter().map(|f| f.rows_rejected).sum();
    let columns_missing =
        input.dataset.columns().iter().map(|c| c.name).filter(|n| !input.present.contains(n)).collect();
    Ok(DatasetAccount {
        dataset: input.dataset,
        files,
        rows_read,
        rows_accepted: rows_read - rows_rejected - rows_outside_window,
        rows_rejected,
        rows_outside_window,
        rejected_by_reason: by_reason,
        duplicate_ids: None,
        columns_present: input.present.clone(),
        columns_missing,
        extra_columns: input.extra_columns.clone(),
    })
}
