use std::collections::BTreeMap;

use flint::{SparkListenerEvent, SparkSession};

use crate::common::{
    EventLog, assert_same_rows, count_of, datafusion_with, register_tpch, rows, scan_shuffles,
    session,
};

fn query_text(n: usize) -> String {
    let path = format!(
        "{}/../../benchmarks/queries/q{n}.sql",
        std::env::var("CARGO_MANIFEST_DIR").unwrap()
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// All 22 TPC-H queries, in Spark's SQL text, give in `local[2]` what single-process
/// DataFusion gives on the same files with the same partition count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_queries_match_datafusion() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(2, local_dir.path(), &[]).await;
    let events = EventLog::attach(&spark);
    check_tpch(&spark).await;
    // Every task's operators matched its query's plan graph after the plan travelled, so each
    // reported SQL metrics, and every query ended.
    let events = events.snapshot(&spark);
    let unmatched: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::TaskEnd {
                stage_id,
                reason: flint::TaskEndReason::Success,
                sql_metrics,
                ..
            } if sql_metrics.is_empty() => Some(*stage_id),
            _ => None,
        })
        .collect();
    assert!(
        unmatched.is_empty(),
        "stages without SQL metrics: {unmatched:?}"
    );
    let ended = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                SparkListenerEvent::SqlExecutionEnd {
                    error_message: None,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ended, 22);
    spark.stop();
    assert_eq!(
        std::fs::read_dir(local_dir.path()).unwrap().count(),
        0,
        "local dir left behind"
    );
}

/// With a broadcast threshold small enough that the big tables are joined by shuffling both
/// sides, as at scale factor 1, the plan rewrites around partitioned joins (semi-join
/// reduction, semi joins pushed into joins, runtime filters) still give DataFusion's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_queries_match_datafusion_with_partitioned_joins() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(
        2,
        local_dir.path(),
        &[("spark.sql.autoBroadcastJoinThreshold", "100k")],
    )
    .await;
    check_tpch(&spark).await;

    // q7's suppliers of two nations filter lineitem before the orders-lineitem shuffle: the
    // stage scanning lineitem writes far fewer rows than the query's date range holds.
    let in_range = count_of(
        &spark,
        "select count(*) from lineitem
         where l_shipdate between date '1995-01-01' and date '1996-12-31'",
    )
    .await;
    let lines = count_of(&spark, "select count(*) from lineitem").await;
    let (scans, by_stage) = lineitem_scans(&spark, 7, lines).await;
    let [shuffled] = scans[..] else {
        panic!("one lineitem scan expected: {by_stage:?}");
    };
    assert!(
        shuffled < in_range / 4,
        "{shuffled} lineitem rows shuffled of {in_range} in range: {by_stage:?}"
    );

    // q21 scans lineitem three times; each scanning stage shuffles only lines of the few
    // orders its broadcast (or small semi-join) side selects, not every late line.
    let (scans, by_stage) = lineitem_scans(&spark, 21, lines).await;
    assert_eq!(scans.len(), 3, "{by_stage:?}");
    assert!(
        scans.iter().all(|shuffled| *shuffled < lines / 10),
        "a lineitem scan was shuffled whole: {by_stage:?}"
    );
    spark.stop();
}

/// Runs TPC-H query `n`; returns the shuffle records written by each stage that scanned
/// lineitem (read at least its `lines` rows), and every stage's records.
async fn lineitem_scans(
    spark: &SparkSession,
    n: usize,
    lines: u64,
) -> (Vec<u64>, BTreeMap<u32, (u64, u64)>) {
    let log = EventLog::attach(spark);
    spark
        .sql(&query_text(n))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    scan_shuffles(&log.snapshot(spark), lines)
}

/// Runs the 22 queries on `spark` and compares each with single-process DataFusion.
pub async fn check_tpch(spark: &SparkSession) {
    register_tpch(spark).await;

    // The oracle is plain DataFusion plus the Spark functions Flint adds (`year`).
    let oracle = datafusion_with(&flint_datagen::TPCH_TABLES).await;

    for n in 1..=22 {
        let text = query_text(n);
        let name = format!("q{n}");
        let actual = spark
            .sql(&text)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = rows(
            &actual
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}")),
        );
        let expected = rows(&oracle.sql(&text).await.unwrap().collect().await.unwrap());
        let ordered = text.to_lowercase().contains("order by");
        assert_same_rows(&name, actual, expected, ordered);
    }
}
