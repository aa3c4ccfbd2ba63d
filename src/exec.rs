//! Runs several lazy plans together on polars' streaming engine, so that
//! plans over the same scans share one read of the input. A [`Batch`] hands
//! out a [`Handle`] for each plan added, and each result is taken back by its
//! handle, never by position.

use polars::prelude::*;

/// Collects every plan in one pass.
pub fn collect_all(plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
    let Some(first) = plans.first() else { return Ok(Vec::new()) };
    let opt = first.get_current_optimizations();
    let dsl: Vec<DslPlan> = plans.into_iter().map(|lf| lf.logical_plan).collect();
    LazyFrame::collect_all_with_engine(dsl, Engine::Streaming, opt)
}

/// Plans to be run together in one streaming pass.
#[derive(Default)]
pub struct Batch {
    plans: Vec<LazyFrame>,
}

/// Where the result of one plan of a [`Batch`] will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(usize);

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a plan; its result is taken back with the handle returned.
    pub fn add(&mut self, plan: LazyFrame) -> Handle {
        self.plans.push(plan);
        Handle(self.plans.len() - 1)
    }

    /// Runs every plan in one pass.
    pub fn run(self) -> PolarsResult<Results> {
        Ok(Results { frames: collect_all(self.plans)?.into_iter().map(Some).collect() })
    }

    /// The optimised query plan of the whole batch, as polars prints it.
    pub fn explain(self) -> PolarsResult<String> {
        let Some(first) = self.plans.first() else { return Ok(String::new()) };
        let opt = first.get_current_optimizations();
        LazyFrame::explain_all(self.plans.into_iter().map(|lf| lf.logical_plan).collect(), opt)
    }
}

/// The results of a [`Batch`], taken by handle.
pub struct Results {
    frames: Vec<Option<DataFrame>>,
}

impl Results {
    /// The result of the plan added as `h`. Each result is taken once; a
    /// second take is an error, not an empty frame.
    pub fn take(&mut self, h: Handle) -> PolarsResult<DataFrame> {
        match self.frames.get_mut(h.0).and_then(Option::take) {
            Some(df) => Ok(df),
            None => polars_bail!(ComputeError: "the result of plan {} was taken already", h.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_by_handle_once() {
        let mut batch = Batch::new();
        let a = batch.add(df!("x" => [1i64, 2]).unwrap().lazy());
        let b = batch.add(df!("y" => [3i64]).unwrap().lazy().select([col("y") * lit(2i64)]));
        let mut results = batch.run().unwrap();
        assert_eq!(results.take(b).unwrap().column("y").unwrap().i64().unwrap().get(0), Some(6));
        assert_eq!(results.take(a).unwrap().height(), 2);
        assert!(results.take(a).is_err());
    }
}
