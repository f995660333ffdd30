use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flint_conf::{ConfError, SparkConf, format_size, keys};
use flint_rpc::deploy::master_client::MasterClient;
use flint_rpc::deploy::{HeartbeatRequest, RegisterWorkerRequest, register_worker_response};
use flint_rpc::{RpcError, bind_service, connect};
use thiserror::Error;
use tonic::transport::Channel;

/// Failures to start or run a worker.
#[derive(Debug, Error)]
pub enum WorkerError {
    /// A setting has a bad value.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// A port could not be bound.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The worker offers more memory than the machine has.
    #[error(
        "--memory {offered} is more than this machine's {total} of physical memory; offer at most that"
    )]
    MemoryExceedsMachine { offered: String, total: String },
    /// Zero cores or memory.
    #[error(
        "a worker must offer at least 1 core and some memory (got {cores} cores, {memory_mib} MiB)"
    )]
    NothingOffered { cores: u32, memory_mib: u64 },
    /// The work directory cannot be created.
    #[error("cannot create work directory {path}: {source}")]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The master refused the registration.
    #[error("worker registration failed: {0}")]
    RegistrationFailed(String),
    /// No master answered within the registration attempts.
    #[error("All masters are unresponsive! Giving up. (tried {attempts} times: {masters})")]
    MastersUnresponsive { attempts: u32, masters: String },
    /// The RPC server stopped with an error.
    #[error("worker RPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The web UI server stopped with an error.
    #[error("worker web UI failed: {0}")]
    Ui(std::io::Error),
}

/// How to run a worker; resolved from flags and `SparkConf` by the CLI.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The masters to register with (`spark://HOST:PORT[,HOST:PORT]`).
    pub masters: Vec<(String, u16)>,
    /// Host the worker binds and advertises (`-h`).
    pub host: String,
    /// RPC port (`-p`); 0 picks a free one.
    pub port: u16,
    /// Web UI port (`--webui-port`, `spark.worker.ui.port`, 8081).
    pub webui_port: u16,
    /// Cores offered (`-c`); default all.
    pub cores: u32,
    /// Memory offered in MiB (`-m`); default all minus 1 GiB.
    pub memory_mib: u64,
    /// Where executors' and drivers' directories and logs go (`-d`, default `./work`).
    pub work_dir: PathBuf,
    /// `spark.worker.timeout`; heartbeats go every quarter of it.
    pub worker_timeout: Duration,
    /// `spark.port.maxRetries`.
    pub port_max_retries: u16,
}

impl WorkerConfig {
    /// Checks what the worker offers against the machine and reads its settings from `conf`.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        masters: Vec<(String, u16)>,
        host: String,
        port: u16,
        webui_port: Option<u16>,
        cores: Option<u32>,
        memory_mib: Option<u64>,
        work_dir: Option<PathBuf>,
        conf: &SparkConf,
    ) -> Result<Self, WorkerError> {
        let total_mib = crate::machine::total_memory_mib();
        let memory_mib = match (memory_mib, total_mib) {
            (Some(offered), Some(total)) if offered > total => {
                return Err(WorkerError::MemoryExceedsMachine {
                    offered: format_size(offered << 20),
                    total: format_size(total << 20),
                });
            }
            (Some(offered), _) => offered,
            (None, Some(total)) => crate::machine::default_worker_memory_mib(total),
            (None, None) => 1024,
        };
        let cores = cores.unwrap_or(crate::machine::cores() as u32);
        if cores == 0 || memory_mib == 0 {
            return Err(WorkerError::NothingOffered { cores, memory_mib });
        }
        let webui_port = match webui_port {
            Some(port) => port,
            None => conf.get_u16(&keys::WORKER_UI_PORT)?.unwrap_or(8081),
        };
        Ok(Self {
            masters,
            host,
            port,
            webui_port,
            cores,
            memory_mib,
            work_dir: work_dir.unwrap_or_else(|| PathBuf::from("work")),
            worker_timeout: conf.get_duration(&keys::WORKER_TIMEOUT)?,
            port_max_retries: conf.get_u16(&keys::PORT_MAX_RETRIES)?.unwrap_or(16),
        })
    }
}

/// What the worker's UI and RPC service report about it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerStatus {
    pub id: String,
    pub master_url: Option<String>,
    pub master_webui_url: Option<String>,
    pub cores: u32,
    pub cores_used: u32,
    pub memory_mib: u64,
    pub memory_used_mib: u64,
}

/// Shared, read-mostly view of the worker for its UI and RPC handlers.
pub(crate) type SharedStatus = Arc<Mutex<WorkerStatus>>;

/// A standalone worker.
#[derive(Debug)]
pub struct Worker {
    config: WorkerConfig,
    registration: RegisterWorkerRequest,
    status: SharedStatus,
}

/// Registration attempts before giving up, as Spark's `spark.worker.maxRegistrationRetries`.
const MAX_REGISTRATION_ATTEMPTS: u32 = 16;
/// Attempts made at the short interval, as Spark's `spark.worker.initialRegistrationRetries`.
const INITIAL_REGISTRATION_ATTEMPTS: u32 = 6;

impl Worker {
    /// Binds its ports, then registers with the master and heartbeats until the process ends.
    pub async fn run(config: WorkerConfig) -> Result<(), WorkerError> {
        std::fs::create_dir_all(&config.work_dir).map_err(|source| WorkerError::WorkDir {
            path: config.work_dir.clone(),
            source,
        })?;
        let (rpc_listener, port) = bind_service(
            "sparkWorker",
            &config.host,
            config.port,
            config.port_max_retries,
        )
        .await?;
        let id = flint_common::worker_id(&config.host, port);
        tracing::info!(
            worker_id = %id,
            "Starting Flint worker {}:{port} with {} cores, {} RAM",
            config.host,
            config.cores,
            format_size(config.memory_mib << 20)
        );
        tracing::info!("Running Flint version {}", env!("CARGO_PKG_VERSION"));
        let (ui_listener, ui_port) = bind_service(
            "WorkerUI",
            &config.host,
            config.webui_port,
            config.port_max_retries,
        )
        .await?;
        let webui_address = format!("http://{}:{ui_port}", config.host);
        tracing::info!(
            target: "flint_worker::ui",
            "Bound WorkerWebUI to {}, and started at {webui_address}",
            config.host
        );
        let status = Arc::new(Mutex::new(WorkerStatus {
            id: id.clone(),
            master_url: None,
            master_webui_url: None,
            cores: config.cores,
            cores_used: 0,
            memory_mib: config.memory_mib,
            memory_used_mib: 0,
        }));
        let registration = RegisterWorkerRequest {
            worker_id: id,
            host: config.host.clone(),
            port: port as u32,
            cores: config.cores,
            memory_mib: config.memory_mib,
            webui_address,
        };
        let worker = Worker {
            config,
            registration,
            status: Arc::clone(&status),
        };
        let rpc = crate::rpc::serve(rpc_listener, Arc::clone(&status));
        let ui = crate::ui::serve(ui_listener, status);
        tokio::select! {
            result = rpc => result,
            result = ui => result.map_err(WorkerError::Ui),
            result = worker.stay_registered() => result,
        }
    }

    /// Registers, heartbeats while the master answers, and registers again when it does not.
    async fn stay_registered(&self) -> Result<(), WorkerError> {
        let heartbeat_every = (self.config.worker_timeout / 4).max(Duration::from_millis(50));
        loop {
            let mut master = self.register().await?;
            let mut tick = tokio::time::interval(heartbeat_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let heartbeat = HeartbeatRequest {
                    worker_id: self.registration.worker_id.clone(),
                };
                match master.heartbeat(heartbeat).await {
                    Ok(response) if !response.get_ref().reconnect => {}
                    Ok(_) => {
                        tracing::info!("Master asked this worker to reconnect; registering again.");
                        break;
                    }
                    Err(status) => {
                        tracing::warn!(
                            "Connection to master failed! Waiting for master to reconnect... ({})",
                            status.message()
                        );
                        break;
                    }
                }
            }
            self.status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .master_url = None;
        }
    }

    /// Sends `RegisterWorker` to each master in turn until one accepts, with Spark's retry
    /// pattern on a shorter clock: six tries about a second apart, then about five seconds.
    async fn register(&self) -> Result<MasterClient<Channel>, WorkerError> {
        let timeout = self.config.worker_timeout.max(Duration::from_secs(1));
        for attempt in 1..=MAX_REGISTRATION_ATTEMPTS {
            for (host, port) in &self.config.masters {
                tracing::info!("Connecting to master {host}:{port}...");
                let channel = match connect(host, *port, timeout).await {
                    Ok(channel) => channel,
                    Err(error) => {
                        tracing::warn!("Failed to connect to master {host}:{port}: {error}");
                        continue;
                    }
                };
                let mut client = MasterClient::new(channel);
                match client.register_worker(self.registration.clone()).await {
                    Ok(response) => match response.into_inner().result {
                        Some(register_worker_response::Result::Registered(registered)) => {
                            tracing::info!(
                                "Successfully registered with master {}",
                                registered.master_url
                            );
                            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
                            status.master_url = Some(registered.master_url);
                            status.master_webui_url = Some(registered.master_webui_url);
                            return Ok(client);
                        }
                        Some(register_worker_response::Result::Failed(message)) => {
                            return Err(WorkerError::RegistrationFailed(message));
                        }
                        None => {
                            tracing::warn!("Master {host}:{port} sent an empty registration answer")
                        }
                    },
                    Err(status) => tracing::warn!(
                        "Failed to register with master {host}:{port}: {}",
                        status.message()
                    ),
                }
            }
            let base = if attempt < INITIAL_REGISTRATION_ATTEMPTS {
                1.0
            } else {
                5.0
            };
            tokio::time::sleep(Duration::from_secs_f64(base * fuzz())).await;
        }
        Err(WorkerError::MastersUnresponsive {
            attempts: MAX_REGISTRATION_ATTEMPTS,
            masters: self
                .config
                .masters
                .iter()
                .map(|(h, p)| format!("{h}:{p}"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// A factor in [0.5, 1.5), so workers started together do not retry in lockstep.
fn fuzz() -> f64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    0.5 + (random % 1000) as f64 / 1000.0
}
