use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionConfig;
use flint_conf::{MasterUrl, SparkConf, keys};
use flint_driver::event_log::{EventLogConfig, EventLogError, EventLoggingListener};
use flint_driver::executor_allocation_manager::{
    AllocationClient, AllocationConfig, AllocationGauges, ExecutorAllocationManager,
};
use flint_driver::{
    AppDescription, DagScheduler, ExecutorInfo, ListenerBus, LocalSchedulerBackend,
    MapOutputTracker, SchedulerBackend, SparkListener, SparkListenerEvent, StageGraph,
    StandaloneAppClient, StandaloneSchedulerBackend, TaskScheduler,
};
use flint_executor::{Executor, ExecutorConfig, flint_session_config};
use flint_ui::{AppStatusStore, ConsoleProgressBar, SparkUi};
use std::time::Duration;

use crate::FlintError;
use crate::local_cluster::LocalCluster;
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
    dag_scheduler: Arc<DagScheduler>,
    /// The in-process executor of local mode.
    executor: Option<Arc<Executor>>,
    /// The standalone master's registration (and the local cluster, if this application
    /// started one); dropped on stop.
    cluster: std::sync::Mutex<Option<ClusterConnection>>,
    next_shuffle_id: AtomicU32,
    /// Spark's SQL execution ids: one per action's query.
    next_execution_id: AtomicU64,
    stopped: AtomicBool,
    /// The application's web UI, unless `spark.ui.enabled=false` or no port was free.
    ui: Option<SparkUi>,
    /// Tables every session of the application sees (`saveAsTable`, `CREATE TABLE`).
    pub(crate) managed_tables: Arc<crate::catalog::ManagedTables>,
    /// Views every session of the application sees as `global_temp.name`.
    pub(crate) global_temp_views: Arc<crate::catalog::GlobalTempViews>,
    /// Cached plans, shared by every session of the application.
    pub(crate) cache: Arc<crate::cache::CacheManager>,
}

impl std::fmt::Debug for SparkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparkContext")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl SparkContext {
    /// Starts the application: resolves the configuration, starts executors (in this process
    /// for `local[N]`, through a standalone master otherwise) and the schedulers.
    pub(crate) async fn start(conf: SparkConf) -> Result<Self, FlintError> {
        let available = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let master_text = conf.value(&keys::MASTER)?;
        let master = MasterUrl::parse(&master_text, available)?;
        let app_name = conf
            .optional(&keys::APP_NAME)?
            .unwrap_or_else(|| "flint".into());
        let show_progress = conf.value(&keys::SHOW_CONSOLE_PROGRESS)?;
        // Refused now rather than when the first Python UDF runs.
        conf.value(&keys::PYTHON_WORKER_REUSE)?;
        let broadcast_threshold = match conf.value(&keys::AUTO_BROADCAST_JOIN_THRESHOLD)?.trim() {
            "-1" => 0,
            value => flint_conf::parse_size(keys::AUTO_BROADCAST_JOIN_THRESHOLD.key, value, 1)?,
        };
        let map_outputs = Arc::new(MapOutputTracker::default());
        // Events queue from here (executors registering) until the listeners are added.
        let listener_bus = Arc::new(ListenerBus::new());
        tracing::info!("Running Flint version {}", env!("CARGO_PKG_VERSION"));
        tracing::info!("Submitted application: {app_name}");
        // Started before registering, so the master can link to it.
        let ui = start_ui(&conf, &listener_bus).await?;
        let ui_url = ui.as_ref().map(|ui| ui.url().to_string());

        let Started {
            app_id,
            slots,
            default_slots,
            backend,
            executor,
            cluster,
        } = match &master {
            MasterUrl::Local { threads, .. } => {
                let app_id = flint_common::local_app_id();
                let shuffle_partitions = shuffle_partitions(&conf, *threads)?;
                let executor_config = ExecutorConfig::from_conf(
                    "driver".into(),
                    app_id.clone(),
                    *threads,
                    &keys::DRIVER_MEMORY,
                    &conf,
                    flint_session_config(shuffle_partitions, broadcast_threshold),
                )?;
                let executor = Arc::new(Executor::new(executor_config, vec![])?);
                if let Some(mut statuses) = executor.take_block_statuses() {
                    let (map_outputs, listener_bus) =
                        (Arc::clone(&map_outputs), Arc::clone(&listener_bus));
                    // Ends when the executor goes, with the sending side.
                    tokio::spawn(async move {
                        while let Some(status) = statuses.recv().await {
                            flint_driver::cache::cached_block_changed(
                                &map_outputs,
                                &listener_bus,
                                "driver",
                                "localhost",
                                status,
                            );
                        }
                    });
                }
                Started {
                    app_id,
                    slots: *threads,
                    default_slots: *threads,
                    backend: Arc::new(LocalSchedulerBackend::new(Arc::clone(&executor))),
                    executor: Some(executor),
                    cluster: None,
                }
            }
            MasterUrl::Standalone { masters } => {
                let cluster = ClusterConnection::start(
                    &conf,
                    &app_name,
                    masters.clone(),
                    None,
                    Arc::clone(&map_outputs),
                    Arc::clone(&listener_bus),
                    ui_url.clone(),
                )
                .await?;
                cluster.resolved()
            }
            MasterUrl::LocalCluster {
                workers,
                cores_per_worker,
                memory_mib_per_worker,
            } => {
                let (workers, cores, memory) =
                    (*workers, *cores_per_worker, *memory_mib_per_worker);
                let shuffle_service = conf.value(&keys::SHUFFLE_SERVICE_ENABLED)?;
                let secret = flint_conf::auth_secret(&conf)?;
                let ssl: Vec<(String, String)> = conf
                    .iter()
                    .filter(|(key, _)| key.starts_with("spark.ssl."))
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect();
                let local = tokio::task::spawn_blocking(move || {
                    LocalCluster::start(workers, cores, memory, shuffle_service, secret, ssl)
                })
                .await
                .map_err(|e| FlintError::Unsupported(format!("local-cluster: {e}")))??;
                let masters = vec![("127.0.0.1".to_string(), local.master_port)];
                let cluster = ClusterConnection::start(
                    &conf,
                    &app_name,
                    masters,
                    Some(local),
                    Arc::clone(&map_outputs),
                    Arc::clone(&listener_bus),
                    ui_url.clone(),
                )
                .await?;
                cluster.resolved()
            }
        };
        let max_failures = match master {
            // As in Spark, local mode tries each task once (a failure there is the program's,
            // not a lost machine's) unless local[N,F] asks for F attempts.
            MasterUrl::Local { max_failures, .. } => max_failures.unwrap_or(1),
            _ => conf.value(&keys::TASK_MAX_FAILURES)?,
        };
        let shuffle_partitions = shuffle_partitions(&conf, default_slots)?;
        let mut session_config = flint_session_config(shuffle_partitions, broadcast_threshold);
        flint_executor::apply_sql_conf(&mut session_config, &conf)?;
        let mut flint_options = flint_sql::analyzer::FlintOptions::default();
        flint_options.time_type_enabled = conf.value(&keys::TIME_TYPE_ENABLED)?;
        let session_config = session_config.with_option_extension(flint_options);

        if show_progress && std::io::stderr().is_terminal() {
            listener_bus.add_listener(Arc::new(ConsoleProgressBar::start()));
        }
        if let Some(event_log) = start_event_log(&conf, &app_id)? {
            listener_bus.add_listener(Arc::new(event_log));
        }
        listener_bus.start();
        let pools = flint_driver::pool::Pools::new(
            &conf.value(&keys::SCHEDULER_MODE)?,
            conf.optional(&keys::SCHEDULER_ALLOCATION_FILE)?.as_deref(),
        )?;
        // As in Spark, speculation needs another executor: never in local mode.
        let speculation = match master {
            MasterUrl::Local { .. } => None,
            _ => flint_driver::Speculation::from_conf(&conf)?,
        };
        let task_scheduler = Arc::new(
            TaskScheduler::new(
                backend,
                max_failures as u32,
                Arc::clone(&listener_bus),
                pools,
            )
            .with_speculation(speculation),
        );
        let mut cluster = cluster;
        if let Some(connection) = cluster.as_mut()
            && let Some(gauges) =
                connection.start_dynamic_allocation(&listener_bus, Arc::clone(&map_outputs))
            && let Some(ui) = &ui
        {
            ui.store().set_allocation_gauges(gauges);
        }
        if cluster.is_none() && conf.value(&keys::DYN_ALLOCATION_ENABLED)? {
            tracing::warn!(
                "Dynamic allocation is ignored in local mode: the one executor runs in the driver"
            );
        }
        let dag_scheduler = Arc::new(
            DagScheduler::new(task_scheduler, map_outputs, Arc::clone(&listener_bus))
                .with_reduce_locality(conf.value(&keys::SHUFFLE_REDUCE_LOCALITY)?),
        );
        if let Some(ui) = &ui
            && conf.value(&keys::UI_KILL_ENABLED)?
        {
            ui.enable_kill(Arc::clone(&dag_scheduler));
        }
        listener_bus.post(SparkListenerEvent::EnvironmentUpdate {
            spark_properties: conf.redacted(),
            system_properties: system_properties(),
        });
        listener_bus.post(SparkListenerEvent::ApplicationStart {
            app_id: app_id.clone(),
            app_name: app_name.clone(),
            time: now_millis(),
            user: flint_conf::current_user(),
        });
        // The driver's own entry in the executor list (Spark's driver block manager); in local
        // mode it runs the tasks.
        let driver_host = conf.optional(&keys::DRIVER_HOST)?;
        let driver_host = driver_host.as_deref().unwrap_or("localhost");
        listener_bus.post(SparkListenerEvent::ExecutorAdded {
            executor_id: "driver".into(),
            time: now_millis(),
            info: ExecutorInfo {
                host: driver_host.to_string(),
                host_port: driver_host.to_string(),
                total_cores: if executor.is_some() { slots } else { 0 },
                max_memory: executor.as_ref().map_or(0, |e| e.max_memory()),
                log_urls: Default::default(),
            },
        });
        tracing::info!(app_id = %app_id, "Started application {app_id} with master {master_text} ({slots} task slots)");
        let managed_tables = Arc::new(crate::catalog::ManagedTables::new(warehouse_dir(&conf)));
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
            cluster: std::sync::Mutex::new(cluster),
            next_shuffle_id: AtomicU32::new(0),
            next_execution_id: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            ui,
            managed_tables,
            global_temp_views: Default::default(),
            cache: Default::default(),
        })
    }

    /// A new cache id, from the shuffle ids: a cache's blocks are its map stage's output.
    pub(crate) fn next_cache_id(&self) -> u32 {
        self.next_shuffle_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Forgets the blocks of caches that were dropped (`unpersist`, `UNCACHE TABLE`,
    /// `CLEAR CACHE`), so no later job counts on them.
    pub(crate) fn drop_caches(&self, caches: &[Arc<flint_driver::cache::CacheInfo>]) {
        for cache in caches {
            tracing::info!("Removing RDD {} from persistence list", cache.id);
            self.dag_scheduler.remove_shuffle(cache.id);
            self.listener_bus
                .post(SparkListenerEvent::UnpersistRdd { rdd_id: cache.id });
        }
    }

    /// Cuts a physical plan into stages, numbering its shuffles application-wide.
    pub(crate) fn cut_stages(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    ) -> Result<StageGraph, FlintError> {
        let mut graph = StageGraph::cut(plan, &self.next_shuffle_id)?;
        graph.cleaner = Some(flint_driver::ShuffleCleaner::new(
            Arc::clone(self.dag_scheduler.map_output_tracker()),
            Arc::clone(self.dag_scheduler.task_scheduler().backend_handle()),
        ));
        Ok(graph)
    }

    /// Runs one action's query as a SQL execution (Spark's `SQLExecution.withNewExecutionId`)
    /// of one job, and returns its rows; `details` is the query's text or origin in full.
    pub(crate) async fn run_job(
        &self,
        graph: &StageGraph,
        description: &str,
        details: &str,
        pool: &str,
    ) -> Result<Vec<RecordBatch>, FlintError> {
        if self.is_stopped() {
            return Err(FlintError::Stopped);
        }
        let execution_id = self.next_execution_id.fetch_add(1, Ordering::SeqCst);
        self.listener_bus
            .post(SparkListenerEvent::SqlExecutionStart {
                execution_id,
                description: description.to_string(),
                details: details.to_string(),
                physical_plan_description: graph.sql_plan.description(),
                plan: graph.sql_plan.clone(),
                time: now_millis(),
            });
        // Ends the SQL execution however the job ends, also when its caller drops it.
        struct ExecutionEnd<'a> {
            bus: &'a ListenerBus,
            execution_id: u64,
            error_message: Option<String>,
        }
        impl Drop for ExecutionEnd<'_> {
            fn drop(&mut self) {
                self.bus.post(SparkListenerEvent::SqlExecutionEnd {
                    execution_id: self.execution_id,
                    time: now_millis(),
                    error_message: self.error_message.take(),
                });
            }
        }
        let mut end = ExecutionEnd {
            bus: &self.listener_bus,
            execution_id,
            error_message: Some("cancelled: its caller stopped waiting".into()),
        };
        let result = self
            .dag_scheduler
            .run_job(graph, description, Some(execution_id), pool)
            .await;
        end.error_message = result.as_ref().err().map(ToString::to_string);
        drop(end);
        Ok(result?)
    }

    /// The application's DAG scheduler (to cancel jobs).
    pub(crate) fn dag_scheduler(&self) -> &DagScheduler {
        &self.dag_scheduler
    }

    /// Lets the in-process executor evaluate an application's UDF.
    pub(crate) fn register_udf(&self, udf: Arc<ScalarUDF>) -> Result<(), FlintError> {
        match &self.executor {
            Some(executor) => Ok(executor.register_udf(udf)?),
            None => Err(FlintError::Unsupported(
                "user-defined functions run in local mode only: Rust code cannot travel to executor processes".into(),
            )),
        }
    }

    /// Adds a listener to the application's listener bus.
    pub(crate) fn add_listener(&self, listener: Arc<dyn SparkListener>) {
        self.listener_bus.add_listener(listener);
    }

    /// The application's local directory (shuffle files and spills) in local mode; executor
    /// processes have their own.
    pub(crate) fn local_dir(&self) -> Option<PathBuf> {
        self.executor
            .as_ref()
            .map(|executor| executor.block_manager().root().to_path_buf())
    }

    /// The web UI's `http://HOST:PORT` (Spark's `uiWebUrl`).
    pub(crate) fn ui_web_url(&self) -> Option<&str> {
        self.ui.as_ref().map(SparkUi::url)
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
        // Ends the application on the master (its executors are killed) and stops a
        // local cluster this application started.
        let cluster = self
            .cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(cluster);
        self.listener_bus.stop();
        tracing::info!(app_id = %self.app_id, "Successfully stopped SparkContext");
    }
}

impl Drop for SparkContext {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `spark.sql.warehouse.dir` as an absolute path (relative ones from the working directory).
fn warehouse_dir(conf: &SparkConf) -> PathBuf {
    let configured = conf
        .get(keys::WAREHOUSE_DIR.key)
        .unwrap_or(keys::WAREHOUSE_DIR.default);
    let path = PathBuf::from(configured.strip_prefix("file:").unwrap_or(configured));
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    }
}

/// Starts the application's web UI on `spark.ui.port` fed by a status store on the bus.
/// Unlike Spark, a driver that finds no free port runs on without a UI, with a warning.
async fn start_ui(conf: &SparkConf, bus: &ListenerBus) -> Result<Option<SparkUi>, FlintError> {
    if !conf.value(&keys::UI_ENABLED)? {
        return Ok(None);
    }
    let store = Arc::new(AppStatusStore::new());
    bus.add_listener(store.clone());
    let display_host = conf.optional(&keys::DRIVER_HOST)?;
    let display_host = display_host.as_deref().unwrap_or("localhost");
    let started = SparkUi::start(
        store,
        "0.0.0.0",
        display_host,
        conf.value(&keys::UI_PORT)?,
        conf.value(&keys::PORT_MAX_RETRIES)?,
        &flint_rpc::RpcSecurity::from_conf(conf)?,
    )
    .await;
    match started {
        Ok(ui) => Ok(Some(ui)),
        Err(error) => {
            tracing::warn!("Running without a web UI: {error}");
            Ok(None)
        }
    }
}

/// Starts the application's event log when `spark.eventLog.enabled` is true.
fn start_event_log(
    conf: &SparkConf,
    app_id: &str,
) -> Result<Option<EventLoggingListener>, FlintError> {
    if !conf.value(&keys::EVENT_LOG_ENABLED)? {
        return Ok(None);
    }
    let compress = conf.value(&keys::EVENT_LOG_COMPRESS)?;
    let codec = conf.value(&keys::EVENT_LOG_COMPRESSION_CODEC)?;
    if compress && !codec.eq_ignore_ascii_case("zstd") {
        return Err(EventLogError::Codec(codec).into());
    }
    let config = EventLogConfig {
        dir: conf.value(&keys::EVENT_LOG_DIR)?,
        compress,
        overwrite: conf.value(&keys::EVENT_LOG_OVERWRITE)?,
    };
    Ok(Some(EventLoggingListener::start(app_id, &config)?))
}

/// Facts about the driver's process for the Environment tab (Spark's system properties).
fn system_properties() -> Vec<(String, String)> {
    let mut facts = vec![
        (
            "flint.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("os.name".to_string(), std::env::consts::OS.to_string()),
        ("os.arch".to_string(), std::env::consts::ARCH.to_string()),
        ("user.name".to_string(), flint_conf::current_user()),
        ("process.id".to_string(), std::process::id().to_string()),
        (
            "available.processors".to_string(),
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .to_string(),
        ),
    ];
    if let Ok(dir) = std::env::current_dir() {
        facts.push(("user.dir".to_string(), dir.display().to_string()));
    }
    facts.sort();
    facts
}

/// `spark.sql.shuffle.partitions`, else `spark.default.parallelism`, else `slots`.
fn shuffle_partitions(conf: &SparkConf, slots: usize) -> Result<usize, FlintError> {
    let default_parallelism = conf.optional(&keys::DEFAULT_PARALLELISM)?.unwrap_or(slots);
    Ok(conf
        .optional(&keys::SHUFFLE_PARTITIONS)?
        .unwrap_or(default_parallelism))
}

/// An application's link to a standalone cluster: the driver endpoint executors dial, the
/// registration with the master, and the `local-cluster` it started, if any.
#[derive(Debug)]
struct ClusterConnection {
    backend: Arc<StandaloneSchedulerBackend>,
    client: StandaloneAppClient,
    max_cores: Option<usize>,
    /// Dynamic allocation's settings, when it is enabled.
    allocation: Option<AllocationConfig>,
    /// Dynamic allocation, once started; dropped before the client.
    allocation_manager: Option<ExecutorAllocationManager>,
    /// Declared last: dropped after the client, so the master ends the application first.
    _local_cluster: Option<LocalCluster>,
}

/// `spark.network.timeout`, checked against `spark.executor.heartbeatInterval` as Spark does:
/// an executor must get to heartbeat several times before it counts as dead.
fn executor_timeout(conf: &SparkConf) -> Result<Duration, FlintError> {
    let timeout = conf.value(&keys::NETWORK_TIMEOUT)?;
    let interval = conf.value(&keys::EXECUTOR_HEARTBEAT_INTERVAL)?;
    if timeout <= interval {
        return Err(flint_conf::ConfError::InvalidValue {
            key: keys::NETWORK_TIMEOUT.key.into(),
            value: conf
                .get(keys::NETWORK_TIMEOUT.key)
                .unwrap_or(keys::NETWORK_TIMEOUT.default)
                .into(),
            expected: "a duration greater than spark.executor.heartbeatInterval",
        }
        .into());
    }
    Ok(timeout)
}

/// Task slots the scheduler hands out when `spark.cores.max` is unset; tasks still wait
/// for real executor cores.
const UNBOUNDED_SLOTS: usize = 4096;

impl ClusterConnection {
    async fn start(
        conf: &SparkConf,
        app_name: &str,
        masters: Vec<(String, u16)>,
        local_cluster: Option<LocalCluster>,
        map_outputs: Arc<MapOutputTracker>,
        listener_bus: Arc<ListenerBus>,
        app_ui_url: Option<String>,
    ) -> Result<Self, FlintError> {
        let driver_host = match conf.optional(&keys::DRIVER_HOST)? {
            Some(host) => host,
            None => default_driver_host(&masters),
        };
        let (listener, port) = flint_rpc::bind_service(
            "sparkDriver",
            &driver_host,
            conf.value(&keys::DRIVER_PORT)?,
            conf.value(&keys::PORT_MAX_RETRIES)?,
        )
        .await?;
        let max_cores = conf.optional(&keys::CORES_MAX)?;
        let allocation = AllocationConfig::from_conf(conf)?;
        let security = flint_rpc::RpcSecurity::from_conf(conf)?;
        let backend = Arc::new(
            StandaloneSchedulerBackend::start(
                listener,
                max_cores.unwrap_or(UNBOUNDED_SLOTS),
                conf.value(&keys::STARVATION_TIMEOUT)?,
                executor_timeout(conf)?,
                map_outputs,
                listener_bus,
                security.clone(),
            )
            .map_err(|source| FlintError::Io {
                path: format!("driver endpoint {driver_host}:{port}"),
                source,
            })?
            .with_locality_wait(conf.value(&keys::LOCALITY_WAIT)?)
            .with_services_removing_shuffles(conf.value(&keys::SHUFFLE_SERVICE_REMOVE_SHUFFLE)?),
        );
        let memory_mib = conf.value(&keys::EXECUTOR_MEMORY)?.0 >> 20;
        let withheld = flint_conf::withheld_secret_keys(conf);
        if !withheld.is_empty() {
            tracing::warn!(
                "Not passing {} to executors: settings whose names look secret never go on a command line",
                withheld.join(", ")
            );
        }
        let description = AppDescription {
            name: app_name.to_string(),
            max_cores: max_cores.map(|n| n as u32),
            cores_per_executor: conf.optional(&keys::EXECUTOR_CORES)?.map(|n| n as u32),
            memory_per_executor_mib: memory_mib.max(1),
            driver_url: format!("{driver_host}:{port}"),
            user: flint_conf::current_user(),
            app_ui_url,
            // Dynamic allocation asks for its executors once it starts.
            initial_executor_limit: allocation.as_ref().map(|_| 0),
            // Secrets stay here: the master persists and shows this, and workers put it on
            // executors' command lines (they hand executors their own secret instead).
            conf: conf
                .iter()
                .filter(|(key, _)| {
                    key.starts_with("spark.")
                        && *key != keys::MASTER.key
                        && !flint_conf::is_secret_key(key)
                })
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        };
        let client = StandaloneAppClient::register(
            &masters,
            description,
            Arc::clone(&backend),
            Duration::from_secs(10),
            // How long the master waits for a silent worker; the driver gives its master as long.
            conf.value(&keys::WORKER_TIMEOUT)?,
            security,
        )
        .await?;
        Ok(Self {
            backend,
            client,
            max_cores,
            allocation,
            allocation_manager: None,
            _local_cluster: local_cluster,
        })
    }

    /// Starts dynamic allocation when it is enabled; returns its `/metrics` figures.
    fn start_dynamic_allocation(
        &mut self,
        listener_bus: &ListenerBus,
        map_outputs: Arc<MapOutputTracker>,
    ) -> Option<Arc<AllocationGauges>> {
        let config = self.allocation.take()?;
        let client: Arc<dyn AllocationClient> = self.backend.clone();
        let manager = ExecutorAllocationManager::start(config, client, listener_bus, map_outputs);
        let gauges = manager.gauges();
        self.allocation_manager = Some(manager);
        Some(gauges)
    }

    /// What the application runs with on this cluster.
    fn resolved(self) -> Started {
        let cluster_cores = self.client.cluster_cores() as usize;
        // Spark's standalone default parallelism: the cores the application gets, at least 2.
        let default_slots = self
            .max_cores
            .unwrap_or(usize::MAX)
            .min(cluster_cores)
            .max(2);
        Started {
            app_id: self.client.app_id().to_string(),
            slots: self.max_cores.unwrap_or(UNBOUNDED_SLOTS),
            default_slots,
            backend: self.backend.clone(),
            executor: None,
            cluster: Some(self),
        }
    }
}

/// How an application's tasks get run, once its executors are arranged.
struct Started {
    app_id: String,
    /// Task slots the task scheduler hands out.
    slots: usize,
    /// The default parallelism (`spark.default.parallelism` when unset).
    default_slots: usize,
    backend: Arc<dyn SchedulerBackend>,
    executor: Option<Arc<Executor>>,
    cluster: Option<ClusterConnection>,
}

/// Where executors reach the driver when `spark.driver.host` is unset: 127.0.0.1 when every
/// master is on a loopback address (a one-machine cluster), else this machine's host name.
fn default_driver_host(masters: &[(String, u16)]) -> String {
    let loopback = |host: &str| {
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    if masters.iter().all(|(host, _)| loopback(host)) {
        return "127.0.0.1".into();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The driver's DataFusion runtime for planning and file listing. Listings are not cached:
/// a path rewritten by `mode("overwrite")` must be listed anew, as Spark refreshes it.
pub(crate) fn planner_runtime()
-> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>, FlintError> {
    Ok(datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_list_cache_limit(0)
        .build_arc()?)
}
