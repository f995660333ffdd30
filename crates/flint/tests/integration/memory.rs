use crate::common::{EventLog, session, successful_task_sum};

/// A sort larger than the memory pool spills to the local dir and still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_sort_spills_instead_of_failing() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(1, local_dir.path(), &[("spark.driver.memory", "24m")]).await;
    let log = EventLog::attach(&spark);
    // About 30 MB of rows against a 14.4 MiB pool (0.6 x 24m).
    let df = spark
        .sql(
            "select id, concat(cast(id as varchar), repeat('x', 60)) as pad
             from range(0, 400000) order by id * 7 % 1000003 desc",
        )
        .await
        .unwrap();
    let batches = df.collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 400000);
    let spilled = successful_task_sum(&log.snapshot(&spark), |m| m.disk_bytes_spilled);
    assert!(spilled > 0, "the sort did not spill");
    spark.stop();
    assert_eq!(
        std::fs::read_dir(local_dir.path()).unwrap().count(),
        0,
        "spill files left behind"
    );
}

/// A query that cannot fit even with spilling fails with an error naming the key to raise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_that_cannot_fit_names_the_memory_setting() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(1, local_dir.path(), &[("spark.driver.memory", "2m")]).await;
    let df = spark
        .sql("select count(*) from range(0, 300000) a join range(0, 300000) b on a.id = b.id")
        .await
        .unwrap();
    let error = df.collect().await.unwrap_err().to_string();
    assert!(error.contains("raise spark.driver.memory"), "{error}");
    spark.stop();
}
