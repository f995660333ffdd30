//! Dynamic allocation on a standalone cluster, as users run it: a bursty PySpark application
//! (`flint submit` with `spark.dynamicAllocation.enabled`) grows from no executor to as many
//! as its backlog needs, gives them back when idle, and another application waiting for
//! cores gets them.

use crate::cluster::{master_state, start_master, start_worker_with};
use crate::harness::{Daemon, event_log, get_json, get_text, runtime, wait_until};
use crate::pyspark::pyspark_python;

/// The cores the active application named `name` holds, from the master's `/json/`.
fn app_cores(ui: &str, name: &str) -> Option<u64> {
    master_state(ui)["activeapps"]
        .as_array()?
        .iter()
        .find(|app| app["name"] == name)?["cores"]
        .as_u64()
}

/// A job of eight half-second Python tasks, then idle until the test says so.
const BURSTY_APP: &str = "import os, sys, time\n\
     from pyspark.sql import SparkSession, functions as F\n\
     spark = SparkSession.builder.getOrCreate()\n\
     slow = F.udf(lambda x: (time.sleep(0.5), x)[1], 'long')\n\
     print('sum', spark.range(0, 8, 1, 8).select(slow('id').alias('v')).agg(F.sum('v')).collect()[0][0], flush=True)\n\
     while not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n\
     spark.stop()\n";

/// Two workers of one core. The bursty application starts with no executor, asks for one
/// when its tasks have waited `schedulerBacklogTimeout` and for the second soon after (its
/// eight tasks fill both), so a second application finds no free core and waits. Idle for
/// `executorIdleTimeout` after its job, the bursty application gives both executors back
/// (down to `minExecutors`, 0) while it keeps running, and the waiting application gets a
/// core and runs. `/metrics`, the REST API and the event log show the target, the removals
/// and their reason.
#[test]
fn dynamic_allocation_follows_the_backlog_and_frees_cores_for_others() {
    let python = pyspark_python();
    let (_master, port, ui) = start_master(0);
    let url = format!("spark://127.0.0.1:{port}");
    let service = [
        "--conf",
        "spark.shuffle.service.enabled=true",
        "--conf",
        "spark.shuffle.service.port=0",
    ];
    let workers = [
        start_worker_with(port, "1", "1g", &service),
        start_worker_with(port, "1", "1g", &service),
    ];
    let worker_uis: Vec<String> = workers
        .iter()
        .map(|w| format!("http://127.0.0.1:{}", w.service_port("WorkerUI")))
        .collect();
    wait_until("two workers", || master_state(&ui)["aliveworkers"] == 2);

    let files = tempfile::tempdir().unwrap();
    let script = files.path().join("bursty.py");
    std::fs::write(&script, BURSTY_APP).unwrap();
    let release = files.path().join("release");
    let events = files.path().join("events");
    std::fs::create_dir(&events).unwrap();
    let confs = [
        "spark.dynamicAllocation.enabled=true".to_string(),
        "spark.dynamicAllocation.maxExecutors=2".into(),
        "spark.dynamicAllocation.executorIdleTimeout=1s".into(),
        "spark.dynamicAllocation.schedulerBacklogTimeout=100ms".into(),
        "spark.shuffle.service.enabled=true".into(),
        "spark.executor.cores=1".into(),
        "spark.executor.memory=256m".into(),
        "spark.ui.port=0".into(),
        "spark.eventLog.enabled=true".into(),
        "spark.eventLog.compress=false".into(),
        format!("spark.eventLog.dir={}", events.display()),
        format!("spark.pyspark.python={}", python.display()),
    ];
    let mut args = vec!["submit", "--master", &url, "--name", "bursty"];
    for conf in &confs {
        args.extend(["--conf", conf.as_str()]);
    }
    let (script, release_arg) = (script.display().to_string(), release.display().to_string());
    args.extend([script.as_str(), release_arg.as_str()]);
    let mut bursty = Daemon::start("bursty", &args);
    let app_ui = format!("http://127.0.0.1:{}", bursty.service_port("SparkUI"));

    wait_until("the bursty application to hold both cores", || {
        app_cores(&ui, "bursty") == Some(2)
    });
    // Each executor registered its shuffle files with its worker's service.
    wait_until(
        "both executors to register with their shuffle services",
        || {
            worker_uis.iter().all(|ui| {
                get_text(&format!("{ui}/metrics"))
                    .is_some_and(|m| m.contains("shuffleService_registeredExecutorsSize 1"))
            })
        },
    );
    let runtime = runtime();
    let waiting = runtime
        .block_on(
            flint::SparkSession::builder()
                .master(&url)
                .app_name("waiting")
                .config("spark.executor.cores", "1")
                .config("spark.executor.memory", "256m")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .create(),
        )
        .unwrap();
    assert_eq!(app_cores(&ui, "waiting"), Some(0), "{}", master_state(&ui));
    let counted = runtime.block_on(async {
        let df = waiting.sql("SELECT count(*) FROM range(1000)").await?;
        df.collect().await
    });
    let rows: usize = counted.unwrap().iter().map(|batch| batch.num_rows()).sum();
    assert_eq!(rows, 1, "one count");
    assert!(
        bursty.is_running(),
        "the cores came free only because the bursty application ended\n{}",
        bursty.log()
    );
    wait_until("the bursty application to give back both executors", || {
        app_cores(&ui, "bursty") == Some(0)
    });

    // The driver hears of the removals a moment after the master.
    let gauge = |name: &str| {
        let metrics = get_text(&format!("{app_ui}/metrics")).unwrap_or_default();
        let name = format!("driver_ExecutorAllocationManager_executors_{name}{{");
        metrics
            .lines()
            .find(|l| l.starts_with(&name))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    wait_until("/metrics to show no executor and a target of 0", || {
        gauge("numberAllExecutors") == Some(0.0) && gauge("numberTargetExecutors") == Some(0.0)
    });
    let app_id = get_json(&format!("{app_ui}/api/v1/applications")).expect("applications")[0]["id"]
        .as_str()
        .expect("an application id")
        .to_string();
    let executors = get_json(&format!(
        "{app_ui}/api/v1/applications/{app_id}/allexecutors"
    ))
    .expect("executors");
    let removed: Vec<&serde_json::Value> = executors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] != "driver")
        .collect();
    assert_eq!(removed.len(), 2, "{executors}");
    for executor in removed {
        assert_eq!(executor["isActive"], false, "{executor}");
        let reason = executor["removeReason"].as_str().unwrap_or_default();
        assert!(reason.contains("idle"), "{executor}");
    }

    std::fs::write(&release, b"").unwrap();
    assert_eq!(bursty.wait_exit(), Some(0), "{}", bursty.log());
    assert!(bursty.stdout().contains("sum 28"), "{}", bursty.stdout());
    drop(waiting);

    let events = event_log(&events, "app-");
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["Event"] == kind).collect()
    };
    let added = of("SparkListenerExecutorAdded");
    let added: Vec<_> = added
        .iter()
        .filter(|e| e["Executor ID"] != "driver")
        .collect();
    assert_eq!(added.len(), 2, "executors added: {added:?}");
    let first_job = of("SparkListenerJobStart")[0]["Submission Time"]
        .as_u64()
        .unwrap();
    assert!(
        added
            .iter()
            .all(|e| e["Timestamp"].as_u64().unwrap() >= first_job),
        "an executor came before any task waited: {added:?}"
    );
    let removed = of("SparkListenerExecutorRemoved");
    assert_eq!(removed.len(), 2, "executors removed: {removed:?}");
    assert!(
        removed.iter().all(|e| e["Removed Reason"]
            .as_str()
            .is_some_and(|r| r.contains("idle"))),
        "{removed:?}"
    );
}
