//! Cached DataFrames (Spark's `CacheManager`): `cache()`, `persist(level)` and SQL's
//! `CACHE TABLE` record a DataFrame's logical plan; before a query is planned, every part of
//! it equal to a cached plan becomes an [`InMemoryRelation`] over that plan, which the
//! physical planner turns into a `CachedScanExec` and the stage planner into the cache's own
//! map stage (see `flint_driver::cache`). Nothing runs at `cache()`: the first action that
//! reads the cache stores its blocks, later ones read them.

use std::cmp::Ordering;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::Result;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use flint_driver::cache::{CacheInfo, CachedScanExec, StorageLevel};

/// One cached plan (Spark's `CachedData`).
#[derive(Debug, Clone)]
struct CachedData {
    plan: LogicalPlan,
    info: Arc<CacheInfo>,
    /// The physical plan the blocks are computed with, fixed by the first query that reads
    /// the cache (Spark's `InMemoryRelation.cachedPlan`): block `i` is partition `i` of this
    /// plan, whatever a later planning would split the input into.
    physical: Arc<std::sync::OnceLock<Arc<dyn ExecutionPlan>>>,
    /// Which columns may hold nulls once the plan is analyzed (Spark's functions can make a
    /// column nullable that the plan as built says is not): a read of the cache says so.
    nullable: Vec<bool>,
    /// The table or view `CACHE TABLE` named, if it came from there.
    table: Option<String>,
}

/// The application's cached plans, shared by all its sessions (Spark's `CacheManager` in
/// the shared state).
#[derive(Debug, Default)]
pub(crate) struct CacheManager {
    entries: RwLock<Vec<CachedData>>,
    /// Moves on at every change, so plans made before it are made again.
    version: AtomicU64,
}

impl CacheManager {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<CachedData>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the entries, then moves the version on: a plan made under the new version
    /// sees the change.
    fn change<T>(&self, change: impl FnOnce(&mut Vec<CachedData>) -> T) -> T {
        let changed = change(&mut self.entries.write().unwrap_or_else(|p| p.into_inner()));
        self.version.fetch_add(1, AtomicOrdering::SeqCst);
        changed
    }

    /// Changes with every cache and uncache.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(AtomicOrdering::SeqCst)
    }

    /// Caches `plan` at `level` under a new id drawn from `next_id`; `None` (and a warning, as
    /// Spark's "Asked to cache already cached data.") when it is cached already.
    pub(crate) fn cache(
        &self,
        plan: LogicalPlan,
        analyzed: &DFSchemaRef,
        level: StorageLevel,
        table: Option<String>,
        next_id: impl FnOnce() -> u32,
    ) -> Option<Arc<CacheInfo>> {
        if self.lookup(&plan).is_some() {
            tracing::warn!("Asked to cache already cached data.");
            return None;
        }
        let name = match &table {
            Some(table) => format!("In-memory table {table}"),
            None => first_line(&plan),
        };
        let info = Arc::new(CacheInfo {
            id: next_id(),
            name,
            level,
        });
        tracing::debug!(
            rdd_id = info.id,
            "Caching {} at {}",
            info.name,
            info.level.name()
        );
        let nullable = plan
            .schema()
            .fields()
            .iter()
            .zip(
                analyzed
                    .fields()
                    .iter()
                    .map(|f| f.is_nullable())
                    .chain(std::iter::repeat(true)),
            )
            .map(|(field, analyzed)| field.is_nullable() || analyzed)
            .collect();
        self.change(|entries| {
            entries.push(CachedData {
                plan,
                info: Arc::clone(&info),
                physical: Arc::default(),
                nullable,
                table,
            })
        });
        Some(info)
    }

    /// The cache of exactly `plan`, if there is one.
    pub(crate) fn lookup(&self, plan: &LogicalPlan) -> Option<Arc<CacheInfo>> {
        self.read()
            .iter()
            .find(|entry| same_plan(&entry.plan, plan))
            .map(|entry| Arc::clone(&entry.info))
    }

    /// Forgets the cache of `plan`; returns it.
    pub(crate) fn uncache(&self, plan: &LogicalPlan) -> Option<Arc<CacheInfo>> {
        let removed = self.remove(|entry| same_plan(&entry.plan, plan)).pop();
        if removed.is_none() {
            tracing::debug!(
                "Asked to uncache data that is not cached:\n{}",
                plan.display_indent()
            );
        }
        removed
    }

    /// Forgets what `CACHE TABLE name` cached; returns it.
    pub(crate) fn uncache_table(&self, name: &str) -> Option<Arc<CacheInfo>> {
        self.remove(|e| {
            e.table
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(name))
        })
        .pop()
    }

    /// Forgets every cache (`CLEAR CACHE`); returns them.
    pub(crate) fn clear(&self) -> Vec<Arc<CacheInfo>> {
        self.remove(|_| true)
    }

    /// Forgets the matching caches. A plan cached over one of them (a Connect client's
    /// plans are recorded reading the caches they were built on) then holds the dropped
    /// plan itself again, as later queries will, so it is still found; its blocks stay
    /// (Spark's non-cascading uncache).
    fn remove(&self, matches: impl Fn(&CachedData) -> bool) -> Vec<Arc<CacheInfo>> {
        if !self.read().iter().any(&matches) {
            return vec![];
        }
        self.change(|entries| {
            let (removed, mut kept): (Vec<CachedData>, Vec<CachedData>) =
                entries.drain(..).partition(|e| matches(e));
            for entry in &mut kept {
                if let Ok(plan) = read_without(entry.plan.clone(), &removed) {
                    entry.plan = plan;
                }
            }
            *entries = kept;
            removed.into_iter().map(|e| e.info).collect()
        })
    }

    /// The physical plan of cache `id` once the first query that reads it fixed it (`None`
    /// before, and for a cache dropped meanwhile).
    fn fixed_physical_plan(
        &self,
        id: u32,
    ) -> Option<Arc<std::sync::OnceLock<Arc<dyn ExecutionPlan>>>> {
        self.read()
            .iter()
            .find(|entry| entry.info.id == id)
            .map(|entry| Arc::clone(&entry.physical))
    }

    /// `plan` with every part equal to a cached plan read from the cache (Spark's
    /// `useCachedData`); a cached plan that contains another cached plan reads that one.
    pub(crate) fn use_cached_data(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        let entries = self.read().clone();
        if entries.is_empty() {
            return Ok(plan);
        }
        substitute(plan, &entries)
    }
}

fn substitute(plan: LogicalPlan, entries: &[CachedData]) -> Result<LogicalPlan> {
    plan.transform_down(|node| {
        let Some(position) = entries.iter().position(|e| same_plan(&e.plan, &node)) else {
            return Ok(Transformed::no(node));
        };
        let entry = &entries[position];
        tracing::debug!(
            rdd_id = entry.info.id,
            "Reading rdd {} from the cache",
            entry.info.id
        );
        let others: Vec<CachedData> = entries
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != position)
            .map(|(_, e)| e.clone())
            .collect();
        let input = substitute(entry.plan.clone(), &others)?;
        let relation = InMemoryRelation {
            schema: with_nullability(node.schema(), &entry.nullable)?,
            plan: input,
            info: Arc::clone(&entry.info),
        };
        Ok(Transformed::new(
            LogicalPlan::Extension(Extension {
                node: Arc::new(relation),
            }),
            true,
            TreeNodeRecursion::Jump,
        ))
    })
    .map(|transformed| transformed.data)
}

/// Whether two plans compute the same rows: equal plans (DataFusion's equality leaves out
/// what a table scan reads) whose scans read the same data. Two `range`s of different ends,
/// or two reads of different files, are never the same.
fn same_plan(a: &LogicalPlan, b: &LogicalPlan) -> bool {
    a == b && same_sources(a, b)
}

/// Whether the scans of two equal plans read the same data, walking both together; inputs
/// the two share are the same.
fn same_sources(a: &LogicalPlan, b: &LogicalPlan) -> bool {
    if let (LogicalPlan::TableScan(x), LogicalPlan::TableScan(y)) = (a, b) {
        return same_source(&x.source, &y.source);
    }
    let subqueries = |plan: &LogicalPlan| {
        let mut found = vec![];
        let _ = plan.apply_subqueries(|subquery| {
            found.push(subquery.clone());
            Ok(TreeNodeRecursion::Jump)
        });
        found
    };
    let (a_inputs, b_inputs) = (a.inputs(), b.inputs());
    let (a_subqueries, b_subqueries) = (subqueries(a), subqueries(b));
    a_inputs.len() == b_inputs.len()
        && a_inputs
            .iter()
            .zip(&b_inputs)
            .all(|(x, y)| std::ptr::eq(*x, *y) || same_sources(x, y))
        && a_subqueries.len() == b_subqueries.len()
        && a_subqueries
            .iter()
            .zip(&b_subqueries)
            .all(|(x, y)| same_sources(x, y))
}

/// Whether two table sources are the same data: the same table, views of the same plan,
/// file tables of the same paths and format, or generated series of the same arguments.
/// Anything else (in-memory tables, say) is the same only as itself.
fn same_source(
    a: &Arc<dyn datafusion::logical_expr::TableSource>,
    b: &Arc<dyn datafusion::logical_expr::TableSource>,
) -> bool {
    use datafusion::catalog::TableProvider as _;
    use datafusion::datasource::listing::ListingTable;
    use datafusion::datasource::{ViewTable, source_as_provider};
    if Arc::ptr_eq(a, b) {
        return true;
    }
    let (Ok(a), Ok(b)) = (source_as_provider(a), source_as_provider(b)) else {
        return false;
    };
    if Arc::ptr_eq(&a, &b) {
        return true;
    }
    let (a_any, b_any) = (
        a.as_ref() as &dyn std::any::Any,
        b.as_ref() as &dyn std::any::Any,
    );
    if let (Some(x), Some(y)) = (
        a_any.downcast_ref::<ViewTable>(),
        b_any.downcast_ref::<ViewTable>(),
    ) {
        return same_plan(x.logical_plan(), y.logical_plan());
    }
    if let (Some(x), Some(y)) = (
        a_any.downcast_ref::<ListingTable>(),
        b_any.downcast_ref::<ListingTable>(),
    ) {
        return x.table_paths() == y.table_paths()
            && x.schema() == y.schema()
            && format!("{:?}", x.options()) == format!("{:?}", y.options());
    }
    let generated = |provider: &dyn std::any::Any| {
        provider
            .downcast_ref::<datafusion::functions_table::generate_series::GenerateSeriesTable>()
            .map(|table| format!("{table:?}"))
    };
    matches!((generated(a_any), generated(b_any)), (Some(x), Some(y)) if x == y)
}

/// `schema` with the columns `nullable` marks made nullable.
fn with_nullability(schema: &DFSchemaRef, nullable: &[bool]) -> Result<DFSchemaRef> {
    if schema
        .fields()
        .iter()
        .zip(nullable)
        .all(|(field, nullable)| field.is_nullable() || !nullable)
    {
        return Ok(Arc::clone(schema));
    }
    let fields = schema
        .iter()
        .zip(nullable.iter().chain(std::iter::repeat(&false)))
        .map(|((qualifier, field), nullable)| {
            let field = field.as_ref().clone();
            let nullable = *nullable || field.is_nullable();
            (qualifier.cloned(), Arc::new(field.with_nullable(nullable)))
        })
        .collect();
    Ok(Arc::new(DFSchema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )?))
}

/// `plan` with its reads of the `dropped` caches replaced by their plans.
fn read_without(plan: LogicalPlan, dropped: &[CachedData]) -> Result<LogicalPlan> {
    plan.transform_up(|node| {
        let LogicalPlan::Extension(extension) = &node else {
            return Ok(Transformed::no(node));
        };
        let Some(relation) = extension.node.as_any().downcast_ref::<InMemoryRelation>() else {
            return Ok(Transformed::no(node));
        };
        match dropped.iter().find(|e| e.info.id == relation.info.id) {
            Some(entry) => Ok(Transformed::yes(entry.plan.clone())),
            None => Ok(Transformed::no(node)),
        }
    })
    .map(|transformed| transformed.data)
}

/// The first line of a plan's text, as the Storage tab names a cached DataFrame.
/// The first line of a plan as a cache's name, without DataFusion's placeholder qualifier
/// of unnamed inputs (`?table?.`), which means nothing to a user.
fn first_line(plan: &LogicalPlan) -> String {
    let text = plan.display_indent().to_string();
    let line = text.lines().next().unwrap_or("").trim();
    line.replace("?table?.", "").chars().take(200).collect()
}

/// A query's read of a cached plan (Spark's `InMemoryRelation`). It is a leaf: the cached
/// plan is kept out of sight of the analyzer and optimizer, which would otherwise walk a
/// cached plan built over earlier cached plans (an iteration's rounds) once per reference,
/// 2^n times for n rounds. Two reads of the same cache are equal.
#[derive(Debug, Clone)]
pub(crate) struct InMemoryRelation {
    /// The cached plan, itself reading the caches it was built on.
    plan: LogicalPlan,
    schema: DFSchemaRef,
    info: Arc<CacheInfo>,
}

impl PartialEq for InMemoryRelation {
    fn eq(&self, other: &Self) -> bool {
        self.info.id == other.info.id && self.schema == other.schema
    }
}

impl Eq for InMemoryRelation {}

impl std::hash::Hash for InMemoryRelation {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.info.id.hash(state);
        self.schema.hash(state);
    }
}

impl PartialOrd for InMemoryRelation {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.info
            .id
            .partial_cmp(&other.info.id)
            .filter(|ordering| *ordering != Ordering::Equal || self == other)
    }
}

impl UserDefinedLogicalNodeCore for InMemoryRelation {
    fn name(&self) -> &str {
        "InMemoryRelation"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "InMemoryRelation: rdd {} [{}]",
            self.info.id,
            self.info.level.name()
        )
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(self.clone())
    }
}

/// Plans [`InMemoryRelation`] as `CachedScanExec` over the cached plan's physical plan, the
/// same for every query.
#[derive(Debug)]
pub(crate) struct InMemoryRelationPlanner {
    cache: Arc<CacheManager>,
}

impl InMemoryRelationPlanner {
    /// A planner of the reads of `cache`'s plans.
    pub(crate) fn new(cache: Arc<CacheManager>) -> Self {
        Self { cache }
    }
}

#[async_trait]
impl ExtensionPlanner for InMemoryRelationPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        session_state: &dyn Session,
        _planning_context: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(relation) = node.as_any().downcast_ref::<InMemoryRelation>() else {
            return Ok(None);
        };
        let fixed = self.cache.fixed_physical_plan(relation.info.id);
        let input = match fixed.as_ref().and_then(|fixed| fixed.get()) {
            Some(input) => Arc::clone(input),
            None => {
                let planned = session_state.create_physical_plan(&relation.plan).await?;
                match fixed {
                    Some(fixed) => Arc::clone(fixed.get_or_init(|| planned)),
                    None => planned,
                }
            }
        };
        Ok(Some(Arc::new(CachedScanExec::new(
            Arc::clone(&relation.info),
            input,
            Arc::new(relation.schema.as_arrow().clone()),
        ))))
    }
}
