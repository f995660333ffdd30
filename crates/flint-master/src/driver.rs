//! Drivers the master runs on workers in cluster deploy mode (Spark's `DriverInfo`,
//! `DriverDescription`, `DriverState`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A driver to run on a worker (Spark's `DriverDescription`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverDescription {
    /// Absolute path of the application (a `.sql` file or a program).
    pub application: String,
    /// The application's arguments.
    pub arguments: Vec<String>,
    /// `spark.driver.cores` reserved on the worker.
    pub cores: u32,
    /// `spark.driver.memory` reserved on the worker, MiB.
    pub memory_mib: u64,
    /// Restart the driver when it exits non-zero (`--supervise`).
    pub supervise: bool,
    /// The application's settings.
    pub conf: BTreeMap<String, String>,
}

/// Spark's `DriverState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverState {
    /// Waiting for a worker with room.
    Submitted,
    /// Its process runs on a worker.
    Running,
    /// It failed (or its worker died) and will start again (`--supervise`).
    Relaunching,
    /// It exited with code 0.
    Finished,
    /// It exited non-zero.
    Failed,
    /// Stopped on request.
    Killed,
    /// It could not be started, or its worker died.
    Error,
}

impl DriverState {
    /// Spark's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverState::Submitted => "SUBMITTED",
            DriverState::Running => "RUNNING",
            DriverState::Relaunching => "RELAUNCHING",
            DriverState::Finished => "FINISHED",
            DriverState::Failed => "FAILED",
            DriverState::Killed => "KILLED",
            DriverState::Error => "ERROR",
        }
    }

    /// Parses a state a worker reported.
    pub fn parse(text: &str) -> Option<Self> {
        [
            DriverState::Submitted,
            DriverState::Running,
            DriverState::Relaunching,
            DriverState::Finished,
            DriverState::Failed,
            DriverState::Killed,
            DriverState::Error,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// True once the driver will not run again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            DriverState::Finished | DriverState::Failed | DriverState::Killed | DriverState::Error
        )
    }
}

/// One driver (Spark's `DriverInfo`).
#[derive(Debug, Clone)]
pub struct DriverInfo {
    /// `driver-<yyyyMMddHHmmss>-<NNNN>`.
    pub id: String,
    /// What to run.
    pub description: DriverDescription,
    /// Submission time, milliseconds since the epoch.
    pub submit_time_ms: u64,
    /// Where it is in its life.
    pub state: DriverState,
    /// The worker running it (or that ran it last).
    pub worker_id: Option<String>,
    /// The worker's `host:port`.
    pub worker_host_port: Option<String>,
    /// Why it ended, when it did not end well.
    pub message: String,
}
