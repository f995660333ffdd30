//! The master web UI (Spark's `MasterWebUI`): `/json/` in Spark's field names and an HTML page.

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::net::TcpListener;

use crate::application::ApplicationInfo;
use crate::driver::DriverInfo;
use crate::master::{MasterEvent, MasterHandle, MasterSnapshot, WorkerInfo, WorkerState};
use flint_common::now_millis;

/// One application in `/json/` (Spark's `JsonProtocol.writeApplicationInfo`).
#[derive(Serialize)]
struct ApplicationJson {
    id: String,
    starttime: u64,
    name: String,
    cores: u32,
    user: String,
    memoryperexecutor: u64,
    memoryperslave: u64,
    resourcesperexecutor: Vec<serde_json::Value>,
    resourcesperslave: Vec<serde_json::Value>,
    submitdate: String,
    state: &'static str,
    duration: u64,
}

/// One driver in `/json/` (Spark's `JsonProtocol.writeDriverInfo`).
#[derive(Serialize)]
struct DriverJson {
    id: String,
    starttime: String,
    state: &'static str,
    cores: u32,
    memory: u64,
    resources: serde_json::Map<String, serde_json::Value>,
    submitdate: String,
    worker: String,
    mainclass: String,
}

fn driver_json(driver: &DriverInfo) -> DriverJson {
    DriverJson {
        id: driver.id.clone(),
        starttime: driver.submit_time_ms.to_string(),
        state: driver.state.as_str(),
        cores: driver.description.cores,
        memory: driver.description.memory_mib,
        resources: Default::default(),
        submitdate: flint_common::java_date(driver.submit_time_ms),
        worker: driver.worker_id.clone().unwrap_or_else(|| "None".into()),
        mainclass: driver.description.application.clone(),
    }
}

fn application_json(app: &ApplicationInfo, now: u64) -> ApplicationJson {
    ApplicationJson {
        id: app.id.clone(),
        starttime: app.start_time_ms,
        name: app.description.name.clone(),
        cores: app.cores_granted,
        user: app.description.user.clone(),
        memoryperexecutor: app.description.memory_per_executor_mib,
        memoryperslave: app.description.memory_per_executor_mib,
        resourcesperexecutor: vec![],
        resourcesperslave: vec![],
        submitdate: flint_common::java_date(app.start_time_ms),
        state: app.state.as_str(),
        duration: app.duration_ms(now),
    }
}

/// One worker in `/json/` (Spark's `JsonProtocol.writeWorkerInfo`).
#[derive(Serialize)]
struct WorkerJson {
    id: String,
    host: String,
    port: u16,
    webuiaddress: String,
    cores: u32,
    coresused: u32,
    coresfree: u32,
    memory: u64,
    memoryused: u64,
    memoryfree: u64,
    resources: serde_json::Map<String, serde_json::Value>,
    resourcesused: serde_json::Map<String, serde_json::Value>,
    resourcesfree: serde_json::Map<String, serde_json::Value>,
    state: &'static str,
    lastheartbeat: u64,
}

/// The master's state in `/json/` (Spark's `JsonProtocol.writeMasterState`).
#[derive(Serialize)]
struct MasterJson {
    url: String,
    workers: Vec<WorkerJson>,
    aliveworkers: usize,
    cores: u32,
    coresused: u32,
    memory: u64,
    memoryused: u64,
    resources: Vec<serde_json::Value>,
    resourcesused: Vec<serde_json::Value>,
    activeapps: Vec<ApplicationJson>,
    completedapps: Vec<ApplicationJson>,
    activedrivers: Vec<DriverJson>,
    completeddrivers: Vec<DriverJson>,
    status: &'static str,
}

fn worker_json(worker: &WorkerInfo) -> WorkerJson {
    WorkerJson {
        id: worker.id.clone(),
        host: worker.host.clone(),
        port: worker.port,
        webuiaddress: worker.webui_address.clone(),
        cores: worker.cores,
        coresused: worker.cores_used,
        coresfree: worker.cores.saturating_sub(worker.cores_used),
        memory: worker.memory_mib,
        memoryused: worker.memory_used_mib,
        memoryfree: worker.memory_mib.saturating_sub(worker.memory_used_mib),
        resources: Default::default(),
        resourcesused: Default::default(),
        resourcesfree: Default::default(),
        state: worker.state.as_str(),
        lastheartbeat: worker.last_heartbeat_ms,
    }
}

fn master_json(snapshot: &MasterSnapshot) -> MasterJson {
    let now = now_millis();
    let alive: Vec<&WorkerInfo> = snapshot
        .workers
        .iter()
        .filter(|w| w.state == WorkerState::Alive)
        .collect();
    MasterJson {
        url: snapshot.url.clone(),
        workers: snapshot.workers.iter().map(worker_json).collect(),
        aliveworkers: alive.len(),
        cores: alive.iter().map(|w| w.cores).sum(),
        coresused: alive.iter().map(|w| w.cores_used).sum(),
        memory: alive.iter().map(|w| w.memory_mib).sum(),
        memoryused: alive.iter().map(|w| w.memory_used_mib).sum(),
        resources: alive.iter().map(|_| serde_json::json!({})).collect(),
        resourcesused: alive.iter().map(|_| serde_json::json!({})).collect(),
        // Spark lists both newest first.
        activeapps: snapshot
            .active_apps
            .iter()
            .rev()
            .map(|app| application_json(app, now))
            .collect(),
        completedapps: snapshot
            .completed_apps
            .iter()
            .map(|app| application_json(app, now))
            .collect(),
        activedrivers: snapshot.active_drivers.iter().map(driver_json).collect(),
        completeddrivers: snapshot.completed_drivers.iter().map(driver_json).collect(),
        status: snapshot.status,
    }
}

async fn snapshot(master: &MasterHandle) -> Result<MasterSnapshot, Response> {
    master
        .ask(MasterEvent::RequestState)
        .await
        .ok_or_else(|| (StatusCode::SERVICE_UNAVAILABLE, "master stopping").into_response())
}

async fn json(State(master): State<MasterHandle>) -> Response {
    match snapshot(&master).await {
        Ok(snapshot) => Json(master_json(&snapshot)).into_response(),
        Err(response) => response,
    }
}

use flint_common::escape_html as escape;

fn mib(value: u64) -> String {
    flint_conf::format_size(value * 1024 * 1024)
}

/// A duration as Spark's UI shows it: `850 ms`, `12 s`, `3.5 min`, `1.2 h`.
fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{} s", ms / 1000)
    } else if ms < 3_600_000 {
        format!("{:.1} min", ms as f64 / 60_000.0)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

/// `spark.ui.killEnabled`: whether the page shows kill links and the kill routes act.
#[derive(Clone, Copy)]
struct KillEnabled(bool);

/// The answer to a kill request when `spark.ui.killEnabled` is off.
fn kill_links_off() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Kill links are disabled (spark.ui.killEnabled=false)\n",
    )
        .into_response()
}

/// The `id` of a kill link's request.
#[derive(serde::Deserialize)]
struct KillRequest {
    id: String,
}

/// `POST /app/kill/?id=...`: Spark's kill link of a running application; back to the page.
async fn kill_application(
    State(master): State<MasterHandle>,
    Extension(KillEnabled(kill_enabled)): Extension<KillEnabled>,
    Query(request): Query<KillRequest>,
) -> Response {
    if !kill_enabled {
        return kill_links_off();
    }
    let id = request.id;
    let answer = master
        .ask(|reply| MasterEvent::KillApplication(id.clone(), reply))
        .await;
    kill_answer(answer.map(|found| {
        found
            .then_some(())
            .ok_or(format!("no running application {id}"))
    }))
}

/// `POST /driver/kill/?id=...`: Spark's kill link of a submitted driver; back to the page.
async fn kill_driver(
    State(master): State<MasterHandle>,
    Extension(KillEnabled(kill_enabled)): Extension<KillEnabled>,
    Query(request): Query<KillRequest>,
) -> Response {
    if !kill_enabled {
        return kill_links_off();
    }
    let answer = master
        .ask(|reply| MasterEvent::KillDriver(request.id, reply))
        .await;
    kill_answer(answer.map(|(found, message)| found.then_some(()).ok_or(message)))
}

/// The answer to a kill link: back to the page once killed, else why not (`None`: the
/// master is stopping).
fn kill_answer(killed: Option<Result<(), String>>) -> Response {
    match killed {
        Some(Ok(())) => Redirect::to("/").into_response(),
        Some(Err(message)) => (StatusCode::NOT_FOUND, format!("{message}\n")).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "master stopping").into_response(),
    }
}

/// Spark's "(kill)" link of a running application or driver.
fn kill_link(kind: &str, id: &str) -> String {
    let what = if kind == "app" {
        "application"
    } else {
        "driver"
    };
    flint_common::kill_form(
        &format!("{kind}/kill/?id={id}"),
        &format!("Are you sure you want to kill {what} {id} ?"),
    )
}

async fn page(
    State(master): State<MasterHandle>,
    Extension(KillEnabled(kill_enabled)): Extension<KillEnabled>,
) -> Response {
    let snapshot = match snapshot(&master).await {
        Ok(snapshot) => snapshot,
        Err(response) => return response,
    };
    let state = master_json(&snapshot);
    let mut rows = String::new();
    for worker in &snapshot.workers {
        rows.push_str(&format!(
            "<tr><td><a href=\"{web}\">{id}</a></td><td>{host}:{port}</td><td>{state}</td>\
             <td>{cores} ({used} Used)</td><td>{memory} ({memory_used} Used)</td></tr>\n",
            web = escape(&worker.webui_address),
            id = escape(&worker.id),
            host = escape(&worker.host),
            port = worker.port,
            state = worker.state.as_str(),
            cores = worker.cores,
            used = worker.cores_used,
            memory = mib(worker.memory_mib),
            memory_used = mib(worker.memory_used_mib),
        ));
    }
    // Running applications link to their own UI, as in Spark's master page.
    let ui_urls: std::collections::HashMap<&str, &str> = snapshot
        .active_apps
        .iter()
        .filter_map(|app| Some((app.id.as_str(), app.description.app_ui_url.as_deref()?)))
        .collect();
    let app_rows = |apps: &[ApplicationJson], killable: bool| {
        let mut rows = String::new();
        for app in apps {
            let kill = if killable {
                kill_link("app", &app.id)
            } else {
                String::new()
            };
            let name = match ui_urls.get(app.id.as_str()) {
                Some(url) => format!(
                    "<a class=\"app-ui\" href=\"{}\">{}</a>",
                    escape(url),
                    escape(&app.name)
                ),
                None => escape(&app.name),
            };
            rows.push_str(&format!(
                "<tr><td>{id}{kill}</td><td>{name}</td><td>{cores}</td><td>{memory}</td>\
                 <td>{submitted}</td><td>{user}</td><td>{state}</td><td>{duration}</td></tr>\n",
                id = escape(&app.id),
                cores = app.cores,
                memory = mib(app.memoryperexecutor),
                submitted = escape(&app.submitdate),
                user = escape(&app.user),
                state = app.state,
                duration = format_duration(app.duration),
            ));
        }
        rows
    };
    let app_table = |title: &str, apps: &[ApplicationJson], killable: bool| {
        format!(
            "<h3>{title} ({count})</h3>\n<table><thead><tr><th>Application ID</th><th>Name</th>\
             <th>Cores</th><th>Memory per Executor</th><th>Submitted Time</th><th>User</th>\
             <th>State</th><th>Duration</th></tr></thead><tbody>\n{rows}</tbody></table>\n",
            count = apps.len(),
            rows = app_rows(apps, killable),
        )
    };
    let driver_table = |title: &str, drivers: &[DriverJson], killable: bool| {
        let mut rows = String::new();
        for driver in drivers {
            let kill = if killable {
                kill_link("driver", &driver.id)
            } else {
                String::new()
            };
            rows.push_str(&format!(
                "<tr><td>{id}{kill}</td><td>{submitted}</td><td>{worker}</td><td>{state}</td>\
                 <td>{cores}</td><td>{memory}</td><td>{main}</td></tr>\n",
                id = escape(&driver.id),
                submitted = escape(&driver.submitdate),
                worker = escape(&driver.worker),
                state = driver.state,
                cores = driver.cores,
                memory = mib(driver.memory),
                main = escape(&driver.mainclass),
            ));
        }
        format!(
            "<h3>{title} ({count})</h3>\n<table><thead><tr><th>Submission ID</th>\
             <th>Submitted Time</th><th>Worker</th><th>State</th><th>Cores</th><th>Memory</th>\
             <th>Main Class</th></tr></thead><tbody>\n{rows}</tbody></table>\n",
            count = drivers.len(),
        )
    };
    let applications = format!(
        "{}{}{}{}",
        app_table("Running Applications", &state.activeapps, kill_enabled),
        driver_table("Running Drivers", &state.activedrivers, kill_enabled),
        app_table("Completed Applications", &state.completedapps, false),
        driver_table("Completed Drivers", &state.completeddrivers, false),
    );
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Flint Master at {url}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>\n\
         <h2>Flint Master at {url}</h2>\n<ul>\n<li><strong>URL:</strong> {url}</li>\n\
         <li><strong>Alive Workers:</strong> {alive}</li>\n\
         <li><strong>Cores in use:</strong> {cores} Total, {cores_used} Used</li>\n\
         <li><strong>Memory in use:</strong> {memory} Total, {memory_used} Used</li>\n\
         <li><strong>Applications:</strong> {running} Running, {completed} Completed</li>\n\
         <li><strong>Drivers:</strong> {drivers_running} Running, {drivers_completed} Completed</li>\n\
         <li><strong>Status:</strong> {status}</li>\n</ul>\n\
         <h3>Workers ({count})</h3>\n<table><thead><tr><th>Worker Id</th><th>Address</th>\
         <th>State</th><th>Cores</th><th>Memory</th></tr></thead><tbody>\n{rows}</tbody></table>\n\
         {applications}<p><a href=\"/json/\">JSON</a></p>\n</body></html>\n",
        url = escape(&state.url),
        alive = state.aliveworkers,
        cores = state.cores,
        cores_used = state.coresused,
        memory = mib(state.memory),
        memory_used = mib(state.memoryused),
        status = state.status,
        count = snapshot.workers.len(),
        running = state.activeapps.len(),
        completed = state.completedapps.len(),
        drivers_running = state.activedrivers.len(),
        drivers_completed = state.completeddrivers.len(),
    ))
    .into_response()
}

/// `/metrics`: the master's figures in Prometheus text format, named as Spark's `master`
/// metrics source names them (`workers`, `aliveWorkers`, `apps`, `waitingApps`), plus cores and
/// memory.
async fn metrics(State(master): State<MasterHandle>) -> Response {
    use flint_common::prometheus::{MetricKind::Gauge, PrometheusText};
    let snapshot = match snapshot(&master).await {
        Ok(snapshot) => snapshot,
        Err(response) => return response,
    };
    let state = master_json(&snapshot);
    let waiting = snapshot
        .active_apps
        .iter()
        .filter(|app| app.state == crate::application::ApplicationState::Waiting)
        .count();
    let mut text = PrometheusText::new();
    text.single(
        "master_workers",
        Gauge,
        "Workers known to the master, dead ones too.",
        snapshot.workers.len() as f64,
    )
    .single(
        "master_aliveWorkers",
        Gauge,
        "Workers alive.",
        state.aliveworkers as f64,
    )
    .single(
        "master_apps",
        Gauge,
        "Applications waiting or running.",
        snapshot.active_apps.len() as f64,
    )
    .single(
        "master_waitingApps",
        Gauge,
        "Applications waiting for executors.",
        waiting as f64,
    )
    .single(
        "master_runningApps",
        Gauge,
        "Applications with executors.",
        (snapshot.active_apps.len() - waiting) as f64,
    )
    .single(
        "master_cores",
        Gauge,
        "Cores of alive workers.",
        state.cores as f64,
    )
    .single(
        "master_coresFree",
        Gauge,
        "Free cores of alive workers.",
        state.cores.saturating_sub(state.coresused) as f64,
    )
    .single(
        "master_memory_MB",
        Gauge,
        "Memory of alive workers, MiB.",
        state.memory as f64,
    )
    .single(
        "master_memFree_MB",
        Gauge,
        "Free memory of alive workers, MiB.",
        state.memory.saturating_sub(state.memoryused) as f64,
    );
    text.http().into_response()
}

/// Serves the master web UI until the process ends.
pub(crate) async fn serve(
    listener: TcpListener,
    master: MasterHandle,
    security: &flint_rpc::RpcSecurity,
    kill_enabled: bool,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(page))
        .route("/json", get(json))
        .route("/json/", get(json))
        .route("/metrics", get(metrics))
        .route("/metrics/master/prometheus", get(metrics))
        // Kills are POSTs: with spark.acls.enable they need modify rights.
        .route("/app/kill/", post(kill_application))
        .route("/app/kill", post(kill_application))
        .route("/driver/kill/", post(kill_driver))
        .route("/driver/kill", post(kill_driver))
        .layer(Extension(KillEnabled(kill_enabled)))
        .with_state(master);
    flint_rpc::serve_web(listener, app, security).await
}
