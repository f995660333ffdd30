//! The executor process's link to its driver (Spark's `CoarseGrainedExecutorBackend`): it
//! dials the driver, registers, runs every task the driver launches and streams back status
//! updates, and shuts down when the driver says so or goes away.

use std::sync::Arc;
use std::time::Duration;

use flint_conf::{ConfError, SparkConf, keys};
use flint_rpc::executor::driver_client::DriverClient;
use flint_rpc::executor::{
    BlockUpdate, DriverMessage, ExecutorMessage, Heartbeat, RegisterExecutor, StatusUpdate,
    driver_message, executor_message,
};
use flint_shuffle::MemoryBlockEncoder;
use flint_shuffle_service::{BlockServer, ExecutorBlocks};
use tokio::sync::mpsc;

use crate::{Executor, ExecutorConfig, ExecutorError};

/// Where the driver is and who this executor is (Spark's `--driver-url`, `--executor-id`,
/// `--hostname`, `--cores`, `--app-id` arguments).
#[derive(Debug, Clone)]
pub struct ExecutorBackendConfig {
    /// The driver's executor endpoint host.
    pub driver_host: String,
    /// The driver's executor endpoint port.
    pub driver_port: u16,
    /// The host this executor reports (where its shuffle files are) and binds its block
    /// transfer service on.
    pub hostname: String,
    /// `spark.blockManager.port`: where the block transfer service listens (0: any free port).
    pub block_manager_port: u16,
    /// `spark.port.maxRetries`: further ports tried when that one is taken.
    pub port_max_retries: u16,
    /// `spark.executor.heartbeatInterval`.
    pub heartbeat_interval: Duration,
    /// The executor itself: id, cores, memory, local dir.
    pub executor: ExecutorConfig,
    /// The shuffle service of the executor's worker, when `spark.shuffle.service.enabled`.
    pub shuffle_service: Option<ShuffleServiceConfig>,
}

/// How an executor reaches its worker's shuffle service (Spark's external shuffle client).
#[derive(Debug, Clone)]
pub struct ShuffleServiceConfig {
    /// `spark.shuffle.service.port`: the port the worker bound (it passes it on).
    pub port: u16,
    /// `spark.shuffle.registration.timeout`.
    pub registration_timeout: Duration,
    /// `spark.shuffle.registration.maxAttempts`.
    pub registration_attempts: usize,
    /// `spark.shuffle.service.fetch.rdd.enabled`: the service serves cached blocks on disk.
    pub fetch_rdd: bool,
}

impl ShuffleServiceConfig {
    /// The service settings when `spark.shuffle.service.enabled` is true, else `None`.
    pub fn from_conf(conf: &SparkConf) -> Result<Option<Self>, ConfError> {
        if !conf.value(&keys::SHUFFLE_SERVICE_ENABLED)? {
            return Ok(None);
        }
        Ok(Some(Self {
            port: conf.value(&keys::SHUFFLE_SERVICE_PORT)?,
            registration_timeout: conf.value(&keys::SHUFFLE_REGISTRATION_TIMEOUT)?,
            registration_attempts: conf.value(&keys::SHUFFLE_REGISTRATION_MAX_ATTEMPTS)?,
            fetch_rdd: conf.value(&keys::SHUFFLE_SERVICE_FETCH_RDD)?,
        }))
    }
}

/// Runs an executor for its driver until the driver stops it or disconnects: its block
/// transfer service serves its shuffle blocks to other hosts meanwhile; with a shuffle service
/// the executor first registers its shuffle files with it, and reducers fetch from there.
pub async fn run_executor_backend(config: ExecutorBackendConfig) -> Result<(), ExecutorError> {
    let (listener, port) = flint_rpc::bind_service(
        "FlightBlockTransferService",
        &config.hostname,
        config.block_manager_port,
        config.port_max_retries,
    )
    .await?;
    let mut executor_config = config.executor.clone();
    executor_config.host = config.hostname.clone();
    executor_config.block_transfer_port = config.shuffle_service.as_ref().map_or(port, |s| s.port);
    executor_config.own_block_port = port;
    executor_config.keep_shuffle_files = config.shuffle_service.is_some();
    executor_config.rdd_blocks_from_service =
        config.shuffle_service.as_ref().is_some_and(|s| s.fetch_rdd);
    let executor = Arc::new(Executor::new(executor_config, vec![])?);
    tracing::info!(
        "Server created on {}:{port} (shuffle blocks over Arrow Flight)",
        config.hostname
    );
    let memory_blocks = MemoryBlockEncoder::new(
        Arc::clone(executor.memory_store()),
        config.executor.compression,
    )?;
    let service = BlockServer::new(Arc::new(
        ExecutorBlocks::new(
            config.executor.app_id.clone(),
            config.executor.executor_id.clone(),
            executor.block_manager().blocks_dir().to_path_buf(),
        )
        .with_memory(Arc::new(memory_blocks)),
    ));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.into_server())
            .serve_with_incoming(flint_rpc::incoming(listener, &config.executor.security)),
    );
    let result = match register_with_shuffle_service(&config, &executor).await {
        Ok(()) => serve_driver(&config, Arc::clone(&executor), port).await,
        Err(error) => Err(error),
    };
    server.abort();
    executor.stop();
    result
}

/// Tells the worker's shuffle service where this executor's shuffle files are (Spark's
/// `registerWithExternalShuffleServer`), when there is one.
async fn register_with_shuffle_service(
    config: &ExecutorBackendConfig,
    executor: &Executor,
) -> Result<(), ExecutorError> {
    let Some(service) = &config.shuffle_service else {
        return Ok(());
    };
    let registration = flint_rpc::shuffle::RegisterExecutor {
        app_id: config.executor.app_id.clone(),
        executor_id: config.executor.executor_id.clone(),
        blocks_dir: executor
            .block_manager()
            .blocks_dir()
            .to_string_lossy()
            .into_owned(),
    };
    flint_shuffle_service::register_executor(
        &config.hostname,
        service.port,
        registration,
        service.registration_timeout,
        service.registration_attempts,
        &config.executor.security,
    )
    .await?;
    tracing::info!(
        "Registered executor with the external shuffle service at {}:{}",
        config.hostname,
        service.port
    );
    Ok(())
}

async fn serve_driver(
    config: &ExecutorBackendConfig,
    executor: Arc<Executor>,
    block_manager_port: u16,
) -> Result<(), ExecutorError> {
    let executor_id = config.executor.executor_id.clone();
    tracing::info!(
        executor_id = %executor_id,
        "Connecting to driver: {}:{}",
        config.driver_host,
        config.driver_port
    );
    let channel = flint_rpc::connect(
        &config.driver_host,
        config.driver_port,
        Duration::from_secs(30),
        &config.executor.security,
    )
    .await?;
    let (outbound, outbound_queue) = mpsc::channel::<ExecutorMessage>(1024);
    let register = ExecutorMessage {
        message: Some(executor_message::Message::Register(RegisterExecutor {
            executor_id: executor_id.clone(),
            host: config.hostname.clone(),
            cores: config.executor.cores as u32,
            app_id: config.executor.app_id.clone(),
            block_manager_port: u32::from(block_manager_port),
            shuffle_service_port: config
                .shuffle_service
                .as_ref()
                .map_or(0, |s| u32::from(s.port)),
            max_memory: executor.max_memory(),
            log_urls: log_urls_from_env(),
        })),
    };
    // The queue was just made with room; this cannot wait.
    let _ = outbound.send(register).await;
    let requests = futures::stream::unfold(outbound_queue, |mut queue| async move {
        queue.recv().await.map(|message| (message, queue))
    });
    let mut inbound = DriverClient::new(channel)
        .register(requests)
        .await
        .map_err(|status| ExecutorError::Driver(status.message().to_string()))?
        .into_inner();
    let heartbeats = tokio::spawn(send_heartbeats(
        outbound.clone(),
        Arc::clone(&executor),
        config.heartbeat_interval,
    ));
    let _stop_heartbeats = AbortOnDrop(heartbeats);
    let block_updates = executor
        .take_block_statuses()
        .map(|statuses| tokio::spawn(send_block_updates(outbound.clone(), statuses)));
    let _stop_block_updates = block_updates.map(AbortOnDrop);
    loop {
        let message = match inbound.message().await {
            Ok(Some(message)) => message,
            Ok(None) => {
                tracing::info!("Driver disconnected! Shutting down.");
                return Ok(());
            }
            Err(status) => {
                tracing::warn!(
                    "Lost the connection to the driver ({}); shutting down.",
                    status.message()
                );
                return Ok(());
            }
        };
        match message {
            DriverMessage {
                message: Some(driver_message::Message::Registered(_)),
            } => tracing::info!("Successfully registered with driver"),
            DriverMessage {
                message: Some(driver_message::Message::RegisterFailed(reason)),
            } => {
                return Err(ExecutorError::Driver(format!(
                    "registration refused: {reason}"
                )));
            }
            DriverMessage {
                message: Some(driver_message::Message::LaunchTask(task)),
            } => {
                let executor = Arc::clone(&executor);
                let outbound = outbound.clone();
                tokio::spawn(async move {
                    let task_id = task.task_id;
                    tracing::info!(task_id, "Got assigned task {task_id}");
                    let result = executor.run_task(task.into()).await;
                    let update = ExecutorMessage {
                        message: Some(executor_message::Message::StatusUpdate(StatusUpdate {
                            task_id,
                            result: Some(result.into()),
                        })),
                    };
                    // Fails only when the connection is gone, which ends the loop anyway.
                    let _ = outbound.send(update).await;
                });
            }
            DriverMessage {
                message: Some(driver_message::Message::KillTask(kill)),
            } => {
                executor.kill_task(kill.task_id, &kill.reason);
            }
            DriverMessage {
                message: Some(driver_message::Message::RemoveShuffle(remove)),
            } => {
                executor.remove_shuffle(remove.shuffle_id);
            }
            DriverMessage {
                message: Some(driver_message::Message::Stop(_)),
            } => {
                tracing::info!("Driver commanded a shutdown");
                return Ok(());
            }
            DriverMessage { message: None } => {
                tracing::warn!("Ignoring an empty message from the driver")
            }
        }
    }
}

/// Tells the driver every `interval` that this executor is alive (Spark's `Heartbeat` to the
/// driver's `HeartbeatReceiver`), until the connection is gone.
async fn send_heartbeats(
    outbound: mpsc::Sender<ExecutorMessage>,
    executor: Arc<Executor>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let heartbeat = ExecutorMessage {
            message: Some(executor_message::Message::Heartbeat(Heartbeat {
                executor_id: executor.executor_id().to_string(),
                memory_used: executor.memory_used(),
            })),
        };
        if outbound.send(heartbeat).await.is_err() {
            return;
        }
    }
}

/// Tells the driver of each cached block moved to disk or dropped (Spark's `UpdateBlockInfo`),
/// until the connection is gone.
async fn send_block_updates(
    outbound: mpsc::Sender<ExecutorMessage>,
    mut statuses: tokio::sync::mpsc::UnboundedReceiver<flint_storage::BlockStatus>,
) {
    while let Some(status) = statuses.recv().await {
        let update = ExecutorMessage {
            message: Some(executor_message::Message::BlockUpdate(BlockUpdate {
                shuffle_id: status.key.shuffle_id,
                map_id: status.key.map_id,
                memory_size: status.memory_size,
                disk_size: status.disk_size,
                dropped: status.dropped,
            })),
        };
        if outbound.send(update).await.is_err() {
            return;
        }
    }
}

/// The links to this executor's logs its worker put in `SPARK_LOG_URL_STDOUT` and
/// `SPARK_LOG_URL_STDERR` (Spark's names), keyed `stdout` and `stderr`.
fn log_urls_from_env() -> std::collections::HashMap<String, String> {
    ["stdout", "stderr"]
        .into_iter()
        .filter_map(|kind| {
            let variable = format!("SPARK_LOG_URL_{}", kind.to_uppercase());
            std::env::var(variable)
                .ok()
                .map(|url| (kind.to_string(), url))
        })
        .collect()
}

/// Aborts a background task when the scope that started it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
