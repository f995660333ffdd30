//! The driver's side of executors that run in their own processes (Spark's
//! `CoarseGrainedSchedulerBackend`'s `DriverEndpoint`): executors dial in over
//! `executor.proto`, tasks go to whichever registered executor has a free core, and an
//! executor whose stream drops loses its running tasks as `ExecutorLost`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flint_executor::{TaskDescription, TaskFailureReason, TaskMetrics, TaskResult};
use flint_rpc::RpcSecurity;
use flint_rpc::executor::driver_server::{Driver, DriverServer};
use flint_rpc::executor::{
    DriverMessage, ExecutorMessage, KillTask, RegisteredExecutor, RemoveShuffle, StopExecutor,
    driver_message, executor_message,
};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tonic::{Request, Response, Status, Streaming};

use crate::{ExecutorInfo, ListenerBus, MapOutputTracker, SchedulerBackend, SparkListenerEvent};

type Outbound = mpsc::Sender<Result<DriverMessage, Status>>;

#[derive(Debug)]
struct RegisteredExecutorSlot {
    host: String,
    free_cores: usize,
    outbound: Outbound,
    running: HashSet<u64>,
    /// When the executor last said anything (a heartbeat or a status update).
    last_seen: Instant,
    /// Told when the executor is removed, so its connection is closed.
    removed: Arc<Notify>,
    /// Why the driver asked for it to be killed (dynamic allocation gives it back): no task
    /// goes to it any more, and its removal gives this reason.
    pending_removal: Option<String>,
}

/// What the driver asks of the master about its executors, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterRequest {
    /// Kill these executors (given up on for missed heartbeats, or idle).
    KillExecutors(Vec<String>),
    /// Have this many executors in all (dynamic allocation's target, Spark's
    /// `requestTotalExecutors`).
    RequestTotal(u32),
}

#[derive(Debug)]
struct BackendState {
    /// Where executors' arrivals, departures and heartbeats are posted.
    listener_bus: Arc<ListenerBus>,
    executors: BTreeMap<String, RegisteredExecutorSlot>,
    /// The shuffle service (host, port) of every executor that registered one, kept after
    /// the executor leaves: its files stay there until the worker is lost.
    shuffle_services: HashMap<String, (String, u16)>,
    /// The application, as its executors name it when they register.
    app_id: Option<String>,
    pending: HashMap<u64, oneshot::Sender<TaskResult>>,
    launched_any: bool,
    /// What the master says the application is short of, while it has no executor.
    waiting_reason: Option<String>,
    /// Set by `stop`: executors leaving now are expected.
    stopping: bool,
    /// Why the application can run no more tasks (the master removed it, or the master has
    /// been gone too long with no executor left); set once.
    dead: Option<String>,
}

impl BackendState {
    /// Forgets an executor: its running tasks fail as `ExecutorLost`, and the map outputs it
    /// wrote are unregistered when nobody serves its files any more (Spark's `removeExecutor`
    /// and `removeOutputsOnExecutor`). Files a worker's shuffle service serves are lost only
    /// with that worker (`worker_lost`): then every output the service held goes, whoever
    /// wrote it (Spark's `removeOutputsOnHost`), even when the executor was already gone.
    fn remove_executor(
        &mut self,
        executor_id: &str,
        reason: &str,
        worker_lost: bool,
        map_outputs: &MapOutputTracker,
    ) {
        let shuffle_service = self.shuffle_services.get(executor_id).cloned();
        if worker_lost
            && !self.stopping
            && let Some((host, port)) = &shuffle_service
        {
            map_outputs.remove_outputs_at(host, *port);
        }
        let Some(executor) = self.executors.remove(executor_id) else {
            return;
        };
        executor.removed.notify_one();
        if self.stopping {
            tracing::debug!(executor_id, "Executor {executor_id} stopped: {reason}");
            return;
        }
        let reason = match &executor.pending_removal {
            Some(asked) => {
                tracing::info!(
                    executor_id,
                    "Executor {executor_id} on {} removed: {asked}",
                    executor.host
                );
                asked.as_str()
            }
            None => {
                tracing::warn!(
                    executor_id,
                    "Lost executor {executor_id} on {}: {reason}",
                    executor.host
                );
                reason
            }
        };
        self.listener_bus.post(SparkListenerEvent::ExecutorRemoved {
            executor_id: executor_id.to_string(),
            time: flint_common::now_millis(),
            reason: reason.to_string(),
        });
        for task_id in executor.running {
            if let Some(reply) = self.pending.remove(&task_id) {
                let _ = reply.send(lost(executor_id, reason));
            }
        }
        match shuffle_service {
            None => {
                map_outputs.remove_outputs_on_executor(executor_id, None);
            }
            Some((host, port)) if !worker_lost => {
                // The files the service serves live on; cached blocks it served itself do not.
                let lost = map_outputs.remove_outputs_not_at_service(executor_id, port);
                tracing::info!(
                    executor_id,
                    "Executor {executor_id}'s shuffle files stay available from the shuffle service at {host}:{port}; {lost} cached block(s) it served itself are lost"
                )
            }
            Some(_) => {}
        }
    }
}

/// Executors in other processes, reached over gRPC (Spark's
/// `CoarseGrainedSchedulerBackend`). How the executors are started is not its business:
/// a standalone master places them, tests may start them directly.
#[derive(Debug)]
pub struct StandaloneSchedulerBackend {
    state: Arc<Mutex<BackendState>>,
    changes: Arc<watch::Sender<u64>>,
    map_outputs: Arc<MapOutputTracker>,
    expected_cores: usize,
    starvation_timeout: Duration,
    /// `spark.locality.wait`: how long a task waits for a core on the executor holding its
    /// input before it runs elsewhere.
    locality_wait: Duration,
    /// `spark.shuffle.service.removeShuffle`: a removed shuffle's files of executors that
    /// are gone are deleted by their workers' shuffle services.
    services_remove_shuffles: bool,
    /// Where requests to shuffle services run (removal is asked from any thread).
    runtime: tokio::runtime::Handle,
    /// `spark.authenticate`: the secret executors and shuffle services must prove.
    security: RpcSecurity,
    port: u16,
    server: tokio::task::JoinHandle<()>,
    heartbeat_receiver: tokio::task::JoinHandle<()>,
    /// Where requests for the master go, in order.
    requests: mpsc::UnboundedSender<ClusterRequest>,
    /// Their receiving end, for the application client.
    cluster_requests: Mutex<Option<mpsc::UnboundedReceiver<ClusterRequest>>>,
}

impl StandaloneSchedulerBackend {
    /// Serves executors on `listener`; `expected_cores` sizes the task scheduler's slots
    /// (`spark.cores.max`), while tasks wait for real executor cores. A lost executor's map
    /// outputs are removed from `map_outputs`. Until a first task launches, Spark's
    /// "Initial job has not accepted any resources" is logged every `starvation_timeout`
    /// (`spark.starvation.timeout`). An executor silent for `executor_timeout`
    /// (`spark.network.timeout`) is removed as lost and its kill is requested through
    /// [`Self::take_cluster_requests`].
    /// Executors added, removed and heartbeating are posted to `listener_bus`. With
    /// `security`'s secret, only executors that prove it are served.
    pub fn start(
        listener: TcpListener,
        expected_cores: usize,
        starvation_timeout: Duration,
        executor_timeout: Duration,
        map_outputs: Arc<MapOutputTracker>,
        listener_bus: Arc<ListenerBus>,
        security: RpcSecurity,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(BackendState {
            listener_bus,
            executors: BTreeMap::new(),
            shuffle_services: HashMap::new(),
            app_id: None,
            pending: HashMap::new(),
            launched_any: false,
            waiting_reason: None,
            stopping: false,
            dead: None,
        }));
        let changes = Arc::new(watch::Sender::new(0u64));
        let service = DriverService {
            state: Arc::clone(&state),
            changes: Arc::clone(&changes),
            map_outputs: Arc::clone(&map_outputs),
        };
        let incoming = flint_rpc::incoming(listener, &security);
        let server = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(DriverServer::new(service))
                .serve_with_incoming(incoming)
                .await;
            if let Err(error) = served {
                tracing::error!("The driver's executor endpoint failed: {error}");
            }
        });
        tracing::info!(
            port,
            "Driver endpoint for executors listening on port {port}"
        );
        let (requests, cluster_requests) = mpsc::unbounded_channel();
        let heartbeat_receiver = tokio::spawn(expire_dead_executors(
            Arc::clone(&state),
            Arc::clone(&changes),
            Arc::clone(&map_outputs),
            executor_timeout,
            requests.clone(),
        ));
        Ok(Self {
            state,
            changes,
            map_outputs,
            expected_cores: expected_cores.max(1),
            locality_wait: Duration::from_secs(3),
            services_remove_shuffles: true,
            runtime: tokio::runtime::Handle::current(),
            security,
            starvation_timeout: starvation_timeout.max(Duration::from_millis(100)),
            port,
            server,
            heartbeat_receiver,
            requests,
            cluster_requests: Mutex::new(Some(cluster_requests)),
        })
    }

    /// What the driver asks of the master, in order: kills of executors removed for missed
    /// heartbeats (their process may hang on to cores) or given back by dynamic allocation,
    /// and dynamic allocation's totals; the first caller gets the receiver.
    pub fn take_cluster_requests(&self) -> Option<mpsc::UnboundedReceiver<ClusterRequest>> {
        self.cluster_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Records why the master cannot place an executor yet (printed with the starvation
    /// warning).
    pub fn set_waiting_reason(&self, reason: String) {
        self.lock().waiting_reason = Some(reason);
    }

    /// The master reports an executor gone: its process exited, or its worker was lost
    /// (`worker_lost`), and with it any shuffle files the worker's shuffle service held.
    pub fn executor_removed(&self, executor_id: &str, reason: &str, worker_lost: bool) {
        self.lock()
            .remove_executor(executor_id, reason, worker_lost, &self.map_outputs);
        self.changes.send_modify(|v| *v += 1);
    }

    /// The application is over for the cluster (Spark's `StandaloneSchedulerBackend.dead`):
    /// tasks waiting for an executor or running fail, and every later task set is aborted
    /// with `reason`.
    pub fn application_dead(&self, reason: &str) {
        let mut state = self.lock();
        if state.dead.is_some() || state.stopping {
            return;
        }
        tracing::error!("Application has been killed. Reason: {reason}");
        state.dead = Some(reason.to_string());
        for (_, reply) in state.pending.drain() {
            let _ = reply.send(lost("?", reason));
        }
        drop(state);
        self.changes.send_modify(|v| *v += 1);
    }

    /// Sets `spark.locality.wait` (3 s until then).
    pub fn with_locality_wait(mut self, wait: Duration) -> Self {
        self.locality_wait = wait;
        self
    }

    /// Sets `spark.shuffle.service.removeShuffle` (on until then).
    pub fn with_services_removing_shuffles(mut self, enabled: bool) -> Self {
        self.services_remove_shuffles = enabled;
        self
    }

    /// The port executors dial.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Registered executors and their cores.
    pub fn executors(&self) -> Vec<(String, String)> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .executors
            .iter()
            .map(|(id, e)| (id.clone(), e.host.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BackendState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl crate::executor_allocation_manager::AllocationClient for StandaloneSchedulerBackend {
    fn request_total_executors(&self, total: u32) {
        let _ = self.requests.send(ClusterRequest::RequestTotal(total));
    }

    fn kill_idle_executors(&self, ids: &[String], reason: &str) -> Vec<String> {
        let mut state = self.lock();
        if state.stopping {
            return vec![];
        }
        let mut killed = vec![];
        for id in ids {
            // Checked under the lock that launches tasks: none can start on it after this.
            if let Some(executor) = state.executors.get_mut(id)
                && executor.running.is_empty()
                && executor.pending_removal.is_none()
            {
                executor.pending_removal = Some(reason.to_string());
                killed.push(id.clone());
            }
        }
        drop(state);
        if !killed.is_empty() {
            let _ = self
                .requests
                .send(ClusterRequest::KillExecutors(killed.clone()));
        }
        killed
    }
}

fn lost(executor_id: &str, message: &str) -> TaskResult {
    TaskResult {
        outcome: Err(TaskFailureReason::ExecutorLost {
            executor_id: executor_id.to_string(),
            message: message.to_string(),
        }),
        metrics: TaskMetrics::default(),
    }
}

#[async_trait]
impl SchedulerBackend for StandaloneSchedulerBackend {
    fn total_cores(&self) -> usize {
        self.expected_cores
    }

    fn dead_reason(&self) -> Option<String> {
        self.lock().dead.clone()
    }

    async fn run_task(
        &self,
        task: TaskDescription,
        launched: crate::scheduler_backend::TaskLaunched,
        placement: crate::Placement,
    ) -> (String, String, TaskResult) {
        let task_id = task.task_id;
        let mut changes = self.changes.subscribe();
        let prefer = &placement.prefer;
        let avoid = placement.avoid.as_deref();
        let wait = self.locality_wait;
        let (executor_id, host, outbound, result) = loop {
            let mut wait_for = self.starvation_timeout;
            {
                let mut state = self.lock();
                if let Some(reason) = &state.dead {
                    return ("?".into(), "?".into(), lost("?", reason));
                }
                // A speculative copy goes elsewhere than its original while there is elsewhere.
                let others = state.executors.len() > 1;
                let staying = |id: &str, e: &RegisteredExecutorSlot| {
                    e.pending_removal.is_none() && !(others && avoid == Some(id))
                };
                let usable =
                    |id: &str, e: &RegisteredExecutorSlot| e.free_cores > 0 && staying(id, e);
                // NODE_LOCAL hosts: the preferred ones and the preferred executor's.
                let mut hosts = prefer.hosts.clone();
                if let Some(e) = prefer
                    .executor
                    .as_ref()
                    .and_then(|id| state.executors.get(id))
                {
                    hosts.push(e.host.clone());
                }
                let on_hosts = |only_usable: bool| {
                    state
                        .executors
                        .iter()
                        .filter(|(id, e)| hosts.contains(&e.host) && staying(id, e))
                        .filter(|(id, e)| !only_usable || usable(id, e))
                        .max_by_key(|(_, e)| e.free_cores)
                        .map(|(id, _)| id.clone())
                };
                let now = Instant::now();
                // Spark's delay scheduling: the best level with a free core, else wait for
                // one at a level whose wait has not run out, else anywhere.
                let preferred = prefer
                    .executor
                    .as_ref()
                    .and_then(|id| Some((id, state.executors.get(id)?)));
                let process_until = placement
                    .waits
                    .as_ref()
                    .map(|w| w.process_local_until(wait));
                let node_until = placement
                    .waits
                    .as_ref()
                    .map(|w| w.node_local_until(wait, preferred.is_some()));
                let waiting_until = |until: Option<Instant>| until.filter(|until| now < *until);
                let chosen = if let Some((id, _)) = preferred.filter(|(id, e)| usable(id, e)) {
                    Ok(id.clone())
                } else if let (Some(_), Some(until)) = (
                    preferred.filter(|(id, e)| staying(id, e)),
                    waiting_until(process_until),
                ) {
                    Err(until)
                } else if let Some(id) = on_hosts(true) {
                    Ok(id)
                } else if let (Some(_), Some(until)) = (on_hosts(false), waiting_until(node_until))
                {
                    Err(until)
                } else {
                    state
                        .executors
                        .iter()
                        .filter(|(id, e)| usable(id, e))
                        .max_by_key(|(_, e)| e.free_cores)
                        .map(|(id, _)| id.clone())
                        .ok_or(now + self.starvation_timeout)
                };
                match chosen {
                    Ok(id) => {
                        let (reply, result) = oneshot::channel();
                        state.pending.insert(task_id, reply);
                        state.launched_any = true;
                        let Some(executor) = state.executors.get_mut(&id) else {
                            continue;
                        };
                        executor.free_cores -= 1;
                        executor.running.insert(task_id);
                        break (id, executor.host.clone(), executor.outbound.clone(), result);
                    }
                    Err(until) => {
                        wait_for = wait_for.min(until.saturating_duration_since(now));
                    }
                }
            }
            let (starved, waiting_reason) = {
                let state = self.lock();
                (!state.launched_any, state.waiting_reason.clone())
            };
            match tokio::time::timeout(wait_for, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return ("?".into(), "?".into(), lost("?", "the driver is stopping"));
                }
                Err(_) if starved && wait_for == self.starvation_timeout => {
                    tracing::warn!(
                        target: "flint_driver::task_scheduler",
                        "Initial job has not accepted any resources; check your cluster UI to ensure that workers are registered and have sufficient resources"
                    );
                    if let Some(reason) = waiting_reason {
                        tracing::warn!(target: "flint_driver::task_scheduler", "The application {reason}");
                    }
                }
                Err(_) => {}
            }
        };
        let locality = placement.locality_on(&executor_id, &host);
        if let Some(waits) = &placement.waits {
            waits.launched(locality);
        }
        launched(&executor_id, &host, locality);
        let launch = DriverMessage {
            message: Some(driver_message::Message::LaunchTask(task.into())),
        };
        if outbound.send(Ok(launch)).await.is_err() {
            return (
                executor_id.clone(),
                host,
                lost(&executor_id, "the executor's connection closed"),
            );
        }
        let result = result
            .await
            .unwrap_or_else(|_| lost(&executor_id, "the executor's connection closed"));
        (executor_id, host, result)
    }

    fn kill_task(&self, task_id: u64, reason: &str) {
        let state = self.lock();
        let Some((executor_id, executor)) = state
            .executors
            .iter()
            .find(|(_, e)| e.running.contains(&task_id))
        else {
            return;
        };
        tracing::info!(
            task_id,
            "Killing task {task_id} on executor {executor_id}: {reason}"
        );
        let kill = DriverMessage {
            message: Some(driver_message::Message::KillTask(KillTask {
                task_id,
                reason: reason.to_string(),
            })),
        };
        // A full or closed queue means the executor is busy or gone; its status comes anyway.
        let _ = executor.outbound.try_send(Ok(kill));
    }

    fn remove_shuffle(&self, shuffle_id: u32) {
        let state = self.lock();
        for executor in state.executors.values() {
            let remove = DriverMessage {
                message: Some(driver_message::Message::RemoveShuffle(RemoveShuffle {
                    shuffle_id,
                })),
            };
            // A full queue means a busy executor: its files go with the application then.
            let _ = executor.outbound.try_send(Ok(remove));
        }
        // The files of executors that are gone stay with their workers' shuffle services
        // until those are asked (Spark's `spark.shuffle.service.removeShuffle`).
        let Some(app_id) = state
            .app_id
            .clone()
            .filter(|_| self.services_remove_shuffles)
        else {
            return;
        };
        let services: std::collections::BTreeSet<(String, u16)> = state
            .shuffle_services
            .iter()
            .filter(|(id, _)| !state.executors.contains_key(*id))
            .map(|(_, service)| service.clone())
            .collect();
        drop(state);
        for (host, port) in services {
            let app_id = app_id.clone();
            let security = self.security.clone();
            self.runtime.spawn(async move {
                if let Err(error) = flint_shuffle_service::remove_shuffle(
                    &host, port, &app_id, shuffle_id, &security,
                )
                .await
                {
                    tracing::warn!(
                        "Failed to remove shuffle {shuffle_id} from the shuffle service at {host}:{port}: {error}"
                    );
                }
            });
        }
    }

    fn stop(&self) {
        let mut state = self.lock();
        state.stopping = true;
        for executor in state.executors.values() {
            let stop = DriverMessage {
                message: Some(driver_message::Message::Stop(StopExecutor {})),
            };
            let _ = executor.outbound.try_send(Ok(stop));
        }
        drop(state);
        self.server.abort();
        self.heartbeat_receiver.abort();
    }
}

/// Spark's `HeartbeatReceiver`: removes executors that have been silent for longer than
/// `timeout` (a hung or stopped process keeps its connection open), failing their tasks and
/// forgetting their map outputs, and asks for them to be killed.
async fn expire_dead_executors(
    state: Arc<Mutex<BackendState>>,
    changes: Arc<watch::Sender<u64>>,
    map_outputs: Arc<MapOutputTracker>,
    timeout: Duration,
    requests: mpsc::UnboundedSender<ClusterRequest>,
) {
    let check_every = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
    loop {
        tokio::time::sleep(check_every).await;
        let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
        let expired: Vec<(String, Duration)> = guard
            .executors
            .iter()
            .map(|(id, e)| (id.clone(), e.last_seen.elapsed()))
            .filter(|(_, silent)| *silent > timeout)
            .collect();
        for (executor_id, silent) in &expired {
            tracing::warn!(
                executor_id = %executor_id,
                "Removing executor {executor_id} with no recent heartbeats: {} ms exceeds timeout {} ms",
                silent.as_millis(),
                timeout.as_millis()
            );
            let reason = format!(
                "Executor heartbeat timed out after {} ms",
                silent.as_millis()
            );
            guard.remove_executor(executor_id, &reason, false, &map_outputs);
            let _ = requests.send(ClusterRequest::KillExecutors(vec![executor_id.clone()]));
        }
        drop(guard);
        if !expired.is_empty() {
            changes.send_modify(|v| *v += 1);
        }
    }
}

struct DriverService {
    state: Arc<Mutex<BackendState>>,
    changes: Arc<watch::Sender<u64>>,
    map_outputs: Arc<MapOutputTracker>,
}

type DriverStream = Pin<Box<dyn Stream<Item = Result<DriverMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Driver for DriverService {
    type RegisterStream = DriverStream;

    async fn register(
        &self,
        request: Request<Streaming<ExecutorMessage>>,
    ) -> Result<Response<Self::RegisterStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .and_then(|m| m.message)
            .ok_or_else(|| {
                Status::invalid_argument("the first message must be RegisterExecutor")
            })?;
        let executor_message::Message::Register(register) = first else {
            return Err(Status::invalid_argument(
                "the first message must be RegisterExecutor",
            ));
        };
        let executor_id = register.executor_id.clone();
        let (outbound, queue) = mpsc::channel(1024);
        let removed = Arc::new(Notify::new());
        let host_port = if register.block_manager_port == 0 {
            register.host.clone()
        } else {
            format!("{}:{}", register.host, register.block_manager_port)
        };
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.executors.contains_key(&executor_id) {
                return Err(Status::already_exists(format!(
                    "Duplicate executor ID: {executor_id}"
                )));
            }
            tracing::info!(
                executor_id = %executor_id,
                "Registered executor {} ({}) with {} core(s)",
                executor_id,
                register.host,
                register.cores
            );
            state.waiting_reason = None;
            state.app_id = Some(register.app_id.clone());
            if let Ok(port) = u16::try_from(register.shuffle_service_port)
                && port != 0
            {
                state
                    .shuffle_services
                    .insert(executor_id.clone(), (register.host.clone(), port));
            }
            state.listener_bus.post(SparkListenerEvent::ExecutorAdded {
                executor_id: executor_id.clone(),
                time: flint_common::now_millis(),
                info: ExecutorInfo {
                    host: register.host.clone(),
                    host_port: host_port.clone(),
                    total_cores: register.cores as usize,
                    max_memory: register.max_memory,
                    log_urls: register.log_urls.clone().into_iter().collect(),
                },
            });
            state.executors.insert(
                executor_id.clone(),
                RegisteredExecutorSlot {
                    host: register.host.clone(),
                    free_cores: register.cores as usize,
                    outbound: outbound.clone(),
                    running: HashSet::new(),
                    last_seen: Instant::now(),
                    removed: Arc::clone(&removed),
                    pending_removal: None,
                },
            );
        }
        let registered = DriverMessage {
            message: Some(driver_message::Message::Registered(RegisteredExecutor {})),
        };
        let _ = outbound.send(Ok(registered)).await;
        self.changes.send_modify(|v| *v += 1);

        let state = Arc::clone(&self.state);
        let changes = Arc::clone(&self.changes);
        let map_outputs = Arc::clone(&self.map_outputs);
        tokio::spawn(async move {
            let reason = loop {
                let message = tokio::select! {
                    message = inbound.message() => message,
                    // Removed elsewhere (missed heartbeats, the master's report): hang up.
                    () = removed.notified() => return,
                };
                match message {
                    Ok(Some(ExecutorMessage {
                        message: Some(executor_message::Message::StatusUpdate(update)),
                    })) => {
                        let result = match update.result.map(TaskResult::try_from) {
                            Some(Ok(result)) => result,
                            Some(Err(malformed)) => TaskResult {
                                outcome: Err(TaskFailureReason::ExceptionFailure {
                                    message: malformed.to_string(),
                                }),
                                metrics: TaskMetrics::default(),
                            },
                            None => TaskResult {
                                outcome: Err(TaskFailureReason::ExceptionFailure {
                                    message: "status update without a result".into(),
                                }),
                                metrics: TaskMetrics::default(),
                            },
                        };
                        let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(executor) = guard.executors.get_mut(&executor_id) {
                            executor.last_seen = Instant::now();
                            if executor.running.remove(&update.task_id) {
                                executor.free_cores += 1;
                            }
                        }
                        if let Some(reply) = guard.pending.remove(&update.task_id) {
                            let _ = reply.send(result);
                        }
                        drop(guard);
                        changes.send_modify(|v| *v += 1);
                    }
                    // A heartbeat (or anything else): the executor is alive.
                    Ok(Some(message)) => {
                        let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(executor) = guard.executors.get_mut(&executor_id) {
                            executor.last_seen = Instant::now();
                        }
                        match message.message {
                            Some(executor_message::Message::Heartbeat(heartbeat)) => {
                                guard.listener_bus.post(
                                    SparkListenerEvent::ExecutorMetricsUpdate {
                                        executor_id: executor_id.clone(),
                                        memory_used: heartbeat.memory_used,
                                    },
                                );
                            }
                            Some(executor_message::Message::BlockUpdate(update)) => {
                                let status = flint_storage::BlockStatus {
                                    key: flint_storage::MemoryBlockKey {
                                        shuffle_id: update.shuffle_id,
                                        map_id: update.map_id,
                                    },
                                    memory_size: update.memory_size,
                                    disk_size: update.disk_size,
                                    dropped: update.dropped,
                                };
                                crate::cache::cached_block_changed(
                                    &map_outputs,
                                    &guard.listener_bus,
                                    &executor_id,
                                    &host_port,
                                    status,
                                );
                            }
                            _ => {}
                        }
                    }
                    Ok(None) => break "the executor disconnected".to_string(),
                    Err(status) => break format!("connection lost: {}", status.message()),
                }
            };
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove_executor(&executor_id, &reason, false, &map_outputs);
            changes.send_modify(|v| *v += 1);
        });
        let stream = futures::stream::unfold(queue, |mut queue| async move {
            queue.recv().await.map(|message| (message, queue))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use datafusion::arrow::array::Int64Array;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
    use flint_executor::{
        ExecutorBackendConfig, ExecutorConfig, TaskOutput, decode_result_batches,
        run_executor_backend,
    };
    use flint_shuffle::ShuffleCodec;

    use super::*;

    fn executor(id: &str, port: u16, dir: &std::path::Path) -> ExecutorBackendConfig {
        ExecutorBackendConfig {
            driver_host: "127.0.0.1".into(),
            driver_port: port,
            hostname: "127.0.0.1".into(),
            block_manager_port: 0,
            port_max_retries: 0,
            heartbeat_interval: Duration::from_secs(10),
            executor: ExecutorConfig {
                executor_id: id.into(),
                app_id: "app-test".into(),
                cores: 1,
                memory_bytes: 256 << 20,
                memory_key: "spark.executor.memory",
                memory_fraction: 0.6,
                storage_fraction: 0.5,
                local_dir: dir.to_path_buf(),
                compression: None,
                session_config: datafusion::prelude::SessionConfig::new(),
                host: "127.0.0.1".into(),
                block_transfer_port: 0,
                own_block_port: 0,
                rdd_blocks_from_service: false,
                keep_shuffle_files: false,
                read_host_local_disk: true,
                shuffle_checksums: true,
                fetch_retries: (3, Duration::from_millis(10)),
                fetch_limits: Default::default(),
                network_timeout: Duration::from_secs(120),
                security: flint_rpc::RpcSecurity::none(),
            },
            shuffle_service: None,
        }
    }

    async fn wait_for_executors(backend: &StandaloneSchedulerBackend, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while backend.executors().len() != count {
            assert!(
                Instant::now() < deadline,
                "executors: {:?}",
                backend.executors()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Executors dial the driver over gRPC, register, run result tasks and send rows back;
    /// an executor that goes away is forgotten and tasks keep running on the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_run_on_executors_that_dial_in() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let backend = StandaloneSchedulerBackend::start(
            listener,
            2,
            Duration::from_secs(15),
            Duration::from_secs(120),
            Arc::new(MapOutputTracker::default()),
            Arc::new(crate::ListenerBus::new()),
            RpcSecurity::none(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let first = tokio::spawn(run_executor_backend(executor(
            "0",
            backend.port(),
            dir.path(),
        )));
        let second = tokio::spawn(run_executor_backend(executor(
            "1",
            backend.port(),
            dir.path(),
        )));
        wait_for_executors(&backend, 2).await;

        let plan = SessionContext::new()
            .sql("SELECT 40 + 2 AS answer")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let plan = physical_plan_to_bytes_with_extension_codec(plan, &ShuffleCodec).unwrap();
        let task = |task_id| TaskDescription {
            task_id,
            job_id: 0,
            stage_id: 0,
            stage_attempt: 0,
            partition: 0,
            attempt: 0,
            plan: plan.clone(),
            sql_conf: Default::default(),
        };
        let (a, b) = tokio::join!(
            backend.run_task(task(0), Box::new(|_, _, _| {}), Default::default()),
            backend.run_task(task(1), Box::new(|_, _, _| {}), Default::default())
        );
        let mut used = vec![a.0.clone(), b.0.clone()];
        used.sort();
        assert_eq!(used, ["0", "1"], "one task on each executor's single core");
        for (_, host, result) in [a, b] {
            assert_eq!(host, "127.0.0.1");
            let Ok(TaskOutput::ResultBatches(bytes)) = result.outcome else {
                panic!("task failed: {:?}", result.outcome);
            };
            let batches = decode_result_batches(&bytes).unwrap();
            let column = batches[0].column(0).as_any().downcast_ref::<Int64Array>();
            assert_eq!(column.map(|c| c.value(0)), Some(42));
        }

        first.abort();
        wait_for_executors(&backend, 1).await;
        let (executor_id, _, result) = backend
            .run_task(task(2), Box::new(|_, _, _| {}), Default::default())
            .await;
        assert_eq!(executor_id, "1");
        assert!(result.outcome.is_ok());

        backend.stop();
        let stopped = tokio::time::timeout(Duration::from_secs(10), second).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "executor 1 stops when told: {stopped:?}"
        );
    }

    /// An executor that heartbeats stays; one whose heartbeats stop (here: too rare for the
    /// timeout) is removed, its connection closed, and offered for killing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn silent_executors_are_removed_and_offered_for_killing() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let backend = StandaloneSchedulerBackend::start(
            listener,
            2,
            Duration::from_secs(15),
            Duration::from_millis(600),
            Arc::new(MapOutputTracker::default()),
            Arc::new(crate::ListenerBus::new()),
            RpcSecurity::none(),
        )
        .unwrap();
        let mut kill_requests = backend.take_cluster_requests().unwrap();
        assert!(backend.take_cluster_requests().is_none());
        let dir = tempfile::tempdir().unwrap();
        let mut beating = executor("0", backend.port(), dir.path());
        beating.heartbeat_interval = Duration::from_millis(100);
        let mut silent = executor("1", backend.port(), dir.path());
        silent.heartbeat_interval = Duration::from_secs(3600);
        let _beating = tokio::spawn(run_executor_backend(beating));
        let silent = tokio::spawn(run_executor_backend(silent));
        wait_for_executors(&backend, 2).await;

        let killed = tokio::time::timeout(Duration::from_secs(10), kill_requests.recv()).await;
        assert_eq!(
            killed,
            Ok(Some(ClusterRequest::KillExecutors(vec!["1".to_string()])))
        );
        wait_for_executors(&backend, 1).await;
        assert_eq!(backend.executors()[0].0, "0");
        // The driver hung up on it, so the (healthy) process ends by itself.
        let ended = tokio::time::timeout(Duration::from_secs(10), silent).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            backend.executors().len(),
            1,
            "the heartbeating executor stays"
        );
        backend.stop();
    }
}
