//! `cache()`, `persist`, `unpersist` and SQL's `CACHE TABLE`: the first action stores the
//! cached rows in the executors' block managers, later actions over the cached DataFrame (or
//! anything built on it) read those blocks instead of the input files.

use datafusion::prelude::{col, lit};
use flint::{SparkListenerEvent, StorageLevel};

use crate::common::{EventLog, files_below, rows, session};

/// Writes 10,000 rows `(id, k = id % 10)` as parquet files under `dir`; returns the path.
async fn write_numbers(spark: &flint::SparkSession, dir: &std::path::Path) -> String {
    let path = dir.join("numbers").display().to_string();
    spark
        .sql("SELECT id, id % 10 AS k FROM range(10000)")
        .await
        .unwrap()
        .repartition(4)
        .unwrap()
        .write()
        .parquet(&path)
        .await
        .unwrap();
    path
}

/// Input records read by the tasks of the stages submitted after `from` events.
fn input_records_since(events: &[SparkListenerEvent], from: usize) -> u64 {
    events[from..]
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::TaskEnd { metrics, .. } => Some(metrics.input_records),
            _ => None,
        })
        .sum()
}

/// A cached DataFrame's first action stores its rows; once the input files are deleted, later
/// actions over it, and over DataFrames built on it, still give the same answers, reading no
/// input (task metrics); `unpersist` deletes the blocks, and later actions read the (now
/// empty) input again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_rows_are_read_instead_of_the_input_files() {
    let dir = tempfile::tempdir().unwrap();
    let spark = session(2, dir.path(), &[("spark.sql.shuffle.partitions", "3")]).await;
    let path = write_numbers(&spark, dir.path()).await;
    let events = EventLog::attach(&spark);

    let numbers = spark.read().parquet(&path).await.unwrap();
    let evens = numbers.filter((col("id") % lit(2)).eq(lit(0))).unwrap();
    assert_eq!(evens.storage_level(), StorageLevel::NONE);
    let cached = evens.cache();
    assert_eq!(cached.storage_level(), StorageLevel::MEMORY_AND_DISK);
    assert_eq!(cached.count().await.unwrap(), 5000);
    let before = events.snapshot(&spark).len();
    assert!(
        input_records_since(&events.snapshot(&spark), 0) > 0,
        "the first action read the files"
    );

    std::fs::remove_dir_all(&path).unwrap();
    let by_key = cached
        .group_by(vec![col("k")])
        .agg(vec![
            datafusion::functions_aggregate::expr_fn::count(lit(1)).alias("n"),
        ])
        .unwrap()
        .order_by(vec![col("k").sort(true, false)])
        .unwrap();
    let expected: Vec<Vec<String>> = (0..10)
        .step_by(2)
        .map(|k| vec![k.to_string(), "1000".to_string()])
        .collect();
    assert_eq!(rows(&by_key.collect().await.unwrap()), expected);
    assert_eq!(cached.count().await.unwrap(), 5000);
    let after = events.snapshot(&spark);
    assert_eq!(
        input_records_since(&after, before),
        0,
        "an action over the cache read input files"
    );

    let rdd = after
        .iter()
        .find_map(|e| match e {
            SparkListenerEvent::StageSubmitted { stage_info } => stage_info.rdd_infos.first(),
            _ => None,
        })
        .expect("a cache stage")
        .id;
    let block_files = || {
        files_below(dir.path())
            .into_iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("shuffle_{rdd}_")))
            })
            .count()
    };
    assert!(block_files() > 0, "no block file of rdd {rdd}");
    cached.unpersist();
    assert_eq!(cached.storage_level(), StorageLevel::NONE);
    assert_eq!(block_files(), 0, "unpersist left rdd {rdd}'s block files");
    assert_eq!(
        cached.count().await.unwrap(),
        0,
        "without the cache the (deleted) files are read again"
    );
    spark.stop();
}

/// `CACHE TABLE` computes the view at once; SQL over the view then reads the cache, not the
/// files, and gives the answer single-process DataFusion gives; `UNCACHE TABLE` and
/// `CLEAR CACHE` drop it, `CACHE LAZY TABLE ... AS` defines and caches a view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_table_statements_cache_views() {
    let dir = tempfile::tempdir().unwrap();
    let spark = session(2, dir.path(), &[("spark.sql.shuffle.partitions", "3")]).await;
    let path = write_numbers(&spark, dir.path()).await;
    spark
        .sql(&format!(
            "CREATE TEMPORARY VIEW numbers USING parquet OPTIONS (path '{path}')"
        ))
        .await
        .unwrap();
    let events = EventLog::attach(&spark);
    spark.sql("CACHE TABLE numbers").await.unwrap();
    let cached_at = events.snapshot(&spark).len();
    let query = "SELECT k, count(*) AS n, sum(id) AS s FROM numbers GROUP BY k ORDER BY k";
    let got = rows(&spark.sql(query).await.unwrap().collect().await.unwrap());
    assert_eq!(
        input_records_since(&events.snapshot(&spark), cached_at),
        0,
        "the query over the cached view read its files"
    );
    let oracle = datafusion::prelude::SessionContext::new();
    oracle
        .register_parquet("numbers", &path, Default::default())
        .await
        .unwrap();
    let expected = oracle.sql(query).await.unwrap().collect().await.unwrap();
    assert_eq!(got, rows(&expected));

    spark
        .sql("CACHE LAZY TABLE small OPTIONS ('storageLevel' 'DISK_ONLY') AS SELECT * FROM numbers WHERE id < 10")
        .await
        .unwrap();
    assert_eq!(
        spark.table("small").await.unwrap().storage_level(),
        StorageLevel::DISK_ONLY
    );
    spark.sql("UNCACHE TABLE numbers").await.unwrap();
    spark.sql("UNCACHE TABLE IF EXISTS nothing").await.unwrap();
    assert!(spark.sql("UNCACHE TABLE nothing").await.is_err());
    assert_eq!(
        spark.table("numbers").await.unwrap().storage_level(),
        StorageLevel::NONE
    );
    spark.sql("CLEAR CACHE").await.unwrap();
    assert_eq!(
        spark.table("small").await.unwrap().storage_level(),
        StorageLevel::NONE
    );
    spark.stop();
}

/// A cache is read only for the very data it holds: `range(1)` cached is not read for
/// `range(10)`, nor one file's rows for another's, although their plans differ only in
/// what they scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_data_is_never_read_from_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    let spark = session(2, dir.path(), &[]).await;
    let one = spark.range(1).await.unwrap().cache();
    assert_eq!(one.count().await.unwrap(), 1);
    assert_eq!(spark.range(10).await.unwrap().count().await.unwrap(), 10);
    assert_eq!(
        spark.range(10).await.unwrap().storage_level(),
        StorageLevel::NONE
    );
    let path = write_numbers(&spark, dir.path()).await;
    let other = dir.path().join("other").display().to_string();
    spark
        .sql("SELECT id, id % 10 AS k FROM range(5)")
        .await
        .unwrap()
        .write()
        .parquet(&other)
        .await
        .unwrap();
    let numbers = spark.read().parquet(&path).await.unwrap().cache();
    assert_eq!(numbers.count().await.unwrap(), 10_000);
    let others = spark.read().parquet(&other).await.unwrap();
    assert_eq!(others.count().await.unwrap(), 5);
    // The same files read again are the same data: the cache is found.
    let again = spark.read().parquet(&path).await.unwrap();
    assert_eq!(again.storage_level(), StorageLevel::MEMORY_AND_DISK);
    spark.stop();
}

/// A query's shuffle files live as long as its DataFrame (a second action over it reuses
/// them) and are deleted once it is dropped (Spark's `ContextCleaner`), so a long-running
/// application does not fill its disk with the shuffles of queries long gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffle_files_go_with_their_dataframe() {
    let dir = tempfile::tempdir().unwrap();
    let spark = session(2, dir.path(), &[("spark.sql.shuffle.partitions", "3")]).await;
    let shuffle_files = || {
        files_below(dir.path())
            .into_iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("shuffle_"))
            })
            .count()
    };
    let grouped = spark
        .sql("SELECT id % 10 AS k, count(*) AS n FROM range(10000) GROUP BY id % 10")
        .await
        .unwrap();
    assert_eq!(
        grouped
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        10
    );
    let kept = shuffle_files();
    assert!(kept > 0, "the query wrote no shuffle file");
    grouped.collect().await.unwrap();
    assert_eq!(
        shuffle_files(),
        kept,
        "a second action over the DataFrame reuses its shuffle"
    );
    drop(grouped);
    assert_eq!(
        shuffle_files(),
        0,
        "the dropped DataFrame's shuffle files are still there"
    );
    spark.stop();
}
