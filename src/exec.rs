//! Runs several lazy plans together on polars' streaming engine, so that
//! plans over the same scans share one read of the input.

use polars::prelude::*;

/// Collects every plan in one pass.
pub fn collect_all(plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
    let Some(first) = plans.first() else { return Ok(Vec::new()) };
    let opt = first.get_current_optimizations();
    let dsl: Vec<DslPlan> = plans.into_iter().map(|lf| lf.logical_plan).collect();
    LazyFrame::collect_all_with_engine(dsl, Engine::Streaming, opt)
}
