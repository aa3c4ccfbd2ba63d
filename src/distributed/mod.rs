//! Runs an audit's plans on Apache DataFusion, embedded or as a Ballista
//! cluster (`audit --engine datafusion|ballista`, feature `distributed`).
//!
//! The rule kinds build their polars plans as always; [`sql`] translates
//! each into SQL, the engine runs it over the typed Parquet that `hutong
//! convert` wrote, and [`frames`] turns the Arrow result back into the
//! polars frame the plan would have given. Everything after that (the
//! evaluation, the verdicts, the outputs) is the same code as on polars.

pub mod cluster;
mod frames;
pub mod sql;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use polars::prelude::*;

use crate::exec::Runner;

/// Where the SQL runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An embedded DataFusion context, spilling past `memory` bytes.
    DataFusion { memory: Option<u64> },
    /// A Ballista cluster: the scheduler at `df://host:port`, or one started
    /// in this process (scheduler and executor) when `None`.
    Ballista { scheduler: Option<String> },
}

/// The engine's settings. Statistics are not collected from the files:
/// with them DataFusion also takes the row order a footer declares
/// (`sorting_columns`, which `hutong convert` writes), and Ballista 55 with
/// two task slots per executor then split a few sessions of a
/// session-sorted file into two groups, some runs and not others
/// (tests/distributed.rs found it at 1M rows: counts off by one or two).
/// No plan needs the order, and the counts come out the same without it.
fn session_config(config: SessionConfig) -> SessionConfig {
    config.with_collect_statistics(false)
}

/// Runs plans as SQL on one DataFusion context.
pub struct SqlRunner {
    runtime: tokio::runtime::Runtime,
    context: SessionContext,
    /// Parquet path → registered table name.
    tables: Mutex<HashMap<String, String>>,
    /// Query → its distinct values, so each is asked once per audit.
    distinct: Mutex<HashMap<String, Series>>,
    /// The shuffle files of an in-process cluster.
    _work: tempfile::TempDir,
}

impl SqlRunner {
    /// Connects to (or starts) the engine.
    pub fn new(target: &Target) -> anyhow::Result<SqlRunner> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("hutong-sql")
            .build()
            .context("starting the async runtime")?;
        let work = tempfile::Builder::new().prefix("hutong-ballista").tempdir().context("creating a work directory")?;
        let context = runtime.block_on(async {
            match target {
                Target::DataFusion { memory } => {
                    let mut rt = RuntimeEnvBuilder::new();
                    if let Some(bytes) = memory {
                        rt = rt.with_memory_limit(*bytes as usize, 1.0);
                    }
                    let rt = rt.build_arc().context("configuring DataFusion's memory")?;
                    Ok::<_, anyhow::Error>(SessionContext::new_with_config_rt(session_config(SessionConfig::new()), rt))
                }
                Target::Ballista { scheduler } => {
                    use ballista::prelude::{SessionConfigExt, SessionContextExt};
                    let url = match scheduler {
                        Some(url) => url.clone(),
                        None => cluster::in_process(work.path()).await?,
                    };
                    let state = datafusion::execution::SessionStateBuilder::new()
                        .with_config(session_config(SessionConfig::new_with_ballista()))
                        .with_default_features()
                        .build();
                    Ok(SessionContext::remote_with_state(&url, state)
                        .await
                        .with_context(|| format!("connecting to the Ballista scheduler at {url}"))?)
                }
            }
        })?;
        Ok(SqlRunner { runtime, context, tables: Mutex::default(), distinct: Mutex::default(), _work: work })
    }

    /// The SQL of a plan.
    pub fn translate(&self, plan: &LazyFrame) -> anyhow::Result<String> {
        sql::query(plan, &mut Env { runner: self, missing: None }).with_context(|| {
            // The plan as polars prints it, when asked for (it is long).
            match std::env::var_os("HUTONG_SQL_DEBUG") {
                Some(_) => format!("translating the plan\n{}", plan.describe_plan().unwrap_or_default()),
                None => "translating a plan into SQL".to_string(),
            }
        })
    }

    /// The result of each plan, in order. The distinct values the plans'
    /// Rust functions are applied to are fetched first, all together (a
    /// probing translation lists them; a function over another's output
    /// takes one more round), then every plan is translated and the
    /// queries run together.
    pub fn collect_all(&self, plans: &[LazyFrame]) -> anyhow::Result<Vec<DataFrame>> {
        for _ in 0..MAX_ROUNDS {
            let mut env = Env { runner: self, missing: Some(Vec::new()) };
            for plan in plans {
                // What fails here fails again below, with its message.
                let _ = sql::query(plan, &mut env);
            }
            let missing = env.missing.unwrap_or_default();
            if missing.is_empty() {
                break;
            }
            let (queries, schemas): (Vec<String>, Vec<SchemaRef>) =
                missing.into_iter().map(|(q, t)| (q, Arc::new(Schema::from_iter([Field::new("v".into(), t)])))).unzip();
            let frames = self.run_all(&queries, &schemas)?;
            let mut cache = self.distinct.lock().map_err(|_| anyhow::anyhow!("a poisoned lock"))?;
            for (q, df) in queries.into_iter().zip(frames) {
                cache.insert(q, df.column("v")?.as_materialized_series().clone());
            }
        }
        let mut queries = Vec::with_capacity(plans.len());
        let mut schemas = Vec::with_capacity(plans.len());
        for plan in plans {
            schemas
                .push(plan.clone().collect_schema().map_err(anyhow::Error::from).context("resolving a plan's schema")?);
            queries.push(self.translate(plan)?);
        }
        self.run_all(&queries, &schemas)
    }

    /// Runs queries [`IN_FLIGHT`] at a time; each result as a frame of its schema.
    fn run_all(&self, queries: &[String], schemas: &[SchemaRef]) -> anyhow::Result<Vec<DataFrame>> {
        let results = self.runtime.block_on(async {
            let mut out: Vec<Option<anyhow::Result<Vec<RecordBatch>>>> = (0..queries.len()).map(|_| None).collect();
            let mut running = tokio::task::JoinSet::new();
            for (i, query) in queries.iter().enumerate() {
                if running.len() >= IN_FLIGHT {
                    if let Some(Ok((j, r))) = running.join_next().await {
                        out[j] = Some(r);
                    }
                }
                let (context, query) = (self.context.clone(), query.clone());
                running.spawn(async move { (i, run_query(&context, &query).await) });
            }
            while let Some(done) = running.join_next().await {
                if let Ok((j, r)) = done {
                    out[j] = Some(r);
                }
            }
            out
        });
        results
            .into_iter()
            .zip(queries.iter().zip(schemas))
            .map(|(batches, (query, schema))| {
                let batches = batches.ok_or_else(|| anyhow::anyhow!("the query stopped without a result: {query}"))?;
                frames::to_frame(&batches.with_context(|| format!("running the query {query}"))?, schema)
            })
            .collect()
    }
}

impl Runner for SqlRunner {
    fn collect(&self, plans: Vec<LazyFrame>) -> PolarsResult<Vec<DataFrame>> {
        self.collect_all(&plans).map_err(|e| PolarsError::ComputeError(format!("{e:#}").into()))
    }
}

/// Queries in flight at once: a cluster queues a job's tasks for its
/// executors' slots, and each job waits on the scheduler between stages,
/// so running them together hides that wait; on the embedded engine they
/// share the cores and the memory pool.
const IN_FLIGHT: usize = 16;

/// Rounds of fetching distinct values before translating: one per level of
/// Rust functions applied to others' outputs (the kinds nest none).
const MAX_ROUNDS: usize = 4;

async fn run_query(context: &SessionContext, query: &str) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(context.sql(query).await?.collect().await?)
}

/// The translator's view of a runner. When probing (`missing` set), a
/// distinct-values query not fetched yet is listed, not run, and answered
/// with no values.
struct Env<'r> {
    runner: &'r SqlRunner,
    missing: Option<Vec<(String, DataType)>>,
}

impl sql::Env for Env<'_> {
    fn table(&mut self, path: &str) -> anyhow::Result<String> {
        let mut tables = self.runner.tables.lock().map_err(|_| anyhow::anyhow!("a poisoned lock"))?;
        if let Some(name) = tables.get(path) {
            return Ok(name.clone());
        }
        let name = format!("t{}", tables.len());
        self.runner
            .runtime
            .block_on(self.runner.context.register_parquet(&name, path, ParquetReadOptions::default()))
            .with_context(|| format!("registering {path}"))?;
        tables.insert(path.to_string(), name.clone());
        Ok(name)
    }

    fn distinct(&mut self, query: &str, dtype: &DataType) -> anyhow::Result<Series> {
        if let Some(s) = self.runner.distinct.lock().ok().and_then(|m| m.get(query).cloned()) {
            return Ok(s);
        }
        if let Some(missing) = &mut self.missing {
            if !missing.iter().any(|(q, _)| q == query) {
                missing.push((query.to_string(), dtype.clone()));
            }
            return Ok(Series::new_empty("v".into(), dtype));
        }
        let schema = Arc::new(Schema::from_iter([Field::new("v".into(), dtype.clone())]));
        let df = self.runner.run_all(&[query.to_string()], &[schema])?.remove(0);
        let s = df.column("v")?.as_materialized_series().clone();
        if let Ok(mut m) = self.runner.distinct.lock() {
            m.insert(query.to_string(), s.clone());
        }
        Ok(s)
    }
}
