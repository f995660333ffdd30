//! `flint master`, `flint worker` and `flint history-server`: resolve flags and settings, then
//! run the daemon.

use std::process::ExitCode;

use flint_conf::{MasterUrl, keys, parse_size};
use flint_master::{Master, MasterConfig};
use flint_ui::HistoryServer;
use flint_worker::{Worker, WorkerConfig};

use crate::cli::{ExecutorArgs, HistoryServerArgs, MasterArgs, WorkerArgs};
use crate::error::CliError;

/// This machine's host name, the default address daemons bind and advertise, as Spark's
/// `Utils.localHostName`.
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Runs a master until the process is stopped.
pub(crate) async fn run_master(args: MasterArgs) -> Result<ExitCode, CliError> {
    let conf = args.daemon.to_conf()?;
    let host = args.host.unwrap_or_else(local_host_name);
    let config = MasterConfig::from_conf(host, args.port, args.webui_port, &conf)?;
    Master::run(config).await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a history server until the process is stopped.
pub(crate) async fn run_history_server(args: HistoryServerArgs) -> Result<ExitCode, CliError> {
    let conf = args.daemon.to_conf()?;
    let log_dir = match args.log_dir {
        Some(dir) => dir,
        None => conf.value(&keys::HISTORY_LOG_DIRECTORY)?,
    };
    let port = match args.port {
        Some(port) => port,
        None => conf.value(&keys::HISTORY_UI_PORT)?,
    };
    let host = args.host.unwrap_or_else(local_host_name);
    let server = HistoryServer::start(
        &log_dir,
        "0.0.0.0",
        &host,
        port,
        conf.value(&keys::PORT_MAX_RETRIES)?,
        conf.value(&keys::HISTORY_UPDATE_INTERVAL)?,
        &flint_rpc::RpcSecurity::from_conf(&conf)?,
    )
    .await?;
    server.wait().await;
    Ok(ExitCode::SUCCESS)
}

/// Runs a worker until the process is stopped or no master answers.
pub(crate) async fn run_worker(args: WorkerArgs) -> Result<ExitCode, CliError> {
    let conf = args.daemon.to_conf()?;
    let masters = match MasterUrl::parse(&args.master, 1)? {
        MasterUrl::Standalone { masters } => masters,
        _ => {
            return Err(flint_conf::ConfError::InvalidValue {
                key: "master".into(),
                value: args.master,
                expected: "spark://HOST:PORT or flint://HOST:PORT",
            }
            .into());
        }
    };
    let memory_mib = args
        .memory
        .as_deref()
        .map(|text| parse_size("--memory", text, 1 << 20).map(|bytes| bytes >> 20))
        .transpose()?;
    let host = args.host.unwrap_or_else(local_host_name);
    let config = WorkerConfig::resolve(
        masters,
        host,
        args.port,
        args.webui_port,
        args.cores,
        memory_mib,
        args.work_dir,
        &conf,
    )?;
    Worker::run(config).await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs an executor for its driver until the driver stops it or goes away.
pub(crate) async fn run_executor(args: ExecutorArgs) -> Result<ExitCode, CliError> {
    let invalid_url = || flint_conf::ConfError::InvalidValue {
        key: "--driver-url".into(),
        value: args.driver_url.clone(),
        expected: "HOST:PORT",
    };
    let (driver_host, driver_port) = args.driver_url.rsplit_once(':').ok_or_else(invalid_url)?;
    let driver_port: u16 = driver_port.parse().map_err(|_| invalid_url())?;
    let mut conf = flint_conf::SparkConf::new();
    for pair in &args.conf {
        conf.set_pair(pair)?;
    }
    let config = flint_executor::ExecutorBackendConfig {
        driver_host: driver_host.to_string(),
        driver_port,
        hostname: args.hostname.clone(),
        block_manager_port: conf.value(&flint_conf::keys::BLOCK_MANAGER_PORT)?,
        port_max_retries: conf.value(&flint_conf::keys::PORT_MAX_RETRIES)?,
        heartbeat_interval: conf.value(&flint_conf::keys::EXECUTOR_HEARTBEAT_INTERVAL)?,
        executor: flint_executor::ExecutorConfig::from_conf(
            args.executor_id.clone(),
            args.app_id.clone(),
            args.cores,
            &flint_conf::keys::EXECUTOR_MEMORY,
            &conf,
            // Executors run cut plans; the planning settings (partitions, broadcast
            // threshold) do not matter here, the execution ones must match the driver's.
            flint_executor::flint_session_config(args.cores, 0),
        )?,
        shuffle_service: flint_executor::ShuffleServiceConfig::from_conf(&conf)?,
    };
    flint_executor::run_executor_backend(config).await?;
    Ok(ExitCode::SUCCESS)
}
