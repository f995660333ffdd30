//! The application UI's REST API (`/api/v1`) against what the scheduler reported: a query
//! with a known shape run twice (the second time its map stage is skipped), Spark's field
//! names and status strings, 404/400 JSON errors, and a taken port moving the UI up; the
//! same application's event log replayed by a history server gives the same answers.

use flint::{SparkListenerEvent, SparkSession};
use serde_json::Value;

use crate::common::EventLog;

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("the UI answers");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, json)
}

async fn session(port: u16, event_log_dir: Option<&std::path::Path>) -> SparkSession {
    let mut builder = SparkSession::builder()
        .master("local[2]")
        .app_name("rest-shape")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.port", &port.to_string());
    if let Some(dir) = event_log_dir {
        builder = builder
            .config("spark.eventLog.enabled", "true")
            .config("spark.eventLog.dir", &dir.display().to_string());
    }
    builder.create().await.unwrap()
}

/// The REST answers a history server must reproduce for an application.
fn replayable_paths(app_id: &str, stage: (u32, u32)) -> Vec<String> {
    let (id, attempt) = stage;
    let app = format!("applications/{app_id}");
    vec![
        format!("{app}/jobs"),
        format!("{app}/jobs/0"),
        format!("{app}/stages"),
        format!("{app}/stages/{id}"),
        format!("{app}/stages/{id}/{attempt}"),
        format!("{app}/stages/{id}/{attempt}/taskList?length=100"),
        format!("{app}/stages/{id}/{attempt}/taskSummary?quantiles=0,0.5,1"),
        format!("{app}/allexecutors"),
        format!("{app}/environment"),
        format!("{app}/sql"),
        format!("{app}/sql/0?planDescription=false"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_matches_the_jobs_that_ran() {
    let log_dir = tempfile::tempdir().unwrap();
    let spark = session(0, Some(log_dir.path())).await;
    let events = EventLog::attach(&spark);
    let ui = spark
        .ui_web_url()
        .expect("the UI is on by default")
        .to_string();
    let app_id = spark.app_id().to_string();
    spark
        .range(1000)
        .await
        .unwrap()
        .create_or_replace_temp_view("numbers")
        .unwrap();
    let df = spark
        .sql("SELECT id % 10 AS k, count(*) AS c FROM numbers GROUP BY id % 10")
        .await
        .unwrap();
    df.collect().await.unwrap();
    df.collect().await.unwrap();
    let events = events.snapshot(&spark);

    let (status, apps) = get(&format!("{ui}/api/v1/applications")).await;
    assert_eq!(status, 200);
    assert_eq!(apps[0]["id"], app_id.as_str());
    assert_eq!(apps[0]["name"], "rest-shape");
    assert_eq!(apps[0]["attempts"][0]["completed"], false);
    assert_eq!(apps[0]["attempts"][0]["endTimeEpoch"], -1);

    // Every job, stage and task the listener bus reported, and nothing else.
    let job_stages: Vec<(u32, Vec<u32>)> = events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::JobStart {
                job_id,
                stage_infos,
                ..
            } => Some((*job_id, stage_infos.iter().map(|s| s.stage_id).collect())),
            _ => None,
        })
        .collect();
    assert_eq!(job_stages.len(), 2, "{job_stages:?}");
    let submitted: Vec<(u32, u32, usize)> = events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::StageSubmitted { stage_info } => Some((
                stage_info.stage_id,
                stage_info.attempt,
                stage_info.num_tasks,
            )),
            _ => None,
        })
        .collect();
    let tasks_ended = events
        .iter()
        .filter(|e| matches!(e, SparkListenerEvent::TaskEnd { .. }))
        .count();

    let (_, jobs) = get(&format!("{ui}/api/v1/applications/{app_id}/jobs")).await;
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["jobId"], 1, "newest first");
    let mut tasks_in_jobs = 0;
    for job in jobs {
        assert_eq!(job["status"], "SUCCEEDED");
        let id = job["jobId"].as_u64().unwrap() as u32;
        let (_, stages) = &job_stages[id as usize];
        let mut expected: Vec<u32> = stages.clone();
        expected.sort();
        expected.dedup();
        assert_eq!(job["stageIds"], serde_json::json!(expected));
        assert_eq!(
            job["numTasks"].as_u64(),
            Some(
                job["numCompletedTasks"].as_u64().unwrap()
                    + job["numSkippedTasks"].as_u64().unwrap()
            )
        );
        assert_eq!(job["numFailedTasks"], 0);
        assert_eq!(job["numActiveTasks"], 0);
        tasks_in_jobs += job["numCompletedTasks"].as_u64().unwrap();
        assert!(job["submissionTime"].as_str().unwrap().ends_with("GMT"));
    }
    assert_eq!(tasks_in_jobs as usize, tasks_ended);
    assert_eq!(
        jobs[1]["numSkippedStages"], 0,
        "the first run computes everything"
    );
    assert!(
        jobs[0]["numSkippedStages"].as_u64().unwrap() >= 1,
        "the second run reuses the map outputs: {}",
        jobs[0]
    );

    let (_, stages) = get(&format!("{ui}/api/v1/applications/{app_id}/stages")).await;
    let complete: Vec<(u32, u32, usize)> = stages
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "COMPLETE")
        .map(|s| {
            assert_eq!(s["numCompleteTasks"], s["numTasks"]);
            (
                s["stageId"].as_u64().unwrap() as u32,
                s["attemptId"].as_u64().unwrap() as u32,
                s["numTasks"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let mut expected_complete = submitted.clone();
    expected_complete.sort();
    let mut complete_sorted = complete.clone();
    complete_sorted.sort();
    assert_eq!(complete_sorted, expected_complete);
    let skipped = stages
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SKIPPED")
        .count();
    assert!(
        skipped == 0,
        "a stage that ran once is COMPLETE, not SKIPPED: {stages}"
    );
    let (stage_id, attempt, tasks) = submitted[0];
    let (status, stage) = get(&format!(
        "{ui}/api/v1/applications/{app_id}/stages/{stage_id}/{attempt}"
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(stage["numTasks"], tasks);
    assert!(stage["shuffleWriteBytes"].as_u64().unwrap() > 0, "{stage}");

    // One executor in local mode, the driver, which ran every task.
    let (_, executors) = get(&format!("{ui}/api/v1/applications/{app_id}/executors")).await;
    let executors = executors.as_array().unwrap();
    assert_eq!(executors.len(), 1, "{executors:?}");
    assert_eq!(executors[0]["id"], "driver");
    assert_eq!(executors[0]["isActive"], true);
    assert_eq!(executors[0]["totalCores"], 2);
    assert_eq!(executors[0]["completedTasks"], tasks_ended);
    assert_eq!(executors[0]["activeTasks"], 0);
    assert!(executors[0]["maxMemory"].as_u64().unwrap() > 0);
    let (_, task_list) = get(&format!(
        "{ui}/api/v1/applications/{app_id}/stages/{stage_id}/{attempt}/taskList"
    ))
    .await;
    let task_list = task_list.as_array().unwrap();
    assert_eq!(task_list.len(), submitted[0].2);
    for task in task_list {
        assert_eq!(task["status"], "SUCCESS");
        assert_eq!(task["executorId"], "driver");
        assert!(
            task["taskMetrics"]["shuffleWriteMetrics"]["bytesWritten"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
    let (_, environment) = get(&format!("{ui}/api/v1/applications/{app_id}/environment")).await;
    assert!(
        environment["sparkProperties"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["spark.sql.shuffle.partitions", "3"])),
        "{environment}"
    );
    // One SQL execution per action, linked to its job, with the plan's operators and the
    // metrics their tasks reported.
    let (_, queries) = get(&format!("{ui}/api/v1/applications/{app_id}/sql")).await;
    let queries = queries.as_array().unwrap();
    assert_eq!(queries.len(), 2, "{queries:?}");
    let node = |query: &Value, name: &str| -> Vec<Value> {
        query["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["nodeName"] == name)
            .cloned()
            .collect()
    };
    let metric = |node: &Value, name: &str| -> Option<String> {
        node["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["value"].as_str().unwrap().to_string())
    };
    let map_stage_records: u64 = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shuffleWriteRecords"].as_u64().unwrap())
        .sum();
    for (id, query) in queries.iter().enumerate() {
        assert_eq!(query["id"], id);
        assert_eq!(query["status"], "COMPLETED");
        assert_eq!(query["successJobIds"], serde_json::json!([id]));
        assert_eq!(query["failedJobIds"], serde_json::json!([]));
        assert!(
            query["description"]
                .as_str()
                .unwrap()
                .starts_with("collect at"),
            "{query}"
        );
        assert!(
            query["planDescription"]
                .as_str()
                .unwrap()
                .starts_with("== Physical Plan =="),
            "{query}"
        );
        let nodes = query["nodes"].as_array().unwrap();
        assert_eq!(query["edges"].as_array().unwrap().len() + 1, nodes.len());
        assert_eq!(nodes.last().unwrap()["nodeId"], 0, "highest id first");
        // The root produced the 10 groups.
        assert_eq!(
            metric(nodes.last().unwrap(), "number of output rows").as_deref(),
            Some("10"),
            "{query}"
        );
        // range() keeps its one partition and is hash-partitioned by key: one exchange.
        let exchanges = node(query, "Exchange");
        assert_eq!(exchanges.len(), 1, "{query}");
        let scan = node(query, "LazyMemory");
        assert_eq!(scan.len(), 1, "{query}");
        let records = |name: &str| -> u64 {
            exchanges
                .iter()
                .filter_map(|e| metric(e, name))
                .map(|v| v.replace(',', "").parse::<u64>().unwrap())
                .sum()
        };
        if id == 0 {
            // The first run computed the map sides: the generator's rows and the exchanges'
            // writes, as many records as the stages wrote.
            assert_eq!(
                metric(&scan[0], "number of output rows").as_deref(),
                Some("1,000")
            );
            assert_eq!(records("shuffle records written"), map_stage_records);
            assert_eq!(records("shuffle records read"), map_stage_records);
            assert!(
                metric(&exchanges[0], "shuffle bytes written")
                    .unwrap()
                    .starts_with("total (min, med, max (stageId: taskId))\n")
            );
        } else {
            // The second skipped them: only the final exchange's reads were reported.
            assert_eq!(metric(&scan[0], "number of output rows"), None, "{query}");
            assert_eq!(records("shuffle records written"), 0, "{query}");
            assert_eq!(records("shuffle records read"), 10, "{query}");
        }
    }
    let (_, brief) = get(&format!(
        "{ui}/api/v1/applications/{app_id}/sql/1?details=false&planDescription=false"
    ))
    .await;
    assert_eq!(brief["nodes"], serde_json::json!([]));
    assert_eq!(brief["planDescription"], "");
    let sql_ids: Vec<Option<u64>> = events
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::JobStart {
                sql_execution_id, ..
            } => Some(*sql_execution_id),
            _ => None,
        })
        .collect();
    assert_eq!(sql_ids, [Some(0), Some(1)]);
    let page = reqwest::get(format!("{ui}/SQL/execution/?id=0"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Details for Query 0") && page.contains("<svg class=\"plan\""));

    let metrics = reqwest::get(format!("{ui}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "driver_jobs{{application_id=\"{app_id}\",status=\"succeeded\"}} 2"
        )),
        "{metrics}"
    );

    for (path, expected) in [
        (format!("applications/{app_id}/jobs/99"), 404),
        (
            format!("applications/{app_id}/stages/0/0/taskList?offset=x"),
            400,
        ),
        (
            format!("applications/{app_id}/stages/0/0/taskSummary?quantiles=2"),
            400,
        ),
        (format!("applications/{app_id}/jobs?status=nope"), 400),
        (format!("applications/{app_id}/jobs/x"), 400),
        (format!("applications/{app_id}/stages/99"), 404),
        (format!("applications/{app_id}/stages/0/x"), 400),
        (format!("applications/{app_id}/sql/99"), 404),
        (format!("applications/{app_id}/sql/x"), 400),
        (format!("applications/{app_id}/sql?details=maybe"), 400),
        (format!("applications/{app_id}/sql?length=-1"), 400),
        ("applications/no-such-app/jobs".to_string(), 404),
        ("no/such/endpoint".to_string(), 404),
    ] {
        let (status, body) = get(&format!("{ui}/api/v1/{path}")).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let paths = replayable_paths(&app_id, (stage_id, attempt));
    let mut live = Vec::new();
    for path in &paths {
        live.push(get(&format!("{ui}/api/v1/{path}")).await);
    }
    spark.stop();

    // The history server rebuilds the same answers from the event log.
    let history = flint_ui::HistoryServer::start(
        &log_dir.path().display().to_string(),
        "127.0.0.1",
        "127.0.0.1",
        0,
        0,
        std::time::Duration::from_secs(60),
        &flint_rpc::RpcSecurity::none(),
    )
    .await
    .unwrap();
    let base = history.url().to_string();
    for (path, live) in paths.iter().zip(live) {
        let replayed = get(&format!("{base}/api/v1/{path}")).await;
        assert_eq!(replayed, live, "{path}");
    }
    let (_, apps) = get(&format!("{base}/api/v1/applications?status=completed")).await;
    assert_eq!(apps[0]["id"], app_id.as_str());
    assert_eq!(apps[0]["attempts"][0]["completed"], true);
    let page = reqwest::get(format!(
        "{base}/history/{app_id}/stages/stage/?id={stage_id}&attempt={attempt}"
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(page.contains("Summary Metrics for"), "{page}");
}

/// A taken `spark.ui.port` moves the UI to a later port, as Spark's `startServiceOnPort`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_ui_port_moves_up() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    if port > 65000 {
        return;
    }
    let spark = session(port, None).await;
    let url = spark.ui_web_url().unwrap().to_string();
    let got: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(got > port && got <= port + 16, "{url} after {port}");
    // The store learns the application's id from the listener bus, after start returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, apps) = get(&format!("{url}/api/v1/applications")).await;
        assert_eq!(status, 200);
        if apps[0]["id"] == spark.app_id() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{apps}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    spark.stop();
    let disabled = SparkSession::builder()
        .master("local[1]")
        .config("spark.ui.enabled", "false")
        .create()
        .await
        .unwrap();
    assert_eq!(disabled.ui_web_url(), None);
}
