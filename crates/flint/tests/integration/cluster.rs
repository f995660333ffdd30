//! `local-cluster[W,C,M]`: the session starts a real `flint master` and W `flint worker`
//! processes, whose executors are `flint executor` processes; results are checked against
//! single-process DataFusion or arithmetic, and executors are killed with `kill -9`.
//!
//! These tests need the `flint` binary beside the test executable (`cargo test --workspace`
//! builds it) or `FLINT_BIN`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flint::{SparkListener, SparkListenerEvent, SparkSession};

use crate::common::{EventLog, files_below, rows};
use crate::tpch::check_tpch;

/// A session on `master` named `name` (executors are found by their application's name:
/// app ids of different local clusters can be equal).
async fn cluster_session(master: &str, name: &str, conf: &[(&str, &str)]) -> SparkSession {
    let mut builder = SparkSession::builder()
        .master(master)
        .app_name(name)
        .config("spark.ui.showConsoleProgress", "false");
    for (key, value) in conf {
        builder = builder.config(key, value);
    }
    builder.create().await.expect("start a local cluster")
}

/// `(executor id, pid)` of the running executor processes of the application named
/// `app_name`, from `/proc`.
fn executor_processes(app_name: &str) -> Vec<(String, u32)> {
    executor_commands(app_name)
        .into_iter()
        .map(|(id, pid, _)| (id, pid))
        .collect()
}

/// `(executor id, pid, arguments)` of the running executor processes of the application
/// named `app_name`, from `/proc`.
fn executor_commands(app_name: &str) -> Vec<(String, u32, Vec<String>)> {
    let name_conf = format!("spark.app.name={app_name}");
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let value = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
        if args.get(1).is_some_and(|a| a == "executor")
            && args.contains(&name_conf)
            && let Some(id) = value("--executor-id")
        {
            found.push((id, pid, args));
        }
    }
    found.sort();
    found
}

/// The local directory (`spark.local.dir`) a worker gave each running executor of `app_name`.
fn executor_local_dirs(app_name: &str) -> Vec<std::path::PathBuf> {
    executor_commands(app_name)
        .into_iter()
        .filter_map(|(_, _, args)| {
            args.iter()
                .find_map(|a| a.strip_prefix("spark.local.dir="))
                .map(std::path::PathBuf::from)
        })
        .collect()
}

/// Waits until the application runs two executors again, `victim` not among them.
fn wait_for_replacement(app_name: &str, victim: &str) {
    wait_until("a replacement executor", || {
        let now = executor_processes(app_name);
        now.len() == 2 && now.iter().all(|(id, _)| id != victim)
    });
}

/// Stops the application and waits until its executor processes are gone.
fn stop_and_wait(spark: &SparkSession, app_name: &str) {
    spark.stop();
    wait_until("the executors to exit", || {
        executor_processes(app_name).is_empty()
    });
}

/// Stage attempts submitted among `events` after the first `from`.
fn stages_submitted_after(events: &[SparkListenerEvent], from: usize) -> usize {
    events[from..]
        .iter()
        .filter(|e| matches!(e, SparkListenerEvent::StageSubmitted { .. }))
        .count()
}

fn kill_9(pid: u32) {
    signal("-9", pid);
}

fn signal(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `SELECT id % 100 AS k, sum(id) FROM range(200000) GROUP BY k ORDER BY k`, worked out.
fn expected_sums() -> Vec<Vec<String>> {
    (0..100i64)
        .map(|k| vec![k.to_string(), (199_900_000 + 2000 * k).to_string()])
        .collect()
}

async fn grouped_sums(spark: &SparkSession) -> flint::DataFrame {
    spark
        .range(200_000)
        .await
        .unwrap()
        .create_or_replace_temp_view("numbers")
        .unwrap();
    spark
        .sql("SELECT id % 100 AS k, sum(id) AS s FROM numbers GROUP BY id % 100 ORDER BY k")
        .await
        .unwrap()
}

/// The 22 TPC-H queries give through `local-cluster[2,1,1024]` (two workers, one executor
/// process each) what single-process DataFusion gives; the cluster's processes are gone after.
/// `spark.shuffle.readHostLocalDisk=false` makes every block written by the other executor
/// travel over Arrow Flight, as between machines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_queries_match_datafusion_on_a_local_cluster() {
    let app_id = "tpch-on-local-cluster";
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        app_id,
        &[("spark.shuffle.readHostLocalDisk", "false")],
    )
    .await;
    assert!(spark.app_id().starts_with("app-"), "{}", spark.app_id());
    wait_until("two executors", || executor_processes(app_id).len() == 2);
    check_tpch(&spark).await;
    stop_and_wait(&spark, app_id);
}

/// An executor killed with `kill -9` after a job: the driver forgets the map outputs it held,
/// the master starts a replacement, and the next action over the same DataFrame recomputes
/// the lost map outputs (not skipped, as they would be with every output alive) and is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_executor_is_replaced_and_its_map_outputs_recomputed() {
    let app_id = "killed-between-jobs".to_string();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[("spark.sql.shuffle.partitions", "4")],
    )
    .await;
    let events = EventLog::attach(&spark);
    let df = grouped_sums(&spark).await;
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    let executors = executor_processes(&app_id);
    assert_eq!(executors.len(), 2, "{executors:?}");
    let (victim, pid) = executors[0].clone();
    kill_9(pid);
    wait_for_replacement(&app_id, &victim);
    let submitted_before = stage_submissions(&events.snapshot(&spark));
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    let map_stages_rerun = stages_submitted_after(&events.snapshot(&spark), submitted_before.1);
    assert!(
        map_stages_rerun >= 2,
        "the lost map outputs were not recomputed: {map_stages_rerun} stage(s) ran in the second job"
    );
    stop_and_wait(&spark, &app_id);
}

/// With the workers' shuffle service (`spark.shuffle.service.enabled`), an executor killed
/// with `kill -9` after a job loses no map output: its shuffle files stay on its worker, the
/// next action over the same DataFrame submits only its result stage (no map stage is
/// resubmitted) and fails no task, although the killed executor's blocks can only come from
/// its worker's service (`readHostLocalDisk=false`), and the answer is right. When the
/// application stops, no file of it is left on any worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffle_service_serves_the_map_outputs_of_a_killed_executor() {
    let app_id = "shuffle-service".to_string();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[
            ("spark.sql.shuffle.partitions", "4"),
            ("spark.shuffle.service.enabled", "true"),
            ("spark.shuffle.readHostLocalDisk", "false"),
        ],
    )
    .await;
    wait_until("two executors", || executor_processes(&app_id).len() == 2);
    let local_dirs = executor_local_dirs(&app_id);
    assert_eq!(local_dirs.len(), 2, "{local_dirs:?}");
    let events = EventLog::attach(&spark);
    let df = grouped_sums(&spark).await;
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    let (victim, pid) = executor_processes(&app_id)[0].clone();
    kill_9(pid);
    wait_for_replacement(&app_id, &victim);
    let victim_dir = local_dirs
        .iter()
        .find(|dir| dir.ends_with(format!("executor-{victim}")))
        .unwrap_or_else(|| panic!("no local dir of executor {victim} in {local_dirs:?}"));
    let kept = files_below(victim_dir);
    assert!(
        kept.iter().any(|f| f.to_string_lossy().ends_with(".data")),
        "the killed executor's shuffle files are gone: {kept:?}"
    );
    let submitted_before = stage_submissions(&events.snapshot(&spark));
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    let all = events.snapshot(&spark);
    let second_job = &all[submitted_before.1..];
    let stages_run = stages_submitted_after(&all, submitted_before.1);
    assert_eq!(
        stages_run, 1,
        "map stages ran again although the shuffle service kept their outputs"
    );
    let failed: Vec<String> = second_job
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::TaskEnd { reason, .. } => reason.error_string(),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "tasks failed: {failed:?}");
    // Once no one holds the DataFrame its shuffle is removed: the live executors delete
    // their files, and the killed one's worker service deletes the files it kept.
    drop(df);
    wait_until("the killed executor's shuffle files to be removed", || {
        !files_below(victim_dir)
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".data"))
    });
    let app_dirs: Vec<_> = local_dirs
        .iter()
        .filter_map(|dir| dir.parent().map(|p| p.to_path_buf()))
        .collect();
    stop_and_wait(&spark, &app_id);
    wait_until("the workers to delete the application's files", || {
        app_dirs.iter().all(|dir| !dir.exists())
    });
}

/// The parent of process `pid` (an executor's is its worker), from `/proc`.
fn parent_pid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("PPid:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no parent in /proc/{pid}/status"))
}

/// With the shuffle service on, losing a worker (stopped with `kill`, so the master hears at
/// once) loses the map outputs its service held, those of executors that exited before as
/// well: the next action over the same DataFrame runs its map stages again on the worker that
/// is left, and is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_worker_loses_the_map_outputs_its_shuffle_service_held() {
    let app_id = "shuffle-service-worker-lost".to_string();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[
            ("spark.sql.shuffle.partitions", "4"),
            ("spark.shuffle.service.enabled", "true"),
            ("spark.shuffle.readHostLocalDisk", "false"),
        ],
    )
    .await;
    wait_until("two executors", || executor_processes(&app_id).len() == 2);
    let events = EventLog::attach(&spark);
    let df = grouped_sums(&spark).await;
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    let (victim, pid) = executor_processes(&app_id)[0].clone();
    signal("-TERM", parent_pid(pid));
    wait_until("the lost worker's executor to exit", || {
        executor_processes(&app_id)
            .iter()
            .all(|(id, _)| *id != victim)
    });
    let submitted_before = stage_submissions(&events.snapshot(&spark));
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    let stages_run = stages_submitted_after(&events.snapshot(&spark), submitted_before.1);
    assert!(
        stages_run >= 2,
        "the lost worker's map outputs were not recomputed: {stages_run} stage(s) ran"
    );
    stop_and_wait(&spark, &app_id);
}

/// A cached DataFrame on `local-cluster[2,1,1024]`: its first action stores one block per
/// partition, which the Storage REST API lists; after `kill -9` of an executor holding
/// blocks, the next action computes again only the partitions whose blocks were lost, and
/// the answer is still right; `unpersist` has the executors delete the blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_blocks_lost_with_their_executor_are_recomputed() {
    let app_id = "cached-blocks".to_string();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[
            ("spark.sql.shuffle.partitions", "4"),
            ("spark.ui.port", "0"),
            ("spark.executor.heartbeatInterval", "200ms"),
        ],
    )
    .await;
    wait_until("two executors", || executor_processes(&app_id).len() == 2);
    let events = EventLog::attach(&spark);
    spark
        .range(200_000)
        .await
        .unwrap()
        .repartition(4)
        .unwrap()
        .create_or_replace_temp_view("numbers")
        .unwrap();
    let cached = spark
        .sql("SELECT id % 100 AS k, id FROM numbers")
        .await
        .unwrap()
        .cache();
    cached.create_or_replace_temp_view("cached").unwrap();
    let sums = || async {
        spark
            .sql("SELECT k, sum(id) AS s FROM cached GROUP BY k ORDER BY k")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    };
    assert_eq!(rows(&sums().await), expected_sums());
    spark.wait_for_listeners();

    let ui = spark.ui_web_url().expect("a web UI").to_string();
    let api = format!("{ui}/api/v1/applications/{}/storage/rdd", spark.app_id());
    let listed: serde_json::Value =
        serde_json::from_str(&reqwest::get(&api).await.unwrap().text().await.unwrap()).unwrap();
    let rdd = &listed[0];
    assert_eq!(rdd["numCachedPartitions"], rdd["numPartitions"], "{listed}");
    assert_eq!(
        rdd["storageLevel"],
        "Disk Memory Deserialized 1x Replicated"
    );
    let rdd_id = rdd["id"].as_u64().unwrap();
    let detail: serde_json::Value = serde_json::from_str(
        &reqwest::get(format!("{api}/{rdd_id}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let partitions = detail["partitions"].as_array().unwrap().clone();

    // Read again, each partition runs on the executor holding its block (Spark's
    // PROCESS_LOCAL), waiting for a core there rather than running elsewhere.
    let again = events.snapshot(&spark).len();
    assert_eq!(rows(&sums().await), expected_sums());
    let localities: Vec<(String, flint::TaskLocality)> = events.snapshot(&spark)[again..]
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::TaskEnd { task_info, .. } => {
                Some((task_info.executor_id.clone(), task_info.locality))
            }
            _ => None,
        })
        .collect();
    let process_local = localities
        .iter()
        .filter(|(_, locality)| *locality == flint::TaskLocality::ProcessLocal)
        .count();
    assert!(
        process_local >= partitions.len(),
        "reads of cached blocks: {localities:?}"
    );
    // The reduce tasks read shuffle output held on their own host (Spark's reduce
    // locality): NODE_LOCAL; no task had to run ANY.
    assert!(
        localities
            .iter()
            .any(|(_, locality)| *locality == flint::TaskLocality::NodeLocal),
        "{localities:?}"
    );
    assert!(
        localities
            .iter()
            .all(|(_, locality)| *locality != flint::TaskLocality::Any),
        "{localities:?}"
    );

    let victim = partitions[0]["executors"][0]
        .as_str()
        .expect("an executor")
        .to_string();
    let (_, pid) = executor_processes(&app_id)
        .into_iter()
        .find(|(id, _)| *id == victim)
        .expect("the executor holding block 0");
    let held = partitions
        .iter()
        .filter(|p| p["executors"][0] == victim.as_str())
        .count();
    assert!(held > 0, "executor {victim} holds no block: {detail}");
    kill_9(pid);
    wait_for_replacement(&app_id, &victim);
    let before = events.snapshot(&spark).len();
    assert_eq!(rows(&sums().await), expected_sums());
    let after = events.snapshot(&spark);
    let cache_stage = after[before..].iter().find_map(|e| match e {
        SparkListenerEvent::StageSubmitted { stage_info } if !stage_info.rdd_infos.is_empty() => {
            Some((stage_info.stage_id, stage_info.attempt))
        }
        _ => None,
    });
    let (stage, attempt) = cache_stage.expect("the lost blocks were not computed again");
    let recomputed = after[before..]
        .iter()
        .filter(|e| {
            matches!(e, SparkListenerEvent::TaskEnd { stage_id, stage_attempt, .. }
                if *stage_id == stage && *stage_attempt == attempt)
        })
        .count();
    assert_eq!(
        recomputed, held,
        "only the lost partitions are computed again"
    );

    // The blocks are in the executors' memory (their heartbeats report storage memory in
    // use), and unpersisting has every executor free it.
    let latest_storage_memory = |from: usize| {
        let mut latest = std::collections::BTreeMap::new();
        for event in &events.snapshot(&spark)[from..] {
            if let SparkListenerEvent::ExecutorMetricsUpdate {
                executor_id,
                memory_used,
            } = event
            {
                latest.insert(executor_id.clone(), *memory_used);
            }
        }
        latest
    };
    wait_until("a heartbeat reporting cached blocks in memory", || {
        latest_storage_memory(before).values().any(|used| *used > 0)
    });
    let unpersisted = events.snapshot(&spark).len();
    cached.unpersist();
    wait_until("the executors to free the unpersisted blocks", || {
        let latest = latest_storage_memory(unpersisted);
        latest.len() == 2 && latest.values().all(|used| *used == 0)
    });
    stop_and_wait(&spark, &app_id);
}

/// (stage submissions, events) seen so far.
fn stage_submissions(events: &[SparkListenerEvent]) -> (usize, usize) {
    (stages_submitted_after(events, 0), events.len())
}

/// Sends `signal` to one executor process when the first map stage of the job completes.
struct SignalAfterFirstStage {
    app_name: String,
    signal: &'static str,
    killed: Mutex<Option<(String, u32)>>,
}

impl SparkListener for SignalAfterFirstStage {
    fn on_event(&self, event: &SparkListenerEvent) {
        if !matches!(event, SparkListenerEvent::StageCompleted { .. }) {
            return;
        }
        let mut killed = self.killed.lock().unwrap();
        if killed.is_none()
            && let Some((id, pid)) = executor_processes(&self.app_name).pop()
        {
            signal(self.signal, pid);
            *killed = Some((id, pid));
        }
    }
}

/// An executor killed with `kill -9` while a shuffle-heavy job runs: its running tasks fail
/// as lost, fetches from its block transfer service fail as fetch failures and rerun its map
/// tasks, and the job still returns the right answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_killed_during_a_job_gives_the_right_answer() {
    let app_id = "killed-during-a-job".to_string();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[
            ("spark.sql.shuffle.partitions", "4"),
            ("spark.shuffle.readHostLocalDisk", "false"),
        ],
    )
    .await;
    wait_until("two executors", || executor_processes(&app_id).len() == 2);
    let killer = Arc::new(SignalAfterFirstStage {
        app_name: app_id.clone(),
        signal: "-9",
        killed: Mutex::new(None),
    });
    spark.add_listener(killer.clone());
    let df = grouped_sums(&spark).await;
    assert_eq!(rows(&df.collect().await.unwrap()), expected_sums());
    spark.wait_for_listeners();
    assert!(
        killer.killed.lock().unwrap().is_some(),
        "no executor was killed"
    );
    stop_and_wait(&spark, &app_id);
}

/// An executor that hangs (`kill -STOP`) mid-job keeps its connection open but stops
/// heartbeating: after `spark.network.timeout` the driver removes it, reruns its tasks and map
/// outputs elsewhere, and has the master kill it; the job is right and a replacement comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_executor_is_removed_after_missed_heartbeats() {
    let app_id = "hung-during-a-job".to_string();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[
            ("spark.sql.shuffle.partitions", "4"),
            ("spark.executor.heartbeatInterval", "200ms"),
            ("spark.network.timeout", "2s"),
        ],
    )
    .await;
    wait_until("two executors", || executor_processes(&app_id).len() == 2);
    let stopper = Arc::new(SignalAfterFirstStage {
        app_name: app_id.clone(),
        signal: "-STOP",
        killed: Mutex::new(None),
    });
    spark.add_listener(stopper.clone());
    let df = grouped_sums(&spark).await;
    let result = df.collect().await;
    spark.wait_for_listeners();
    let stopped = stopper.killed.lock().unwrap().clone();
    let Some((victim, pid)) = stopped else {
        panic!("no executor was stopped");
    };
    // Resume it whatever happened, so a failure below does not leave a stopped process.
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
    assert_eq!(rows(&result.unwrap()), expected_sums());
    wait_until("the hung executor to be killed and replaced", || {
        let now = executor_processes(&app_id);
        now.len() == 2 && now.iter().all(|(id, _)| *id != victim)
    });
    stop_and_wait(&spark, &app_id);
}

/// Kills executor A with `kill -9` once it has finished `kill_after` tasks of the stage while
/// executor B is held stopped (`SIGSTOP`, by the test), and resumes B once the driver has
/// removed A: the race of a map stage whose earlier tasks ran on an executor that dies before
/// the stage's last task ends, made certain.
struct KillWhileHeld {
    app_name: String,
    /// The stopped executor's id and pid.
    held: (String, u32),
    kill_after: usize,
    state: Mutex<KillState>,
}

#[derive(Default)]
struct KillState {
    /// The first stage submitted after the listener was added: the one held.
    stage: Option<u32>,
    successes: std::collections::HashMap<String, usize>,
    victim: Option<String>,
    resumed: bool,
}

impl KillWhileHeld {
    fn resume(&self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.held.1.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl SparkListener for KillWhileHeld {
    fn on_event(&self, event: &SparkListenerEvent) {
        let mut state = self.state.lock().unwrap();
        match event {
            SparkListenerEvent::StageSubmitted { stage_info } if state.stage.is_none() => {
                state.stage = Some(stage_info.stage_id);
            }
            SparkListenerEvent::TaskEnd {
                stage_id,
                task_info,
                reason: flint::TaskEndReason::Success,
                ..
            } if task_info.executor_id != self.held.0
                && state.victim.is_none()
                && state.stage == Some(*stage_id) =>
            {
                let done = state
                    .successes
                    .entry(task_info.executor_id.clone())
                    .or_default();
                *done += 1;
                if *done >= self.kill_after
                    && let Some((id, pid)) = executor_processes(&self.app_name)
                        .into_iter()
                        .find(|(id, _)| *id == task_info.executor_id)
                {
                    kill_9(pid);
                    state.victim = Some(id);
                }
            }
            SparkListenerEvent::ExecutorRemoved { executor_id, .. }
                if state.victim.as_ref() == Some(executor_id) && !state.resumed =>
            {
                self.resume();
                state.resumed = true;
            }
            _ => {}
        }
    }
}

/// Stage submissions per stage id.
fn submissions_per_stage(events: &[SparkListenerEvent]) -> std::collections::BTreeMap<u32, u32> {
    let mut submissions = std::collections::BTreeMap::new();
    for event in events {
        if let SparkListenerEvent::StageSubmitted { stage_info } = event {
            *submissions.entry(stage_info.stage_id).or_default() += 1;
        }
    }
    submissions
}

/// An executor dies after finishing several tasks of a map stage whose last task is still
/// running elsewhere (held with `SIGSTOP` until the driver has removed the dead executor).
/// Its outputs must not count once it is gone: the stage is resubmitted once for exactly
/// those partitions, no reducer ever fetches from the dead executor, and the answer is
/// right. (Outputs reported after the loss was noticed are covered by the task set
/// manager's unit test.) (Registering them made every reduce attempt find one more missing
/// output until the stage ran out of attempts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_of_an_executor_lost_mid_stage_are_recomputed_once() {
    let app_id = "lost-mid-stage".to_string();
    let data = tempfile::tempdir().unwrap();
    let spark = cluster_session(
        "local-cluster[2,1,1024]",
        &app_id,
        &[
            ("spark.sql.shuffle.partitions", "8"),
            ("spark.shuffle.readHostLocalDisk", "false"),
            // Should the held executor never be released, it is removed in seconds.
            ("spark.executor.heartbeatInterval", "1s"),
            ("spark.network.timeout", "20s"),
        ],
    )
    .await;
    wait_until("two executors", || executor_processes(&app_id).len() == 2);
    // Several files, so the scan's map stage has several tasks.
    let path = data.path().join("numbers");
    let path = path.to_str().unwrap();
    spark
        .range(200_000)
        .await
        .unwrap()
        .repartition(8)
        .unwrap()
        .write()
        .parquet(path)
        .await
        .unwrap();
    spark
        .read()
        .parquet(path)
        .await
        .unwrap()
        .create_or_replace_temp_view("numbers")
        .unwrap();

    let events = EventLog::attach(&spark);
    let held = executor_processes(&app_id).pop().expect("an executor");
    let listener = Arc::new(KillWhileHeld {
        app_name: app_id.clone(),
        held: held.clone(),
        kill_after: 2,
        state: Mutex::new(KillState::default()),
    });
    spark.add_listener(listener.clone());
    signal("-STOP", held.1);
    let df = spark
        .sql("SELECT id % 100 AS k, sum(id) AS s FROM numbers GROUP BY id % 100 ORDER BY k")
        .await
        .unwrap();
    let result = df.collect().await;
    listener.resume();
    let all = events.snapshot(&spark);
    let story: Vec<String> = all
        .iter()
        .filter_map(|e| match e {
            SparkListenerEvent::StageSubmitted { stage_info } => Some(format!(
                "submitted {}.{}",
                stage_info.stage_id, stage_info.attempt
            )),
            SparkListenerEvent::TaskEnd {
                stage_id,
                task_info,
                reason,
                ..
            } => Some(format!(
                "task {}.{} of stage {stage_id} on {}: {reason:?}",
                task_info.index, task_info.attempt, task_info.executor_id
            )),
            SparkListenerEvent::ExecutorRemoved { executor_id, .. } => {
                Some(format!("executor {executor_id} removed"))
            }
            _ => None,
        })
        .collect();
    let story = story.join("\n");
    assert_eq!(rows(&result.unwrap()), expected_sums(), "{story}");
    let state = listener.state.lock().unwrap();
    let (Some(victim), Some(held_stage)) = (state.victim.clone(), state.stage) else {
        panic!("no executor was killed\n{story}");
    };
    assert!(
        state.resumed,
        "the held executor was not resumed by the listener"
    );
    drop(state);
    // The second attempt of the held stage recomputes exactly what the victim had written.
    let successes_in = |attempt: u32, on: Option<&str>| -> std::collections::BTreeSet<u32> {
        all.iter()
            .filter_map(|e| match e {
                SparkListenerEvent::TaskEnd {
                    stage_id,
                    stage_attempt,
                    task_info,
                    reason: flint::TaskEndReason::Success,
                    ..
                } if *stage_id == held_stage
                    && *stage_attempt == attempt
                    && on.is_none_or(|id| task_info.executor_id == id) =>
                {
                    Some(task_info.index)
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        successes_in(1, None),
        successes_in(0, Some(&victim)),
        "{story}"
    );

    let submissions = submissions_per_stage(&all);
    assert!(
        submissions.values().any(|n| *n == 2),
        "no stage ran exactly twice (once more for the lost outputs): {submissions:?}\n{story}"
    );
    assert!(
        submissions.values().all(|n| *n <= 2),
        "a stage was resubmitted more than once for one lost executor: {submissions:?}\n{story}"
    );
    let fetch_failures = all
        .iter()
        .filter(|e| {
            matches!(
                e,
                SparkListenerEvent::TaskEnd {
                    reason: flint::TaskEndReason::FetchFailed { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        fetch_failures, 0,
        "a reducer was sent to the dead executor's outputs\n{story}"
    );
    stop_and_wait(&spark, &app_id);
}
