//! `hutong inspect`: what the input logs hold, before any rule is applied.
//!
//! One streaming pass over every dataset computes the row accounting, the
//! time window and the distinct labels, so a user can check a delivery and
//! tune a rulebook's taxonomy before auditing.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use crate::contract::Dataset;
use crate::exec::{Batch, Handle};
use crate::ingest::accounting::{AccountingPlans, DatasetAccount};
use crate::ingest::rejects::RejectedRow;
use crate::ingest::window::{label_plan, window_bounds, window_plan, Window};
use crate::ingest::Inputs;

/// How many rejected rows the report shows; the rest are in the rejected files.
const REJECT_SAMPLE: usize = 20;

/// The labelled columns `inspect` lists, per dataset.
fn label_columns(ds: Dataset) -> &'static [&'static str] {
    match ds {
        Dataset::Transactions => &["platform", "channel", "region", "method", "wallet_app", "code_issuer"],
        Dataset::Checkout => &["platform", "region", "method"],
        Dataset::Merchants => &["platform", "region"],
        Dataset::Codes => &["platform", "region"],
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

/// Everything `inspect` reports about one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    #[serde(flatten)]
    pub account: DatasetAccount,
    pub window: Option<Window>,
    /// The key the rows are sorted by, as `hutong convert` recorded it in
    /// the Parquet footer (`session_id asc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sorted_by: Option<String>,
    /// The columns recorded beside it as holding one value within each run
    /// of that key (`ingest::order`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constant_within: Vec<String>,
    pub labels: BTreeMap<String, LabelCounts>,
    pub rejected_sample: Vec<RejectedRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub datasets: Vec<DatasetReport>,
}

/// Runs the inspection pass; also returns every rejected row, located.
pub fn inspect(inputs: &Inputs, top: usize) -> anyhow::Result<(Inspection, BTreeMap<Dataset, Vec<RejectedRow>>)> {
    let mut batch = Batch::new();
    let mut layout = Vec::new();
    for input in inputs.datasets.values() {
        let accounting = AccountingPlans::add(input, &mut batch);
        let window = batch.add(window_plan(input));
        let labels: Vec<(&str, Handle)> = label_columns(input.dataset)
            .iter()
            .filter(|c| input.has_column(c))
            .map(|c| (*c, batch.add(label_plan(input, c))))
            .collect();
        layout.push((input, accounting, window, labels));
    }
    let mut results = anyhow::Context::context(batch.run(), "reading the input files")?;
    let mut datasets = Vec::new();
    let mut all_rejected = BTreeMap::new();
    for (input, accounting, window, labels) in layout {
        let (account, rejected) = accounting.finish(input, &mut results, inputs.options.delimiter)?;
        let window = Window::of(window_bounds(&results.take(window)?)?, inputs.options.timezone);
        let mut label_map = BTreeMap::new();
        for (c, h) in labels {
            label_map.insert(c.to_string(), label_counts(&results.take(h)?, top)?);
        }
        let recorded = crate::ingest::sortmeta::recorded_for(&input.files);
        let sorted_by =
            (!recorded.is_empty()).then(|| recorded.iter().map(|k| k.text()).collect::<Vec<_>>().join(", "));
        let constant_within = match crate::ingest::sortmeta::order_for(&input.files) {
            crate::ingest::order::RowOrder::Sorted(p) => p.constant,
            _ => Vec::new(),
        };
        datasets.push(DatasetReport {
            account,
            window,
            sorted_by,
            constant_within,
            labels: label_map,
            rejected_sample: rejected.iter().take(REJECT_SAMPLE).cloned().collect(),
        });
        all_rejected.insert(input.dataset, rejected);
    }
    Ok((Inspection { datasets }, all_rejected))
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
