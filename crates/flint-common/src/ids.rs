use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch: the time unit of events, heartbeats and the JSON APIs.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The id of a local-mode application, as Spark names it: `local-<epoch millis>`.
pub fn local_app_id() -> String {
    format!("local-{}", now_millis())
}

/// A worker's id, as Spark names it: `worker-<yyyyMMddHHmmss>-<host>-<port>`.
pub fn worker_id(host: &str, port: u16) -> String {
    format!(
        "worker-{}-{host}-{port}",
        chrono::Local::now().format("%Y%m%d%H%M%S")
    )
}

/// A standalone application's id, as Spark's master names it:
/// `app-<yyyyMMddHHmmss>-<NNNN>`, numbered from 0 by each master.
pub fn standalone_app_id(start_millis: u64, number: u32) -> String {
    dated_id("app", start_millis, number)
}

/// A cluster-mode driver's id, as Spark's master names it:
/// `driver-<yyyyMMddHHmmss>-<NNNN>`, numbered from 0 by each master.
pub fn standalone_driver_id(submit_millis: u64, number: u32) -> String {
    dated_id("driver", submit_millis, number)
}

fn dated_id(prefix: &str, millis: u64, number: u32) -> String {
    let time = chrono::DateTime::from_timestamp_millis(millis as i64)
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
    format!("{prefix}-{}-{number:04}", time.format("%Y%m%d%H%M%S"))
}

/// A date as the master's JSON `submitdate` shows it (Java's `Date.toString`):
/// `Sat Nov 21 15:18:34 UTC 2026`.
pub fn java_date(millis: u64) -> String {
    chrono::DateTime::from_timestamp_millis(millis as i64)
        .unwrap_or_default()
        .format("%a %b %d %H:%M:%S UTC %Y")
        .to_string()
}

/// Whether an id (an application's, a driver's, an executor's) from a peer can name a
/// directory: letters, digits, `-` and `_` only, at most 128 of them.
pub fn is_path_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_follow_spark() {
        let id = super::worker_id("127.0.0.1", 4040);
        assert!(
            id.starts_with("worker-") && id.ends_with("-127.0.0.1-4040"),
            "{id}"
        );
        assert_eq!(id.len(), "worker-20261121151344-127.0.0.1-4040".len());
        assert!(super::local_app_id().starts_with("local-"));
        let app = super::standalone_app_id(1795274314126, 6);
        assert!(
            app.starts_with("app-2026112") && app.ends_with("-0006"),
            "{app}"
        );
        assert_eq!(
            super::java_date(1795274314126),
            "Sat Nov 21 15:18:34 UTC 2026"
        );
    }
}
