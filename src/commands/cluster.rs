//! `hutong cluster scheduler|executor`: a node of an Apache Ballista cluster
//! for `audit --engine ballista` (feature `distributed`).

use crate::cli::ClusterCommand;

#[cfg(feature = "distributed")]
pub fn run_cli(cmd: &ClusterCommand) -> anyhow::Result<u8> {
    use crate::distributed::cluster;
    match cmd {
        ClusterCommand::Scheduler(a) => {
            cluster::scheduler(&cluster::SchedulerOptions { bind: a.bind.clone(), port: a.port })?
        }
        ClusterCommand::Executor(a) => cluster::executor(&cluster::ExecutorOptions {
            bind: a.bind.clone(),
            port: a.port,
            grpc_port: a.grpc_port,
            scheduler_host: a.scheduler_host.clone(),
            scheduler_port: a.scheduler_port,
            work_dir: a.work_dir.as_ref().map(|d| d.to_string_lossy().into_owned()),
            slots: a.slots,
            memory: a.memory,
        })?,
    }
    Ok(0)
}

#[cfg(not(feature = "distributed"))]
pub fn run_cli(_: &ClusterCommand) -> anyhow::Result<u8> {
    Err(super::audit::without_distributed("hutong cluster"))
}
