use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use flint_common::now_millis;

use flint_conf::{ConfError, SparkConf, format_size, keys};
use flint_rpc::deploy::worker_client::WorkerClient;
use flint_rpc::{RpcError, bind_service};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tonic::transport::Channel;

use crate::application::{
    ApplicationDescription, ApplicationEvent, ApplicationInfo, ApplicationState, ExecutorDesc,
    ExecutorState,
};
use crate::driver::{DriverDescription, DriverInfo, DriverState};
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
    /// The executors it runs: (application id, executor id).
    pub executors: BTreeSet<(String, u32)>,
    /// The drivers it runs.
    pub drivers: BTreeSet<String>,
    /// Its RPC endpoint, connected on first use.
    pub(crate) client: Option<WorkerClient<Channel>>,
    /// Which registration of this worker id it is, so news about an earlier one (a launch
    /// that failed before the worker registered again) does not remove it.
    pub(crate) incarnation: u64,
}

impl WorkerInfo {
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
    /// A driver registers; answered with the application's id.
    RegisterApplication(
        ApplicationDescription,
        mpsc::UnboundedSender<ApplicationEvent>,
        oneshot::Sender<String>,
    ),
    /// The driver's event stream closed: it stopped or died.
    ApplicationGone(String),
    /// A client submits a driver (cluster deploy mode); answered with its id.
    SubmitDriver(DriverDescription, oneshot::Sender<String>),
    /// A client asks for a driver's state.
    DriverStatus(String, oneshot::Sender<Option<DriverInfo>>),
    /// A client asks to kill a driver; answered with (found, message).
    KillDriver(String, oneshot::Sender<(bool, String)>),
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
}

impl MasterHandle {
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

/// The standalone master: its state lives in one task (see [`Master::run`]).
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    url: String,
    webui_url: String,
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
    /// For tasks the master spawns (worker RPCs) to report back.
    events: mpsc::Sender<MasterEvent>,
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
            apps: BTreeMap::new(),
            app_order: VecDeque::new(),
            completed_apps: VecDeque::new(),
            next_app_number: 0,
            drivers: BTreeMap::new(),
            waiting_drivers: VecDeque::new(),
            completed_drivers: VecDeque::new(),
            next_driver_number: 0,
            next_worker_incarnation: 0,
            events: handle.events.clone(),
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
                MasterEvent::RequestState(reply) => {
                    let _ = reply.send(MasterSnapshot {
                        url: self.url.clone(),
                        status: "ALIVE",
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
                MasterEvent::RegisterApplication(description, driver, reply) => {
                    let _ = reply.send(self.register_application(description, driver));
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
                MasterEvent::ApplicationGone(app_id) => {
                    self.finish_application(&app_id, ApplicationState::Finished);
                    self.schedule();
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
                executors: BTreeSet::new(),
                drivers: BTreeSet::new(),
                client: None,
                incarnation: self.next_worker_incarnation,
            },
        );
        self.next_worker_incarnation += 1;
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
            w.state == WorkerState::Alive || now.saturating_sub(w.last_heartbeat_ms) < keep_ms
        });
    }

    /// Declares a worker DEAD (Spark's `removeWorker`): its executors are reported LOST to
    /// their applications (not counted against `spark.deploy.maxExecutorRetries`), its drivers
    /// end or are relaunched, and nothing is placed on it until it registers again.
    fn remove_worker(&mut self, worker_id: &str, reason: &str) {
        let Some(worker) = self.workers.get_mut(worker_id) else {
            return;
        };
        if worker.state != WorkerState::Alive {
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
        worker.client = None;
        let lost = std::mem::take(&mut worker.executors);
        let lost_drivers = std::mem::take(&mut worker.drivers);
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

/// How long the master waits for a worker to answer a launch or kill.
const WORKER_RPC_TIMEOUT: Duration = Duration::from_secs(10);

impl Master {
    fn register_application(
        &mut self,
        description: ApplicationDescription,
        driver: mpsc::UnboundedSender<ApplicationEvent>,
    ) -> String {
        let start = now_millis();
        let id = flint_common::standalone_app_id(start, self.next_app_number);
        self.next_app_number += 1;
        tracing::info!(app_id = %id, "Registering app {}", description.name);
        tracing::info!(app_id = %id, "Registered app {} with ID {id}", description.name);
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
            driver,
        };
        app.send(ApplicationEvent::Registered {
            app_id: id.clone(),
            master_url: self.url.clone(),
            cluster_cores: self
                .workers
                .values()
                .filter(|w| w.state == WorkerState::Alive)
                .map(|w| w.cores)
                .sum(),
        });
        self.apps.insert(id.clone(), app);
        self.app_order.push_back(id.clone());
        id
    }

    /// Places executors for applications in registration order (Spark's `schedule` and
    /// `startExecutorsOnWorkers`): each takes what it can before the next one looks.
    fn schedule(&mut self) {
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
        let request = flint_rpc::deploy::LaunchExecutorRequest {
            master_url: self.url.clone(),
            app_id: app_id.to_string(),
            executor_id,
            description: Some(crate::rpc::description_to_wire(&app.description)),
            cores,
            memory_mib,
        };
        let Some(mut client) = worker_client(worker) else {
            self.post_later(MasterEvent::ExecutorStateChanged {
                app_id: app_id.to_string(),
                executor_id,
                state: ExecutorState::Failed,
                message: format!("worker {worker_id} has no usable address"),
                exit_status: None,
            });
            return;
        };
        let events = self.events.clone();
        let app_id = app_id.to_string();
        let worker = (worker_id.to_string(), worker.incarnation);
        tokio::spawn(async move {
            let Err(status) = client.launch_executor(request).await else {
                return;
            };
            let what = format!("executor {app_id}/{executor_id}");
            let event = launch_failure(worker, &what, &status, |message| {
                MasterEvent::ExecutorStateChanged {
                    app_id,
                    executor_id,
                    state: ExecutorState::Failed,
                    message,
                    exit_status: None,
                }
            });
            let _ = events.send(event).await;
        });
    }

    /// Posts an event to this master's own queue from a task, so the state is never
    /// changed re-entrantly.
    fn post_later(&self, event: MasterEvent) {
        let events = self.events.clone();
        tokio::spawn(async move {
            let _ = events.send(event).await;
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
            if let Some(mut client) = self
                .workers
                .get_mut(&executor.worker_id)
                .and_then(worker_client)
            {
                let kill = flint_rpc::deploy::KillExecutorRequest {
                    app_id: app_id.to_string(),
                    executor_id,
                };
                tokio::spawn(async move {
                    let _ = client.kill_executor(kill).await;
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
            if let Some(mut client) = worker_client(worker) {
                let kill = flint_rpc::deploy::KillExecutorRequest {
                    app_id: app_id.to_string(),
                    executor_id: executor.id,
                };
                tokio::spawn(async move {
                    let _ = client.kill_executor(kill).await;
                });
            }
        }
        // Workers whose executors exited earlier may still hold the application's files.
        for worker in self.workers.values_mut() {
            if worker.state != WorkerState::Alive {
                continue;
            }
            if let Some(mut client) = worker_client(worker) {
                let finished = flint_rpc::deploy::ApplicationFinishedRequest {
                    app_id: app_id.to_string(),
                };
                tokio::spawn(async move {
                    let _ = client.application_finished(finished).await;
                });
            }
        }
        if state != ApplicationState::Finished {
            // Spark's ApplicationRemoved: the driver fails its jobs and stops.
            app.send(ApplicationEvent::Removed(state));
        }
        app.cores_granted = 0;
        app.state = state;
        app.end_time_ms = Some(now_millis());
        self.completed_apps.push_back(app);
        while self.completed_apps.len() > self.config.retained_applications {
            self.completed_apps.pop_front();
        }
    }
}

impl Master {
    fn submit_driver(&mut self, description: DriverDescription) -> String {
        let now = now_millis();
        let id = flint_common::standalone_driver_id(now, self.next_driver_number);
        self.next_driver_number += 1;
        tracing::info!("Driver submitted {}", description.application);
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
        let request = flint_rpc::deploy::LaunchDriverRequest {
            driver_id: driver_id.to_string(),
            master_url: self.url.clone(),
            description: Some(crate::rpc::driver_description_to_wire(&driver.description)),
        };
        let Some(mut client) = worker_client(worker) else {
            self.post_later(MasterEvent::DriverStateChanged {
                driver_id: driver_id.to_string(),
                state: DriverState::Error,
                message: format!("worker {worker_id} has no usable address"),
            });
            return;
        };
        let events = self.events.clone();
        let driver_id = driver_id.to_string();
        let worker = (worker_id.to_string(), worker.incarnation);
        tokio::spawn(async move {
            let Err(status) = client.launch_driver(request).await else {
                return;
            };
            let what = format!("driver {driver_id}");
            let event = launch_failure(worker, &what, &status, |message| {
                MasterEvent::DriverStateChanged {
                    driver_id,
                    state: DriverState::Error,
                    message,
                }
            });
            let _ = events.send(event).await;
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
                if let Some(worker) = self.workers.get_mut(&worker_id)
                    && let Some(mut client) = worker_client(worker)
                {
                    let kill = flint_rpc::deploy::KillDriverRequest {
                        driver_id: driver_id.to_string(),
                    };
                    tokio::spawn(async move {
                        let _ = client.kill_driver(kill).await;
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
            let events = self.events.clone();
            let driver_id = driver_id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(DRIVER_RELAUNCH_DELAY).await;
                let _ = events.send(MasterEvent::RelaunchDriver(driver_id)).await;
            });
            return;
        }
        driver.state = state;
        driver.message = message;
        self.completed_drivers.push_back(driver);
        while self.completed_drivers.len() > self.config.retained_applications {
            self.completed_drivers.pop_front();
        }
    }
}

/// What a failed launch of `what` on a worker (its id and incarnation) means: a worker that
/// cannot be reached is lost (with everything it ran), while one that answered and could not
/// start the process failed this one (`refused`, given the message).
fn launch_failure(
    (worker_id, incarnation): (String, u64),
    what: &str,
    status: &tonic::Status,
    refused: impl FnOnce(String) -> MasterEvent,
) -> MasterEvent {
    if flint_rpc::is_unreachable(status) {
        MasterEvent::WorkerLost {
            worker_id,
            incarnation: Some(incarnation),
            reason: format!("cannot reach it to launch {what}: {}", status.message()),
        }
    } else {
        refused(format!(
            "the worker did not launch it: {}",
            status.message()
        ))
    }
}

/// The worker's RPC client, connected on first use.
fn worker_client(worker: &mut WorkerInfo) -> Option<WorkerClient<Channel>> {
    if worker.client.is_none() {
        match flint_rpc::connect_lazy(&worker.host, worker.port, WORKER_RPC_TIMEOUT) {
            Ok(channel) => worker.client = Some(WorkerClient::new(channel)),
            Err(error) => {
                tracing::warn!(worker_id = %worker.id, "Cannot address worker {}: {error}", worker.id);
                return None;
            }
        }
    }
    worker.client.clone()
}
