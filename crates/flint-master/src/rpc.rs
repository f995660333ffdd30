//! The master's gRPC service: converts wire messages to [`MasterEvent`]s and back, and
//! application events to the wire.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use flint_rpc::RpcSecurity;
use flint_rpc::deploy::master_server::{Master as MasterRpc, MasterServer};
use flint_rpc::deploy::worker_client::WorkerClient;
use flint_rpc::deploy::{
    ApplicationDescription as WireDescription, ApplicationEvent as WireApplicationEvent,
    DriverDescription as WireDriverDescription, DriverStateChangedRequest,
    DriverStateChangedResponse, DriverStatusRequest, DriverStatusResponse, ExecutorAdded,
    ExecutorState as WireExecutorState, ExecutorStateChangedRequest, ExecutorStateChangedResponse,
    ExecutorUpdated, HeartbeatRequest, HeartbeatResponse, KillDriverRequest, KillDriverResponse,
    KillExecutorsRequest, KillExecutorsResponse, RegisterApplicationRequest, RegisterWorkerRequest,
    RegisterWorkerResponse, RegisteredApplication, RegisteredWorker, RequestExecutorsRequest,
    RequestExecutorsResponse, SubmitDriverRequest, SubmitDriverResponse, UnregisterWorkerRequest,
    UnregisterWorkerResponse, register_worker_response,
};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::application::{ApplicationDescription, ApplicationEvent, ExecutorState};
use crate::driver::{DriverDescription, DriverState};
use crate::master::{
    Command, MasterError, MasterEvent, MasterHandle, Reattach, RegistrationOutcome,
    RunningExecutor, WorkerRef, WorkerRegistration,
};

struct MasterService {
    master: MasterHandle,
    /// `spark.acls.enable`: who may kill drivers.
    security: RpcSecurity,
}

impl MasterService {
    /// Refuses requests while this master is STANDBY, so workers, drivers and submit
    /// clients try the next master of their URL.
    fn leading(&self) -> Result<(), Status> {
        if self.master.is_standby() {
            return Err(Status::unavailable(
                "this master is STANDBY; another master is the leader",
            ));
        }
        Ok(())
    }
}

fn stopped() -> Status {
    Status::unavailable("the master is shutting down")
}

#[tonic::async_trait]
impl MasterRpc for MasterService {
    async fn register_worker(
        &self,
        request: Request<RegisterWorkerRequest>,
    ) -> Result<Response<RegisterWorkerResponse>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let port = u16::try_from(request.port)
            .map_err(|_| Status::invalid_argument(format!("invalid port {}", request.port)))?;
        if request.worker_id.is_empty() || request.host.is_empty() {
            return Err(Status::invalid_argument("worker id and host are required"));
        }
        let registration = WorkerRegistration {
            id: request.worker_id,
            host: request.host,
            port,
            cores: request.cores,
            memory_mib: request.memory_mib,
            webui_address: request.webui_address,
            executors: request
                .executors
                .into_iter()
                .map(|e| RunningExecutor {
                    app_id: e.app_id,
                    executor_id: e.executor_id,
                    cores: e.cores,
                    memory_mib: e.memory_mib,
                })
                .collect(),
            driver_ids: request.driver_ids,
        };
        let outcome = self
            .master
            .ask(|reply| MasterEvent::RegisterWorker(registration, reply))
            .await
            .ok_or_else(stopped)?;
        let result = match outcome {
            RegistrationOutcome::Registered {
                master_url,
                master_webui_url,
                duplicate,
                active_apps,
            } => register_worker_response::Result::Registered(RegisteredWorker {
                master_url,
                master_webui_url,
                duplicate,
                active_app_ids: active_apps,
            }),
            RegistrationOutcome::Failed(message) => {
                register_worker_response::Result::Failed(message)
            }
        };
        Ok(Response::new(RegisterWorkerResponse {
            result: Some(result),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        self.leading()?;
        let worker_id = request.into_inner().worker_id;
        let reconnect = self
            .master
            .ask(|reply| MasterEvent::Heartbeat(worker_id, reply))
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(HeartbeatResponse { reconnect }))
    }

    async fn unregister_worker(
        &self,
        request: Request<UnregisterWorkerRequest>,
    ) -> Result<Response<UnregisterWorkerResponse>, Status> {
        self.leading()?;
        let worker_id = request.into_inner().worker_id;
        let delivered = self
            .master
            .post(MasterEvent::WorkerLost {
                worker_id,
                incarnation: None,
                reason: "it is shutting down".into(),
            })
            .await;
        if !delivered {
            return Err(stopped());
        }
        Ok(Response::new(UnregisterWorkerResponse {}))
    }

    type RegisterApplicationStream = ApplicationEventStream;

    async fn register_application(
        &self,
        request: Request<RegisterApplicationRequest>,
    ) -> Result<Response<Self::RegisterApplicationStream>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let reattach = request.app_id.map(|app_id| Reattach {
            app_id,
            next_executor_id: request.next_executor_id,
        });
        let description = request
            .description
            .ok_or_else(|| Status::invalid_argument("the application description is missing"))
            .and_then(description_from_wire)?;
        let (driver, events) = mpsc::unbounded_channel();
        let watcher = driver.clone();
        let (app_id, link) = self
            .master
            .ask(|reply| MasterEvent::RegisterApplication {
                description,
                driver,
                reattach,
                reply,
            })
            .await
            .ok_or_else(stopped)?
            .map_err(Status::not_found)?;
        // The application lives as long as its driver reads this stream: when the driver
        // closes it or its process dies, the stream is dropped and the receiver with it.
        let master = self.master.clone();
        tokio::spawn(async move {
            watcher.closed().await;
            master
                .post(MasterEvent::ApplicationGone { app_id, link })
                .await;
        });
        // The stream ends after `Removed`: the application is over.
        let stream = futures::stream::unfold(Some(events), |events| async move {
            let mut events = events?;
            let event = events.recv().await?;
            let last = matches!(event, ApplicationEvent::Removed(_));
            Some((Ok(event_to_wire(event)), (!last).then_some(events)))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn executor_state_changed(
        &self,
        request: Request<ExecutorStateChangedRequest>,
    ) -> Result<Response<ExecutorStateChangedResponse>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let state = state_from_wire(request.state)?;
        let delivered = self
            .master
            .post(MasterEvent::ExecutorStateChanged {
                app_id: request.app_id,
                executor_id: request.executor_id,
                state,
                message: request.message,
                exit_status: request.exit_status,
            })
            .await;
        if !delivered {
            return Err(stopped());
        }
        Ok(Response::new(ExecutorStateChangedResponse {}))
    }

    async fn kill_executors(
        &self,
        request: Request<KillExecutorsRequest>,
    ) -> Result<Response<KillExecutorsResponse>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let killed = self
            .master
            .ask(|reply| MasterEvent::KillExecutors {
                app_id: request.app_id,
                executor_ids: request.executor_ids,
                reply,
            })
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(KillExecutorsResponse { killed }))
    }

    async fn request_executors(
        &self,
        request: Request<RequestExecutorsRequest>,
    ) -> Result<Response<RequestExecutorsResponse>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let acknowledged = self
            .master
            .ask(|reply| MasterEvent::RequestExecutors {
                app_id: request.app_id,
                requested_total: request.requested_total,
                reply,
            })
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(RequestExecutorsResponse { acknowledged }))
    }

    async fn submit_driver(
        &self,
        request: Request<SubmitDriverRequest>,
    ) -> Result<Response<SubmitDriverResponse>, Status> {
        self.leading()?;
        let description = request
            .into_inner()
            .description
            .ok_or_else(|| Status::invalid_argument("the driver description is missing"))
            .and_then(driver_description_from_wire)?;
        let driver_id = self
            .master
            .ask(|reply| MasterEvent::SubmitDriver(description, reply))
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(SubmitDriverResponse { driver_id }))
    }

    async fn driver_status(
        &self,
        request: Request<DriverStatusRequest>,
    ) -> Result<Response<DriverStatusResponse>, Status> {
        self.leading()?;
        let driver_id = request.into_inner().driver_id;
        let driver = self
            .master
            .ask(|reply| MasterEvent::DriverStatus(driver_id, reply))
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(match driver {
            Some(driver) => DriverStatusResponse {
                found: true,
                state: driver.state.as_str().to_string(),
                worker_id: driver.worker_id.unwrap_or_default(),
                worker_host_port: driver.worker_host_port.unwrap_or_default(),
                message: driver.message,
            },
            None => DriverStatusResponse::default(),
        }))
    }

    async fn kill_driver(
        &self,
        request: Request<KillDriverRequest>,
    ) -> Result<Response<KillDriverResponse>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let user = Some(request.user.as_str()).filter(|user| !user.is_empty());
        let driver_id = request.driver_id;
        if !self.security.acls().can_modify(user) {
            let user = user.unwrap_or("(unknown)");
            tracing::warn!("User {user} is not authorized to kill driver {driver_id}");
            return Err(Status::permission_denied(format!(
                "User {user} is not authorized to kill driver {driver_id} (spark.acls.enable: needs spark.modify.acls or spark.admin.acls)"
            )));
        }
        let (found, message) = self
            .master
            .ask(|reply| MasterEvent::KillDriver(driver_id, reply))
            .await
            .ok_or_else(stopped)?;
        Ok(Response::new(KillDriverResponse { found, message }))
    }

    async fn driver_state_changed(
        &self,
        request: Request<DriverStateChangedRequest>,
    ) -> Result<Response<DriverStateChangedResponse>, Status> {
        self.leading()?;
        let request = request.into_inner();
        let state = DriverState::parse(&request.state).ok_or_else(|| {
            Status::invalid_argument(format!("unknown driver state \"{}\"", request.state))
        })?;
        let delivered = self
            .master
            .post(MasterEvent::DriverStateChanged {
                driver_id: request.driver_id,
                state,
                message: request.message,
            })
            .await;
        if !delivered {
            return Err(stopped());
        }
        Ok(Response::new(DriverStateChangedResponse {}))
    }
}

type ApplicationEventStream =
    Pin<Box<dyn Stream<Item = Result<WireApplicationEvent, Status>> + Send>>;

/// The wire form of an application description (also sent to workers in `LaunchExecutor`).
pub(crate) fn description_to_wire(description: &ApplicationDescription) -> WireDescription {
    WireDescription {
        name: description.name.clone(),
        max_cores: description.max_cores,
        cores_per_executor: description.cores_per_executor,
        memory_per_executor_mib: description.memory_per_executor_mib,
        driver_url: description.driver_url.clone(),
        user: description.user.clone(),
        conf: description.conf.clone().into_iter().collect(),
        app_ui_url: description.app_ui_url.clone().unwrap_or_default(),
        initial_executor_limit: description.initial_executor_limit,
    }
}

fn description_from_wire(wire: WireDescription) -> Result<ApplicationDescription, Status> {
    if wire.driver_url.rsplit_once(':').is_none() {
        return Err(Status::invalid_argument(format!(
            "driver url \"{}\" is not HOST:PORT",
            wire.driver_url
        )));
    }
    if wire.memory_per_executor_mib == 0 {
        return Err(Status::invalid_argument(
            "spark.executor.memory must be at least 1 MiB",
        ));
    }
    if wire.cores_per_executor == Some(0) || wire.max_cores == Some(0) {
        return Err(Status::invalid_argument(
            "spark.executor.cores and spark.cores.max must be at least 1",
        ));
    }
    Ok(ApplicationDescription {
        name: if wire.name.is_empty() {
            "(unnamed)".into()
        } else {
            wire.name
        },
        max_cores: wire.max_cores,
        cores_per_executor: wire.cores_per_executor,
        memory_per_executor_mib: wire.memory_per_executor_mib,
        driver_url: wire.driver_url,
        user: wire.user,
        conf: wire.conf.into_iter().collect(),
        // Shown as a link: only http(s) URLs are kept.
        app_ui_url: Some(wire.app_ui_url)
            .filter(|url| url.starts_with("http://") || url.starts_with("https://")),
        initial_executor_limit: wire.initial_executor_limit,
    })
}

/// The wire form of an executor state.
pub(crate) fn state_to_wire(state: ExecutorState) -> WireExecutorState {
    match state {
        ExecutorState::Launching => WireExecutorState::Launching,
        ExecutorState::Running => WireExecutorState::Running,
        ExecutorState::Killed => WireExecutorState::Killed,
        ExecutorState::Failed => WireExecutorState::Failed,
        ExecutorState::Lost => WireExecutorState::Lost,
        ExecutorState::Exited => WireExecutorState::Exited,
    }
}

fn state_from_wire(value: i32) -> Result<ExecutorState, Status> {
    match WireExecutorState::try_from(value) {
        Ok(WireExecutorState::Launching) => Ok(ExecutorState::Launching),
        Ok(WireExecutorState::Running) => Ok(ExecutorState::Running),
        Ok(WireExecutorState::Killed) => Ok(ExecutorState::Killed),
        Ok(WireExecutorState::Failed) => Ok(ExecutorState::Failed),
        Ok(WireExecutorState::Lost) => Ok(ExecutorState::Lost),
        Ok(WireExecutorState::Exited) => Ok(ExecutorState::Exited),
        Ok(WireExecutorState::Unspecified) | Err(_) => Err(Status::invalid_argument(format!(
            "unknown executor state {value}"
        ))),
    }
}

fn event_to_wire(event: ApplicationEvent) -> WireApplicationEvent {
    use flint_rpc::deploy::application_event::Event;
    let event = match event {
        ApplicationEvent::Registered {
            app_id,
            master_url,
            cluster_cores,
        } => Event::Registered(RegisteredApplication {
            app_id,
            master_url,
            cluster_cores,
        }),
        ApplicationEvent::ExecutorAdded {
            executor_id,
            worker_id,
            host,
            cores,
            memory_mib,
        } => Event::ExecutorAdded(ExecutorAdded {
            executor_id,
            worker_id,
            host,
            cores,
            memory_mib,
        }),
        ApplicationEvent::ExecutorUpdated {
            executor_id,
            state,
            message,
            exit_status,
            worker_lost,
        } => Event::ExecutorUpdated(ExecutorUpdated {
            executor_id,
            state: state_to_wire(state) as i32,
            message,
            exit_status,
            worker_lost,
        }),
        ApplicationEvent::Waiting(reason) => Event::Waiting(reason),
        ApplicationEvent::Removed(state) => Event::Removed(state.as_str().to_string()),
    };
    WireApplicationEvent { event: Some(event) }
}

/// Serves the master's RPC endpoint until the process ends.
pub(crate) async fn serve(
    listener: TcpListener,
    master: MasterHandle,
    security: &RpcSecurity,
) -> Result<(), MasterError> {
    tonic::transport::Server::builder()
        .add_service(MasterServer::new(MasterService {
            master,
            security: security.clone(),
        }))
        .serve_with_incoming(flint_rpc::incoming(listener, security))
        .await?;
    Ok(())
}

/// The wire form of a driver description (sent to workers in `LaunchDriver`).
pub(crate) fn driver_description_to_wire(description: &DriverDescription) -> WireDriverDescription {
    WireDriverDescription {
        application: description.application.clone(),
        arguments: description.arguments.clone(),
        cores: description.cores,
        memory_mib: description.memory_mib,
        supervise: description.supervise,
        conf: description.conf.clone().into_iter().collect(),
    }
}

fn driver_description_from_wire(wire: WireDriverDescription) -> Result<DriverDescription, Status> {
    if !wire.application.starts_with('/') {
        return Err(Status::invalid_argument(format!(
            "the application path \"{}\" must be absolute",
            wire.application
        )));
    }
    if wire.cores == 0 || wire.memory_mib == 0 {
        return Err(Status::invalid_argument(
            "a driver needs at least 1 core and 1 MiB (spark.driver.cores, spark.driver.memory)",
        ));
    }
    Ok(DriverDescription {
        application: wire.application,
        arguments: wire.arguments,
        cores: wire.cores,
        memory_mib: wire.memory_mib,
        supervise: wire.supervise,
        conf: wire.conf.into_iter().collect(),
    })
}

/// How long the master waits for a worker to answer a launch or kill.
const WORKER_RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the task that carries out the master's outbound commands (RPCs to workers and
/// timers) and returns its queue. Each RPC runs on its own task, so a slow worker holds up
/// nothing; a launch that fails comes back to the master as an event.
pub(crate) fn carry_out(
    master_url: String,
    master: MasterHandle,
    security: RpcSecurity,
) -> mpsc::UnboundedSender<Command> {
    let (commands, mut queue) = mpsc::unbounded_channel::<Command>();
    tokio::spawn(async move {
        let mut clients = WorkerClients {
            clients: HashMap::new(),
            security,
        };
        while let Some(command) = queue.recv().await {
            run_command(command, &master_url, &master, &mut clients);
        }
    });
    commands
}

/// Connections to workers, one per registration, opened on first use.
struct WorkerClients {
    clients: HashMap<String, (u64, WorkerClient<Channel>)>,
    security: RpcSecurity,
}

impl WorkerClients {
    fn get(&mut self, worker: &WorkerRef) -> Result<WorkerClient<Channel>, String> {
        if let Some((incarnation, client)) = self.clients.get(&worker.id)
            && *incarnation == worker.incarnation
        {
            return Ok(client.clone());
        }
        let channel = flint_rpc::connect_lazy(
            &worker.host,
            worker.port,
            WORKER_RPC_TIMEOUT,
            &self.security,
        )
        .map_err(|error| format!("worker {} has no usable address: {error}", worker.id))?;
        let client = WorkerClient::new(channel);
        self.clients
            .insert(worker.id.clone(), (worker.incarnation, client.clone()));
        Ok(client)
    }
}

fn run_command(
    command: Command,
    master_url: &str,
    master: &MasterHandle,
    clients: &mut WorkerClients,
) {
    let command = match command {
        Command::Later { delay, event } => {
            let master = master.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                master.post(event).await;
            });
            return;
        }
        // Persistence is the master loop's own.
        Command::Persist(_) | Command::Unpersist(_) => return,
        command => command,
    };
    let worker = match &command {
        Command::LaunchExecutor { worker, .. }
        | Command::KillExecutor { worker, .. }
        | Command::LaunchDriver { worker, .. }
        | Command::KillDriver { worker, .. }
        | Command::ApplicationFinished { worker, .. }
        | Command::MasterChanged { worker } => worker.clone(),
        Command::Later { .. } | Command::Persist(_) | Command::Unpersist(_) => return,
    };
    let client = clients.get(&worker);
    let master = master.clone();
    let master_url = master_url.to_string();
    tokio::spawn(async move {
        let outcome = match (command, client) {
            (
                Command::LaunchExecutor {
                    app_id,
                    executor_id,
                    description,
                    cores,
                    memory_mib,
                    ..
                },
                client,
            ) => {
                let request = flint_rpc::deploy::LaunchExecutorRequest {
                    master_url,
                    app_id: app_id.clone(),
                    executor_id,
                    description: Some(description_to_wire(&description)),
                    cores,
                    memory_mib,
                };
                let result = match client {
                    Ok(mut client) => client.launch_executor(request).await.map(drop),
                    Err(message) => Err(Status::failed_precondition(message)),
                };
                let Err(status) = result else { return };
                let what = format!("executor {app_id}/{executor_id}");
                Some(launch_failure(&worker, &what, &status, |message| {
                    MasterEvent::ExecutorStateChanged {
                        app_id,
                        executor_id,
                        state: ExecutorState::Failed,
                        message,
                        exit_status: None,
                    }
                }))
            }
            (
                Command::LaunchDriver {
                    driver_id,
                    description,
                    ..
                },
                client,
            ) => {
                let request = flint_rpc::deploy::LaunchDriverRequest {
                    driver_id: driver_id.clone(),
                    master_url,
                    description: Some(driver_description_to_wire(&description)),
                };
                let result = match client {
                    Ok(mut client) => client.launch_driver(request).await.map(drop),
                    Err(message) => Err(Status::failed_precondition(message)),
                };
                let Err(status) = result else { return };
                let what = format!("driver {driver_id}");
                Some(launch_failure(&worker, &what, &status, |message| {
                    MasterEvent::DriverStateChanged {
                        driver_id,
                        state: DriverState::Error,
                        message,
                    }
                }))
            }
            (_, Err(message)) => {
                tracing::warn!("{message}");
                None
            }
            (
                Command::KillExecutor {
                    app_id,
                    executor_id,
                    ..
                },
                Ok(mut client),
            ) => {
                let request = flint_rpc::deploy::KillExecutorRequest {
                    app_id,
                    executor_id,
                };
                if let Err(status) = client.kill_executor(request).await {
                    tracing::debug!(
                        "Cannot kill an executor on {}: {}",
                        worker.id,
                        status.message()
                    );
                }
                None
            }
            (Command::KillDriver { driver_id, .. }, Ok(mut client)) => {
                let request = flint_rpc::deploy::KillDriverRequest {
                    driver_id,
                    ..Default::default()
                };
                if let Err(status) = client.kill_driver(request).await {
                    tracing::debug!(
                        "Cannot kill a driver on {}: {}",
                        worker.id,
                        status.message()
                    );
                }
                None
            }
            (Command::ApplicationFinished { app_id, .. }, Ok(mut client)) => {
                let request = flint_rpc::deploy::ApplicationFinishedRequest { app_id };
                if let Err(status) = client.application_finished(request).await {
                    tracing::debug!(
                        "Cannot tell {} an application finished: {}",
                        worker.id,
                        status.message()
                    );
                }
                None
            }
            (Command::MasterChanged { .. }, Ok(mut client)) => {
                let request = flint_rpc::deploy::MasterChangedRequest { master_url };
                if let Err(status) = client.master_changed(request).await {
                    // It registers by itself when its heartbeats fail, or is removed after
                    // spark.worker.timeout.
                    tracing::warn!(
                        "Cannot tell worker {} this master took over: {}",
                        worker.id,
                        status.message()
                    );
                }
                None
            }
            (Command::Later { .. } | Command::Persist(_) | Command::Unpersist(_), Ok(_)) => None,
        };
        if let Some(event) = outcome {
            master.post(event).await;
        }
    });
}

/// What a failed launch of `what` on a worker means: a worker that cannot be reached is
/// lost (with everything it ran), while one that answered and could not start the process
/// failed this one (`refused`, given the message).
fn launch_failure(
    worker: &WorkerRef,
    what: &str,
    status: &Status,
    refused: impl FnOnce(String) -> MasterEvent,
) -> MasterEvent {
    if flint_rpc::is_unreachable(status) {
        MasterEvent::WorkerLost {
            worker_id: worker.id.clone(),
            incarnation: Some(worker.incarnation),
            reason: format!("cannot reach it to launch {what}: {}", status.message()),
        }
    } else {
        refused(format!(
            "the worker did not launch it: {}",
            status.message()
        ))
    }
}
