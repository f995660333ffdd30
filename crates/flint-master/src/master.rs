use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flint_common::now_millis;

use flint_conf::{ConfError, SparkConf, format_size, keys};
use flint_rpc::{RpcError, bind_service};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::application::{
    ApplicationDescription, ApplicationEvent, ApplicationInfo, ApplicationState, ExecutorDesc,
    ExecutorState,
};
use crate::driver::{DriverDescription, DriverInfo, DriverState};
use crate::leader_election::LeaderElection;
use crate::recovery::{
    FileSystemPersistence, Persisted, Persistence, RecoveryError, RecoveryMode, StoredApplication,
    StoredDriver, StoredState, StoredWorker, ZooKeeperPersistence, app_name, connect_zookeeper,
    driver_name, worker_name,
};
use crate::scheduling::{ExecutorRequest, FreeResources, explain_shortage, place_executors};

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
    /// The recovery state cannot be used (directory or ZooKeeper).
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// This master led, and lost its ZooKeeper session: another master may lead now.
    #[error("leadership has been revoked: {0}")]
    LeadershipRevoked(String),
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
    /// `spark.deploy.spreadOut`: spread each application over as many workers as possible.
    pub spread_out: bool,
    /// `spark.deploy.maxExecutorRetries`: abnormal executor exits in a row after which an
    /// application with no running executor is removed as FAILED.
    pub max_executor_retries: u32,
    /// `spark.deploy.retainedApplications`: completed applications the UI keeps.
    pub retained_applications: usize,
    /// `spark.deploy.recoveryMode`: whether a restarted master recovers its state.
    pub recovery_mode: RecoveryMode,
    /// `spark.authenticate`: the secret every RPC peer must prove.
    pub security: flint_rpc::RpcSecurity,
    /// `spark.ui.killEnabled`: the web UI's kill links for applications and drivers.
    pub kill_enabled: bool,
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
            None => conf.value(&keys::MASTER_UI_PORT)?,
        };
        Ok(Self {
            host,
            port,
            webui_port,
            worker_timeout: conf.value(&keys::WORKER_TIMEOUT)?,
            port_max_retries: conf.value(&keys::PORT_MAX_RETRIES)?,
            spread_out: conf.value(&keys::DEPLOY_SPREAD_OUT)?,
            max_executor_retries: conf.value(&keys::DEPLOY_MAX_EXECUTOR_RETRIES)? as u32,
            retained_applications: conf.value(&keys::DEPLOY_RETAINED_APPLICATIONS)?,
            recovery_mode: RecoveryMode::from_conf(conf)?,
            security: flint_rpc::RpcSecurity::from_conf(conf)?,
            kill_enabled: conf.value(&keys::UI_KILL_ENABLED)?,
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
    /// Recovered from a master's persisted state; it has not registered again yet.
    Unknown,
}

impl WorkerState {
    /// Spark's name for the state, as the UI and JSON show it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Alive => "ALIVE",
            WorkerState::Dead => "DEAD",
            WorkerState::Unknown => "UNKNOWN",
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
    /// The executors it runs: (application id, executor id).
    pub executors: BTreeSet<(String, u32)>,
    /// The drivers it runs.
    pub drivers: BTreeSet<String>,
    /// Which registration of this worker id it is, so news about an earlier one (a launch
    /// that failed before the worker registered again) does not remove it.
    pub(crate) incarnation: u64,
}

impl WorkerInfo {
    /// The address commands to this registration of the worker go to.
    pub(crate) fn reference(&self) -> WorkerRef {
        WorkerRef {
            id: self.id.clone(),
            incarnation: self.incarnation,
            host: self.host.clone(),
            port: self.port,
        }
    }

    fn stored(&self) -> StoredWorker {
        StoredWorker {
            id: self.id.clone(),
            host: self.host.clone(),
            port: self.port,
            cores: self.cores,
            memory_mib: self.memory_mib,
            webui_address: self.webui_address.clone(),
        }
    }

    fn free(&self) -> FreeResources {
        FreeResources {
            worker_id: self.id.clone(),
            cores_free: self.cores.saturating_sub(self.cores_used),
            memory_free_mib: self.memory_mib.saturating_sub(self.memory_used_mib),
        }
    }
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
    /// Executors the worker runs now.
    pub executors: Vec<RunningExecutor>,
    /// Drivers the worker runs now.
    pub driver_ids: Vec<String>,
}

/// An executor a registering worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningExecutor {
    pub app_id: String,
    pub executor_id: u32,
    pub cores: u32,
    pub memory_mib: u64,
}

/// A driver registering its application again after its master went away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reattach {
    pub app_id: String,
    /// One more than the highest executor id the driver was granted.
    pub next_executor_id: u32,
}

/// The master's role (Spark's `RecoveryState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecoveryState {
    /// In charge: places executors and drivers.
    Alive,
    /// Restarted with persisted state: waits for its workers and drivers to register again
    /// (at most `spark.worker.timeout`) before placing anything.
    Recovering,
    /// Waits to be elected leader (`ZOOKEEPER`): refuses every request.
    Standby,
}

impl RecoveryState {
    fn as_str(self) -> &'static str {
        match self {
            RecoveryState::Alive => "ALIVE",
            RecoveryState::Recovering => "RECOVERING",
            RecoveryState::Standby => "STANDBY",
        }
    }
}

/// One registration of a worker, the target of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerRef {
    pub id: String,
    pub incarnation: u64,
    pub host: String,
    pub port: u16,
}

/// What the master asks of the world after an event; `rpc.rs` carries out the RPCs and the
/// timers, the master's loop the persistence.
pub(crate) enum Command {
    /// Start an executor (Spark's `LaunchExecutor`).
    LaunchExecutor {
        worker: WorkerRef,
        app_id: String,
        executor_id: u32,
        description: ApplicationDescription,
        cores: u32,
        memory_mib: u64,
    },
    /// Stop an executor (Spark's `KillExecutor`).
    KillExecutor {
        worker: WorkerRef,
        app_id: String,
        executor_id: u32,
    },
    /// Start a driver (Spark's `LaunchDriver`).
    LaunchDriver {
        worker: WorkerRef,
        driver_id: String,
        description: DriverDescription,
    },
    /// Stop a driver (Spark's `KillDriver`).
    KillDriver {
        worker: WorkerRef,
        driver_id: String,
    },
    /// The application ended: delete its files (Spark's `ApplicationFinished`).
    ApplicationFinished { worker: WorkerRef, app_id: String },
    /// This master recovered the worker: register with it (Spark's `MasterChanged`).
    MasterChanged { worker: WorkerRef },
    /// Hand `event` back to the master after `delay`.
    Later { delay: Duration, event: MasterEvent },
    /// Keep an object for a future master.
    Persist(Persisted),
    /// Forget a kept object, by name.
    Unpersist(String),
}

/// The master's answer to a registration.
#[derive(Debug, Clone)]
pub(crate) enum RegistrationOutcome {
    Registered {
        master_url: String,
        master_webui_url: String,
        duplicate: bool,
        /// Applications running now.
        active_apps: Vec<String>,
    },
    Failed(String),
}

/// Everything that changes the master's state, handled one at a time by its task.
pub(crate) enum MasterEvent {
    RegisterWorker(WorkerRegistration, oneshot::Sender<RegistrationOutcome>),
    /// Answered with `true` when the worker is unknown and must register again.
    Heartbeat(String, oneshot::Sender<bool>),
    /// A worker is gone before its timeout: it said it is stopping, or it could not be
    /// reached to launch something. Removed at once, as Spark's master removes a worker
    /// whose connection drops. `incarnation`: the registration the news is about, if known.
    WorkerLost {
        worker_id: String,
        incarnation: Option<u64>,
        reason: String,
    },
    CheckForWorkerTimeOut,
    RequestState(oneshot::Sender<MasterSnapshot>),
    /// A driver registers (or, with `reattach`, registers its running application again);
    /// answered with the application's id and the registration's link number, or why not.
    RegisterApplication {
        description: ApplicationDescription,
        driver: mpsc::UnboundedSender<ApplicationEvent>,
        reattach: Option<Reattach>,
        reply: oneshot::Sender<Result<(String, u64), String>>,
    },
    /// The driver's event stream of registration `link` closed: it stopped or died.
    ApplicationGone {
        app_id: String,
        link: u64,
    },
    /// The time recovering workers and drivers had to register again is over.
    CompleteRecovery,
    /// ZooKeeper elected this master leader; what the last leader persisted.
    ElectedLeader(StoredState),
    /// This master's ZooKeeper session ended: it must stop (Spark's `RevokedLeadership`).
    RevokedLeadership(String),
    /// A client submits a driver (cluster deploy mode); answered with its id.
    SubmitDriver(DriverDescription, oneshot::Sender<String>),
    /// A client asks for a driver's state.
    DriverStatus(String, oneshot::Sender<Option<DriverInfo>>),
    /// A client asks to kill a driver; answered with (found, message).
    KillDriver(String, oneshot::Sender<(bool, String)>),
    /// A user kills an application from the UI (Spark's `MasterWebUI` kill link); answered
    /// with whether it was running.
    KillApplication(String, oneshot::Sender<bool>),
    /// A supervised driver's restart delay is over.
    RelaunchDriver(String),
    /// A worker reports a driver's new state (or the master could not reach the worker).
    DriverStateChanged {
        driver_id: String,
        state: DriverState,
        message: String,
    },
    /// A driver with dynamic allocation sets how many executors its application should have
    /// (Spark's `RequestExecutors`); answered with whether the application is known.
    RequestExecutors {
        app_id: String,
        requested_total: u32,
        reply: oneshot::Sender<bool>,
    },
    /// A driver asks to kill some of its executors; answered with those that were found.
    KillExecutors {
        app_id: String,
        executor_ids: Vec<u32>,
        reply: oneshot::Sender<Vec<u32>>,
    },
    /// A worker reports an executor's new state (or the master could not reach the worker).
    ExecutorStateChanged {
        app_id: String,
        executor_id: u32,
        state: ExecutorState,
        message: String,
        exit_status: Option<i32>,
    },
}

/// A copy of the master's state for the UI.
#[derive(Debug, Clone)]
pub(crate) struct MasterSnapshot {
    pub url: String,
    pub status: &'static str,
    pub workers: Vec<WorkerInfo>,
    /// Waiting and running applications, oldest first.
    pub active_apps: Vec<ApplicationInfo>,
    /// Finished and failed applications, oldest first.
    pub completed_apps: Vec<ApplicationInfo>,
    /// Drivers waiting or running.
    pub active_drivers: Vec<DriverInfo>,
    /// Drivers that ended, oldest first.
    pub completed_drivers: Vec<DriverInfo>,
}

/// Sends events to a running master.
#[derive(Debug, Clone)]
pub(crate) struct MasterHandle {
    events: mpsc::Sender<MasterEvent>,
    /// True while the master is STANDBY: its RPC endpoint refuses every request, so clients
    /// try the next master.
    standby: Arc<AtomicBool>,
}

impl MasterHandle {
    /// True while the master waits to be elected leader.
    pub(crate) fn is_standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }

    /// Posts an event without waiting for an answer; false when the master has stopped.
    pub(crate) async fn post(&self, event: MasterEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> MasterEvent,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.events.send(make(reply)).await.ok()?;
        answer.await.ok()
    }
}

/// The standalone master: its state, changed only by [`MasterEvent`]s handled one at a time
/// (see [`Master::run`]); each event yields the [`Command`]s that carry its effects out.
pub struct Master {
    config: MasterConfig,
    url: String,
    webui_url: String,
    state: RecoveryState,
    workers: BTreeMap<String, WorkerInfo>,
    apps: BTreeMap<String, ApplicationInfo>,
    /// Applications in registration order: executors are placed first come, first served.
    app_order: VecDeque<String>,
    completed_apps: VecDeque<ApplicationInfo>,
    next_app_number: u32,
    drivers: BTreeMap<String, DriverInfo>,
    /// Drivers waiting for a worker, in submission order.
    waiting_drivers: VecDeque<String>,
    completed_drivers: VecDeque<DriverInfo>,
    next_driver_number: u32,
    /// Numbers worker registrations.
    next_worker_incarnation: u64,
    /// Numbers driver registrations (links).
    next_link: u64,
    /// The time of the event being handled, milliseconds since the epoch.
    now_ms: u64,
    /// Commands of the event being handled.
    commands: Vec<Command>,
}

impl Master {
    /// Binds the RPC and web UI ports, takes over what an earlier master persisted (if
    /// `spark.deploy.recoveryMode` says so) and serves until the process ends.
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
        let webui_url = format!(
            "{}://{}:{ui_port}",
            config.security.web_scheme(),
            config.host
        );
        tracing::info!(
            target: "flint_master::ui",
            "Bound MasterWebUI to {}, and started at {webui_url}",
            config.host
        );
        let (events, mut inbox) = mpsc::channel(1024);
        let handle = MasterHandle {
            events,
            standby: Arc::new(AtomicBool::new(true)),
        };
        let timeout_check = handle.clone();
        let check_every = config.worker_timeout / 2;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(check_every.max(Duration::from_millis(100)));
            loop {
                tick.tick().await;
                if !timeout_check.post(MasterEvent::CheckForWorkerTimeOut).await {
                    return;
                }
            }
        });
        let security = config.security.clone();
        let kill_enabled = config.kill_enabled;
        let outbound = crate::rpc::carry_out(url.clone(), handle.clone(), security.clone());
        let session_timeout = config.worker_timeout;
        let mode = config.recovery_mode.clone();
        let mut master = Master::new(config, url.clone(), webui_url);
        let (mut persistence, first) = match mode {
            RecoveryMode::None => (
                Persistence::None,
                master.elect(StoredState::default(), now_millis()),
            ),
            RecoveryMode::FileSystem(directory) => {
                let files = FileSystemPersistence::open(&directory)?;
                let stored = files.read()?;
                let first = master.elect(stored, now_millis());
                (Persistence::FileSystem(files), first)
            }
            RecoveryMode::ZooKeeper { url: ensemble, dir } => {
                let client = connect_zookeeper(&ensemble, session_timeout).await?;
                let znodes = ZooKeeperPersistence::open(client.clone(), &ensemble, &dir).await?;
                let election = LeaderElection::join(client, &ensemble, &dir, &url).await?;
                tracing::info!("This master is STANDBY until it is elected leader");
                master.state = RecoveryState::Standby;
                tokio::spawn(follow_election(
                    election,
                    znodes.clone(),
                    session_timeout,
                    handle.clone(),
                ));
                (Persistence::ZooKeeper(znodes), vec![])
            }
        };
        let standby = Arc::clone(&handle.standby);
        let state = tokio::spawn(async move {
            let mut commands = first;
            loop {
                standby.store(master.state == RecoveryState::Standby, Ordering::Relaxed);
                for command in commands {
                    let done = match command {
                        Command::Persist(object) => persistence.persist(&object).await,
                        Command::Unpersist(name) => persistence.unpersist(&name).await,
                        command => {
                            let _ = outbound.send(command);
                            Ok(())
                        }
                    };
                    if let Err(error) = done {
                        tracing::error!("{error}");
                    }
                }
                let Some(event) = inbox.recv().await else {
                    return Ok(());
                };
                if let MasterEvent::RevokedLeadership(reason) = event {
                    tracing::error!("Leadership has been revoked -- master shutting down.");
                    return Err(MasterError::LeadershipRevoked(reason));
                }
                commands = master.handle(event, now_millis());
            }
        });
        let ui = crate::ui::serve(ui_listener, handle.clone(), &security, kill_enabled);
        let rpc = crate::rpc::serve(rpc_listener, handle, &security);
        tokio::select! {
            result = rpc => result,
            result = ui => result.map_err(MasterError::Ui),
            result = state => result.unwrap_or(Ok(())),
        }
    }

    /// A master with no state yet, reachable at `url`.
    pub(crate) fn new(config: MasterConfig, url: String, webui_url: String) -> Self {
        Master {
            config,
            url,
            webui_url,
            state: RecoveryState::Alive,
            workers: BTreeMap::new(),
            apps: BTreeMap::new(),
            app_order: VecDeque::new(),
            completed_apps: VecDeque::new(),
            next_app_number: 0,
            drivers: BTreeMap::new(),
            waiting_drivers: VecDeque::new(),
            completed_drivers: VecDeque::new(),
            next_driver_number: 0,
            next_worker_incarnation: 0,
            next_link: 0,
            now_ms: 0,
            commands: vec![],
        }
    }

    /// Becomes the leader (Spark's `ElectedLeader`): with nothing persisted, ALIVE at once;
    /// otherwise RECOVERING (Spark's `beginRecovery`): the stored workers, applications and
    /// drivers are taken back as UNKNOWN, each worker is told this master is in charge, and
    /// recovery completes when all have registered again or after `spark.worker.timeout`.
    pub(crate) fn elect(&mut self, stored: StoredState, now_ms: u64) -> Vec<Command> {
        self.now_ms = now_ms;
        self.state = RecoveryState::Alive;
        if !stored.is_empty() {
            self.begin_recovery(stored);
        }
        tracing::info!(
            "I have been elected leader! New state: {}",
            self.state.as_str()
        );
        std::mem::take(&mut self.commands)
    }

    /// Changes the state for one event; returns the commands that carry its effects out.
    pub(crate) fn handle(&mut self, event: MasterEvent, now_ms: u64) -> Vec<Command> {
        self.now_ms = now_ms;
        match event {
            MasterEvent::RegisterWorker(registration, reply) => {
                let _ = reply.send(self.register_worker(registration));
                self.schedule();
            }
            MasterEvent::Heartbeat(worker_id, reply) => {
                let _ = reply.send(self.heartbeat(&worker_id));
            }
            MasterEvent::WorkerLost {
                worker_id,
                incarnation,
                reason,
            } => {
                let current = self.workers.get(&worker_id).map(|w| w.incarnation);
                if incarnation.is_none() || incarnation == current {
                    self.remove_worker(&worker_id, &reason);
                }
                self.schedule();
            }
            MasterEvent::CheckForWorkerTimeOut => {
                self.time_out_dead_workers();
                self.schedule();
            }
            MasterEvent::CompleteRecovery => self.complete_recovery(),
            MasterEvent::ElectedLeader(stored) => return self.elect(stored, now_ms),
            // The master's loop stops on it before it gets here.
            MasterEvent::RevokedLeadership(_) => {}
            MasterEvent::RequestState(reply) => {
                let _ = reply.send(MasterSnapshot {
                    url: self.url.clone(),
                    status: self.state.as_str(),
                    workers: self.workers.values().cloned().collect(),
                    active_apps: self
                        .app_order
                        .iter()
                        .filter_map(|id| self.apps.get(id).cloned())
                        .collect(),
                    completed_apps: self.completed_apps.iter().cloned().collect(),
                    active_drivers: self.drivers.values().cloned().collect(),
                    completed_drivers: self.completed_drivers.iter().cloned().collect(),
                });
            }
            MasterEvent::RegisterApplication {
                description,
                driver,
                reattach,
                reply,
            } => {
                let answer = match reattach {
                    None => Ok(self.register_application(description, driver)),
                    Some(reattach) => self.reattach_application(description, driver, reattach),
                };
                let _ = reply.send(answer);
                self.schedule();
            }
            MasterEvent::SubmitDriver(description, reply) => {
                let _ = reply.send(self.submit_driver(description));
                self.schedule();
            }
            MasterEvent::DriverStatus(driver_id, reply) => {
                let found = self.drivers.get(&driver_id).cloned().or_else(|| {
                    self.completed_drivers
                        .iter()
                        .find(|d| d.id == driver_id)
                        .cloned()
                });
                let _ = reply.send(found);
            }
            MasterEvent::RequestExecutors {
                app_id,
                requested_total,
                reply,
            } => {
                let known = self.set_executor_limit(&app_id, requested_total);
                let _ = reply.send(known);
                if known {
                    self.schedule();
                }
            }
            MasterEvent::KillExecutors {
                app_id,
                executor_ids,
                reply,
            } => {
                let _ = reply.send(self.kill_executors(&app_id, &executor_ids));
            }
            MasterEvent::KillDriver(driver_id, reply) => {
                let _ = reply.send(self.kill_driver(&driver_id));
                self.schedule();
            }
            MasterEvent::KillApplication(app_id, reply) => {
                let running = self.apps.contains_key(&app_id);
                if running {
                    tracing::info!("Asked to kill application {app_id}");
                    self.finish_application(&app_id, ApplicationState::Killed);
                    self.schedule();
                }
                let _ = reply.send(running);
            }
            MasterEvent::RelaunchDriver(driver_id) => {
                if self.drivers.contains_key(&driver_id) {
                    self.waiting_drivers.push_back(driver_id);
                    self.schedule();
                }
            }
            MasterEvent::DriverStateChanged {
                driver_id,
                state,
                message,
            } => {
                self.driver_state_changed(&driver_id, state, message);
                self.schedule();
            }
            MasterEvent::ApplicationGone { app_id, link } => {
                if self.apps.get(&app_id).is_some_and(|app| app.link == link) {
                    self.finish_application(&app_id, ApplicationState::Finished);
                    self.schedule();
                }
            }
            MasterEvent::ExecutorStateChanged {
                app_id,
                executor_id,
                state,
                message,
                exit_status,
            } => {
                self.executor_state_changed(&app_id, executor_id, state, message, exit_status);
                self.schedule();
            }
        }
        std::mem::take(&mut self.commands)
    }
    fn register_worker(&mut self, registration: WorkerRegistration) -> RegistrationOutcome {
        if let Some(known) = self.workers.get_mut(&registration.id) {
            match known.state {
                WorkerState::Alive => {
                    known.last_heartbeat_ms = self.now_ms;
                    return RegistrationOutcome::Registered {
                        master_url: self.url.clone(),
                        master_webui_url: self.webui_url.clone(),
                        duplicate: true,
                        active_apps: self.apps.keys().cloned().collect(),
                    };
                }
                WorkerState::Unknown => return self.worker_recovered(registration),
                WorkerState::Dead => {
                    self.workers.remove(&registration.id);
                }
            }
        }
        // A dead worker at the same address is replaced; a live one is a conflict.
        self.workers.retain(|_, w| {
            !(w.state == WorkerState::Dead
                && w.host == registration.host
                && w.port == registration.port)
        });
        if self.workers.values().any(|w| {
            w.state != WorkerState::Dead
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
        let worker = WorkerInfo {
            id: registration.id.clone(),
            host: registration.host,
            port: registration.port,
            webui_address: registration.webui_address,
            cores: registration.cores,
            cores_used: 0,
            memory_mib: registration.memory_mib,
            memory_used_mib: 0,
            state: WorkerState::Alive,
            last_heartbeat_ms: self.now_ms,
            executors: BTreeSet::new(),
            drivers: BTreeSet::new(),
            incarnation: self.next_worker_incarnation,
        };
        self.next_worker_incarnation += 1;
        let target = worker.reference();
        self.commands
            .push(Command::Persist(Persisted::Worker(worker.stored())));
        self.workers.insert(registration.id, worker);
        // What it runs was lost with it (or with the master before this one, which did not
        // keep its state): the applications were told, so it is stopped (Spark's
        // `WorkerLatestState`).
        for executor in registration.executors {
            tracing::warn!(
                "Killing executor {}/{} on {}: this master does not know it",
                executor.app_id,
                executor.executor_id,
                target.id
            );
            self.commands.push(Command::KillExecutor {
                worker: target.clone(),
                app_id: executor.app_id,
                executor_id: executor.executor_id,
            });
        }
        for driver_id in registration.driver_ids {
            tracing::warn!(
                "Killing driver {driver_id} on {}: this master does not know it",
                target.id
            );
            self.commands.push(Command::KillDriver {
                worker: target.clone(),
                driver_id,
            });
        }
        RegistrationOutcome::Registered {
            master_url: self.url.clone(),
            master_webui_url: self.webui_url.clone(),
            duplicate: false,
            active_apps: self.apps.keys().cloned().collect(),
        }
    }

    /// A worker recovered from the persisted state registers again (Spark's
    /// `WorkerSchedulerStateResponse`): it is ALIVE, its executors go back to their
    /// applications and its drivers to their submissions; what no one knows any more is
    /// stopped.
    fn worker_recovered(&mut self, registration: WorkerRegistration) -> RegistrationOutcome {
        let Some(worker) = self.workers.get_mut(&registration.id) else {
            return RegistrationOutcome::Failed(format!("unknown worker {}", registration.id));
        };
        tracing::info!(worker_id = %worker.id, "Worker has been re-registered: {}", worker.id);
        worker.state = WorkerState::Alive;
        worker.last_heartbeat_ms = self.now_ms;
        worker.webui_address = registration.webui_address;
        let target = worker.reference();
        for running in registration.executors {
            let Some(app) = self.apps.get_mut(&running.app_id) else {
                self.commands.push(Command::KillExecutor {
                    worker: target.clone(),
                    app_id: running.app_id,
                    executor_id: running.executor_id,
                });
                continue;
            };
            app.next_executor_id = app.next_executor_id.max(running.executor_id + 1);
            app.cores_granted += running.cores;
            app.executors.insert(
                running.executor_id,
                ExecutorDesc {
                    id: running.executor_id,
                    worker_id: worker.id.clone(),
                    host: worker.host.clone(),
                    cores: running.cores,
                    memory_mib: running.memory_mib,
                    state: ExecutorState::Running,
                },
            );
            if app.state == ApplicationState::Waiting {
                app.state = ApplicationState::Running;
            }
            worker.cores_used += running.cores;
            worker.memory_used_mib += running.memory_mib;
            worker
                .executors
                .insert((running.app_id, running.executor_id));
        }
        for driver_id in registration.driver_ids {
            let Some(driver) = self.drivers.get_mut(&driver_id) else {
                self.commands.push(Command::KillDriver {
                    worker: target.clone(),
                    driver_id,
                });
                continue;
            };
            self.waiting_drivers.retain(|id| *id != driver_id);
            driver.state = DriverState::Running;
            driver.worker_id = Some(worker.id.clone());
            driver.worker_host_port = Some(format!("{}:{}", worker.host, worker.port));
            worker.cores_used += driver.description.cores;
            worker.memory_used_mib += driver.description.memory_mib;
            worker.drivers.insert(driver_id);
        }
        if self.can_complete_recovery() {
            self.complete_recovery();
        }
        RegistrationOutcome::Registered {
            master_url: self.url.clone(),
            master_webui_url: self.webui_url.clone(),
            duplicate: true,
            active_apps: self.apps.keys().cloned().collect(),
        }
    }

    fn heartbeat(&mut self, worker_id: &str) -> bool {
        match self.workers.get_mut(worker_id) {
            Some(worker) if worker.state == WorkerState::Alive => {
                worker.last_heartbeat_ms = self.now_ms;
                false
            }
            Some(worker) => {
                tracing::info!(
                    worker_id,
                    "Got heartbeat from {} worker {worker_id}; asking it to re-register.",
                    worker.state.as_str().to_ascii_lowercase()
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
        let now = self.now_ms;
        let timeout_ms = self.config.worker_timeout.as_millis() as u64;
        let silent: Vec<String> = self
            .workers
            .values()
            .filter(|w| {
                w.state == WorkerState::Alive
                    && now.saturating_sub(w.last_heartbeat_ms) > timeout_ms
            })
            .map(|w| w.id.clone())
            .collect();
        for worker_id in silent {
            tracing::warn!(
                worker_id = %worker_id,
                "Removing {worker_id} because we got no heartbeat in {} seconds",
                self.config.worker_timeout.as_secs_f64()
            );
            self.remove_worker(&worker_id, "no heartbeat");
        }
        // Dead workers stay visible for (spark.dead.worker.persistence + 1) timeouts, as in Spark.
        let keep_ms = timeout_ms * 16;
        self.workers.retain(|_, w| {
            w.state != WorkerState::Dead || now.saturating_sub(w.last_heartbeat_ms) < keep_ms
        });
    }

    /// Declares a worker DEAD (Spark's `removeWorker`): its executors are reported LOST to
    /// their applications (not counted against `spark.deploy.maxExecutorRetries`), its drivers
    /// end or are relaunched, and nothing is placed on it until it registers again.
    fn remove_worker(&mut self, worker_id: &str, reason: &str) {
        let Some(worker) = self.workers.get_mut(worker_id) else {
            return;
        };
        if worker.state == WorkerState::Dead {
            return;
        }
        tracing::info!(
            worker_id,
            "Removing worker {worker_id} on {}:{} ({reason})",
            worker.host,
            worker.port
        );
        worker.state = WorkerState::Dead;
        worker.cores_used = 0;
        worker.memory_used_mib = 0;
        let lost = std::mem::take(&mut worker.executors);
        let lost_drivers = std::mem::take(&mut worker.drivers);
        self.commands
            .push(Command::Unpersist(worker_name(worker_id)));
        for driver_id in lost_drivers {
            self.driver_ended(
                &driver_id,
                DriverState::Error,
                "its worker was lost".into(),
                true,
            );
        }
        for (app_id, executor_id) in lost {
            if let Some(app) = self.apps.get_mut(&app_id)
                && let Some(executor) = app.executors.remove(&executor_id)
            {
                tracing::info!(
                    app_id = %app_id,
                    "Telling app of lost executor: {executor_id}"
                );
                app.cores_granted = app.cores_granted.saturating_sub(executor.cores);
                app.send(ApplicationEvent::ExecutorUpdated {
                    executor_id,
                    state: ExecutorState::Lost,
                    message: format!("worker {worker_id} lost: {reason}"),
                    exit_status: None,
                    worker_lost: true,
                });
            }
        }
    }
}

/// Pause before a supervised driver that failed starts again, so a driver that always fails
/// does not spin.
const DRIVER_RELAUNCH_DELAY: Duration = Duration::from_secs(1);

/// Recovery (Spark's `beginRecovery`, `canCompleteRecovery` and `completeRecovery`).
impl Master {
    fn begin_recovery(&mut self, stored: StoredState) {
        self.state = RecoveryState::Recovering;
        let mut apps = stored.apps;
        apps.sort_by(|a, b| (a.start_time_ms, &a.id).cmp(&(b.start_time_ms, &b.id)));
        for stored in apps {
            tracing::info!(app_id = %stored.id, "Trying to recover app: {}", stored.id);
            self.next_app_number = self.next_app_number.max(id_number(&stored.id) + 1);
            self.app_order.push_back(stored.id.clone());
            self.apps.insert(
                stored.id.clone(),
                ApplicationInfo {
                    id: stored.id,
                    executor_limit: stored.description.initial_executor_limit,
                    description: stored.description,
                    start_time_ms: stored.start_time_ms,
                    end_time_ms: None,
                    state: ApplicationState::Unknown,
                    executors: BTreeMap::new(),
                    cores_granted: 0,
                    next_executor_id: 0,
                    executor_failures: 0,
                    last_waiting_reason: None,
                    driver: None,
                    link: 0,
                },
            );
        }
        let mut drivers = stored.drivers;
        drivers.sort_by(|a, b| (a.submit_time_ms, &a.id).cmp(&(b.submit_time_ms, &b.id)));
        for stored in drivers {
            self.next_driver_number = self.next_driver_number.max(id_number(&stored.id) + 1);
            if !stored.launched {
                self.waiting_drivers.push_back(stored.id.clone());
            }
            self.drivers.insert(
                stored.id.clone(),
                DriverInfo {
                    id: stored.id,
                    description: stored.description,
                    submit_time_ms: stored.submit_time_ms,
                    state: if stored.launched {
                        DriverState::Running
                    } else {
                        DriverState::Submitted
                    },
                    worker_id: None,
                    worker_host_port: None,
                    message: String::new(),
                },
            );
        }
        for stored in stored.workers {
            tracing::info!(worker_id = %stored.id, "Trying to recover worker: {}", stored.id);
            let worker = WorkerInfo {
                id: stored.id.clone(),
                host: stored.host,
                port: stored.port,
                webui_address: stored.webui_address,
                cores: stored.cores,
                cores_used: 0,
                memory_mib: stored.memory_mib,
                memory_used_mib: 0,
                state: WorkerState::Unknown,
                last_heartbeat_ms: self.now_ms,
                executors: BTreeSet::new(),
                drivers: BTreeSet::new(),
                incarnation: self.next_worker_incarnation,
            };
            self.next_worker_incarnation += 1;
            self.commands.push(Command::MasterChanged {
                worker: worker.reference(),
            });
            self.workers.insert(stored.id, worker);
        }
        self.commands.push(Command::Later {
            delay: self.config.worker_timeout,
            event: MasterEvent::CompleteRecovery,
        });
    }

    /// True once every recovered worker and application has registered again.
    fn can_complete_recovery(&self) -> bool {
        self.state == RecoveryState::Recovering
            && !self
                .workers
                .values()
                .any(|w| w.state == WorkerState::Unknown)
            && !self
                .apps
                .values()
                .any(|a| a.state == ApplicationState::Unknown)
    }

    /// Ends recovery: workers and applications that did not come back are removed, drivers
    /// no worker claimed are relaunched (supervised) or end in ERROR, and the master is
    /// ALIVE and places executors again.
    fn complete_recovery(&mut self) {
        if self.state != RecoveryState::Recovering {
            return;
        }
        let silent: Vec<String> = self
            .workers
            .values()
            .filter(|w| w.state == WorkerState::Unknown)
            .map(|w| w.id.clone())
            .collect();
        for worker_id in silent {
            self.remove_worker(&worker_id, "it did not register with the recovered master");
        }
        let gone: Vec<String> = self
            .apps
            .values()
            .filter(|a| a.state == ApplicationState::Unknown)
            .map(|a| a.id.clone())
            .collect();
        for app_id in gone {
            self.finish_application(&app_id, ApplicationState::Finished);
        }
        let unclaimed: Vec<String> = self
            .drivers
            .values()
            .filter(|d| d.worker_id.is_none() && d.state != DriverState::Submitted)
            .map(|d| d.id.clone())
            .collect();
        for driver_id in unclaimed {
            tracing::warn!("Driver {driver_id} was not found after master recovery");
            self.driver_ended(
                &driver_id,
                DriverState::Error,
                "it was not found after master recovery".into(),
                true,
            );
        }
        self.state = RecoveryState::Alive;
        tracing::info!("Recovery complete - resuming operations!");
        self.schedule();
    }
}

/// Follows this master's place in the ZooKeeper election: once it leads, reads what the
/// last leader persisted and hands it to the master (which recovers it); once its session
/// ends, or it cannot take part any more, tells the master to stop.
async fn follow_election(
    election: LeaderElection,
    znodes: ZooKeeperPersistence,
    session_timeout: Duration,
    master: MasterHandle,
) {
    let elected = match election.wait_for_leadership().await {
        Ok(()) => znodes.read().await,
        Err(error) => Err(error),
    };
    match elected {
        Ok(stored) => {
            master.post(MasterEvent::ElectedLeader(stored)).await;
        }
        Err(error) => {
            master
                .post(MasterEvent::RevokedLeadership(error.to_string()))
                .await;
            return;
        }
    }
    let reason = election.wait_for_session_end(session_timeout).await;
    master.post(MasterEvent::RevokedLeadership(reason)).await;
}

/// The number at the end of an application or driver id (`app-<date>-<NNNN>`).
fn id_number(id: &str) -> u32 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Master {
    fn register_application(
        &mut self,
        description: ApplicationDescription,
        driver: mpsc::UnboundedSender<ApplicationEvent>,
    ) -> (String, u64) {
        let start = self.now_ms;
        let id = flint_common::standalone_app_id(start, self.next_app_number);
        self.next_app_number += 1;
        tracing::info!(app_id = %id, "Registering app {}", description.name);
        tracing::info!(app_id = %id, "Registered app {} with ID {id}", description.name);
        self.next_link += 1;
        let app = ApplicationInfo {
            id: id.clone(),
            executor_limit: description.initial_executor_limit,
            description,
            start_time_ms: start,
            end_time_ms: None,
            state: ApplicationState::Waiting,
            executors: BTreeMap::new(),
            cores_granted: 0,
            next_executor_id: 0,
            executor_failures: 0,
            last_waiting_reason: None,
            driver: Some(driver),
            link: self.next_link,
        };
        app.send(ApplicationEvent::Registered {
            app_id: id.clone(),
            master_url: self.url.clone(),
            cluster_cores: self.cluster_cores(),
        });
        self.commands.push(Command::Persist(Persisted::Application(
            StoredApplication {
                id: id.clone(),
                description: app.description.clone(),
                start_time_ms: start,
            },
        )));
        self.apps.insert(id.clone(), app);
        self.app_order.push_back(id.clone());
        (id, self.next_link)
    }

    /// A driver whose master went away registers its application again (Spark's
    /// `MasterChangeAcknowledged`, asked for by the driver here): known to this master (it
    /// recovered it, or never lost it), it follows the new stream; unknown, it is refused.
    fn reattach_application(
        &mut self,
        description: ApplicationDescription,
        driver: mpsc::UnboundedSender<ApplicationEvent>,
        reattach: Reattach,
    ) -> Result<(String, u64), String> {
        let cluster_cores = self.cluster_cores();
        let Some(app) = self.apps.get_mut(&reattach.app_id) else {
            tracing::warn!(
                app_id = %reattach.app_id,
                "Application {} asked to register again, but this master does not know it",
                reattach.app_id
            );
            return Err(format!(
                "this master does not know application {}",
                reattach.app_id
            ));
        };
        self.next_link += 1;
        app.driver = Some(driver);
        app.link = self.next_link;
        app.next_executor_id = app.next_executor_id.max(reattach.next_executor_id);
        app.executor_limit = description.initial_executor_limit;
        if app.state == ApplicationState::Unknown {
            tracing::info!(app_id = %app.id, "Application has been re-registered: {}", app.id);
            app.state = if app.executors.is_empty() {
                ApplicationState::Waiting
            } else {
                ApplicationState::Running
            };
        }
        app.last_waiting_reason = None;
        app.send(ApplicationEvent::Registered {
            app_id: app.id.clone(),
            master_url: self.url.clone(),
            cluster_cores,
        });
        let answer = (app.id.clone(), app.link);
        if self.can_complete_recovery() {
            self.complete_recovery();
        }
        Ok(answer)
    }

    /// Cores of the alive workers.
    fn cluster_cores(&self) -> u32 {
        self.workers
            .values()
            .filter(|w| w.state == WorkerState::Alive)
            .map(|w| w.cores)
            .sum()
    }

    /// Places executors for applications in registration order (Spark's `schedule` and
    /// `startExecutorsOnWorkers`): each takes what it can before the next one looks.
    /// Nothing is placed while recovering.
    fn schedule(&mut self) {
        if self.state != RecoveryState::Alive {
            return;
        }
        self.schedule_drivers();
        let order: Vec<String> = self.app_order.iter().cloned().collect();
        for app_id in order {
            let Some(app) = self.apps.get(&app_id) else {
                continue;
            };
            let request = ExecutorRequest {
                cores_left: app.cores_left(),
                cores_per_executor: app.description.cores_per_executor,
                memory_per_executor_mib: app.description.memory_per_executor_mib,
                executors_left: app.executors_left(),
            };
            if request.cores_left == 0 || request.executors_left == 0 {
                continue;
            }
            let free: Vec<FreeResources> = self
                .workers
                .values()
                .filter(|w| w.state == WorkerState::Alive)
                .map(WorkerInfo::free)
                .collect();
            let placements = place_executors(&request, &free, self.config.spread_out);
            if placements.is_empty() {
                if app.executors.is_empty() {
                    let reason = explain_shortage(&request, &free);
                    if let Some(app) = self.apps.get_mut(&app_id)
                        && app.last_waiting_reason.as_deref() != Some(reason.as_str())
                    {
                        app.send(ApplicationEvent::Waiting(reason.clone()));
                        app.last_waiting_reason = Some(reason);
                    }
                }
                continue;
            }
            for placement in placements {
                self.launch_executor(&app_id, &placement.worker_id, placement.cores);
            }
        }
    }

    fn launch_executor(&mut self, app_id: &str, worker_id: &str, cores: u32) {
        let (Some(app), Some(worker)) =
            (self.apps.get_mut(app_id), self.workers.get_mut(worker_id))
        else {
            return;
        };
        let executor_id = app.next_executor_id;
        app.next_executor_id += 1;
        let memory_mib = app.description.memory_per_executor_mib;
        tracing::info!(
            app_id,
            "Launching executor {app_id}/{executor_id} on worker {worker_id}"
        );
        worker.cores_used += cores;
        worker.memory_used_mib += memory_mib;
        worker.executors.insert((app_id.to_string(), executor_id));
        app.cores_granted += cores;
        app.state = ApplicationState::Running;
        app.last_waiting_reason = None;
        app.executors.insert(
            executor_id,
            ExecutorDesc {
                id: executor_id,
                worker_id: worker_id.to_string(),
                host: worker.host.clone(),
                cores,
                memory_mib,
                state: ExecutorState::Launching,
            },
        );
        app.send(ApplicationEvent::ExecutorAdded {
            executor_id,
            worker_id: worker_id.to_string(),
            host: worker.host.clone(),
            cores,
            memory_mib,
        });
        self.commands.push(Command::LaunchExecutor {
            worker: worker.reference(),
            app_id: app_id.to_string(),
            executor_id,
            description: app.description.clone(),
            cores,
            memory_mib,
        });
    }

    /// Sets how many executors an application may have (Spark's `handleRequestExecutors`);
    /// false for an unknown application.
    fn set_executor_limit(&mut self, app_id: &str, requested_total: u32) -> bool {
        let Some(app) = self.apps.get_mut(app_id) else {
            tracing::warn!(
                app_id,
                "Unknown application {app_id} requested {requested_total} total executors."
            );
            return false;
        };
        tracing::info!(
            app_id,
            "Application {app_id} requested to set total executors to {requested_total}."
        );
        app.executor_limit = Some(requested_total);
        true
    }

    /// Asks the workers to kill executors of an application (Spark's `handleKillExecutors`);
    /// their KILLED reports free the resources, and `schedule` places replacements while the
    /// application still wants cores.
    fn kill_executors(&mut self, app_id: &str, executor_ids: &[u32]) -> Vec<u32> {
        let Some(app) = self.apps.get(app_id) else {
            tracing::warn!(
                app_id,
                "Unknown application {app_id} asked to kill executors"
            );
            return vec![];
        };
        let mut killed = vec![];
        for &executor_id in executor_ids {
            let Some(executor) = app.executors.get(&executor_id) else {
                continue;
            };
            tracing::info!(
                app_id,
                "Killing executor {app_id}/{executor_id} at the driver's request"
            );
            killed.push(executor_id);
            if let Some(worker) = self.workers.get(&executor.worker_id) {
                self.commands.push(Command::KillExecutor {
                    worker: worker.reference(),
                    app_id: app_id.to_string(),
                    executor_id,
                });
            }
        }
        killed
    }

    fn executor_state_changed(
        &mut self,
        app_id: &str,
        executor_id: u32,
        state: ExecutorState,
        message: String,
        exit_status: Option<i32>,
    ) {
        let Some(app) = self.apps.get_mut(app_id) else {
            // Executors of an application that just ended report their exit too.
            if !self.completed_apps.iter().any(|a| a.id == app_id) {
                tracing::warn!(
                    app_id,
                    "Got status update for unknown executor {app_id}/{executor_id}"
                );
            }
            return;
        };
        let Some(executor) = app.executors.get_mut(&executor_id) else {
            tracing::warn!(
                app_id,
                "Got status update for unknown executor {app_id}/{executor_id}"
            );
            return;
        };
        executor.state = state;
        tracing::info!(
            app_id,
            "Executor {app_id}/{executor_id} is now {}{}",
            state.as_str(),
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        );
        app.send(ApplicationEvent::ExecutorUpdated {
            executor_id,
            state,
            message: message.clone(),
            exit_status,
            worker_lost: false,
        });
        if state == ExecutorState::Running {
            app.executor_failures = 0;
        }
        if !state.is_finished() {
            return;
        }
        let Some(executor) = app.executors.remove(&executor_id) else {
            return;
        };
        app.cores_granted = app.cores_granted.saturating_sub(executor.cores);
        if let Some(worker) = self.workers.get_mut(&executor.worker_id)
            && worker.executors.remove(&(app_id.to_string(), executor_id))
        {
            worker.cores_used = worker.cores_used.saturating_sub(executor.cores);
            worker.memory_used_mib = worker.memory_used_mib.saturating_sub(executor.memory_mib);
        }
        let normal_exit = exit_status == Some(0) || state == ExecutorState::Killed;
        if normal_exit {
            return;
        }
        app.executor_failures += 1;
        let any_running = app
            .executors
            .values()
            .any(|e| e.state == ExecutorState::Running);
        if app.executor_failures >= self.config.max_executor_retries && !any_running {
            tracing::error!(
                app_id,
                "Application {} with ID {app_id} failed {} times; removing it",
                app.description.name,
                app.executor_failures
            );
            self.finish_application(app_id, ApplicationState::Failed);
        }
    }

    /// Ends an application (Spark's `removeApplication`): kills its executors, tells every
    /// worker that ran one to delete its files, and keeps it in the completed list.
    fn finish_application(&mut self, app_id: &str, state: ApplicationState) {
        let Some(mut app) = self.apps.remove(app_id) else {
            return;
        };
        self.app_order.retain(|id| id != app_id);
        tracing::info!(app_id, "Removing app {app_id}");
        for executor in std::mem::take(&mut app.executors).into_values() {
            let Some(worker) = self.workers.get_mut(&executor.worker_id) else {
                continue;
            };
            if worker.executors.remove(&(app_id.to_string(), executor.id)) {
                worker.cores_used = worker.cores_used.saturating_sub(executor.cores);
                worker.memory_used_mib = worker.memory_used_mib.saturating_sub(executor.memory_mib);
            }
            if worker.state == WorkerState::Alive {
                self.commands.push(Command::KillExecutor {
                    worker: worker.reference(),
                    app_id: app_id.to_string(),
                    executor_id: executor.id,
                });
            }
        }
        // Workers whose executors exited earlier may still hold the application's files.
        for worker in self.workers.values() {
            if worker.state == WorkerState::Alive {
                self.commands.push(Command::ApplicationFinished {
                    worker: worker.reference(),
                    app_id: app_id.to_string(),
                });
            }
        }
        self.commands.push(Command::Unpersist(app_name(app_id)));
        if state != ApplicationState::Finished {
            // Spark's ApplicationRemoved: the driver fails its jobs and stops.
            app.send(ApplicationEvent::Removed(state));
        }
        app.cores_granted = 0;
        app.state = state;
        app.end_time_ms = Some(self.now_ms);
        self.completed_apps.push_back(app);
        while self.completed_apps.len() > self.config.retained_applications {
            self.completed_apps.pop_front();
        }
    }
}

impl Master {
    fn submit_driver(&mut self, description: DriverDescription) -> String {
        let now = self.now_ms;
        let id = flint_common::standalone_driver_id(now, self.next_driver_number);
        self.next_driver_number += 1;
        tracing::info!("Driver submitted {}", description.application);
        self.commands
            .push(Command::Persist(Persisted::Driver(StoredDriver {
                id: id.clone(),
                description: description.clone(),
                submit_time_ms: now,
                launched: false,
            })));
        self.drivers.insert(
            id.clone(),
            DriverInfo {
                id: id.clone(),
                description,
                submit_time_ms: now,
                state: DriverState::Submitted,
                worker_id: None,
                worker_host_port: None,
                message: String::new(),
            },
        );
        self.waiting_drivers.push_back(id.clone());
        id
    }

    /// Starts waiting drivers on alive workers with room, the worker with the most free
    /// cores first (Spark shuffles the workers; either spreads drivers out).
    fn schedule_drivers(&mut self) {
        let waiting: Vec<String> = self.waiting_drivers.iter().cloned().collect();
        for driver_id in waiting {
            let Some(driver) = self.drivers.get(&driver_id) else {
                continue;
            };
            let (cores, memory) = (driver.description.cores, driver.description.memory_mib);
            let chosen = self
                .workers
                .values()
                .filter(|w| w.state == WorkerState::Alive)
                .filter(|w| {
                    let free = w.free();
                    free.cores_free >= cores && free.memory_free_mib >= memory
                })
                .max_by_key(|w| w.cores.saturating_sub(w.cores_used))
                .map(|w| w.id.clone());
            let Some(worker_id) = chosen else {
                continue;
            };
            self.waiting_drivers.retain(|id| *id != driver_id);
            self.launch_driver(&driver_id, &worker_id);
        }
    }

    fn launch_driver(&mut self, driver_id: &str, worker_id: &str) {
        let (Some(driver), Some(worker)) = (
            self.drivers.get_mut(driver_id),
            self.workers.get_mut(worker_id),
        ) else {
            return;
        };
        tracing::info!("Launching driver {driver_id} on worker {worker_id}");
        worker.cores_used += driver.description.cores;
        worker.memory_used_mib += driver.description.memory_mib;
        worker.drivers.insert(driver_id.to_string());
        driver.state = DriverState::Running;
        driver.worker_id = Some(worker_id.to_string());
        driver.worker_host_port = Some(format!("{}:{}", worker.host, worker.port));
        self.commands
            .push(Command::Persist(Persisted::Driver(StoredDriver {
                id: driver.id.clone(),
                description: driver.description.clone(),
                submit_time_ms: driver.submit_time_ms,
                launched: true,
            })));
        self.commands.push(Command::LaunchDriver {
            worker: worker.reference(),
            driver_id: driver_id.to_string(),
            description: driver.description.clone(),
        });
    }

    fn kill_driver(&mut self, driver_id: &str) -> (bool, String) {
        let Some(driver) = self.drivers.get(driver_id) else {
            return (
                false,
                format!("Driver {driver_id} has already finished or does not exist"),
            );
        };
        tracing::info!("Asked to kill driver {driver_id}");
        match driver.worker_id.clone() {
            Some(worker_id) if driver.state == DriverState::Running => {
                if let Some(worker) = self.workers.get(&worker_id) {
                    self.commands.push(Command::KillDriver {
                        worker: worker.reference(),
                        driver_id: driver_id.to_string(),
                    });
                }
            }
            _ => {
                self.waiting_drivers.retain(|id| id != driver_id);
                self.driver_ended(driver_id, DriverState::Killed, String::new(), false);
            }
        }
        (true, format!("Kill request for {driver_id} submitted"))
    }

    fn driver_state_changed(&mut self, driver_id: &str, state: DriverState, message: String) {
        let Some(driver) = self.drivers.get_mut(driver_id) else {
            tracing::warn!(
                "Got state {} for unknown driver {driver_id}",
                state.as_str()
            );
            return;
        };
        tracing::info!(
            "Driver {driver_id} is now {}{}",
            state.as_str(),
            if message.is_empty() {
                String::new()
            } else {
                format!(" ({message})")
            }
        );
        if !state.is_finished() {
            driver.state = state;
            return;
        }
        self.driver_ended(driver_id, state, message, false);
    }

    /// A driver's process ended (or its worker died): frees the worker, then relaunches a
    /// supervised driver that exited non-zero or lost its worker, or keeps the driver among
    /// the completed ones. (A driver that cannot even start is not relaunched.)
    fn driver_ended(
        &mut self,
        driver_id: &str,
        state: DriverState,
        message: String,
        worker_lost: bool,
    ) {
        let Some(mut driver) = self.drivers.remove(driver_id) else {
            return;
        };
        if let Some(worker_id) = &driver.worker_id
            && let Some(worker) = self.workers.get_mut(worker_id)
            && worker.drivers.remove(driver_id)
        {
            worker.cores_used = worker.cores_used.saturating_sub(driver.description.cores);
            worker.memory_used_mib = worker
                .memory_used_mib
                .saturating_sub(driver.description.memory_mib);
        }
        let relaunch =
            driver.description.supervise && (state == DriverState::Failed || worker_lost);
        if relaunch {
            tracing::info!("Re-launching {driver_id} in {DRIVER_RELAUNCH_DELAY:?}");
            driver.state = DriverState::Relaunching;
            driver.message = message;
            driver.worker_id = None;
            driver.worker_host_port = None;
            self.drivers.insert(driver_id.to_string(), driver);
            self.commands.push(Command::Later {
                delay: DRIVER_RELAUNCH_DELAY,
                event: MasterEvent::RelaunchDriver(driver_id.to_string()),
            });
            return;
        }
        driver.state = state;
        driver.message = message;
        self.commands
            .push(Command::Unpersist(driver_name(driver_id)));
        self.completed_drivers.push_back(driver);
        while self.completed_drivers.len() > self.config.retained_applications {
            self.completed_drivers.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The master's transitions, driven by events with no network and no clock: what each
    //! event changes and which commands it gives.
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn config() -> MasterConfig {
        MasterConfig {
            host: "127.0.0.1".into(),
            port: 7077,
            webui_port: 8080,
            worker_timeout: Duration::from_secs(60),
            port_max_retries: 0,
            spread_out: true,
            max_executor_retries: 10,
            retained_applications: 200,
            recovery_mode: RecoveryMode::None,
            security: flint_rpc::RpcSecurity::none(),
            kill_enabled: true,
        }
    }

    fn master() -> Master {
        Master::new(
            config(),
            "spark://127.0.0.1:7077".into(),
            "http://127.0.0.1:8080".into(),
        )
    }

    /// A persistence engine in memory, fed the commands a master gives.
    #[derive(Default)]
    struct Kept(BTreeMap<String, Persisted>);

    impl Kept {
        fn read(&self) -> StoredState {
            let mut state = StoredState::default();
            for object in self.0.values() {
                match object.clone() {
                    Persisted::Worker(w) => state.workers.push(w),
                    Persisted::Application(a) => state.apps.push(a),
                    Persisted::Driver(d) => state.drivers.push(d),
                }
            }
            state
        }
    }

    impl Kept {
        /// Applies the persistence commands among `commands`; returns the others.
        fn apply(&mut self, commands: Vec<Command>) -> Vec<Command> {
            let mut others = vec![];
            for command in commands {
                match command {
                    Command::Persist(object) => {
                        self.0.insert(object.name(), object);
                    }
                    Command::Unpersist(name) => {
                        self.0.remove(&name);
                    }
                    other => others.push(other),
                }
            }
            others
        }
    }

    fn registration(id: &str, port: u16, cores: u32) -> WorkerRegistration {
        WorkerRegistration {
            id: id.into(),
            host: "127.0.0.1".into(),
            port,
            cores,
            memory_mib: 4096,
            webui_address: format!("http://127.0.0.1:{}", port + 1000),
            executors: vec![],
            driver_ids: vec![],
        }
    }

    fn register_worker(
        master: &mut Master,
        registration: WorkerRegistration,
        now: u64,
    ) -> (RegistrationOutcome, Vec<Command>) {
        let (reply, mut answer) = oneshot::channel();
        let commands = master.handle(MasterEvent::RegisterWorker(registration, reply), now);
        let outcome = answer.try_recv().expect("answered at once");
        (outcome, commands)
    }

    fn description(max_cores: u32) -> ApplicationDescription {
        ApplicationDescription {
            name: "app".into(),
            max_cores: Some(max_cores),
            cores_per_executor: Some(1),
            memory_per_executor_mib: 512,
            driver_url: "127.0.0.1:40000".into(),
            user: "me".into(),
            conf: BTreeMap::new(),
            app_ui_url: None,
            initial_executor_limit: None,
        }
    }

    /// An application's registration: the answer, the driver's end of its events, and the
    /// commands.
    type Registered = (
        Result<(String, u64), String>,
        mpsc::UnboundedReceiver<ApplicationEvent>,
        Vec<Command>,
    );

    /// Registers (or, with `reattach`, registers again) an application; returns its id,
    /// link, the driver's end of its events and the commands.
    fn register_app(
        master: &mut Master,
        description: ApplicationDescription,
        reattach: Option<Reattach>,
        now: u64,
    ) -> Registered {
        let (driver, events) = mpsc::unbounded_channel();
        let (reply, mut answer) = oneshot::channel();
        let commands = master.handle(
            MasterEvent::RegisterApplication {
                description,
                driver,
                reattach,
                reply,
            },
            now,
        );
        let answer = answer.try_recv().expect("answered at once");
        (answer, events, commands)
    }

    fn launched_executors(commands: &[Command]) -> Vec<(String, u32, String)> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::LaunchExecutor {
                    worker,
                    app_id,
                    executor_id,
                    ..
                } => Some((app_id.clone(), *executor_id, worker.id.clone())),
                _ => None,
            })
            .collect()
    }

    fn drain(events: &mut mpsc::UnboundedReceiver<ApplicationEvent>) -> Vec<ApplicationEvent> {
        std::iter::from_fn(|| events.try_recv().ok()).collect()
    }

    /// A worker silent for longer than `spark.worker.timeout` is DEAD: its executors are
    /// LOST to their application (as a worker loss), its resources leave, it is no longer
    /// persisted, and replacements go to the live worker.
    #[test]
    fn worker_timeout_marks_its_executors_lost() {
        let mut master = master();
        register_worker(&mut master, registration("w1", 7001, 2), T0);
        register_worker(&mut master, registration("w2", 7002, 2), T0);
        let (app, mut events, commands) = register_app(&mut master, description(2), None, T0);
        let (app_id, _) = app.unwrap();
        let launched = launched_executors(&commands);
        assert_eq!(launched.len(), 2, "spread out, one core each");
        drain(&mut events);

        // w2 keeps beating; w1 is silent.
        let (reply, _) = oneshot::channel();
        master.handle(MasterEvent::Heartbeat("w2".into(), reply), T0 + 50_000);
        let commands = master.handle(MasterEvent::CheckForWorkerTimeOut, T0 + 61_000);
        assert_eq!(master.workers["w1"].state, WorkerState::Dead);
        assert_eq!(master.workers["w1"].cores_used, 0);
        let lost = launched.iter().find(|(_, _, w)| w == "w1").unwrap().1;
        assert!(
            drain(&mut events).contains(&ApplicationEvent::ExecutorUpdated {
                executor_id: lost,
                state: ExecutorState::Lost,
                message: "worker w1 lost: no heartbeat".into(),
                exit_status: None,
                worker_lost: true,
            })
        );
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::Unpersist(name) if name == "worker_w1"))
        );
        // The lost core is placed again, on w2.
        assert_eq!(
            launched_executors(&commands),
            vec![(app_id.clone(), 2, "w2".into())]
        );
        assert_eq!(master.apps[&app_id].cores_granted, 2);
    }

    /// An application whose driver goes away finishes: its executors are killed, every
    /// worker is told to delete its files, the cores are free again, and it is no longer
    /// persisted. The end of an earlier stream of the same application changes nothing.
    #[test]
    fn application_finish_frees_resources() {
        let mut master = master();
        register_worker(&mut master, registration("w1", 7001, 4), T0);
        let (app, _events, _) = register_app(&mut master, description(2), None, T0);
        let (app_id, link) = app.unwrap();
        assert_eq!(master.workers["w1"].cores_used, 2);

        let stale = master.handle(
            MasterEvent::ApplicationGone {
                app_id: app_id.clone(),
                link: link + 7,
            },
            T0 + 1,
        );
        assert!(stale.is_empty());
        assert!(master.apps.contains_key(&app_id));

        let commands = master.handle(
            MasterEvent::ApplicationGone {
                app_id: app_id.clone(),
                link,
            },
            T0 + 2,
        );
        let kills = commands
            .iter()
            .filter(|c| matches!(c, Command::KillExecutor { .. }))
            .count();
        assert_eq!(kills, 2);
        assert!(
            commands.iter().any(
                |c| matches!(c, Command::ApplicationFinished { app_id: a, .. } if *a == app_id)
            )
        );
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::Unpersist(name) if *name == format!("app_{app_id}")))
        );
        assert_eq!(master.workers["w1"].cores_used, 0);
        assert_eq!(master.workers["w1"].memory_used_mib, 0);
        assert_eq!(master.completed_apps[0].state, ApplicationState::Finished);
        assert_eq!(master.completed_apps[0].end_time_ms, Some(T0 + 2));
    }

    /// `--supervise`: a driver that fails is launched again after a pause; one that is not
    /// supervised ends FAILED and is forgotten by the persistence.
    #[test]
    fn supervised_driver_is_relaunched() {
        let mut master = master();
        register_worker(&mut master, registration("w1", 7001, 4), T0);
        let submit = |master: &mut Master, supervise: bool| {
            let (reply, mut answer) = oneshot::channel();
            let description = DriverDescription {
                application: "/app.sql".into(),
                arguments: vec![],
                cores: 1,
                memory_mib: 256,
                supervise,
                conf: BTreeMap::new(),
            };
            let commands = master.handle(MasterEvent::SubmitDriver(description, reply), T0);
            (answer.try_recv().unwrap(), commands)
        };
        let (supervised, commands) = submit(&mut master, true);
        assert!(commands.iter().any(
            |c| matches!(c, Command::LaunchDriver { driver_id, .. } if *driver_id == supervised)
        ));
        let failed = |driver_id: &str| MasterEvent::DriverStateChanged {
            driver_id: driver_id.into(),
            state: DriverState::Failed,
            message: "exit code 1".into(),
        };
        let commands = master.handle(failed(&supervised), T0 + 1);
        assert_eq!(master.drivers[&supervised].state, DriverState::Relaunching);
        assert_eq!(master.workers["w1"].cores_used, 0);
        let Some(Command::Later { delay, event }) = commands
            .into_iter()
            .find(|c| matches!(c, Command::Later { .. }))
        else {
            panic!("no relaunch timer");
        };
        assert_eq!(delay, DRIVER_RELAUNCH_DELAY);
        let commands = master.handle(event, T0 + 1_001);
        assert!(commands.iter().any(
            |c| matches!(c, Command::LaunchDriver { driver_id, .. } if *driver_id == supervised)
        ));
        assert_eq!(master.drivers[&supervised].state, DriverState::Running);

        let (plain, _) = submit(&mut master, false);
        let commands = master.handle(failed(&plain), T0 + 2_000);
        assert!(!master.drivers.contains_key(&plain));
        assert_eq!(
            master.completed_drivers.back().map(|d| d.state),
            Some(DriverState::Failed)
        );
        assert!(
            commands.iter().any(
                |c| matches!(c, Command::Unpersist(name) if *name == format!("driver_{plain}"))
            )
        );
    }

    /// A worker that registers with executors and drivers this (alive) master does not know
    /// — it was declared dead, or the master restarted without recovery — has them killed.
    #[test]
    fn unknown_executors_of_a_registering_worker_are_killed() {
        let mut master = master();
        let mut worker = registration("w1", 7001, 4);
        worker.executors.push(RunningExecutor {
            app_id: "app-1-0000".into(),
            executor_id: 3,
            cores: 1,
            memory_mib: 512,
        });
        worker.driver_ids.push("driver-1-0000".into());
        let (outcome, commands) = register_worker(&mut master, worker, T0);
        assert!(matches!(
            outcome,
            RegistrationOutcome::Registered {
                duplicate: false,
                ..
            }
        ));
        assert!(commands.iter().any(|c| matches!(
            c,
            Command::KillExecutor { app_id, executor_id: 3, .. } if app_id == "app-1-0000"
        )));
        assert!(commands.iter().any(
            |c| matches!(c, Command::KillDriver { driver_id, .. } if driver_id == "driver-1-0000")
        ));
        assert_eq!(master.workers["w1"].cores_used, 0);
        // An application this master never had cannot register again.
        let (answer, _, _) = register_app(
            &mut master,
            description(1),
            Some(Reattach {
                app_id: "app-1-0000".into(),
                next_executor_id: 4,
            }),
            T0,
        );
        assert!(
            answer
                .unwrap_err()
                .contains("does not know application app-1-0000")
        );
    }

    /// A master started on the persisted state of one that ran a worker, an application
    /// with executors and a supervised driver is RECOVERING: it tells the worker it took
    /// over and places nothing. The worker registers again with what it runs, the driver
    /// registers its application again: executors, cores and drivers are as before, and
    /// the master is ALIVE without waiting for the timeout. New executor ids continue after
    /// the highest the driver saw.
    #[test]
    fn recovery_takes_back_workers_applications_and_drivers() {
        let mut kept = Kept::default();
        let mut first = master();
        let (_, commands) = register_worker(&mut first, registration("w1", 7001, 4), T0);
        kept.apply(commands);
        let (app, _events, commands) = register_app(&mut first, description(2), None, T0);
        let (app_id, _) = app.unwrap();
        let launched = launched_executors(&kept.apply(commands));
        assert_eq!(launched.len(), 2);
        let (reply, mut answer) = oneshot::channel();
        let driver = DriverDescription {
            application: "/app.sql".into(),
            arguments: vec![],
            cores: 1,
            memory_mib: 256,
            supervise: true,
            conf: BTreeMap::new(),
        };
        kept.apply(first.handle(MasterEvent::SubmitDriver(driver, reply), T0));
        let driver_id = answer.try_recv().unwrap();
        drop(first);

        let mut second = master();
        let commands = second.elect(kept.read(), T0 + 10_000);
        assert_eq!(second.state, RecoveryState::Recovering);
        assert_eq!(second.workers["w1"].state, WorkerState::Unknown);
        assert_eq!(second.apps[&app_id].state, ApplicationState::Unknown);
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::MasterChanged { worker } if worker.id == "w1"))
        );
        assert!(commands.iter().any(|c| matches!(
            c,
            Command::Later { delay, event: MasterEvent::CompleteRecovery }
                if *delay == Duration::from_secs(60)
        )));

        // A new application registers but gets nothing while recovering.
        let (other, _other_events, commands) =
            register_app(&mut second, description(1), None, T0 + 10_001);
        let (other_id, _) = other.unwrap();
        assert_ne!(other_id, app_id, "ids continue after the recovered ones");
        assert!(launched_executors(&commands).is_empty());

        let mut worker = registration("w1", 7001, 4);
        worker.executors = launched
            .iter()
            .map(|(app_id, executor_id, _)| RunningExecutor {
                app_id: app_id.clone(),
                executor_id: *executor_id,
                cores: 1,
                memory_mib: 512,
            })
            .collect();
        worker.driver_ids = vec![driver_id.clone()];
        let (outcome, commands) = register_worker(&mut second, worker, T0 + 10_500);
        assert!(matches!(outcome, RegistrationOutcome::Registered { .. }));
        assert!(launched_executors(&commands).is_empty(), "still recovering");
        assert_eq!(second.workers["w1"].state, WorkerState::Alive);
        assert_eq!(
            second.workers["w1"].cores_used, 3,
            "2 executors and the driver"
        );
        assert_eq!(second.apps[&app_id].executors.len(), 2);
        assert_eq!(second.drivers[&driver_id].state, DriverState::Running);
        assert_eq!(second.drivers[&driver_id].worker_id.as_deref(), Some("w1"));
        assert_eq!(second.state, RecoveryState::Recovering);

        let (answer, mut events, commands) = register_app(
            &mut second,
            description(3),
            Some(Reattach {
                app_id: app_id.clone(),
                next_executor_id: 5,
            }),
            T0 + 11_000,
        );
        assert_eq!(answer.unwrap().0, app_id);
        assert!(matches!(
            drain(&mut events).first(),
            Some(ApplicationEvent::Registered { .. })
        ));
        assert_eq!(second.state, RecoveryState::Alive, "everyone is back");
        assert_eq!(second.apps[&app_id].state, ApplicationState::Running);
        // ALIVE again: the newcomer gets its core (one left on w1).
        assert_eq!(
            launched_executors(&commands),
            vec![(other_id.clone(), 0, "w1".into())]
        );
        // The recovered application's next executor follows the driver's count.
        assert_eq!(second.apps[&app_id].next_executor_id, 5);
        // The timer that was set when recovery began finds nothing to do.
        assert!(
            second
                .handle(MasterEvent::CompleteRecovery, T0 + 70_000)
                .is_empty()
        );
    }

    /// Recovery that times out: a worker that never registered again is removed, an
    /// application whose driver never came back is finished, a launched supervised driver no
    /// worker claimed is relaunched and a waiting one waits on; then the master is ALIVE.
    #[test]
    fn recovery_completes_after_the_timeout_without_the_missing() {
        let stored = StoredState {
            workers: vec![StoredWorker {
                id: "w1".into(),
                host: "127.0.0.1".into(),
                port: 7001,
                cores: 2,
                memory_mib: 1024,
                webui_address: String::new(),
            }],
            apps: vec![StoredApplication {
                id: "app-20260101000000-0003".into(),
                description: description(1),
                start_time_ms: T0,
            }],
            drivers: vec![
                StoredDriver {
                    id: "driver-20260101000000-0000".into(),
                    description: DriverDescription {
                        application: "/a.sql".into(),
                        arguments: vec![],
                        cores: 1,
                        memory_mib: 128,
                        supervise: true,
                        conf: BTreeMap::new(),
                    },
                    submit_time_ms: T0,
                    launched: true,
                },
                StoredDriver {
                    id: "driver-20260101000000-0001".into(),
                    description: DriverDescription {
                        application: "/b.sql".into(),
                        arguments: vec![],
                        cores: 1,
                        memory_mib: 128,
                        supervise: false,
                        conf: BTreeMap::new(),
                    },
                    submit_time_ms: T0 + 1,
                    launched: false,
                },
            ],
        };
        let mut master = master();
        master.elect(stored, T0 + 5_000);
        assert_eq!(master.next_app_number, 4);
        assert_eq!(master.next_driver_number, 2);
        let commands = master.handle(MasterEvent::CompleteRecovery, T0 + 65_000);
        assert_eq!(master.state, RecoveryState::Alive);
        assert_eq!(master.workers["w1"].state, WorkerState::Dead);
        assert!(master.apps.is_empty());
        assert_eq!(master.completed_apps[0].state, ApplicationState::Finished);
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, Command::Unpersist(name) if name == "worker_w1"))
        );
        assert!(commands.iter().any(|c| matches!(
            c,
            Command::Unpersist(name) if name == "app_app-20260101000000-0003"
        )));
        assert_eq!(
            master.drivers["driver-20260101000000-0000"].state,
            DriverState::Relaunching
        );
        assert!(commands.iter().any(|c| matches!(
            c,
            Command::Later { event: MasterEvent::RelaunchDriver(id), .. }
                if id == "driver-20260101000000-0000"
        )));
        assert_eq!(
            master.drivers["driver-20260101000000-0001"].state,
            DriverState::Submitted
        );
        assert!(
            master
                .waiting_drivers
                .contains(&"driver-20260101000000-0001".to_string())
        );
    }
}
