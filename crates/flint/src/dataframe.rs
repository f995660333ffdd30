use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::common::{Column, JoinType};
use datafusion::logical_expr::{Expr, Partitioning, SortExpr};
use datafusion::prelude::{col, lit};
use flint_driver::StageGraph;
use flint_driver::cache::StorageLevel;

use crate::{DataFrameWriter, FlintError, SparkSession};

/// A lazy, distributed table (PySpark's `DataFrame`): transformations build a plan; each
/// action runs it as one job. Clones share the planned stages, so a second action over the
/// same DataFrame reuses its shuffle output (Spark's skipped stages).
#[derive(Clone)]
pub struct DataFrame {
    session: SparkSession,
    df: datafusion::dataframe::DataFrame,
    origin: String,
    /// The planned stages and the cache version they were planned under: a `cache()` or
    /// `unpersist()` since makes them be planned again.
    stages: Arc<tokio::sync::Mutex<Option<PlannedStages>>>,
}

impl std::fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFrame")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Stages planned while the application's cached data was at a version.
type PlannedStages = (u64, Arc<StageGraph>);

/// The result of `group_by`, waiting for aggregations (PySpark's `GroupedData`).
#[derive(Debug, Clone)]
pub struct GroupedData {
    parent: DataFrame,
    keys: Vec<Expr>,
}

impl GroupedData {
    /// Aggregates each group, e.g. `agg(vec![sum(col("x")).alias("total")])`.
    pub fn agg(self, aggregates: Vec<Expr>) -> Result<DataFrame, FlintError> {
        let df = self.parent.df.clone().aggregate(self.keys, aggregates)?;
        Ok(self.parent.derive(df))
    }

    /// Counts rows per group into a `count` column.
    pub fn count(self) -> Result<DataFrame, FlintError> {
        self.agg(vec![
            datafusion::functions_aggregate::expr_fn::count(lit(1)).alias("count"),
        ])
    }
}

/// How two DataFrames join, by Spark's names (`inner`, `left`, `full`, `left_semi`, ...).
fn join_type(how: &str) -> Result<JoinType, FlintError> {
    Ok(match how.to_ascii_lowercase().replace('_', "").as_str() {
        "inner" => JoinType::Inner,
        "left" | "leftouter" => JoinType::Left,
        "right" | "rightouter" => JoinType::Right,
        "full" | "outer" | "fullouter" => JoinType::Full,
        "semi" | "leftsemi" => JoinType::LeftSemi,
        "anti" | "leftanti" => JoinType::LeftAnti,
        _ => {
            return Err(FlintError::Unsupported(format!(
                "unsupported join type \"{how}\": use inner, left, right, full, left_semi or left_anti"
            )));
        }
    })
}

impl DataFrame {
    /// A DataFrame of `session` over a DataFusion DataFrame planned with the session's
    /// context; `origin` names it in job descriptions (for front ends such as Spark Connect).
    pub fn from_datafusion(
        session: &SparkSession,
        df: datafusion::dataframe::DataFrame,
        origin: &str,
    ) -> Self {
        Self::new(session.clone(), df, origin.to_string())
    }

    /// The DataFusion DataFrame behind this one.
    pub fn datafusion(&self) -> &datafusion::dataframe::DataFrame {
        &self.df
    }

    /// Runs the plan as one job described as `action` (Spark's call site, e.g. `collect`,
    /// `toPandas`) and returns every row.
    pub async fn collect_as(&self, action: &str) -> Result<Vec<RecordBatch>, FlintError> {
        self.run(action).await
    }

    pub(crate) fn new(
        session: SparkSession,
        df: datafusion::dataframe::DataFrame,
        origin: String,
    ) -> Self {
        Self {
            session,
            df,
            origin,
            stages: Arc::default(),
        }
    }

    fn derive(&self, df: datafusion::dataframe::DataFrame) -> DataFrame {
        DataFrame::new(self.session.clone(), df, self.origin.clone())
    }

    /// The column names.
    pub fn columns(&self) -> Vec<String> {
        self.df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The Arrow schema of the rows.
    pub fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        Arc::new(self.df.schema().as_arrow().clone())
    }

    /// Projects expressions, e.g. `select(vec![col("a"), (col("b") * lit(2)).alias("b2")])`.
    pub fn select(&self, exprs: Vec<Expr>) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().select(exprs)?))
    }

    /// Projects columns by name.
    pub fn select_columns(&self, names: &[&str]) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().select_columns(names)?))
    }

    /// Keeps rows where `condition` is true.
    pub fn filter(&self, condition: Expr) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().filter(condition)?))
    }

    /// Same as [`DataFrame::filter`] (PySpark's `where`).
    pub fn where_(&self, condition: Expr) -> Result<DataFrame, FlintError> {
        self.filter(condition)
    }

    /// Adds or replaces a column.
    pub fn with_column(&self, name: &str, expr: Expr) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().with_column(name, expr)?))
    }

    /// Renames a column.
    pub fn with_column_renamed(&self, old: &str, new: &str) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().with_column_renamed(old, new)?))
    }

    /// Groups rows by expressions for [`GroupedData::agg`].
    pub fn group_by(&self, keys: Vec<Expr>) -> GroupedData {
        GroupedData {
            parent: self.clone(),
            keys,
        }
    }

    /// Joins on equal columns of the same names, keeping one copy of each key column (Spark's
    /// `join(other, on, how)`): keys first, then the left's other columns, then the right's.
    pub fn join(&self, right: &DataFrame, on: &[&str], how: &str) -> Result<DataFrame, FlintError> {
        const LEFT: &str = "__flint_left";
        const RIGHT: &str = "__flint_right";
        let how = join_type(how)?;
        let joined =
            self.df
                .clone()
                .alias(LEFT)?
                .join(right.df.clone().alias(RIGHT)?, how, on, on, None)?;
        let side = |qualifier: &str, name: &str| col(Column::new(Some(qualifier), name));
        let mut exprs: Vec<Expr> = on
            .iter()
            .map(|key| {
                let key_expr = match how {
                    JoinType::Right => side(RIGHT, key),
                    JoinType::Full => datafusion::functions::expr_fn::coalesce(vec![
                        side(LEFT, key),
                        side(RIGHT, key),
                    ]),
                    _ => side(LEFT, key),
                };
                key_expr.alias(*key)
            })
            .collect();
        let is_key = |name: &String| on.contains(&name.as_str());
        exprs.extend(
            self.columns()
                .iter()
                .filter(|c| !is_key(c))
                .map(|c| side(LEFT, c).alias(c)),
        );
        if !matches!(how, JoinType::LeftSemi | JoinType::LeftAnti) {
            exprs.extend(
                right
                    .columns()
                    .iter()
                    .filter(|c| !is_key(c))
                    .map(|c| side(RIGHT, c).alias(c)),
            );
        }
        Ok(self.derive(joined.select(exprs)?))
    }

    /// Joins on an arbitrary condition, e.g. `col("a.id").eq(col("b.id"))`.
    pub fn join_on(
        &self,
        right: &DataFrame,
        condition: Expr,
        how: &str,
    ) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().join_on(
            right.df.clone(),
            join_type(how)?,
            vec![condition],
        )?))
    }

    /// Sorts rows, e.g. `order_by(vec![col("x").sort(false, true)])` for descending.
    pub fn order_by(&self, keys: Vec<SortExpr>) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().sort(keys)?))
    }

    /// Keeps the first `n` rows.
    pub fn limit(&self, n: usize) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().limit(0, Some(n))?))
    }

    /// Removes duplicate rows.
    pub fn distinct(&self) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().distinct()?))
    }

    /// Appends another DataFrame's rows, matching columns by position (Spark's `union`, which keeps duplicates).
    pub fn union(&self, other: &DataFrame) -> Result<DataFrame, FlintError> {
        Ok(self.derive(self.df.clone().union(other.df.clone())?))
    }

    /// Spreads rows round-robin over `n` partitions (a shuffle).
    pub fn repartition(&self, n: usize) -> Result<DataFrame, FlintError> {
        Ok(self.derive(
            self.df
                .clone()
                .repartition(Partitioning::RoundRobinBatch(n.max(1)))?,
        ))
    }

    /// Hash-partitions rows by expressions into `n` partitions (a shuffle).
    pub fn repartition_by(&self, n: usize, keys: Vec<Expr>) -> Result<DataFrame, FlintError> {
        Ok(self.derive(
            self.df
                .clone()
                .repartition(Partitioning::Hash(keys, n.max(1)))?,
        ))
    }

    /// Renames all columns by position (Spark's `toDF(names...)`).
    pub fn to_df(&self, names: &[&str]) -> Result<DataFrame, FlintError> {
        let columns = self.columns();
        if names.len() != columns.len() {
            return Err(FlintError::Unsupported(format!(
                "to_df needs {} column names, got {}",
                columns.len(),
                names.len()
            )));
        }
        let exprs = columns
            .iter()
            .zip(names)
            .map(|(old, new)| col(Column::from_name(old)).alias(*new))
            .collect();
        self.select(exprs)
    }

    /// Registers this DataFrame as a temporary view for SQL.
    pub fn create_or_replace_temp_view(&self, name: &str) -> Result<(), FlintError> {
        let ctx = &self.session.inner().ctx;
        ctx.register_table(name, self.df.clone().into_view())?;
        Ok(())
    }

    /// Registers this DataFrame as `global_temp.name`, seen by every session of the
    /// application (Spark's `createGlobalTempView`; `replace` for `createOrReplace...`).
    pub fn create_global_temp_view(&self, name: &str, replace: bool) -> Result<(), FlintError> {
        let views = &self.session.inner().context.global_temp_views;
        views.create(name, self.df.clone().into_view(), replace)?;
        Ok(())
    }

    /// The physical plan, cut into stages once and reused by every action on this DataFrame
    /// while the cached data stays the same.
    pub(crate) async fn stage_graph(&self) -> Result<Arc<StageGraph>, FlintError> {
        let mut stages = self.stages.lock().await;
        let version = self.session.inner().context.cache.version();
        if let Some((planned, graph)) = stages.as_ref()
            && *planned == version
        {
            return Ok(Arc::clone(graph));
        }
        let plan = self.physical_plan().await?;
        let graph = Arc::new(self.cut_stages(plan)?);
        *stages = Some((version, Arc::clone(&graph)));
        Ok(graph)
    }

    /// The physical plan, reading cached data wherever the plan holds a cached plan.
    pub(crate) async fn physical_plan(
        &self,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>, FlintError> {
        let cache = &self.session.inner().context.cache;
        let plan = cache.use_cached_data(self.df.logical_plan().clone())?;
        if plan == *self.df.logical_plan() {
            return Ok(self.df.clone().create_physical_plan().await?);
        }
        let (state, _) = self.df.clone().into_parts();
        Ok(datafusion::dataframe::DataFrame::new(state, plan)
            .create_physical_plan()
            .await?)
    }

    /// Keeps this DataFrame's rows once computed, in the executors' block managers, at
    /// `MEMORY_AND_DISK` (Spark's `cache()`); lazy: the next action stores them.
    pub fn cache(&self) -> DataFrame {
        self.persist(StorageLevel::MEMORY_AND_DISK)
    }

    /// Keeps this DataFrame's rows once computed at `level` (Spark's `persist`); a DataFrame
    /// cached already keeps its level.
    pub fn persist(&self, level: StorageLevel) -> DataFrame {
        self.persist_as(level, None);
        self.clone()
    }

    /// Caches this DataFrame at `level`, as what `CACHE TABLE table` cached when `table` is
    /// given.
    pub(crate) fn persist_as(&self, level: StorageLevel, table: Option<String>) {
        if level == StorageLevel::NONE {
            return;
        }
        let context = &self.session.inner().context;
        let plan = self.df.logical_plan().clone();
        // What the analyzer makes of the plan (Spark's functions' nullability), for reads.
        let (state, _) = self.df.clone().into_parts();
        let analyzed = state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})
            .map(|analyzed| Arc::clone(analyzed.schema()))
            .unwrap_or_else(|_| Arc::clone(plan.schema()));
        context
            .cache
            .cache(plan, &analyzed, level, table, || context.next_cache_id());
    }

    /// Forgets this DataFrame's cached rows (Spark's `unpersist`).
    pub fn unpersist(&self) -> DataFrame {
        let context = &self.session.inner().context;
        if let Some(cache) = context.cache.uncache(self.df.logical_plan()) {
            context.drop_caches(&[cache]);
        }
        self.clone()
    }

    /// How this DataFrame is cached (`NONE` when it is not; Spark's `storageLevel`).
    pub fn storage_level(&self) -> StorageLevel {
        self.session
            .inner()
            .context
            .cache
            .lookup(self.df.logical_plan())
            .map_or(StorageLevel::NONE, |cache| cache.level)
    }

    /// `plan` (this DataFrame's, or one over it) cut into stages that run with the session's
    /// SQL settings.
    fn cut_stages(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    ) -> Result<StageGraph, FlintError> {
        let mut graph = self.session.inner().context.cut_stages(plan)?;
        graph.sql_conf =
            flint_executor::task_sql_conf(self.df.task_ctx().session_config().options()).into();
        Ok(graph)
    }

    /// Runs `plan`, a physical plan over this DataFrame's (a writer's, say), as one job.
    pub(crate) async fn run_plan(
        &self,
        action: &str,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    ) -> Result<Vec<RecordBatch>, FlintError> {
        let graph = self.cut_stages(plan)?;
        self.run_graph(action, &graph).await
    }

    pub(crate) async fn run(&self, action: &str) -> Result<Vec<RecordBatch>, FlintError> {
        let graph = self.stage_graph().await?;
        self.run_graph(action, &graph).await
    }

    /// Runs `graph` as one job described by `action` and where this DataFrame came from.
    async fn run_graph(
        &self,
        action: &str,
        graph: &StageGraph,
    ) -> Result<Vec<RecordBatch>, FlintError> {
        let description = format!("{action} at {}", truncate(&self.origin, 80));
        let pool = self
            .session
            .sql_conf(flint_conf::keys::SCHEDULER_POOL.key)
            .unwrap_or_else(|| flint_driver::pool::DEFAULT_POOL.to_string());
        self.session
            .inner()
            .context
            .run_job(graph, &description, &self.origin, &pool)
            .await
    }

    /// Runs the plan and returns every row (as Arrow record batches).
    pub async fn collect(&self) -> Result<Vec<RecordBatch>, FlintError> {
        self.run("collect").await
    }

    /// Counts the rows.
    pub async fn count(&self) -> Result<i64, FlintError> {
        let counted = self.group_by(vec![]).count()?;
        let batches = counted.run("count").await?;
        let value = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0);
        Ok(value)
    }

    /// Prints the first `n` rows as Spark's `show()` does.
    pub async fn show(&self, n: usize) -> Result<(), FlintError> {
        print!("{}", self.show_string(n).await?);
        Ok(())
    }

    /// The text [`DataFrame::show`] prints.
    pub async fn show_string(&self, n: usize) -> Result<String, FlintError> {
        let batches = self.limit(n + 1)?.run("showString").await?;
        Ok(crate::format_show(&self.schema(), &batches, n))
    }

    /// Writes the rows to files (PySpark's `DataFrameWriter`).
    pub fn write(&self) -> DataFrameWriter {
        DataFrameWriter::new(self.clone())
    }

    pub(crate) fn session(&self) -> &SparkSession {
        &self.session
    }

    pub(crate) fn inner_df(&self) -> &datafusion::dataframe::DataFrame {
        &self.df
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(max).collect::<String>())
    }
}
