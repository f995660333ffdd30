//! Spark SQL's answers, from files: every `.slt` file under `tests/sql/<suite>/` is a list of
//! statements with what real Spark printed for them (sqllogictest format, written by
//! `scripts/spark_sql_expectations.py`). Each file runs in a fresh local-mode application;
//! the test prints passed/total per file and fails when a suite passes fewer records than
//! its floor in `tests/sql/floor.txt`. Failures are written to
//! `<target>/tmp/spark-sql-failures.txt`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use flint::{FlintError, HiveFormat, SparkSession};
use futures::FutureExt;
use sqllogictest::{DBOutput, DefaultColumnType, Record};

/// The suites, in the order they run.
const SUITES: &[&str] = &["semantics", "functions"];

/// A statement that takes longer than this is counted as failed (and the suite goes on).
const RECORD_TIMEOUT: Duration = Duration::from_secs(60);

fn sql_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql")
}

/// `suite = N` lines of `floor.txt`.
fn floors() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(sql_dir().join("floor.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (suite, floor) = line.split_once('=').unwrap();
            (suite.trim().to_string(), floor.trim().parse().unwrap())
        })
        .collect()
}

/// One application, as the sqllogictest runner's database.
struct FlintDb {
    spark: SparkSession,
}

#[async_trait]
impl sqllogictest::AsyncDB for FlintDb {
    type Error = FlintError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, FlintError> {
        let df = self.spark.sql(sql).await?;
        let columns = df.schema().fields().len();
        let batches = df.collect().await?;
        if columns == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        let format = HiveFormat::new(&self.spark.session_time_zone())?;
        let rows = batches.iter().flat_map(|b| format.rows(b)).collect();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Text; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[derive(Default)]
struct Tally {
    passed: usize,
    total: usize,
}

async fn run_file(path: &Path, failures: &mut String) -> Tally {
    let records = sqllogictest::parse_file::<DefaultColumnType>(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spark = SparkSession::builder()
        .master("local[2]")
        .app_name("spark-sql-suite")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .create()
        .await
        .unwrap();
    let db = spark.clone();
    let mut runner = sqllogictest::Runner::new(move || {
        let spark = db.clone();
        async move { Ok(FlintDb { spark }) }
    });
    // Rows compare exactly, columns joined by a tab as spark-sql prints them (the default
    // validator folds whitespace, which would lose empty strings and padding).
    runner.with_validator(|_, actual, expected| {
        let actual: Vec<String> = actual.iter().map(|row| row.join("\t")).collect();
        actual == expected
    });
    let mut tally = Tally::default();
    for record in records {
        let sql = match &record {
            Record::Statement { sql, .. } | Record::Query { sql, .. } => sql.clone(),
            _ => {
                let _ = runner.run_async(record).await;
                continue;
            }
        };
        tally.total += 1;
        let outcome = tokio::time::timeout(
            RECORD_TIMEOUT,
            std::panic::AssertUnwindSafe(runner.run_async(record)).catch_unwind(),
        )
        .await;
        match outcome {
            Ok(Ok(Ok(_))) => tally.passed += 1,
            Ok(Ok(Err(error))) => failures.push_str(&format!("{error}\n\n")),
            Ok(Err(_)) => failures.push_str(&format!("{}: panicked: {sql}\n\n", path.display())),
            Err(_) => failures.push_str(&format!("{}: timed out: {sql}\n\n", path.display())),
        }
    }
    spark.stop();
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_sql_answers_meet_their_floor() {
    let floors = floors();
    let mut failures = String::new();
    let mut below = vec![];
    println!("{:<48} {:>7} {:>7}", "file", "passed", "total");
    for suite in SUITES {
        let mut files: Vec<PathBuf> = std::fs::read_dir(sql_dir().join(suite))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "slt"))
            .collect();
        files.sort();
        let mut suite_tally = Tally::default();
        for path in &files {
            let tally = run_file(path, &mut failures).await;
            let name = format!("{suite}/{}", path.file_name().unwrap().to_string_lossy());
            println!("{name:<48} {:>7} {:>7}", tally.passed, tally.total);
            suite_tally.passed += tally.passed;
            suite_tally.total += tally.total;
        }
        let floor = floors.get(*suite).copied().unwrap_or(0);
        println!(
            "{:<48} {:>7} {:>7}  ({:.1}%, floor {floor})",
            format!("{suite} (all)"),
            suite_tally.passed,
            suite_tally.total,
            100.0 * suite_tally.passed as f64 / suite_tally.total.max(1) as f64
        );
        if suite_tally.passed < floor {
            below.push(format!(
                "{suite}: {} passed, floor {floor}",
                suite_tally.passed
            ));
        }
    }
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spark-sql-failures.txt");
    std::fs::write(&report, &failures).unwrap();
    println!("failures: {}", report.display());
    assert!(below.is_empty(), "below the floor: {below:?}");
}
