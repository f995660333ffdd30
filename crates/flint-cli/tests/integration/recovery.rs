//! Master recovery (`spark.deploy.recoveryMode=FILESYSTEM`): a master killed with `kill -9`
//! and started again on the same recovery directory takes back its workers, applications and
//! drivers, while the applications keep running through the restart.

use std::time::Instant;

use crate::cluster::{master_state, spawn_master, start_worker_with};
use crate::harness::{runtime, wait_until};

/// A master restarted mid-application with FILESYSTEM recovery: the application keeps
/// answering (right) while no master is up; the new master is RECOVERING, the worker and
/// the driver register again with it, and it is ALIVE well before its worker timeout,
/// listing the application RUNNING with its executor. The application then finishes, the
/// master lists it FINISHED, and the recovery directory keeps only the worker.
#[test]
fn application_keeps_running_through_a_master_restart() {
    let recovery = tempfile::tempdir().unwrap();
    let directory = format!(
        "spark.deploy.recoveryDirectory={}",
        recovery.path().display()
    );
    let recovery_conf = [
        "--conf",
        "spark.deploy.recoveryMode=FILESYSTEM",
        "--conf",
        &directory,
    ];
    // A long worker timeout: recovery must end because everyone is back, not by timing out.
    let mut master = spawn_master(0, "60s", &recovery_conf);
    let port = master.service_port("sparkMaster");
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    let _worker = start_worker_with(port, "2", "1g", &[]);
    wait_until("the worker", || master_state(&ui)["aliveworkers"] == 1);

    let runtime = runtime();
    let spark = runtime
        .block_on(
            flint::SparkSession::builder()
                .master(&format!("spark://127.0.0.1:{port}"))
                .app_name("survives-its-master")
                .config("spark.cores.max", "1")
                .config("spark.executor.memory", "256m")
                .config("spark.sql.shuffle.partitions", "3")
                .config("spark.ui.showConsoleProgress", "false")
                .create(),
        )
        .unwrap();
    let df = runtime.block_on(async {
        spark
            .range(60_000)
            .await
            .unwrap()
            .create_or_replace_temp_view("numbers")
            .unwrap();
        spark
            .sql("SELECT id % 6 AS k, count(*) AS n, sum(id) AS s FROM numbers GROUP BY id % 6 ORDER BY k")
            .await
            .unwrap()
    });
    let expected: Vec<String> = (0..6i64)
        .map(|k| {
            format!(
                "{k}\t10000\t{}",
                (0..10_000).map(|j| 6 * j + k).sum::<i64>()
            )
        })
        .collect();
    let lines = |batches: Vec<flint::RecordBatch>| -> Vec<String> {
        batches
            .iter()
            .flat_map(flint::format_row_values)
            .map(|row| row.join("\t"))
            .collect()
    };
    assert_eq!(lines(runtime.block_on(df.collect()).unwrap()), expected);
    let before = master_state(&ui);
    let app_id = before["activeapps"][0]["id"].clone();
    assert_eq!(before["activeapps"][0]["state"], "RUNNING");
    let persisted = std::fs::read_dir(recovery.path()).unwrap().count();
    assert_eq!(
        persisted, 2,
        "one file for the worker, one for the application"
    );

    master.kill();
    // No master: the executor keeps serving the driver.
    assert_eq!(lines(runtime.block_on(df.collect()).unwrap()), expected);

    let restarted = Instant::now();
    let master = spawn_master(port, "60s", &recovery_conf);
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("I have been elected leader! New state: RECOVERING");
    master.wait_for_line("Trying to recover app: ");
    wait_until("the worker and the driver to register again", || {
        let state = master_state(&ui);
        state["status"] == "ALIVE" && state["aliveworkers"] == 1
    });
    eprintln!(
        "master restart to ALIVE with its worker and application back: {:?}",
        restarted.elapsed()
    );
    master.wait_for_line("Worker has been re-registered: ");
    master.wait_for_line("Application has been re-registered: ");
    master.wait_for_line("Recovery complete - resuming operations!");
    let state = master_state(&ui);
    assert_eq!(state["activeapps"][0]["id"], app_id);
    assert_eq!(state["activeapps"][0]["state"], "RUNNING");
    assert_eq!(state["activeapps"][0]["cores"], 1);
    assert_eq!(
        state["coresused"], 1,
        "the executor is counted again, not doubled"
    );

    assert_eq!(lines(runtime.block_on(df.collect()).unwrap()), expected);
    spark.stop();
    wait_until("the application to be listed FINISHED", || {
        let state = master_state(&ui);
        state["completedapps"][0]["id"] == app_id
            && state["completedapps"][0]["state"] == "FINISHED"
    });
    let names: Vec<String> = std::fs::read_dir(recovery.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.len() == 1 && names[0].starts_with("worker_"),
        "only the worker stays persisted: {names:?}"
    );
}
