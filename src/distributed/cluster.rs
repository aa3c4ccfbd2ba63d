//! `hutong cluster scheduler|executor`: a Ballista scheduler or executor
//! from the same binary, so one build can start a local cluster
//! (`bench/ballista-local.sh`). Both bind to the loopback address unless
//! told otherwise: a cluster is opened to a network on purpose.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

/// What a scheduler listens on.
pub struct SchedulerOptions {
    pub bind: String,
    pub port: u16,
}

/// What an executor listens on, where its scheduler is, and its resources.
pub struct ExecutorOptions {
    pub bind: String,
    pub port: u16,
    pub grpc_port: u16,
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Where shuffle files go.
    pub work_dir: Option<String>,
    /// Tasks run at once (default: the machine's cores).
    pub slots: Option<usize>,
    /// Bytes of memory its queries may hold before they spill.
    pub memory: Option<u64>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Ballista's own binaries give their threads deep stacks: plans are
    // (de)serialised recursively.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .context("starting the async runtime")
}

/// Runs a scheduler until the process is stopped.
pub fn scheduler(o: &SchedulerOptions) -> anyhow::Result<()> {
    eprintln!("hutong cluster: Ballista scheduler on df://{}:{}", o.bind, o.port);
    runtime()?.block_on(run_scheduler(o))
}

async fn run_scheduler(o: &SchedulerOptions) -> anyhow::Result<()> {
    let addr: SocketAddr =
        format!("{}:{}", o.bind, o.port).parse().with_context(|| format!("not an address: {}:{}", o.bind, o.port))?;
    let config = SchedulerConfig {
        bind_host: o.bind.clone(),
        bind_port: o.port,
        external_host: o.bind.clone(),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.context("setting up the scheduler's state")?;
    start_server(cluster, addr, Arc::new(config)).await.context("running the scheduler")
}

/// Runs an executor until the process is stopped or its scheduler stops it.
pub fn executor(o: &ExecutorOptions) -> anyhow::Result<()> {
    eprintln!(
        "hutong cluster: Ballista executor on {}:{} (tasks on {}), scheduler {}:{}",
        o.bind, o.port, o.grpc_port, o.scheduler_host, o.scheduler_port
    );
    runtime()?.block_on(run_executor(o))
}

async fn run_executor(o: &ExecutorOptions) -> anyhow::Result<()> {
    let mut config = ExecutorProcessConfig {
        bind_host: o.bind.clone(),
        external_host: Some(o.bind.clone()),
        port: o.port,
        grpc_port: o.grpc_port,
        scheduler_host: o.scheduler_host.clone(),
        scheduler_port: o.scheduler_port,
        work_dir: o.work_dir.clone(),
        memory_pool_size: o.memory,
        ..ExecutorProcessConfig::default()
    };
    if let Some(n) = o.slots {
        config.vcores = n.max(1);
    }
    start_executor_process(Arc::new(config)).await.context("running the executor")
}

/// A free port on the loopback address (free when asked; taken by the
/// cluster a moment later).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Starts a scheduler and one executor inside this process, on the async
/// runtime being used, bound to the loopback address on free ports, with
/// shuffle files under `work_dir`; returns the scheduler's URL. They stop
/// with the runtime. Ballista's own in-process mode polls for work, which
/// costs most of a second per query here; this is the same scheduler and
/// executor as a real cluster's, pushed tasks as soon as they are ready.
pub async fn in_process(work_dir: &std::path::Path) -> anyhow::Result<String> {
    let scheduler = SchedulerOptions { bind: "127.0.0.1".into(), port: free_port()? };
    let url = format!("df://127.0.0.1:{}", scheduler.port);
    let executor = ExecutorOptions {
        bind: "127.0.0.1".into(),
        port: free_port()?,
        grpc_port: free_port()?,
        scheduler_host: "127.0.0.1".into(),
        scheduler_port: scheduler.port,
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        slots: None,
        memory: None,
    };
    tokio::spawn(async move { run_scheduler(&scheduler).await });
    wait_for(executor.scheduler_port).await?;
    let port = executor.port;
    tokio::spawn(async move { run_executor(&executor).await });
    wait_for(port).await?;
    Ok(url)
}

/// Waits up to 30 s for something to listen on the loopback `port`.
async fn wait_for(port: u16) -> anyhow::Result<()> {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the in-process Ballista node on port {port} did not start within 30 s")
}
