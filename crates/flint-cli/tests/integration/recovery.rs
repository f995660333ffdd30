//! Master recovery: a master killed with `kill -9` and started again on the same recovery
//! directory (`FILESYSTEM`), or a standby master elected through ZooKeeper (`ZOOKEEPER`),
//! takes back the workers, applications and drivers, while the applications keep running.

use std::time::Instant;

use crate::cluster::{master_state, spawn_master, start_worker_of, start_worker_with};
use crate::harness::{cluster_session, runtime, tab_lines, wait_until};

/// Starts a master on `port` (0: any) keeping its state in `directory` (FILESYSTEM
/// recovery). Its worker timeout is long: recovery must end because everyone is back, not by
/// timing out.
fn recovering_master(port: u16, directory: &std::path::Path) -> crate::harness::Daemon {
    let directory = format!("spark.deploy.recoveryDirectory={}", directory.display());
    let recovery = [
        "--conf",
        "spark.deploy.recoveryMode=FILESYSTEM",
        "--conf",
        &directory,
    ];
    spawn_master(port, "60s", &recovery)
}

/// A master restarted mid-application with FILESYSTEM recovery: the application keeps
/// answering (right) while no master is up; the new master is RECOVERING, the worker and
/// the driver register again with it, and it is ALIVE well before its worker timeout,
/// listing the application RUNNING with its executor. The application then finishes, the
/// master lists it FINISHED, and the recovery directory keeps only the worker.
#[test]
fn application_keeps_running_through_a_master_restart() {
    let recovery = tempfile::tempdir().unwrap();
    let mut master = recovering_master(0, recovery.path());
    let port = master.service_port("sparkMaster");
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    let _worker = start_worker_with(port, "2", "1g", &[]);
    wait_until("the worker", || master_state(&ui)["aliveworkers"] == 1);

    let runtime = runtime();
    let spark = cluster_session(
        &runtime,
        &format!("spark://127.0.0.1:{port}"),
        "survives-its-master",
        "1",
    );
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
    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);
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
    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);

    let restarted = Instant::now();
    let master = recovering_master(port, recovery.path());
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

    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);
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

/// Two masters with `spark.deploy.recoveryMode=ZOOKEEPER` on a real ZooKeeper: the first
/// leads (ALIVE), the second is STANDBY and refuses work. A worker and an application are
/// given both in their URL. The leader is killed (`kill -9`) mid-application: once its
/// session ends the standby is elected, recovers the worker and the application from
/// ZooKeeper and is ALIVE; the application's next query is right and it finishes listed on
/// the new leader.
#[test]
fn standby_master_takes_over_when_the_leader_dies() {
    let Some(zookeeper) = crate::harness::ZooKeeper::start() else {
        return;
    };
    let ensemble = format!("spark.deploy.zookeeper.url=127.0.0.1:{}", zookeeper.port);
    let ha = [
        "--conf",
        "spark.deploy.recoveryMode=ZOOKEEPER",
        "--conf",
        &ensemble,
        "--conf",
        "spark.deploy.zookeeper.dir=/flint-test",
    ];
    let mut leader = spawn_master(0, "2s", &ha);
    let leader_port = leader.service_port("sparkMaster");
    leader.wait_for_line("I have been elected leader! New state: ALIVE");
    let standby = spawn_master(0, "2s", &ha);
    let standby_port = standby.service_port("sparkMaster");
    let standby_ui = format!("http://127.0.0.1:{}", standby.service_port("MasterUI"));
    standby.wait_for_line("This master is STANDBY");
    assert_eq!(master_state(&standby_ui)["status"], "STANDBY");

    let url = format!("spark://127.0.0.1:{standby_port},127.0.0.1:{leader_port}");
    let worker = start_worker_of(&url, "2", "1g", &[]);
    worker.wait_for_line(&format!(
        "Successfully registered with master spark://127.0.0.1:{leader_port}"
    ));
    let runtime = runtime();
    let spark = cluster_session(&runtime, &url, "survives-its-leader", "1");
    let df = runtime.block_on(async {
        spark
            .sql("SELECT id % 4 AS k, count(*) AS n FROM range(40000) GROUP BY id % 4 ORDER BY k")
            .await
            .unwrap()
    });
    let expected: Vec<String> = (0..4).map(|k| format!("{k}\t10000")).collect();
    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);

    let killed = Instant::now();
    leader.kill();
    standby.wait_for_line("I have been elected leader! New state: RECOVERING");
    let elected = killed.elapsed();
    wait_until(
        "the standby to be ALIVE with the worker and the application",
        || {
            let state = master_state(&standby_ui);
            state["status"] == "ALIVE"
                && state["aliveworkers"] == 1
                && state["activeapps"][0]["state"] == "RUNNING"
        },
    );
    eprintln!(
        "leader killed: standby elected after {elected:?}, ALIVE with worker and application after {:?}",
        killed.elapsed()
    );
    standby.wait_for_line("Recovery complete - resuming operations!");
    worker.wait_for_line(&format!(
        "Master has changed, new master is at spark://127.0.0.1:{standby_port}"
    ));
    assert_eq!(master_state(&standby_ui)["coresused"], 1);

    assert_eq!(tab_lines(runtime.block_on(df.collect()).unwrap()), expected);
    spark.stop();
    wait_until(
        "the application to be listed FINISHED on the new leader",
        || master_state(&standby_ui)["completedapps"][0]["state"] == "FINISHED",
    );
}

/// A cluster-mode driver (a PySpark program run on the worker) keeps running through a
/// FILESYSTEM-recovered master restart: the worker names it when it registers again, the
/// new master lists it RUNNING on that worker, `--status` follows it there, and it ends
/// FINISHED with its answer.
#[test]
fn cluster_mode_driver_is_recovered_with_its_worker() {
    let python = crate::pyspark::pyspark_python();
    let recovery = tempfile::tempdir().unwrap();
    let master = recovering_master(0, recovery.path());
    let port = master.service_port("sparkMaster");
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    let mut master = master;
    let worker = start_worker_with(port, "2", "2g", &[]);
    worker.wait_for_line("Successfully registered with master");
    let url = format!("spark://127.0.0.1:{port}");
    // The program waits for a file the test writes once the master is back.
    let scripts = tempfile::tempdir().unwrap();
    let go = scripts.path().join("go");
    let program = scripts.path().join("waits.py");
    std::fs::write(
        &program,
        format!(
            "import os, time\n\
             from pyspark.sql import SparkSession\n\
             spark = SparkSession.builder.getOrCreate()\n\
             while not os.path.exists({go:?}):\n    time.sleep(0.05)\n\
             print(spark.range(1000).count())\n",
            go = go.display().to_string()
        ),
    )
    .unwrap();
    let python_conf = format!("spark.pyspark.python={}", python.display());
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
            "--conf",
            &python_conf,
            program.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(submit.code, Some(0), "{}", submit.stderr);
    let driver_id = submit.stdout.trim().to_string();
    let status = || {
        crate::harness::flint(&["submit", "--master", &url, "--status", &driver_id], &[])
            .stdout
            .trim()
            .to_string()
    };
    wait_until("the driver to run", || status() == "RUNNING");

    master.kill();
    let master = recovering_master(port, recovery.path());
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("Recovery complete - resuming operations!");
    let state = master_state(&ui);
    assert_eq!(state["activedrivers"][0]["id"], driver_id.as_str());
    assert_eq!(state["activedrivers"][0]["state"], "RUNNING");
    assert_eq!(
        state["activedrivers"][0]["worker"],
        state["workers"][0]["id"]
    );
    assert_eq!(status(), "RUNNING");

    std::fs::write(&go, b"").unwrap();
    wait_until("the driver to finish", || status() == "FINISHED");
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let stdout = reqwest::blocking::get(format!(
        "{worker_ui}/logPage/?driverId={driver_id}&logType=stdout"
    ))
    .unwrap()
    .text()
    .unwrap();
    assert_eq!(stdout.trim(), "1000");
}
