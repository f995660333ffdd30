use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use flint_executor::{TaskOutput, decode_result_batches};
use flint_shuffle::{ShuffleCodec, UnresolvedShuffleExec};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use thiserror::Error;

use crate::task_set_manager::{TaskSet, TaskSetFailure};
use crate::{
    JobResult, ListenerBus, MapOutputTracker, SparkListenerEvent, StageGraph, StageInfo,
    StageNodeIds, TaskScheduler,
};
use flint_common::now_millis;

/// Spark's `spark.stage.maxConsecutiveAttempts`: attempts of one stage in a row that may fail
/// on fetch failures before the job is aborted.
const MAX_STAGE_ATTEMPTS: u32 = 4;

/// Why a job did not return rows.
#[derive(Debug, Error)]
pub enum JobError {
    /// A stage failed for good (a task failed `spark.task.maxFailures` times, or fetch
    /// failures kept recurring); the message is Spark's.
    #[error("Job {job_id} aborted due to stage failure: {message}")]
    Aborted { job_id: u32, message: String },
    /// The job was cancelled (`cancel_job`, a cancelled tag, or all jobs) and its tasks killed.
    #[error("[SPARK_JOB_CANCELLED] Job {job_id} cancelled {reason} SQLSTATE: XXKDA")]
    Cancelled { job_id: u32, reason: String },
    /// The job's plan could not be prepared or its results decoded: a Flint bug.
    #[error("internal error in job {job_id}: {source}")]
    Internal {
        job_id: u32,
        source: DataFusionError,
    },
}

tokio::task_local! {
    /// The job tags of the code running in this task (Spark's `spark.job.tags` local
    /// property): every job it starts carries them.
    static JOB_TAGS: Vec<String>;
}

/// Runs `future` with `tags` on every job it starts, so `cancel_jobs_with_tag` finds them
/// (Spark's `SparkContext.addJobTag` for the calling thread).
pub async fn with_job_tags<F: std::future::Future>(tags: Vec<String>, future: F) -> F::Output {
    JOB_TAGS.scope(tags, future).await
}

/// A running job: its tags and how to cancel it.
#[derive(Debug)]
struct ActiveJob {
    tags: Vec<String>,
    /// The stages it runs (Spark's `Stage.jobIds`, seen from the job).
    stages: Vec<u32>,
    /// The scheduling pool its stages run in.
    pool: Arc<str>,
    cancel: tokio::sync::watch::Sender<Option<String>>,
}

/// Turns jobs into stages and runs them parents-first (Spark's `DAGScheduler`). Map stages are
/// keyed by shuffle id, so a later job over the same shuffle finds its output and skips them.
#[derive(Debug)]
pub struct DagScheduler {
    task_scheduler: Arc<TaskScheduler>,
    map_output_tracker: Arc<MapOutputTracker>,
    listener_bus: Arc<ListenerBus>,
    next_job_id: AtomicU32,
    next_stage_id: AtomicU32,
    shuffle_to_stage: Mutex<HashMap<u32, u32>>,
    stage_attempts: Mutex<HashMap<u32, u32>>,
    /// Attempts of each stage that failed on a fetch failure since it last succeeded
    /// (Spark's `Stage.failedAttemptIds`).
    failed_attempts: Mutex<HashMap<u32, u32>>,
    /// Jobs running now.
    active_jobs: Mutex<HashMap<u32, ActiveJob>>,
    /// `spark.shuffle.reduceLocality.enabled`: reduce tasks prefer the hosts holding much of
    /// their input.
    reduce_locality: bool,
}

#[derive(Clone, Copy)]
enum StageKind {
    ShuffleMap(u32),
    Result,
}

impl DagScheduler {
    /// A scheduler running stages through `task_scheduler`.
    pub fn new(
        task_scheduler: Arc<TaskScheduler>,
        map_output_tracker: Arc<MapOutputTracker>,
        listener_bus: Arc<ListenerBus>,
    ) -> Self {
        Self {
            task_scheduler,
            map_output_tracker,
            listener_bus,
            next_job_id: AtomicU32::new(0),
            next_stage_id: AtomicU32::new(0),
            shuffle_to_stage: Mutex::default(),
            stage_attempts: Mutex::default(),
            failed_attempts: Mutex::default(),
            active_jobs: Mutex::default(),
            reduce_locality: true,
        }
    }

    /// Sets `spark.shuffle.reduceLocality.enabled` (on until then).
    pub fn with_reduce_locality(mut self, enabled: bool) -> Self {
        self.reduce_locality = enabled;
        self
    }

    /// Forgets a shuffle no job will read again (an unpersisted cache) and has the executors
    /// delete its files (Spark's `ContextCleaner.doCleanupShuffle`).
    pub fn remove_shuffle(&self, shuffle_id: u32) {
        self.map_output_tracker.unregister_shuffle(shuffle_id);
        self.task_scheduler.backend().remove_shuffle(shuffle_id);
    }

    /// Where every map output (and cached block) lives.
    pub fn map_output_tracker(&self) -> &Arc<MapOutputTracker> {
        &self.map_output_tracker
    }

    /// The scheduling pool of a running job (`default` once it is over).
    fn pool_of(&self, job_id: u32) -> Arc<str> {
        self.active_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&job_id)
            .map(|job| Arc::clone(&job.pool))
            .unwrap_or_else(|| Arc::from(crate::pool::DEFAULT_POOL))
    }

    /// Cancels a running job (Spark's `cancelJob`): its running tasks are killed and it fails
    /// with `SPARK_JOB_CANCELLED` ("Job N cancelled " and `reason`, as Spark words it).
    /// Returns whether it was running.
    pub fn cancel_job(&self, job_id: u32, reason: Option<&str>) -> bool {
        !self
            .cancel_jobs(|id, _| id == job_id, reason.unwrap_or_default())
            .is_empty()
    }

    /// Cancels a stage (Spark's `cancelStage`): every running job that runs it fails "because
    /// `reason`", or "because Stage N was cancelled" without one. Returns those jobs.
    pub fn cancel_stage(&self, stage_id: u32, reason: Option<&str>) -> Vec<u32> {
        let reason = match reason {
            Some(reason) => format!("because {reason}"),
            None => format!("because Stage {stage_id} was cancelled"),
        };
        self.cancel_jobs(|_, job| job.stages.contains(&stage_id), &reason)
    }

    /// Cancels the running jobs that carry `tag` (Spark's `cancelJobsWithTag`, what Spark
    /// Connect's `Interrupt` uses); returns their ids.
    pub fn cancel_jobs_with_tag(&self, tag: &str) -> Vec<u32> {
        self.cancel_jobs(
            |_, job| job.tags.iter().any(|t| t == tag),
            &format!("part of cancelled job tags {tag}"),
        )
    }

    /// Cancels every running job (Spark's `cancelAllJobs`); returns their ids.
    pub fn cancel_all_jobs(&self) -> Vec<u32> {
        self.cancel_jobs(|_, _| true, "as part of cancellation of all jobs")
    }

    /// The ids of the running jobs, with their tags.
    pub fn active_jobs(&self) -> Vec<(u32, Vec<String>)> {
        let jobs = self.active_jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut active: Vec<_> = jobs
            .iter()
            .map(|(id, job)| (*id, job.tags.clone()))
            .collect();
        active.sort();
        active
    }

    fn cancel_jobs(&self, which: impl Fn(u32, &ActiveJob) -> bool, reason: &str) -> Vec<u32> {
        let jobs = self.active_jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut cancelled = vec![];
        for (job_id, job) in jobs.iter() {
            if which(*job_id, job) && job.cancel.borrow().is_none() {
                tracing::info!(job_id, "Asked to cancel job {job_id} {reason}");
                job.cancel.send_replace(Some(reason.to_string()));
                cancelled.push(*job_id);
            }
        }
        cancelled.sort();
        cancelled
    }

    /// Why `job_id` was cancelled, if it was.
    fn cancelled(&self, job_id: u32) -> Option<String> {
        let jobs = self.active_jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(&job_id)
            .and_then(|job| job.cancel.borrow().clone())
    }

    /// The signal a job's task sets watch for its cancellation.
    fn cancel_signal(&self, job_id: u32) -> tokio::sync::watch::Receiver<Option<String>> {
        let jobs = self.active_jobs.lock().unwrap_or_else(|p| p.into_inner());
        match jobs.get(&job_id) {
            Some(job) => job.cancel.subscribe(),
            None => tokio::sync::watch::channel(None).1,
        }
    }

    /// The task scheduler (for its slot count).
    pub fn task_scheduler(&self) -> &Arc<TaskScheduler> {
        &self.task_scheduler
    }

    /// Runs a job to completion and returns the result stage's rows, partition by partition;
    /// `sql_execution_id` names the query it runs for, `pool` the scheduling pool its stages
    /// run in (`spark.scheduler.pool`).
    pub async fn run_job(
        &self,
        graph: &StageGraph,
        description: &str,
        sql_execution_id: Option<u64>,
        pool: &str,
    ) -> Result<Vec<RecordBatch>, JobError> {
        let job_id = self.next_job_id.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let stage_of = |shuffle_id: u32| -> u32 {
            *self
                .shuffle_to_stage
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(shuffle_id)
                .or_insert_with(|| self.next_stage_id.fetch_add(1, Ordering::SeqCst))
        };
        let mut stage_infos = vec![];
        for dependency in graph.shuffles.values() {
            self.map_output_tracker
                .register_shuffle(dependency.shuffle_id, dependency.num_map_tasks);
            stage_infos.push(StageInfo {
                stage_id: stage_of(dependency.shuffle_id),
                attempt: 0,
                name: description.to_string(),
                num_tasks: dependency.num_map_tasks,
                parent_ids: dependency
                    .parent_shuffle_ids
                    .iter()
                    .map(|s| stage_of(*s))
                    .collect(),
                submission_time: None,
                completion_time: None,
                failure_reason: None,
                rdd_infos: dependency
                    .cache
                    .iter()
                    .map(|cache| crate::RddInfo {
                        id: cache.id,
                        name: cache.name.clone(),
                        num_partitions: dependency.num_map_tasks,
                        storage_level: cache.level,
                    })
                    .collect(),
            });
        }
        let result_stage_id = self.next_stage_id.fetch_add(1, Ordering::SeqCst);
        let num_partitions = graph.num_result_partitions();
        let result_parents: Vec<u32> = graph
            .result_parent_shuffle_ids
            .iter()
            .map(|s| stage_of(*s))
            .collect();
        stage_infos.push(StageInfo {
            stage_id: result_stage_id,
            attempt: 0,
            name: description.to_string(),
            num_tasks: num_partitions,
            parent_ids: result_parents.clone(),
            submission_time: None,
            completion_time: None,
            failure_reason: None,
            rdd_infos: vec![],
        });
        tracing::info!(
            job_id,
            "Got job {job_id} ({description}) with {num_partitions} output partitions"
        );
        tracing::info!(
            job_id,
            "Final stage: ResultStage {result_stage_id} ({description})"
        );
        let parents: Vec<String> = result_parents
            .iter()
            .map(|s| format!("ShuffleMapStage {s}"))
            .collect();
        tracing::info!(
            job_id,
            "Parents of final stage: List({})",
            parents.join(", ")
        );
        let tags = JOB_TAGS.try_with(Clone::clone).unwrap_or_default();
        self.active_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                job_id,
                ActiveJob {
                    tags: tags.clone(),
                    stages: stage_infos.iter().map(|stage| stage.stage_id).collect(),
                    pool: Arc::from(pool),
                    cancel: tokio::sync::watch::Sender::new(None),
                },
            );
        self.listener_bus.post(SparkListenerEvent::JobStart {
            job_id,
            time: now_millis(),
            stage_infos: stage_infos.clone(),
            description: description.to_string(),
            sql_execution_id,
            job_tags: tags,
            pool: pool.to_string(),
        });
        // Ends the job however this call ends: dropped by its caller (a Connect operation
        // interrupted, say), the job is over and reported so; its tasks were killed by the
        // task sets dropped with it.
        let mut job_end = JobEnd {
            scheduler: self,
            job_id,
            posted: false,
        };

        let outcome = self
            .run_stages(job_id, graph, description, &stage_infos, result_stage_id)
            .await;
        let (result, log) = match &outcome {
            Ok(_) => (
                JobResult::Succeeded,
                format!(
                    "Job {job_id} finished: {description}, took {:.3} s",
                    started.elapsed().as_secs_f64()
                ),
            ),
            Err(error) => (
                JobResult::Failed(error.to_string()),
                format!(
                    "Job {job_id} failed: {description}, took {:.3} s",
                    started.elapsed().as_secs_f64()
                ),
            ),
        };
        tracing::info!(job_id, "{log}");
        job_end.post(result);
        outcome
    }

    async fn run_stages(
        &self,
        job_id: u32,
        graph: &StageGraph,
        description: &str,
        stage_infos: &[StageInfo],
        result_stage_id: u32,
    ) -> Result<Vec<RecordBatch>, JobError> {
        let cache_ids: CacheIds = Arc::new(
            graph
                .shuffles
                .values()
                .filter(|dependency| dependency.cache.is_some())
                .map(|dependency| dependency.shuffle_id)
                .collect(),
        );
        let info_of = |stage_id: u32| stage_infos.iter().find(|s| s.stage_id == stage_id).cloned();
        let stage_of = |shuffle_id: u32| {
            self.shuffle_to_stage
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&shuffle_id)
                .copied()
                .unwrap_or(0)
        };
        loop {
            // Run every missing map stage, parents first, independent ones at once.
            let mut running = FuturesUnordered::new();
            let mut in_flight = BTreeSet::new();
            // The executor-failure epoch each running map stage was submitted at: outputs
            // only go missing when it moves on.
            let mut submitted_at = HashMap::new();
            loop {
                if let Some(reason) = self.cancelled(job_id) {
                    return Err(JobError::Cancelled { job_id, reason });
                }
                let missing = self.missing_shuffles(graph, &graph.result_parent_shuffle_ids);
                for shuffle_id in &missing {
                    let Some(dependency) = graph.shuffles.get(shuffle_id) else {
                        continue;
                    };
                    let ready = dependency
                        .parent_shuffle_ids
                        .iter()
                        .all(|p| self.map_output_tracker.is_available(*p));
                    if ready && in_flight.insert(*shuffle_id) {
                        let stage_id = stage_of(*shuffle_id);
                        let info = info_of(stage_id)
                            .unwrap_or_else(|| placeholder_info(stage_id, description));
                        submitted_at.insert(*shuffle_id, self.map_output_tracker.epoch());
                        let missing_partitions =
                            self.map_output_tracker.missing_partitions(*shuffle_id);
                        running.push(self.run_stage(
                            job_id,
                            info,
                            StageKind::ShuffleMap(*shuffle_id),
                            (
                                Arc::clone(&dependency.map_plan),
                                dependency.node_ids.clone(),
                            ),
                            missing_partitions,
                            (Arc::clone(&graph.sql_conf), Arc::clone(&cache_ids)),
                        ));
                    }
                }
                let Some((info, outcome)) = running.next().await else {
                    break;
                };
                let StageKind::ShuffleMap(shuffle_id) = info.1 else {
                    continue;
                };
                in_flight.remove(&shuffle_id);
                let stage_id = info.0.stage_id;
                match outcome {
                    // Outputs were registered as tasks finished; those written by executors
                    // lost meanwhile were not, and the loop submits the stage again for them.
                    Ok(_) => {
                        self.stage_succeeded(stage_id);
                        let missing = self.map_output_tracker.missing_partitions(shuffle_id);
                        let epoch = self.map_output_tracker.epoch();
                        if !missing.is_empty() && submitted_at.get(&shuffle_id) == Some(&epoch) {
                            // No executor was lost, yet outputs are missing: rerunning would
                            // change nothing.
                            return Err(JobError::Internal {
                                job_id,
                                source: DataFusionError::Internal(format!(
                                    "ShuffleMapStage {stage_id} finished without outputs for partitions {missing:?}; this is a Flint bug"
                                )),
                            });
                        }
                        if !missing.is_empty() {
                            tracing::info!(
                                job_id,
                                stage_id,
                                "Resubmitting ShuffleMapStage {stage_id} ({description}) because some of its tasks had failed: {}",
                                missing
                                    .iter()
                                    .map(u32::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            );
                        }
                    }
                    Err(failure) => self.handle_failure(job_id, stage_id, failure)?,
                }
            }
            if !self
                .missing_shuffles(graph, &graph.result_parent_shuffle_ids)
                .is_empty()
            {
                if submitted_at.is_empty() {
                    return Err(JobError::Internal {
                        job_id,
                        source: DataFusionError::Internal(
                            "map stages left missing outputs; this is a Flint bug".into(),
                        ),
                    });
                }
                // An executor was lost after the map stages ended: run them again.
                continue;
            }
            if let Some(reason) = self.cancelled(job_id) {
                return Err(JobError::Cancelled { job_id, reason });
            }
            let info = info_of(result_stage_id)
                .unwrap_or_else(|| placeholder_info(result_stage_id, description));
            let partitions = (0..graph.num_result_partitions() as u32).collect();
            let ((info, _), outcome) = self
                .run_stage(
                    job_id,
                    info,
                    StageKind::Result,
                    (
                        Arc::clone(&graph.result_plan),
                        graph.result_node_ids.clone(),
                    ),
                    partitions,
                    (Arc::clone(&graph.sql_conf), Arc::clone(&cache_ids)),
                )
                .await;
            match outcome {
                Ok(mut outputs) => {
                    self.stage_succeeded(info.stage_id);
                    outputs.sort_by_key(|(partition, _)| *partition);
                    let mut batches = vec![];
                    for (_, output) in outputs {
                        if let TaskOutput::ResultBatches(bytes) = output {
                            batches.extend(
                                decode_result_batches(&bytes)
                                    .map_err(|source| JobError::Internal { job_id, source })?,
                            );
                        }
                    }
                    return Ok(batches);
                }
                Err(failure) => self.handle_failure(job_id, info.stage_id, failure)?,
            }
        }
    }

    /// Shuffles among `roots` and their ancestors whose output is incomplete.
    fn missing_shuffles(&self, graph: &StageGraph, roots: &[u32]) -> BTreeSet<u32> {
        let mut missing = BTreeSet::new();
        let mut stack: Vec<u32> = roots.to_vec();
        while let Some(shuffle_id) = stack.pop() {
            if !self.map_output_tracker.is_available(shuffle_id)
                && missing.insert(shuffle_id)
                && let Some(dependency) = graph.shuffles.get(&shuffle_id)
            {
                stack.extend(&dependency.parent_shuffle_ids);
            }
        }
        missing
    }

    fn next_attempt(&self, stage_id: u32) -> u32 {
        let mut attempts = self
            .stage_attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let entry = attempts.entry(stage_id).or_insert(0);
        let attempt = *entry;
        *entry += 1;
        attempt
    }

    /// A stage attempt completed: its earlier fetch failures no longer count against it.
    fn stage_succeeded(&self, stage_id: u32) {
        self.failed_attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&stage_id);
    }

    /// Decides what a failed stage attempt means for the job. A fetch failure forgets every
    /// map output of the executor the fetch went to, not only the one block named: its files
    /// are most likely all gone, and finding them missing one attempt at a time would use up
    /// the stage's attempts (Spark's `handleTaskCompletion` for `FetchFailed`).
    fn handle_failure(
        &self,
        job_id: u32,
        stage_id: u32,
        failure: TaskSetFailure,
    ) -> Result<(), JobError> {
        match failure {
            TaskSetFailure::Aborted(message) => Err(JobError::Aborted { job_id, message }),
            TaskSetFailure::Cancelled(reason) => Err(JobError::Cancelled { job_id, reason }),
            TaskSetFailure::ParentOutputsLost { shuffle_id } => {
                tracing::info!(
                    job_id,
                    stage_id,
                    "Stage {stage_id} waits: map outputs of shuffle {shuffle_id} were lost before it started; rerunning them first"
                );
                Ok(())
            }
            TaskSetFailure::FetchFailed { fetch, epoch } => {
                let failed = {
                    let mut failed = self
                        .failed_attempts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    let count = failed.entry(stage_id).or_insert(0);
                    *count += 1;
                    *count
                };
                tracing::warn!(
                    job_id,
                    stage_id,
                    "Marking stage {stage_id} as failed due to a fetch failure from shuffle {} map {} (executor {}); resubmitting the map stage",
                    fetch.shuffle_id,
                    fetch.map_index,
                    fetch.executor_id
                );
                // Everything the executor wrote goes, the named block with it, unless a
                // failure of that executor since this task launched was handled already (then
                // what it holds now was written after and is fine). A cached block kept in
                // memory, or one already forgotten, was dropped for room by a live executor
                // (its report can reach the driver after a job was planned): that block
                // alone goes, as Spark computes a dropped block again without losing others.
                let dropped_block = self
                    .map_output_tracker
                    .in_memory(fetch.shuffle_id, fetch.map_index)
                    .unwrap_or(true);
                if fetch.executor_id.is_empty() || dropped_block {
                    self.map_output_tracker
                        .unregister_map_output(fetch.shuffle_id, fetch.map_index);
                } else {
                    self.map_output_tracker
                        .remove_outputs_on_executor(&fetch.executor_id, Some(epoch));
                }
                if failed >= MAX_STAGE_ATTEMPTS {
                    return Err(JobError::Aborted {
                        job_id,
                        message: format!(
                            "Stage {stage_id} has failed the maximum allowable number of times: {MAX_STAGE_ATTEMPTS}. Most recent failure reason: fetch failed for shuffle {} map {}: {}",
                            fetch.shuffle_id, fetch.map_index, fetch.message
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    /// Runs one stage attempt: resolves its shuffle reads, encodes its plan once and hands the
    /// task set to the task scheduler.
    async fn run_stage(
        &self,
        job_id: u32,
        mut info: StageInfo,
        kind: StageKind,
        (plan, node_ids): (Arc<dyn ExecutionPlan>, StageNodeIds),
        partitions: Vec<u32>,
        (sql_conf, cache_ids): (Arc<[(String, String)]>, CacheIds),
    ) -> (
        (StageInfo, StageKind),
        Result<Vec<(u32, TaskOutput)>, TaskSetFailure>,
    ) {
        // A parent's outputs may have gone with an executor since the stage was found ready.
        let plan = match self.resolve(plan) {
            Ok(plan) => plan,
            Err(failure) => return ((info, kind), Err(failure)),
        };
        let started = Instant::now();
        info.attempt = self.next_attempt(info.stage_id);
        info.submission_time = Some(now_millis());
        let kind_name = match kind {
            StageKind::ShuffleMap(_) => "ShuffleMapStage",
            StageKind::Result => "ResultStage",
        };
        tracing::info!(
            job_id,
            stage_id = info.stage_id,
            "Submitting {kind_name} {} ({}), which has no missing parents",
            info.stage_id,
            info.name
        );
        self.listener_bus.post(SparkListenerEvent::StageSubmitted {
            stage_info: info.clone(),
        });
        let mut stage_end = StageEnd {
            bus: &self.listener_bus,
            info: Some(info.clone()),
        };
        tracing::debug!(
            stage_id = info.stage_id,
            "Stage {} plan:\n{}",
            info.stage_id,
            datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
        );
        let preferred = Arc::new(crate::locality::preferred_locations(
            &plan,
            &cache_ids,
            &self.map_output_tracker,
            self.reduce_locality,
        ));
        let encoded = physical_plan_to_bytes_with_extension_codec(plan, &ShuffleCodec);
        let outcome = match encoded {
            Ok(bytes) => {
                let task_set = TaskSet {
                    job_id,
                    pool: self.pool_of(job_id),
                    stage_id: info.stage_id,
                    stage_attempt: info.attempt,
                    partitions,
                    plan: bytes,
                    sql_conf,
                    node_ids,
                    shuffle_id: match kind {
                        StageKind::ShuffleMap(shuffle_id) => Some(shuffle_id),
                        StageKind::Result => None,
                    },
                    map_outputs: Arc::clone(&self.map_output_tracker),
                    cancel: self.cancel_signal(job_id),
                    preferred,
                };
                self.task_scheduler.run_task_set(task_set).await
            }
            Err(error) => Err(TaskSetFailure::Aborted(format!(
                "cannot serialize the stage's plan: {error}"
            ))),
        };
        info.completion_time = Some(now_millis());
        if let (Ok(_), [rdd]) = (&outcome, &info.rdd_infos[..]) {
            self.post_cached_blocks(rdd);
        }
        match &outcome {
            Ok(_) => tracing::info!(
                job_id,
                stage_id = info.stage_id,
                "{kind_name} {} ({}) finished in {:.3} s",
                info.stage_id,
                info.name,
                started.elapsed().as_secs_f64()
            ),
            Err(failure) => {
                let reason = match failure {
                    TaskSetFailure::Aborted(message) => message.clone(),
                    TaskSetFailure::FetchFailed { fetch, .. } => {
                        format!("fetch failed: {}", fetch.message)
                    }
                    TaskSetFailure::ParentOutputsLost { shuffle_id } => {
                        format!("map outputs of shuffle {shuffle_id} were lost")
                    }
                    TaskSetFailure::Cancelled(reason) => format!("Job {job_id} cancelled {reason}"),
                };
                tracing::info!(
                    job_id,
                    stage_id = info.stage_id,
                    "{kind_name} {} ({}) failed: {reason}",
                    info.stage_id,
                    info.name
                );
                info.failure_reason = Some(reason);
            }
        }
        stage_end.info = None;
        self.listener_bus.post(SparkListenerEvent::StageCompleted {
            stage_info: info.clone(),
        });
        ((info, kind), outcome)
    }

    /// Replaces each shuffle placeholder with a reader of the map outputs now known; a
    /// shuffle with outputs missing (lost with an executor since the stage was found ready)
    /// is `ParentOutputsLost`.
    fn resolve(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>, TaskSetFailure> {
        let mut shuffle_ids = vec![];
        let _ = plan.apply(|node| {
            if let Some(unresolved) = node.downcast_ref::<UnresolvedShuffleExec>() {
                shuffle_ids.push(unresolved.shuffle_id());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let mut statuses = HashMap::new();
        for shuffle_id in shuffle_ids {
            let Some(outputs) = self.map_output_tracker.statuses(shuffle_id) else {
                return Err(TaskSetFailure::ParentOutputsLost { shuffle_id });
            };
            statuses.insert(shuffle_id, outputs);
        }
        plan.transform_up(|node| {
            let Some(unresolved) = node.downcast_ref::<UnresolvedShuffleExec>() else {
                return Ok(Transformed::no(node));
            };
            let outputs = statuses.get(&unresolved.shuffle_id()).ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "shuffle {} was not looked up; this is a Flint bug",
                    unresolved.shuffle_id()
                ))
            })?;
            let reader: Arc<dyn ExecutionPlan> = Arc::new(unresolved.resolve(outputs));
            Ok(Transformed::yes(reader))
        })
        .map(|t| t.data)
        .map_err(|error| {
            TaskSetFailure::Aborted(format!("cannot prepare the stage's plan: {error}"))
        })
    }
}

/// The ids of a job's caches (their map stages' shuffle ids).
type CacheIds = Arc<std::collections::HashSet<u32>>;

impl DagScheduler {
    /// Tells listeners where a cache stage stored its blocks (Spark's `BlockUpdated` from
    /// each executor's block manager).
    fn post_cached_blocks(&self, rdd: &crate::RddInfo) {
        for status in self.map_output_tracker.statuses(rdd.id).unwrap_or_default() {
            let size = status.partition_lengths.iter().sum();
            self.listener_bus.post(SparkListenerEvent::BlockUpdated {
                executor_id: status.executor_id.clone(),
                // As executors are listed: the host alone when nothing serves its blocks
                // over the network (local mode).
                host_port: if status.port == 0 {
                    status.host.clone()
                } else {
                    format!("{}:{}", status.host, status.port)
                },
                block_id: format!("rdd_{}_{}", rdd.id, status.map_index),
                storage_level: if status.in_memory {
                    rdd.storage_level
                } else {
                    crate::cache::StorageLevel {
                        use_memory: false,
                        ..rdd.storage_level
                    }
                },
                memory_size: if status.in_memory { size } else { 0 },
                disk_size: if status.in_memory { 0 } else { size },
            });
        }
    }
}

fn placeholder_info(stage_id: u32, description: &str) -> StageInfo {
    StageInfo {
        stage_id,
        attempt: 0,
        name: description.to_string(),
        num_tasks: 0,
        parent_ids: vec![],
        submission_time: None,
        completion_time: None,
        failure_reason: None,
        rdd_infos: vec![],
    }
}

/// Reports a submitted stage failed if its run is dropped before it completes (its job's
/// caller stopped waiting).
struct StageEnd<'a> {
    bus: &'a ListenerBus,
    info: Option<StageInfo>,
}

impl Drop for StageEnd<'_> {
    fn drop(&mut self) {
        if let Some(mut info) = self.info.take() {
            info.completion_time = Some(now_millis());
            info.failure_reason = Some("Job cancelled: its caller stopped waiting".into());
            self.bus
                .post(SparkListenerEvent::StageCompleted { stage_info: info });
        }
    }
}

/// Posts a job's `JobEnd` once, and forgets it as running; if the job's call is dropped
/// before it ends, the job is reported cancelled.
struct JobEnd<'a> {
    scheduler: &'a DagScheduler,
    job_id: u32,
    posted: bool,
}

impl JobEnd<'_> {
    fn post(&mut self, result: JobResult) {
        self.posted = true;
        self.scheduler
            .active_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.job_id);
        self.scheduler
            .listener_bus
            .post(SparkListenerEvent::JobEnd {
                job_id: self.job_id,
                time: now_millis(),
                result,
            });
    }
}

impl Drop for JobEnd<'_> {
    fn drop(&mut self) {
        if !self.posted {
            let job_id = self.job_id;
            let reason = self
                .scheduler
                .cancelled(job_id)
                .unwrap_or_else(|| "because its caller stopped waiting".into());
            tracing::info!(job_id, "Job {job_id} cancelled {reason}");
            self.post(JobResult::Failed(
                JobError::Cancelled { job_id, reason }.to_string(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The DAG scheduler's resubmission on fetch failure, through a backend that runs no plan:
    //! map tasks report outputs on two executors, result tasks succeed or fail as told.
    use std::sync::atomic::AtomicU32;

    use async_trait::async_trait;
    use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext};
    use flint_executor::{TaskDescription, TaskFailureReason, TaskMetrics, TaskResult};
    use flint_shuffle::FetchFailure;

    use super::*;
    use crate::map_output_tracker::test_status;
    use crate::pool::Pools;
    use crate::{Placement, SchedulerBackend, StageGraph, TaskScheduler};

    /// Map task P runs on executor `exec-<P % 2>`; the result stage's partition 0 fails to
    /// fetch map output 1 (written on `exec-1`) in its first `failing_attempts` attempts.
    #[derive(Debug)]
    struct FetchFailsOnExecutorOne {
        result_stage: u32,
        failing_attempts: u32,
        /// (stage, stage attempt, partition) of every task run.
        ran: Mutex<Vec<(u32, u32, u32)>>,
    }

    #[async_trait]
    impl SchedulerBackend for FetchFailsOnExecutorOne {
        fn total_cores(&self) -> usize {
            4
        }

        async fn run_task(
            &self,
            task: TaskDescription,
            launched: crate::scheduler_backend::TaskLaunched,
            _placement: Placement,
        ) -> (String, String, TaskResult) {
            let executor = format!("exec-{}", task.partition % 2);
            launched(&executor, "127.0.0.1", crate::TaskLocality::ProcessLocal);
            self.ran
                .lock()
                .unwrap()
                .push((task.stage_id, task.stage_attempt, task.partition));
            let outcome = if task.stage_id != self.result_stage {
                Ok(TaskOutput::MapStatus(test_status(
                    task.partition,
                    &executor,
                )))
            } else if task.partition == 0 && task.stage_attempt < self.failing_attempts {
                Err(TaskFailureReason::FetchFailed(FetchFailure {
                    shuffle_id: 0,
                    map_index: 1,
                    reduce_id: 0,
                    executor_id: "exec-1".into(),
                    map_id: 1,
                    host: "127.0.0.1".into(),
                    port: 0,
                    message: "connection refused".into(),
                }))
            } else {
                Ok(TaskOutput::ResultBatches(Default::default()))
            };
            let result = TaskResult {
                outcome,
                metrics: TaskMetrics::default(),
            };
            (executor, "127.0.0.1".into(), result)
        }

        fn kill_task(&self, _task_id: u64, _reason: &str) {}

        fn stop(&self) {}

        fn remove_shuffle(&self, _shuffle_id: u32) {}
    }

    /// A grouped count over two CSV files: one shuffle with two map tasks.
    async fn grouped_count(dir: &std::path::Path) -> StageGraph {
        for (file, rows) in [("a.csv", "k\n1\n2\n3\n"), ("b.csv", "k\n4\n5\n6\n")] {
            std::fs::write(dir.join(file), rows).unwrap();
        }
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        ctx.register_csv("t", dir.to_str().unwrap(), CsvReadOptions::new())
            .await
            .unwrap();
        let plan = ctx
            .sql("SELECT k % 2 AS g, count(*) FROM t GROUP BY k % 2")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        StageGraph::cut(plan, &AtomicU32::new(0)).unwrap()
    }

    fn scheduler(backend: Arc<FetchFailsOnExecutorOne>) -> DagScheduler {
        let bus = Arc::new(ListenerBus::new());
        let tasks = Arc::new(TaskScheduler::new(
            backend,
            4,
            Arc::clone(&bus),
            Pools::new("FIFO", None).unwrap(),
        ));
        DagScheduler::new(tasks, Arc::new(MapOutputTracker::default()), bus)
            .with_reduce_locality(false)
    }

    /// A fetch failure from `exec-1` forgets every map output `exec-1` wrote: the map stage
    /// runs again for those partitions only (attempt 1), then the result stage again
    /// (attempt 1), and the job succeeds.
    #[tokio::test]
    async fn fetch_failure_resubmits_the_lost_map_outputs_only() {
        let dir = tempfile::tempdir().unwrap();
        let graph = grouped_count(dir.path()).await;
        assert_eq!(graph.shuffles.len(), 1);
        let map_tasks = graph.shuffles[&0].num_map_tasks;
        assert_eq!(map_tasks, 2, "one map task per file");
        let backend = Arc::new(FetchFailsOnExecutorOne {
            result_stage: 1,
            failing_attempts: 1,
            ran: Mutex::default(),
        });
        let dag = scheduler(Arc::clone(&backend));
        dag.run_job(&graph, "count", None, "default").await.unwrap();

        let ran = backend.ran.lock().unwrap().clone();
        let of = |stage: u32, attempt: u32| -> Vec<u32> {
            let mut partitions: Vec<u32> = ran
                .iter()
                .filter(|(s, a, _)| *s == stage && *a == attempt)
                .map(|(_, _, p)| *p)
                .collect();
            partitions.sort();
            partitions
        };
        assert_eq!(of(0, 0), vec![0, 1], "the map stage's first attempt");
        assert!(of(1, 0).contains(&0), "the result stage's first attempt");
        assert_eq!(of(0, 1), vec![1], "only exec-1's output is computed again");
        assert_eq!(
            of(1, 1),
            vec![0, 1],
            "the result stage's second attempt runs it all"
        );
        assert!(of(0, 2).is_empty() && of(1, 2).is_empty());
        assert!(dag.map_output_tracker().is_available(0));
    }

    /// A stage whose fetches fail 4 times in a row
    /// aborts the job with Spark's message (Spark's `spark.stage.maxConsecutiveAttempts`, 4).
    #[tokio::test]
    async fn four_fetch_failures_in_a_row_abort_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let graph = grouped_count(dir.path()).await;
        let backend = Arc::new(FetchFailsOnExecutorOne {
            result_stage: 1,
            failing_attempts: u32::MAX,
            ran: Mutex::default(),
        });
        let dag = scheduler(Arc::clone(&backend));
        let error = dag
            .run_job(&graph, "count", None, "default")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "Stage 1 has failed the maximum allowable number of times: 4. Most recent failure reason: fetch failed for shuffle 0 map 1: connection refused"
            ),
            "{error}"
        );
        let attempts = backend
            .ran
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, p)| *s == 1 && *p == 0)
            .count();
        assert_eq!(attempts, 4);
    }
}
