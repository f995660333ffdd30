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
use datafusion::common::DFSchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
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

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<CachedData>> {
        self.version.fetch_add(1, AtomicOrdering::SeqCst);
        self.entries.write().unwrap_or_else(|p| p.into_inner())
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
        self.write().push(CachedData {
            plan,
            info: Arc::clone(&info),
            physical: Arc::default(),
            table,
        });
        Some(info)
    }

    /// The cache of exactly `plan`, if there is one.
    pub(crate) fn lookup(&self, plan: &LogicalPlan) -> Option<Arc<CacheInfo>> {
        self.read()
            .iter()
            .find(|entry| entry.plan == *plan)
            .map(|entry| Arc::clone(&entry.info))
    }

    /// Forgets the cache of `plan`; returns it.
    pub(crate) fn uncache(&self, plan: &LogicalPlan) -> Option<Arc<CacheInfo>> {
        self.remove(|entry| entry.plan == *plan).pop()
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

    fn remove(&self, matches: impl Fn(&CachedData) -> bool) -> Vec<Arc<CacheInfo>> {
        if !self.read().iter().any(&matches) {
            return vec![];
        }
        let mut entries = self.write();
        let (removed, kept): (Vec<CachedData>, Vec<CachedData>) =
            entries.drain(..).partition(|e| matches(e));
        *entries = kept;
        removed.into_iter().map(|e| e.info).collect()
    }

    /// The physical plan of cache `id`: the one fixed before, else `planned`, which is
    /// fixed from now on; `None` for a cache dropped meanwhile.
    fn physical_plan(
        &self,
        id: u32,
        planned: &Arc<dyn ExecutionPlan>,
    ) -> Option<Arc<dyn ExecutionPlan>> {
        let physical = self
            .read()
            .iter()
            .find(|entry| entry.info.id == id)
            .map(|entry| Arc::clone(&entry.physical))?;
        Some(Arc::clone(physical.get_or_init(|| Arc::clone(planned))))
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
        let Some(position) = entries.iter().position(|e| e.plan == node) else {
            return Ok(Transformed::no(node));
        };
        let entry = &entries[position];
        let others: Vec<CachedData> = entries
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != position)
            .map(|(_, e)| e.clone())
            .collect();
        let input = substitute(entry.plan.clone(), &others)?;
        let relation = InMemoryRelation {
            schema: Arc::clone(node.schema()),
            input,
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

/// The first line of a plan's text, as the Storage tab names a cached DataFrame.
fn first_line(plan: &LogicalPlan) -> String {
    let text = plan.display_indent().to_string();
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

/// A query's read of a cached plan (Spark's `InMemoryRelation`); its input is that plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct InMemoryRelation {
    input: LogicalPlan,
    schema: DFSchemaRef,
    info: Arc<CacheInfo>,
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
        vec![&self.input]
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

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("InMemoryRelation needs one input".into()))?;
        Ok(InMemoryRelation {
            input,
            schema: Arc::clone(&self.schema),
            info: Arc::clone(&self.info),
        })
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
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &dyn Session,
        _planning_context: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(relation) = node.as_any().downcast_ref::<InMemoryRelation>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal(
                "InMemoryRelation needs one input".into(),
            ));
        };
        let input = self
            .cache
            .physical_plan(relation.info.id, input)
            .unwrap_or_else(|| Arc::clone(input));
        Ok(Some(Arc::new(CachedScanExec::new(
            Arc::clone(&relation.info),
            input,
        ))))
    }
}
