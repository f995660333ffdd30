//! The REST API at `/api/v1` (Spark's `status.api.v1`): Spark's paths, field names, types
//! and status strings, so tools written for Spark's API read Flint's. Unknown ids answer 404
//! and malformed ones 400, each with a JSON error.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::status_store::{AppState, AppStatusStore, JobData, StageData};

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
    shuffle_read_bytes: u64,
    shuffle_read_records: u64,
    shuffle_write_bytes: u64,
    shuffle_write_records: u64,
    name: String,
    details: String,
    scheduling_pool: &'static str,
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
        num_killed_tasks: 0,
        num_completed_indices: counts.completed_indices.len(),
        num_active_stages: counts.active_stages.len(),
        num_completed_stages: counts.completed_stages.len(),
        num_skipped_stages: counts.skipped_stages,
        num_failed_stages: counts.failed_stages,
        killed_tasks_summary: serde_json::Map::new(),
    }
}

/// Partitions with a successful attempt.
fn completed_indices(stage: &StageData) -> usize {
    let mut indices: Vec<u32> = stage
        .tasks
        .values()
        .filter(|t| t.status == "SUCCESS")
        .map(|t| t.info.index)
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices.len()
}

fn stage_json(stage: &StageData) -> StageJson {
    let (active, complete, failed) = stage.task_counts();
    let metrics = stage.metrics();
    StageJson {
        status: stage.status.as_str(),
        stage_id: stage.info.stage_id,
        attempt_id: stage.info.attempt,
        num_tasks: stage.info.num_tasks,
        num_active_tasks: active,
        num_complete_tasks: complete,
        num_failed_tasks: failed,
        num_killed_tasks: 0,
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
        shuffle_read_bytes: metrics.shuffle_read_bytes,
        shuffle_read_records: metrics.shuffle_read_records,
        shuffle_write_bytes: metrics.shuffle_write_bytes,
        shuffle_write_records: metrics.shuffle_write_records,
        name: stage.info.name.clone(),
        details: String::new(),
        scheduling_pool: "default",
        killed_tasks_summary: serde_json::Map::new(),
    }
}

fn application_json(state: &AppState) -> ApplicationInfo {
    let app = &state.app;
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

type Store = Arc<AppStatusStore>;

/// The state, if `app_id` is this application's id.
fn app_state(store: &Store, app_id: &str) -> Result<AppState, ApiError> {
    let state = store.snapshot();
    if state.app.id != app_id {
        return Err(not_found(format!("unknown app: {app_id}")));
    }
    Ok(state)
}

fn parse_id(kind: &str, text: &str) -> Result<u32, ApiError> {
    text.parse()
        .map_err(|_| bad_request(format!("invalid {kind} id: {text}")))
}

async fn applications(State(store): State<Store>) -> Json<Vec<ApplicationInfo>> {
    Json(vec![application_json(&store.snapshot())])
}

async fn application(
    State(store): State<Store>,
    Path(app_id): Path<String>,
) -> Result<Json<ApplicationInfo>, ApiError> {
    Ok(Json(application_json(&app_state(&store, &app_id)?)))
}

async fn jobs(
    State(store): State<Store>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<JobJson>>, ApiError> {
    let state = app_state(&store, &app_id)?;
    // Newest first, as Spark lists them.
    Ok(Json(state.jobs.values().rev().map(job_json).collect()))
}

async fn job(
    State(store): State<Store>,
    Path((app_id, job_id)): Path<(String, String)>,
) -> Result<Json<JobJson>, ApiError> {
    let state = app_state(&store, &app_id)?;
    let job_id = parse_id("job", &job_id)?;
    let job = state
        .jobs
        .get(&job_id)
        .ok_or_else(|| not_found(format!("unknown job: {job_id}")))?;
    Ok(Json(job_json(job)))
}

async fn stages(
    State(store): State<Store>,
    Path(app_id): Path<String>,
) -> Result<Json<Vec<StageJson>>, ApiError> {
    let state = app_state(&store, &app_id)?;
    Ok(Json(state.stages.values().rev().map(stage_json).collect()))
}

async fn stage(
    State(store): State<Store>,
    Path((app_id, stage_id)): Path<(String, String)>,
) -> Result<Json<Vec<StageJson>>, ApiError> {
    let state = app_state(&store, &app_id)?;
    let stage_id = parse_id("stage", &stage_id)?;
    let attempts: Vec<StageJson> = state
        .stages
        .range((stage_id, 0)..=(stage_id, u32::MAX))
        .map(|(_, s)| stage_json(s))
        .collect();
    if attempts.is_empty() {
        return Err(not_found(format!("unknown stage: {stage_id}")));
    }
    Ok(Json(attempts))
}

async fn stage_attempt(
    State(store): State<Store>,
    Path((app_id, stage_id, attempt)): Path<(String, String, String)>,
) -> Result<Json<StageJson>, ApiError> {
    let state = app_state(&store, &app_id)?;
    let key = (
        parse_id("stage", &stage_id)?,
        parse_id("attempt", &attempt)?,
    );
    let stage = state
        .stages
        .get(&key)
        .ok_or_else(|| not_found(format!("unknown stage: {stage_id}, attempt {attempt}")))?;
    Ok(Json(stage_json(stage)))
}

async fn unknown_path() -> ApiError {
    not_found("unknown path".into())
}

/// The `/api/v1` routes over `store`.
pub fn routes(store: Store) -> Router {
    Router::new()
        .route("/api/v1/applications", get(applications))
        .route("/api/v1/applications/{app_id}", get(application))
        .route("/api/v1/applications/{app_id}/jobs", get(jobs))
        .route("/api/v1/applications/{app_id}/jobs/{job_id}", get(job))
        .route("/api/v1/applications/{app_id}/stages", get(stages))
        .route(
            "/api/v1/applications/{app_id}/stages/{stage_id}",
            get(stage),
        )
        .route(
            "/api/v1/applications/{app_id}/stages/{stage_id}/{attempt}",
            get(stage_attempt),
        )
        .route("/api/v1/{*rest}", get(unknown_path))
        .with_state(store)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_spark_rest_dates() {
        assert_eq!(
            super::rest_date(1795274174602),
            "2026-11-21T15:16:14.602GMT"
        );
    }
}
