use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use flint::{FlintError, SparkListenerEvent, TaskEndReason};

use crate::common::{EventLog, session, session_of};

/// `flaky(x)` fails its first `failures` calls, then returns `x`.
#[derive(Debug)]
struct Flaky {
    name: &'static str,
    failures: usize,
    calls: Arc<AtomicUsize>,
    signature: Signature,
}

impl PartialEq for Flaky {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Flaky {}
impl std::hash::Hash for Flaky {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Flaky {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            return exec_err!("injected failure {} of {}", call + 1, self.failures);
        }
        Ok(args.args[0].clone())
    }
}

fn flaky(name: &'static str, failures: usize) -> (ScalarUDF, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let udf = Flaky {
        name,
        failures,
        calls: calls.clone(),
        signature: Signature::exact(vec![DataType::Int64], Volatility::Volatile),
    };
    (ScalarUDF::from(udf), calls)
}

fn failed_task_ends(events: &[SparkListenerEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::TaskEnd {
                reason: reason @ TaskEndReason::ExceptionFailure { .. },
                ..
            } => reason.error_string(),
            _ => None,
        })
        .collect()
}

/// A task that fails twice is retried and the job succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_failing_twice_is_retried() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session_of("local[1,4]", local_dir.path(), &[]).await;
    let (udf, calls) = flaky("flaky_twice", 2);
    spark.register_udf(udf).unwrap();
    let log = EventLog::attach(&spark);
    let df = spark
        .sql("select sum(flaky_twice(id)) from range(0, 100)")
        .await
        .unwrap();
    let batches = df.collect().await.unwrap();
    assert_eq!(
        crate::common::rows(&batches),
        vec![vec!["4950".to_string()]]
    );
    let failed = failed_task_ends(&log.snapshot(&spark));
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].contains("injected failure 1 of 2"), "{failed:?}");
    assert!(calls.load(Ordering::SeqCst) >= 3);
    spark.stop();
}

/// A task that always fails fails the job after its attempts (local[N,F]) with its message,
/// and the application stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_always_failing_fails_the_job_with_its_message() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session_of("local[2,3]", local_dir.path(), &[]).await;
    let (udf, _) = flaky("always_fails", usize::MAX);
    spark.register_udf(udf).unwrap();
    let log = EventLog::attach(&spark);
    let df = spark
        .sql("select always_fails(id) from range(0, 10)")
        .await
        .unwrap();
    let error = df.collect().await.unwrap_err();
    assert!(matches!(error, FlintError::Job(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("aborted due to stage failure"),
        "{message}"
    );
    assert!(message.contains("failed 3 times"), "{message}");
    assert!(message.contains("injected failure"), "{message}");
    let events = log.snapshot(&spark);
    assert!(events.iter().any(|e| matches!(
        e,
        SparkListenerEvent::JobEnd {
            result: flint::JobResult::Failed(_),
            ..
        }
    )));

    // Still usable.
    assert_eq!(spark.range(5).await.unwrap().count().await.unwrap(), 5);
    spark.stop();
}

/// Mistakes give errors, never panics, and name what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_give_clear_errors() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(2, local_dir.path(), &[]).await;
    let error = spark.sql("selec 1").await.unwrap_err().to_string();
    assert!(error.to_lowercase().contains("sql"), "{error}");
    let error = spark
        .sql("select * from no_such_table")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no_such_table"), "{error}");
    let error = spark
        .read()
        .parquet("/no/such/file.parquet")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("/no/such/file.parquet"), "{error}");
    let error = spark
        .sql("CREATE TEMPORARY VIEW t USING parquet OPTIONS (path '/no/such/dir')")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("path does not exist"), "{error}");
    spark.stop();

    let error = flint::SparkSession::builder()
        .master("local[x]")
        .create()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("invalid master URL \"local[x]\""), "{error}");
    let error = flint::SparkSession::builder()
        .master("local[1]")
        .config("spark.driver.memory", "5x")
        .create()
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid size \"5x\" for spark.driver.memory: expected a number with an optional unit (b, k, m, g, t, p), e.g. 512m or 4g"
    );
}
