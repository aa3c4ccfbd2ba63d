//! Arrow record batches from DataFusion → the polars frame a plan would
//! have given: columns by position, each cast to the plan's polars type.

use anyhow::{anyhow, bail};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{self as adt, DataType as ArrowType};
use datafusion::arrow::record_batch::RecordBatch;
use polars::prelude::*;

/// The batches' rows as a frame of `schema` (the plan's polars schema,
/// whose columns the query selects in the same order).
pub fn to_frame(batches: &[RecordBatch], schema: &Schema) -> anyhow::Result<DataFrame> {
    let mut columns = Vec::with_capacity(schema.len());
    for (i, (name, dtype)) in schema.iter().enumerate() {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
        let series = match parts.is_empty() {
            true => Series::new_empty(name.clone(), dtype),
            false => {
                let array = concat(&parts)?;
                column(name.clone(), &array, dtype)?
            }
        };
        columns.push(series.into_column());
    }
    let height = columns.first().map_or(0, |c| c.len());
    Ok(DataFrame::new(height, columns)?)
}

fn column(name: PlSmallStr, array: &ArrayRef, dtype: &DataType) -> anyhow::Result<Series> {
    let as_type = |t: &ArrowType| cast(array, t).map_err(|e| anyhow!("column `{name}`: {e}"));
    let series = match dtype {
        DataType::String => {
            let a = as_type(&ArrowType::Utf8)?;
            let s = a.as_string::<i32>();
            Series::new(name, s.iter().collect::<Vec<Option<&str>>>())
        }
        DataType::Boolean => {
            let a = as_type(&ArrowType::Boolean)?;
            Series::new(name, a.as_boolean().iter().collect::<Vec<Option<bool>>>())
        }
        DataType::UInt64 => {
            let a = as_type(&ArrowType::UInt64)?;
            Series::new(name, a.as_primitive::<adt::UInt64Type>().iter().collect::<Vec<Option<u64>>>())
        }
        t if t.is_integer() || matches!(t, DataType::Datetime(..) | DataType::Duration(_)) => {
            let a = as_type(&ArrowType::Int64)?;
            let s = Series::new(name, a.as_primitive::<adt::Int64Type>().iter().collect::<Vec<Option<i64>>>());
            s.strict_cast(dtype)?
        }
        DataType::Date => {
            let a = as_type(&ArrowType::Date32)?;
            let s = Series::new(name, a.as_primitive::<adt::Date32Type>().iter().collect::<Vec<Option<i32>>>());
            s.cast(&DataType::Date)?
        }
        t if t.is_float() => {
            let a = as_type(&ArrowType::Float64)?;
            let s = Series::new(name, a.as_primitive::<adt::Float64Type>().iter().collect::<Vec<Option<f64>>>());
            s.strict_cast(dtype)?
        }
        DataType::Null => Series::full_null(name, array.len(), &DataType::Null),
        other => bail!("column `{name}`: no conversion to {other}"),
    };
    Ok(series)
}
