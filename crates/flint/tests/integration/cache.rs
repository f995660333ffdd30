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

    let rdd = cache_id(&after);
    // MEMORY_AND_DISK with room in memory: the blocks are in the executor's memory, not in
    // files, and the Storage tab is told their size there.
    let stored = cached_blocks(&after, rdd);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|(memory, disk)| *memory > 0 && *disk == 0),
        "{stored:?}"
    );
    assert_eq!(block_files(dir.path(), rdd), 0);
    cached.unpersist();
    assert_eq!(cached.storage_level(), StorageLevel::NONE);
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

/// The ids of the caches whose stages were submitted, in order.
fn cache_ids(events: &[SparkListenerEvent]) -> Vec<u32> {
    let mut ids = vec![];
    for event in events {
        if let SparkListenerEvent::StageSubmitted { stage_info } = event {
            for rdd in &stage_info.rdd_infos {
                if !ids.contains(&rdd.id) {
                    ids.push(rdd.id);
                }
            }
        }
    }
    ids
}

/// The id of the first cache whose stage was submitted.
fn cache_id(events: &[SparkListenerEvent]) -> u32 {
    *cache_ids(events).first().expect("a cache stage")
}

/// The latest (memory, disk) size of each block of cache `rdd` still stored, by partition.
fn cached_blocks(events: &[SparkListenerEvent], rdd: u32) -> Vec<(u64, u64)> {
    let mut blocks = std::collections::BTreeMap::new();
    for event in events {
        if let SparkListenerEvent::BlockUpdated {
            block_id,
            storage_level,
            memory_size,
            disk_size,
            ..
        } = event
            && let Some(partition) = block_id.strip_prefix(&format!("rdd_{rdd}_"))
        {
            if *storage_level == StorageLevel::NONE {
                blocks.remove(partition);
            } else {
                blocks.insert(partition.to_string(), (*memory_size, *disk_size));
            }
        }
    }
    blocks.into_values().collect()
}

/// Block files of cache `rdd` below `dir`.
fn block_files(dir: &std::path::Path, rdd: u32) -> usize {
    files_below(dir)
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("shuffle_{rdd}_")))
        })
        .count()
}

/// `DISK_ONLY` keeps the blocks in files of the block manager, which `unpersist` deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_only_blocks_are_files_until_unpersisted() {
    let dir = tempfile::tempdir().unwrap();
    let spark = session(2, dir.path(), &[]).await;
    let events = EventLog::attach(&spark);
    let squares = spark
        .sql("SELECT id, id * id AS sq FROM range(0, 5000, 1, 2)")
        .await
        .unwrap()
        .persist(StorageLevel::DISK_ONLY);
    assert_eq!(squares.count().await.unwrap(), 5000);
    assert_eq!(squares.count().await.unwrap(), 5000);
    let after = events.snapshot(&spark);
    let rdd = cache_id(&after);
    let stored = cached_blocks(&after, rdd);
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|(memory, disk)| *memory == 0 && *disk > 0),
        "{stored:?}"
    );
    assert_eq!(
        block_files(dir.path(), rdd),
        6,
        "a data, an index and a checksum file per block"
    );
    squares.unpersist();
    assert_eq!(
        block_files(dir.path(), rdd),
        0,
        "unpersist left block files"
    );
    spark.stop();
}

/// Polls the event log until `done` holds of it, or fails after 10 s.
async fn wait_for_events(
    spark: &flint::SparkSession,
    events: &EventLog,
    what: &str,
    done: impl Fn(&[SparkListenerEvent]) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(&events.snapshot(spark)) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// With little storage memory, a cache that needs room pushes out the least recently used
/// blocks of other caches: a MEMORY_ONLY block is dropped and its partition computed again by
/// the next action; a MEMORY_AND_DISK block moves to a file and is read from there. Every
/// answer stays right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_pushed_out_of_memory_are_dropped_or_moved_to_disk_by_level() {
    let dir = tempfile::tempdir().unwrap();
    // A pool of 0.6 x 16 MiB: two caches of about 6.4 MiB do not fit together.
    let spark = session(2, dir.path(), &[("spark.driver.memory", "16m")]).await;
    let events = EventLog::attach(&spark);
    let cache = |start: i64, level: StorageLevel| {
        let spark = &spark;
        async move {
            spark
                .sql(&format!(
                    "SELECT id, id * 2 AS y FROM range({start}, {}, 1, 2)",
                    start + 400_000
                ))
                .await
                .unwrap()
                .persist(level)
        }
    };
    let sum_of = |df: flint::DataFrame| async move {
        let sums = df
            .group_by(vec![])
            .agg(vec![
                datafusion::functions_aggregate::expr_fn::sum(col("y")).alias("s"),
            ])
            .unwrap();
        rows(&sums.collect().await.unwrap())[0][0].clone()
    };
    let expected = |start: i64| (2 * (start..start + 400_000).sum::<i64>()).to_string();

    let memory_only = cache(0, StorageLevel::MEMORY_ONLY).await;
    assert_eq!(sum_of(memory_only.clone()).await, expected(0));
    let first = cache_id(&events.snapshot(&spark));
    let spilling = cache(1_000_000, StorageLevel::MEMORY_AND_DISK).await;
    assert_eq!(sum_of(spilling.clone()).await, expected(1_000_000));
    wait_for_events(&spark, &events, "a MEMORY_ONLY block dropped", |events| {
        cached_blocks(events, first).len() < 2
    })
    .await;
    let second = cache_ids(&events.snapshot(&spark))[1];
    let third = cache(2_000_000, StorageLevel::MEMORY_ONLY).await;
    assert_eq!(sum_of(third.clone()).await, expected(2_000_000));
    wait_for_events(
        &spark,
        &events,
        "a MEMORY_AND_DISK block on disk",
        |events| {
            cached_blocks(events, second)
                .iter()
                .any(|(memory, disk)| *memory == 0 && *disk > 0)
        },
    )
    .await;
    assert!(block_files(dir.path(), second) > 0);

    // The block on disk is read from its file; the dropped ones are computed again.
    assert_eq!(sum_of(spilling.clone()).await, expected(1_000_000));
    assert_eq!(sum_of(memory_only.clone()).await, expected(0));
    assert_eq!(sum_of(third).await, expected(2_000_000));
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
