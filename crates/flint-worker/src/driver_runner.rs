//! Driver processes in cluster deploy mode (Spark's `DriverRunner`): the worker runs
//! `flint submit --deploy-mode client APP ARGS` in `<work-dir>/<driver-id>/`, with stdout and
//! stderr there, and tells the master when it runs and how it ended.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;
use tokio::sync::oneshot;

use crate::executor_runner::{LaunchError, ProcessEnd, RunnerHandle, log_files, wait_or_kill};
use crate::worker::SharedStatus;

/// What the worker was asked to run (the domain form of `LaunchDriver`).
#[derive(Debug, Clone)]
pub(crate) struct DriverRequest {
    pub driver_id: String,
    pub master_url: String,
    pub application: String,
    pub arguments: Vec<String>,
    pub cores: u32,
    pub memory_mib: u64,
    pub conf: BTreeMap<String, String>,
}

/// A driver's state on its worker (Spark's `DriverState`, of those a worker reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DriverState {
    /// Its process runs.
    Running,
    /// It exited with code 0.
    Finished,
    /// It exited non-zero.
    Failed,
    /// Stopped on request.
    Killed,
    /// Its process was lost (could not be waited on).
    Error,
}

impl DriverState {
    /// Spark's name, as the master and `/json/` take it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DriverState::Running => "RUNNING",
            DriverState::Finished => "FINISHED",
            DriverState::Failed => "FAILED",
            DriverState::Killed => "KILLED",
            DriverState::Error => "ERROR",
        }
    }
}

/// One driver the worker runs or ran, as its UI and `/json/` show it.
#[derive(Debug, Clone)]
pub(crate) struct DriverRunnerInfo {
    pub request: DriverRequest,
    pub state: DriverState,
    pub start_time_ms: u64,
    /// `<work-dir>/<driver-id>`: `stdout` and `stderr` are in it.
    pub log_dir: PathBuf,
}

/// Starts the driver process and a task that watches it.
pub(crate) fn launch_driver(
    shared: &SharedStatus,
    request: DriverRequest,
) -> Result<RunnerHandle, LaunchError> {
    let log_dir = shared.config.work_dir.join(&request.driver_id);
    std::fs::create_dir_all(&log_dir).map_err(|source| LaunchError::Dir {
        path: log_dir.clone(),
        source,
    })?;
    let (stdout, stderr) = log_files(&log_dir)?;
    let binary = std::env::current_exe().map_err(LaunchError::Binary)?;
    let mut args: Vec<String> = vec![
        "submit".into(),
        "--master".into(),
        request.master_url.clone(),
        "--deploy-mode".into(),
        "client".into(),
        "--driver-memory".into(),
        format!("{}m", request.memory_mib),
        // The driver exits when this worker goes away.
        "--watch-stdin".into(),
    ];
    // The driver authenticates as its worker does, whatever the submitted settings say.
    if shared.config.security.authenticates() {
        args.push("--conf".into());
        args.push(format!("{}=true", flint_conf::keys::AUTHENTICATE.key));
    }
    for (key, value) in &request.conf {
        // Secrets never go on a command line: the driver gets the worker's own secret in
        // its environment.
        if key != "spark.master"
            && key != "spark.submit.deployMode"
            && !(shared.config.security.authenticates()
                && key == flint_conf::keys::AUTHENTICATE.key)
            && !flint_conf::is_secret_key(key)
        {
            args.push("--conf".into());
            args.push(format!("{key}={value}"));
        }
    }
    args.push(request.application.clone());
    args.extend(request.arguments.iter().cloned());
    tracing::info!("Launch Command: {} {}", binary.display(), args.join(" "));
    let mut command = Command::new(&binary);
    if let Some(secret) = shared.config.security.secret() {
        command.env(flint_conf::AUTH_SECRET_ENV, secret);
    }
    let mut child = command
        .args(&args)
        .current_dir(&log_dir)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(LaunchError::Spawn)?;
    shared.driver_started(DriverRunnerInfo {
        request: request.clone(),
        state: DriverState::Running,
        start_time_ms: flint_common::now_millis(),
        log_dir,
    });
    shared.report_driver(&request.driver_id, DriverState::Running, String::new());
    let (kill, killed) = oneshot::channel::<()>();
    let shared = shared.clone();
    let done = tokio::spawn(async move {
        let _stdin = child.stdin.take();
        let (state, message) = match wait_or_kill(&mut child, killed).await {
            ProcessEnd::Exited(0) => (DriverState::Finished, String::new()),
            ProcessEnd::Exited(code) => (
                DriverState::Failed,
                format!("Command exited with code {code}"),
            ),
            ProcessEnd::Killed(_) => (DriverState::Killed, String::new()),
            ProcessEnd::Lost(error) => (DriverState::Error, error),
        };
        tracing::info!(
            "Driver {} exited with state {}",
            request.driver_id,
            state.as_str()
        );
        shared.driver_finished(&request, state);
        shared.report_driver(&request.driver_id, state, message);
    });
    Ok(RunnerHandle::new(kill, done))
}
