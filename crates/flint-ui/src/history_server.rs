//! The history server (Spark's `deploy.history.HistoryServer` with `FsHistoryProvider`):
//! lists the applications whose event logs are in a directory, completed and in progress,
//! and serves each one's UI pages and `/api/v1` answers, rebuilt by replaying its log into an
//! [`AppStatusStore`]. The directory is scanned again every `spark.history.fs.update.interval`;
//! a log that changed is replayed again. A damaged log shows what could be read and says what
//! could not.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use flint_common::escape_html;
use flint_driver::event_log::{IN_PROGRESS_SUFFIX, ZSTD_SUFFIX, local_log_dir, replay};

use crate::api::{self, AppProvider, rest_date};
use crate::pages;
use crate::status_store::{AppState, AppStatusStore, AppSummary};

/// A log file's (length, modification time): a change means replay again.
type LogVersion = (u64, Option<SystemTime>);

/// One application rebuilt from its log.
#[derive(Debug, Clone)]
struct LoadedApp {
    path: PathBuf,
    /// (length, modification time) when replayed: a change means replay again.
    version: (u64, Option<SystemTime>),
    state: Arc<AppState>,
    in_progress: bool,
    /// What could not be read.
    problems: Vec<String>,
}

/// The applications of one log directory, kept current by [`HistoryProvider::scan`].
#[derive(Debug)]
pub struct HistoryProvider {
    log_dir: PathBuf,
    apps: RwLock<BTreeMap<String, LoadedApp>>,
}

/// The application id a log file's name carries, and whether it is still being written.
fn log_file_app(name: &str) -> Option<(String, bool)> {
    if name.starts_with('.') {
        return None;
    }
    let (base, in_progress) = match name.strip_suffix(IN_PROGRESS_SUFFIX) {
        Some(base) => (base, true),
        None => (name, false),
    };
    let id = base.strip_suffix(ZSTD_SUFFIX).unwrap_or(base);
    (!id.is_empty()).then(|| (id.to_string(), in_progress))
}

impl HistoryProvider {
    /// A provider for `log_dir`; nothing is read until [`HistoryProvider::scan`].
    pub fn new(log_dir: PathBuf) -> Self {
        Self {
            log_dir,
            apps: RwLock::default(),
        }
    }

    /// Replays every log that is new or changed since the last scan and forgets deleted
    /// ones. Blocking file IO: call it off the async runtime.
    pub fn scan(&self) {
        let entries = match std::fs::read_dir(&self.log_dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(
                    "Cannot list the event log directory {}: {error}",
                    self.log_dir.display()
                );
                return;
            }
        };
        let mut found: BTreeMap<String, (PathBuf, bool, LogVersion)> = BTreeMap::new();
        for entry in entries.flatten() {
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((id, in_progress)) = log_file_app(&name).filter(|_| metadata.is_file()) else {
                continue;
            };
            let version = (metadata.len(), metadata.modified().ok());
            // A completed log wins over a stale in-progress one of the same application.
            match found.get(&id) {
                Some((_, false, _)) if in_progress => {}
                _ => {
                    found.insert(id, (entry.path(), in_progress, version));
                }
            }
        }
        let current = self.apps.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut next = BTreeMap::new();
        for (id, (path, in_progress, version)) in found {
            match current.get(&id) {
                Some(app) if app.path == path && app.version == version => {
                    next.insert(id, app.clone());
                }
                _ => {
                    let app = load(&id, &path, in_progress, version);
                    next.insert(id, app);
                }
            }
        }
        *self.apps.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    /// One loaded application (a cheap copy: its state is shared).
    fn app(&self, app_id: &str) -> Option<LoadedApp> {
        self.apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(app_id)
            .cloned()
    }

    fn loaded(&self) -> Vec<LoadedApp> {
        let mut apps: Vec<LoadedApp> = self
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        apps.sort_by_key(|app| std::cmp::Reverse(app.state.app.start_time));
        apps
    }
}

/// Replays one log into a fresh store.
fn load(id: &str, path: &Path, in_progress: bool, version: (u64, Option<SystemTime>)) -> LoadedApp {
    let store = AppStatusStore::new();
    let problems = match replay(path, &store) {
        Ok(summary) => summary.problems,
        Err(error) => vec![error.to_string()],
    };
    if !problems.is_empty() {
        tracing::warn!(
            "Event log {} could not be read in full: {}",
            path.display(),
            problems.join("; ")
        );
    }
    let mut state = store.into_state();
    if state.app.id.is_empty() {
        // No readable start event: the file name still names the application.
        let state = Arc::make_mut(&mut state);
        state.app.id = id.to_string();
        state.app.name = "(unreadable)".into();
    }
    LoadedApp {
        path: path.to_path_buf(),
        version,
        state,
        in_progress,
        problems,
    }
}

impl AppProvider for HistoryProvider {
    fn list(&self) -> Vec<AppSummary> {
        self.loaded()
            .into_iter()
            .map(|app| app.state.app.clone())
            .collect()
    }

    fn get(&self, app_id: &str) -> Option<Arc<AppState>> {
        self.app(app_id).map(|app| app.state)
    }
}

/// Why a history server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum HistoryServerError {
    /// The log directory is not a local directory or does not exist.
    #[error("spark.history.fs.logDirectory: {0}")]
    LogDir(String),
    /// No port could be bound.
    #[error(transparent)]
    Bind(#[from] flint_rpc::RpcError),
}

/// A running history server; dropping it stops serving.
#[derive(Debug)]
pub struct HistoryServer {
    url: String,
    server: tokio::task::JoinHandle<()>,
    scanner: tokio::task::JoinHandle<()>,
}

impl HistoryServer {
    /// Scans `log_dir` (a path or `file:` URI) once, then serves on `bind_host:port` (moving
    /// up to `max_retries` ports when taken) and scans again every `update_interval`. With
    /// `security`'s secret, requests must prove it.
    pub async fn start(
        log_dir: &str,
        bind_host: &str,
        display_host: &str,
        port: u16,
        max_retries: u16,
        update_interval: Duration,
        security: &flint_rpc::RpcSecurity,
    ) -> Result<Self, HistoryServerError> {
        let log_dir = local_log_dir(log_dir)
            .map_err(|error| HistoryServerError::LogDir(error.to_string()))?;
        if !log_dir.is_dir() {
            return Err(HistoryServerError::LogDir(format!(
                "log directory specified does not exist: {}",
                log_dir.display()
            )));
        }
        let provider = Arc::new(HistoryProvider::new(log_dir));
        let first = Arc::clone(&provider);
        let _ = tokio::task::spawn_blocking(move || first.scan()).await;
        let (listener, port) =
            flint_rpc::bind_service("HistoryServerUI", bind_host, port, max_retries).await?;
        let app = Router::new()
            .route("/", get(application_list))
            .route(
                "/history/{app_id}",
                get(|UrlPath(id): UrlPath<String>| async move {
                    Redirect::to(&format!("/history/{id}/jobs/"))
                }),
            )
            .route("/history/{app_id}/{*page}", get(history_page))
            .with_state(Arc::clone(&provider))
            .merge(api::routes(provider.clone()));
        let scheme = security.web_scheme();
        let security = security.clone();
        let server = tokio::spawn(async move {
            if let Err(error) = flint_rpc::serve_web(listener, app, &security).await {
                tracing::warn!("The history server stopped: {error}");
            }
        });
        let scanner = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(update_interval.max(Duration::from_millis(50)));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let provider = Arc::clone(&provider);
                let _ = tokio::task::spawn_blocking(move || provider.scan()).await;
            }
        });
        let url = format!("{scheme}://{display_host}:{port}");
        tracing::info!("Bound HistoryServer to {bind_host}, and started at {url}");
        Ok(Self {
            url,
            server,
            scanner,
        })
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves until the server task ends (it does not on its own).
    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

impl Drop for HistoryServer {
    fn drop(&mut self) {
        self.server.abort();
        self.scanner.abort();
    }
}

type Provider = Arc<HistoryProvider>;

/// `/`: completed and in-progress applications, with links to their UIs.
async fn application_list(State(provider): State<Provider>) -> Html<String> {
    let apps = provider.loaded();
    let section = |in_progress: bool| -> String {
        let rows: String = apps
            .iter()
            .filter(|app| app.in_progress == in_progress)
            .map(|app| {
                let a = &app.state.app;
                let end = a.end_time.map(rest_date).unwrap_or_default();
                let duration = a
                    .end_time
                    .map(|end| format!("{} ms", end.saturating_sub(a.start_time)))
                    .unwrap_or_default();
                let problems = if app.problems.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<div class=\"error\">Partly unreadable: {}</div>",
                        escape_html(&app.problems.join("; "))
                    )
                };
                format!(
                    "<tr><td><a href=\"/history/{id}/jobs/\">{id}</a>{problems}</td><td>{name}</td>\
                     <td>{start}</td><td>{end}</td><td>{duration}</td><td>{user}</td><td>{file}</td></tr>",
                    id = escape_html(&a.id),
                    name = escape_html(&a.name),
                    start = if a.start_time == 0 {
                        String::new()
                    } else {
                        rest_date(a.start_time)
                    },
                    user = escape_html(&a.user),
                    file = escape_html(
                        &app.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                    ),
                )
            })
            .collect();
        format!(
            "<table><thead><tr><th>App ID</th><th>App Name</th><th>Started</th><th>Completed</th>\
             <th>Duration</th><th>Spark User</th><th>Event Log</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>History Server</title>\
         <style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}}\
         .error{{color:#a00;font-size:12px}}</style></head><body><h2>Flint History Server</h2>\
         <p>Event log directory: {dir}</p><h3>Completed Applications</h3>{done}\
         <h3>Incomplete Applications</h3>{running}</body></html>",
        dir = escape_html(&provider.log_dir.display().to_string()),
        done = section(false),
        running = section(true),
    ))
}

/// `/history/<app-id>/<page>`: the application's UI page, with a note when its log was
/// damaged.
async fn history_page(
    State(provider): State<Provider>,
    UrlPath((app_id, page)): UrlPath<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(app) = provider.app(&app_id) else {
        return (
            StatusCode::NOT_FOUND,
            format!("Unknown application {app_id}"),
        )
            .into_response();
    };
    let base = format!("/history/{app_id}");
    match pages::render(&app.state, &base, &page, &params) {
        Some(html) => {
            let problems = app.problems;
            if problems.is_empty() {
                return Html(html).into_response();
            }
            let note = format!(
                "<main><p class=\"error\">Parts of this application's event log could not be read: {}</p>",
                escape_html(&problems.join("; "))
            );
            Html(html.replacen("<main>", &note, 1)).into_response()
        }
        None => (StatusCode::NOT_FOUND, "No such page").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_names_give_app_ids() {
        assert_eq!(
            log_file_app("local-1.zstd.inprogress"),
            Some(("local-1".into(), true))
        );
        assert_eq!(
            log_file_app("app-2026-0001"),
            Some(("app-2026-0001".into(), false))
        );
        assert_eq!(log_file_app(".hidden"), None);
        assert_eq!(log_file_app(".inprogress"), None);
    }
}
