//! What users watch while an application runs (Spark's `ui` package). Today: the console
//! progress bar; the web UI, REST API and event log come next, fed by the same listener events.

mod console_progress_bar;

pub use console_progress_bar::ConsoleProgressBar;
