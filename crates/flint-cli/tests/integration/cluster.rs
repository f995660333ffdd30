//! The standalone cluster's daemons as users start them: `flint master` and `flint worker`
//! processes on 127.0.0.1 with ports picked at run time, checked through `/json/`.

use crate::harness::{Daemon, get_json, send_garbage, wait_until};

/// Starts a master on `port` (0: a free one) with a short worker timeout; returns it, its
/// RPC port and its web UI address.
pub fn start_master(port: u16) -> (Daemon, u16, String) {
    start_master_with_timeout(port, "2s")
}

/// Starts a master whose `spark.worker.timeout` is `worker_timeout`.
pub fn start_master_with_timeout(port: u16, worker_timeout: &str) -> (Daemon, u16, String) {
    let master = spawn_master(port, worker_timeout, &[]);
    let port = master.service_port("sparkMaster");
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    (master, port, ui)
}

/// Starts `flint master` on `port` with `spark.worker.timeout` and `extra` arguments,
/// without waiting for it.
pub fn spawn_master(port: u16, worker_timeout: &str, extra: &[&str]) -> Daemon {
    let port = port.to_string();
    let timeout = format!("spark.worker.timeout={worker_timeout}");
    let mut args = vec![
        "master",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "--webui-port",
        "0",
        "--conf",
        &timeout,
    ];
    args.extend_from_slice(extra);
    Daemon::start("master", &args)
}

fn start_worker(master_port: u16, cores: &str, memory: &str) -> Daemon {
    start_worker_with(master_port, cores, memory, &[])
}

/// Starts a worker with extra arguments (e.g. `--conf spark.local.dir=...`).
pub fn start_worker_with(master_port: u16, cores: &str, memory: &str, extra: &[&str]) -> Daemon {
    let url = format!("spark://127.0.0.1:{master_port}");
    start_worker_of(&url, cores, memory, extra)
}

/// Starts a worker of the master(s) at `url` (`spark://HOST:PORT[,HOST:PORT...]`).
pub fn start_worker_of(url: &str, cores: &str, memory: &str, extra: &[&str]) -> Daemon {
    let mut args = vec![
        "worker",
        url,
        "-h",
        "127.0.0.1",
        "--webui-port",
        "0",
        "--cores",
        cores,
        "--memory",
        memory,
        "--conf",
        "spark.worker.timeout=2s",
        // Relative to the worker's own temp dir, removed even after a kill -9.
        "--conf",
        "spark.local.dir=local",
    ];
    args.extend_from_slice(extra);
    Daemon::start("worker", &args)
}

pub fn master_state(ui: &str) -> serde_json::Value {
    get_json(&format!("{ui}/json/")).unwrap_or_default()
}

/// Seed 003's first steps: a master starts ALIVE with no workers; a worker registers with
/// the cores and memory it was given and both UIs say so; a worker killed with `kill -9` is
/// declared DEAD after spark.worker.timeout and its resources leave the totals.
#[test]
fn worker_registers_heartbeats_and_is_declared_dead() {
    let (_master, port, ui) = start_master(0);
    let empty = master_state(&ui);
    assert_eq!(empty["status"], "ALIVE");
    assert_eq!(empty["url"], format!("spark://127.0.0.1:{port}"));
    assert_eq!(empty["aliveworkers"], 0);

    let mut worker = start_worker(port, "2", "1g");
    wait_until("the worker to be ALIVE on the master", || {
        master_state(&ui)["aliveworkers"] == 1
    });
    let state = master_state(&ui);
    assert_eq!(state["cores"], 2);
    assert_eq!(state["memory"], 1024);
    let listed = &state["workers"][0];
    assert_eq!(listed["state"], "ALIVE");
    assert_eq!(listed["cores"], 2);
    assert_eq!(listed["memoryfree"], 1024);
    assert!(
        listed["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("worker-")
                && id.ends_with(&format!("-127.0.0.1-{}", listed["port"]))),
        "worker id in Spark's format: {listed}"
    );
    worker.wait_for_line(&format!(
        "Successfully registered with master spark://127.0.0.1:{port}"
    ));
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let own = get_json(&format!("{worker_ui}/json/")).unwrap_or_default();
    assert_eq!(own["id"], listed["id"]);
    assert_eq!(own["masterurl"], format!("spark://127.0.0.1:{port}"));
    assert_eq!(own["masterwebuiurl"], ui);
    assert_eq!(own["cores"], 2);
    assert_eq!(own["memory"], 1024);
    assert_eq!(listed["webuiaddress"], worker_ui);
    let page = reqwest::blocking::get(format!("{ui}/"))
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(
        page.contains(listed["id"].as_str().unwrap_or("?")),
        "master page lists the worker"
    );

    worker.kill();
    wait_until("the master to declare the worker DEAD", || {
        let state = master_state(&ui);
        state["workers"][0]["state"] == "DEAD" && state["aliveworkers"] == 0
    });
    assert_eq!(master_state(&ui)["cores"], 0);
}

/// A worker whose master restarts registers again with the new master without a restart
/// of its own.
#[test]
fn worker_registers_again_after_master_restart() {
    let (mut master, port, _) = start_master(0);
    let _worker = start_worker(port, "1", "512m");
    master.wait_for_line("Registering worker 127.0.0.1:");
    master.kill();
    let (_second, second_port, ui) = start_master(port);
    assert_eq!(second_port, port);
    wait_until("the worker to register with the restarted master", || {
        master_state(&ui)["aliveworkers"] == 1
    });
}

/// Garbage on the master's and worker's ports is refused without harming either daemon; a
/// worker offering more memory than the machine has, or naming no spark:// master, stops
/// with one clear error line; a worker whose master host does not resolve says so and keeps
/// retrying.
#[test]
fn daemons_survive_bad_input() {
    let (mut master, port, ui) = start_master(0);
    let mut worker = start_worker(port, "1", "512m");
    wait_until("the worker to register", || {
        master_state(&ui)["aliveworkers"] == 1
    });
    let worker_port = worker.service_port("sparkWorker");
    let ui_port: u16 = ui
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    for target in [port, ui_port, worker_port] {
        send_garbage(target);
    }
    assert!(master.is_running(), "master survived garbage");
    assert!(worker.is_running(), "worker survived garbage");
    assert_eq!(master_state(&ui)["aliveworkers"], 1);

    let huge = crate::harness::flint(
        &[
            "worker",
            &format!("spark://127.0.0.1:{port}"),
            "-h",
            "127.0.0.1",
            "--memory",
            "64t",
            "--webui-port",
            "0",
        ],
        &[],
    );
    let line = huge.expect_clear_error();
    assert!(line.contains("more than this machine's"), "{line}");
    let local = crate::harness::flint(&["worker", "local[2]", "-h", "127.0.0.1"], &[]);
    assert!(local.expect_clear_error().contains("spark://HOST:PORT"));

    let mut lost = Daemon::start(
        "worker with unknown master",
        &[
            "worker",
            "spark://no-such-host.invalid:7077",
            "-h",
            "127.0.0.1",
            "--webui-port",
            "0",
            "--conf",
            "spark.local.dir=local",
        ],
    );
    lost.wait_for_line("Failed to connect to master no-such-host.invalid:7077");
    assert!(lost.is_running(), "the worker keeps retrying");
}
