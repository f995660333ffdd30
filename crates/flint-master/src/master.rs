use std::collections::BTreeMap;
use std::time::Duration;

use flint_common::now_millis;

use flint_conf::{ConfError, SparkConf, format_size, keys};
use flint_rpc::{RpcError, bind_service};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Failures to start or run the master.
#[derive(Debug, Error)]
pub enum MasterError {
    /// A setting has a bad value.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// The RPC or UI port could not be bound.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The RPC server stopped with an error.
    #[error("master RPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The web UI server stopped with an error.
    #[error("master web UI failed: {0}")]
    Ui(std::io::Error),
}

/// How to run a master; resolved from flags and `SparkConf` by the CLI.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// Host name or address the master binds and advertises (`-h`).
    pub host: String,
    /// RPC port (`-p`, 7077); 0 picks a free one.
    pub port: u16,
    /// Web UI port (`--webui-port`, `spark.master.ui.port`, 8080); 0 picks a free one.
    pub webui_port: u16,
    /// `spark.worker.timeout`: silence after which a worker is declared dead.
    pub worker_timeout: Duration,
    /// `spark.port.maxRetries`: further ports tried when one is taken.
    pub port_max_retries: u16,
}

impl MasterConfig {
    /// Reads the master's settings from `conf`, with flags already applied by the caller.
    pub fn from_conf(
        host: String,
        port: u16,
        webui_port: Option<u16>,
        conf: &SparkConf,
    ) -> Result<Self, MasterError> {
        let webui_port = match webui_port {
            Some(port) => port,
            None => conf.get_u16(&keys::MASTER_UI_PORT)?.unwrap_or(8080),
        };
        Ok(Self {
            host,
            port,
            webui_port,
            worker_timeout: conf.get_duration(&keys::WORKER_TIMEOUT)?,
            port_max_retries: conf.get_u16(&keys::PORT_MAX_RETRIES)?.unwrap_or(16),
        })
    }
}

/// A worker's state as the master sees it (Spark's `WorkerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Registered and heartbeating.
    Alive,
    /// Silent for longer than `spark.worker.timeout`.
    Dead,
}

impl WorkerState {
    /// Spark's name for the state, as the UI and JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Alive => "ALIVE",
            WorkerState::Dead => "DEAD",
        }
    }
}

/// What the master knows of one worker (Spark's `WorkerInfo`).
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// `worker-<yyyyMMddHHmmss>-<host>-<port>`.
    pub id: String,
    /// Host of the worker's RPC endpoint.
    pub host: String,
    /// Port of the worker's RPC endpoint.
    pub port: u16,
    /// The worker's web UI, `http://host:port`.
    pub webui_address: String,
    /// Cores the worker offers.
    pub cores: u32,
    /// Cores given to executors.
    pub cores_used: u32,
    /// Memory the worker offers, MiB.
    pub memory_mib: u64,
    /// Memory given to executors, MiB.
    pub memory_used_mib: u64,
    /// Alive or dead.
    pub state: WorkerState,
    /// Last heartbeat, milliseconds since the epoch.
    pub last_heartbeat_ms: u64,
}

/// A worker asking to join (the domain form of `RegisterWorker`).
#[derive(Debug, Clone)]
pub(crate) struct WorkerRegistration {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub cores: u32,
    pub memory_mib: u64,
    pub webui_address: String,
}

/// The master's answer to a registration.
#[derive(Debug, Clone)]
pub(crate) enum RegistrationOutcome {
    Registered {
        master_url: String,
        master_webui_url: String,
        duplicate: bool,
    },
    Failed(String),
}

/// Everything that changes the master's state, handled one at a time by its task.
pub(crate) enum MasterEvent {
    RegisterWorker(WorkerRegistration, oneshot::Sender<RegistrationOutcome>),
    /// Answered with `true` when the worker is unknown and must register again.
    Heartbeat(String, oneshot::Sender<bool>),
    CheckForWorkerTimeOut,
    RequestState(oneshot::Sender<MasterSnapshot>),
}

/// A copy of the master's state for the UI.
#[derive(Debug, Clone)]
pub(crate) struct MasterSnapshot {
    pub url: String,
    pub status: &'static str,
    pub workers: Vec<WorkerInfo>,
}

/// Sends events to a running master.
#[derive(Debug, Clone)]
pub(crate) struct MasterHandle {
    events: mpsc::Sender<MasterEvent>,
}

impl MasterHandle {
    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> MasterEvent,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.events.send(make(reply)).await.ok()?;
        answer.await.ok()
    }
}

/// The standalone master: its state lives in one task (see [`Master::run`]).
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    url: String,
    webui_url: String,
    workers: BTreeMap<String, WorkerInfo>,
}

impl Master {
    /// Binds the RPC and web UI ports, elects itself leader and serves until the process ends.
    pub async fn run(config: MasterConfig) -> Result<(), MasterError> {
        let (rpc_listener, rpc_port) = bind_service(
            "sparkMaster",
            &config.host,
            config.port,
            config.port_max_retries,
        )
        .await?;
        let url = format!("spark://{}:{rpc_port}", config.host);
        tracing::info!("Starting Flint master at {url}");
        tracing::info!("Running Flint version {}", env!("CARGO_PKG_VERSION"));
        let (ui_listener, ui_port) = bind_service(
            "MasterUI",
            &config.host,
            config.webui_port,
            config.port_max_retries,
        )
        .await?;
        let webui_url = format!("http://{}:{ui_port}", config.host);
        tracing::info!(
            target: "flint_master::ui",
            "Bound MasterWebUI to {}, and started at {webui_url}",
            config.host
        );

        let (events, inbox) = mpsc::channel(1024);
        let handle = MasterHandle { events };
        let timeout_check = handle.clone();
        let check_every = config.worker_timeout / 2;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(check_every.max(Duration::from_millis(100)));
            loop {
                tick.tick().await;
                if timeout_check
                    .events
                    .send(MasterEvent::CheckForWorkerTimeOut)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let master = Master {
            config,
            url,
            webui_url,
            workers: BTreeMap::new(),
        };
        tracing::info!("I have been elected leader! New state: ALIVE");
        let state = tokio::spawn(master.handle_events(inbox));
        let ui = crate::ui::serve(ui_listener, handle.clone());
        let rpc = crate::rpc::serve(rpc_listener, handle);
        tokio::select! {
            result = rpc => result,
            result = ui => result.map_err(MasterError::Ui),
            _ = state => Ok(()),
        }
    }

    async fn handle_events(mut self, mut inbox: mpsc::Receiver<MasterEvent>) {
        while let Some(event) = inbox.recv().await {
            match event {
                MasterEvent::RegisterWorker(registration, reply) => {
                    let _ = reply.send(self.register_worker(registration));
                }
                MasterEvent::Heartbeat(worker_id, reply) => {
                    let _ = reply.send(self.heartbeat(&worker_id));
                }
                MasterEvent::CheckForWorkerTimeOut => self.time_out_dead_workers(),
                MasterEvent::RequestState(reply) => {
                    let _ = reply.send(MasterSnapshot {
                        url: self.url.clone(),
                        status: "ALIVE",
                        workers: self.workers.values().cloned().collect(),
                    });
                }
            }
        }
    }

    fn register_worker(&mut self, registration: WorkerRegistration) -> RegistrationOutcome {
        if let Some(known) = self.workers.get_mut(&registration.id) {
            if known.state == WorkerState::Alive {
                known.last_heartbeat_ms = now_millis();
                return RegistrationOutcome::Registered {
                    master_url: self.url.clone(),
                    master_webui_url: self.webui_url.clone(),
                    duplicate: true,
                };
            }
            self.workers.remove(&registration.id);
        }
        // A dead worker at the same address is replaced; a live one is a conflict.
        self.workers.retain(|_, w| {
            !(w.state == WorkerState::Dead
                && w.host == registration.host
                && w.port == registration.port)
        });
        if self.workers.values().any(|w| {
            w.state == WorkerState::Alive
                && w.host == registration.host
                && w.port == registration.port
        }) {
            let message = format!(
                "Attempted to re-register worker at same address: {}:{}",
                registration.host, registration.port
            );
            tracing::warn!("{message}");
            return RegistrationOutcome::Failed(message);
        }
        tracing::info!(
            worker_id = %registration.id,
            "Registering worker {}:{} with {} cores, {} RAM",
            registration.host,
            registration.port,
            registration.cores,
            format_size(registration.memory_mib * 1024 * 1024)
        );
        self.workers.insert(
            registration.id.clone(),
            WorkerInfo {
                id: registration.id,
                host: registration.host,
                port: registration.port,
                webui_address: registration.webui_address,
                cores: registration.cores,
                cores_used: 0,
                memory_mib: registration.memory_mib,
                memory_used_mib: 0,
                state: WorkerState::Alive,
                last_heartbeat_ms: now_millis(),
            },
        );
        RegistrationOutcome::Registered {
            master_url: self.url.clone(),
            master_webui_url: self.webui_url.clone(),
            duplicate: false,
        }
    }

    fn heartbeat(&mut self, worker_id: &str) -> bool {
        match self.workers.get_mut(worker_id) {
            Some(worker) if worker.state == WorkerState::Alive => {
                worker.last_heartbeat_ms = now_millis();
                false
            }
            Some(_) => {
                tracing::info!(
                    worker_id,
                    "Got heartbeat from dead worker {worker_id}; asking it to re-register."
                );
                true
            }
            None => {
                tracing::warn!(
                    worker_id,
                    "Got heartbeat from unregistered worker {worker_id}; asking it to re-register."
                );
                true
            }
        }
    }

    fn time_out_dead_workers(&mut self) {
        let now = now_millis();
        let timeout_ms = self.config.worker_timeout.as_millis() as u64;
        for worker in self.workers.values_mut() {
            if worker.state == WorkerState::Alive
                && now.saturating_sub(worker.last_heartbeat_ms) > timeout_ms
            {
                tracing::warn!(
                    worker_id = %worker.id,
                    "Removing {} because we got no heartbeat in {} seconds",
                    worker.id,
                    self.config.worker_timeout.as_secs_f64()
                );
                tracing::info!(
                    worker_id = %worker.id,
                    "Removing worker {} on {}:{}",
                    worker.id,
                    worker.host,
                    worker.port
                );
                worker.state = WorkerState::Dead;
                worker.cores_used = 0;
                worker.memory_used_mib = 0;
            }
        }
        // Dead workers stay visible for (spark.dead.worker.persistence + 1) timeouts, as in Spark.
        let keep_ms = timeout_ms * 16;
        self.workers.retain(|_, w| {
            w.state == WorkerState::Alive || now.saturating_sub(w.last_heartbeat_ms) < keep_ms
        });
    }
}
