use std::sync::{Arc, Weak};

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use flint_conf::{SparkConf, keys};
use flint_driver::SparkListener;

use crate::context::{SparkContext, planner_runtime};
use crate::path_tables::register_path_schemas;
use crate::{DataFrame, DataFrameReader, FlintError};

/// The entry point of an application (PySpark's `SparkSession`): SQL, readers, and the
/// application's context. Cheap to clone; all clones share one application.
#[derive(Clone)]
pub struct SparkSession {
    inner: Arc<SessionInner>,
}

pub(crate) struct SessionInner {
    pub(crate) ctx: SessionContext,
    /// The application, shared by every session of it ([`SparkSession::new_session`]).
    pub(crate) context: Arc<SparkContext>,
    /// Runtime SQL settings changed by `SET key=value` (Spark's `SQLConf` of this session).
    pub(crate) sql_conf: std::sync::RwLock<std::collections::BTreeMap<String, String>>,
}

impl std::fmt::Debug for SparkSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparkSession")
            .field("app_id", &self.inner.context.app_id)
            .finish_non_exhaustive()
    }
}

/// The active session; held across creation so concurrent `get_or_create` calls start one
/// application, as Spark's synchronized `getOrCreate` does.
static ACTIVE_SESSION: tokio::sync::Mutex<Option<Weak<SessionInner>>> =
    tokio::sync::Mutex::const_new(None);

/// Configures and creates a [`SparkSession`] (PySpark's `SparkSession.builder`).
#[derive(Debug, Default, Clone)]
pub struct Builder {
    conf: SparkConf,
}

impl Builder {
    /// Sets `spark.master`: `local`, `local[N]`, `local[*]`.
    pub fn master(mut self, master: &str) -> Self {
        self.conf.set(keys::MASTER.key, master);
        self
    }

    /// Sets `spark.app.name`.
    pub fn app_name(mut self, name: &str) -> Self {
        self.conf.set(keys::APP_NAME.key, name);
        self
    }

    /// Sets any configuration key; values set here win over `flint submit`'s.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.conf.set(key, value);
        self
    }

    /// Returns the running session, or starts an application with this configuration
    /// completed by what `flint submit` passed.
    pub async fn get_or_create(self) -> Result<SparkSession, FlintError> {
        let mut active = ACTIVE_SESSION.lock().await;
        if let Some(inner) = active.as_ref().and_then(Weak::upgrade)
            && !inner.context.is_stopped()
        {
            tracing::warn!(
                "Using an existing Spark session; only runtime SQL configurations will take effect."
            );
            return Ok(SparkSession { inner });
        }
        let session = self.create().await?;
        *active = Some(Arc::downgrade(&session.inner));
        Ok(session)
    }

    /// Starts a new application even when one is active in this process (for tests and
    /// tools that run several applications side by side); it does not become the active one.
    pub async fn create(self) -> Result<SparkSession, FlintError> {
        let mut conf = self.conf;
        conf.set_missing_from(&SparkConf::from_submit_env());
        let context = Arc::new(SparkContext::start(conf).await?);
        let session = SparkSession::on_context(context)?;
        // Validates the configured time zone at start, as Spark does.
        flint_sql::HiveFormat::new(&session.session_time_zone())?;
        Ok(session)
    }
}

impl SparkSession {
    /// A session of `context` with its own temporary views and SQL conf.
    fn on_context(context: Arc<SparkContext>) -> Result<SparkSession, FlintError> {
        let config = context.session_config.clone();
        let state = flint_sql::spark_session_state(
            config.clone(),
            planner_runtime()?,
            vec![
                Arc::new(flint_python::MapInPythonPlanner),
                Arc::new(crate::cache::InMemoryRelationPlanner::new(Arc::clone(
                    &context.cache,
                ))),
            ],
        )?;
        let ctx = SessionContext::new_with_state(state);
        register_path_schemas(&ctx, config)?;
        // Temporary views of this session over the application's managed tables.
        if let Some(catalog) = ctx.catalog("datafusion") {
            catalog.register_schema(
                "public",
                Arc::new(crate::catalog::SessionSchema::new(Arc::clone(
                    &context.managed_tables,
                ))),
            )?;
            catalog.register_schema(
                "global_temp",
                Arc::new(crate::catalog::GlobalTempSchema(Arc::clone(
                    &context.global_temp_views,
                ))),
            )?;
        }
        let session = SparkSession {
            inner: Arc::new(SessionInner {
                ctx,
                context,
                sql_conf: Default::default(),
            }),
        };
        crate::sql::set_plan_time_zone(&session, &session.session_time_zone());
        Ok(session)
    }

    /// Another session of the same application, with its own temporary views and SQL conf
    /// (Spark's `newSession`): what each Spark Connect client gets.
    pub fn new_session(&self) -> Result<SparkSession, FlintError> {
        SparkSession::on_context(Arc::clone(&self.inner.context))
    }

    /// The DataFusion context this session plans with: its tables, views, functions and
    /// settings (for front ends that build plans themselves, such as Spark Connect).
    pub fn session_context(&self) -> &SessionContext {
        &self.inner.ctx
    }

    /// What `f` answers of this session's catalog of temporary views (`None` only if the
    /// session was built without one).
    fn with_views<T>(&self, f: impl FnOnce(&crate::catalog::SessionSchema) -> T) -> Option<T> {
        let schema = self
            .inner
            .ctx
            .catalog("datafusion")
            .and_then(|catalog| catalog.schema("public"))?;
        schema
            .downcast_ref::<crate::catalog::SessionSchema>()
            .map(f)
    }

    /// Drops this session's temporary view `name` (Spark's `catalog.dropTempView`), never a
    /// table; whether it existed.
    pub fn drop_temp_view(&self, name: &str) -> Result<bool, FlintError> {
        Ok(self
            .with_views(|views| views.drop_view(name))
            .transpose()?
            .unwrap_or(false))
    }

    /// Drops the application's global temporary view `name` (Spark's
    /// `catalog.dropGlobalTempView`); whether it existed.
    pub fn drop_global_temp_view(&self, name: &str) -> Result<bool, FlintError> {
        Ok(self.inner.context.global_temp_views.drop_view(name)?)
    }

    /// This session's temporary views, lowercased as Spark keeps them.
    pub fn temp_view_names(&self) -> Vec<String> {
        self.with_views(|views| views.view_names())
            .unwrap_or_default()
    }

    /// The application's managed tables (`saveAsTable`, `CREATE TABLE ... USING`), sorted.
    pub fn managed_tables(&self) -> Vec<String> {
        self.inner.context.managed_tables.names()
    }

    /// The data source (`parquet`, `csv`, `json`) of the managed table `name`, if it is one.
    pub fn managed_table_format(&self, name: &str) -> Option<&'static str> {
        self.inner
            .context
            .managed_tables
            .get(name)
            .map(|(_, format)| format.name())
    }

    /// Sets a SQL conf of this session, as `SET key=value` does.
    pub fn set_conf(&self, key: &str, value: &str) -> Result<(), FlintError> {
        crate::sql::set_conf(self, key, value)
    }

    /// Forgets a SQL conf set on this session (Spark's `conf.unset`): the application's
    /// value applies again.
    pub fn unset_conf(&self, key: &str) -> Result<(), FlintError> {
        if key == keys::SHUFFLE_PARTITIONS.key {
            crate::sql::set_conf(self, key, &self.shuffle_partitions().to_string())?;
        } else if let Some(value) = self.conf().get(key).map(str::to_string) {
            crate::sql::set_conf(self, key, &value)?;
        } else if let Some(default) = keys::ALL
            .iter()
            .find(|entry| entry.key == key)
            .and_then(|entry| entry.default)
        {
            crate::sql::set_conf(self, key, default)?;
        }
        if let Ok(mut conf) = self.inner.sql_conf.write() {
            conf.remove(key);
        }
        if key == keys::SESSION_TIME_ZONE.key {
            crate::sql::set_plan_time_zone(self, &self.session_time_zone());
        }
        Ok(())
    }

    /// Every SQL conf set on this session.
    pub fn session_confs(&self) -> std::collections::BTreeMap<String, String> {
        self.inner
            .sql_conf
            .read()
            .map(|conf| conf.clone())
            .unwrap_or_default()
    }

    /// Starts configuring a session.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Runs one SQL statement (Spark SQL). Queries return a lazy DataFrame; DDL such as
    /// `CREATE TEMPORARY VIEW t USING parquet OPTIONS (path '...')` runs at once.
    pub async fn sql(&self, text: &str) -> Result<DataFrame, FlintError> {
        crate::sql::run_statement(self, text).await
    }

    /// A DataFrame with one `id` column from 0 to `end - 1` (Spark's `spark.range(end)`).
    pub async fn range(&self, end: i64) -> Result<DataFrame, FlintError> {
        self.range_with_step(0, end, 1).await
    }

    /// A DataFrame with one `id` column from `start` to `end` (exclusive) by `step`.
    pub async fn range_with_step(
        &self,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<DataFrame, FlintError> {
        self.range_in_partitions(start, end, step, None).await
    }

    /// `spark.range(start, end, step, numPartitions)`: with a partition count, the values
    /// are cut into that many partitions as Spark cuts them.
    pub async fn range_in_partitions(
        &self,
        start: i64,
        end: i64,
        step: i64,
        partitions: Option<usize>,
    ) -> Result<DataFrame, FlintError> {
        if step == 0 {
            return Err(FlintError::Unsupported("range step must not be 0".into()));
        }
        let partitions = partitions.map(|n| format!(", {n}")).unwrap_or_default();
        let df = self
            .inner
            .ctx
            .sql(&format!(
                "SELECT id FROM range({start}, {end}, {step}{partitions})"
            ))
            .await?;
        Ok(DataFrame::new(
            self.clone(),
            df,
            format!("range({start}, {end}, {step}{partitions})"),
        ))
    }

    /// The session's value of a SQL setting: what `SET` gave it, else the application's.
    pub fn sql_conf(&self, key: &str) -> Option<String> {
        let set = self.inner.sql_conf.read().ok()?.get(key).cloned();
        set.or_else(|| self.conf().get(key).map(str::to_string))
    }

    /// `spark.sql.session.timeZone`: the zone timestamps are printed in; by default the
    /// machine's (`TZ`, else `/etc/localtime`), else `UTC`.
    pub fn session_time_zone(&self) -> String {
        self.sql_conf(flint_conf::keys::SESSION_TIME_ZONE.key)
            .unwrap_or_else(machine_time_zone)
    }

    /// The format `spark-sql` prints this session's values in.
    pub fn hive_format(&self) -> Result<flint_sql::HiveFormat, FlintError> {
        Ok(flint_sql::HiveFormat::new(&self.session_time_zone())?)
    }

    /// Readers of parquet, csv and json files.
    pub fn read(&self) -> DataFrameReader {
        DataFrameReader::new(self.clone())
    }

    /// The DataFrame of a temporary view or table.
    pub async fn table(&self, name: &str) -> Result<DataFrame, FlintError> {
        let df = self.inner.ctx.table(name).await?;
        Ok(DataFrame::new(self.clone(), df, name.to_string()))
    }

    /// Registers a scalar function for SQL and DataFrame calls. Local mode only for now:
    /// Rust code cannot travel to executor processes.
    pub fn register_udf(&self, udf: ScalarUDF) -> Result<(), FlintError> {
        let udf = Arc::new(udf);
        self.inner.ctx.register_udf(udf.as_ref().clone());
        self.inner.context.register_udf(udf)
    }

    /// Posts an event to the application's listeners (the UI, the event log): what a
    /// service inside the driver reports, such as Spark Connect's sessions and operations.
    pub fn post_event(&self, event: crate::SparkListenerEvent) {
        self.inner.context.listener_bus.post(event);
    }

    /// Adds a listener for the application's job, stage and task events.
    pub fn add_listener(&self, listener: Arc<dyn SparkListener>) {
        self.inner.context.add_listener(listener);
    }

    /// Blocks until every event posted so far reached the listeners (for tests and tools).
    pub fn wait_for_listeners(&self) {
        self.inner.context.listener_bus.wait_until_empty();
    }

    /// Cancels a running job (Spark's `SparkContext.cancelJob`): its tasks are killed and it
    /// fails with `SPARK_JOB_CANCELLED`. Returns whether it was running.
    pub fn cancel_job(&self, job_id: u32) -> bool {
        self.inner.context.dag_scheduler().cancel_job(job_id, None)
    }

    /// Cancels the running jobs started inside [`crate::with_job_tags`] with `tag` (Spark's
    /// `SparkContext.cancelJobsWithTag`); returns their ids.
    pub fn cancel_jobs_with_tag(&self, tag: &str) -> Vec<u32> {
        self.inner.context.dag_scheduler().cancel_jobs_with_tag(tag)
    }

    /// Cancels every running job of the application (Spark's `cancelAllJobs`).
    pub fn cancel_all_jobs(&self) -> Vec<u32> {
        self.inner.context.dag_scheduler().cancel_all_jobs()
    }

    /// The running jobs' ids and tags.
    pub fn active_jobs(&self) -> Vec<(u32, Vec<String>)> {
        self.inner.context.dag_scheduler().active_jobs()
    }

    /// The application's id, e.g. `local-1732190102000`.
    pub fn app_id(&self) -> &str {
        &self.inner.context.app_id
    }

    /// `plan` reading cached data wherever part of it is a cached plan (Spark's
    /// `useCachedData`); `plan` itself when nothing is cached.
    pub fn use_cached_data(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
    ) -> Result<datafusion::logical_expr::LogicalPlan, FlintError> {
        Ok(self.inner.context.cache.use_cached_data(plan)?)
    }

    /// The application's web UI, `http://HOST:PORT`, unless `spark.ui.enabled=false` (Spark's
    /// `uiWebUrl`).
    pub fn ui_web_url(&self) -> Option<&str> {
        self.inner.context.ui_web_url()
    }

    /// The application's name.
    pub fn app_name(&self) -> &str {
        &self.inner.context.app_name
    }

    /// The application's configuration as resolved at start.
    pub fn conf(&self) -> &SparkConf {
        &self.inner.context.conf
    }

    /// Reduce-side partitions of shuffles (`spark.sql.shuffle.partitions` as resolved).
    pub fn shuffle_partitions(&self) -> usize {
        self.inner.context.shuffle_partitions
    }

    /// Whether the master is `local`, `local[N]` or `local[*]`.
    pub fn is_local(&self) -> bool {
        self.inner.context.master.is_local()
    }

    /// The application's directory under `spark.local.dir` in local mode (executor processes
    /// of a cluster have their own); gone after [`SparkSession::stop`].
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        self.inner.context.local_dir()
    }

    /// Stops the application: executors end and the local directory is removed.
    pub fn stop(&self) {
        self.inner.context.stop();
    }

    pub(crate) fn inner(&self) -> &SessionInner {
        &self.inner
    }
}

/// The machine's time zone name: `TZ`, else the zone `/etc/localtime` links to, else `UTC`.
fn machine_time_zone() -> String {
    let from_env = std::env::var("TZ")
        .ok()
        .map(|tz| tz.trim_start_matches(':').to_string());
    let from_link = std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .split_once("zoneinfo/")
                .map(|(_, zone)| zone.to_string())
        });
    // `TZ` may name a file (`:/etc/localtime`) or a POSIX rule; only a zone name is used.
    [from_env, from_link]
        .into_iter()
        .flatten()
        .find(|zone| flint_sql::HiveFormat::new(zone).is_ok())
        .unwrap_or_else(|| "UTC".to_string())
}
