use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flint_conf::{ConfError, SparkConf, format_size, keys};
use flint_rpc::deploy::master_client::MasterClient;
use flint_rpc::deploy::{
    DriverStateChangedRequest, ExecutorStateChangedRequest, HeartbeatRequest,
    RegisterWorkerRequest, RunningExecutor, UnregisterWorkerRequest, register_worker_response,
};
use flint_rpc::{RpcError, RpcSecurity, bind_service, connect};
use thiserror::Error;
use tokio::sync::mpsc;
use tonic::transport::Channel;

use flint_shuffle_service::{BlockServer, ExternalShuffleService};

use crate::driver_runner::{DriverRequest, DriverRunnerInfo};
use crate::executor_runner::{ExecutorRunnerInfo, LaunchRequest, RunnerHandle};

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
    /// The lock beside the worker's local directory cannot be taken.
    #[error("cannot lock {path}: {source}")]
    LocalDirLock {
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
    /// `spark.local.dir` (default: the system temp dir): executors' shuffle files go below it.
    pub local_dir: PathBuf,
    /// `spark.shuffle.service.port` when `spark.shuffle.service.enabled`: the worker runs a
    /// shuffle service there for its executors' files.
    pub shuffle_service_port: Option<u16>,
    /// `spark.authenticate`: the secret every RPC peer must prove; handed to the executors
    /// and drivers the worker starts in their environment.
    pub security: RpcSecurity,
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
            None => conf.value(&keys::WORKER_UI_PORT)?,
        };
        Ok(Self {
            masters,
            host,
            port,
            webui_port,
            cores,
            memory_mib,
            work_dir: work_dir.unwrap_or_else(|| PathBuf::from("work")),
            worker_timeout: conf.value(&keys::WORKER_TIMEOUT)?,
            port_max_retries: conf.value(&keys::PORT_MAX_RETRIES)?,
            local_dir: conf
                .get(keys::LOCAL_DIR.key)
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
            shuffle_service_port: if conf.value(&keys::SHUFFLE_SERVICE_ENABLED)? {
                Some(conf.value(&keys::SHUFFLE_SERVICE_PORT)?)
            } else {
                None
            },
            security: RpcSecurity::from_conf(conf)?,
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
    /// Executors running now.
    pub executors: Vec<ExecutorRunnerInfo>,
    /// Executors that ended, oldest first (the last [`RETAINED_EXECUTORS`]).
    pub finished_executors: Vec<ExecutorRunnerInfo>,
    /// Drivers running now (cluster deploy mode).
    pub drivers: Vec<DriverRunnerInfo>,
    /// Drivers that ended, oldest first.
    pub finished_drivers: Vec<DriverRunnerInfo>,
}

/// A state change for the master, sent in order by one task.
#[derive(Debug)]
pub(crate) enum Report {
    Executor(ExecutorStateChangedRequest),
    Driver(DriverStateChangedRequest),
}

/// Finished executors (and drivers) the worker UI keeps (Spark's
/// `spark.worker.ui.retainedExecutors`).
const RETAINED_EXECUTORS: usize = 1000;

/// The worker's state shared by its RPC handlers, UI and executor runners.
#[derive(Debug)]
pub(crate) struct WorkerShared {
    pub config: WorkerConfig,
    /// Where applications' executor local directories go: `<spark.local.dir>/flint-<worker-id>`.
    pub local_root: PathBuf,
    /// Held while the worker runs (`<local_root>.lock`), so a later worker can tell this
    /// directory from one a killed worker left behind.
    _local_lock: std::fs::File,
    /// `http://HOST:PORT` of this worker's UI, where executors' logs are served.
    pub webui_address: String,
    /// The shuffle service and the port it listens on, when the worker runs one.
    pub shuffle_service: Option<(Arc<ExternalShuffleService>, u16)>,
    status: Mutex<WorkerStatus>,
    /// The master this worker is registered with; `None` while (re-)registering.
    master: tokio::sync::watch::Sender<Option<MasterClient<Channel>>>,
    /// Running processes by key: `<app-id>/<executor-id>` for executors, the driver id for
    /// drivers.
    runners: Mutex<HashMap<String, RunnerHandle>>,
    reports: mpsc::UnboundedSender<Report>,
    /// A master that recovered this worker announced itself (Spark's `MasterChanged`):
    /// register with it now rather than at the next failed heartbeat.
    master_changed: tokio::sync::Notify,
    /// `HOST:PORT` of the master that announced itself last, tried first.
    announced_master: Mutex<Option<(String, u16)>>,
    /// Ended applications whose local directory is still here: it goes when their last
    /// executor on this worker has ended.
    finished_apps: Mutex<std::collections::HashSet<String>>,
}

/// Shared view of the worker for its UI, RPC handlers and executor runners.
pub(crate) type SharedStatus = Arc<WorkerShared>;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl WorkerShared {
    /// A master announces it is in charge now; the worker registers with it at once.
    pub(crate) fn master_changed(&self, master_url: &str) -> Result<(), String> {
        let address = master_url
            .strip_prefix("spark://")
            .and_then(|rest| rest.rsplit_once(':'))
            .and_then(|(host, port)| Some((host.to_string(), port.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("\"{master_url}\" is not spark://HOST:PORT"))?;
        tracing::info!("Master has changed, new master is at {master_url}");
        *lock(&self.announced_master) = Some(address);
        self.master_changed.notify_one();
        Ok(())
    }

    /// The master listed the applications it runs: every other application with a local
    /// directory here ended while this worker was away (cut off, or declared dead) and
    /// missed its `ApplicationFinished`; its files go once its executors are gone.
    pub(crate) fn forget_inactive_apps(&self, active: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.local_root) else {
            return;
        };
        let ended: Vec<String> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().map(String::from))
            .filter(|app_id| flint_common::is_path_safe_id(app_id) && !active.contains(app_id))
            .collect();
        for app_id in ended {
            self.application_ended(&app_id);
        }
    }

    /// Marks an application ended, and deletes its local directory unless an executor of
    /// it still runs here (then its end does).
    pub(crate) fn application_ended(&self, app_id: &str) {
        lock(&self.finished_apps).insert(app_id.to_string());
        self.remove_app_dir_if_idle(app_id);
    }

    /// Deletes an ended application's local directory once none of its executors runs.
    pub(crate) fn remove_app_dir_if_idle(&self, app_id: &str) {
        if !lock(&self.finished_apps).contains(app_id)
            || lock(&self.status)
                .executors
                .iter()
                .any(|e| e.request.app_id == app_id)
        {
            return;
        }
        if let Some((service, _)) = &self.shuffle_service {
            service.application_removed(app_id);
        }
        let dir = self.app_local_dir(app_id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(app_id = %app_id, "Cleaning up local directories for application {app_id}")
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!("Cannot delete {}: {error}", dir.display());
                return;
            }
        }
        lock(&self.finished_apps).remove(app_id);
    }

    /// A copy of the worker's status.
    pub(crate) fn status(&self) -> WorkerStatus {
        lock(&self.status).clone()
    }

    /// The local directory of one application's executors.
    pub(crate) fn app_local_dir(&self, app_id: &str) -> PathBuf {
        self.local_root.join(app_id)
    }

    /// Queues an executor state change for the master; a task sends them in order.
    pub(crate) fn report(&self, update: ExecutorStateChangedRequest) {
        let _ = self.reports.send(Report::Executor(update));
    }

    /// Queues a driver state change for the master.
    pub(crate) fn report_driver(
        &self,
        driver_id: &str,
        state: crate::driver_runner::DriverState,
        message: String,
    ) {
        let _ = self.reports.send(Report::Driver(DriverStateChangedRequest {
            driver_id: driver_id.to_string(),
            state: state.as_str().to_string(),
            message,
        }));
    }

    pub(crate) fn driver_started(&self, info: DriverRunnerInfo) {
        lock(&self.status).drivers.push(info);
    }

    pub(crate) fn driver_finished(
        &self,
        request: &DriverRequest,
        state: crate::driver_runner::DriverState,
    ) {
        self.remove_runner(&request.driver_id);
        let mut status = lock(&self.status);
        let WorkerStatus {
            drivers,
            finished_drivers,
            ..
        } = &mut *status;
        retire(
            drivers,
            finished_drivers,
            |d| d.request.driver_id == request.driver_id,
            |d| d.state = state,
        );
        drop(status);
        self.release(request.cores, request.memory_mib);
    }

    /// Reserves a launch's cores and memory. The master's books are authoritative, as in
    /// Spark: it may place an executor here while the process whose resources it freed is
    /// still being killed, so only a request larger than the whole worker is refused.
    pub(crate) fn reserve(&self, cores: u32, memory_mib: u64) -> Result<(), String> {
        let mut status = lock(&self.status);
        if cores > status.cores || memory_mib > status.memory_mib {
            return Err(format!(
                "asked for {cores} cores and {memory_mib} MiB; this worker has {} cores and {} MiB",
                status.cores, status.memory_mib
            ));
        }
        status.cores_used += cores;
        status.memory_used_mib += memory_mib;
        if status.cores_used > status.cores || status.memory_used_mib > status.memory_mib {
            tracing::debug!(
                "Launching over capacity ({} of {} cores, {} of {} MiB) until stopping processes exit",
                status.cores_used,
                status.cores,
                status.memory_used_mib,
                status.memory_mib
            );
        }
        Ok(())
    }

    /// Gives back the cores and memory of a process that ended or never started.
    pub(crate) fn release(&self, cores: u32, memory_mib: u64) {
        let mut status = lock(&self.status);
        status.cores_used = status.cores_used.saturating_sub(cores);
        status.memory_used_mib = status.memory_used_mib.saturating_sub(memory_mib);
    }

    pub(crate) fn executor_started(&self, info: ExecutorRunnerInfo) {
        lock(&self.status).executors.push(info);
    }

    pub(crate) fn executor_finished(
        &self,
        request: &LaunchRequest,
        state: flint_rpc::deploy::ExecutorState,
    ) {
        self.remove_runner(&executor_key(&request.app_id, request.executor_id));
        let mut status = lock(&self.status);
        let WorkerStatus {
            executors,
            finished_executors,
            ..
        } = &mut *status;
        retire(
            executors,
            finished_executors,
            |e| e.request.app_id == request.app_id && e.request.executor_id == request.executor_id,
            |e| e.state = state,
        );
        drop(status);
        self.release(request.cores, request.memory_mib);
    }

    /// Kills every executor and deletes the executors' local directories (the logs stay).
    pub(crate) async fn clean_up(&self) {
        for runner in self.take_runners(|_| true) {
            runner.kill().await;
        }
        if let Err(error) = std::fs::remove_dir_all(&self.local_root)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("Cannot delete {}: {error}", self.local_root.display());
        }
        let _ = std::fs::remove_file(lock_path(&self.local_root));
    }

    /// Keeps a started process's handle so it can be killed.
    pub(crate) fn add_runner(&self, key: String, handle: RunnerHandle) {
        lock(&self.runners).insert(key, handle);
    }

    /// Forgets a process that ended.
    pub(crate) fn remove_runner(&self, key: &str) {
        lock(&self.runners).remove(key);
    }

    /// Takes the handles of the matching processes out, to kill them.
    pub(crate) fn take_runners(&self, matches: impl Fn(&str) -> bool) -> Vec<RunnerHandle> {
        let mut runners = lock(&self.runners);
        let keys: Vec<String> = runners.keys().filter(|k| matches(k)).cloned().collect();
        keys.into_iter()
            .filter_map(|key| runners.remove(&key))
            .collect()
    }
}

/// A standalone worker.
#[derive(Debug)]
pub struct Worker {
    config: WorkerConfig,
    registration: RegisterWorkerRequest,
    shared: SharedStatus,
}

/// Registration attempts before giving up, as Spark's `spark.worker.maxRegistrationRetries`.
const MAX_REGISTRATION_ATTEMPTS: u32 = 16;
/// Attempts made at the short interval, as Spark's `spark.worker.initialRegistrationRetries`.
const INITIAL_REGISTRATION_ATTEMPTS: u32 = 6;
/// How long a stopping worker waits for the master to hear that it leaves.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);

impl Worker {
    /// Binds its ports, then registers with the master and heartbeats until the process ends.
    pub async fn run(config: WorkerConfig) -> Result<(), WorkerError> {
        let mut config = config;
        std::fs::create_dir_all(&config.work_dir).map_err(|source| WorkerError::WorkDir {
            path: config.work_dir.clone(),
            source,
        })?;
        config.work_dir =
            std::path::absolute(&config.work_dir).map_err(|source| WorkerError::WorkDir {
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
        let webui_address = format!(
            "{}://{}:{ui_port}",
            config.security.web_scheme(),
            config.host
        );
        tracing::info!(
            target: "flint_worker::ui",
            "Bound WorkerWebUI to {}, and started at {webui_address}",
            config.host
        );
        // Absolute: executors start elsewhere and tell other executors where their files are.
        let local_root = std::path::absolute(config.local_dir.join(format!("flint-{id}")))
            .map_err(|source| WorkerError::WorkDir {
                path: config.local_dir.clone(),
                source,
            })?;
        let local_lock = lock_local_root(&local_root)?;
        std::fs::create_dir_all(&local_root).map_err(|source| WorkerError::WorkDir {
            path: local_root.clone(),
            source,
        })?;
        sweep_stale_local_roots(&config.local_dir, &local_root);
        let mut shuffle_server = None;
        let mut shuffle_service = None;
        if let Some(port) = config.shuffle_service_port {
            let (listener, port) = bind_service(
                "ExternalShuffleService",
                &config.host,
                port,
                config.port_max_retries,
            )
            .await?;
            tracing::info!(
                "Starting shuffle service on port {port} (auth enabled = {})",
                config.security.authenticates()
            );
            let service = Arc::new(ExternalShuffleService::new(local_root.clone()));
            let server = tonic::transport::Server::builder()
                .add_service(BlockServer::new(Arc::clone(&service)).into_server())
                .serve_with_incoming(flint_rpc::incoming(listener, &config.security));
            shuffle_server = Some(server);
            shuffle_service = Some((service, port));
        }
        let shuffle_server = async move {
            match shuffle_server {
                Some(server) => server.await,
                None => std::future::pending().await,
            }
        };
        let (reports, pending_reports) = mpsc::unbounded_channel();
        let shared = Arc::new(WorkerShared {
            config: config.clone(),
            local_root,
            _local_lock: local_lock,
            webui_address: webui_address.clone(),
            shuffle_service,
            status: Mutex::new(WorkerStatus {
                id: id.clone(),
                master_url: None,
                master_webui_url: None,
                cores: config.cores,
                cores_used: 0,
                memory_mib: config.memory_mib,
                memory_used_mib: 0,
                executors: vec![],
                finished_executors: vec![],
                drivers: vec![],
                finished_drivers: vec![],
            }),
            master: tokio::sync::watch::Sender::new(None),
            master_changed: tokio::sync::Notify::new(),
            announced_master: Mutex::new(None),
            finished_apps: Mutex::default(),
            runners: Mutex::new(HashMap::new()),
            reports,
        });
        tokio::spawn(send_reports(Arc::clone(&shared), pending_reports));
        let registration = RegisterWorkerRequest {
            worker_id: id,
            host: config.host.clone(),
            port: port as u32,
            cores: config.cores,
            memory_mib: config.memory_mib,
            webui_address,
            executors: vec![],
            driver_ids: vec![],
        };
        let worker = Worker {
            config,
            registration,
            shared: Arc::clone(&shared),
        };
        let rpc = crate::rpc::serve(rpc_listener, Arc::clone(&shared));
        let ui = crate::ui::serve(ui_listener, shared);
        let result = tokio::select! {
            result = rpc => result,
            result = ui => result.map_err(WorkerError::Ui),
            result = shuffle_server => result.map_err(WorkerError::Serve),
            result = worker.stay_registered() => result,
            () = shutdown_signal() => {
                tracing::info!("Worker shutting down: killing executors");
                worker.leave_master().await;
                Ok(())
            }
        };
        worker.shared.clean_up().await;
        result
    }

    /// Tells the master this worker is stopping, so it is removed (and its executors reported
    /// lost to their drivers) at once rather than after `spark.worker.timeout`.
    async fn leave_master(&self) {
        let master = self.shared.master.borrow().clone();
        let Some(mut master) = master else {
            return;
        };
        let request = UnregisterWorkerRequest {
            worker_id: self.registration.worker_id.clone(),
        };
        match tokio::time::timeout(LEAVE_TIMEOUT, master.unregister_worker(request)).await {
            Ok(Ok(_)) => tracing::info!("Told the master this worker is leaving"),
            Ok(Err(status)) => tracing::warn!(
                "Cannot tell the master this worker is leaving: {}",
                status.message()
            ),
            Err(_) => tracing::warn!(
                "Cannot tell the master this worker is leaving: no answer in {LEAVE_TIMEOUT:?}"
            ),
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
                tokio::select! {
                    _ = tick.tick() => {}
                    () = self.shared.master_changed.notified() => break,
                }
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
            lock(&self.shared.status).master_url = None;
            self.shared.master.send_replace(None);
        }
    }

    /// The registration with what the worker runs now, so a recovering master can give
    /// executors and drivers back to their owners (and an alive one stop those it lost).
    fn registration_now(&self) -> RegisterWorkerRequest {
        let status = lock(&self.shared.status);
        RegisterWorkerRequest {
            executors: status
                .executors
                .iter()
                .map(|e| RunningExecutor {
                    app_id: e.request.app_id.clone(),
                    executor_id: e.request.executor_id,
                    cores: e.request.cores,
                    memory_mib: e.request.memory_mib,
                })
                .collect(),
            driver_ids: status
                .drivers
                .iter()
                .map(|d| d.request.driver_id.clone())
                .collect(),
            ..self.registration.clone()
        }
    }

    /// Sends `RegisterWorker` to each master in turn until one accepts, with Spark's retry
    /// pattern on a shorter clock: six tries about a second apart, then about five seconds.
    async fn register(&self) -> Result<MasterClient<Channel>, WorkerError> {
        let timeout = self.config.worker_timeout.max(Duration::from_secs(1));
        for attempt in 1..=MAX_REGISTRATION_ATTEMPTS {
            let mut masters = self.config.masters.clone();
            if let Some(announced) = lock(&self.shared.announced_master).clone() {
                masters.retain(|known| *known != announced);
                masters.insert(0, announced);
            }
            for (host, port) in &masters {
                tracing::info!("Connecting to master {host}:{port}...");
                let channel = match connect(host, *port, timeout, &self.config.security).await {
                    Ok(channel) => channel,
                    Err(error) => {
                        tracing::warn!("Failed to connect to master {host}:{port}: {error}");
                        continue;
                    }
                };
                let mut client = MasterClient::new(channel);
                match client.register_worker(self.registration_now()).await {
                    Ok(response) => match response.into_inner().result {
                        Some(register_worker_response::Result::Registered(registered)) => {
                            tracing::info!(
                                "Successfully registered with master {}",
                                registered.master_url
                            );
                            {
                                let mut status = lock(&self.shared.status);
                                status.master_url = Some(registered.master_url);
                                status.master_webui_url = Some(registered.master_webui_url);
                            }
                            self.shared.forget_inactive_apps(&registered.active_app_ids);
                            self.shared.master.send_replace(Some(client.clone()));
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

/// Moves the first entry of `running` that `is_it` picks to `finished` (keeping the last
/// [`RETAINED_EXECUTORS`]), after `finish` marks its final state.
fn retire<T>(
    running: &mut Vec<T>,
    finished: &mut Vec<T>,
    is_it: impl Fn(&T) -> bool,
    finish: impl FnOnce(&mut T),
) {
    if let Some(position) = running.iter().position(is_it) {
        let mut entry = running.remove(position);
        finish(&mut entry);
        finished.push(entry);
        if finished.len() > RETAINED_EXECUTORS {
            finished.remove(0);
        }
    }
}

/// The lock file beside a worker's local root.
fn lock_path(local_root: &std::path::Path) -> PathBuf {
    local_root.with_extension("lock")
}

/// Creates and locks `<local_root>.lock` before the root itself exists, and keeps it locked
/// for the worker's life (the kernel releases it however the process ends).
fn lock_local_root(local_root: &std::path::Path) -> Result<std::fs::File, WorkerError> {
    let path = lock_path(local_root);
    let error = |source| WorkerError::LocalDirLock {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let file = std::fs::File::create(&path).map_err(error)?;
    file.try_lock().map_err(|e| error(e.into()))?;
    Ok(file)
}

/// Deletes the local roots (shuffle and cache files) that workers killed without cleaning
/// up (`kill -9`, a crash) left in `local_dir`: those whose lock no process holds. A root
/// without a lock file is left alone: whose it is cannot be told.
fn sweep_stale_local_roots(local_dir: &std::path::Path, own: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(local_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let root = entry.path();
        let is_worker_root = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with("flint-worker-"))
            && root.is_dir();
        if !is_worker_root || root == own {
            continue;
        }
        let Ok(lock) = std::fs::File::open(lock_path(&root)) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue;
        }
        tracing::info!(
            "Deleting {}, left by a worker that is no longer running",
            root.display()
        );
        if let Err(error) = std::fs::remove_dir_all(&root) {
            tracing::warn!("Cannot delete {}: {error}", root.display());
            continue;
        }
        let _ = std::fs::remove_file(lock_path(&root));
    }
}

/// The runner key of an executor.
pub(crate) fn executor_key(app_id: &str, executor_id: u32) -> String {
    format!("{app_id}/{executor_id}")
}

/// Sends executor state changes to the master one after another, so a fast-exiting
/// executor's EXITED never overtakes its RUNNING; while the worker is (re-)registering they
/// wait (a master may launch an executor before the worker has read its registration answer).
async fn send_reports(shared: SharedStatus, mut pending: mpsc::UnboundedReceiver<Report>) {
    let mut registered = shared.master.subscribe();
    while let Some(update) = pending.recv().await {
        let master = match registered.wait_for(Option::is_some).await {
            Ok(master) => master.clone(),
            Err(_) => return,
        };
        let Some(mut master) = master else {
            continue;
        };
        let sent = match update {
            Report::Executor(update) => master.executor_state_changed(update).await.map(drop),
            Report::Driver(update) => master.driver_state_changed(update).await.map(drop),
        };
        if let Err(status) = sent {
            tracing::warn!(
                "Cannot report a state change to the master: {}",
                status.message()
            );
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (`kill`), the ways a worker is stopped.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// A factor in [0.5, 1.5), so workers started together do not retry in lockstep.
fn fuzz() -> f64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    0.5 + (random % 1000) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local root whose lock no process holds is a killed worker's and goes, with its
    /// lock; the live worker's (locked) and one with no lock file stay.
    #[test]
    fn local_roots_of_killed_workers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let root = |name: &str| dir.path().join(format!("flint-worker-{name}"));
        let killed = root("killed");
        let live = root("live");
        let unknown = root("unknown");
        let own = root("own");
        let mut held = vec![];
        for (path, locked) in [(&killed, false), (&live, true), (&own, true)] {
            let lock = lock_local_root(path).unwrap();
            std::fs::create_dir_all(path.join("app-1/shuffle")).unwrap();
            if locked {
                held.push(lock);
            }
        }
        std::fs::create_dir_all(&unknown).unwrap();
        sweep_stale_local_roots(dir.path(), &own);
        assert!(!killed.exists() && !lock_path(&killed).exists());
        assert!(live.exists() && own.exists() && unknown.exists());
        drop(held);
    }
}
