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
    }
}
