use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionConfig;
use flint_conf::{MasterUrl, SparkConf, keys};
use flint_driver::{
    DagScheduler, ListenerBus, LocalSchedulerBackend, MapOutputTracker, SparkListener,
    SparkListenerEvent, StageGraph, TaskScheduler,
};
use flint_executor::{Executor, ExecutorConfig};
use flint_ui::ConsoleProgressBar;

use crate::FlintError;
use flint_common::now_millis;

/// An application's driver-side runtime (Spark's `SparkContext`): its id, its configuration,
/// its executors (through a scheduler backend), the DAG and task schedulers and the listener bus.
pub(crate) struct SparkContext {
    pub(crate) app_id: String,
    pub(crate) app_name: String,
    pub(crate) conf: SparkConf,
    pub(crate) master: MasterUrl,
    pub(crate) shuffle_partitions: usize,
    /// The DataFusion settings the executor runs with; the session's planner uses the same.
    pub(crate) session_config: SessionConfig,
    pub(crate) listener_bus: Arc<ListenerBus>,
    dag_scheduler: DagScheduler,
    executor: Arc<Executor>,
    next_shuffle_id: AtomicU32,
    stopped: AtomicBool,
}

impl std::fmt::Debug for SparkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparkContext")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl SparkContext {
    /// Starts the application: resolves the configuration, starts executors and schedulers.
    pub(crate) fn start(conf: SparkConf) -> Result<Self, FlintError> {
        let available = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let master_text = conf
            .get_entry(&keys::MASTER)
            .unwrap_or("local[*]")
            .to_string();
        let master = MasterUrl::parse(&master_text, available)?;
        let MasterUrl::Local {
            threads,
            max_failures,
        } = master
        else {
            return Err(FlintError::Unsupported(format!(
                "master \"{master_text}\" needs the standalone cluster, which Flint does not have yet; use local, local[N] or local[*]"
            )));
        };
        let app_name = conf
            .get_entry(&keys::APP_NAME)
            .unwrap_or("flint")
            .to_string();
        let app_id = flint_common::local_app_id();
        let max_failures = match max_failures {
            Some(n) => n,
            // Spark's local mode tries each task once unless local[N,F] says otherwise; Flint
            // keeps the retry path live in local mode too and reads spark.task.maxFailures.
            None => conf.get_usize(&keys::TASK_MAX_FAILURES)?.unwrap_or(4),
        };
        let default_parallelism = conf
            .get_usize(&keys::DEFAULT_PARALLELISM)?
            .unwrap_or(threads);
        let shuffle_partitions = conf
            .get_usize(&keys::SHUFFLE_PARTITIONS)?
            .unwrap_or(default_parallelism);
        let show_progress = conf.get_bool(&keys::SHOW_CONSOLE_PROGRESS)?.unwrap_or(true);
        let broadcast_threshold = match conf
            .get_entry(&keys::AUTO_BROADCAST_JOIN_THRESHOLD)
            .unwrap_or("10m")
            .trim()
        {
            "-1" => 0,
            value => flint_conf::parse_size(keys::AUTO_BROADCAST_JOIN_THRESHOLD.key, value, 1)?,
        };
        let session_config = flint_session_config(shuffle_partitions, broadcast_threshold);
        let executor_config = ExecutorConfig::from_conf(
            "driver".into(),
            app_id.clone(),
            threads,
            &keys::DRIVER_MEMORY,
            &conf,
            session_config.clone(),
        )?;

        tracing::info!("Running Flint version {}", env!("CARGO_PKG_VERSION"));
        tracing::info!("Submitted application: {app_name}");
        let executor = Arc::new(Executor::new(executor_config, vec![])?);
        let listener_bus = Arc::new(ListenerBus::new());
        if show_progress && std::io::stderr().is_terminal() {
            listener_bus.add_listener(Arc::new(ConsoleProgressBar::start()));
        }
        let backend = Arc::new(LocalSchedulerBackend::new(Arc::clone(&executor)));
        let task_scheduler = Arc::new(TaskScheduler::new(
            backend,
            max_failures as u32,
            Arc::clone(&listener_bus),
        ));
        let dag_scheduler = DagScheduler::new(
            task_scheduler,
            Arc::new(MapOutputTracker::default()),
            Arc::clone(&listener_bus),
        );
        listener_bus.post(SparkListenerEvent::ApplicationStart {
            app_id: app_id.clone(),
            app_name: app_name.clone(),
            time: now_millis(),
        });
        tracing::info!(app_id = %app_id, "Started application {app_id} with master {master_text} ({threads} task slots)");
        Ok(Self {
            app_id,
            app_name,
            conf,
            master,
            shuffle_partitions,
            session_config,
            listener_bus,
            dag_scheduler,
            executor,
            next_shuffle_id: AtomicU32::new(0),
            stopped: AtomicBool::new(false),
        })
    }

    /// Cuts a physical plan into stages, numbering its shuffles application-wide.
    pub(crate) fn cut_stages(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    ) -> Result<StageGraph, FlintError> {
        Ok(StageGraph::cut(plan, &self.next_shuffle_id)?)
    }

    /// Runs one job and returns its rows.
    pub(crate) async fn run_job(
        &self,
        graph: &StageGraph,
        description: &str,
    ) -> Result<Vec<RecordBatch>, FlintError> {
        if self.is_stopped() {
            return Err(FlintError::Stopped);
        }
        Ok(self.dag_scheduler.run_job(graph, description).await?)
    }

    /// Lets the in-process executor evaluate an application's UDF.
    pub(crate) fn register_udf(&self, udf: Arc<ScalarUDF>) -> Result<(), FlintError> {
        Ok(self.executor.register_udf(udf)?)
    }

    /// Adds a listener to the application's listener bus.
    pub(crate) fn add_listener(&self, listener: Arc<dyn SparkListener>) {
        self.listener_bus.add_listener(listener);
    }

    /// The application's local directory (shuffle files and spills).
    pub(crate) fn local_dir(&self) -> PathBuf {
        self.executor.block_manager().root().to_path_buf()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Stops executors, removes the local directory and flushes listeners; later calls do nothing.
    pub(crate) fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.listener_bus
            .post(SparkListenerEvent::ApplicationEnd { time: now_millis() });
        self.dag_scheduler.task_scheduler().stop();
        self.listener_bus.stop();
        tracing::info!(app_id = %self.app_id, "Successfully stopped SparkContext");
    }
}

impl Drop for SparkContext {
    fn drop(&mut self) {
        self.stop();
    }
}

/// DataFusion settings every Flint planner and executor uses.
pub(crate) fn flint_session_config(
    shuffle_partitions: usize,
    broadcast_threshold: u64,
) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_target_partitions(shuffle_partitions)
        .with_information_schema(true);
    let options = config.options_mut();
    // Dynamic filters connect operators through shared state within one process; across
    // tasks they would wait for partitions another task builds, so Flint turns them off.
    options.optimizer.enable_dynamic_filter_pushdown = false;
    options.optimizer.enable_join_dynamic_filter_pushdown = false;
    options.optimizer.enable_topk_dynamic_filter_pushdown = false;
    options.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    // Each partition of a scan runs as its own task with its own copy of the plan: siblings
    // never share a queue, so one stealing another's files would read them twice.
    options.execution.enable_file_stream_work_stealing = false;
    // Uncorrelated scalar subqueries run in the same process as the plan that reads their
    // value; Flint plans them as joins instead, which cut into stages like any other join.
    options
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    // Spark's broadcast joins: a join side estimated below the threshold is built whole in
    // every task (DataFusion's CollectLeft) and the other side is not shuffled. DataFusion
    // falls back to row counts when sizes are unknown; about 32 bytes a row is assumed.
    options.optimizer.hash_join_single_partition_threshold = broadcast_threshold as usize;
    options.optimizer.hash_join_single_partition_threshold_rows =
        (broadcast_threshold / 32) as usize;
    config
}

/// The driver's DataFusion runtime for planning and file listing. Listings are not cached:
/// a path rewritten by `mode("overwrite")` must be listed anew, as Spark refreshes it.
pub(crate) fn planner_runtime()
-> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>, FlintError> {
    Ok(datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_list_cache_limit(0)
        .build_arc()?)
}
