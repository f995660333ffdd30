//! The worker web UI (Spark's `WorkerWebUI`): `/json/` in Spark's field names and an HTML page.

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::worker::{SharedStatus, WorkerStatus};

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
    executors: Vec<serde_json::Value>,
    finishedexecutors: Vec<serde_json::Value>,
    drivers: Vec<serde_json::Value>,
    finisheddrivers: Vec<serde_json::Value>,
}

fn current(status: &SharedStatus) -> WorkerStatus {
    status.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        executors: vec![],
        finishedexecutors: vec![],
        drivers: vec![],
        finisheddrivers: vec![],
    }
}

async fn json(State(status): State<SharedStatus>) -> Json<WorkerJson> {
    Json(worker_json(current(&status)))
}

use flint_common::escape_html as escape;

async fn page(State(status): State<SharedStatus>) -> Response {
    let status = current(&status);
    let master = match (&status.master_url, &status.master_webui_url) {
        (Some(url), Some(web)) => format!("<a href=\"{}\">{}</a>", escape(web), escape(url)),
        _ => "(not registered; retrying)".to_string(),
    };
    let mib = |v: u64| flint_conf::format_size(v << 20);
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Flint Worker at {id}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}</style></head><body>\n\
         <h2>Flint Worker {id}</h2>\n<ul>\n<li><strong>ID:</strong> {id}</li>\n\
         <li><strong>Master URL:</strong> {master}</li>\n\
         <li><strong>Cores:</strong> {cores} ({cores_used} Used)</li>\n\
         <li><strong>Memory:</strong> {memory} ({memory_used} Used)</li>\n</ul>\n\
         <p><a href=\"/json/\">JSON</a></p>\n</body></html>\n",
        id = escape(&status.id),
        cores = status.cores,
        cores_used = status.cores_used,
        memory = mib(status.memory_mib),
        memory_used = mib(status.memory_used_mib),
    ))
    .into_response()
}

/// Serves the worker web UI until the process ends.
pub(crate) async fn serve(listener: TcpListener, status: SharedStatus) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(page))
        .route("/json", get(json))
        .route("/json/", get(json))
        .with_state(status);
    axum::serve(listener, app).await
}
