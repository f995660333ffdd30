//! Failures at the wrong moment on a standalone cluster, with real processes: workers that
//! died but are still listed, a worker stopped with `kill`, an application the master
//! removes, a master that goes away under a waiting application.

use std::time::{Duration, Instant};

use crate::cluster::{master_state, start_master, start_master_with_timeout, start_worker_with};
use crate::harness::{Daemon, Run, flint, wait_until};

/// Workers listed as ALIVE on the master.
fn alive_workers(ui: &str) -> Vec<serde_json::Value> {
    master_state(ui)["workers"]
        .as_array()
        .map(|workers| {
            workers
                .iter()
                .filter(|w| w["state"] == "ALIVE")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn worker_state(ui: &str, id: &serde_json::Value) -> serde_json::Value {
    master_state(ui)["workers"]
        .as_array()
        .and_then(|workers| workers.iter().find(|w| w["id"] == *id).cloned())
        .map(|w| w["state"].clone())
        .unwrap_or_default()
}

/// A script whose one query needs executors.
fn grouped_count_script(dir: &std::path::Path) -> String {
    let script = dir.join("app.sql");
    std::fs::write(
        &script,
        "SELECT id % 3 AS k, count(*) FROM range(30) GROUP BY id % 3 ORDER BY k;\n",
    )
    .unwrap();
    script.to_string_lossy().into_owned()
}

/// Submits the grouped count as application `name` to the master on `port` and waits for
/// the driver to end; returns its run and how long it took.
fn submit_grouped_count(port: u16, name: &str) -> (Run, Duration) {
    let scripts = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = flint(
        &[
            "submit",
            "--master",
            &format!("spark://127.0.0.1:{port}"),
            "--name",
            name,
            "--executor-memory",
            "512m",
            &grouped_count_script(scripts.path()),
        ],
        &[],
    );
    (run, started.elapsed())
}

/// A worker stopped with `kill` tells the master it is leaving: it is DEAD at once, not
/// after `spark.worker.timeout` (a minute here).
#[test]
fn worker_stopped_with_kill_leaves_the_master_at_once() {
    let (master, port, ui) = start_master_with_timeout(0, "60s");
    let mut worker = start_worker_with(port, "1", "512m", &[]);
    wait_until("the worker to register", || alive_workers(&ui).len() == 1);
    let id = alive_workers(&ui)[0]["id"].clone();
    let stopped = Instant::now();
    assert_eq!(worker.terminate(), Some(0), "{}", worker.log());
    wait_until("the master to drop the worker", || {
        worker_state(&ui, &id) == "DEAD"
    });
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "the worker left the alive list only after {:?}",
        stopped.elapsed()
    );
    master.wait_for_line("(it is shutting down)");
    assert_eq!(master_state(&ui)["aliveworkers"], 0);
}

/// Two of four workers die (`kill -9`) within the master's worker timeout, so they are still
/// listed ALIVE when an application arrives. Launching on a dead worker fails to connect:
/// that worker is removed at once (not offered again, and the failure does not count
/// against the application), and the application runs on the live workers with the right
/// answer.
#[test]
fn application_runs_on_live_workers_while_dead_ones_are_still_listed() {
    let (master, port, ui) = start_master_with_timeout(0, "60s");
    let mut first = start_worker_with(port, "1", "1g", &[]);
    let mut second = start_worker_with(port, "1", "1g", &[]);
    wait_until("two workers", || alive_workers(&ui).len() == 2);
    let dead: Vec<serde_json::Value> = alive_workers(&ui).iter().map(|w| w["id"].clone()).collect();
    // Started before the others die, so no new worker can be given a dead one's port.
    let _third = start_worker_with(port, "1", "1g", &[]);
    let _fourth = start_worker_with(port, "1", "1g", &[]);
    wait_until("four workers", || alive_workers(&ui).len() == 4);
    first.kill();
    second.kill();

    let (run, took) = submit_grouped_count(port, "after-dead-workers");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "0\t10\n1\t10\n2\t10\n");
    assert!(took < Duration::from_secs(40), "took {took:?}");
    for id in &dead {
        assert_eq!(worker_state(&ui, id), "DEAD", "{id} is still listed alive");
    }
    assert_eq!(alive_workers(&ui).len(), 2);
    master.wait_for_line("cannot reach it to launch executor");
    let state = master_state(&ui);
    let app = &state["completedapps"][0];
    assert_eq!(app["name"], "after-dead-workers");
    assert_eq!(app["state"], "FINISHED");
}

/// Every executor launch fails on the worker (its work directory is not a directory any
/// more), so after `spark.deploy.maxExecutorRetries` the master removes the application as
/// FAILED and tells its driver, which fails the waiting job with Spark's "Master removed our
/// application: FAILED" and exits non-zero within seconds instead of waiting forever.
#[test]
fn application_removed_by_the_master_ends_its_driver() {
    let (master, port, ui) = start_master(0);
    let worker = start_worker_with(port, "1", "1g", &[]);
    wait_until("the worker to register", || alive_workers(&ui).len() == 1);
    let work = worker.dir().join("work");
    std::fs::remove_dir_all(&work).unwrap();
    std::fs::write(&work, "not a directory").unwrap();

    let (run, took) = submit_grouped_count(port, "doomed");
    let error = run.expect_clear_error();
    assert!(
        error.contains("Master removed our application: FAILED"),
        "{error}\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "Application has been killed. Reason: Master removed our application: FAILED"
        ),
        "{}",
        run.stderr
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    master.wait_for_line("failed 10 times; removing it");
    let state = master_state(&ui);
    let app = &state["completedapps"][0];
    assert_eq!(app["name"], "doomed");
    assert_eq!(app["state"], "FAILED");
}

/// A driver waiting for executors whose master dies says so, and once the master has been
/// gone for its timeout (`spark.worker.timeout`) with no executor left, fails the job with
/// Spark's "All masters are unresponsive! Giving up." and exits non-zero.
#[test]
fn driver_gives_up_on_a_master_gone_for_its_timeout() {
    let (mut master, port, _) = start_master(0);
    let scripts = tempfile::tempdir().unwrap();
    let script = grouped_count_script(scripts.path());
    let mut submit = Daemon::start(
        "submit",
        &[
            "submit",
            "--master",
            &format!("spark://127.0.0.1:{port}"),
            "--conf",
            "spark.starvation.timeout=1s",
            "--conf",
            "spark.worker.timeout=2s",
            &script,
        ],
    );
    submit.wait_for_line("Initial job has not accepted any resources");
    master.kill();
    submit.wait_for_line("Connection to master spark://127.0.0.1:");
    let lost = Instant::now();
    assert_eq!(submit.wait_exit(), Some(1), "{}", submit.log());
    assert!(
        lost.elapsed() < Duration::from_secs(20),
        "the driver gave up only after {:?}",
        lost.elapsed()
    );
    let log = submit.log();
    assert!(
        log.contains("aborted due to stage failure: All masters are unresponsive! Giving up."),
        "{log}"
    );
}
