//! The application's web UI server (Spark's `SparkUI`): the `/api/v1` REST API and the HTML
//! pages, on `spark.ui.port` (4040, moving up when taken), for as long as the driver runs.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{Html, Redirect};
use axum::routing::get;
use flint_common::escape_html;

use crate::api::{self, rest_date};
use crate::status_store::{AppStatusStore, JobStatus};

/// A running application UI; dropping it stops the server.
#[derive(Debug)]
pub struct SparkUi {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl SparkUi {
    /// Serves `store` on `bind_host:port`, trying up to `max_retries` more ports when it is
    /// taken, and logs the URL it got with `display_host`.
    pub async fn start(
        store: Arc<AppStatusStore>,
        bind_host: &str,
        display_host: &str,
        port: u16,
        max_retries: u16,
    ) -> Result<Self, flint_rpc::RpcError> {
        let (listener, port) =
            flint_rpc::bind_service("SparkUI", bind_host, port, max_retries).await?;
        let app = Router::new()
            .route("/", get(|| async { Redirect::to("/jobs/") }))
            .route("/jobs/", get(jobs_page))
            .with_state(Arc::clone(&store))
            .merge(api::routes(store));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!("The web UI stopped: {error}");
            }
        });
        let url = format!("http://{display_host}:{port}");
        tracing::info!("Flint web UI available at {url}");
        Ok(Self { url, server })
    }

    /// `http://HOST:PORT` (Spark's `uiWebUrl`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for SparkUi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A progress bar as Spark draws it: succeeded of total, with running ones noted.
fn progress(done: usize, running: usize, total: usize) -> String {
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * done as f64 / total as f64
    };
    let running_note = if running > 0 {
        format!(" ({running} running)")
    } else {
        String::new()
    };
    format!(
        "<div class=\"progress\"><div class=\"bar\" style=\"width:{percent:.1}%\"></div>\
         <span>{done}/{total}{running_note}</span></div>"
    )
}

fn duration_text(millis: u64) -> String {
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{:.1} min", millis as f64 / 60_000.0)
    }
}

/// The Jobs tab: every job with its status, description, submission time, duration and
/// progress of its stages and tasks; failed jobs with their reason.
async fn jobs_page(State(store): State<Arc<AppStatusStore>>) -> Html<String> {
    let state = store.snapshot();
    let now = flint_common::now_millis();
    let mut rows = String::new();
    for job in state.jobs.values().rev() {
        let counts = &job.counts;
        let skipped = counts.skipped_stages;
        let total_stages = job.stage_ids.len() - skipped;
        let done_stages = counts.completed_stages.len();
        let tasks = job.num_tasks - counts.skipped_tasks;
        let (done, running) = (counts.completed_indices.len(), counts.active_tasks);
        let status = match (job.status, &job.failure_reason) {
            (JobStatus::Failed, Some(reason)) => {
                format!("FAILED<div class=\"error\">{}</div>", escape_html(reason))
            }
            (status, _) => status.as_str().to_string(),
        };
        let end = job.completion_time.unwrap_or(now);
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
            job.job_id,
            escape_html(&job.description),
            rest_date(job.submission_time),
            duration_text(end.saturating_sub(job.submission_time)),
            status,
            progress(done_stages, 0, total_stages),
            if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() },
            progress(done, running, tasks),
        ));
    }
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{name} - Jobs</title>\
         <style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
         .progress{{position:relative;width:160px;height:18px;background:#eee}}\
         .bar{{position:absolute;height:100%;background:#8fc98f}}\
         .progress span{{position:relative;padding-left:4px;font-size:12px}}\
         .error{{color:#a00;font-size:12px;max-width:40em}}</style></head><body>\
         <h2>Flint Jobs</h2><p>Application: {name} ({id}) · user {user}</p>\
         <table><thead><tr><th>Job Id</th><th>Description</th><th>Submitted</th><th>Duration</th>\
         <th>Status</th><th>Stages: Succeeded/Total</th><th>Tasks (for all stages): Succeeded/Total</th>\
         </tr></thead><tbody>{rows}</tbody></table></body></html>",
        name = escape_html(&state.app.name),
        id = escape_html(&state.app.id),
        user = escape_html(&state.app.user),
    ))
}
