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

/// The tasks of one stage attempt (Spark's `TaskSet`).
#[derive(Debug, Clone)]
pub(crate) struct TaskSet {
    pub job_id: u32,
    pub stage_id: u32,
    pub stage_attempt: u32,
    /// The partitions to compute (all of them, or the missing map outputs).
    pub partitions: Vec<u32>,
    /// The stage's encoded plan, the same for every task.
    pub plan: Bytes,
    /// The query-graph node of each node of the plan, for the tasks' SQL metrics.
    pub node_ids: StageNodeIds,
    /// The shuffle a map stage writes: each map output is registered as its task succeeds.
    pub shuffle_id: Option<u32>,
    /// Map outputs and the executor-failure epoch each task launches at.
    pub map_outputs: Arc<MapOutputTracker>,
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
}

/// Runs one task set: launches tasks as slots free up, retries failures up to
/// `spark.task.maxFailures` (Spark's `TaskSetManager`).
pub(crate) struct TaskSetManager<'a> {
    task_set: TaskSet,
    scheduler: &'a TaskScheduler,
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
        let slots = self.scheduler.slots().clone();
        loop {
            if pending.is_empty() && running.is_empty() {
                break;
            }
            tokio::select! {
                permit = slots.clone().acquire_owned(), if !pending.is_empty() => {
                    let Ok(permit) = permit else {
                        return Err(TaskSetFailure::Aborted("task scheduler stopped".into()));
                    };
                    let Some((partition, attempt)) = pending.pop_front() else { continue };
                    let task = TaskDescription {
                        task_id: self.scheduler.next_task_id(),
                        job_id: set.job_id,
                        stage_id: set.stage_id,
                        stage_attempt: set.stage_attempt,
                        partition,
                        attempt,
                        plan: set.plan.clone(),
                    };
                    tracing::info!(
                        stage_id = set.stage_id, task_id = task.task_id,
                        "Starting task {partition}.{attempt} in stage {}.{} (TID {}) (partition {partition})",
                        set.stage_id, set.stage_attempt, task.task_id
                    );
                    let backend = self.scheduler.backend().clone();
                    let bus = self.scheduler.listener_bus();
                    let launch_time = now_millis();
                    let epoch = set.map_outputs.epoch();
                    let (stage_id, stage_attempt, task_id) = (set.stage_id, set.stage_attempt, task.task_id);
                    bus.post(SparkListenerEvent::TaskStart {
                        stage_id,
                        stage_attempt,
                        task_info: TaskInfo {
                            task_id, index: partition, attempt, launch_time, finish_time: 0,
                            executor_id: String::new(), host: String::new(),
                        },
                    });
                    running.push(async move {
                        let (executor_id, host, result) = backend.run_task(task).await;
                        drop(permit);
                        Finished {
                            partition,
                            attempt,
                            epoch,
                            task_info: TaskInfo {
                                task_id, index: partition, attempt, launch_time, finish_time: now_millis(),
                                executor_id, host,
                            },
                            result,
                        }
                    });
                }
                Some(finished) = running.next(), if !running.is_empty() => {
                    let Finished { partition, attempt, epoch, task_info, mut result } = finished;
                    let operators = std::mem::take(&mut result.metrics.operators);
                    let duration = task_info.finish_time.saturating_sub(task_info.launch_time);
                    // As Spark's SQL metrics, only successful attempts count.
                    let sql_metrics = match result.outcome {
                        Ok(_) => set.node_ids.updates(&operators),
                        Err(_) => vec![],
                    };
                    let (reason, outcome) = match result.outcome {
                        Ok(output) => (TaskEndReason::Success, Ok(output)),
                        Err(failure) => (
                            TaskEndReason::Failed {
                                message: failure.message(),
                                counts_towards_failures: failure.counts_towards_task_failures(),
                            },
                            Err(failure),
                        ),
                    };
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
                        Ok(output) => {
                            succeeded += 1;
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
                        }
                    }
                }
            }
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use flint_executor::{TaskMetrics, TaskResult};

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

        async fn run_task(&self, task: TaskDescription) -> (String, String, TaskResult) {
            let executor_id = task.partition.to_string();
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

        fn stop(&self) {}
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
        let scheduler = TaskScheduler::new(backend, 4, Arc::new(ListenerBus::new()));
        let task_set = TaskSet {
            job_id: 0,
            stage_id: 0,
            stage_attempt: 0,
            partitions: vec![0, 1],
            plan: Bytes::new(),
            node_ids: StageNodeIds::default(),
            shuffle_id: Some(7),
            map_outputs: Arc::clone(&map_outputs),
        };
        let outputs = TaskSetManager::new(task_set, &scheduler)
            .run()
            .await
            .unwrap();
        assert!(outputs.is_empty(), "map outputs go to the tracker");
        assert_eq!(map_outputs.missing_partitions(7), [0]);
    }
}
