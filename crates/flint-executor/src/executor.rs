use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use arrow_ipc::CompressionType;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec;
use flint_conf::keys::{self, ByteSize, Key};
use flint_conf::{ConfError, SparkConf, format_size};
use flint_shuffle::{
    CachedBlockFiles, ShuffleClient, ShuffleCodec, ShuffleEnv, ShuffleError, ShuffleWriterExec,
};
use flint_storage::{BlockStatus, DiskBlockManager, MemoryStore, StorageError};
use futures::TryStreamExt;
use thiserror::Error;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::memory_manager::unified_memory;
use crate::task_threads::TaskThreads;
use crate::{TaskDescription, TaskFailureReason, TaskMetrics, TaskOutput, TaskResult};

/// Failures to start an executor.
#[derive(Debug, Error)]
pub enum ExecutorError {
    /// The local directory could not be created.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A setting has a bad value.
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// DataFusion's runtime could not be set up.
    #[error("cannot set up the executor's runtime: {0}")]
    DataFusion(#[from] DataFusionError),
    /// The driver could not be reached.
    #[error(transparent)]
    Rpc(#[from] flint_rpc::RpcError),
    /// The driver refused or broke the conversation.
    #[error("driver: {0}")]
    Driver(String),
    /// The worker's shuffle service did not take the executor's registration.
    #[error(transparent)]
    ShuffleService(#[from] flint_shuffle_service::RegistrationError),
}

/// How to build an executor; every field is resolved from `SparkConf` by the caller.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// `driver` in local mode, a number in a cluster (Spark's executor ids).
    pub executor_id: String,
    /// The application the executor belongs to.
    pub app_id: String,
    /// Task slots: tasks that run at once.
    pub cores: usize,
    /// The executor's memory (`spark.executor.memory`, or `spark.driver.memory` in local mode).
    pub memory_bytes: u64,
    /// The key that set `memory_bytes`, named in out-of-memory errors.
    pub memory_key: &'static str,
    /// `spark.memory.fraction`: the share of memory given to the pool of execution and storage.
    pub memory_fraction: f64,
    /// `spark.memory.storageFraction`: the share of the pool execution leaves cached blocks.
    pub storage_fraction: f64,
    /// `spark.local.dir`: where the executor's directory is created.
    pub local_dir: PathBuf,
    /// `spark.io.compression.codec` for shuffle blocks and results.
    pub compression: Option<CompressionType>,
    /// DataFusion settings the tasks run with (batch size and the like).
    pub session_config: SessionConfig,
    /// The host the executor runs on, recorded in its map outputs.
    pub host: String,
    /// The port its shuffle blocks are fetched from: its own block transfer service's, or its
    /// worker's shuffle service's; 0 when nobody serves them (local mode).
    pub block_transfer_port: u16,
    /// The port of its own block server, which serves the cached blocks it keeps in memory;
    /// 0 in local mode.
    pub own_block_port: u16,
    /// `spark.shuffle.service.fetch.rdd.enabled` with a shuffle service: cached blocks on
    /// disk are located at the service, not the executor.
    pub rdd_blocks_from_service: bool,
    /// Leave shuffle files on disk when the executor stops: its worker's shuffle service
    /// serves them and deletes them when the application ends.
    pub keep_shuffle_files: bool,
    /// `spark.shuffle.readHostLocalDisk`.
    pub read_host_local_disk: bool,
    /// `spark.shuffle.checksum.enabled`.
    pub shuffle_checksums: bool,
    /// `spark.shuffle.io.maxRetries` and `spark.shuffle.io.retryWait`: how often, and how far
    /// apart, a fetch whose connection failed is tried again.
    pub fetch_retries: (u32, Duration),
    /// `spark.reducer.maxSizeInFlight` and `spark.reducer.maxReqsInFlight`.
    pub fetch_limits: flint_shuffle::FetchLimits,
    /// `spark.network.timeout`: how long a shuffle fetch may wait for its peer.
    pub network_timeout: Duration,
    /// `spark.authenticate`: the secret its RPC peers and block servers must prove.
    pub security: flint_rpc::RpcSecurity,
}

impl ExecutorConfig {
    /// Resolves an executor's settings from the application's configuration: memory from
    /// `memory_key` (`spark.executor.memory`, or `spark.driver.memory` in local mode),
    /// `spark.memory.fraction`, `spark.local.dir` and `spark.io.compression.codec`.
    pub fn from_conf(
        executor_id: String,
        app_id: String,
        cores: usize,
        memory_key: &'static Key<ByteSize>,
        conf: &SparkConf,
        mut session_config: SessionConfig,
    ) -> Result<Self, ConfError> {
        crate::session_config::apply_sql_conf(&mut session_config, conf)?;
        let compression = match conf.value(&keys::IO_COMPRESSION_CODEC)?.as_str() {
            "lz4" => Some(CompressionType::LZ4_FRAME),
            "zstd" => Some(CompressionType::ZSTD),
            "none" => None,
            other => {
                return Err(ConfError::InvalidValue {
                    key: keys::IO_COMPRESSION_CODEC.key.into(),
                    value: other.into(),
                    expected: "lz4, zstd or none",
                });
            }
        };
        Ok(Self {
            executor_id,
            app_id,
            cores: cores.max(1),
            memory_bytes: conf.value(memory_key)?.0,
            memory_key: memory_key.key,
            memory_fraction: conf.value(&keys::MEMORY_FRACTION)?.0,
            storage_fraction: conf.value(&keys::MEMORY_STORAGE_FRACTION)?.0,
            // Absolute: map outputs are found by path from other tasks and processes.
            local_dir: conf
                .get(keys::LOCAL_DIR.key)
                .map(PathBuf::from)
                .map(|dir| std::path::absolute(&dir).unwrap_or(dir))
                .unwrap_or_else(std::env::temp_dir),
            compression,
            session_config,
            host: "localhost".into(),
            block_transfer_port: 0,
            own_block_port: 0,
            rdd_blocks_from_service: false,
            keep_shuffle_files: false,
            read_host_local_disk: conf.value(&keys::SHUFFLE_READ_HOST_LOCAL_DISK)?,
            shuffle_checksums: conf.value(&keys::SHUFFLE_CHECKSUM_ENABLED)?,
            fetch_retries: (
                conf.value(&keys::SHUFFLE_IO_MAX_RETRIES)?,
                conf.value(&keys::SHUFFLE_IO_RETRY_WAIT)?,
            ),
            fetch_limits: flint_shuffle::FetchLimits {
                max_bytes_in_flight: conf.value(&keys::REDUCER_MAX_SIZE_IN_FLIGHT)?.0,
                max_reqs_in_flight: conf
                    .optional(&keys::REDUCER_MAX_REQS_IN_FLIGHT)?
                    .unwrap_or(usize::MAX),
            },
            network_timeout: conf.value(&keys::NETWORK_TIMEOUT)?,
            security: flint_rpc::RpcSecurity::from_conf(conf)?,
        })
    }
}

/// Runs tasks of one application (Spark's `Executor`): one thread per running task, a memory
/// pool shared by the task slots, and a block manager for shuffle files and spills.
pub struct Executor {
    config: ExecutorConfig,
    block_manager: Arc<DiskBlockManager>,
    memory_store: Arc<MemoryStore>,
    block_statuses: Mutex<Option<UnboundedReceiver<BlockStatus>>>,
    state: Mutex<SessionState>,
    task_context: RwLock<Arc<TaskContext>>,
    pool_bytes: usize,
    stopped: tokio::sync::watch::Sender<bool>,
    stage_plans: Arc<StagePlans>,
    /// The running tasks: how to kill each, and the thread it runs on.
    running: Arc<Mutex<HashMap<u64, RunningTask>>>,
    /// The threads tasks run on, kept for later tasks.
    task_threads: TaskThreads,
}

/// A running task's kill switch (Spark's `TaskRunner.kill`).
struct RunningTask {
    kill: tokio::sync::watch::Sender<Option<String>>,
    thread: Option<std::thread::ThreadId>,
}

/// The decoded plans of the stage attempts whose tasks run on this executor. Tasks of one
/// stage attempt share one plan instance, as Spark's tasks on one executor share one copy of
/// a broadcast: a broadcast hash join builds its table once per executor, not once per task.
/// Entries are weak, so a plan is dropped as soon as no task of its stage is running.
#[derive(Default)]
struct StagePlans {
    plans: Mutex<HashMap<StageAttempt, RunningPlan>>,
}

/// A stage id and its attempt number.
type StageAttempt = (u32, u32);

/// A stage's encoded plan and its decoded instance, while some task still runs it.
type RunningPlan = (Bytes, Weak<dyn ExecutionPlan>);

impl StagePlans {
    /// The running instance of the task's stage plan, or a newly decoded one.
    fn get_or_decode(
        &self,
        task: &TaskDescription,
        context: &TaskContext,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        let key = (task.stage_id, task.stage_attempt);
        if let Some((bytes, plan)) = plans.get(&key)
            && *bytes == task.plan
            && let Some(plan) = plan.upgrade()
        {
            return Ok(plan);
        }
        let plan =
            physical_plan_from_bytes_with_extension_codec(&task.plan, context, &ShuffleCodec)?;
        plans.retain(|_, (_, plan)| plan.strong_count() > 0);
        plans.insert(key, (task.plan.clone(), Arc::downgrade(&plan)));
        Ok(plan)
    }

    /// Forgets a plan a task failed with: its shared state (a build side, say) may hold the
    /// failure, so a retry must start from a fresh instance.
    fn forget(&self, task: &TaskDescription, failed: &Arc<dyn ExecutionPlan>) {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        let key = (task.stage_id, task.stage_attempt);
        if plans
            .get(&key)
            .and_then(|(_, plan)| plan.upgrade())
            .is_some_and(|plan| Arc::ptr_eq(&plan, failed))
        {
            plans.remove(&key);
        }
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("executor_id", &self.config.executor_id)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// Starts an executor; `extra_functions` are the application's own UDFs (local mode).
    pub fn new(
        config: ExecutorConfig,
        extra_functions: Vec<Arc<ScalarUDF>>,
    ) -> Result<Self, ExecutorError> {
        let mut block_manager =
            DiskBlockManager::create(&config.local_dir, &config.app_id, &config.executor_id)?;
        if config.keep_shuffle_files {
            block_manager = block_manager.keep_blocks_on_stop();
        }
        let block_manager = Arc::new(block_manager);
        let pool_bytes = ((config.memory_bytes as f64) * config.memory_fraction) as usize;
        let spiller = CachedBlockFiles::new(
            Arc::clone(&block_manager),
            config.compression,
            config.shuffle_checksums,
        )?;
        let (pool, memory_store) =
            unified_memory(pool_bytes, config.storage_fraction, Arc::new(spiller));
        let (block_statuses, statuses_queue) = tokio::sync::mpsc::unbounded_channel();
        memory_store.set_listener(Box::new(move |status| {
            let _ = block_statuses.send(status);
        }));
        let runtime_env = RuntimeEnvBuilder::new()
            .with_memory_pool(pool)
            .with_temp_file_path(block_manager.spill_dir())
            .build_arc()?;
        let shuffle_env = ShuffleEnv {
            executor_id: config.executor_id.clone(),
            host: config.host.clone(),
            block_transfer_port: config.block_transfer_port,
            own_block_port: config.own_block_port,
            rdd_blocks_from_service: config.rdd_blocks_from_service,
            memory_store: Some(Arc::clone(&memory_store)),
            read_host_local_disk: config.read_host_local_disk,
            client: Arc::new(
                ShuffleClient::new(config.app_id.clone(), config.network_timeout)
                    .with_retries(config.fetch_retries.0, config.fetch_retries.1)
                    .with_security(config.security.clone()),
            ),
            block_manager: Arc::clone(&block_manager),
            compression: config.compression,
            checksums: config.shuffle_checksums,
            fetch_limits: config.fetch_limits,
        };
        let session_config = config
            .session_config
            .clone()
            .with_extension(Arc::new(shuffle_env));
        let mut state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(session_config)
            .with_runtime_env(runtime_env)
            .build();
        flint_sql::register_executor_functions(&mut state)?;
        for function in extra_functions {
            state.register_udf(function)?;
        }
        let task_context = state.task_ctx();
        tracing::info!(
            executor_id = %config.executor_id,
            "Starting executor ID {} with {} task slots and a {} memory pool",
            config.executor_id,
            config.cores,
            format_size(pool_bytes as u64)
        );
        let task_threads = TaskThreads::new(&format!("executor-{}", config.executor_id));
        Ok(Self {
            config,
            block_manager,
            memory_store,
            block_statuses: Mutex::new(Some(statuses_queue)),
            state: Mutex::new(state),
            task_context: RwLock::new(task_context),
            pool_bytes,
            stopped: tokio::sync::watch::Sender::new(false),
            stage_plans: Arc::default(),
            running: Arc::default(),
            task_threads,
        })
    }

    /// The executor's id.
    pub fn executor_id(&self) -> &str {
        &self.config.executor_id
    }

    /// Task slots.
    pub fn cores(&self) -> usize {
        self.config.cores
    }

    /// Bytes of the memory pool its tasks share (Spark's `maxMemory`).
    pub fn max_memory(&self) -> u64 {
        self.pool_bytes as u64
    }

    /// Bytes of cached blocks held in memory now (Spark's storage `memoryUsed`).
    pub fn memory_used(&self) -> u64 {
        self.memory_store.memory_used()
    }

    /// The cached blocks kept in memory.
    pub fn memory_store(&self) -> &Arc<MemoryStore> {
        &self.memory_store
    }

    /// The changes to cached blocks the driver did not ask for (moved to disk, dropped), for
    /// whoever reports them to the driver; `None` after the first call.
    pub fn take_block_statuses(&self) -> Option<UnboundedReceiver<BlockStatus>> {
        self.block_statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The executor's block manager (its directory under `spark.local.dir`).
    pub fn block_manager(&self) -> &Arc<DiskBlockManager> {
        &self.block_manager
    }

    /// Makes an application's UDF available to later tasks' plans (local mode only: code
    /// cannot travel to executor processes).
    pub fn register_udf(&self, udf: Arc<ScalarUDF>) -> Result<(), ExecutorError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.register_udf(udf)?;
        *self.task_context.write().unwrap_or_else(|p| p.into_inner()) = state.task_ctx();
        Ok(())
    }

    /// Runs one task in a task slot and reports how it went; never panics.
    ///
    /// As in Spark, a task owns one thread for its whole run: its operators run on a
    /// single-threaded runtime there, so `cores` slots use `cores` CPUs and one busy task
    /// never delays another.
    pub async fn run_task(&self, task: TaskDescription) -> TaskResult {
        let lost = |message: String| TaskResult {
            outcome: Err(TaskFailureReason::ExecutorLost {
                executor_id: self.config.executor_id.clone(),
                message,
            }),
            metrics: TaskMetrics::default(),
        };
        if *self.stopped.borrow() {
            return lost("executor stopped".into());
        }
        let context = Arc::clone(&self.task_context.read().unwrap_or_else(|p| p.into_inner()));
        let compression = self.config.compression;
        let stage_plans = Arc::clone(&self.stage_plans);
        let mut stopped = self.stopped.subscribe();
        let (kill, mut killed) = tokio::sync::watch::channel(None::<String>);
        let kill_requested = killed.clone();
        let task_id = task.task_id;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task_id, RunningTask { kill, thread: None });
        // Forgets the task however this ends (the caller may stop waiting, too).
        struct Forget(Arc<Mutex<HashMap<u64, RunningTask>>>, u64);
        impl Drop for Forget {
            fn drop(&mut self) {
                self.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&self.1);
            }
        }
        let _forget = Forget(Arc::clone(&self.running), task_id);
        let (done, result) = tokio::sync::oneshot::channel();
        let running = Arc::clone(&self.running);
        // The task's thread while it runs on it, so a kill can reach a Python worker the task
        // waits on; cleared before the thread moves on to another task.
        let on_thread = move |thread: Option<std::thread::ThreadId>| {
            if let Some(task) = running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&task_id)
            {
                task.thread = thread;
            }
        };
        let thread = self.task_threads.run(Box::new(move |runtime| {
            on_thread(Some(std::thread::current().id()));
            let outcome: Result<_, String> =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runtime.block_on(async {
                        tokio::select! {
                            outcome = run_task(task, context, compression, stage_plans) => Some(Ok(outcome)),
                            _ = stopped.wait_for(|stopped| *stopped) => None,
                            reason = killed.wait_for(Option::is_some) => Some(Err(
                                reason.ok().and_then(|r| r.clone()).unwrap_or_default(),
                            )),
                        }
                    })
                }))
                .map_err(|panic| {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    format!("task panicked: {text}")
                });
            on_thread(None);
            // The receiver is gone only if the scheduler stopped waiting for this task.
            let _ = done.send(outcome);
        }));
        if let Err(error) = thread {
            return lost(error);
        }
        // A kill that stopped the task's Python worker can surface as the worker's error
        // before the task sees the kill: the task was killed all the same.
        let kill_reason = || kill_requested.borrow().clone();
        match result.await {
            Ok(Ok(Some(Ok((Err(_), _))))) if let Some(reason) = kill_reason() => {
                tracing::info!(task_id, "Executor killed task {task_id}, reason: {reason}");
                TaskResult {
                    outcome: Err(TaskFailureReason::TaskKilled { reason }),
                    metrics: TaskMetrics::default(),
                }
            }
            Ok(Ok(Some(Ok((outcome, metrics))))) => TaskResult {
                outcome: outcome.map_err(|e| self.failure_reason(e)),
                metrics,
            },
            Ok(Ok(Some(Err(reason)))) => {
                tracing::info!(task_id, "Executor killed task {task_id}, reason: {reason}");
                TaskResult {
                    outcome: Err(TaskFailureReason::TaskKilled { reason }),
                    metrics: TaskMetrics::default(),
                }
            }
            Ok(Ok(None)) | Err(_) => lost("executor stopped".into()),
            Ok(Err(message)) => TaskResult {
                outcome: Err(TaskFailureReason::ExceptionFailure { message }),
                metrics: TaskMetrics::default(),
            },
        }
    }

    /// Classifies a task's error by its root cause (Spark's `TaskEndReason`).
    fn failure_reason(&self, error: DataFusionError) -> TaskFailureReason {
        if let Some(fetch) = ShuffleError::find_fetch_failure(&error) {
            return TaskFailureReason::FetchFailed(fetch.clone());
        }
        if let DataFusionError::ResourcesExhausted(detail) = error.find_root() {
            return TaskFailureReason::ResourcesExhausted {
                message: format!(
                    "not enough memory even with spilling: the task needs more than the executor's {} pool \
                     ({} x {}={}); raise {}: {detail}",
                    format_size(self.pool_bytes as u64),
                    self.config.memory_fraction,
                    self.config.memory_key,
                    format_size(self.config.memory_bytes),
                    self.config.memory_key,
                ),
            };
        }
        TaskFailureReason::ExceptionFailure {
            message: error.to_string(),
        }
    }

    /// Deletes the files of a shuffle no job reads any more (an unpersisted cache).
    pub fn remove_shuffle(&self, shuffle_id: u32) {
        let removed = self.block_manager.remove_shuffle(shuffle_id)
            + self.memory_store.remove_shuffle(shuffle_id);
        tracing::info!(
            shuffle_id,
            "Removed shuffle {shuffle_id}: {removed} file(s) and block(s) in memory deleted"
        );
    }

    /// Kills a running task (Spark's `Executor.killTask`): it ends at its next await with
    /// `TaskKilled`, and a Python worker it waits on is killed. Returns whether it was running.
    pub fn kill_task(&self, task_id: u64, reason: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let Some(task) = running.get(&task_id) else {
            return false;
        };
        tracing::info!(
            task_id,
            "Executor is trying to kill task {task_id}, reason: {reason}"
        );
        task.kill.send_replace(Some(reason.to_string()));
        if let Some(thread) = task.thread {
            flint_python::worker::interrupt(thread);
        }
        true
    }

    /// Cancels the running tasks and removes the executor's directory.
    pub fn stop(&self) {
        self.stopped.send_replace(true);
        self.memory_store.clear();
        self.block_manager.stop();
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `context`, or a copy with the job's session settings where they differ from the
/// executor's: the plan decoded with it keeps them (a function reads its settings there).
fn with_session_settings(
    context: Arc<TaskContext>,
    sql_conf: &[(String, String)],
) -> Result<Arc<TaskContext>, DataFusionError> {
    let config = crate::with_task_sql_conf(context.session_config().clone(), sql_conf)
        .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
    if crate::task_sql_conf(config.options())
        == crate::task_sql_conf(context.session_config().options())
    {
        return Ok(context);
    }
    Ok(Arc::new(TaskContext::new(
        context.task_id(),
        context.session_id(),
        config,
        context.scalar_functions().clone(),
        context.higher_order_functions().clone(),
        context.aggregate_functions().clone(),
        context.window_functions().clone(),
        context.runtime_env(),
    )))
}

async fn run_task(
    task: TaskDescription,
    context: Arc<TaskContext>,
    compression: Option<CompressionType>,
    stage_plans: Arc<StagePlans>,
) -> (Result<TaskOutput, DataFusionError>, TaskMetrics) {
    let mut metrics = TaskMetrics::default();
    let start = Instant::now();
    let context = match with_session_settings(context, &task.sql_conf) {
        Ok(context) => context,
        Err(error) => return (Err(error), metrics),
    };
    let plan = match stage_plans.get_or_decode(&task, &context) {
        Ok(plan) => plan,
        Err(error) => return (Err(error), metrics),
    };
    metrics.executor_deserialize_time_ms = start.elapsed().as_millis() as u64;
    tracing::debug!(
        task_id = task.task_id,
        "Running task {} of stage {} with plan:\n{}",
        task.partition,
        task.stage_id,
        datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
    );
    let partition = task.partition as usize;
    let outcome = async {
        if let Some(writer) = plan.downcast_ref::<ShuffleWriterExec>() {
            let status = writer
                .write_map_output(partition, task.task_id, Arc::clone(&context))
                .await?;
            Ok(TaskOutput::MapStatus(status))
        } else {
            let batches: Vec<_> = plan
                .execute(partition, Arc::clone(&context))?
                .try_collect()
                .await?;
            let schema = plan.schema();
            let options = IpcWriteOptions::default().try_with_compression(compression)?;
            let mut writer = StreamWriter::try_new_with_options(Vec::new(), &schema, options)?;
            for batch in &batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            Ok(TaskOutput::ResultBatches(Bytes::from(writer.into_inner()?)))
        }
    }
    .await;
    metrics.executor_run_time_ms = start.elapsed().as_millis() as u64;
    metrics.collect_from_plan(&plan, partition);
    match &outcome {
        Ok(TaskOutput::ResultBatches(bytes)) => {
            metrics.result_size = bytes.len() as u64;
            metrics.output_records = crate::metrics::partition_metrics(plan.as_ref(), partition)
                .and_then(|m| m.output_rows())
                .unwrap_or(0) as u64;
        }
        Ok(TaskOutput::MapStatus(status)) => metrics.output_records = status.records_written,
        Err(_) => stage_plans.forget(&task, &plan),
    }
    (outcome, metrics)
}
