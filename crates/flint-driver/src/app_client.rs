//! The driver's link to a standalone master (Spark's `StandaloneAppClient`): registers the
//! application, then follows the master's events for it — executors granted, executors gone,
//! why it waits, its removal — and passes what matters to the scheduler backend. Dropping
//! the client closes the stream, which the master takes as the application's end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flint_conf::format_size;
use flint_rpc::RpcSecurity;
use flint_rpc::deploy::master_client::MasterClient;
use flint_rpc::deploy::{
    ApplicationDescription, ExecutorState, KillExecutorsRequest, RegisterApplicationRequest,
    RequestExecutorsRequest, application_event,
};
use thiserror::Error;
use tokio::sync::mpsc;
use tonic::Streaming;
use tonic::transport::Channel;

use crate::{ClusterRequest, StandaloneSchedulerBackend};

/// Failures to register an application with a master.
#[derive(Debug, Error)]
pub enum AppClientError {
    /// No master could be reached.
    #[error("cannot reach the master at {masters}: {message}")]
    Unreachable { masters: String, message: String },
    /// The master refused the application.
    #[error("the master at {master} refused the application: {message}")]
    Refused { master: String, message: String },
}

/// What the application asks of the cluster (Spark's `ApplicationDescription`).
#[derive(Debug, Clone)]
pub struct AppDescription {
    /// `spark.app.name`.
    pub name: String,
    /// `spark.cores.max`.
    pub max_cores: Option<u32>,
    /// `spark.executor.cores`.
    pub cores_per_executor: Option<u32>,
    /// `spark.executor.memory` in MiB.
    pub memory_per_executor_mib: u64,
    /// `HOST:PORT` executors dial.
    pub driver_url: String,
    /// The submitting user.
    pub user: String,
    /// The `spark.*` settings executors start with.
    pub conf: BTreeMap<String, String>,
    /// `http://HOST:PORT` of the application's web UI, if it has one.
    pub app_ui_url: Option<String>,
    /// Executors it may have until it asks for more: `Some(0)` with dynamic allocation,
    /// whose manager asks (Spark's `initialExecutorLimit`).
    pub initial_executor_limit: Option<u32>,
}

/// A registered application; drop it to end the application on the master.
#[derive(Debug)]
pub struct StandaloneAppClient {
    app_id: String,
    cluster_cores: u32,
    events: tokio::task::JoinHandle<()>,
    requests: Option<tokio::task::JoinHandle<()>>,
}

impl StandaloneAppClient {
    /// Registers with the first master that answers (waiting at most `timeout` for each) and
    /// starts following its events. A master gone for longer than `master_timeout` while
    /// the application has no executor left ends the application. Every connection to a
    /// master proves `security`'s secret.
    pub async fn register(
        masters: &[(String, u16)],
        description: AppDescription,
        backend: Arc<StandaloneSchedulerBackend>,
        timeout: Duration,
        master_timeout: Duration,
        security: RpcSecurity,
    ) -> Result<Self, AppClientError> {
        let request = RegisterApplicationRequest {
            description: Some(ApplicationDescription {
                name: description.name,
                max_cores: description.max_cores,
                cores_per_executor: description.cores_per_executor,
                memory_per_executor_mib: description.memory_per_executor_mib,
                driver_url: description.driver_url,
                user: description.user,
                conf: description.conf.into_iter().collect(),
                app_ui_url: description.app_ui_url.unwrap_or_default(),
                initial_executor_limit: description.initial_executor_limit,
            }),
            app_id: None,
            next_executor_id: 0,
        };
        let mut last_error = String::from("no master given");
        for (host, port) in masters {
            let master = format!("spark://{host}:{port}");
            tracing::info!("Connecting to master {master}...");
            let channel = match flint_rpc::connect(host, *port, timeout, &security).await {
                Ok(channel) => channel,
                Err(error) => {
                    last_error = error.to_string();
                    continue;
                }
            };
            let mut master_client = MasterClient::new(channel);
            let mut events = match master_client.register_application(request.clone()).await {
                Ok(response) => response.into_inner(),
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    return Err(AppClientError::Refused {
                        master,
                        message: status.message().to_string(),
                    });
                }
                Err(status) => {
                    last_error = status.message().to_string();
                    continue;
                }
            };
            let first = tokio::time::timeout(timeout, events.message()).await;
            let (app_id, cluster_cores) = match first {
                Ok(Ok(Some(event))) => match event.event {
                    Some(application_event::Event::Registered(registered)) => {
                        (registered.app_id, registered.cluster_cores)
                    }
                    _ => {
                        last_error =
                            "the master's first answer was not RegisteredApplication".into();
                        continue;
                    }
                },
                Ok(Ok(None)) => {
                    last_error = "the master closed the registration".into();
                    continue;
                }
                Ok(Err(status)) => {
                    last_error = status.message().to_string();
                    continue;
                }
                Err(_) => {
                    last_error = "no answer to the registration".into();
                    continue;
                }
            };
            tracing::info!(
                app_id = %app_id,
                "Connected to Flint cluster with app ID {app_id}"
            );
            let client = tokio::sync::watch::Sender::new(master_client);
            let requested_total = Arc::new(Mutex::new(None));
            let requests = backend.take_cluster_requests().map(|requests| {
                tokio::spawn(send_cluster_requests(
                    app_id.clone(),
                    client.subscribe(),
                    requests,
                    Arc::clone(&requested_total),
                ))
            });
            let follow = tokio::spawn(follow_events(
                MasterLink {
                    app_id: app_id.clone(),
                    master,
                    timeout: master_timeout,
                    masters: masters.to_vec(),
                    connect_timeout: timeout,
                    security: security.clone(),
                    request: request.clone(),
                    next_executor_id: 0,
                    requested_total,
                    client,
                },
                events,
                backend,
            ));
            return Ok(Self {
                app_id,
                cluster_cores,
                events: follow,
                requests,
            });
        }
        Err(AppClientError::Unreachable {
            masters: masters
                .iter()
                .map(|(h, p)| format!("spark://{h}:{p}"))
                .collect::<Vec<_>>()
                .join(","),
            message: last_error,
        })
    }

    /// The id the master gave the application (`app-<yyyyMMddHHmmss>-<NNNN>`).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Cores of the cluster's alive workers when the application registered.
    pub fn cluster_cores(&self) -> u32 {
        self.cluster_cores
    }
}

impl Drop for StandaloneAppClient {
    fn drop(&mut self) {
        // Dropping the stream tells the master the application is over.
        self.events.abort();
        if let Some(requests) = &self.requests {
            requests.abort();
        }
    }
}

/// How long one request to the master may take before it is given up (the master may be
/// gone; a later request says the same again).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the backend's requests to the master one after the other, so a new total is known
/// before the kills it allows (Spark's `requestTotalExecutors` and `killExecutors`).
async fn send_cluster_requests(
    app_id: String,
    master: tokio::sync::watch::Receiver<MasterClient<Channel>>,
    mut requests: mpsc::UnboundedReceiver<ClusterRequest>,
    requested_total_now: Arc<Mutex<Option<u32>>>,
) {
    while let Some(request) = requests.recv().await {
        let what = match &request {
            ClusterRequest::KillExecutors(ids) => format!("kill executor(s) {}", ids.join(",")),
            ClusterRequest::RequestTotal(total) => format!("have {total} executor(s) in all"),
        };
        tracing::info!(app_id = %app_id, "Requesting the master to {what}");
        // The master the application follows now (it changes when a master takes over).
        let mut master = master.borrow().clone();
        let answer = match request {
            ClusterRequest::KillExecutors(ids) => {
                let request = KillExecutorsRequest {
                    app_id: app_id.clone(),
                    executor_ids: ids.iter().filter_map(|id| id.parse().ok()).collect(),
                };
                tokio::time::timeout(REQUEST_TIMEOUT, master.kill_executors(request))
                    .await
                    .map(|answer| answer.map(drop))
            }
            ClusterRequest::RequestTotal(requested_total) => {
                *lock(&requested_total_now) = Some(requested_total);
                let request = RequestExecutorsRequest {
                    app_id: app_id.clone(),
                    requested_total,
                };
                tokio::time::timeout(REQUEST_TIMEOUT, master.request_executors(request))
                    .await
                    .map(|answer| answer.map(drop))
            }
        };
        match answer {
            Ok(Ok(())) => {}
            Ok(Err(status)) => {
                tracing::warn!("Cannot ask the master to {what}: {}", status.message())
            }
            Err(_) => {
                tracing::warn!("Cannot ask the master to {what}: no answer in {REQUEST_TIMEOUT:?}")
            }
        }
    }
}

/// The application's registration with its master, and what it needs to register again
/// with a master that took over.
struct MasterLink {
    app_id: String,
    /// `spark://HOST:PORT` of the master followed now.
    master: String,
    /// How long the master may be gone before an application with no executor gives up.
    timeout: Duration,
    /// Every master the application may register with.
    masters: Vec<(String, u16)>,
    /// How long to wait for a master to answer.
    connect_timeout: Duration,
    /// `spark.authenticate`: the secret each connection to a master proves.
    security: RpcSecurity,
    /// The first registration, sent again with the application's id.
    request: RegisterApplicationRequest,
    /// One more than the highest executor id granted.
    next_executor_id: u32,
    /// The executor total dynamic allocation asked for last.
    requested_total: Arc<Mutex<Option<u32>>>,
    /// The master client requests go to.
    client: tokio::sync::watch::Sender<MasterClient<Channel>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

async fn follow_events(
    mut link: MasterLink,
    mut events: Streaming<flint_rpc::deploy::ApplicationEvent>,
    backend: Arc<StandaloneSchedulerBackend>,
) {
    loop {
        let lost = follow_stream(&mut link, &mut events, &backend).await;
        let Some(reason) = lost else {
            return;
        };
        match master_lost(&mut link, &reason, &backend).await {
            Some(stream) => events = stream,
            None => return,
        }
    }
}

/// Follows one master's stream of events; returns why it ended, or `None` when the master
/// removed the application.
async fn follow_stream(
    link: &mut MasterLink,
    events: &mut Streaming<flint_rpc::deploy::ApplicationEvent>,
    backend: &StandaloneSchedulerBackend,
) -> Option<String> {
    let app_id = link.app_id.clone();
    loop {
        let event = match events.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return Some("it closed this application's stream".into()),
            Err(status) => return Some(status.message().to_string()),
        };
        match event.event {
            Some(application_event::Event::ExecutorAdded(added)) => {
                link.next_executor_id = link.next_executor_id.max(added.executor_id + 1);
                tracing::info!(
                    app_id = %app_id,
                    "Granted executor ID {app_id}/{} on hostPort {} with {} core(s), {} RAM",
                    added.executor_id,
                    added.host,
                    added.cores,
                    format_size(added.memory_mib << 20)
                )
            }
            Some(application_event::Event::ExecutorUpdated(updated)) => {
                let state =
                    ExecutorState::try_from(updated.state).unwrap_or(ExecutorState::Unspecified);
                let message = if updated.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", updated.message)
                };
                tracing::info!(
                    app_id = %app_id,
                    "Executor updated: {app_id}/{} is now {}{message}",
                    updated.executor_id,
                    state.as_str_name()
                );
                if matches!(
                    state,
                    ExecutorState::Killed
                        | ExecutorState::Failed
                        | ExecutorState::Lost
                        | ExecutorState::Exited
                ) {
                    let reason = if updated.worker_lost {
                        format!("worker lost{message}")
                    } else {
                        format!("executor {}{message}", state.as_str_name())
                    };
                    backend.executor_removed(
                        &updated.executor_id.to_string(),
                        &reason,
                        updated.worker_lost,
                    );
                }
            }
            Some(application_event::Event::Waiting(reason)) => {
                tracing::debug!(app_id = %app_id, "Waiting for executors: {reason}");
                backend.set_waiting_reason(reason);
            }
            Some(application_event::Event::Removed(state)) => {
                backend.application_dead(&format!("Master removed our application: {state}"));
                return None;
            }
            Some(application_event::Event::Registered(_)) | None => {}
        }
    }
}

/// The master went away without removing the application (Spark's `disconnected`): running
/// executors keep working, but none can be granted or replaced. About every second the
/// driver asks each master to take the application back (a master that recovered it from
/// its persisted state does, Spark's `MasterChanged`); the stream of the one that does is
/// returned. Once no master has taken it back for the master timeout and no executor is
/// left, the application cannot do anything more and ends with Spark's "All masters are
/// unresponsive! Giving up.", instead of waiting for resources forever.
async fn master_lost(
    link: &mut MasterLink,
    reason: &str,
    backend: &StandaloneSchedulerBackend,
) -> Option<Streaming<flint_rpc::deploy::ApplicationEvent>> {
    tracing::warn!(
        app_id = %link.app_id,
        "Connection to master {} lost ({reason}); running executors keep working, but no executor can be granted or replaced",
        link.master
    );
    backend.set_waiting_reason(format!(
        "has lost its master {}: no executor can be granted",
        link.master
    ));
    let since = Instant::now();
    let check_every = (link.timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    // A restarted master is usually back within a second: ask soon, then every second.
    let mut pause = Duration::from_millis(100).min(check_every);
    let mut forgotten = false;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(check_every);
        if !forgotten {
            match reattach(link).await {
                Reattached::Yes(stream) => return Some(*stream),
                Reattached::Forgotten(master) => {
                    tracing::warn!(
                        app_id = %link.app_id,
                        "Master {master} does not know application {} (it started without this application's state); running executors keep working",
                        link.app_id
                    );
                    forgotten = true;
                }
                Reattached::No => {}
            }
        }
        if since.elapsed() >= link.timeout && backend.executors().is_empty() {
            tracing::error!(
                app_id = %link.app_id,
                "Master {} has been unreachable for {} s and the application has no executor left",
                link.master,
                since.elapsed().as_secs()
            );
            backend.application_dead("All masters are unresponsive! Giving up.");
            return None;
        }
    }
}

/// The outcome of asking the masters to take a running application back.
enum Reattached {
    /// A master took it back: its stream of events.
    Yes(Box<Streaming<flint_rpc::deploy::ApplicationEvent>>),
    /// A master answered that it does not know the application.
    Forgotten(String),
    /// No master answered.
    No,
}

async fn reattach(link: &mut MasterLink) -> Reattached {
    let mut request = link.request.clone();
    request.app_id = Some(link.app_id.clone());
    request.next_executor_id = link.next_executor_id;
    if let (Some(description), Some(total)) =
        (request.description.as_mut(), *lock(&link.requested_total))
    {
        description.initial_executor_limit = Some(total);
    }
    let mut forgotten = None;
    for (host, port) in link.masters.clone() {
        let master = format!("spark://{host}:{port}");
        let Ok(channel) =
            flint_rpc::connect(&host, port, link.connect_timeout, &link.security).await
        else {
            continue;
        };
        let mut client = MasterClient::new(channel);
        let mut events = match client.register_application(request.clone()).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                forgotten = Some(master);
                continue;
            }
            Err(_) => continue,
        };
        let first = tokio::time::timeout(link.connect_timeout, events.message()).await;
        let Ok(Ok(Some(flint_rpc::deploy::ApplicationEvent {
            event: Some(application_event::Event::Registered(_)),
        }))) = first
        else {
            continue;
        };
        tracing::info!(
            app_id = %link.app_id,
            "Master has changed, new master is at {master}"
        );
        link.master = master;
        link.client.send_replace(client);
        return Reattached::Yes(Box::new(events));
    }
    match forgotten {
        Some(master) => Reattached::Forgotten(master),
        None => Reattached::No,
    }
}
