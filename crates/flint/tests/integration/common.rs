use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::array::RecordBatch;
use flint::{SparkListener, SparkListenerEvent, SparkSession};

/// TPC-H at scale factor 0.01, generated once per build directory and reused.
pub fn tpch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tpch-sf0.01");
        let marker = dir.join("_COMPLETE");
        if !marker.exists() {
            flint_datagen::generate_tpch(0.01, &dir).expect("generate TPC-H test data");
            std::fs::write(&marker, b"").expect("write marker");
        }
        dir
    })
}

/// A new local application with `threads` slots and extra settings, its local dir in `local_dir`.
pub async fn session(threads: usize, local_dir: &Path, conf: &[(&str, &str)]) -> SparkSession {
    session_of(&format!("local[{threads}]"), local_dir, conf).await
}

/// A local session of `master` (`local[N,F]` for F attempts per task).
pub async fn session_of(master: &str, local_dir: &Path, conf: &[(&str, &str)]) -> SparkSession {
    let mut builder = SparkSession::builder()
        .master(master)
        .app_name("flint-test")
        .config("spark.local.dir", &local_dir.display().to_string())
        .config("spark.ui.showConsoleProgress", "false");
    for (key, value) in conf {
        builder = builder.config(key, value);
    }
    builder.create().await.expect("start session")
}

/// Registers the TPC-H tables the way Spark users write it.
pub async fn register_tpch(spark: &SparkSession) {
    for table in flint_datagen::TPCH_TABLES {
        let path = tpch_dir().join(format!("{table}.parquet"));
        spark
            .sql(&format!(
                "CREATE TEMPORARY VIEW {table} USING parquet OPTIONS (path '{}')",
                path.display()
            ))
            .await
            .expect("register table");
    }
}

/// Records every listener event.
#[derive(Default)]
pub struct EventLog {
    pub events: Mutex<Vec<SparkListenerEvent>>,
}

impl SparkListener for EventLog {
    fn on_event(&self, event: &SparkListenerEvent) {
        self.events.lock().unwrap().push(event.clone());
    }
}

impl EventLog {
    pub fn attach(spark: &SparkSession) -> Arc<EventLog> {
        let log = Arc::new(EventLog::default());
        spark.add_listener(log.clone());
        log
    }

    pub fn snapshot(&self, spark: &SparkSession) -> Vec<SparkListenerEvent> {
        spark.wait_for_listeners();
        self.events.lock().unwrap().clone()
    }
}

/// The shuffle records written by each stage that read at least `rows` input rows (scanned a
/// whole table), and every stage's (input, shuffle-written) records.
pub fn scan_shuffles(
    events: &[SparkListenerEvent],
    rows: u64,
) -> (Vec<u64>, std::collections::BTreeMap<u32, (u64, u64)>) {
    let by_stage = stage_records(events);
    let scans = by_stage
        .values()
        .filter(|(input, _)| *input >= rows)
        .map(|(_, shuffled)| *shuffled)
        .collect();
    (scans, by_stage)
}

/// Sums one metric over the successful tasks in `events`.
pub fn successful_task_sum(
    events: &[SparkListenerEvent],
    metric: impl Fn(&flint_executor::TaskMetrics) -> u64,
) -> u64 {
    events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::TaskEnd {
                metrics,
                reason: flint::TaskEndReason::Success,
                ..
            } => Some(metric(metrics)),
            _ => None,
        })
        .sum()
}

/// Rows as strings, in order.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    batches.iter().flat_map(flint::format_row_values).collect()
}

/// Asserts two results are equal up to float rounding; order matters only if `ordered`.
pub fn assert_same_rows(
    name: &str,
    mut actual: Vec<Vec<String>>,
    mut expected: Vec<Vec<String>>,
    ordered: bool,
) {
    if !ordered {
        actual.sort();
        expected.sort();
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "{name}: row counts differ\nflint: {actual:?}\ndatafusion: {expected:?}"
    );
    for (row, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a.len(), e.len(), "{name}: row {row} widths differ");
        for (column, (x, y)) in a.iter().zip(e).enumerate() {
            if x == y {
                continue;
            }
            let close = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0),
                _ => false,
            };
            assert!(
                close,
                "{name}: row {row} column {column}: flint {x} != datafusion {y}\nflint row: {a:?}\ndatafusion row: {e:?}"
            );
        }
    }
}

/// Per stage, over its successful tasks: input records read and shuffle records written.
pub fn stage_records(events: &[SparkListenerEvent]) -> std::collections::BTreeMap<u32, (u64, u64)> {
    let mut by_stage = std::collections::BTreeMap::<u32, (u64, u64)>::new();
    for event in events {
        if let SparkListenerEvent::TaskEnd {
            stage_id,
            metrics,
            reason: flint::TaskEndReason::Success,
            ..
        } = event
        {
            let stage = by_stage.entry(*stage_id).or_default();
            stage.0 += metrics.input_records;
            stage.1 += metrics.shuffle_write_records;
        }
    }
    by_stage
}

/// The single number a `select count(*) ...` query returns.
pub async fn count_of(spark: &SparkSession, query: &str) -> u64 {
    rows(&spark.sql(query).await.unwrap().collect().await.unwrap())[0][0]
        .parse()
        .unwrap()
}

/// Plain single-process DataFusion with 2 partitions over these TPC-H test tables.
pub async fn datafusion_with(tables: &[&str]) -> datafusion::prelude::SessionContext {
    let mut oracle = datafusion::prelude::SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_target_partitions(2),
    );
    flint_sql::register_spark_functions(&mut oracle).unwrap();
    for table in tables {
        let path = tpch_dir().join(format!("{table}.parquet"));
        oracle
            .register_parquet(*table, path.to_str().unwrap(), Default::default())
            .await
            .unwrap();
    }
    oracle
}

/// The files below `dir`, recursively.
pub fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}
