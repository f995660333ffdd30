use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use flint_executor::TaskMetrics;

use crate::sql_plan::{SqlMetricUpdate, SqlPlanInfo};

/// A stage as listeners see it (Spark's `StageInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    /// Application-wide stage id.
    pub stage_id: u32,
    /// The attempt (0 first, more after fetch failures).
    pub attempt: u32,
    /// `ShuffleMapStage` or `ResultStage` plus what it runs, e.g. `ShuffleMapStage 0 (AggregateExec)`.
    pub name: String,
    /// Tasks of the whole stage (its partitions).
    pub num_tasks: usize,
    /// Stages this one reads.
    pub parent_ids: Vec<u32>,
    /// Epoch milliseconds when the attempt was submitted.
    pub submission_time: Option<u64>,
    /// Epoch milliseconds when the attempt ended.
    pub completion_time: Option<u64>,
    /// Why the attempt failed, if it did.
    pub failure_reason: Option<String>,
    /// The cached data the stage stores (Spark's `rddInfos`, of which only persisted ones
    /// matter to listeners).
    pub rdd_infos: Vec<RddInfo>,
}

/// A cached DataFrame as listeners see it (Spark's `RDDInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct RddInfo {
    /// The cache's id (its blocks are `rdd_<id>_<partition>`).
    pub id: u32,
    /// What was cached.
    pub name: String,
    /// Its partitions.
    pub num_partitions: usize,
    /// How its blocks are kept.
    pub storage_level: crate::cache::StorageLevel,
}

/// One task attempt as listeners see it (Spark's `TaskInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// Application-wide task id (TID).
    pub task_id: u64,
    /// The partition within the stage.
    pub index: u32,
    /// The attempt of this partition.
    pub attempt: u32,
    /// Epoch milliseconds at launch.
    pub launch_time: u64,
    /// Epoch milliseconds at the end, 0 while running.
    pub finish_time: u64,
    /// The executor that ran it.
    pub executor_id: String,
    /// The executor's host.
    pub host: String,
    /// A speculative copy of a straggling attempt (`spark.speculation`).
    pub speculative: bool,
    /// How close to its input it ran.
    pub locality: TaskLocality,
}

/// How close to its input a task ran (Spark's `TaskLocality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskLocality {
    /// On the executor holding its input blocks.
    ProcessLocal,
    /// On another executor of the host holding them.
    NodeLocal,
    /// It had no preference.
    #[default]
    NoPref,
    /// Elsewhere, after the locality wait.
    Any,
}

impl TaskLocality {
    /// Spark's name (`PROCESS_LOCAL`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskLocality::ProcessLocal => "PROCESS_LOCAL",
            TaskLocality::NodeLocal => "NODE_LOCAL",
            TaskLocality::NoPref => "NO_PREF",
            TaskLocality::Any => "ANY",
        }
    }

    /// The level Spark names `name`; unknown names are `ANY`.
    pub fn parse(name: &str) -> TaskLocality {
        match name {
            "PROCESS_LOCAL" => TaskLocality::ProcessLocal,
            "NODE_LOCAL" => TaskLocality::NodeLocal,
            "NO_PREF" => TaskLocality::NoPref,
            _ => TaskLocality::Any,
        }
    }
}

/// How a task ended (Spark's `TaskEndReason`), for listeners: each failure keeps its kind
/// and Spark's fields, so the event log, the REST API and the UI show them as Spark does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEndReason {
    /// The task finished.
    Success,
    /// A shuffle block could not be read (Spark's `FetchFailed`): the map stage that wrote
    /// it runs again.
    FetchFailed {
        /// The executor that wrote the block, and where it was asked from (Spark's
        /// `BlockManagerId`).
        executor_id: String,
        host: String,
        port: u16,
        shuffle_id: u32,
        /// The attempt id of the map output.
        map_id: u64,
        map_index: u32,
        reduce_id: u32,
        message: String,
    },
    /// The task's code failed (Spark's `ExceptionFailure`): a bad value, a function's error,
    /// memory the task could not get.
    ExceptionFailure {
        /// What failed, as Spark's exception class (`flint.TaskFailure`,
        /// `org.apache.spark.memory.SparkOutOfMemoryError`).
        class_name: String,
        description: String,
    },
    /// The executor running the task went away (Spark's `ExecutorLostFailure`).
    ExecutorLostFailure {
        executor_id: String,
        /// The task made it exit (it counts towards `spark.task.maxFailures` then).
        exit_caused_by_app: bool,
        reason: String,
    },
    /// The task was killed (its job was cancelled, its stage ended without it, or another
    /// attempt won) (Spark's `TaskKilled`).
    TaskKilled { reason: String },
}

impl TaskEndReason {
    /// The class name of an ordinary task error.
    pub const TASK_FAILURE_CLASS: &str = "flint.TaskFailure";
    /// The class name of a task that could not get the memory it needed (Spark's).
    pub const OUT_OF_MEMORY_CLASS: &str = "org.apache.spark.memory.SparkOutOfMemoryError";

    /// Whether the failure counts towards `spark.task.maxFailures` (Spark's
    /// `countTowardsTaskFailures`).
    pub fn counts_towards_failures(&self) -> bool {
        match self {
            TaskEndReason::ExceptionFailure { .. } => true,
            TaskEndReason::ExecutorLostFailure {
                exit_caused_by_app, ..
            } => *exit_caused_by_app,
            TaskEndReason::Success
            | TaskEndReason::FetchFailed { .. }
            | TaskEndReason::TaskKilled { .. } => false,
        }
    }

    /// Spark's `toErrorString`, as the REST API's `errorMessage` and the stage page show it;
    /// `None` for a success.
    pub fn error_string(&self) -> Option<String> {
        Some(match self {
            TaskEndReason::Success => return None,
            TaskEndReason::FetchFailed {
                executor_id,
                host,
                port,
                shuffle_id,
                map_id,
                map_index,
                reduce_id,
                message,
            } => format!(
                "FetchFailed(BlockManagerId({executor_id}, {host}, {port}, None), shuffleId={shuffle_id}, mapIndex={map_index}, mapId={map_id}, reduceId={reduce_id}, message=\n{message}\n)"
            ),
            TaskEndReason::ExceptionFailure {
                class_name,
                description,
            } => format!("{class_name}: {description}"),
            TaskEndReason::ExecutorLostFailure {
                executor_id,
                exit_caused_by_app,
                reason,
            } => format!(
                "ExecutorLostFailure (executor {executor_id} exited {}) Reason: {reason}",
                if *exit_caused_by_app {
                    "caused by one of the running tasks"
                } else {
                    "unrelated to the running tasks"
                }
            ),
            TaskEndReason::TaskKilled { reason } => format!("TaskKilled ({reason})"),
        })
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    /// `JobSucceeded`.
    Succeeded,
    /// `JobFailed` with the reason.
    Failed(String),
}

/// An executor as listeners see it (Spark's `ExecutorInfo` plus its block manager's address).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutorInfo {
    /// The host it runs on.
    pub host: String,
    /// `host:port` of its block manager (its block transfer service), `host` alone when it
    /// serves no blocks over the network (local mode).
    pub host_port: String,
    /// Its task slots.
    pub total_cores: usize,
    /// Bytes of its memory pool (Spark's `maxMemory`).
    pub max_memory: u64,
    /// Links to its `stdout` and `stderr` through its worker's UI, when it has a worker.
    pub log_urls: BTreeMap<String, String>,
}

/// Everything the scheduler tells listeners (Spark's `SparkListenerEvent`).
#[derive(Debug, Clone)]
pub enum SparkListenerEvent {
    /// The application started.
    ApplicationStart {
        app_id: String,
        app_name: String,
        time: u64,
        /// Who runs the driver (Spark's `sparkUser`).
        user: String,
    },
    /// The application's effective configuration, secrets already redacted, and facts about
    /// the driver's runtime (Spark's `SparkListenerEnvironmentUpdate`).
    EnvironmentUpdate {
        /// `(name, value)` pairs of every set `spark.*` key, sorted.
        spark_properties: Vec<(String, String)>,
        /// `(name, value)` facts about the driver's process and machine.
        system_properties: Vec<(String, String)>,
    },
    /// An executor registered (Spark's `SparkListenerExecutorAdded`); the driver's own entry
    /// is `driver`.
    ExecutorAdded {
        executor_id: String,
        time: u64,
        info: ExecutorInfo,
    },
    /// An executor was lost or removed.
    ExecutorRemoved {
        executor_id: String,
        time: u64,
        reason: String,
    },
    /// A block was stored or dropped in an executor's block manager (Spark's
    /// `SparkListenerBlockUpdated`; a level of `NONE` means dropped). Not written to the event
    /// log, as Spark's default `spark.eventLog.logBlockUpdates.enabled=false`.
    BlockUpdated {
        executor_id: String,
        /// `host:port` of the executor's block manager.
        host_port: String,
        /// `rdd_<id>_<partition>`.
        block_id: String,
        storage_level: crate::cache::StorageLevel,
        memory_size: u64,
        disk_size: u64,
    },
    /// A cached DataFrame was dropped (Spark's `SparkListenerUnpersistRDD`).
    UnpersistRdd { rdd_id: u32 },
    /// An executor's heartbeat figures (Spark's `SparkListenerExecutorMetricsUpdate`; not
    /// written to the event log, as in Spark).
    ExecutorMetricsUpdate {
        executor_id: String,
        /// Bytes reserved in its memory pool now.
        memory_used: u64,
    },
    /// The application ended.
    ApplicationEnd { time: u64 },
    /// A job started, with every stage it involves (skipped ones too).
    JobStart {
        job_id: u32,
        time: u64,
        stage_infos: Vec<StageInfo>,
        description: String,
        /// The SQL execution (query) the job runs for (Spark's `spark.sql.execution.id`
        /// job property).
        sql_execution_id: Option<u64>,
        /// The job's tags (Spark's `spark.job.tags` job property), e.g. the Spark Connect
        /// operation it runs for.
        job_tags: Vec<String>,
        /// The scheduling pool the job's stages run in (Spark's `spark.scheduler.pool`).
        pool: String,
    },
    /// A Spark Connect client session started (Spark's `SparkListenerConnectSessionStarted`).
    ConnectSessionStarted {
        session_id: String,
        user_id: String,
        time: u64,
    },
    /// A Spark Connect session was closed (released or expired).
    ConnectSessionClosed { session_id: String, time: u64 },
    /// A Spark Connect operation (`ExecutePlan`) started; its jobs carry `job_tag`.
    ConnectOperationStarted {
        operation_id: String,
        session_id: String,
        user_id: String,
        job_tag: String,
        statement: String,
        time: u64,
    },
    /// A Spark Connect operation ended: `FINISHED`, `FAILED` (with the error) or `CANCELED`.
    ConnectOperationEnded {
        operation_id: String,
        job_tag: String,
        state: String,
        error: Option<String>,
        time: u64,
    },
    /// A job ended.
    JobEnd {
        job_id: u32,
        time: u64,
        result: JobResult,
    },
    /// A stage attempt was submitted.
    StageSubmitted { stage_info: StageInfo },
    /// A stage attempt completed or failed.
    StageCompleted { stage_info: StageInfo },
    /// A task attempt started.
    TaskStart {
        stage_id: u32,
        stage_attempt: u32,
        task_info: TaskInfo,
    },
    /// A task attempt ended.
    TaskEnd {
        stage_id: u32,
        stage_attempt: u32,
        task_info: TaskInfo,
        reason: TaskEndReason,
        metrics: TaskMetrics,
        /// The task's values of its query's per-operator metrics (what Spark sends as SQL
        /// metric accumulator updates).
        sql_metrics: Vec<SqlMetricUpdate>,
    },
    /// An action's query started (Spark's `SparkListenerSQLExecutionStart`); its jobs follow.
    SqlExecutionStart {
        execution_id: u64,
        /// The action and where it was called, as jobs are described.
        description: String,
        /// The query's text or the DataFrame's origin, in full.
        details: String,
        /// The physical plan as formatted `EXPLAIN` prints it.
        physical_plan_description: String,
        /// The plan's nodes, numbered in pre-order.
        plan: SqlPlanInfo,
        time: u64,
    },
    /// An action's query ended (Spark's `SparkListenerSQLExecutionEnd`).
    SqlExecutionEnd {
        execution_id: u64,
        time: u64,
        /// Why it failed, if it did.
        error_message: Option<String>,
    },
}

/// Receives listener events on the bus's thread (Spark's `SparkListener`).
pub trait SparkListener: Send + Sync {
    /// Handles one event; must not block for long.
    fn on_event(&self, event: &SparkListenerEvent);
}

enum Message {
    Event(Box<SparkListenerEvent>),
    Flush(mpsc::Sender<()>),
}

/// Delivers events to listeners in order on one thread, so a slow listener never slows the
/// scheduler (Spark's `LiveListenerBus`). Events posted before [`ListenerBus::start`] wait in
/// the queue, so listeners added at start-up miss nothing.
pub struct ListenerBus {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    /// The queue's receiving end until the dispatch thread takes it.
    receiver: Mutex<Option<mpsc::Receiver<Message>>>,
    listeners: Arc<RwLock<Vec<Arc<dyn SparkListener>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ListenerBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerBus").finish_non_exhaustive()
    }
}

impl Default for ListenerBus {
    fn default() -> Self {
        Self::new()
    }
}

impl ListenerBus {
    /// A bus that queues events until [`ListenerBus::start`].
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::channel::<Message>();
        Self {
            sender: Mutex::new(Some(sender)),
            receiver: Mutex::new(Some(receiver)),
            listeners: Arc::default(),
            thread: Mutex::new(None),
        }
    }

    /// Starts delivering events, queued ones first, on the bus's thread; later calls do
    /// nothing.
    pub fn start(&self) {
        let Some(receiver) = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let dispatch_listeners = Arc::clone(&self.listeners);
        let thread = std::thread::Builder::new()
            .name("spark-listener-group".into())
            .spawn(move || {
                for message in receiver {
                    match message {
                        Message::Event(event) => {
                            let listeners = dispatch_listeners
                                .read()
                                .unwrap_or_else(|p| p.into_inner())
                                .clone();
                            for listener in listeners {
                                listener.on_event(&event);
                            }
                        }
                        Message::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .ok();
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = thread;
    }

    /// Adds a listener for all later events.
    pub fn add_listener(&self, listener: Arc<dyn SparkListener>) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Queues an event; dropped silently after [`ListenerBus::stop`].
    pub fn post(&self, event: SparkListenerEvent) {
        if let Some(sender) = self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = sender.send(Message::Event(Box::new(event)));
        }
    }

    /// Blocks until every event posted so far has been delivered (Spark's `waitUntilEmpty`);
    /// returns at once if the bus was never started.
    pub fn wait_until_empty(&self) {
        if self
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return;
        }
        let (done, wait) = mpsc::channel();
        let sent = match self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(sender) => sender.send(Message::Flush(done)).is_ok(),
            None => false,
        };
        if sent {
            let _ = wait.recv();
        }
    }

    /// Delivers the remaining events and stops the thread.
    pub fn stop(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TaskEndReason;

    /// Each failure kind reads as Spark's `toErrorString`, and only errors of the task's own
    /// code (or an exit it caused) count towards `spark.task.maxFailures`.
    #[test]
    fn failures_read_and_count_as_in_spark() {
        let fetch = TaskEndReason::FetchFailed {
            executor_id: "1".into(),
            host: "h".into(),
            port: 7337,
            shuffle_id: 0,
            map_id: 5,
            map_index: 2,
            reduce_id: 3,
            message: "gone".into(),
        };
        assert_eq!(
            fetch.error_string().unwrap(),
            "FetchFailed(BlockManagerId(1, h, 7337, None), shuffleId=0, mapIndex=2, mapId=5, reduceId=3, message=\ngone\n)"
        );
        let lost = TaskEndReason::ExecutorLostFailure {
            executor_id: "4".into(),
            exit_caused_by_app: false,
            reason: "worker lost".into(),
        };
        assert_eq!(
            lost.error_string().unwrap(),
            "ExecutorLostFailure (executor 4 exited unrelated to the running tasks) Reason: worker lost"
        );
        let error = TaskEndReason::ExceptionFailure {
            class_name: TaskEndReason::TASK_FAILURE_CLASS.into(),
            description: "division by zero".into(),
        };
        assert_eq!(
            error.error_string().unwrap(),
            "flint.TaskFailure: division by zero"
        );
        let killed = TaskEndReason::TaskKilled {
            reason: "stage cancelled".into(),
        };
        assert_eq!(
            killed.error_string().unwrap(),
            "TaskKilled (stage cancelled)"
        );
        assert_eq!(TaskEndReason::Success.error_string(), None);
        let counted: Vec<bool> = [fetch, lost, error, killed]
            .iter()
            .map(TaskEndReason::counts_towards_failures)
            .collect();
        assert_eq!(counted, [false, false, true, false]);
    }
}
