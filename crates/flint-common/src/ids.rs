use std::time::{SystemTime, UNIX_EPOCH};

/// The id of a local-mode application, as Spark names it: `local-<epoch millis>`.
pub fn local_app_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("local-{millis}")
}
