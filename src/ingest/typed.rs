//! The frame of a dataset as `hutong convert` wrote it: the rows were
//! validated when they were converted, so the frame is the files' columns
//! in their contract types, every row accepted, with the same bookkeeping
//! columns as a validated frame. Engines that read the Parquet files
//! themselves (`audit --engine datafusion|ballista`) require it; a polars
//! audit takes it wherever every file of a dataset qualifies, and then
//! neither validates those rows again nor stages a copy of them. Only plain
//! column expressions are used, which those engines' SQL can say.

use polars::prelude::*;

use super::{sortmeta, validate, DatasetInput, IngestError, IngestOptions, Inputs, OUTSIDE};
use crate::contract::{Dataset, Kind};

impl Inputs {
    /// Replaces each dataset's frame with the typed frame of its files,
    /// which must be Parquet written by `hutong convert` for that dataset.
    pub fn as_converted(&mut self) -> Result<(), IngestError> {
        let options = self.options;
        for input in self.datasets.values_mut() {
            input.frame = converted_frame(input, options)?;
        }
        Ok(())
    }

    /// Reads as converted every dataset whose files `hutong convert` all
    /// wrote for it, and leaves the others to validation; returns the
    /// datasets so read. The footer's word is checked, not taken: one
    /// counting pass validates every row as any input's (2.5 s for the 28.8M
    /// rows of 10M transactions, measured), and a dataset with a row
    /// validation would reject, a file changed since convert wrote it, stays
    /// validated. A dataset whose files (by their SHA-256) passed the same
    /// count under the same options in an earlier run is not counted again
    /// (remembered in the pre-read cache, [`Remembered`]). `cache`: the
    /// frame is read by every plan of one pass (a single-pass audit), so
    /// polars scans it once.
    pub fn read_converted(&mut self, cache: bool) -> Vec<(Dataset, Remembered)> {
        let options = self.options;
        let mut candidates = Vec::new();
        for input in self.datasets.values() {
            // Not converted, or not as this build writes it: validated as any file.
            if let Ok(frame) = converted_frame(input, options) {
                candidates.push((input.dataset, frame));
            }
        }
        let remembered = super::preread::Cache::new(options.preread_cache);
        let mut read = Vec::new();
        for (ds, frame) in candidates {
            let fact = all_valid_fact(&self.datasets[&ds], options);
            let known = remembered.holds(&fact);
            // A file that cannot be read is left to the validating read, which says why.
            let all_valid = known || rejected_rows(&self.datasets[&ds]) == Some(0);
            crate::exec::release_memory();
            if !all_valid {
                continue;
            }
            if !known {
                remembered.remember(&fact);
            }
            let Some(input) = self.datasets.get_mut(&ds) else { continue };
            input.frame = if cache { frame.cache() } else { frame };
            input.converted = true;
            input.order = super::sortmeta::order_for(&input.files);
            if super::windowed(ds, &input.present, options).is_none() {
                input.known_rows = input.files.iter().map(|f| f.rows().ok()).collect();
            }
            read.push((ds, if known { Remembered::Yes } else { Remembered::No }));
        }
        read
    }
}

/// Whether a converted dataset's count of rejected rows came from an
/// earlier run instead of a pass over its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    Yes,
    No,
}

/// The claim that validation rejects none of `input`'s rows, naming all it
/// depends on: the files' bytes (their SHA-256, in order), the dataset and
/// its contract, the options validation reads, and this build's version.
fn all_valid_fact(input: &DatasetInput, o: IngestOptions) -> String {
    let files: Vec<&str> = input.files.iter().map(|f| f.sha256.as_str()).collect();
    format!(
        "hutong {} validates every row of converted {} files [{}] (contract {:?}; timezone {:?}; amounts in fen {})",
        env!("CARGO_PKG_VERSION"),
        input.dataset,
        files.join(", "),
        input.dataset.columns(),
        o.timezone,
        o.amounts_in_fen,
    )
}

/// The rows validation rejects in `input`, counted one dataset and one
/// slice at a time (as staging reads it: read whole, or beside another
/// count, the reads ahead add up); `None` when it cannot be read.
fn rejected_rows(input: &DatasetInput) -> Option<u64> {
    let mut rejected = 0;
    for slice in super::slices(input).ok()? {
        let count = slice.filter(col(validate::REASON).is_not_null()).select([len()]);
        let counted = crate::exec::collect_all(vec![count]).ok()?;
        rejected += counted.first()?.column("len").ok()?.get(0).ok()?.extract::<u64>()?;
    }
    Some(rejected)
}

fn converted_frame(input: &DatasetInput, options: IngestOptions) -> Result<LazyFrame, IngestError> {
    let ds = input.dataset;
    let mut frames = Vec::new();
    for (i, file) in input.files.iter().enumerate() {
        let not_converted = |why: String| IngestError::NotConverted { dataset: ds, path: file.path.clone(), why };
        if file.format != super::Format::Parquet {
            return Err(not_converted("it is CSV".into()));
        }
        match sortmeta::entry(&file.path, sortmeta::CONVERTED) {
            Ok(Some(d)) if d == ds.name() => {}
            Ok(Some(d)) => return Err(not_converted(format!("it holds the {d} dataset"))),
            Ok(None) => return Err(not_converted("its footer has no `hutong.converted` entry".into())),
            Err(e) => return Err(not_converted(format!("its footer cannot be read: {e}"))),
        }
        let polars_err = |cause| IngestError::Polars { context: format!("{ds}: {}", file.path.display()), cause };
        let args = ScanArgsParquet { glob: false, ..Default::default() };
        let mut lf =
            LazyFrame::scan_parquet(PlRefPath::new(file.path.to_string_lossy().as_ref()), args).map_err(polars_err)?;
        let schema = lf.collect_schema().map_err(polars_err)?;
        let mut cols = vec![
            lit(i as u32).cast(DataType::UInt32).alias(validate::FILE),
            lit(NULL).cast(IDX_DTYPE).alias(validate::ROW),
        ];
        for column in ds.columns() {
            let name = column.name;
            let want = validate::typed_dtype(column.kind);
            cols.push(match schema.get(name) {
                None => lit(NULL).cast(want).alias(name),
                Some(found) => typed(name, column.kind, found, &want, options)
                    .ok_or_else(|| not_converted(format!("column `{name}` has type {found}")))?
                    .alias(name),
            });
        }
        cols.push(lit(NULL).cast(DataType::UInt16).alias(validate::REASON));
        frames.push(lf.select(cols));
    }
    let frame = match frames.len() {
        1 => frames.remove(0),
        _ => concat(frames, UnionArgs::default())
            .map_err(|cause| IngestError::Polars { context: format!("{ds}: combining input files"), cause })?,
    };
    Ok(frame.with_column(super::outside(ds, &input.present, options).alias(OUTSIDE)))
}

/// A converted column in its contract type, as validation would give it
/// (`None`: `convert` writes no such type for the column).
fn typed(name: &str, kind: Kind, found: &DataType, want: &DataType, o: IngestOptions) -> Option<Expr> {
    let e = match (kind, found) {
        // `convert` writes UTC instants; a naive one is wall time in the audit's zone.
        (Kind::Timestamp, DataType::Datetime(_, zone)) => {
            let micros = col(name).dt().timestamp(TimeUnit::Microseconds);
            match zone {
                Some(_) => micros,
                None => micros - lit(i64::from(o.timezone.0) * 1_000_000),
            }
        }
        (Kind::Timestamp, _) => return None,
        (_, t) if t == want => col(name),
        (Kind::Integer { .. } | Kind::Decimal { .. }, t) if t.is_primitive_numeric() => col(name).cast(want.clone()),
        _ => return None,
    };
    Some(if o.amounts_in_fen && validate::is_amount(name) { e / lit(100.0) } else { e })
}
