use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use flint_executor::{TaskDescription, TaskFailureReason, TaskOutput};
use flint_shuffle::FetchFailure;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::{
    MapOutputTracker, SparkListenerEvent, StageNodeIds, TaskEndReason, TaskInfo, TaskScheduler,
};
use flint_common::now_millis;

use crate::scheduler_backend::TaskLaunched;

/// The tasks of one stage attempt (Spark's `TaskSet`).
#[derive(Debug, Clone)]
pub(crate) struct TaskSet {
    pub job_id: u32,
    /// The scheduling pool of the job (`spark.scheduler.pool`).
    pub pool: Arc<str>,
    pub stage_id: u32,
    pub stage_attempt: u32,
    /// The partitions to compute (all of them, or the missing map outputs).
    pub partitions: Vec<u32>,
    /// The stage's encoded plan, the same for every task.
    pub plan: Bytes,
    /// The job's session settings, sent with every task.
    pub sql_conf: Arc<[(String, String)]>,
    /// The query-graph node of each node of the plan, for the tasks' SQL metrics.
    pub node_ids: StageNodeIds,
    /// The shuffle a map stage writes: each map output is registered as its task succeeds.
    pub shuffle_id: Option<u32>,
    /// Where each partition would rather run (where its input blocks are).
    pub preferred: Arc<HashMap<u32, crate::locality::PreferredLocations>>,
    /// Map outputs and the executor-failure epoch each task launches at.
    pub map_outputs: Arc<MapOutputTracker>,
    /// Set to a reason when the job is cancelled: running tasks are killed, no more launch.
    pub cancel: tokio::sync::watch::Receiver<Option<String>>,
}

/// A task's failure as listeners see it: its kind and Spark's fields.
fn end_reason(failure: &TaskFailureReason) -> TaskEndReason {
    match failure {
        TaskFailureReason::FetchFailed(fetch) => TaskEndReason::FetchFailed {
            executor_id: fetch.executor_id.clone(),
            host: fetch.host.clone(),
            port: fetch.port,
            shuffle_id: fetch.shuffle_id,
            map_id: fetch.map_id,
            map_index: fetch.map_index,
            reduce_id: fetch.reduce_id,
            message: fetch.message.clone(),
        },
        TaskFailureReason::ExceptionFailure { message } => TaskEndReason::ExceptionFailure {
            class_name: TaskEndReason::TASK_FAILURE_CLASS.into(),
            description: message.clone(),
        },
        TaskFailureReason::ResourcesExhausted { message } => TaskEndReason::ExceptionFailure {
            class_name: TaskEndReason::OUT_OF_MEMORY_CLASS.into(),
            description: message.clone(),
        },
        TaskFailureReason::TaskKilled { reason } => TaskEndReason::TaskKilled {
            reason: reason.clone(),
        },
        TaskFailureReason::ExecutorLost {
            executor_id,
            message,
        } => TaskEndReason::ExecutorLostFailure {
            executor_id: executor_id.clone(),
            exit_caused_by_app: false,
            reason: message.clone(),
        },
    }
}

/// Why a stage attempt did not complete.
#[derive(Debug, Clone)]
pub(crate) enum TaskSetFailure {
    /// A task failed too often or could not run: the job fails with this message.
    Aborted(String),
    /// A task could not read a parent's shuffle block: the parent stage must be recomputed.
    /// `epoch` is the executor-failure epoch the task launched at.
    FetchFailed { fetch: FetchFailure, epoch: u64 },
    /// A parent's map outputs went with an executor after the stage was found ready and
    /// before any task launched: the parent reruns first. Not a failed attempt.
    ParentOutputsLost { shuffle_id: u32 },
    /// The job was cancelled for this reason; the stage's running tasks were killed.
    Cancelled(String),
}

/// The tasks of a task set still running on executors. Whatever ends the task set early (a
/// failure that aborts it, or its caller dropping it) kills them and reports them killed,
/// so no task of a stage that is over keeps an executor busy.
struct RunningTasks<'a> {
    scheduler: &'a TaskScheduler,
    stage_id: u32,
    stage_attempt: u32,
    tasks: HashMap<u64, TaskInfo>,
}

impl RunningTasks<'_> {
    fn kill_all(&self, reason: &str) {
        for task_id in self.tasks.keys() {
            self.scheduler.backend().kill_task(*task_id, reason);
        }
    }
}

impl Drop for RunningTasks<'_> {
    fn drop(&mut self) {
        if self.tasks.is_empty() {
            return;
        }
        let reason = format!("Stage {} was cancelled", self.stage_id);
        self.kill_all(&reason);
        for (_, mut task_info) in self.tasks.drain() {
            task_info.finish_time = now_millis();
            self.scheduler
                .listener_bus()
                .post(SparkListenerEvent::TaskEnd {
                    stage_id: self.stage_id,
                    stage_attempt: self.stage_attempt,
                    task_info,
                    reason: TaskEndReason::TaskKilled {
                        reason: reason.clone(),
                    },
                    metrics: Default::default(),
                    sql_metrics: vec![],
                });
        }
    }
}

/// Runs one task set: launches tasks as slots free up, retries failures up to
/// `spark.task.maxFailures` (Spark's `TaskSetManager`).
pub(crate) struct TaskSetManager<'a> {
    task_set: TaskSet,
    scheduler: &'a TaskScheduler,
}

/// What speculation needs to know of a task set's attempts (Spark's `TaskSetManager`
/// bookkeeping of `copiesRunning`, `successful` and `taskInfos`).
#[derive(Default)]
struct Copies {
    /// Partitions that succeeded.
    done: std::collections::HashSet<u32>,
    /// How long the successful attempts ran.
    durations: Vec<std::time::Duration>,
    /// Running attempts by partition: task id, attempt and its launch.
    running: HashMap<u32, Vec<(u64, u32, Launch)>>,
    /// Partitions given a speculative copy.
    speculated: std::collections::HashSet<u32>,
    /// The highest attempt number handed out, by partition.
    attempts: HashMap<u32, u32>,
    /// Speculative copies waiting for a slot, with the executor of the attempt they copy.
    avoid: HashMap<(u32, u32), String>,
}

/// Where a task was launched, once it is.
type Launch = Arc<std::sync::Mutex<Option<TaskInfo>>>;

impl Copies {
    fn started(&mut self, partition: u32, attempt: u32, task_id: u64, launch: Launch) {
        let highest = self.attempts.entry(partition).or_default();
        *highest = (*highest).max(attempt);
        self.running
            .entry(partition)
            .or_default()
            .push((task_id, attempt, launch));
    }

    /// Forgets an attempt that ended; returns the partition's other running attempts.
    fn ended(&mut self, partition: u32, task_id: u64) -> Vec<(u64, u32)> {
        let attempts = self.running.entry(partition).or_default();
        attempts.retain(|(id, ..)| *id != task_id);
        attempts
            .iter()
            .map(|(id, attempt, ..)| (*id, *attempt))
            .collect()
    }

    fn succeeded(&mut self, partition: u32, duration: std::time::Duration) {
        self.done.insert(partition);
        self.durations.push(duration);
    }

    fn next_attempt(&self, partition: u32) -> u32 {
        self.attempts.get(&partition).map_or(0, |a| a + 1)
    }

    /// Running tasks to copy now, with the executor each runs on (Spark's
    /// `checkSpeculatableTasks`): launched ones with no copy yet, running longer than the
    /// threshold once enough of the `total` tasks have finished.
    fn stragglers(&mut self, speculation: &crate::Speculation, total: usize) -> Vec<(u32, String)> {
        let Some(threshold) = speculation.threshold(&self.durations, total) else {
            return vec![];
        };
        let mut found = vec![];
        let now = now_millis();
        for (partition, attempts) in &self.running {
            let [(_, _, launch)] = attempts.as_slice() else {
                continue;
            };
            if self.done.contains(partition) || self.speculated.contains(partition) {
                continue;
            }
            // Only a task an executor runs: its time counts from its launch there.
            let launched = launch
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|info| (info.launch_time, info.executor_id.clone()));
            if let Some((launch_time, executor)) = launched
                && now.saturating_sub(launch_time) as u128 > threshold.as_millis()
            {
                found.push((*partition, executor));
            }
        }
        for (partition, _) in &found {
            self.speculated.insert(*partition);
        }
        found
    }
}

struct Finished {
    partition: u32,
    attempt: u32,
    epoch: u64,
    task_info: TaskInfo,
    result: flint_executor::TaskResult,
}

impl<'a> TaskSetManager<'a> {
    pub(crate) fn new(task_set: TaskSet, scheduler: &'a TaskScheduler) -> Self {
        Self {
            task_set,
            scheduler,
        }
    }

    pub(crate) async fn run(self) -> Result<Vec<(u32, TaskOutput)>, TaskSetFailure> {
        let set = &self.task_set;
        let total = set.partitions.len();
        let mut pending: VecDeque<(u32, u32)> = set.partitions.iter().map(|p| (*p, 0)).collect();
        let mut failures: HashMap<u32, u32> = HashMap::new();
        let mut outputs = vec![];
        let mut succeeded = 0;
        let mut running = FuturesUnordered::new();
        let mut running_tasks = RunningTasks {
            scheduler: self.scheduler,
            stage_id: set.stage_id,
            stage_attempt: set.stage_attempt,
            tasks: HashMap::new(),
        };
        let mut cancel = set.cancel.clone();
        let mut cancelled: Option<String> = None;
        let mut cancel_closed = false;
        let mut slots = self.scheduler.slots().register(crate::pool::TaskSetKey {
            pool: Arc::clone(&set.pool),
            job_id: set.job_id,
            stage_id: set.stage_id,
            stage_attempt: set.stage_attempt,
        });
        slots.want(pending.len());
        let speculation = self.scheduler.speculation().copied();
        let mut speculation_ticks = tokio::time::interval(
            speculation.map_or(std::time::Duration::from_secs(3600), |s| s.interval),
        );
        speculation_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut copies = Copies::default();
        let waits = crate::locality::LocalityWaits::new();
        loop {
            if pending.is_empty() && running.is_empty() {
                break;
            }
            tokio::select! {
                _ = speculation_ticks.tick(), if speculation.is_some() && cancelled.is_none() => {
                    let Some(speculation) = speculation else { continue };
                    for (partition, executor) in copies.stragglers(&speculation, total) {
                        let attempt = copies.next_attempt(partition);
                        tracing::info!(
                            stage_id = set.stage_id,
                            "Marking task {partition} in stage {}.{} (on executor {executor}) as speculatable because it ran more than the threshold",
                            set.stage_id, set.stage_attempt
                        );
                        copies.avoid.insert((partition, attempt), executor);
                        pending.push_front((partition, attempt));
                        slots.want(1);
                    }
                }
                reason = cancel.wait_for(Option::is_some), if cancelled.is_none() && !cancel_closed => {
                    let Ok(reason) = reason.map(|r| r.clone().unwrap_or_default()) else {
                        cancel_closed = true;
                        continue;
                    };
                    tracing::info!(
                        stage_id = set.stage_id,
                        "Cancelling stage {}: {reason}", set.stage_id
                    );
                    pending.clear();
                    slots.want_none();
                    running_tasks.kill_all(&format!("Stage {} was cancelled", set.stage_id));
                    cancelled = Some(reason);
                }
                permit = slots.next() => {
                    let Some(permit) = permit else {
                        return Err(TaskSetFailure::Aborted("task scheduler stopped".into()));
                    };
                    // A slot granted before the task set was cancelled goes straight back, as
                    // does one for a copy of a task that has finished since.
                    let Some((partition, attempt)) = pending.pop_front() else { continue };
                    let avoid = copies.avoid.remove(&(partition, attempt));
                    if copies.done.contains(&partition) {
                        continue;
                    }
                    let task = TaskDescription {
                        task_id: self.scheduler.next_task_id(),
                        job_id: set.job_id,
                        stage_id: set.stage_id,
                        stage_attempt: set.stage_attempt,
                        partition,
                        attempt,
                        plan: set.plan.clone(),
                        sql_conf: Arc::clone(&set.sql_conf),
                    };
                    tracing::info!(
                        stage_id = set.stage_id, task_id = task.task_id,
                        "Starting task {partition}.{attempt} in stage {}.{} (TID {}) (partition {partition})",
                        set.stage_id, set.stage_attempt, task.task_id
                    );
                    let backend = self.scheduler.backend().clone();
                    let bus = self.scheduler.shared_listener_bus();
                    let epoch = set.map_outputs.epoch();
                    let (stage_id, stage_attempt, task_id) = (set.stage_id, set.stage_attempt, task.task_id);
                    let started = TaskInfo {
                        task_id, index: partition, attempt, launch_time: now_millis(), finish_time: 0,
                        executor_id: String::new(), host: String::new(), speculative: avoid.is_some(),
                        locality: crate::TaskLocality::ProcessLocal,
                    };
                    let placement = crate::Placement {
                        prefer: set.preferred.get(&partition).cloned().unwrap_or_default(),
                        avoid,
                        waits: Some(Arc::clone(&waits)),
                    };
                    running_tasks.tasks.insert(task_id, started.clone());
                    // The task starts when an executor takes it (it may wait for a free core
                    // first, which dynamic allocation counts as backlog).
                    let launch = Arc::new(std::sync::Mutex::new(None::<TaskInfo>));
                    copies.started(partition, attempt, task_id, Arc::clone(&launch));
                    let launched: TaskLaunched = {
                        let launch = Arc::clone(&launch);
                        let started = started.clone();
                        let bus = Arc::clone(&bus);
                        Box::new(move |executor_id: &str, host: &str, locality| {
                            let info = TaskInfo {
                                launch_time: now_millis(),
                                executor_id: executor_id.to_string(),
                                host: host.to_string(),
                                locality,
                                ..started
                            };
                            *launch.lock().unwrap_or_else(|p| p.into_inner()) = Some(info.clone());
                            bus.post(SparkListenerEvent::TaskStart { stage_id, stage_attempt, task_info: info });
                        })
                    };
                    running.push(async move {
                        let (executor_id, host, result) = backend.run_task(task, launched, placement).await;
                        drop(permit);
                        let launched = launch.lock().unwrap_or_else(|p| p.into_inner()).take();
                        let (launch_time, locality) = match launched {
                            Some(info) => (info.launch_time, info.locality),
                            None => {
                                // It ended without reaching an executor (the application
                                // died): it still starts before it ends, as listeners expect.
                                let info = TaskInfo {
                                    executor_id: executor_id.clone(),
                                    host: host.clone(),
                                    ..started
                                };
                                let launch_time = info.launch_time;
                                bus.post(SparkListenerEvent::TaskStart { stage_id, stage_attempt, task_info: info });
                                (launch_time, started.locality)
                            }
                        };
                        Finished {
                            partition,
                            attempt,
                            epoch,
                            task_info: TaskInfo {
                                task_id, index: partition, attempt, launch_time, finish_time: now_millis(),
                                executor_id, host, speculative: started.speculative, locality,
                            },
                            result,
                        }
                    });
                }
                Some(finished) = running.next(), if !running.is_empty() => {
                    let Finished { partition, attempt, epoch, task_info, mut result } = finished;
                    running_tasks.tasks.remove(&task_info.task_id);
                    let twins = copies.ended(partition, task_info.task_id);
                    // A copy whose twin already succeeded: its end changes nothing.
                    let superseded = copies.done.contains(&partition);
                    let operators = std::mem::take(&mut result.metrics.operators);
                    let duration = task_info.finish_time.saturating_sub(task_info.launch_time);
                    // As Spark's SQL metrics, only successful attempts count.
                    let sql_metrics = match result.outcome {
                        Ok(_) => set.node_ids.updates(&operators),
                        Err(_) => vec![],
                    };
                    let reason = match &result.outcome {
                        Ok(_) => TaskEndReason::Success,
                        Err(failure) => end_reason(failure),
                    };
                    let outcome = result.outcome;
                    tracing::debug!(task_id = task_info.task_id, "Task {} metrics: {:?}", task_info.task_id, result.metrics);
                    self.scheduler.listener_bus().post(SparkListenerEvent::TaskEnd {
                        stage_id: set.stage_id,
                        stage_attempt: set.stage_attempt,
                        task_info: task_info.clone(),
                        reason,
                        metrics: result.metrics,
                        sql_metrics,
                    });
                    match outcome {
                        Ok(_) if superseded => {}
                        Ok(output) => {
                            succeeded += 1;
                            copies.succeeded(partition, std::time::Duration::from_millis(duration));
                            for (twin, twin_attempt) in twins {
                                let reason = format!(
                                    "another attempt succeeded: task {partition}.{attempt} (TID {})",
                                    task_info.task_id
                                );
                                tracing::info!(
                                    stage_id = set.stage_id,
                                    "Killing attempt {twin_attempt} for task {partition} in stage {}.{} (TID {twin}) as the attempt {attempt} succeeded on {}",
                                    set.stage_id, set.stage_attempt, task_info.host
                                );
                                self.scheduler.backend().kill_task(twin, &reason);
                            }
                            tracing::info!(
                                stage_id = set.stage_id, task_id = task_info.task_id, duration_ms = duration,
                                "Finished task {partition}.{attempt} in stage {}.{} (TID {}) in {duration} ms on {} (executor {}) ({succeeded}/{total})",
                                set.stage_id, set.stage_attempt, task_info.task_id, task_info.host, task_info.executor_id
                            );
                            // A map output goes to the tracker at once; result rows are returned.
                            match (set.shuffle_id, output) {
                                (Some(shuffle_id), TaskOutput::MapStatus(status)) => {
                                    if !set.map_outputs.register_map_output(shuffle_id, status, epoch) {
                                        tracing::info!(
                                            stage_id = set.stage_id, task_id = task_info.task_id,
                                            "Ignoring possibly bogus ShuffleMapTask({}, {partition}) completion from executor {}",
                                            set.stage_id, task_info.executor_id
                                        );
                                    }
                                }
                                (_, output) => outputs.push((partition, output)),
                            }
                        }
                        Err(failure) => {
                            let lost = format!(
                                "Lost task {partition}.{attempt} in stage {}.{} (TID {}) ({} executor {}): {}",
                                set.stage_id, set.stage_attempt, task_info.task_id, task_info.host,
                                task_info.executor_id, failure.message()
                            );
                            tracing::warn!(stage_id = set.stage_id, task_id = task_info.task_id, "{lost}");
                            // The loser of a speculation, or an attempt whose twin still runs:
                            // the partition is (or may yet be) done by the other.
                            if cancelled.is_some() || superseded || !twins.is_empty() {
                                continue;
                            }
                            if let TaskFailureReason::FetchFailed(fetch) = failure {
                                return Err(TaskSetFailure::FetchFailed { fetch, epoch });
                            }
                            if let Some(reason) = self.scheduler.backend().dead_reason() {
                                return Err(TaskSetFailure::Aborted(reason));
                            }
                            let count = failures.entry(partition).or_default();
                            if failure.counts_towards_task_failures() {
                                *count += 1;
                            }
                            if *count >= self.scheduler.max_task_failures() {
                                tracing::error!(
                                    stage_id = set.stage_id,
                                    "Task {partition} in stage {}.{} failed {count} times; aborting job",
                                    set.stage_id, set.stage_attempt
                                );
                                return Err(TaskSetFailure::Aborted(format!(
                                    "Task {partition} in stage {}.{} failed {count} times, most recent failure: {lost}",
                                    set.stage_id, set.stage_attempt
                                )));
                            }
                            pending.push_back((partition, attempt + 1));
                            slots.want(1);
                        }
                    }
                }
            }
        }
        match cancelled {
            Some(reason) => Err(TaskSetFailure::Cancelled(reason)),
            None => Ok(outputs),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use flint_executor::{TaskMetrics, TaskResult};

    use std::sync::Mutex;

    use super::*;
    use crate::map_output_tracker::test_status;
    use crate::{ListenerBus, SchedulerBackend};

    /// Runs partition N on executor "N"; executor "0" is declared lost after its task ended
    /// and before its status reaches the task set (a status update racing a dropped
    /// connection).
    #[derive(Debug)]
    struct LosesExecutorZero {
        map_outputs: Arc<MapOutputTracker>,
    }

    #[async_trait]
    impl SchedulerBackend for LosesExecutorZero {
        fn total_cores(&self) -> usize {
            1
        }

        async fn run_task(
            &self,
            task: TaskDescription,
            launched: crate::scheduler_backend::TaskLaunched,
            _placement: crate::Placement,
        ) -> (String, String, TaskResult) {
            let executor_id = task.partition.to_string();
            launched(&executor_id, "127.0.0.1", crate::TaskLocality::NoPref);
            if task.partition == 0 {
                self.map_outputs.remove_outputs_on_executor("0", None);
            }
            let result = TaskResult {
                outcome: Ok(TaskOutput::MapStatus(test_status(
                    task.partition,
                    &executor_id,
                ))),
                metrics: TaskMetrics::default(),
            };
            (executor_id, "127.0.0.1".into(), result)
        }

        fn kill_task(&self, _task_id: u64, _reason: &str) {}

        fn stop(&self) {}

        fn remove_shuffle(&self, _shuffle_id: u32) {}
    }

    /// Runs every task until it is killed.
    #[derive(Debug, Default)]
    struct RunsUntilKilled {
        kills: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<String>>>,
        launched: Mutex<Vec<u64>>,
    }

    #[async_trait]
    impl SchedulerBackend for RunsUntilKilled {
        fn total_cores(&self) -> usize {
            2
        }

        async fn run_task(
            &self,
            task: TaskDescription,
            launched: crate::scheduler_backend::TaskLaunched,
            _placement: crate::Placement,
        ) -> (String, String, TaskResult) {
            launched("0", "127.0.0.1", crate::TaskLocality::NoPref);
            let (kill, killed) = tokio::sync::oneshot::channel();
            self.kills.lock().unwrap().insert(task.task_id, kill);
            self.launched.lock().unwrap().push(task.task_id);
            let reason = killed.await.unwrap_or_default();
            let result = TaskResult {
                outcome: Err(TaskFailureReason::TaskKilled { reason }),
                metrics: TaskMetrics::default(),
            };
            ("0".into(), "127.0.0.1".into(), result)
        }

        fn kill_task(&self, task_id: u64, reason: &str) {
            if let Some(kill) = self.kills.lock().unwrap().remove(&task_id) {
                let _ = kill.send(reason.to_string());
            }
        }

        fn stop(&self) {}

        fn remove_shuffle(&self, _shuffle_id: u32) {}
    }

    fn task_set(map_outputs: &Arc<MapOutputTracker>, partitions: Vec<u32>) -> TaskSet {
        TaskSet {
            job_id: 0,
            pool: Arc::from("default"),
            stage_id: 0,
            stage_attempt: 0,
            partitions,
            plan: Bytes::new(),
            sql_conf: Default::default(),
            node_ids: StageNodeIds::default(),
            shuffle_id: None,
            preferred: Arc::default(),
            map_outputs: Arc::clone(map_outputs),
            cancel: tokio::sync::watch::channel(None).1,
        }
    }

    /// Cancelling a job kills the running tasks of its stage and launches no more.
    #[tokio::test]
    async fn a_cancelled_task_set_kills_its_running_tasks() {
        let backend = Arc::new(RunsUntilKilled::default());
        let scheduler = TaskScheduler::new(
            backend.clone(),
            4,
            Arc::new(ListenerBus::new()),
            crate::pool::Pools::default(),
        );
        let (cancel, cancelled) = tokio::sync::watch::channel(None);
        let mut set = task_set(&Arc::default(), vec![0, 1, 2, 3]);
        set.cancel = cancelled;
        let run = TaskSetManager::new(set, &scheduler).run();
        let canceller = async {
            while backend.launched.lock().unwrap().len() < 2 {
                tokio::task::yield_now().await;
            }
            cancel.send_replace(Some("by the test".to_string()));
        };
        let (outcome, ()) = tokio::join!(run, canceller);
        assert!(
            matches!(outcome, Err(TaskSetFailure::Cancelled(reason)) if reason == "by the test")
        );
        assert_eq!(
            backend.launched.lock().unwrap().len(),
            2,
            "no task launched after the cancel"
        );
        assert!(
            backend.kills.lock().unwrap().is_empty(),
            "both running tasks were killed"
        );
    }

    /// A task set dropped by its caller kills the tasks it left running.
    #[tokio::test]
    async fn a_dropped_task_set_kills_its_running_tasks() {
        let backend = Arc::new(RunsUntilKilled::default());
        let scheduler = TaskScheduler::new(
            backend.clone(),
            4,
            Arc::new(ListenerBus::new()),
            crate::pool::Pools::default(),
        );
        let set = task_set(&Arc::default(), vec![0, 1]);
        let run = TaskSetManager::new(set, &scheduler).run();
        tokio::select! {
            _ = run => panic!("the tasks run until killed"),
            _ = async {
                while backend.launched.lock().unwrap().len() < 2 {
                    tokio::task::yield_now().await;
                }
            } => {}
        }
        assert!(
            backend.kills.lock().unwrap().is_empty(),
            "both running tasks were killed"
        );
    }

    /// A map output reported by an executor lost after the task launched is not
    /// registered, so the map stage reruns that partition; the other one counts.
    #[tokio::test]
    async fn outputs_reported_after_their_executor_was_lost_are_ignored() {
        let map_outputs = Arc::new(MapOutputTracker::default());
        map_outputs.register_shuffle(7, 2);
        let backend = Arc::new(LosesExecutorZero {
            map_outputs: Arc::clone(&map_outputs),
        });
        let scheduler = TaskScheduler::new(
            backend,
            4,
            Arc::new(ListenerBus::new()),
            crate::pool::Pools::default(),
        );
        let task_set = TaskSet {
            job_id: 0,
            pool: Arc::from("default"),
            stage_id: 0,
            stage_attempt: 0,
            partitions: vec![0, 1],
            plan: Bytes::new(),
            sql_conf: Default::default(),
            node_ids: StageNodeIds::default(),
            shuffle_id: Some(7),
            preferred: Arc::default(),
            map_outputs: Arc::clone(&map_outputs),
            cancel: tokio::sync::watch::channel(None).1,
        };
        let outputs = TaskSetManager::new(task_set, &scheduler)
            .run()
            .await
            .unwrap();
        assert!(outputs.is_empty(), "map outputs go to the tracker");
        assert_eq!(map_outputs.missing_partitions(7), [0]);
    }
}
