//! What users watch while an application runs (Spark's `ui` and `status` packages): the
//! console progress bar, and the application's web UI with its `/api/v1` REST API, both fed by
//! listener events through [`AppStatusStore`].

pub mod api;
mod console_progress_bar;
mod server;
mod status_store;

pub use console_progress_bar::ConsoleProgressBar;
pub use server::SparkUi;
pub use status_store::{
    AppState, AppStatusStore, AppSummary, JobData, JobStatus, StageData, StageStatus, TaskData,
};
