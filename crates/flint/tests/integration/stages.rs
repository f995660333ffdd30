use flint::SparkListenerEvent;
use flint::functions::{col, count, lit, sum};

use crate::common::{
    EventLog, assert_same_rows, count_of, datafusion_with, register_tpch, rows, scan_shuffles,
    session, stage_records, successful_task_sum,
};

fn stage_submissions(events: &[SparkListenerEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::StageSubmitted { stage_info } => Some(stage_info.stage_id),
            _ => None,
        })
        .collect()
}

/// A join with an aggregation runs as several stages, writes shuffle files to the
/// application's local dir, and a second action over the same DataFrame skips the map stages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_aggregation_runs_as_stages_and_reuses_shuffle_output() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(
        2,
        local_dir.path(),
        &[("spark.sql.shuffle.partitions", "3")],
    )
    .await;
    register_tpch(&spark).await;
    let log = EventLog::attach(&spark);
    let df = spark
        .sql(
            "select n_name, count(*) as suppliers, sum(s_acctbal) as balance
             from supplier join nation on s_nationkey = n_nationkey
             group by n_name",
        )
        .await
        .unwrap();

    let first = rows(&df.collect().await.unwrap());
    assert_eq!(first.len(), 25, "one row per nation");
    let events = log.snapshot(&spark);
    let submitted = stage_submissions(&events);
    assert!(
        submitted.len() >= 2,
        "expected at least 2 stages, got {submitted:?}"
    );
    let shuffle_written = successful_task_sum(&events, |m| m.shuffle_write_bytes);
    assert!(shuffle_written > 0, "map tasks wrote no shuffle bytes");
    let blocks = spark.local_dir().unwrap().join("blockmgr");
    let files: Vec<String> = std::fs::read_dir(&blocks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with(".data")),
        "no shuffle data file in {files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with(".index")),
        "no shuffle index file in {files:?}"
    );
    assert!(
        !files.iter().any(|f| f.ends_with(".tmp")),
        "temp files left: {files:?}"
    );

    // The same DataFrame again: only the result stage runs; the job lists the map stages as skipped.
    log.events.lock().unwrap().clear();
    let second = rows(&df.collect().await.unwrap());
    let mut sorted_first = first.clone();
    sorted_first.sort();
    let mut sorted_second = second;
    sorted_second.sort();
    assert_eq!(sorted_first, sorted_second);
    let events = log.snapshot(&spark);
    let (job_stages, _) = events
        .iter()
        .find_map(|e| match e {
            SparkListenerEvent::JobStart {
                stage_infos,
                job_id,
                ..
            } => Some((stage_infos.clone(), *job_id)),
            _ => None,
        })
        .unwrap();
    let resubmitted = stage_submissions(&events);
    assert_eq!(
        resubmitted.len(),
        1,
        "only the result stage should run again, ran {resubmitted:?}"
    );
    assert!(
        job_stages.len() > resubmitted.len(),
        "the second job must list skipped stages: {job_stages:?}"
    );
    for stage in &job_stages {
        if !resubmitted.contains(&stage.stage_id) {
            assert!(
                submitted.contains(&stage.stage_id),
                "skipped stage {} was never run",
                stage.stage_id
            );
        }
    }

    let app_dir = spark.local_dir().unwrap();
    assert!(app_dir.exists());
    spark.stop();
    assert!(!app_dir.exists(), "application directory left after stop");
    assert_eq!(std::fs::read_dir(local_dir.path()).unwrap().count(), 0);
}

/// The DataFrame API runs through the same scheduler and agrees with SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataframe_api_matches_sql() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(2, local_dir.path(), &[]).await;
    let df = spark
        .range(1000)
        .await
        .unwrap()
        .with_column("bucket", col("id") % lit(7))
        .unwrap()
        .repartition(3)
        .unwrap()
        .group_by(vec![col("bucket")])
        .agg(vec![
            sum(col("id")).alias("total"),
            count(lit(1)).alias("n"),
        ])
        .unwrap()
        .order_by(vec![col("bucket").sort(true, true)])
        .unwrap();
    let api = rows(&df.collect().await.unwrap());
    let sql = spark
        .sql("select id % 7 as bucket, sum(id) as total, count(*) as n from range(0, 1000) group by 1 order by 1")
        .await
        .unwrap();
    assert_eq!(api, rows(&sql.collect().await.unwrap()));
    assert_eq!(api.len(), 7);

    assert_eq!(
        spark.range(1000).await.unwrap().count().await.unwrap(),
        1000
    );
    let evens = spark
        .range(10)
        .await
        .unwrap()
        .filter((col("id") % lit(2)).eq(lit(0)))
        .unwrap();
    let odds = spark
        .range(10)
        .await
        .unwrap()
        .where_((col("id") % lit(2)).eq(lit(1)))
        .unwrap();
    let all = evens.union(&odds).unwrap().distinct().unwrap();
    assert_eq!(all.count().await.unwrap(), 10);
    let renamed = all.to_df(&["n"]).unwrap().limit(3).unwrap();
    assert_eq!(renamed.columns(), vec!["n".to_string()]);
    assert_eq!(renamed.count().await.unwrap(), 3);

    let left = spark
        .range(5)
        .await
        .unwrap()
        .with_column("l", col("id") * lit(10))
        .unwrap();
    let right = spark
        .range(3)
        .await
        .unwrap()
        .with_column("r", col("id") * lit(100))
        .unwrap();
    let joined = left
        .join(&right, &["id"], "inner")
        .unwrap()
        .order_by(vec![col("id").sort(true, true)])
        .unwrap();
    assert_eq!(joined.columns(), vec!["id", "l", "r"]);
    assert_eq!(
        rows(&joined.collect().await.unwrap()),
        vec![
            vec!["0", "0", "0"],
            vec!["1", "10", "100"],
            vec!["2", "20", "200"]
        ]
    );
    joined.create_or_replace_temp_view("joined").unwrap();
    let from_view = spark.sql("select sum(r) from joined").await.unwrap();
    assert_eq!(rows(&from_view.collect().await.unwrap()), vec![vec!["300"]]);

    let shown = spark.range(3).await.unwrap().show_string(2).await.unwrap();
    assert_eq!(
        shown,
        "+---+\n| id|\n+---+\n|  0|\n|  1|\n+---+\nonly showing top 2 rows\n"
    );

    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("written");
    let target = target.to_str().unwrap();
    joined.write().parquet(target).await.unwrap();
    assert!(std::path::Path::new(target).join("_SUCCESS").exists());
    let back = spark.read().parquet(target).await.unwrap();
    assert_eq!(back.count().await.unwrap(), 3);
    let error = joined
        .write()
        .parquet(target)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("already exists"), "{error}");
    joined
        .write()
        .mode("overwrite")
        .option("header", "true")
        .csv(target)
        .await
        .unwrap();
    let csv = spark
        .read()
        .option("header", "true")
        .option("inferSchema", "true")
        .csv(target)
        .await
        .unwrap();
    assert_eq!(csv.count().await.unwrap(), 3);
    spark.stop();
}

/// Runs `sql`, applies `change` to each shuffle data file of the application, runs the same
/// DataFrame again and checks both answers are the same; returns the events of the second
/// run.
async fn rerun_after_changing_shuffle_files(
    sql: &str,
    change: impl Fn(&std::path::Path),
) -> Vec<SparkListenerEvent> {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(2, local_dir.path(), &[]).await;
    let df = spark.sql(sql).await.unwrap();
    let mut first = rows(&df.collect().await.unwrap());
    first.sort();

    let blocks = spark.local_dir().unwrap().join("blockmgr");
    let mut changed = 0;
    for entry in std::fs::read_dir(&blocks).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "data") {
            change(&path);
            changed += 1;
        }
    }
    assert!(changed > 0, "no shuffle data files to change");

    let log = EventLog::attach(&spark);
    let mut second = rows(&df.collect().await.unwrap());
    second.sort();
    assert_eq!(first, second);
    let events = log.snapshot(&spark);
    spark.stop();
    events
}

/// A shuffle file that disappears between two actions is a typed fetch failure: the reading
/// stage fails, the map stage reruns the lost outputs, and the job returns the right answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_shuffle_files_are_recomputed() {
    let events = rerun_after_changing_shuffle_files(
        "select id % 5 as k, count(*) as n from range(0, 1000) group by id % 5",
        |path| std::fs::remove_file(path).unwrap(),
    )
    .await;
    let fetch_failures = events
        .iter()
        .filter(|e| {
            matches!(e, SparkListenerEvent::TaskEnd { reason: reason @ flint::TaskEndReason::FetchFailed { .. }, .. }
                if !reason.counts_towards_failures())
        })
        .count();
    assert!(
        fetch_failures > 0,
        "expected a fetch failure, events: {events:?}"
    );
    let resubmitted = stage_submissions(&events);
    assert!(
        resubmitted.len() >= 3,
        "expected the map stage to rerun: {resubmitted:?}"
    );
}

/// A shuffle block corrupted on disk between two actions is caught by its checksum before it
/// is decoded: the read is a typed fetch failure naming the corruption, the map output is
/// computed again, and the answer is the first one (never rows of the corrupt block).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_shuffle_blocks_are_recomputed_not_read() {
    let events = rerun_after_changing_shuffle_files(
        "select id % 5 as k, sum(id) as s from range(0, 100000) group by id % 5",
        |path| {
            let mut bytes = std::fs::read(path).unwrap();
            // Inside a value, past the IPC framing, so only a checksum can tell.
            let at = bytes.len() * 3 / 4;
            bytes[at] ^= 0x5a;
            std::fs::write(path, bytes).unwrap();
        },
    )
    .await;
    let corrupt_fetches = events
        .iter()
        .filter(|e| {
            matches!(e, SparkListenerEvent::TaskEnd { reason: flint::TaskEndReason::FetchFailed { message, .. }, .. }
                if message.contains("corrupt block"))
        })
        .count();
    assert!(
        corrupt_fetches > 0,
        "no fetch failure named the corrupt block"
    );
}

/// A semi or anti join with a broadcast build side shuffles only the probe rows that match
/// it, and the answers are single-process DataFusion's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_and_anti_joins_shuffle_only_matching_probe_rows() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(2, local_dir.path(), &[]).await;
    register_tpch(&spark).await;
    let lines = count_of(&spark, "select count(*) from lineitem").await;
    let late_lines = count_of(
        &spark,
        "select count(*) from lineitem where l_commitdate < l_receiptdate",
    )
    .await;
    let datafusion = datafusion_with(&["orders", "lineitem"]).await;

    for exists in ["exists", "not exists"] {
        let query = format!(
            "select o_orderpriority, count(*) as order_count from orders
             where o_orderdate >= date '1993-07-01' and o_orderdate < date '1993-10-01'
               and {exists} (select * from lineitem
                             where l_orderkey = o_orderkey and l_commitdate < l_receiptdate)
             group by o_orderpriority"
        );
        let log = EventLog::attach(&spark);
        let (actual, expected) = answers(&spark, &datafusion, &query).await;
        assert_same_rows(exists, actual, expected, false);

        // The stage that scans lineitem (the probe side; it may also read the small orders
        // table it broadcasts) writes only the matching lines.
        let events = log.snapshot(&spark);
        let by_stage = stage_records(&events);
        let (_, shuffled) = by_stage
            .values()
            .find(|(input, _)| *input >= lines)
            .unwrap_or_else(|| panic!("{exists}: no stage scanned lineitem: {by_stage:?}"));
        assert!(
            *shuffled < late_lines / 4,
            "{exists}: {shuffled} shuffle records written for {late_lines} probe-side rows"
        );
    }
    spark.stop();
}

/// `key IN (small subquery)` over an inner join on that key filters both of the join's
/// inputs before they are shuffled (TPC-H q18's shape), with DataFusion's answer; the
/// subquery's exchange runs once for its three readers (Spark's `ReusedExchange`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semi_join_on_a_join_key_filters_both_join_inputs() {
    let local_dir = tempfile::tempdir().unwrap();
    // Orders too big to broadcast, as at scale factor 1, so the join is partitioned.
    let (spark, lines, datafusion) =
        small_broadcasts(local_dir.path(), &["customer", "orders", "lineitem"]).await;
    let query = "select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity)
        from customer, orders, lineitem
        where o_orderkey in (select l_orderkey from lineitem group by l_orderkey
                             having sum(l_quantity) > 250)
          and c_custkey = o_custkey and o_orderkey = l_orderkey
        group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice";
    let log = EventLog::attach(&spark);
    let (actual, expected) = answers(&spark, &datafusion, query).await;
    assert!(
        !expected.is_empty(),
        "the subquery should select some orders"
    );
    assert_same_rows("q18 shape", actual, expected.clone(), false);

    // Each stage scanning lineitem for the join shuffles only the lines of those orders.
    let events = log.snapshot(&spark);
    let (scans, by_stage) = scan_shuffles(&events, lines);
    assert_eq!(scans.len(), 2, "two lineitem scans: {by_stage:?}");
    assert!(
        scans.iter().any(|shuffled| *shuffled < lines / 100),
        "the join's lineitem side was shuffled whole: {by_stage:?}"
    );
    let plan = events
        .iter()
        .find_map(|e| match e {
            SparkListenerEvent::SqlExecutionStart { plan, .. } => Some(plan.clone()),
            _ => None,
        })
        .expect("a SQL execution");
    let (nodes, _) = plan.graph();
    assert_eq!(
        nodes.iter().filter(|n| n.name == "ReusedExchange").count(),
        2,
        "{nodes:?}"
    );
    spark.stop();
}

/// A partitioned join whose one input holds only keys of a broadcast build side (TPC-H q17:
/// `lineitem` joined to the 8 parts of a brand and container) filters its other input by
/// that build side before it is aggregated and shuffled: the average quantity is computed
/// only for those parts. The answer is DataFusion's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_keys_filter_the_other_input_of_a_partitioned_join() {
    let local_dir = tempfile::tempdir().unwrap();
    // The aggregate of lineitem too big to broadcast, as at scale factor 1.
    let (spark, lines, datafusion) =
        small_broadcasts(local_dir.path(), &["part", "lineitem"]).await;
    let query = "select sum(l_extendedprice) / 7.0 as avg_yearly
        from lineitem, part
        where p_partkey = l_partkey and p_brand = 'Brand#45' and p_container = 'MED JAR'
          and l_quantity < (select 0.2 * avg(l_quantity) from lineitem
                            where l_partkey = p_partkey)";
    let log = EventLog::attach(&spark);
    let (actual, expected) = answers(&spark, &datafusion, query).await;
    assert_same_rows("q17", actual, expected, false);

    // Both stages scanning lineitem (the join and the aggregate) shuffle only those parts'.
    let events = log.snapshot(&spark);
    let (scans, by_stage) = scan_shuffles(&events, lines);
    assert_eq!(scans.len(), 2, "two lineitem scans: {by_stage:?}");
    assert!(
        scans.iter().all(|shuffled| *shuffled < lines / 100),
        "a lineitem side was shuffled whole: {by_stage:?}"
    );
    spark.stop();
}

/// `query`'s rows from Flint and from single-process DataFusion.
async fn answers(
    spark: &flint::SparkSession,
    datafusion: &datafusion::prelude::SessionContext,
    query: &str,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let actual = rows(&spark.sql(query).await.unwrap().collect().await.unwrap());
    let expected = rows(
        &datafusion
            .sql(query)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    (actual, expected)
}

/// A left semi join with a broadcast build side (TPC-H q20: the part-suppliers of `forest`
/// parts whose stock exceeds half of a year's shipped quantity) filters its probe side, an
/// aggregate of `lineitem` by part and supplier, by the build side's keys before the
/// aggregation: only those parts' lines are aggregated and shuffled. The answer is DataFusion's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_semi_join_filters_its_probe_side_before_an_aggregate() {
    let local_dir = tempfile::tempdir().unwrap();
    let spark = session(2, local_dir.path(), &[]).await;
    register_tpch(&spark).await;
    let lines = count_of(&spark, "select count(*) from lineitem").await;
    let datafusion = datafusion_with(&["part", "partsupp", "lineitem"]).await;
    let query = "select ps_suppkey, ps_partkey from partsupp
        where ps_partkey in (select p_partkey from part where p_name like 'forest%')
          and ps_availqty > (select 0.5 * sum(l_quantity) from lineitem
                             where l_partkey = ps_partkey and l_suppkey = ps_suppkey
                               and l_shipdate >= date '1994-01-01'
                               and l_shipdate < date '1995-01-01')";
    let log = EventLog::attach(&spark);
    let (actual, expected) = answers(&spark, &datafusion, query).await;
    assert!(!expected.is_empty(), "some part-suppliers should qualify");
    assert_same_rows("q20 shape", actual, expected, false);

    let events = log.snapshot(&spark);
    let by_stage = stage_records(&events);
    let (_, shuffled) = by_stage
        .values()
        .find(|(input, _)| *input >= lines)
        .unwrap_or_else(|| panic!("no stage scanned lineitem: {by_stage:?}"));
    assert!(
        *shuffled < lines / 100,
        "{shuffled} lineitem groups shuffled of {lines} lines: {by_stage:?}"
    );
    spark.stop();
}

/// A 2-slot session over the TPC-H test tables that broadcasts join sides below 100 KB only
/// (so joins of the big tables are partitioned, as at scale factor 1), lineitem's row count,
/// and single-process DataFusion over `tables`.
async fn small_broadcasts(
    local_dir: &std::path::Path,
    tables: &[&str],
) -> (
    flint::SparkSession,
    u64,
    datafusion::prelude::SessionContext,
) {
    let spark = session(
        2,
        local_dir,
        &[("spark.sql.autoBroadcastJoinThreshold", "100k")],
    )
    .await;
    register_tpch(&spark).await;
    let lines = count_of(&spark, "select count(*) from lineitem").await;
    (spark, lines, datafusion_with(tables).await)
}
