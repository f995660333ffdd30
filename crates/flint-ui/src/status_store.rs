//! The application's live state as the UI and REST API show it (Spark's `AppStatusListener`
//! writing into the `AppStatusStore`): built only from listener events, so whatever it shows
//! happened.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use flint_driver::{
    ExecutorInfo, JobResult, SparkListener, SparkListenerEvent, SqlMetricUpdate, SqlPlanEdge,
    SqlPlanNode, StageInfo, TaskEndReason, TaskInfo,
};
use flint_executor::{SqlMetricType, TaskMetrics};

use crate::format::{bytes_text, count_text, duration_text};

/// A job's status, with Spark's names (`JobExecutionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// `RUNNING`.
    Running,
    /// `SUCCEEDED`.
    Succeeded,
    /// `FAILED`.
    Failed,
}

impl JobStatus {
    /// Spark's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
        }
    }
}

/// A stage attempt's status, with Spark's names (`StageStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    /// Known to a running job, not submitted yet.
    Pending,
    /// Submitted, tasks running.
    Active,
    /// Every task finished.
    Complete,
    /// The attempt failed.
    Failed,
    /// Its job ended without needing it (its map outputs existed).
    Skipped,
}

impl StageStatus {
    /// Spark's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "PENDING",
            StageStatus::Active => "ACTIVE",
            StageStatus::Complete => "COMPLETE",
            StageStatus::Failed => "FAILED",
            StageStatus::Skipped => "SKIPPED",
        }
    }
}

/// A task attempt's status, with Spark's names (`TaskData.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// Launched, not ended.
    Running,
    /// It finished.
    Success,
    /// It failed (any reason but a kill).
    Failed,
    /// It was killed.
    Killed,
}

impl TaskStatus {
    /// Spark's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "RUNNING",
            TaskStatus::Success => "SUCCESS",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Killed => "KILLED",
        }
    }
}

/// The application itself.
#[derive(Debug, Clone, Default)]
pub struct AppSummary {
    /// `app-...` or `local-...`.
    pub id: String,
    /// `spark.app.name`.
    pub name: String,
    /// Epoch milliseconds.
    pub start_time: u64,
    /// Epoch milliseconds, once it ended.
    pub end_time: Option<u64>,
    /// The user running the driver.
    pub user: String,
}

/// One job.
#[derive(Debug, Clone)]
pub struct JobData {
    /// The job id.
    pub job_id: u32,
    /// The action and query (`collect at SELECT ...`).
    pub description: String,
    /// Epoch milliseconds.
    pub submission_time: u64,
    /// Epoch milliseconds, once it ended.
    pub completion_time: Option<u64>,
    /// Every stage of the job, skipped ones too, ascending.
    pub stage_ids: Vec<u32>,
    /// Running, succeeded or failed.
    pub status: JobStatus,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Tasks of all its stages.
    pub num_tasks: usize,
    /// Counts kept while the job runs, as Spark's `LiveJob` does: a stage shared with an
    /// earlier job counts here only for what ran during this job.
    pub counts: JobCounts,
}

/// A job's live task and stage counts.
#[derive(Debug, Clone, Default)]
pub struct JobCounts {
    /// Tasks running now.
    pub active_tasks: usize,
    /// Task attempts that succeeded during the job.
    pub completed_tasks: usize,
    /// Task attempts that failed during the job.
    pub failed_tasks: usize,
    /// Task attempts killed during the job, by reason (Spark's `killedTasksSummary`).
    pub killed_tasks: std::collections::BTreeMap<String, usize>,
    /// (stage, partition) pairs with a successful attempt.
    pub completed_indices: BTreeSet<(u32, u32)>,
    /// Stages submitted during the job.
    pub submitted_stages: BTreeSet<u32>,
    /// Stages running now.
    pub active_stages: BTreeSet<u32>,
    /// Stages that completed during the job.
    pub completed_stages: BTreeSet<u32>,
    /// Stage attempts that failed during the job.
    pub failed_stages: usize,
    /// Stages the job did not have to run (set when it ends).
    pub skipped_stages: usize,
    /// Tasks of those stages.
    pub skipped_tasks: usize,
}

/// One task attempt.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// Where and when it ran.
    pub info: TaskInfo,
    /// Running, or how it ended.
    pub status: TaskStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// What it measured (zero while running).
    pub metrics: TaskMetrics,
}

impl TaskData {
    /// Milliseconds from launch to end (to now while it runs).
    pub fn duration(&self) -> u64 {
        let end = if self.info.finish_time == 0 {
            flint_common::now_millis()
        } else {
            self.info.finish_time
        };
        end.saturating_sub(self.info.launch_time)
    }
}

/// One stage attempt.
#[derive(Debug, Clone)]
pub struct StageData {
    /// The stage as the scheduler describes it.
    pub info: StageInfo,
    /// The scheduling pool it runs in (its job's `spark.scheduler.pool`).
    pub pool: String,
    /// Its status.
    pub status: StageStatus,
    /// Its task attempts by task id.
    pub tasks: BTreeMap<u64, TaskData>,
}

impl StageData {
    /// Tasks in each status: (active, complete, failed).
    pub fn task_counts(&self) -> (usize, usize, usize) {
        let count = |status| self.tasks.values().filter(|t| t.status == status).count();
        (
            count(TaskStatus::Running),
            count(TaskStatus::Success),
            count(TaskStatus::Failed),
        )
    }

    /// Killed task attempts by reason (Spark's `killedTasksSummary`).
    pub fn killed_tasks(&self) -> std::collections::BTreeMap<String, usize> {
        let mut killed = std::collections::BTreeMap::new();
        for task in self
            .tasks
            .values()
            .filter(|t| t.status == TaskStatus::Killed)
        {
            *killed
                .entry(task.error.clone().unwrap_or_default())
                .or_default() += 1;
        }
        killed
    }

    /// Epoch milliseconds of the first task's launch.
    pub fn first_task_launched(&self) -> Option<u64> {
        self.tasks.values().map(|t| t.info.launch_time).min()
    }

    /// The finished tasks' metrics, summed.
    pub fn metrics(&self) -> TaskMetrics {
        let mut sum = TaskMetrics::default();
        for task in self.tasks.values() {
            let m = &task.metrics;
            sum.executor_run_time_ms += m.executor_run_time_ms;
            sum.executor_deserialize_time_ms += m.executor_deserialize_time_ms;
            sum.input_bytes += m.input_bytes;
            sum.input_records += m.input_records;
            sum.output_records += m.output_records;
            sum.result_size += m.result_size;
            sum.shuffle_read_bytes += m.shuffle_read_bytes;
            sum.shuffle_remote_bytes_read += m.shuffle_remote_bytes_read;
            sum.shuffle_read_records += m.shuffle_read_records;
            sum.shuffle_write_bytes += m.shuffle_write_bytes;
            sum.shuffle_write_records += m.shuffle_write_records;
            sum.disk_bytes_spilled += m.disk_bytes_spilled;
            sum.spill_count += m.spill_count;
        }
        sum
    }
}

/// One executor (or the driver's entry), with what its tasks did (Spark's `LiveExecutor`).
#[derive(Debug, Clone, Default)]
pub struct ExecutorData {
    /// `driver` or the executor's id.
    pub id: String,
    /// Where it runs and what it has.
    pub info: ExecutorInfo,
    /// Epoch milliseconds when it registered.
    pub add_time: u64,
    /// Epoch milliseconds when it was removed.
    pub remove_time: Option<u64>,
    /// Why it was removed.
    pub remove_reason: Option<String>,
    /// Bytes reserved in its memory pool at its last heartbeat.
    pub memory_used: u64,
    /// Tasks running on it now.
    pub active_tasks: usize,
    /// Task attempts that failed on it.
    pub failed_tasks: usize,
    /// Task attempts that succeeded on it.
    pub completed_tasks: usize,
    /// Milliseconds its finished tasks ran, summed.
    pub total_duration: u64,
    /// Bytes its tasks read from files.
    pub input_bytes: u64,
    /// Shuffle bytes its tasks read.
    pub shuffle_read: u64,
    /// Shuffle bytes its tasks wrote.
    pub shuffle_write: u64,
}

impl ExecutorData {
    /// Still registered.
    pub fn is_active(&self) -> bool {
        self.remove_time.is_none()
    }
}

/// The application's configuration and runtime facts (Spark's Environment tab).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Every set `spark.*` key, secrets redacted, sorted.
    pub spark_properties: Vec<(String, String)>,
    /// Facts about the driver's process and machine.
    pub system_properties: Vec<(String, String)>,
}

/// A SQL execution's status, with Spark's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlExecutionStatus {
    /// `RUNNING`.
    Running,
    /// `COMPLETED`.
    Completed,
    /// `FAILED`.
    Failed,
}

impl SqlExecutionStatus {
    /// Spark's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlExecutionStatus::Running => "RUNNING",
            SqlExecutionStatus::Completed => "COMPLETED",
            SqlExecutionStatus::Failed => "FAILED",
        }
    }
}

/// One successful task's value of a SQL metric, and where it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlTaskValue {
    /// The value (rows, bytes or nanoseconds).
    pub value: u64,
    /// The stage and attempt the task belonged to.
    pub stage: (u32, u32),
    /// The task id.
    pub task_id: u64,
}

/// One SQL metric of one plan node, with every task's value (Spark's `SQLMetric` as the SQL
/// listener aggregates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMetricValues {
    /// Its display name.
    pub name: String,
    /// How its values add up and print.
    pub metric_type: SqlMetricType,
    /// The values of the tasks that reported it.
    pub tasks: Vec<SqlTaskValue>,
}

impl SqlMetricValues {
    /// The values summed.
    pub fn total(&self) -> u64 {
        self.tasks.iter().map(|t| t.value).sum()
    }

    /// One value in the metric's unit: `1,000`, `4.7 KiB`, `12 ms`.
    pub fn value_text(&self, value: u64) -> String {
        match self.metric_type {
            SqlMetricType::Sum => count_text(value),
            SqlMetricType::Size => bytes_text(value),
            SqlMetricType::NsTiming => duration_text(value / 1_000_000),
        }
    }

    /// The value as Spark's SQL tab prints it (`SQLMetrics.stringValue`): a count as
    /// `1,000`; sizes and times as their total with the min, median and max over tasks and
    /// the task that had the max.
    pub fn display(&self) -> String {
        let text = |value: u64| self.value_text(value);
        if self.metric_type == SqlMetricType::Sum {
            return text(self.total());
        }
        let mut sorted = self.tasks.clone();
        sorted.sort_by_key(|t| t.value);
        let (Some(min), Some(max)) = (sorted.first(), sorted.last()) else {
            return text(0);
        };
        let median = sorted[sorted.len() / 2];
        format!(
            "total (min, med, max (stageId: taskId))\n{} ({}, {}, {} (stage {}.{}: task {}))",
            text(self.total()),
            text(min.value),
            text(median.value),
            text(max.value),
            max.stage.0,
            max.stage.1,
            max.task_id
        )
    }
}

/// A Spark Connect client session (a row of Spark's Connect tab).
#[derive(Debug, Clone)]
pub struct ConnectSessionData {
    /// The client's session id.
    pub session_id: String,
    /// The user the client named.
    pub user_id: String,
    /// Epoch milliseconds it started.
    pub start_time: u64,
    /// Epoch milliseconds it was closed, if it was.
    pub finish_time: Option<u64>,
    /// Epoch milliseconds of its last operation's start.
    pub last_activity: u64,
    /// Operations it ran.
    pub operations: usize,
}

/// A Spark Connect operation (`ExecutePlan`) and the jobs it ran (Spark's `ExecutionInfo`).
#[derive(Debug, Clone)]
pub struct ConnectOperationData {
    /// The client's operation id.
    pub operation_id: String,
    /// Its session.
    pub session_id: String,
    /// The user the client named.
    pub user_id: String,
    /// The tag its jobs carry.
    pub job_tag: String,
    /// What it runs: SQL text or the relation's kind.
    pub statement: String,
    /// Epoch milliseconds it started.
    pub start_time: u64,
    /// Epoch milliseconds it ended, if it did.
    pub finish_time: Option<u64>,
    /// `STARTED`, `FINISHED`, `FAILED` or `CANCELED`.
    pub state: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The jobs it ran.
    pub job_ids: BTreeSet<u32>,
}

/// One action's query (Spark's `SQLExecutionUIData` with its plan graph and metrics).
#[derive(Debug, Clone)]
pub struct SqlExecutionData {
    /// The execution id.
    pub execution_id: u64,
    /// The action and where it was called.
    pub description: String,
    /// The query's text or origin in full.
    pub details: String,
    /// The formatted physical plan.
    pub physical_plan_description: String,
    /// The plan's nodes, numbered in pre-order.
    pub nodes: Vec<SqlPlanNode>,
    /// From each child node to its parent.
    pub edges: Vec<SqlPlanEdge>,
    /// Epoch milliseconds.
    pub submission_time: u64,
    /// Epoch milliseconds, once it ended.
    pub completion_time: Option<u64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// The jobs it ran.
    pub job_ids: BTreeSet<u32>,
    /// Each node's metrics in the order tasks first reported them.
    pub metrics: BTreeMap<u32, Vec<SqlMetricValues>>,
}

impl SqlExecutionData {
    /// Running until it ends; failed if it ended with an error or a failed job.
    pub fn status(&self, jobs: &BTreeMap<u32, JobData>) -> SqlExecutionStatus {
        let job_failed = self
            .job_ids
            .iter()
            .any(|id| jobs.get(id).is_some_and(|j| j.status == JobStatus::Failed));
        match self.completion_time {
            None => SqlExecutionStatus::Running,
            Some(_) if self.error_message.is_some() || job_failed => SqlExecutionStatus::Failed,
            Some(_) => SqlExecutionStatus::Completed,
        }
    }

    /// Milliseconds from submission to the end (to now while it runs).
    pub fn duration(&self) -> u64 {
        self.completion_time
            .unwrap_or_else(flint_common::now_millis)
            .saturating_sub(self.submission_time)
    }

    fn add(&mut self, updates: &[SqlMetricUpdate], stage: (u32, u32), task_id: u64) {
        for update in updates {
            let metrics = self.metrics.entry(update.node_id).or_default();
            let index = match metrics.iter().position(|m| m.name == update.name) {
                Some(index) => index,
                None => {
                    metrics.push(SqlMetricValues {
                        name: update.name.clone(),
                        metric_type: update.metric_type,
                        tasks: vec![],
                    });
                    metrics.len() - 1
                }
            };
            metrics[index].tasks.push(SqlTaskValue {
                value: update.value,
                stage,
                task_id,
            });
        }
    }
}

/// Everything the store holds.
#[derive(Debug, Clone, Default)]
pub struct AppState {
    /// The application.
    pub app: AppSummary,
    /// Jobs by id.
    pub jobs: BTreeMap<u32, JobData>,
    /// Stage attempts by (stage id, attempt).
    pub stages: BTreeMap<(u32, u32), StageData>,
    /// Executors by id, removed ones too.
    pub executors: BTreeMap<String, ExecutorData>,
    /// The configuration it runs with.
    pub environment: Environment,
    /// SQL executions by id.
    pub sql_executions: BTreeMap<u64, SqlExecutionData>,
    /// The SQL execution each stage last ran for (Spark's SQL listener keeps the same link).
    pub stage_executions: BTreeMap<u32, u64>,
    /// Spark Connect sessions by id.
    pub connect_sessions: BTreeMap<String, ConnectSessionData>,
    /// Spark Connect operations in the order they started.
    pub connect_operations: Vec<ConnectOperationData>,
    /// Cached DataFrames by id (Spark's live RDDs of the Storage tab).
    pub rdds: BTreeMap<u32, RddData>,
    /// Pages show Spark's "(kill)" links on running jobs and stages (a live UI with
    /// `spark.ui.killEnabled`).
    pub kill_links: bool,
}

/// A cached DataFrame and where its blocks are (Spark's `RDDStorageInfo`).
#[derive(Debug, Clone)]
pub struct RddData {
    /// What the stage that stores it said about it.
    pub info: flint_driver::RddInfo,
    /// Stored blocks by partition.
    pub blocks: BTreeMap<u32, RddBlock>,
}

/// One stored block of a cached DataFrame.
#[derive(Debug, Clone)]
pub struct RddBlock {
    /// `rdd_<id>_<partition>`.
    pub block_id: String,
    /// The executor holding it.
    pub executor_id: String,
    /// `host:port` of that executor's block manager.
    pub host_port: String,
    /// Bytes held in memory.
    pub memory_size: u64,
    /// Bytes held on disk.
    pub disk_size: u64,
}

impl RddData {
    /// Bytes of its blocks in memory.
    pub fn memory_used(&self) -> u64 {
        self.blocks.values().map(|b| b.memory_size).sum()
    }

    /// Bytes of its blocks on disk.
    pub fn disk_used(&self) -> u64 {
        self.blocks.values().map(|b| b.disk_size).sum()
    }
}

/// Spark Connect sessions and operations the UI keeps once ended (Spark's defaults of
/// `spark.sql.connect.ui.retainedSessions` and `spark.sql.connect.ui.retainedStatements`):
/// a long-lived Connect server's UI does not grow without end.
const RETAINED_CONNECT_ENTRIES: usize = 200;

impl AppState {
    /// Forgets the oldest ended Connect sessions and operations beyond what the UI retains.
    fn trim_connect(&mut self) {
        while self.connect_operations.len() > RETAINED_CONNECT_ENTRIES {
            match self
                .connect_operations
                .iter()
                .position(|operation| operation.finish_time.is_some())
            {
                Some(index) => {
                    self.connect_operations.remove(index);
                }
                None => break,
            }
        }
        while self.connect_sessions.len() > RETAINED_CONNECT_ENTRIES {
            let oldest_closed = self
                .connect_sessions
                .values()
                .filter(|session| session.finish_time.is_some())
                .min_by_key(|session| session.start_time)
                .map(|session| session.session_id.clone());
            match oldest_closed {
                Some(id) => {
                    self.connect_sessions.remove(&id);
                }
                None => break,
            }
        }
    }

    fn connect_operation(&mut self, job_tag: &str) -> Option<&mut ConnectOperationData> {
        self.connect_operations
            .iter_mut()
            .rev()
            .find(|operation| operation.job_tag == job_tag)
    }
}

impl AppState {
    /// Executors as Spark lists them: the driver first, then by number.
    pub fn executors_in_order(&self) -> Vec<&ExecutorData> {
        let mut executors: Vec<&ExecutorData> = self.executors.values().collect();
        executors.sort_by_key(|e| (e.id != "driver", e.id.parse::<u64>().ok(), e.id.clone()));
        executors
    }
}

/// A listener that keeps [`AppState`] current; readers take snapshots. The state is shared
/// copy-on-write: a snapshot is a reference count, and an event copies the state only while a
/// reader still holds an older snapshot.
#[derive(Debug)]
pub struct AppStatusStore {
    state: Mutex<Arc<AppState>>,
    /// Dynamic allocation's figures, when the application allocates dynamically.
    allocation:
        std::sync::OnceLock<Arc<flint_driver::executor_allocation_manager::AllocationGauges>>,
}

impl Default for AppStatusStore {
    fn default() -> Self {
        Self::new()
    }
}

impl AppStatusStore {
    /// An empty store, filled by the events it hears.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(Arc::default()),
            allocation: std::sync::OnceLock::new(),
        }
    }

    /// Shows dynamic allocation's figures on `/metrics` from now on.
    pub fn set_allocation_gauges(
        &self,
        gauges: Arc<flint_driver::executor_allocation_manager::AllocationGauges>,
    ) {
        let _ = self.allocation.set(gauges);
    }

    /// Dynamic allocation's figures, when it runs.
    pub fn allocation_gauges(
        &self,
    ) -> Option<&flint_driver::executor_allocation_manager::AllocationGauges> {
        self.allocation.get().map(Arc::as_ref)
    }

    /// The current state, as of now.
    pub fn snapshot(&self) -> Arc<AppState> {
        Arc::clone(&self.lock())
    }

    /// Makes the pages show kill links from now on.
    pub fn show_kill_links(&self) {
        Arc::make_mut(&mut self.lock()).kill_links = true;
    }

    /// The final state, once no more events come (a replayed log's).
    pub fn into_state(self) -> Arc<AppState> {
        self.state.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, Arc<AppState>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SparkListener for AppStatusStore {
    fn on_event(&self, event: &SparkListenerEvent) {
        let mut guard = self.lock();
        let state = Arc::make_mut(&mut guard);
        match event {
            SparkListenerEvent::ApplicationStart {
                app_id,
                app_name,
                time,
                user,
            } => {
                state.app.id = app_id.clone();
                state.app.name = app_name.clone();
                state.app.start_time = *time;
                state.app.user = user.clone();
            }
            SparkListenerEvent::ApplicationEnd { time } => state.app.end_time = Some(*time),
            SparkListenerEvent::EnvironmentUpdate {
                spark_properties,
                system_properties,
            } => {
                state.environment = Environment {
                    spark_properties: spark_properties.clone(),
                    system_properties: system_properties.clone(),
                };
            }
            SparkListenerEvent::ExecutorAdded {
                executor_id,
                time,
                info,
            } => {
                state.executors.insert(
                    executor_id.clone(),
                    ExecutorData {
                        id: executor_id.clone(),
                        info: info.clone(),
                        add_time: *time,
                        ..ExecutorData::default()
                    },
                );
            }
            SparkListenerEvent::ExecutorRemoved {
                executor_id,
                time,
                reason,
            } => {
                // Cached blocks in its memory went with it; it is not asked for any others.
                for rdd in state.rdds.values_mut() {
                    rdd.blocks
                        .retain(|_, block| block.executor_id != *executor_id);
                }
                if let Some(executor) = state.executors.get_mut(executor_id) {
                    executor.remove_time = Some(*time);
                    executor.remove_reason = Some(reason.clone());
                    executor.active_tasks = 0;
                }
            }
            SparkListenerEvent::ExecutorMetricsUpdate {
                executor_id,
                memory_used,
            } => {
                if let Some(executor) = state.executors.get_mut(executor_id) {
                    executor.memory_used = *memory_used;
                }
            }
            SparkListenerEvent::JobStart {
                job_id,
                time,
                stage_infos,
                description,
                sql_execution_id,
                job_tags,
                pool,
            } => {
                for tag in job_tags {
                    if let Some(operation) = state.connect_operation(tag) {
                        operation.job_ids.insert(*job_id);
                    }
                }
                if let Some(execution) =
                    sql_execution_id.and_then(|id| state.sql_executions.get_mut(&id))
                {
                    execution.job_ids.insert(*job_id);
                    for info in stage_infos {
                        state
                            .stage_executions
                            .insert(info.stage_id, execution.execution_id);
                    }
                }
                let mut stage_ids: Vec<u32> = stage_infos.iter().map(|s| s.stage_id).collect();
                stage_ids.sort_unstable();
                stage_ids.dedup();
                let mut num_tasks = BTreeMap::new();
                for info in stage_infos {
                    num_tasks.insert(info.stage_id, info.num_tasks);
                    state
                        .stages
                        .entry((info.stage_id, info.attempt))
                        .or_insert_with(|| StageData {
                            info: info.clone(),
                            pool: pool.clone(),
                            status: StageStatus::Pending,
                            tasks: BTreeMap::new(),
                        });
                }
                state.jobs.insert(
                    *job_id,
                    JobData {
                        job_id: *job_id,
                        description: description.clone(),
                        submission_time: *time,
                        completion_time: None,
                        stage_ids,
                        status: JobStatus::Running,
                        failure_reason: None,
                        num_tasks: num_tasks.values().sum(),
                        counts: JobCounts::default(),
                    },
                );
            }
            SparkListenerEvent::ConnectSessionStarted {
                session_id,
                user_id,
                time,
            } => {
                state.connect_sessions.insert(
                    session_id.clone(),
                    ConnectSessionData {
                        session_id: session_id.clone(),
                        user_id: user_id.clone(),
                        start_time: *time,
                        finish_time: None,
                        last_activity: *time,
                        operations: 0,
                    },
                );
            }
            SparkListenerEvent::ConnectSessionClosed { session_id, time } => {
                if let Some(session) = state.connect_sessions.get_mut(session_id) {
                    session.finish_time = Some(*time);
                }
                state.trim_connect();
            }
            SparkListenerEvent::ConnectOperationStarted {
                operation_id,
                session_id,
                user_id,
                job_tag,
                statement,
                time,
            } => {
                if let Some(session) = state.connect_sessions.get_mut(session_id) {
                    session.last_activity = *time;
                    session.operations += 1;
                }
                state.connect_operations.push(ConnectOperationData {
                    operation_id: operation_id.clone(),
                    session_id: session_id.clone(),
                    user_id: user_id.clone(),
                    job_tag: job_tag.clone(),
                    statement: statement.clone(),
                    start_time: *time,
                    finish_time: None,
                    state: "STARTED".into(),
                    error: None,
                    job_ids: BTreeSet::new(),
                });
            }
            SparkListenerEvent::ConnectOperationEnded {
                job_tag,
                state: end_state,
                error,
                time,
                ..
            } => {
                if let Some(operation) = state.connect_operation(job_tag) {
                    operation.finish_time = Some(*time);
                    operation.state = end_state.clone();
                    operation.error = error.clone();
                }
                state.trim_connect();
            }
            SparkListenerEvent::JobEnd {
                job_id,
                time,
                result,
            } => {
                let Some(job) = state.jobs.get_mut(job_id) else {
                    return;
                };
                job.completion_time = Some(*time);
                match result {
                    JobResult::Succeeded => job.status = JobStatus::Succeeded,
                    JobResult::Failed(reason) => {
                        job.status = JobStatus::Failed;
                        job.failure_reason = Some(reason.clone());
                    }
                }
                let stage_ids = job.stage_ids.clone();
                let skipped: Vec<u32> = stage_ids
                    .iter()
                    .filter(|id| !job.counts.submitted_stages.contains(id))
                    .copied()
                    .collect();
                let skipped_tasks: usize = skipped
                    .iter()
                    .filter_map(|id| {
                        state
                            .stages
                            .range((*id, 0)..=(*id, u32::MAX))
                            .next()
                            .map(|(_, s)| s.info.num_tasks)
                    })
                    .sum();
                if let Some(job) = state.jobs.get_mut(job_id) {
                    job.counts.skipped_stages = skipped.len();
                    job.counts.skipped_tasks = skipped_tasks;
                    job.counts.active_stages.clear();
                }
                // Stages that never ran at all are SKIPPED (Spark marks them at job end).
                for stage in state.stages.values_mut() {
                    if stage_ids.contains(&stage.info.stage_id)
                        && stage.status == StageStatus::Pending
                    {
                        stage.status = StageStatus::Skipped;
                    }
                }
            }
            SparkListenerEvent::BlockUpdated {
                executor_id,
                host_port,
                block_id,
                storage_level,
                memory_size,
                disk_size,
            } => {
                let Some((rdd_id, partition)) = block_id
                    .strip_prefix("rdd_")
                    .and_then(|rest| rest.split_once('_'))
                    .and_then(|(id, p)| Some((id.parse::<u32>().ok()?, p.parse::<u32>().ok()?)))
                else {
                    return;
                };
                let Some(rdd) = state.rdds.get_mut(&rdd_id) else {
                    return;
                };
                // An executor's storage memory follows its blocks (Spark's `memoryUsed`); its
                // heartbeats say the same in a cluster.
                let before = rdd
                    .blocks
                    .get(&partition)
                    .filter(|block| block.executor_id == *executor_id)
                    .map_or(0, |block| block.memory_size);
                if let Some(executor) = state.executors.get_mut(executor_id) {
                    executor.memory_used =
                        (executor.memory_used + memory_size).saturating_sub(before);
                }
                if *storage_level == flint_driver::cache::StorageLevel::NONE {
                    rdd.blocks.remove(&partition);
                } else {
                    rdd.blocks.insert(
                        partition,
                        RddBlock {
                            block_id: block_id.clone(),
                            executor_id: executor_id.clone(),
                            host_port: host_port.clone(),
                            memory_size: *memory_size,
                            disk_size: *disk_size,
                        },
                    );
                }
            }
            SparkListenerEvent::UnpersistRdd { rdd_id } => {
                if let Some(rdd) = state.rdds.remove(rdd_id) {
                    for block in rdd.blocks.values() {
                        if let Some(executor) = state.executors.get_mut(&block.executor_id) {
                            executor.memory_used =
                                executor.memory_used.saturating_sub(block.memory_size);
                        }
                    }
                }
            }
            SparkListenerEvent::StageSubmitted { stage_info } => {
                for rdd in &stage_info.rdd_infos {
                    state.rdds.entry(rdd.id).or_insert_with(|| RddData {
                        info: rdd.clone(),
                        blocks: BTreeMap::new(),
                    });
                }
                let key = (stage_info.stage_id, stage_info.attempt);
                // A retried attempt runs in the pool of the stage's first.
                let pool = state
                    .stages
                    .get(&(stage_info.stage_id, 0))
                    .map(|first| first.pool.clone())
                    .unwrap_or_else(|| flint_driver::pool::DEFAULT_POOL.to_string());
                let stage = state.stages.entry(key).or_insert_with(|| StageData {
                    info: stage_info.clone(),
                    pool,
                    status: StageStatus::Active,
                    tasks: BTreeMap::new(),
                });
                stage.info = stage_info.clone();
                stage.status = StageStatus::Active;
                for job in running_jobs_of(state, stage_info.stage_id) {
                    job.counts.submitted_stages.insert(stage_info.stage_id);
                    job.counts.active_stages.insert(stage_info.stage_id);
                }
            }
            SparkListenerEvent::StageCompleted { stage_info } => {
                if let Some(stage) = state
                    .stages
                    .get_mut(&(stage_info.stage_id, stage_info.attempt))
                {
                    stage.info = stage_info.clone();
                    stage.status = if stage_info.failure_reason.is_some() {
                        StageStatus::Failed
                    } else {
                        StageStatus::Complete
                    };
                }
                let failed = stage_info.failure_reason.is_some();
                for job in running_jobs_of(state, stage_info.stage_id) {
                    job.counts.active_stages.remove(&stage_info.stage_id);
                    if failed {
                        job.counts.failed_stages += 1;
                    } else {
                        job.counts.completed_stages.insert(stage_info.stage_id);
                    }
                }
            }
            SparkListenerEvent::TaskStart {
                stage_id,
                stage_attempt,
                task_info,
            } => {
                if let Some(stage) = state.stages.get_mut(&(*stage_id, *stage_attempt)) {
                    stage.tasks.insert(
                        task_info.task_id,
                        TaskData {
                            info: task_info.clone(),
                            status: TaskStatus::Running,
                            error: None,
                            metrics: TaskMetrics::default(),
                        },
                    );
                }
                for job in running_jobs_of(state, *stage_id) {
                    job.counts.active_tasks += 1;
                }
                if let Some(executor) = state.executors.get_mut(&task_info.executor_id) {
                    executor.active_tasks += 1;
                }
            }
            SparkListenerEvent::TaskEnd {
                stage_id,
                stage_attempt,
                task_info,
                reason,
                metrics,
                sql_metrics,
            } => {
                if *reason == TaskEndReason::Success
                    && !sql_metrics.is_empty()
                    && let Some(execution) = state
                        .stage_executions
                        .get(stage_id)
                        .and_then(|id| state.sql_executions.get_mut(id))
                {
                    execution.add(sql_metrics, (*stage_id, *stage_attempt), task_info.task_id);
                }
                if let Some(stage) = state.stages.get_mut(&(*stage_id, *stage_attempt)) {
                    // As Spark's status listener: a killed task's error is its kill reason,
                    // a failed one's is the reason's `toErrorString`.
                    let (status, error) = match reason {
                        TaskEndReason::Success => (TaskStatus::Success, None),
                        TaskEndReason::TaskKilled { reason } => {
                            (TaskStatus::Killed, Some(reason.clone()))
                        }
                        failed => (TaskStatus::Failed, failed.error_string()),
                    };
                    stage.tasks.insert(
                        task_info.task_id,
                        TaskData {
                            info: task_info.clone(),
                            status,
                            error,
                            metrics: metrics.clone(),
                        },
                    );
                }
                let succeeded = *reason == TaskEndReason::Success;
                let killed = match reason {
                    TaskEndReason::TaskKilled { reason } => Some(reason),
                    _ => None,
                };
                if let Some(executor) = state.executors.get_mut(&task_info.executor_id) {
                    executor.active_tasks = executor.active_tasks.saturating_sub(1);
                    // As Spark's status listener: a killed task is neither completed nor failed.
                    if succeeded {
                        executor.completed_tasks += 1;
                    } else if killed.is_none() {
                        executor.failed_tasks += 1;
                    }
                    executor.total_duration +=
                        task_info.finish_time.saturating_sub(task_info.launch_time);
                    executor.input_bytes += metrics.input_bytes;
                    executor.shuffle_read += metrics.shuffle_read_bytes;
                    executor.shuffle_write += metrics.shuffle_write_bytes;
                }
                for job in running_jobs_of(state, *stage_id) {
                    job.counts.active_tasks = job.counts.active_tasks.saturating_sub(1);
                    if succeeded {
                        job.counts.completed_tasks += 1;
                        job.counts
                            .completed_indices
                            .insert((*stage_id, task_info.index));
                    } else if let Some(reason) = killed {
                        *job.counts.killed_tasks.entry(reason.clone()).or_default() += 1;
                    } else {
                        job.counts.failed_tasks += 1;
                    }
                }
            }
            SparkListenerEvent::SqlExecutionStart {
                execution_id,
                description,
                details,
                physical_plan_description,
                plan,
                time,
            } => {
                let (nodes, edges) = plan.graph();
                state.sql_executions.insert(
                    *execution_id,
                    SqlExecutionData {
                        execution_id: *execution_id,
                        description: description.clone(),
                        details: details.clone(),
                        physical_plan_description: physical_plan_description.clone(),
                        nodes,
                        edges,
                        submission_time: *time,
                        completion_time: None,
                        error_message: None,
                        job_ids: BTreeSet::new(),
                        metrics: BTreeMap::new(),
                    },
                );
            }
            SparkListenerEvent::SqlExecutionEnd {
                execution_id,
                time,
                error_message,
            } => {
                if let Some(execution) = state.sql_executions.get_mut(execution_id) {
                    execution.completion_time = Some(*time);
                    execution.error_message = error_message.clone();
                }
            }
        }
    }
}

/// The running jobs that include `stage_id`.
fn running_jobs_of(state: &mut AppState, stage_id: u32) -> impl Iterator<Item = &mut JobData> {
    state
        .jobs
        .values_mut()
        .filter(move |j| j.status == JobStatus::Running && j.stage_ids.contains(&stage_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Connect server's UI keeps the newest 200 ended sessions and operations, and never
    /// forgets one still running.
    #[test]
    fn connect_sessions_and_operations_are_retained_as_spark_does() {
        let store = AppStatusStore::new();
        for i in 0..250u64 {
            let session_id = format!("session-{i}");
            let job_tag = format!("tag-{i}");
            store.on_event(&SparkListenerEvent::ConnectSessionStarted {
                session_id: session_id.clone(),
                user_id: "ann".into(),
                time: i,
            });
            store.on_event(&SparkListenerEvent::ConnectOperationStarted {
                operation_id: format!("op-{i}"),
                session_id: session_id.clone(),
                user_id: "ann".into(),
                job_tag: job_tag.clone(),
                statement: "collect".into(),
                time: i,
            });
            // The first session and operation stay open.
            if i > 0 {
                store.on_event(&SparkListenerEvent::ConnectOperationEnded {
                    operation_id: format!("op-{i}"),
                    job_tag,
                    state: "FINISHED".into(),
                    error: None,
                    time: i,
                });
                store.on_event(&SparkListenerEvent::ConnectSessionClosed {
                    session_id,
                    time: i,
                });
            }
        }
        let state = store.snapshot();
        assert_eq!(state.connect_sessions.len(), RETAINED_CONNECT_ENTRIES);
        assert_eq!(state.connect_operations.len(), RETAINED_CONNECT_ENTRIES);
        assert!(state.connect_sessions.contains_key("session-0"));
        assert!(!state.connect_sessions.contains_key("session-50"));
        assert!(state.connect_sessions.contains_key("session-51"));
        assert_eq!(state.connect_operations[0].operation_id, "op-0");
        assert_eq!(state.connect_operations[1].operation_id, "op-51");
    }
}
