//! The application UI's REST API (`/api/v1`) against what the scheduler reported: a query
//! with a known shape run twice (the second time its map stage is skipped), Spark's field
//! names and status strings, 404/400 JSON errors, and a taken port moving the UI up.

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

async fn session(port: u16) -> SparkSession {
    SparkSession::builder()
        .master("local[2]")
        .app_name("rest-shape")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.port", &port.to_string())
        .create()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_api_matches_the_jobs_that_ran() {
    let spark = session(0).await;
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

    for (path, expected) in [
        (format!("applications/{app_id}/jobs/99"), 404),
        (format!("applications/{app_id}/jobs/x"), 400),
        (format!("applications/{app_id}/stages/99"), 404),
        (format!("applications/{app_id}/stages/0/x"), 400),
        ("applications/no-such-app/jobs".to_string(), 404),
        ("no/such/endpoint".to_string(), 404),
    ] {
        let (status, body) = get(&format!("{ui}/api/v1/{path}")).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    spark.stop();
}

/// A taken `spark.ui.port` moves the UI to a later port, as Spark's `startServiceOnPort`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_ui_port_moves_up() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    if port > 65000 {
        return;
    }
    let spark = session(port).await;
    let url = spark.ui_web_url().unwrap().to_string();
    let got: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(got > port && got <= port + 16, "{url} after {port}");
    let (status, apps) = get(&format!("{url}/api/v1/applications")).await;
    assert_eq!(status, 200);
    assert_eq!(apps[0]["id"], spark.app_id());
    spark.stop();
    let disabled = SparkSession::builder()
        .master("local[1]")
        .config("spark.ui.enabled", "false")
        .create()
        .await
        .unwrap();
    assert_eq!(disabled.ui_web_url(), None);
}
