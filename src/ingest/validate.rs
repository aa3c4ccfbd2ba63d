//! Turns one raw input file into typed contract columns plus a reject reason.
//!
//! Every contract column is parsed into its type; a row whose value is
//! missing, unparseable or out of range gets a `__reason` naming the first
//! problem, so accounting and the rules share one lazy plan per file.

use std::sync::Arc;

use polars::prelude::*;

use super::fileread::Structural;
use super::parse::{self, Offset};
use super::IngestError;
use crate::contract::{Column as ContractColumn, Dataset, Kind};

/// Name of the file-index column added to every validated frame.
pub const FILE: &str = "__file";
/// Name of the 0-based record index within its file (header excluded).
pub const ROW: &str = "__row";
/// Name of the reject reason code (see `reason_table`); null for an accepted row.
pub const REASON: &str = "__reason";

/// Money columns, scaled by `--amount-unit fen`.
const AMOUNTS: [&str; 4] = ["amount", "discount", "surcharge", "fee"];

/// The polars type a contract column has after validation.
pub fn typed_dtype(kind: Kind) -> DataType {
    match kind {
        Kind::Text | Kind::Enum(_) => DataType::String,
        // Microseconds since the epoch, UTC: plain integers keep the window and
        // the evidence files free of time-zone conversions.
        Kind::Timestamp | Kind::Integer { .. } => DataType::Int64,
        Kind::Decimal { .. } => DataType::Float64,
        Kind::Bool => DataType::Boolean,
    }
}

/// What one file looks like before validation.
pub struct RawFile<'a> {
    pub dataset: Dataset,
    /// The file's index; `None` when the frame holds several files and
    /// carries its own `__file` column (a multi-file scan).
    pub index: Option<u32>,
    pub path: &'a std::path::Path,
    /// Column name → source type (all `String` for CSV).
    pub schema: &'a Schema,
    /// Sorted record indices with a structural problem (CSV only), in the
    /// numbering of the column `problem_rows`.
    pub problems: Arc<Vec<(IdxSize, Structural)>>,
    /// The column the problems' record indices refer to: `__row`, or a
    /// multi-file scan's global row index.
    pub problem_rows: &'a str,
}

/// Every reason a row of this dataset can be rejected for, in a fixed order:
/// a row's `__reason` is an index into this table (null when accepted).
/// Integer codes keep the per-row work cheap; text is looked up only for the
/// few rejected rows.
pub fn reason_table(ds: Dataset) -> Vec<String> {
    let mut out: Vec<String> = STRUCTURAL.iter().map(|s| s.reason().to_string()).collect();
    for column in ds.columns() {
        out.extend(column_reasons(column).into_iter().map(|(_, text)| text));
    }
    out
}

/// The structural problems, first in every reason table, in this order.
const STRUCTURAL: [Structural; 3] = [Structural::BlankLine, Structural::FieldCount, Structural::Quoting];

/// A structural problem's code: its place in `reason_table`, which lists
/// them first.
pub(super) fn structural_code(s: Structural) -> u16 {
    STRUCTURAL.iter().position(|x| *x == s).unwrap_or(0) as u16
}

/// What can be wrong with one column's value, in the order it is checked.
#[derive(Clone, Copy)]
pub(super) enum Check {
    Missing,
    Invalid,
    Range,
    /// A money value beyond ±`MAX_MONEY`.
    Magnitude,
}

/// The largest money value accepted, in yuan: no payment, fee or discount is
/// a trillion yuan, and with values below it a sum over billions of rows
/// stays far from f64's range (a pair of 1e308 amounts once summed to inf).
pub const MAX_MONEY: f64 = 1e12;

/// Whether `name` is a money column (scaled by `--amount-unit fen`).
pub fn is_amount(name: &str) -> bool {
    AMOUNTS.contains(&name)
}

pub(super) fn column_reasons(column: &ContractColumn) -> Vec<(Check, String)> {
    let name = column.name;
    let mut out = Vec::new();
    if column.required {
        out.push((Check::Missing, format!("missing_value:{name}")));
    }
    let invalid = match column.kind {
        Kind::Text => None,
        Kind::Timestamp => Some("invalid_timestamp"),
        Kind::Decimal { .. } => Some("invalid_number"),
        Kind::Integer { .. } => Some("invalid_integer"),
        Kind::Bool => Some("invalid_bool"),
        Kind::Enum(_) => Some("invalid_value"),
    };
    if let Some(code) = invalid {
        out.push((Check::Invalid, format!("{code}:{name}")));
    }
    match column.kind {
        Kind::Decimal { non_negative: true } => out.push((Check::Range, format!("negative_value:{name}"))),
        Kind::Integer { .. } => out.push((Check::Range, format!("out_of_range:{name}"))),
        _ => {}
    }
    if let Kind::Decimal { .. } = column.kind {
        out.push((Check::Magnitude, format!("out_of_range:{name}")));
    }
    out
}

fn code_lit(code: usize) -> Expr {
    lit(code as u32).cast(DataType::UInt16)
}

/// Builds the validated frame for one file: `__file`, `__row`, every contract
/// column typed (null where absent), and `__reason` (a code into `reason_table`).
pub fn validated(lf: LazyFrame, raw: &RawFile, options: super::IngestOptions) -> Result<LazyFrame, IngestError> {
    let tz = options.timezone;
    let table = reason_table(raw.dataset);
    let code = |text: &str| table.iter().position(|t| t == text).unwrap_or(0);
    let mut typed = Vec::new();
    let mut reasons = Vec::new();
    if !raw.problems.is_empty() {
        // Structural problems come first: a blank or ragged record's fields
        // mean nothing.
        let problems = raw.problems.clone();
        reasons.push(col(raw.problem_rows).map(
            move |c: Column| {
                let rows = c.idx()?;
                let out: UInt16Chunked = rows
                    .iter()
                    .map(|r| {
                        let i = problems.binary_search_by_key(&r?, |p| p.0).ok()?;
                        Some(structural_code(problems[i].1))
                    })
                    .collect();
                Ok(out.with_name(rows.name().clone()).into_column())
            },
            |_, f| Ok(Field::new(f.name().clone(), DataType::UInt16)),
        ));
    }
    for column in raw.dataset.columns() {
        let name = column.name;
        let tmp = format!("__t.{name}");
        match raw.schema.get(name) {
            None => typed.push(lit(NULL).cast(typed_dtype(column.kind)).alias(name)),
            Some(dtype) => {
                let conv = convert(col(name), column, dtype, tz).ok_or_else(|| IngestError::WrongType {
                    dataset: raw.dataset,
                    path: raw.path.to_path_buf(),
                    column: name.to_string(),
                    found: dtype.to_string(),
                    expected: column.kind.describe(),
                })?;
                // Fen are hundredths of a yuan; fees are rates or amounts as logged.
                let conv = if options.amounts_in_fen && is_amount(name) { conv / lit(100.0) } else { conv };
                typed.push(conv.alias(&tmp));
                for (check, text) in column_reasons(column) {
                    let raw_col = col(name);
                    let t = col(tmp.as_str());
                    let cond = match (check, column.kind) {
                        (Check::Missing, _) => raw_col.is_null(),
                        // NaN and infinities are not amounts, in any format.
                        (Check::Invalid, Kind::Decimal { .. }) => {
                            raw_col.is_not_null().and(t.clone().is_null().or(t.is_finite().not()))
                        }
                        (Check::Invalid, _) => raw_col.is_not_null().and(t.is_null()),
                        (Check::Magnitude, _) => t.abs().gt(lit(MAX_MONEY)),
                        (Check::Range, Kind::Integer { min }) => t.lt(lit(min)),
                        (Check::Range, _) => t.lt(lit(0.0)),
                    };
                    reasons.push(when(cond).then(code_lit(code(&text))).otherwise(lit(NULL).cast(DataType::UInt16)));
                }
            }
        }
    }
    // An empty value is missing however it was written: an unquoted empty
    // CSV field (null), a quoted `""`, or a Parquet `''`.
    let empties: Vec<Expr> = raw
        .dataset
        .columns()
        .iter()
        .filter(|c| matches!(raw.schema.get(c.name), Some(DataType::String)))
        .map(|c| {
            when(col(c.name).str().len_bytes().eq(lit(0u32)))
                .then(lit(NULL).cast(DataType::String))
                .otherwise(col(c.name))
                .alias(c.name)
        })
        .collect();
    let lf = if empties.is_empty() { lf } else { lf.with_columns(empties) };
    let file = match raw.index {
        Some(i) => lit(i).cast(DataType::UInt32).alias(FILE),
        None => col(FILE),
    };
    let mut out = vec![file, col(ROW)];
    for column in raw.dataset.columns() {
        let name = column.name;
        if raw.schema.get(name).is_some() {
            out.push(col(format!("__t.{name}")).alias(name));
        } else {
            out.push(col(name));
        }
    }
    let reason = if reasons.is_empty() { lit(NULL).cast(DataType::UInt16) } else { coalesce(&reasons) };
    out.push(reason.alias(REASON));
    Ok(lf.with_columns(typed).select(out))
}

/// The expression converting a source column to its contract type, or `None`
/// when the source type cannot hold such values.
fn convert(e: Expr, column: &ContractColumn, source: &DataType, tz: Offset) -> Option<Expr> {
    let is_text = matches!(source, DataType::String);
    Some(match column.kind {
        Kind::Text => {
            if is_text {
                e
            } else if source.is_primitive_numeric() || matches!(source, DataType::Categorical(..) | DataType::Enum(..))
            {
                e.cast(DataType::String)
            } else {
                return None;
            }
        }
        Kind::Timestamp => match source {
            DataType::String => map_str::<Int64Type, _>(e, DataType::Int64, move |s| parse::timestamp_micros(s, tz)),
            DataType::Datetime(_, zone) => {
                let utc = e.dt().timestamp(TimeUnit::Microseconds);
                if zone.is_some() {
                    utc
                } else {
                    // A naive timestamp is wall time in the audit's time zone.
                    utc - lit(i64::from(tz.0) * 1_000_000)
                }
            }
            _ => return None,
        },
        Kind::Decimal { .. } => {
            if is_text {
                map_str::<Float64Type, _>(e, DataType::Float64, parse::decimal)
            } else if source.is_primitive_numeric() {
                e.cast(DataType::Float64)
            } else {
                return None;
            }
        }
        Kind::Integer { .. } => {
            if is_text {
                map_str::<Int64Type, _>(e, DataType::Int64, parse::integer)
            } else if source.is_integer() {
                e.cast(DataType::Int64)
            } else {
                return None;
            }
        }
        Kind::Bool => match source {
            DataType::String => map_bool(e),
            DataType::Boolean => e,
            _ => return None,
        },
        Kind::Enum(allowed) => {
            let e = if is_text {
                e
            } else if matches!(source, DataType::Categorical(..) | DataType::Enum(..)) {
                e.cast(DataType::String)
            } else {
                return None;
            };
            map_enum(e, allowed)
        }
    })
}

/// Applies a parser to every string of a column; unparseable values become null.
fn map_str<T, F>(e: Expr, out: DataType, f: F) -> Expr
where
    T: PolarsNumericType,
    F: Fn(&str) -> Option<T::Native> + Send + Sync + 'static,
    ChunkedArray<T>: IntoColumn,
{
    e.map(
        move |c: Column| {
            let ca = c.str()?;
            let res: ChunkedArray<T> = ca.iter().map(|v| v.and_then(&f)).collect();
            Ok(res.with_name(ca.name().clone()).into_column())
        },
        move |_, field| Ok(Field::new(field.name().clone(), out.clone())),
    )
}

fn map_bool(e: Expr) -> Expr {
    e.map(
        |c: Column| {
            let ca = c.str()?;
            let res: BooleanChunked = ca.iter().map(|v| v.and_then(parse::boolean)).collect();
            Ok(res.with_name(ca.name().clone()).into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::Boolean)),
    )
}

fn map_enum(e: Expr, allowed: &'static [&'static str]) -> Expr {
    e.map(
        move |c: Column| {
            let ca = c.str()?;
            let res: StringChunked = ca.iter().map(|v| v.and_then(|s| parse::enumeration(s, allowed))).collect();
            Ok(res.with_name(ca.name().clone()).into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::String)),
    )
}
