//! Executor processes (Spark's `ExecutorRunner`): the worker starts `flint executor` for an
//! application, writes its stdout and stderr under `<work-dir>/<app-id>/<executor-id>/`, gives
//! it a local directory for shuffle files that is deleted when the process ends (when the
//! worker's shuffle service serves them, only its spills are, and the rest when the
//! application ends), and tells the master when the process runs and when it is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use flint_conf::{SparkConf, keys};
use flint_rpc::deploy::{ExecutorState, ExecutorStateChangedRequest};
use tokio::process::Command;
use tokio::sync::oneshot;

use crate::worker::SharedStatus;

/// What the worker was asked to launch (the domain form of `LaunchExecutor`).
#[derive(Debug, Clone)]
pub(crate) struct LaunchRequest {
    pub app_id: String,
    pub executor_id: u32,
    pub app_name: String,
    pub user: String,
    pub driver_url: String,
    pub cores: u32,
    pub memory_mib: u64,
    /// Application settings for the executor (`--conf`).
    pub conf: BTreeMap<String, String>,
}

/// One executor the worker runs or ran, as its UI and `/json/` show it.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorRunnerInfo {
    pub request: LaunchRequest,
    pub state: ExecutorState,
    /// The command line, as Spark's `appdesc.command` shows it.
    pub command: String,
    /// `<work-dir>/<app-id>/<executor-id>`: `stdout` and `stderr` are in it.
    pub log_dir: PathBuf,
}

/// A running executor's handles: how to stop it and how to wait for it.
#[derive(Debug)]
pub(crate) struct RunnerHandle {
    kill: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl RunnerHandle {
    /// The handle of a process watched by `done`, killed through `kill`.
    pub(crate) fn new(kill: oneshot::Sender<()>, done: tokio::task::JoinHandle<()>) -> Self {
        Self {
            kill: Some(kill),
            done,
        }
    }

    /// Kills the process (if it still runs) and waits until the runner has reported it.
    pub(crate) async fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let _ = self.done.await;
    }
}

/// Failures to start an executor process.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LaunchError {
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot find the flint binary to start the executor: {0}")]
    Binary(std::io::Error),
    #[error("cannot start the executor process: {0}")]
    Spawn(std::io::Error),
}

/// Starts the executor process and a task that watches it; returns its handle.
pub(crate) fn launch(
    shared: &SharedStatus,
    request: LaunchRequest,
) -> Result<RunnerHandle, LaunchError> {
    let log_dir = shared
        .config
        .work_dir
        .join(&request.app_id)
        .join(request.executor_id.to_string());
    let local_dir = shared
        .app_local_dir(&request.app_id)
        .join(format!("executor-{}", request.executor_id));
    for dir in [&log_dir, &local_dir] {
        std::fs::create_dir_all(dir).map_err(|source| LaunchError::Dir {
            path: dir.clone(),
            source,
        })?;
    }
    let (stdout, stderr) = log_files(&log_dir)?;
    let binary = std::env::current_exe().map_err(LaunchError::Binary)?;
    let mut args: Vec<String> = vec![
        "executor".into(),
        "--driver-url".into(),
        request.driver_url.clone(),
        "--executor-id".into(),
        request.executor_id.to_string(),
        "--hostname".into(),
        shared.config.host.clone(),
        "--cores".into(),
        request.cores.to_string(),
        "--app-id".into(),
        request.app_id.clone(),
        // The executor exits when this worker goes away (Spark's WorkerWatcher).
        "--watch-stdin".into(),
    ];
    let mut conf = request.conf.clone();
    conf.insert(
        "spark.executor.memory".into(),
        format!("{}m", request.memory_mib),
    );
    let keeps_shuffle_files = match &shared.shuffle_service {
        Some((_, port)) if uses_shuffle_service(&conf) => {
            // The executor registers with this worker's service, wherever it listens.
            conf.insert(keys::SHUFFLE_SERVICE_PORT.key.into(), port.to_string());
            true
        }
        _ => false,
    };
    conf.insert(
        "spark.local.dir".into(),
        local_dir.to_string_lossy().into_owned(),
    );
    if shared.config.security.authenticates() {
        conf.insert(keys::AUTHENTICATE.key.into(), "true".into());
    }
    // Secrets never go on a command line (anyone on the host can read it, and the worker's
    // UI shows it): the executor gets the worker's own secret in its environment.
    conf.retain(|key, _| !flint_conf::is_secret_key(key));
    for (key, value) in &conf {
        args.push("--conf".into());
        args.push(format!("{key}={value}"));
    }
    let command_line = format!("{} {}", binary.display(), args.join(" "));
    tracing::info!(
        app_id = %request.app_id,
        "Launch command: {command_line}"
    );
    let log_url = |kind: &str| {
        format!(
            "{}/logPage/?appId={}&executorId={}&logType={kind}",
            shared.webui_address, request.app_id, request.executor_id
        )
    };
    let mut command = Command::new(&binary);
    if let Some(secret) = shared.config.security.secret() {
        command.env(flint_conf::AUTH_SECRET_ENV, secret);
    }
    let mut child = command
        .args(&args)
        // Spark's ExecutorRunner hands the executor the links to its own logs, which it
        // reports to the driver's UI.
        .env("SPARK_LOG_URL_STDOUT", log_url("stdout"))
        .env("SPARK_LOG_URL_STDERR", log_url("stderr"))
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(LaunchError::Spawn)?;
    shared.executor_started(ExecutorRunnerInfo {
        request: request.clone(),
        state: ExecutorState::Running,
        command: command_line,
        log_dir,
    });
    report(
        shared,
        &request,
        ExecutorState::Running,
        String::new(),
        None,
    );

    let (kill, killed) = oneshot::channel::<()>();
    let shared_for_task = shared.clone();
    let done = tokio::spawn(async move {
        // Held until the process ends: closing it tells the executor the worker is gone.
        let _stdin = child.stdin.take();
        let (state, message, exit_status) = match wait_or_kill(&mut child, killed).await {
            ProcessEnd::Exited(code) => (
                ExecutorState::Exited,
                format!("Command exited with code {code}"),
                Some(code),
            ),
            ProcessEnd::Killed(code) => (
                ExecutorState::Killed,
                "Killed by the worker".to_string(),
                code,
            ),
            ProcessEnd::Lost(error) => (ExecutorState::Failed, error, None),
        };
        tracing::info!(
            app_id = %request.app_id,
            "Executor {}/{} finished with state {} message {message}",
            request.app_id,
            request.executor_id,
            state.as_str_name()
        );
        if keeps_shuffle_files {
            // The shuffle service serves its files until the application ends; spills of a
            // process killed mid-task are of no use to anyone (Spark's
            // `spark.storage.cleanupFilesAfterExecutorExit`).
            remove_spills(&local_dir);
        } else {
            // Without the process nobody serves its shuffle files: they go with it.
            remove_dir(&local_dir);
        }
        shared_for_task.executor_finished(&request, state);
        shared_for_task.remove_app_dir_if_idle(&request.app_id);
        report(&shared_for_task, &request, state, message, exit_status);
    });
    Ok(RunnerHandle::new(kill, done))
}

/// True when the application asks for the shuffle service (`spark.shuffle.service.enabled`).
fn uses_shuffle_service(conf: &BTreeMap<String, String>) -> bool {
    let mut settings = SparkConf::new();
    for (key, value) in conf {
        settings.set(key, value);
    }
    // A bad value fails the executor itself, with the key named.
    settings
        .value(&keys::SHUFFLE_SERVICE_ENABLED)
        .unwrap_or(false)
}

fn remove_dir(dir: &Path) {
    if let Err(error) = std::fs::remove_dir_all(dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("Cannot delete {}: {error}", dir.display());
    }
}

/// Deletes the spill directories of an exited executor's block managers under `local_dir`.
fn remove_spills(local_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(local_dir) else {
        return;
    };
    for entry in entries.flatten() {
        remove_dir(&entry.path().join("spill"));
    }
}

/// Creates `stdout` and `stderr` in `log_dir` for a child process.
pub(crate) fn log_files(log_dir: &Path) -> Result<(std::fs::File, std::fs::File), LaunchError> {
    let file = |name: &str| {
        let path = log_dir.join(name);
        std::fs::File::create(&path).map_err(|source| LaunchError::Dir { path, source })
    };
    Ok((file("stdout")?, file("stderr")?))
}

/// How a child process ended.
pub(crate) enum ProcessEnd {
    /// By itself, with this exit code (128 + signal when killed by a signal).
    Exited(i32),
    /// Killed by the worker.
    Killed(Option<i32>),
    /// The worker could not wait for it.
    Lost(String),
}

/// Waits for `child` to exit, or kills it when `killed` fires.
pub(crate) async fn wait_or_kill(
    child: &mut tokio::process::Child,
    killed: oneshot::Receiver<()>,
) -> ProcessEnd {
    tokio::select! {
        status = child.wait() => match status {
            Ok(status) => ProcessEnd::Exited(exit_code(&status)),
            Err(error) => ProcessEnd::Lost(format!("cannot wait for the process: {error}")),
        },
        _ = killed => {
            let _ = child.kill().await;
            ProcessEnd::Killed(child.wait().await.ok().map(|s| exit_code(&s)))
        }
    }
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(-1)
}

/// Queues `ExecutorStateChanged` for the master, in order (see `WorkerShared::report`).
fn report(
    shared: &SharedStatus,
    request: &LaunchRequest,
    state: ExecutorState,
    message: String,
    exit_status: Option<i32>,
) {
    shared.report(ExecutorStateChangedRequest {
        app_id: request.app_id.clone(),
        executor_id: request.executor_id,
        state: state as i32,
        message,
        exit_status,
    });
}
