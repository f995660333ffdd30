//! Applications on a standalone cluster, as seed 003 walks through it: `flint master`,
//! `flint worker` and `flint submit --master spark://...` as separate processes on 127.0.0.1.

use crate::cluster::{master_state, start_master, start_worker_with};
use crate::harness::{
    Daemon, cluster_session, executor_pids_of, get_json, process_args, runtime, send_garbage,
    tab_lines, wait_until,
};

fn app_named<'a>(apps: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    apps.as_array()?.iter().find(|app| app["name"] == name)
}

/// Submit with no worker: the application is WAITING with the resources it asked for and the
/// driver repeats Spark's starvation warning with what is short. A worker arrives: the
/// application runs without resubmission, prints the right answer and is listed as
/// FINISHED; its executor process is gone, its local files deleted, its log kept and
/// served by the worker UI.
#[test]
fn application_waits_for_a_worker_then_runs_and_finishes() {
    let (_master, port, ui) = start_master(0);
    let url = format!("spark://127.0.0.1:{port}");
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("walkthrough.sql");
    std::fs::write(
        &script,
        "SELECT count(*) FROM range(1000);\n\
         SELECT id % 3 AS k, count(*) FROM range(30) GROUP BY id % 3 ORDER BY k;\n",
    )
    .unwrap();
    let mut submit = Daemon::start(
        "submit",
        &[
            "submit",
            "--master",
            &url,
            "--name",
            "walkthrough",
            "--executor-memory",
            "512m",
            "--total-executor-cores",
            "1",
            "--conf",
            "spark.starvation.timeout=1s",
            script.to_str().unwrap(),
        ],
    );
    submit.wait_for_line("Initial job has not accepted any resources; check your cluster UI");
    submit.wait_for_line("needs 1 core and 512.0 MiB per executor; 0 workers alive");
    let state = master_state(&ui);
    let app = app_named(&state["activeapps"], "walkthrough").expect("app listed as active");
    assert_eq!(app["state"], "WAITING");
    assert_eq!(app["cores"], 0);
    assert_eq!(app["memoryperexecutor"], 512);
    let app_id = app["id"].as_str().unwrap().to_string();
    assert!(app_id.starts_with("app-"), "{app_id}");

    let local = tempfile::tempdir().unwrap();
    let local_conf = format!("spark.local.dir={}", local.path().display());
    let worker = start_worker_with(port, "2", "1g", &["--conf", &local_conf]);
    assert_eq!(submit.wait_exit(), Some(0), "{}", submit.log());
    assert_eq!(submit.stdout(), "1000\n0\t10\n1\t10\n2\t10\n");
    let log = submit.log();
    assert!(
        log.contains(&format!(
            "Granted executor ID {app_id}/0 on hostPort 127.0.0.1 with 1 core(s), 512.0 MiB RAM"
        )),
        "{log}"
    );

    wait_until("the application to be listed as completed", || {
        let state = master_state(&ui);
        app_named(&state["completedapps"], "walkthrough").is_some_and(|a| a["state"] == "FINISHED")
            && state["activeapps"].as_array().is_some_and(Vec::is_empty)
            && state["coresused"] == 0
            && state["memoryused"] == 0
    });
    wait_until("the executor process to exit", || {
        executor_pids_of(&app_id, &[&worker]).is_empty()
    });
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    // The worker records the executor as finished after its process is gone.
    wait_until("the worker to list the finished executor", || {
        get_json(&format!("{worker_ui}/json/"))
            .is_some_and(|state| state["finishedexecutors"][0]["appid"] == app_id.as_str())
    });
    let worker_state = get_json(&format!("{worker_ui}/json/")).unwrap();
    let finished = &worker_state["finishedexecutors"][0];
    assert_eq!(finished["appid"], app_id.as_str());
    assert_eq!(finished["memory"], 512);
    assert_eq!(finished["appdesc"]["name"], "walkthrough");
    assert_eq!(worker_state["coresused"], 0);
    let stderr = reqwest::blocking::get(format!(
        "{worker_ui}/logPage/?appId={app_id}&executorId=0&logType=stderr"
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(
        stderr.contains("Successfully registered with driver"),
        "{stderr}"
    );
    let bad = reqwest::blocking::get(format!(
        "{worker_ui}/logPage/?appId=../../etc&executorId=0&logType=stderr"
    ))
    .unwrap();
    assert_eq!(bad.status(), 404);
    // Shuffle files went with the executor; only the (now empty) worker directory and the
    // lock the running worker holds beside it are left.
    wait_until("the application's local files to be deleted", || {
        walk_files(local.path())
            .iter()
            .all(|file| file.extension().is_some_and(|ext| ext == "lock"))
    });
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk_files(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Standalone scheduling is FIFO: a second application waits while the first holds the only
/// core, and runs when the first ends.
#[test]
fn second_application_waits_for_the_first_ones_cores() {
    let (_master, port, ui) = start_master(0);
    let url = format!("spark://127.0.0.1:{port}");
    let _worker = start_worker_with(port, "1", "1g", &[]);
    wait_until("the worker to register", || {
        master_state(&ui)["aliveworkers"] == 1
    });

    // The SQL shell keeps its application (and executor) until its stdin closes.
    let mut first = Daemon::start_with_stdin(
        "first",
        &[
            "sql",
            "--master",
            &url,
            "--name",
            "first",
            "--executor-memory",
            "256m",
        ],
    );
    wait_until("the first application to run", || {
        let state = master_state(&ui);
        app_named(&state["activeapps"], "first").is_some_and(|a| a["state"] == "RUNNING")
            && state["coresused"] == 1
    });
    let mut second = Daemon::start(
        "second",
        &[
            "sql",
            "--master",
            &url,
            "--name",
            "second",
            "--executor-memory",
            "256m",
            "--conf",
            "spark.starvation.timeout=1s",
            "-e",
            "SELECT 40 + 2",
        ],
    );
    second.wait_for_line("Initial job has not accepted any resources");
    second.wait_for_line("the most free cores on one worker is 0");
    let state = master_state(&ui);
    assert_eq!(
        app_named(&state["activeapps"], "second").unwrap()["state"],
        "WAITING"
    );

    first.close_stdin("SELECT 1;\n");
    assert_eq!(first.wait_exit(), Some(0), "{}", first.log());
    assert_eq!(second.wait_exit(), Some(0), "{}", second.log());
    assert_eq!(second.stdout(), "42\n");
    wait_until("both applications to be completed, in order", || {
        let state = master_state(&ui);
        let names: Vec<String> = state["completedapps"]
            .as_array()
            .map(|apps| {
                apps.iter()
                    .map(|a| a["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        names == ["first", "second"] && state["coresused"] == 0
    });
}

/// `flint submit --deploy-mode cluster` hands the application to the master and returns its submission id; the driver runs on the
/// worker, its output stays in the worker's work dir and is served by the worker UI;
/// `--status` follows it to FINISHED; `--supervise` restarts a driver that fails until it
/// is killed with `--kill`.
#[test]
fn cluster_deploy_mode_runs_the_driver_on_a_worker() {
    let (_master, port, ui) = start_master(0);
    let url = format!("spark://127.0.0.1:{port}");
    let worker = start_worker_with(port, "2", "2g", &[]);
    wait_until("the worker to register", || {
        master_state(&ui)["aliveworkers"] == 1
    });
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let scripts = tempfile::tempdir().unwrap();
    let good = scripts.path().join("count.sql");
    std::fs::write(&good, "SELECT count(*) FROM range(1000);\n").unwrap();

    let submit = crate::harness::flint(
        &[
            "submit",
            "--master",
            &url,
            "--deploy-mode",
            "cluster",
            "--executor-memory",
            "256m",
            "--driver-memory",
            "256m",
            good.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(submit.code, Some(0), "{}", submit.stderr);
    let driver_id = submit.stdout.trim().to_string();
    assert!(driver_id.starts_with("driver-"), "{driver_id}");
    wait_until("the driver to finish", || {
        let status =
            crate::harness::flint(&["submit", "--master", &url, "--status", &driver_id], &[]);
        status.stdout.trim() == "FINISHED"
    });
    let state = master_state(&ui);
    assert_eq!(state["completeddrivers"][0]["id"], driver_id.as_str());
    assert_eq!(state["completeddrivers"][0]["state"], "FINISHED");
    assert_eq!(state["completedapps"][0]["state"], "FINISHED");
    let stdout = reqwest::blocking::get(format!(
        "{worker_ui}/logPage/?driverId={driver_id}&logType=stdout"
    ))
    .unwrap()
    .text()
    .unwrap();
    assert_eq!(stdout, "1000\n");

    // A supervised driver that fails is started again until it is killed.
    let bad = scripts.path().join("broken.sql");
    std::fs::write(&bad, "SELEC 1;\n").unwrap();
    let submit = crate::harness::flint(
        &[
            "submit",
            "--master",
            &url,
            "--deploy-mode",
            "cluster",
            "--supervise",
            "--driver-memory",
            "256m",
            bad.to_str().unwrap(),
        ],
        &[],
    );
    let driver_id = submit.stdout.trim().to_string();
    wait_until("the failing driver to be restarted", || {
        let worker_state = get_json(&format!("{worker_ui}/json/")).unwrap_or_default();
        worker_state["finisheddrivers"].as_array().is_some_and(|d| {
            d.iter()
                .filter(|d| d["id"] == driver_id.as_str() && d["state"] == "FAILED")
                .count()
                >= 2
        })
    });
    let kill = crate::harness::flint(&["submit", "--master", &url, "--kill", &driver_id], &[]);
    assert_eq!(kill.code, Some(0), "{}", kill.stderr);
    wait_until("the supervised driver to be killed", || {
        crate::harness::flint(&["submit", "--master", &url, "--status", &driver_id], &[])
            .stdout
            .trim()
            == "KILLED"
    });
    let unknown = crate::harness::flint(
        &["submit", "--master", &url, "--status", "driver-nope"],
        &[],
    );
    assert!(
        unknown
            .expect_clear_error()
            .contains("does not know driver driver-nope")
    );
}

/// One of two workers killed with `kill -9` between two actions over the same shuffled
/// DataFrame: its executor exits with it, the driver forgets that executor's map outputs, the
/// master declares the worker DEAD after spark.worker.timeout and places a replacement on the
/// other worker, and the second action recomputes the lost map outputs and is right.
#[test]
fn killed_worker_is_replaced_and_the_answer_stays_right() {
    let (_master, port, ui) = start_master(0);
    let url = format!("spark://127.0.0.1:{port}");
    let _survivor = start_worker_with(port, "2", "1g", &[]);
    let mut victim = start_worker_with(port, "1", "1g", &[]);
    wait_until("two workers", || master_state(&ui)["aliveworkers"] == 2);

    let runtime = runtime();
    // Async steps run on the runtime; the blocking HTTP polls run between them.
    let spark = cluster_session(&runtime, &url, "survives-a-worker", "2");
    // Spread out: one executor on each worker.
    wait_until("an executor on each worker", || {
        master_state(&ui)["workers"]
            .as_array()
            .is_some_and(|w| w.iter().all(|w| w["coresused"] == 1))
    });
    let df = runtime.block_on(async {
        spark
            .range(100_000)
            .await
            .unwrap()
            .create_or_replace_temp_view("numbers")
            .unwrap();
        spark
            .sql("SELECT id % 10 AS k, sum(id) AS s FROM numbers GROUP BY id % 10 ORDER BY k")
            .await
            .unwrap()
    });
    let expected: Vec<String> = (0..10i64)
        .map(|k| format!("{k}\t{}", (0..10_000).map(|j| 10 * j + k).sum::<i64>()))
        .collect();
    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);

    victim.kill();
    wait_until(
        "the master to declare the worker dead and place a replacement",
        || {
            let state = master_state(&ui);
            state["aliveworkers"] == 1 && state["coresused"] == 2
        },
    );
    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);
    spark.stop();
    wait_until("the application to be completed", || {
        master_state(&ui)["completedapps"][0]["state"] == "FINISHED"
    });
}

/// Garbage and truncated HTTP/2 on a running application's driver endpoint and on its
/// executor's block transfer port (Arrow Flight) are refused: the driver, the executor
/// process and the application keep running, and the next shuffled query is right.
#[test]
fn driver_and_executor_ports_survive_garbage() {
    let (_master, port, ui) = start_master(0);
    let worker = start_worker_with(port, "1", "1g", &[]);
    wait_until("a worker", || master_state(&ui)["aliveworkers"] == 1);
    let runtime = runtime();
    let spark = runtime
        .block_on(
            flint::SparkSession::builder()
                .master(&format!("spark://127.0.0.1:{port}"))
                .app_name("garbage-on-ports")
                .config("spark.executor.memory", "256m")
                .config("spark.sql.shuffle.partitions", "3")
                .config("spark.ui.showConsoleProgress", "false")
                .create(),
        )
        .unwrap();
    let app_id = spark.app_id().to_string();
    let ours = || executor_pids_of(&app_id, &[&worker]);
    wait_until("the executor process", || ours().len() == 1);
    let pid = ours()[0];
    let args = process_args(pid).expect("the executor is running");
    let driver_url = args
        .windows(2)
        .find(|w| w[0] == "--driver-url")
        .map(|w| w[1].clone())
        .unwrap();
    let driver_port: u16 = driver_url.rsplit(':').next().unwrap().parse().unwrap();
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let mut block_port = None;
    wait_until("the executor's block transfer service", || {
        let stderr = reqwest::blocking::get(format!(
            "{worker_ui}/logPage/?appId={app_id}&executorId=0&logType=stderr"
        ))
        .and_then(|r| r.text())
        .unwrap_or_default();
        block_port = stderr
            .split("Successfully started service 'FlightBlockTransferService' on port ")
            .nth(1)
            .and_then(|rest| rest.split('.').next())
            .and_then(|port| port.parse::<u16>().ok());
        block_port.is_some()
    });
    send_garbage(driver_port);
    send_garbage(block_port.expect("found above"));
    let answer = runtime.block_on(async {
        spark
            .sql("SELECT count(DISTINCT id % 7) AS k FROM range(10000)")
            .await
            .unwrap()
            .collect()
            .await
    });
    let rows: Vec<Vec<String>> = answer
        .unwrap()
        .iter()
        .flat_map(flint::format_row_values)
        .collect();
    assert_eq!(rows, [["7"]]);
    assert_eq!(ours(), [pid], "the executor survived");
    spark.stop();
    wait_until("the executor to exit", || ours().is_empty());
}
