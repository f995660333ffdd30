//! The REST API at `/api/v1` (Spark's `status.api.v1`): Spark's paths, field names, types
//! and status strings, so tools written for Spark's API read Flint's. Unknown ids answer 404
//! and malformed ones 400, each with a JSON error.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flint_executor::TaskMetrics;
use serde::Serialize;
use serde_json::json;

use crate::status_store::{
    AppState, AppStatusStore, AppSummary, ExecutorData, JobData, JobStatus, SqlExecutionData,
    StageData, TaskData, TaskStatus,
};

/// Spark's REST date format: `2026-11-21T15:16:39.265GMT`.
pub fn rest_date(millis: u64) -> String {
    chrono::DateTime::from_timestamp_millis(millis as i64)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fGMT").to_string())
        .unwrap_or_default()
}

/// An API error: its status and a JSON body `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn not_found(what: String) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, what)
}

fn bad_request(what: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, what)
}

/// `ApplicationInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationInfo {
    id: String,
    name: String,
    attempts: Vec<ApplicationAttemptInfo>,
}

/// `ApplicationAttemptInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationAttemptInfo {
    start_time: String,
    end_time: String,
    last_updated: String,
    duration: u64,
    spark_user: String,
    completed: bool,
    app_spark_version: String,
    start_time_epoch: i64,
    end_time_epoch: i64,
    last_updated_epoch: i64,
}

/// `JobData`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobJson {
    job_id: u32,
    name: String,
    description: String,
    submission_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_time: Option<String>,
    stage_ids: Vec<u32>,
    status: &'static str,
    num_tasks: usize,
    num_active_tasks: usize,
    num_completed_tasks: usize,
    num_skipped_tasks: usize,
    num_failed_tasks: usize,
    num_killed_tasks: usize,
    num_completed_indices: usize,
    num_active_stages: usize,
    num_completed_stages: usize,
    num_skipped_stages: usize,
    num_failed_stages: usize,
    killed_tasks_summary: serde_json::Map<String, serde_json::Value>,
}

/// `StageData` (the fields Flint measures).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StageJson {
    status: &'static str,
    stage_id: u32,
    attempt_id: u32,
    num_tasks: usize,
    num_active_tasks: usize,
    num_complete_tasks: usize,
    num_failed_tasks: usize,
    num_killed_tasks: usize,
    num_completed_indices: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    submission_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_task_launched_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    executor_deserialize_time: u64,
    executor_run_time: u64,
    result_size: u64,
    memory_bytes_spilled: u64,
    disk_bytes_spilled: u64,
    input_bytes: u64,
    input_records: u64,
    output_bytes: u64,
    output_records: u64,
    shuffle_remote_bytes_read: u64,
    shuffle_local_bytes_read: u64,
    shuffle_read_bytes: u64,
    shuffle_read_records: u64,
    shuffle_write_bytes: u64,
    shuffle_write_records: u64,
    name: String,
    details: String,
    scheduling_pool: String,
    killed_tasks_summary: serde_json::Map<String, serde_json::Value>,
}

fn job_json(job: &JobData) -> JobJson {
    let counts = &job.counts;
    JobJson {
        job_id: job.job_id,
        name: job.description.clone(),
        description: job.description.clone(),
        submission_time: rest_date(job.submission_time),
        completion_time: job.completion_time.map(rest_date),
        stage_ids: job.stage_ids.clone(),
        status: job.status.as_str(),
        num_tasks: job.num_tasks,
        num_active_tasks: counts.active_tasks,
        num_completed_tasks: counts.completed_tasks,
        num_skipped_tasks: counts.skipped_tasks,
        num_failed_tasks: counts.failed_tasks,
        num_killed_tasks: counts.killed_tasks.values().sum(),
        num_completed_indices: counts.completed_indices.len(),
        num_active_stages: counts.active_stages.len(),
        num_completed_stages: counts.completed_stages.len(),
        num_skipped_stages: counts.skipped_stages,
        num_failed_stages: counts.failed_stages,
        killed_tasks_summary: killed_summary(&counts.killed_tasks),
    }
}

/// Partitions with a successful attempt.
fn completed_indices(stage: &StageData) -> usize {
    let mut indices: Vec<u32> = stage
        .tasks
        .values()
        .filter(|t| t.status == TaskStatus::Success)
        .map(|t| t.info.index)
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices.len()
}

fn stage_json(stage: &StageData) -> StageJson {
    let (active, complete, failed) = stage.task_counts();
    let killed = stage.killed_tasks();
    let metrics = stage.metrics();
    StageJson {
        status: stage.status.as_str(),
        stage_id: stage.info.stage_id,
        attempt_id: stage.info.attempt,
        num_tasks: stage.info.num_tasks,
        num_active_tasks: active,
        num_complete_tasks: complete,
        num_failed_tasks: failed,
        num_killed_tasks: killed.values().sum(),
        num_completed_indices: completed_indices(stage),
        submission_time: stage.info.submission_time.map(rest_date),
        first_task_launched_time: stage.first_task_launched().map(rest_date),
        completion_time: stage.info.completion_time.map(rest_date),
        failure_reason: stage.info.failure_reason.clone(),
        executor_deserialize_time: metrics.executor_deserialize_time_ms,
        executor_run_time: metrics.executor_run_time_ms,
        result_size: metrics.result_size,
        memory_bytes_spilled: 0,
        disk_bytes_spilled: metrics.disk_bytes_spilled,
        input_bytes: metrics.input_bytes,
        input_records: metrics.input_records,
        output_bytes: 0,
        output_records: metrics.output_records,
        shuffle_remote_bytes_read: metrics.shuffle_remote_bytes_read,
        shuffle_local_bytes_read: metrics
            .shuffle_read_bytes
            .saturating_sub(metrics.shuffle_remote_bytes_read),
        shuffle_read_bytes: metrics.shuffle_read_bytes,
        shuffle_read_records: metrics.shuffle_read_records,
        shuffle_write_bytes: metrics.shuffle_write_bytes,
        shuffle_write_records: metrics.shuffle_write_records,
        name: stage.info.name.clone(),
        details: String::new(),
        scheduling_pool: stage.pool.clone(),
        killed_tasks_summary: killed_summary(&killed),
    }
}

/// Spark's `killedTasksSummary`: killed task attempts by reason.
fn killed_summary(
    killed: &std::collections::BTreeMap<String, usize>,
) -> serde_json::Map<String, serde_json::Value> {
    killed
        .iter()
        .map(|(reason, count)| (reason.clone(), serde_json::Value::from(*count)))
        .collect()
}

fn application_json(app: &AppSummary) -> ApplicationInfo {
    let end = app.end_time;
    let last = end.unwrap_or_else(flint_common::now_millis);
    ApplicationInfo {
        id: app.id.clone(),
        name: app.name.clone(),
        attempts: vec![ApplicationAttemptInfo {
            start_time: rest_date(app.start_time),
            // Spark's "not ended" marker: -1 epoch, printed as the instant before 1970.
            end_time: end
                .map(rest_date)
                .unwrap_or_else(|| "1969-12-31T23:59:59.999GMT".into()),
            last_updated: rest_date(last),
            duration: last.saturating_sub(app.start_time),
            spark_user: app.user.clone(),
            completed: end.is_some(),
            app_spark_version: env!("CARGO_PKG_VERSION").to_string(),
            start_time_epoch: app.start_time as i64,
            end_time_epoch: end.map(|e| e as i64).unwrap_or(-1),
            last_updated_epoch: last as i64,
        }],
    }
}

/// `TaskData`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskJson {
    task_id: u64,
    index: u32,
    attempt: u32,
    partition_id: u32,
    launch_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    executor_id: String,
    host: String,
    status: &'static str,
    task_locality: &'static str,
    speculative: bool,
    accumulator_updates: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_metrics: Option<serde_json::Value>,
    executor_logs: BTreeMap<String, String>,
    scheduler_delay: u64,
    getting_result_time: u64,
}

fn task_metrics_json(m: &TaskMetrics) -> serde_json::Value {
    json!({
        "executorDeserializeTime": m.executor_deserialize_time_ms,
        "executorDeserializeCpuTime": 0,
        "executorRunTime": m.executor_run_time_ms,
        "executorCpuTime": 0,
        "resultSize": m.result_size,
        "jvmGcTime": 0,
        "resultSerializationTime": 0,
        "memoryBytesSpilled": 0,
        "diskBytesSpilled": m.disk_bytes_spilled,
        "peakExecutionMemory": 0,
        "inputMetrics": {"bytesRead": m.input_bytes, "recordsRead": m.input_records},
        "outputMetrics": {"bytesWritten": 0, "recordsWritten": m.output_records},
        "shuffleReadMetrics": {
            "remoteBlocksFetched": 0,
            "localBlocksFetched": 0,
            "fetchWaitTime": 0,
            "remoteBytesRead": m.shuffle_remote_bytes_read,
            "remoteBytesReadToDisk": 0,
            "localBytesRead": m.shuffle_read_bytes.saturating_sub(m.shuffle_remote_bytes_read),
            "recordsRead": m.shuffle_read_records,
            "remoteReqsDuration": 0,
        },
        "shuffleWriteMetrics": {
            "bytesWritten": m.shuffle_write_bytes,
            "writeTime": 0,
            "recordsWritten": m.shuffle_write_records,
        },
    })
}

fn task_json(task: &TaskData, executors: &BTreeMap<String, ExecutorData>) -> TaskJson {
    let info = &task.info;
    let finished = task.status != TaskStatus::Running;
    TaskJson {
        task_id: info.task_id,
        index: info.index,
        attempt: info.attempt,
        partition_id: info.index,
        launch_time: rest_date(info.launch_time),
        duration: finished.then(|| task.duration()),
        executor_id: info.executor_id.clone(),
        host: info.host.clone(),
        status: task.status.as_str(),
        task_locality: info.locality.as_str(),
        speculative: info.speculative,
        accumulator_updates: vec![],
        error_message: task.error.clone(),
        task_metrics: finished.then(|| task_metrics_json(&task.metrics)),
        executor_logs: executors
            .get(&info.executor_id)
            .map(|e| e.info.log_urls.clone())
            .unwrap_or_default(),
        // What the executor did not spend running or decoding the task.
        scheduler_delay: if finished {
            task.duration().saturating_sub(
                task.metrics.executor_run_time_ms + task.metrics.executor_deserialize_time_ms,
            )
        } else {
            0
        },
        getting_result_time: 0,
    }
}

/// `ExecutorSummary`.
fn executor_json(executor: &ExecutorData) -> serde_json::Value {
    let mut value = json!({
        "id": executor.id,
        "hostPort": executor.info.host_port,
        "isActive": executor.is_active(),
        "rddBlocks": 0,
        "memoryUsed": executor.memory_used,
        "diskUsed": 0,
        "totalCores": executor.info.total_cores,
        "maxTasks": executor.info.total_cores,
        "activeTasks": executor.active_tasks,
        "failedTasks": executor.failed_tasks,
        "completedTasks": executor.completed_tasks,
        "totalTasks": executor.active_tasks + executor.failed_tasks + executor.completed_tasks,
        "totalDuration": executor.total_duration,
        "totalGCTime": 0,
        "totalInputBytes": executor.input_bytes,
        "totalShuffleRead": executor.shuffle_read,
        "totalShuffleWrite": executor.shuffle_write,
        "isBlacklisted": false,
        "maxMemory": executor.info.max_memory,
        "addTime": rest_date(executor.add_time),
        "executorLogs": executor.info.log_urls,
        "memoryMetrics": {
            "usedOnHeapStorageMemory": 0,
            "usedOffHeapStorageMemory": 0,
            "totalOnHeapStorageMemory": 0,
            "totalOffHeapStorageMemory": 0,
        },
        "blacklistedInStages": [],
        "attributes": {},
        "resources": {},
        "resourceProfileId": 0,
        "isExcluded": false,
        "excludedInStages": [],
    });
    if let Some(map) = value.as_object_mut() {
        if let Some(time) = executor.remove_time {
            map.insert("removeTime".into(), rest_date(time).into());
        }
        if let Some(reason) = &executor.remove_reason {
            map.insert("removeReason".into(), reason.clone().into());
        }
    }
    value
}

/// Where the API finds applications: one live application, or the history server's logs.
pub trait AppProvider: Send + Sync + 'static {
    /// Every application it knows, newest first.
    fn list(&self) -> Vec<AppSummary>;
    /// One application's state, if it knows `app_id`.
    fn get(&self, app_id: &str) -> Option<Arc<AppState>>;
}

impl AppProvider for AppStatusStore {
    fn list(&self) -> Vec<AppSummary> {
        vec![self.snapshot().app.clone()]
    }

    fn get(&self, app_id: &str) -> Option<Arc<AppState>> {
        Some(self.snapshot()).filter(|state| state.app.id == app_id)
    }
}

type Provider = Arc<dyn AppProvider>;

/// The state, if the provider knows `app_id`.
fn app_state(provider: &Provider, app_id: &str) -> Result<Arc<AppState>, ApiError> {
    provider
        .get(app_id)
        .ok_or_else(|| not_found(format!("unknown app: {app_id}")))
}

fn parse_id<T: std::str::FromStr>(kind: &str, text: &str) -> Result<T, ApiError> {
    text.parse()
        .map_err(|_| bad_request(format!("invalid {kind} id: {text}")))
}

/// Query parameters as given (`status`, `offset`, `length`, `sortBy`, `quantiles`).
type Params = Query<HashMap<String, String>>;

fn param<T: std::str::FromStr>(params: &Params, name: &str) -> Result<Option<T>, ApiError> {
    params
        .get(name)
        .map(|text| {
            text.parse()
                .map_err(|_| bad_request(format!("invalid value for {name}: {text}")))
        })
        .transpose()
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({ "spark": env!("CARGO_PKG_VERSION") }))
}

async fn applications(
    State(provider): State<Provider>,
    params: Params,
) -> Result<Json<Vec<ApplicationInfo>>, ApiError> {
    let completed = match params.get("status").map(|s| s.to_ascii_lowercase()) {
        None => None,
        Some(status) if status == "completed" => Some(true),
        Some(status) if status == "running" => Some(false),
        Some(status) => {
            return Err(bad_request(format!(
                "invalid status: {status} (completed or running)"
            )));
        }
    };
    let limit: Option<usize> = param(&params, "limit")?;
    Ok(Json(
        provider
            .list()
            .iter()
            .filter(|app| completed.is_none_or(|c| app.end_time.is_some() == c))
            .take(limit.unwrap_or(usize::MAX))
            .map(application_json)
            .collect(),
    ))
}

async fn application(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
) -> Result<Json<ApplicationInfo>, ApiError> {
    Ok(Json(application_json(&app_state(&provider, &app_id)?.app)))
}

async fn jobs(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
    params: Params,
) -> Result<Json<Vec<JobJson>>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let status = status_param(
        &params,
        "job",
        &["RUNNING", "SUCCEEDED", "FAILED", "UNKNOWN"],
    )?;
    // Newest first, as Spark lists them.
    Ok(Json(
        state
            .jobs
            .values()
            .rev()
            .filter(|job| status.as_deref().is_none_or(|s| job.status.as_str() == s))
            .map(job_json)
            .collect(),
    ))
}

async fn job(
    State(provider): State<Provider>,
    Path((app_id, job_id)): Path<(String, String)>,
) -> Result<Json<JobJson>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let job_id: u32 = parse_id("job", &job_id)?;
    let job = state
        .jobs
        .get(&job_id)
        .ok_or_else(|| not_found(format!("unknown job: {job_id}")))?;
    Ok(Json(job_json(job)))
}

/// A stage's JSON; with `details`, its tasks by id as Spark's `tasks` map.
fn stage_detail_json(stage: &StageData, state: &AppState, details: bool) -> serde_json::Value {
    let mut value = serde_json::to_value(stage_json(stage)).unwrap_or_default();
    if details && let Some(map) = value.as_object_mut() {
        let tasks: serde_json::Map<String, serde_json::Value> = stage
            .tasks
            .values()
            .map(|task| {
                let json = serde_json::to_value(task_json(task, &state.executors));
                (task.info.task_id.to_string(), json.unwrap_or_default())
            })
            .collect();
        map.insert("tasks".into(), tasks.into());
    }
    value
}

/// The `status` parameter in upper case, if it is one of `allowed` (Spark's names for a
/// `kind`'s statuses, any case); another value is a 400.
fn status_param(params: &Params, kind: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    let status = params.get("status").map(|s| s.to_ascii_uppercase());
    if let Some(status) = &status
        && !allowed.contains(&status.as_str())
    {
        return Err(bad_request(format!(
            "invalid {kind} status: {status} ({})",
            allowed.join(", ")
        )));
    }
    Ok(status)
}

async fn stages(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
    params: Params,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let status = status_param(
        &params,
        "stage",
        &["ACTIVE", "COMPLETE", "PENDING", "FAILED", "SKIPPED"],
    )?;
    let details = param::<bool>(&params, "details")?.unwrap_or(false);
    Ok(Json(
        state
            .stages
            .values()
            .rev()
            .filter(|s| status.as_deref().is_none_or(|st| s.status.as_str() == st))
            .map(|s| stage_detail_json(s, &state, details))
            .collect(),
    ))
}

async fn stage(
    State(provider): State<Provider>,
    Path((app_id, stage_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let stage_id: u32 = parse_id("stage", &stage_id)?;
    let details = param::<bool>(&params, "details")?.unwrap_or(true);
    let attempts: Vec<serde_json::Value> = state
        .stages
        .range((stage_id, 0)..=(stage_id, u32::MAX))
        .map(|(_, s)| stage_detail_json(s, &state, details))
        .collect();
    if attempts.is_empty() {
        return Err(not_found(format!("unknown stage: {stage_id}")));
    }
    Ok(Json(attempts))
}

/// The stage attempt a path names.
fn stage_of<'a>(
    state: &'a AppState,
    stage_id: &str,
    attempt: &str,
) -> Result<&'a StageData, ApiError> {
    let key = (
        parse_id::<u32>("stage", stage_id)?,
        parse_id::<u32>("attempt", attempt)?,
    );
    state
        .stages
        .get(&key)
        .ok_or_else(|| not_found(format!("unknown stage: {stage_id}, attempt {attempt}")))
}

async fn stage_attempt(
    State(provider): State<Provider>,
    Path((app_id, stage_id, attempt)): Path<(String, String, String)>,
    params: Params,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let details = param::<bool>(&params, "details")?.unwrap_or(true);
    let stage = stage_of(&state, &stage_id, &attempt)?;
    Ok(Json(stage_detail_json(stage, &state, details)))
}

async fn task_list(
    State(provider): State<Provider>,
    Path((app_id, stage_id, attempt)): Path<(String, String, String)>,
    params: Params,
) -> Result<Json<Vec<TaskJson>>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let stage = stage_of(&state, &stage_id, &attempt)?;
    let offset = param::<usize>(&params, "offset")?.unwrap_or(0);
    let length = param::<usize>(&params, "length")?.unwrap_or(20);
    let status = status_param(
        &params,
        "task",
        &["RUNNING", "SUCCESS", "FAILED", "KILLED", "UNKNOWN"],
    )?;
    let mut tasks: Vec<&TaskData> = stage
        .tasks
        .values()
        .filter(|t| status.as_deref().is_none_or(|s| t.status.as_str() == s))
        .collect();
    match params.get("sortBy").map(String::as_str) {
        None | Some("ID") => {}
        Some("runtime") => tasks.sort_by_key(|t| t.duration()),
        Some("-runtime") => tasks.sort_by_key(|t| std::cmp::Reverse(t.duration())),
        Some(other) => {
            return Err(bad_request(format!(
                "invalid sortBy: {other} (ID, runtime or -runtime)"
            )));
        }
    }
    Ok(Json(
        tasks
            .into_iter()
            .skip(offset)
            .take(length)
            .map(|t| task_json(t, &state.executors))
            .collect(),
    ))
}

/// Spark's quantile of sorted values: the value at `min(q * n, n - 1)`.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((q * sorted.len() as f64) as usize).min(sorted.len() - 1);
    sorted[index]
}

/// The quantiles of one figure over `tasks`.
fn distribution(
    tasks: &[&TaskData],
    quantiles: &[f64],
    figure: impl Fn(&TaskData) -> u64,
) -> Vec<u64> {
    let mut values: Vec<u64> = tasks.iter().map(|t| figure(t)).collect();
    values.sort_unstable();
    quantiles.iter().map(|q| quantile(&values, *q)).collect()
}

/// `TaskMetricDistributions` over a stage's successful tasks.
pub fn task_summary(stage: &StageData, quantiles: &[f64]) -> serde_json::Value {
    let tasks: Vec<&TaskData> = stage
        .tasks
        .values()
        .filter(|t| t.status == TaskStatus::Success)
        .collect();
    let d = |figure: fn(&TaskData) -> u64| distribution(&tasks, quantiles, figure);
    json!({
        "quantiles": quantiles,
        "duration": d(|t| t.duration()),
        "executorDeserializeTime": d(|t| t.metrics.executor_deserialize_time_ms),
        "executorRunTime": d(|t| t.metrics.executor_run_time_ms),
        "resultSize": d(|t| t.metrics.result_size),
        "memoryBytesSpilled": d(|_| 0),
        "diskBytesSpilled": d(|t| t.metrics.disk_bytes_spilled),
        "inputMetrics": {
            "bytesRead": d(|t| t.metrics.input_bytes),
            "recordsRead": d(|t| t.metrics.input_records),
        },
        "outputMetrics": {
            "bytesWritten": d(|_| 0),
            "recordsWritten": d(|t| t.metrics.output_records),
        },
        "shuffleReadMetrics": {
            "readBytes": d(|t| t.metrics.shuffle_read_bytes),
            "readRecords": d(|t| t.metrics.shuffle_read_records),
            "remoteBytesRead": d(|t| t.metrics.shuffle_remote_bytes_read),
        },
        "shuffleWriteMetrics": {
            "writeBytes": d(|t| t.metrics.shuffle_write_bytes),
            "writeRecords": d(|t| t.metrics.shuffle_write_records),
        },
    })
}

/// Spark's default quantiles for `taskSummary`.
pub const DEFAULT_QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

async fn task_summary_route(
    State(provider): State<Provider>,
    Path((app_id, stage_id, attempt)): Path<(String, String, String)>,
    params: Params,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let stage = stage_of(&state, &stage_id, &attempt)?;
    let quantiles = match params.get("quantiles") {
        None => DEFAULT_QUANTILES.to_vec(),
        Some(text) => text
            .split(',')
            .map(|q| match q.trim().parse::<f64>() {
                Ok(q) if (0.0..=1.0).contains(&q) => Ok(q),
                _ => Err(bad_request(format!(
                    "invalid quantile: {q} (numbers from 0 to 1)"
                ))),
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Json(task_summary(stage, &quantiles)))
}

/// The application's executors (the driver's entry first), removed ones too unless
/// `active_only`.
fn executor_list(
    provider: &Provider,
    app_id: &str,
    active_only: bool,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let state = app_state(provider, app_id)?;
    Ok(Json(
        state
            .executors_in_order()
            .into_iter()
            .filter(|e| !active_only || e.is_active())
            .map(executor_json)
            .collect(),
    ))
}

async fn executors(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    executor_list(&provider, &app_id, true)
}

async fn all_executors(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    executor_list(&provider, &app_id, false)
}

/// Spark's `RDDStorageInfo` of one cached DataFrame; `details` adds its data distribution
/// and partitions.
fn rdd_storage_json(rdd: &crate::status_store::RddData, details: bool) -> serde_json::Value {
    let level = rdd.info.storage_level.description();
    let mut value = json!({
        "id": rdd.info.id,
        "name": rdd.info.name,
        "numPartitions": rdd.info.num_partitions,
        "numCachedPartitions": rdd.blocks.len(),
        "storageLevel": level,
        "memoryUsed": rdd.memory_used(),
        "diskUsed": rdd.disk_used(),
    });
    if details && let Some(map) = value.as_object_mut() {
        let mut by_executor: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
        for block in rdd.blocks.values() {
            let entry = by_executor.entry(block.host_port.as_str()).or_default();
            entry.0 += block.memory_size;
            entry.1 += block.disk_size;
        }
        let distribution: Vec<serde_json::Value> = by_executor
            .iter()
            .map(|(address, (memory, disk))| {
                json!({
                    "address": address,
                    "memoryUsed": memory,
                    "memoryRemaining": 0,
                    "diskUsed": disk,
                    "onHeapMemoryUsed": memory,
                    "offHeapMemoryUsed": 0,
                    "onHeapMemoryRemaining": 0,
                    "offHeapMemoryRemaining": 0,
                })
            })
            .collect();
        let partitions: Vec<serde_json::Value> = rdd
            .blocks
            .values()
            .map(|block| {
                json!({
                    "blockName": block.block_id,
                    "storageLevel": level,
                    "memoryUsed": block.memory_size,
                    "diskUsed": block.disk_size,
                    "executors": [block.executor_id],
                })
            })
            .collect();
        map.insert("dataDistribution".into(), distribution.into());
        map.insert("partitions".into(), partitions.into());
    }
    value
}

async fn storage_rdds(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    Ok(Json(
        state
            .rdds
            .values()
            .map(|rdd| rdd_storage_json(rdd, false))
            .collect(),
    ))
}

async fn storage_rdd(
    State(provider): State<Provider>,
    Path((app_id, rdd_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let rdd = rdd_id
        .parse::<u32>()
        .ok()
        .and_then(|id| state.rdds.get(&id))
        .ok_or_else(|| not_found(format!("unknown rdd: {rdd_id}")))?;
    Ok(Json(rdd_storage_json(rdd, true)))
}

async fn environment(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let env = &state.environment;
    Ok(Json(json!({
        // Flint runs no JVM; the shape stays Spark's, the facts are in systemProperties.
        "runtime": {"javaVersion": "", "javaHome": "", "scalaVersion": ""},
        "sparkProperties": env.spark_properties,
        "hadoopProperties": [],
        "systemProperties": env.system_properties,
        "metricsProperties": [],
        "classpathEntries": [],
        "resourceProfiles": [],
    })))
}

/// Spark's `ExecutionData`: one SQL execution with its jobs and, with `details`, its plan
/// graph's nodes (highest id first, each with the metrics its tasks reported) and edges.
fn sql_execution_json(
    execution: &SqlExecutionData,
    state: &AppState,
    details: bool,
    plan_description: bool,
) -> serde_json::Value {
    let jobs_with = |status: JobStatus| -> Vec<u32> {
        execution
            .job_ids
            .iter()
            .filter(|id| state.jobs.get(id).is_some_and(|j| j.status == status))
            .copied()
            .collect()
    };
    let (nodes, edges) = if details {
        let nodes: Vec<serde_json::Value> = execution
            .nodes
            .iter()
            .rev()
            .map(|node| {
                let metrics: Vec<serde_json::Value> = execution
                    .metrics
                    .get(&node.id)
                    .into_iter()
                    .flatten()
                    .map(|m| json!({"name": m.name, "value": m.display()}))
                    .collect();
                json!({
                    "nodeId": node.id,
                    "nodeName": node.name,
                    "metrics": metrics,
                    "desc": node.desc,
                })
            })
            .collect();
        let edges: Vec<serde_json::Value> = execution
            .edges
            .iter()
            .map(|e| json!({"fromId": e.from_id, "toId": e.to_id}))
            .collect();
        (nodes, edges)
    } else {
        (vec![], vec![])
    };
    json!({
        "id": execution.execution_id,
        "status": execution.status(&state.jobs).as_str(),
        "description": execution.description,
        "planDescription": if plan_description {
            execution.physical_plan_description.as_str()
        } else {
            ""
        },
        "submissionTime": rest_date(execution.submission_time),
        "duration": execution.duration(),
        "runningJobIds": jobs_with(JobStatus::Running),
        "successJobIds": jobs_with(JobStatus::Succeeded),
        "failedJobIds": jobs_with(JobStatus::Failed),
        "nodes": nodes,
        "edges": edges,
        "errorMessage": execution.error_message.as_deref().unwrap_or(""),
        "rootExecutionId": execution.execution_id,
        "modifiedConfigs": {},
    })
}

/// The `details` and `planDescription` flags of the SQL endpoints (both default to true).
fn sql_flags(params: &Params) -> Result<(bool, bool), ApiError> {
    Ok((
        param(params, "details")?.unwrap_or(true),
        param(params, "planDescription")?.unwrap_or(true),
    ))
}

async fn sql_executions(
    State(provider): State<Provider>,
    Path(app_id): Path<String>,
    params: Params,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let (details, plan_description) = sql_flags(&params)?;
    let offset: usize = param(&params, "offset")?.unwrap_or(0);
    let length: usize = param(&params, "length")?.unwrap_or(20);
    Ok(Json(
        state
            .sql_executions
            .values()
            .skip(offset)
            .take(length)
            .map(|e| sql_execution_json(e, &state, details, plan_description))
            .collect(),
    ))
}

async fn sql_execution(
    State(provider): State<Provider>,
    Path((app_id, execution_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<serde_json::Value>, ApiError> {
    let state = app_state(&provider, &app_id)?;
    let (details, plan_description) = sql_flags(&params)?;
    let execution_id: u64 = parse_id("execution", &execution_id)?;
    let execution = state
        .sql_executions
        .get(&execution_id)
        .ok_or_else(|| not_found(format!("unknown query: {execution_id}")))?;
    Ok(Json(sql_execution_json(
        execution,
        &state,
        details,
        plan_description,
    )))
}

async fn unknown_path() -> ApiError {
    not_found("unknown path".into())
}

/// The `/api/v1` routes over the applications `provider` knows.
pub fn routes(provider: Provider) -> Router {
    const APP: &str = "/api/v1/applications/{app_id}";
    Router::new()
        .route("/api/v1/version", get(version))
        .route("/api/v1/applications", get(applications))
        .route(APP, get(application))
        .route(&format!("{APP}/jobs"), get(jobs))
        .route(&format!("{APP}/jobs/{{job_id}}"), get(job))
        .route(&format!("{APP}/stages"), get(stages))
        .route(&format!("{APP}/stages/{{stage_id}}"), get(stage))
        .route(
            &format!("{APP}/stages/{{stage_id}}/{{attempt}}"),
            get(stage_attempt),
        )
        .route(
            &format!("{APP}/stages/{{stage_id}}/{{attempt}}/taskList"),
            get(task_list),
        )
        .route(
            &format!("{APP}/stages/{{stage_id}}/{{attempt}}/taskSummary"),
            get(task_summary_route),
        )
        .route(&format!("{APP}/executors"), get(executors))
        .route(&format!("{APP}/allexecutors"), get(all_executors))
        .route(&format!("{APP}/storage/rdd"), get(storage_rdds))
        .route(&format!("{APP}/storage/rdd/{{rdd_id}}"), get(storage_rdd))
        .route(&format!("{APP}/environment"), get(environment))
        .route(&format!("{APP}/sql"), get(sql_executions))
        .route(&format!("{APP}/sql/{{execution_id}}"), get(sql_execution))
        .route("/api/v1/{*rest}", get(unknown_path))
        .with_state(provider)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_pick_spark_indices() {
        let values = [1, 2, 3, 4, 10];
        let picked: Vec<u64> = super::DEFAULT_QUANTILES
            .iter()
            .map(|q| super::quantile(&values, *q))
            .collect();
        assert_eq!(picked, vec![1, 2, 3, 4, 10]);
        assert_eq!(super::quantile(&values, 1.0), 10);
        assert_eq!(super::quantile(&[], 0.5), 0);
    }

    /// An application with one job of one finished stage, as the REST API sees it.
    fn one_stage_app() -> super::Router {
        use flint_driver::{SparkListener, SparkListenerEvent, StageInfo};
        let store = crate::AppStatusStore::new();
        store.on_event(&SparkListenerEvent::ApplicationStart {
            app_id: "app-1".into(),
            app_name: "fuzz".into(),
            time: 1,
            user: "me".into(),
        });
        let stage = StageInfo {
            stage_id: 0,
            attempt: 0,
            name: "collect".into(),
            num_tasks: 1,
            parent_ids: vec![],
            submission_time: Some(2),
            completion_time: Some(3),
            failure_reason: None,
            rdd_infos: vec![],
        };
        store.on_event(&SparkListenerEvent::JobStart {
            job_id: 0,
            time: 2,
            stage_infos: vec![stage.clone()],
            description: "collect".into(),
            sql_execution_id: None,
            job_tags: vec![],
            pool: "default".into(),
        });
        store.on_event(&SparkListenerEvent::StageSubmitted {
            stage_info: stage.clone(),
        });
        store.on_event(&SparkListenerEvent::StageCompleted { stage_info: stage });
        super::routes(std::sync::Arc::new(store))
    }

    /// The REST endpoints that take query parameters, and the parameters they read.
    const PATHS: [&str; 9] = [
        "/api/v1/applications",
        "/api/v1/applications/app-1/jobs",
        "/api/v1/applications/app-1/stages",
        "/api/v1/applications/app-1/stages/0",
        "/api/v1/applications/app-1/stages/0/0",
        "/api/v1/applications/app-1/stages/0/0/taskList",
        "/api/v1/applications/app-1/stages/0/0/taskSummary",
        "/api/v1/applications/app-1/sql",
        "/api/v1/applications/app-1/sql/0",
    ];
    const NAMES: [&str; 10] = [
        "status",
        "limit",
        "offset",
        "length",
        "sortBy",
        "quantiles",
        "details",
        "planDescription",
        "taskStatus",
        "withSummaries",
    ];

    /// The fixture has what the paths ask for, so the parameters are read, not just a 404.
    #[tokio::test]
    async fn the_fuzzed_paths_exist() {
        use tower::ServiceExt;
        for path in &PATHS[..7] {
            let request = axum::http::Request::get(*path)
                .body(axum::body::Body::empty())
                .unwrap();
            let status = one_stage_app().oneshot(request).await.unwrap().status();
            assert!(status.is_success(), "{path} answered {status}");
        }
    }

    proptest::proptest! {
        /// Any values of the REST parameters, percent-encoded bytes included, are answered
        /// with the data or a client error, never a server error or a panic.
        #[test]
        fn any_rest_parameters_get_an_answer(
            path in 0..PATHS.len(),
            pairs in proptest::collection::vec(
                (0..NAMES.len(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24)),
                0..4,
            ),
        ) {
            use tower::ServiceExt;
            let query: Vec<String> = pairs
                .iter()
                .map(|(name, value)| {
                    let value: String = value.iter().map(|b| format!("%{b:02X}")).collect();
                    format!("{}={value}", NAMES[*name])
                })
                .collect();
            let uri = format!("{}?{}", PATHS[path], query.join("&"));
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let status = runtime.block_on(async {
                let request = axum::http::Request::get(&uri)
                    .body(axum::body::Body::empty())
                    .unwrap();
                one_stage_app().oneshot(request).await.unwrap().status()
            });
            proptest::prop_assert!(
                status.is_success() || status.is_client_error(),
                "{uri} answered {status}"
            );
        }
    }

    #[test]
    fn dates_are_spark_rest_dates() {
        assert_eq!(
            super::rest_date(1795274174602),
            "2026-11-21T15:16:14.602GMT"
        );
    }
}
