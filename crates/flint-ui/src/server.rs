//! The application's web UI server (Spark's `SparkUI`): the `/api/v1` REST API and the HTML
//! pages, on `spark.ui.port` (4040, moving up when taken), for as long as the driver runs.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use flint_common::prometheus::PrometheusText;
use flint_driver::DagScheduler;

use crate::status_store::{AppState, AppStatusStore, JobStatus, StageStatus};
use crate::{api, pages};

/// A running application UI; dropping it stops the server.
#[derive(Debug)]
pub struct SparkUi {
    url: String,
    store: Arc<AppStatusStore>,
    /// The scheduler the kill links cancel jobs with, once `enable_kill` gave it.
    scheduler: Arc<OnceLock<Arc<DagScheduler>>>,
    server: tokio::task::JoinHandle<()>,
}

impl SparkUi {
    /// Serves `store` on `bind_host:port`, trying up to `max_retries` more ports when it is
    /// taken, and logs the URL it got with `display_host`. With `security`'s secret,
    /// requests must prove it.
    pub async fn start(
        store: Arc<AppStatusStore>,
        bind_host: &str,
        display_host: &str,
        port: u16,
        max_retries: u16,
        security: &flint_rpc::RpcSecurity,
    ) -> Result<Self, flint_rpc::RpcError> {
        let (listener, port) =
            flint_rpc::bind_service("SparkUI", bind_host, port, max_retries).await?;
        let scheduler = Arc::new(OnceLock::new());
        let kills = Router::new()
            .route("/jobs/job/kill/", post(kill_job))
            .route("/stages/stage/kill/", post(kill_stage))
            .with_state(Arc::clone(&scheduler));
        let app = Router::new()
            .route("/", get(|| async { Redirect::to("/jobs/") }))
            .route("/metrics", get(metrics))
            .route("/metrics/prometheus", get(metrics))
            .fallback(live_page)
            .with_state(Arc::clone(&store))
            .merge(kills)
            .merge(api::routes(store.clone()));
        let scheme = security.web_scheme();
        let security = security.clone();
        let server = tokio::spawn(async move {
            if let Err(error) = flint_rpc::serve_web(listener, app, &security).await {
                tracing::warn!("The web UI stopped: {error}");
            }
        });
        let url = format!("{scheme}://{display_host}:{port}");
        tracing::info!("Flint web UI available at {url}");
        Ok(Self {
            url,
            store,
            scheduler,
            server,
        })
    }

    /// Turns on Spark's kill links (`spark.ui.killEnabled`): running jobs and stages get a
    /// "(kill)" link that cancels through `scheduler`.
    pub fn enable_kill(&self, scheduler: Arc<DagScheduler>) {
        if self.scheduler.set(scheduler).is_ok() {
            self.store.show_kill_links();
        }
    }

    /// `http://HOST:PORT` (Spark's `uiWebUrl`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The status store the UI shows.
    pub fn store(&self) -> &Arc<AppStatusStore> {
        &self.store
    }
}

impl Drop for SparkUi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The scheduler the kill links cancel through, once `spark.ui.killEnabled` gave it.
type KillState = Arc<OnceLock<Arc<DagScheduler>>>;

/// The `id` of a kill link's request.
#[derive(serde::Deserialize)]
struct KillRequest {
    id: u32,
}

/// `POST /jobs/job/kill/?id=N`: Spark's kill link of a running job; back to the Jobs tab.
async fn kill_job(State(kill): State<KillState>, Query(request): Query<KillRequest>) -> Response {
    let Some(scheduler) = kill.get() else {
        return kill_links_off();
    };
    scheduler.cancel_job(request.id, Some("killed via the Web UI"));
    Redirect::to("/jobs/").into_response()
}

/// `POST /stages/stage/kill/?id=N`: Spark's kill link of an active stage, which fails every
/// running job that runs it (Spark's `cancelStage`); back to the Stages tab.
async fn kill_stage(State(kill): State<KillState>, Query(request): Query<KillRequest>) -> Response {
    let Some(scheduler) = kill.get() else {
        return kill_links_off();
    };
    scheduler.cancel_stage(request.id, Some("killed via the Web UI"));
    Redirect::to("/stages/").into_response()
}

/// The answer to a kill request when `spark.ui.killEnabled` is off.
fn kill_links_off() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Kill links are disabled (spark.ui.killEnabled=false)\n",
    )
        .into_response()
}

/// `/metrics`: the application's jobs, stages and tasks by status, task time, shuffle bytes
/// and per-executor figures, in Prometheus text format.
async fn metrics(State(store): State<Arc<AppStatusStore>>) -> Response {
    let mut text = driver_metrics(&store.snapshot());
    if let Some(gauges) = store.allocation_gauges() {
        allocation_metrics(&mut text, &store.snapshot().app.id, gauges);
    }
    text.http().into_response()
}

/// Dynamic allocation's figures (Spark's `ExecutorAllocationManagerSource`).
fn allocation_metrics(
    text: &mut PrometheusText,
    app_id: &str,
    gauges: &flint_driver::executor_allocation_manager::AllocationGauges,
) {
    use flint_common::prometheus::MetricKind::Gauge;
    use std::sync::atomic::{AtomicU64, Ordering};
    let families: [(&str, &str, &AtomicU64); 5] = [
        (
            "driver_ExecutorAllocationManager_executors_numberTargetExecutors",
            "Executors dynamic allocation wants now.",
            &gauges.target,
        ),
        (
            "driver_ExecutorAllocationManager_executors_numberAllExecutors",
            "Executors registered now, those being removed included.",
            &gauges.all,
        ),
        (
            "driver_ExecutorAllocationManager_executors_numberExecutorsPendingToRemove",
            "Executors asked to be killed and not gone yet.",
            &gauges.pending_to_remove,
        ),
        (
            "driver_ExecutorAllocationManager_executors_numberMaxNeededExecutors",
            "Executors the waiting and running tasks would fill.",
            &gauges.max_needed,
        ),
        (
            "driver_ExecutorAllocationManager_executors_numberExecutorsToAdd",
            "Executors the next ramp step asks for.",
            &gauges.to_add,
        ),
    ];
    for (name, help, value) in families {
        text.family(
            name,
            Gauge,
            help,
            &[(
                vec![("application_id", app_id.to_string())],
                value.load(Ordering::Relaxed) as f64,
            )],
        );
    }
}

/// A per-executor metric family: name, kind, help, and the figure of one executor.
type ExecutorFamily = (
    &'static str,
    flint_common::prometheus::MetricKind,
    &'static str,
    fn(&crate::ExecutorData) -> f64,
);

/// The driver's scrape, built from one snapshot of the status store.
pub fn driver_metrics(state: &AppState) -> PrometheusText {
    use flint_common::prometheus::MetricKind::{Counter, Gauge};
    let app = || ("application_id", state.app.id.clone());
    let by_status = |statuses: Vec<(&'static str, usize)>| -> Vec<(Vec<(&str, String)>, f64)> {
        statuses
            .into_iter()
            .map(|(status, n)| (vec![app(), ("status", status.to_string())], n as f64))
            .collect()
    };
    let job_count = |status: JobStatus| state.jobs.values().filter(|j| j.status == status).count();
    let stage_count =
        |status: StageStatus| state.stages.values().filter(|s| s.status == status).count();
    let tasks: Vec<&crate::TaskData> = state
        .stages
        .values()
        .flat_map(|s| s.tasks.values())
        .collect();
    let task_count =
        |status: crate::TaskStatus| tasks.iter().filter(|t| t.status == status).count();
    let finished: Vec<&&crate::TaskData> = tasks
        .iter()
        .filter(|t| t.status != crate::TaskStatus::Running)
        .collect();
    let sum = |figure: fn(&crate::TaskData) -> u64| -> f64 {
        finished.iter().map(|t| figure(t)).sum::<u64>() as f64
    };
    let mut text = PrometheusText::new();
    text.family(
        "driver_jobs",
        Gauge,
        "Jobs by status.",
        &by_status(vec![
            ("running", job_count(JobStatus::Running)),
            ("succeeded", job_count(JobStatus::Succeeded)),
            ("failed", job_count(JobStatus::Failed)),
        ]),
    )
    .family(
        "driver_stages",
        Gauge,
        "Stage attempts by status.",
        &by_status(vec![
            ("pending", stage_count(StageStatus::Pending)),
            ("active", stage_count(StageStatus::Active)),
            ("complete", stage_count(StageStatus::Complete)),
            ("failed", stage_count(StageStatus::Failed)),
            ("skipped", stage_count(StageStatus::Skipped)),
        ]),
    )
    .family(
        "driver_tasks",
        Gauge,
        "Task attempts by status.",
        &by_status(vec![
            ("running", task_count(crate::TaskStatus::Running)),
            ("success", task_count(crate::TaskStatus::Success)),
            ("failed", task_count(crate::TaskStatus::Failed)),
        ]),
    )
    .family(
        "driver_task_duration_seconds_total",
        Counter,
        "Wall time of finished task attempts.",
        &[(vec![app()], sum(|t| t.duration()) / 1000.0)],
    )
    .family(
        "driver_shuffle_read_bytes_total",
        Counter,
        "Shuffle bytes read by finished tasks.",
        &[(vec![app()], sum(|t| t.metrics.shuffle_read_bytes))],
    )
    .family(
        "driver_shuffle_write_bytes_total",
        Counter,
        "Shuffle bytes written by finished tasks.",
        &[(vec![app()], sum(|t| t.metrics.shuffle_write_bytes))],
    );
    let executors = state.executors_in_order();
    let per_executor =
        |figure: fn(&crate::ExecutorData) -> f64| -> Vec<(Vec<(&str, String)>, f64)> {
            executors
                .iter()
                .filter(|e| e.is_active())
                .map(|e| (vec![app(), ("executor_id", e.id.clone())], figure(e)))
                .collect()
        };
    let executor_families: [ExecutorFamily; 8] = [
        (
            "executor_activeTasks",
            Gauge,
            "Tasks running on the executor.",
            |e| e.active_tasks as f64,
        ),
        (
            "executor_completedTasks_total",
            Counter,
            "Task attempts that succeeded on the executor.",
            |e| e.completed_tasks as f64,
        ),
        (
            "executor_failedTasks_total",
            Counter,
            "Task attempts that failed on the executor.",
            |e| e.failed_tasks as f64,
        ),
        (
            "executor_totalDuration_seconds_total",
            Counter,
            "Wall time of the executor's finished tasks.",
            |e| e.total_duration as f64 / 1000.0,
        ),
        (
            "executor_totalShuffleRead_bytes_total",
            Counter,
            "Shuffle bytes the executor's tasks read.",
            |e| e.shuffle_read as f64,
        ),
        (
            "executor_totalShuffleWrite_bytes_total",
            Counter,
            "Shuffle bytes the executor's tasks wrote.",
            |e| e.shuffle_write as f64,
        ),
        (
            "executor_memoryUsed_bytes",
            Gauge,
            "Bytes reserved in the executor's memory pool at its last heartbeat.",
            |e| e.memory_used as f64,
        ),
        (
            "executor_maxMemory_bytes",
            Gauge,
            "Bytes of the executor's memory pool.",
            |e| e.info.max_memory as f64,
        ),
    ];
    for (name, kind, help, figure) in executor_families {
        text.family(name, kind, help, &per_executor(figure));
    }
    text
}

/// A page of the live UI, or 404.
async fn live_page(
    State(store): State<Arc<AppStatusStore>>,
    uri: Uri,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match pages::render(&store.snapshot(), "", uri.path(), &params) {
        Some(page) => Html(page).into_response(),
        None => (StatusCode::NOT_FOUND, "No such page").into_response(),
    }
}
