//! The worker web UI (Spark's `WorkerWebUI`): `/json/` in Spark's field names, an HTML page
//! listing executors, and `/logPage/` serving an executor's stdout or stderr.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::driver_runner::DriverRunnerInfo;
use crate::executor_runner::ExecutorRunnerInfo;
use crate::worker::{SharedStatus, WorkerStatus};

/// An application as a worker's executor entry describes it (Spark's
/// `JsonProtocol.writeApplicationDescription`).
#[derive(Serialize)]
struct ApplicationDescriptionJson {
    name: String,
    cores: u32,
    memoryperexecutor: u64,
    resourcesperexecutor: Vec<serde_json::Value>,
    memoryperslave: u64,
    resourcesperslave: Vec<serde_json::Value>,
    user: String,
    command: String,
}

/// One executor in `/json/` (Spark's `JsonProtocol.writeExecutorRunner`).
#[derive(Serialize)]
struct ExecutorJson {
    id: u32,
    memory: u64,
    resources: serde_json::Map<String, serde_json::Value>,
    appid: String,
    appdesc: ApplicationDescriptionJson,
}

/// One driver in `/json/` (Spark's `JsonProtocol.writeDriverRunner`).
#[derive(Serialize)]
struct DriverJson {
    id: String,
    starttime: String,
    state: &'static str,
    cores: u32,
    memory: u64,
    resources: serde_json::Map<String, serde_json::Value>,
}

fn driver_json(driver: &DriverRunnerInfo) -> DriverJson {
    DriverJson {
        id: driver.request.driver_id.clone(),
        starttime: driver.start_time_ms.to_string(),
        state: driver.state.as_str(),
        cores: driver.request.cores,
        memory: driver.request.memory_mib,
        resources: Default::default(),
    }
}

/// The worker's state in `/json/` (Spark's `JsonProtocol.writeWorkerState`).
#[derive(Serialize)]
struct WorkerJson {
    id: String,
    masterurl: String,
    masterwebuiurl: String,
    cores: u32,
    coresused: u32,
    memory: u64,
    memoryused: u64,
    resources: serde_json::Map<String, serde_json::Value>,
    resourcesused: serde_json::Map<String, serde_json::Value>,
    executors: Vec<ExecutorJson>,
    finishedexecutors: Vec<ExecutorJson>,
    drivers: Vec<DriverJson>,
    finisheddrivers: Vec<DriverJson>,
}

fn executor_json(executor: &ExecutorRunnerInfo) -> ExecutorJson {
    let request = &executor.request;
    ExecutorJson {
        id: request.executor_id,
        memory: request.memory_mib,
        resources: Default::default(),
        appid: request.app_id.clone(),
        appdesc: ApplicationDescriptionJson {
            name: request.app_name.clone(),
            cores: request.cores,
            memoryperexecutor: request.memory_mib,
            resourcesperexecutor: vec![],
            memoryperslave: request.memory_mib,
            resourcesperslave: vec![],
            user: request.user.clone(),
            command: executor.command.clone(),
        },
    }
}

fn worker_json(status: WorkerStatus) -> WorkerJson {
    WorkerJson {
        id: status.id,
        masterurl: status.master_url.unwrap_or_default(),
        masterwebuiurl: status.master_webui_url.unwrap_or_default(),
        cores: status.cores,
        coresused: status.cores_used,
        memory: status.memory_mib,
        memoryused: status.memory_used_mib,
        resources: Default::default(),
        resourcesused: Default::default(),
        executors: status.executors.iter().map(executor_json).collect(),
        finishedexecutors: status
            .finished_executors
            .iter()
            .map(executor_json)
            .collect(),
        drivers: status.drivers.iter().map(driver_json).collect(),
        finisheddrivers: status.finished_drivers.iter().map(driver_json).collect(),
    }
}

/// `/metrics`: the worker's figures in Prometheus text format, named as Spark's `worker`
/// metrics source names them.
async fn metrics(State(shared): State<SharedStatus>) -> Response {
    use flint_common::prometheus::{MetricKind::Gauge, PrometheusText};
    let status = shared.status();
    let mut text = PrometheusText::new();
    text.single(
        "worker_executors",
        Gauge,
        "Executors running.",
        status.executors.len() as f64,
    )
    .single(
        "worker_coresUsed",
        Gauge,
        "Cores given to executors and drivers.",
        status.cores_used as f64,
    )
    .single(
        "worker_coresFree",
        Gauge,
        "Cores free.",
        status.cores.saturating_sub(status.cores_used) as f64,
    )
    .single(
        "worker_memUsed_MB",
        Gauge,
        "Memory given to executors and drivers, MiB.",
        status.memory_used_mib as f64,
    )
    .single(
        "worker_memFree_MB",
        Gauge,
        "Memory free, MiB.",
        status.memory_mib.saturating_sub(status.memory_used_mib) as f64,
    );
    if let Some((service, _)) = &shared.shuffle_service {
        // Spark's shuffle service source.
        text.single(
            "shuffleService_registeredExecutorsSize",
            Gauge,
            "Executors registered with the worker's shuffle service.",
            service.registered_executors() as f64,
        );
    }
    text.http().into_response()
}

async fn json(State(shared): State<SharedStatus>) -> Json<WorkerJson> {
    Json(worker_json(shared.status()))
}

use flint_common::escape_html as escape;

fn executor_rows(executors: &[ExecutorRunnerInfo]) -> String {
    let mib = |v: u64| flint_conf::format_size(v << 20);
    let mut rows = String::new();
    for executor in executors.iter().rev() {
        let request = &executor.request;
        let log = |kind: &str| {
            format!(
                "<a href=\"/logPage/?appId={app}&amp;executorId={id}&amp;logType={kind}\">{kind}</a>",
                app = escape(&request.app_id),
                id = request.executor_id,
            )
        };
        rows.push_str(&format!(
            "<tr><td>{id}</td><td>{cores}</td><td>{state}</td><td>{memory}</td>\
             <td>ID: {app}<br>Name: {name}<br>User: {user}</td><td>{stdout} {stderr}</td></tr>\n",
            id = request.executor_id,
            cores = request.cores,
            state = executor.state.as_str_name(),
            memory = mib(request.memory_mib),
            app = escape(&request.app_id),
            name = escape(&request.app_name),
            user = escape(&request.user),
            stdout = log("stdout"),
            stderr = log("stderr"),
        ));
    }
    rows
}

fn executor_table(title: &str, executors: &[ExecutorRunnerInfo]) -> String {
    format!(
        "<h3>{title} ({count})</h3>\n<table><thead><tr><th>ExecutorID</th><th>Cores</th>\
         <th>State</th><th>Memory</th><th>Job Details</th><th>Logs</th></tr></thead>\
         <tbody>\n{rows}</tbody></table>\n",
        count = executors.len(),
        rows = executor_rows(executors),
    )
}

fn driver_table(title: &str, drivers: &[DriverRunnerInfo]) -> String {
    let mib = |v: u64| flint_conf::format_size(v << 20);
    let mut rows = String::new();
    for driver in drivers.iter().rev() {
        let id = escape(&driver.request.driver_id);
        rows.push_str(&format!(
            "<tr><td>{id}</td><td>{application}</td><td>{state}</td><td>{cores}</td>\
             <td>{memory}</td><td><a href=\"/logPage/?driverId={id}&amp;logType=stdout\">stdout</a> \
             <a href=\"/logPage/?driverId={id}&amp;logType=stderr\">stderr</a></td></tr>\n",
            application = escape(&driver.request.application),
            state = driver.state.as_str(),
            cores = driver.request.cores,
            memory = mib(driver.request.memory_mib),
        ));
    }
    format!(
        "<h3>{title} ({count})</h3>\n<table><thead><tr><th>DriverID</th><th>Main Class</th>\
         <th>State</th><th>Cores</th><th>Memory</th><th>Logs</th></tr></thead>\
         <tbody>\n{rows}</tbody></table>\n",
        count = drivers.len(),
    )
}

async fn page(State(shared): State<SharedStatus>) -> Response {
    let status = shared.status();
    let master = match (&status.master_url, &status.master_webui_url) {
        (Some(url), Some(web)) => format!("<a href=\"{}\">{}</a>", escape(web), escape(url)),
        _ => "(not registered; retrying)".to_string(),
    };
    let mib = |v: u64| flint_conf::format_size(v << 20);
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Flint Worker at {id}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>\n\
         <h2>Flint Worker {id}</h2>\n<ul>\n<li><strong>ID:</strong> {id}</li>\n\
         <li><strong>Master URL:</strong> {master}</li>\n\
         <li><strong>Cores:</strong> {cores} ({cores_used} Used)</li>\n\
         <li><strong>Memory:</strong> {memory} ({memory_used} Used)</li>\n</ul>\n\
         {running}{drivers}{finished}{finished_drivers}<p><a href=\"/json/\">JSON</a></p>\n</body></html>\n",
        id = escape(&status.id),
        cores = status.cores,
        cores_used = status.cores_used,
        memory = mib(status.memory_mib),
        memory_used = mib(status.memory_used_mib),
        running = executor_table("Running Executors", &status.executors),
        finished = executor_table("Finished Executors", &status.finished_executors),
        drivers = driver_table("Running Drivers", &status.drivers),
        finished_drivers = driver_table("Finished Drivers", &status.finished_drivers),
    ))
    .into_response()
}

/// `/logPage/?appId=..&executorId=..&logType=stdout|stderr` or `?driverId=..&logType=..`
/// (Spark's `LogPage`).
#[derive(Deserialize)]
struct LogQuery {
    #[serde(rename = "appId")]
    app_id: Option<String>,
    #[serde(rename = "executorId")]
    executor_id: Option<u32>,
    #[serde(rename = "driverId")]
    driver_id: Option<String>,
    #[serde(rename = "logType")]
    log_type: String,
}

/// The most of a log file the page returns: its last 1 MiB.
const LOG_PAGE_BYTES: u64 = 1 << 20;

async fn log_page(
    State(shared): State<SharedStatus>,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return (
            StatusCode::BAD_REQUEST,
            "expected ?appId=APP&executorId=N&logType=stdout|stderr or ?driverId=ID&logType=...",
        )
            .into_response();
    };
    if query.log_type != "stdout" && query.log_type != "stderr" {
        return (StatusCode::BAD_REQUEST, "logType must be stdout or stderr").into_response();
    }
    // Only processes this worker ran: the ids never become paths unchecked.
    let status = shared.status();
    let log_dir = match (&query.app_id, query.executor_id, &query.driver_id) {
        (Some(app_id), Some(executor_id), None) => status
            .executors
            .iter()
            .chain(&status.finished_executors)
            .find(|e| e.request.app_id == *app_id && e.request.executor_id == executor_id)
            .map(|e| e.log_dir.clone()),
        (None, None, Some(driver_id)) => status
            .drivers
            .iter()
            .chain(&status.finished_drivers)
            .find(|d| d.request.driver_id == *driver_id)
            .map(|d| d.log_dir.clone()),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "give appId and executorId, or driverId",
            )
                .into_response();
        }
    };
    let Some(log_dir) = log_dir else {
        return (
            StatusCode::NOT_FOUND,
            "no such executor or driver on this worker",
        )
            .into_response();
    };
    let path = log_dir.join(&query.log_type);
    match read_tail(&path, LOG_PAGE_BYTES) {
        Ok(text) => text.into_response(),
        Err(error) => (
            StatusCode::NOT_FOUND,
            format!("cannot read {}: {error}", path.display()),
        )
            .into_response(),
    }
}

fn read_tail(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(max)))?;
    let mut bytes = vec![];
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Serves the worker web UI until the process ends.
pub(crate) async fn serve(listener: TcpListener, shared: SharedStatus) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(page))
        .route("/json", get(json))
        .route("/json/", get(json))
        .route("/metrics", get(metrics))
        .route("/metrics/prometheus", get(metrics))
        .route("/logPage", get(log_page))
        .route("/logPage/", get(log_page))
        .with_state(shared.clone());
    flint_rpc::serve_web(listener, app, &shared.config.security).await
}
