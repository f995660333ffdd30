//! Applications as the master sees them (Spark's `ApplicationInfo`, `ApplicationDescription`,
//! `ExecutorDesc`) and the events it sends to their drivers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// What an application asks for (Spark's `ApplicationDescription`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationDescription {
    /// `spark.app.name`.
    pub name: String,
    /// `spark.cores.max`; `None` = every core the cluster has.
    pub max_cores: Option<u32>,
    /// `spark.executor.cores`; `None` = one executor per worker with all its free cores.
    pub cores_per_executor: Option<u32>,
    /// `spark.executor.memory`, MiB.
    pub memory_per_executor_mib: u64,
    /// `HOST:PORT` of the driver's executor endpoint.
    pub driver_url: String,
    /// The user who submitted it.
    pub user: String,
    /// The `spark.*` settings executors start with.
    pub conf: BTreeMap<String, String>,
    /// `http://HOST:PORT` of the application's web UI, if it has one.
    pub app_ui_url: Option<String>,
    /// Executors it may have until it asks for more (Spark's `initialExecutorLimit`: 0 with
    /// dynamic allocation, whose manager then asks); `None` = no limit.
    pub initial_executor_limit: Option<u32>,
}

/// Spark's `ApplicationState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationState {
    /// Registered, no executor yet.
    Waiting,
    /// At least one executor was launched.
    Running,
    /// The driver unregistered or went away.
    Finished,
    /// Its executors kept failing (`spark.deploy.maxExecutorRetries`).
    Failed,
    /// Killed from the master's UI.
    Killed,
    /// Recovered from a master's persisted state; its driver has not registered again yet.
    Unknown,
}

impl ApplicationState {
    /// Spark's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationState::Waiting => "WAITING",
            ApplicationState::Running => "RUNNING",
            ApplicationState::Finished => "FINISHED",
            ApplicationState::Failed => "FAILED",
            ApplicationState::Killed => "KILLED",
            ApplicationState::Unknown => "UNKNOWN",
        }
    }
}

/// Spark's `ExecutorState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorState {
    /// Asked of a worker, not started yet.
    Launching,
    /// Its process runs.
    Running,
    /// Stopped by the worker on request.
    Killed,
    /// Could not be started.
    Failed,
    /// Went with its worker.
    Lost,
    /// Its process ended by itself.
    Exited,
}

impl ExecutorState {
    /// Spark's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorState::Launching => "LAUNCHING",
            ExecutorState::Running => "RUNNING",
            ExecutorState::Killed => "KILLED",
            ExecutorState::Failed => "FAILED",
            ExecutorState::Lost => "LOST",
            ExecutorState::Exited => "EXITED",
        }
    }

    /// True once the executor is gone for good (Spark's `ExecutorState.isFinished`).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ExecutorState::Killed
                | ExecutorState::Failed
                | ExecutorState::Lost
                | ExecutorState::Exited
        )
    }
}

/// One executor of an application (Spark's `ExecutorDesc`).
#[derive(Debug, Clone)]
pub struct ExecutorDesc {
    /// Numbered from 0 within the application.
    pub id: u32,
    /// The worker running it.
    pub worker_id: String,
    /// That worker's host.
    pub host: String,
    /// Task slots.
    pub cores: u32,
    /// MiB.
    pub memory_mib: u64,
    /// Where it is in its life.
    pub state: ExecutorState,
}

/// What the master tells a driver about its application, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApplicationEvent {
    Registered {
        app_id: String,
        master_url: String,
        cluster_cores: u32,
    },
    ExecutorAdded {
        executor_id: u32,
        worker_id: String,
        host: String,
        cores: u32,
        memory_mib: u64,
    },
    ExecutorUpdated {
        executor_id: u32,
        state: ExecutorState,
        message: String,
        exit_status: Option<i32>,
        worker_lost: bool,
    },
    /// No executor could be placed; the text says what is short.
    Waiting(String),
    /// The master ended the application in this state (Spark's `ApplicationRemoved`); the
    /// last event the driver gets.
    Removed(ApplicationState),
}

/// One application (Spark's `ApplicationInfo`).
#[derive(Debug, Clone)]
pub struct ApplicationInfo {
    /// `app-<yyyyMMddHHmmss>-<NNNN>`.
    pub id: String,
    /// What it asked for.
    pub description: ApplicationDescription,
    /// Registration time, milliseconds since the epoch.
    pub start_time_ms: u64,
    /// When it ended.
    pub end_time_ms: Option<u64>,
    /// Waiting, running or done.
    pub state: ApplicationState,
    /// Executors alive or launching, by id.
    pub executors: BTreeMap<u32, ExecutorDesc>,
    /// Cores held by those executors.
    pub cores_granted: u32,
    /// Executors it may have (Spark's `executorLimit`), set by dynamic allocation's
    /// `RequestExecutors`; `None` = no limit.
    pub executor_limit: Option<u32>,
    pub(crate) next_executor_id: u32,
    /// Executors that ended abnormally since the last one that ran.
    pub(crate) executor_failures: u32,
    /// The last shortage sent to the driver, so it is sent once per change.
    pub(crate) last_waiting_reason: Option<String>,
    pub(crate) driver: Option<mpsc::UnboundedSender<ApplicationEvent>>,
    /// Which registration of the driver `driver` is, so the end of an earlier stream (a
    /// driver that registered again) does not end the application.
    pub(crate) link: u64,
}

impl ApplicationInfo {
    /// Cores the application may still be given.
    pub fn cores_left(&self) -> u32 {
        self.description
            .max_cores
            .unwrap_or(u32::MAX)
            .saturating_sub(self.cores_granted)
    }

    /// New executors it may still be given under its executor limit.
    pub fn executors_left(&self) -> u32 {
        self.executor_limit.map_or(u32::MAX, |limit| {
            limit.saturating_sub(self.executors.len() as u32)
        })
    }

    /// Milliseconds it ran (to now while it runs).
    pub fn duration_ms(&self, now_ms: u64) -> u64 {
        self.end_time_ms
            .unwrap_or(now_ms)
            .saturating_sub(self.start_time_ms)
    }

    /// Tells the driver; a driver that went away is noticed by its stream, not here.
    pub(crate) fn send(&self, event: ApplicationEvent) {
        if let Some(driver) = &self.driver {
            let _ = driver.send(event);
        }
    }
}
