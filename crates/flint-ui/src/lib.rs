//! What users watch while an application runs (Spark's `ui` and `status` packages): the
//! console progress bar, and the application's web UI with its `/api/v1` REST API, both fed by
//! listener events through [`AppStatusStore`]; the history server serves the same pages and
//! API for applications rebuilt from their event logs.

pub mod api;
mod console_progress_bar;
mod format;
mod history_server;
mod pages;
mod server;
mod status_store;

pub use console_progress_bar::ConsoleProgressBar;
pub use history_server::{HistoryProvider, HistoryServer, HistoryServerError};
pub use server::SparkUi;
pub use status_store::{
    AppState, AppStatusStore, AppSummary, Environment, ExecutorData, JobData, JobStatus,
    SqlExecutionData, SqlExecutionStatus, SqlMetricValues, SqlTaskValue, StageData, StageStatus,
    TaskData, TaskStatus,
};
