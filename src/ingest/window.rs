//! Plans shared by the commands that summarise inputs: the accepted-row time
//! window and the rows per distinct label of a column.

use polars::prelude::*;
use serde::Serialize;

use super::timefmt;
use super::{DatasetInput, Offset};

/// Accepted-row time window.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Window {
    pub from: String,
    pub to: String,
}

/// The earliest and latest accepted `ts` (`from`, `to`); no row for a dataset without time.
pub fn window_plan(input: &DatasetInput) -> LazyFrame {
    if let Some(t) = input.dataset.time_column().filter(|t| input.has_column(t)) {
        input.accepted().select([col(t).min().alias("from"), col(t).max().alias("to")])
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
