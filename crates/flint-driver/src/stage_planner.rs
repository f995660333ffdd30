//! Cuts a physical plan into stages at every exchange (Spark's `ShuffleExchangeExec` becomes a
//! `ShuffleDependency`): a `RepartitionExec` becomes a hash or round-robin shuffle, and the
//! input of a `CoalescePartitionsExec` or `SortPreservingMergeExec` becomes a single-block
//! shuffle whose map outputs the next stage merges. Everything else stays pipelined.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cache::{CacheInfo, CachedScanExec};
use crate::sql_plan::{SqlPlanInfo, StageNodeIds};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{Partitioning, PhysicalExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::{
    HashJoinExec, HashJoinExecBuilder, JoinOnRef, NestedLoopJoinExec, PartitionMode,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use flint_shuffle::{
    ShuffleOutputPartitioning, ShuffleReadMode, ShuffleWriterExec, UnresolvedShuffleExec,
};

/// One shuffle: the map side's plan (rooted at a `ShuffleWriterExec`) and its shape (Spark's
/// `ShuffleDependency`). Its map stage is run once and reused by later jobs.
#[derive(Debug)]
pub struct ShuffleDependency {
    /// Application-wide shuffle id.
    pub shuffle_id: u32,
    /// The map stage's plan; may contain `UnresolvedShuffleExec` leaves for its own parents.
    pub map_plan: Arc<dyn ExecutionPlan>,
    /// Map tasks (partitions of the map stage).
    pub num_map_tasks: usize,
    /// Blocks per map output.
    pub num_reduce_partitions: usize,
    /// Shuffles the map stage reads.
    pub parent_shuffle_ids: Vec<u32>,
    /// A short description of the map side for stage names, e.g. `AggregateExec`.
    pub name: String,
    /// The query-graph node of each node of the map plan.
    pub node_ids: StageNodeIds,
    /// The cache whose blocks the map stage stores, when it is a cached DataFrame's.
    pub cache: Option<Arc<CacheInfo>>,
}

/// A job's plan cut into shuffle dependencies and the result stage's plan.
#[derive(Debug)]
pub struct StageGraph {
    /// The result stage's plan.
    pub result_plan: Arc<dyn ExecutionPlan>,
    /// Shuffles the result stage reads directly.
    pub result_parent_shuffle_ids: Vec<u32>,
    /// Every shuffle of the job, by id.
    pub shuffles: BTreeMap<u32, Arc<ShuffleDependency>>,
    /// The whole plan as the SQL tab shows it, before the cut.
    pub sql_plan: SqlPlanInfo,
    /// The query-graph node of each node of the result plan.
    pub result_node_ids: StageNodeIds,
    /// The session settings every task of the job computes with
    /// (`flint_executor::task_sql_conf`); empty leaves the executors' own.
    pub sql_conf: Arc<[(String, String)]>,
    /// Deletes the job's shuffles once no one can run the graph again.
    pub cleaner: Option<ShuffleCleaner>,
}

/// Removes the shuffles of a stage graph nothing holds any more (Spark's `ContextCleaner`
/// for shuffles): their outputs are forgotten and the executors delete their files. A
/// cache's shuffle is not the graph's: it goes when the cache is dropped.
#[derive(Clone)]
pub struct ShuffleCleaner {
    map_outputs: Arc<crate::MapOutputTracker>,
    backend: Arc<dyn crate::SchedulerBackend>,
}

impl std::fmt::Debug for ShuffleCleaner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShuffleCleaner").finish_non_exhaustive()
    }
}

impl ShuffleCleaner {
    /// A cleaner forgetting outputs in `map_outputs` and deleting files through `backend`.
    pub fn new(
        map_outputs: Arc<crate::MapOutputTracker>,
        backend: Arc<dyn crate::SchedulerBackend>,
    ) -> Self {
        Self {
            map_outputs,
            backend,
        }
    }

    fn clean(&self, shuffle_id: u32) {
        self.map_outputs.unregister_shuffle(shuffle_id);
        self.backend.remove_shuffle(shuffle_id);
        tracing::debug!(shuffle_id, "Cleaned shuffle {shuffle_id}");
    }
}

impl Drop for StageGraph {
    fn drop(&mut self) {
        let Some(cleaner) = &self.cleaner else {
            return;
        };
        for (shuffle_id, dependency) in &self.shuffles {
            if dependency.cache.is_none() {
                cleaner.clean(*shuffle_id);
            }
        }
    }
}

/// Remembers which query-graph node (numbered in pre-order) each node the cut produces
/// computes, by the node's address: the produced nodes live as long as the stage plans. Also
/// remembers each exchange already cut, by the address of the planned node, so an exchange the
/// plan reads twice is one shuffle (Spark's `ReusedExchange`); the planned plan lives as long
/// as the cut.
#[derive(Default)]
struct NodeIds {
    next: u32,
    by_address: HashMap<usize, u32>,
    cut_exchanges: HashMap<usize, Arc<dyn ExecutionPlan>>,
    /// Numbering a cached plan's nodes, which the query's graph does not show: its stages'
    /// metrics are attributed to no node of the query.
    detached: bool,
}

/// The address that identifies a plan node while it lives.
pub(crate) fn node_address(node: &Arc<dyn ExecutionPlan>) -> usize {
    Arc::as_ptr(node) as *const () as usize
}

impl NodeIds {
    fn record(&mut self, node: &Arc<dyn ExecutionPlan>, id: u32) {
        self.by_address.insert(node_address(node), id);
    }

    fn stage(&self, stage_plan: &Arc<dyn ExecutionPlan>) -> StageNodeIds {
        StageNodeIds::of(stage_plan, |node| {
            if self.detached {
                return None;
            }
            self.by_address.get(&node_address(node)).copied()
        })
    }
}

/// The passes every plan goes through before it is cut: Flint's exchange wrappers unwrapped,
/// runtime filters and join distribution.
fn prepare(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let plan = flint_sql::exchange::unwrap_exchanges(plan)?;
    let plan = unproject_series_generators(plan)?;
    let plan = filter_shuffles_by_broadcast_joins(plan)?;
    let plan = filter_partitioned_joins_by_broadcast_keys(plan)?;
    let mut small_outputs = HashSet::new();
    let plan = distribute_left_preserving_joins(plan, &mut small_outputs)?;
    filter_by_small_join_outputs(plan, &small_outputs)
}

impl StageGraph {
    /// Cuts `plan` at its exchanges, numbering new shuffles from `next_shuffle_id`.
    pub fn cut(plan: Arc<dyn ExecutionPlan>, next_shuffle_id: &AtomicU32) -> Result<StageGraph> {
        let mut shuffles = BTreeMap::new();
        let plan = prepare(plan)?;
        let sql_plan = SqlPlanInfo::from_plan(&plan);
        let mut node_ids = NodeIds::default();
        let result_plan = cut_node(plan, next_shuffle_id, &mut shuffles, &mut node_ids)?;
        let result_parent_shuffle_ids = unresolved_shuffle_ids(&result_plan);
        let result_node_ids = node_ids.stage(&result_plan);
        Ok(StageGraph {
            result_plan,
            result_parent_shuffle_ids,
            shuffles,
            sql_plan,
            result_node_ids,
            sql_conf: Arc::from(Vec::new()),
            cleaner: None,
        })
    }

    /// The number of result tasks.
    pub fn num_result_partitions(&self) -> usize {
        self.result_plan
            .properties()
            .output_partitioning()
            .partition_count()
    }
}

/// Ids of the shuffles a stage plan reads.
pub fn unresolved_shuffle_ids(plan: &Arc<dyn ExecutionPlan>) -> Vec<u32> {
    let mut ids = vec![];
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(unresolved) = node.downcast_ref::<UnresolvedShuffleExec>() {
            ids.push(unresolved.shuffle_id());
        }
        stack.extend(node.children().into_iter().cloned());
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Join types whose build (left) side rows are emitted after all probe partitions finish.
fn emits_build_rows_at_end(join_type: JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Left
            | JoinType::LeftAnti
            | JoinType::LeftSemi
            | JoinType::LeftMark
            | JoinType::Full
    )
}

/// Whether a broadcast (`CollectLeft`) semi, anti or mark join shuffles only the probe rows
/// that have a match: the build side is small, a probe row without a match changes nothing,
/// and the probe side is often large (Spark's semi-join reduction, a runtime filter). A
/// null-aware anti join (`NOT IN`) must see the probe side's null keys, so it keeps them all.
fn reduces_probe_side(join: &HashJoinExec) -> bool {
    matches!(
        join.join_type(),
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark
    ) && !join.null_aware
}

/// A `CollectLeft` join that emits unmatched or matched build rows relies on every probe
/// partition running in one process, sharing one bitmap: the last partition to finish emits
/// them. Run as one task per partition, no task would. Flint turns such hash joins into
/// `Partitioned` joins (both sides shuffled by key, as DataFusion plans big joins) and runs
/// such nested-loop joins with one probe partition. A semi, anti or mark join first cuts its
/// probe side down to the rows matching the broadcast build side ([`reduces_probe_side`]).
/// Where the join's output partitioning changes and was a hash partitioning its parents may
/// rely on, the old one is restored.
fn distribute_left_preserving_joins(
    plan: Arc<dyn ExecutionPlan>,
    small_outputs: &mut HashSet<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let mut small_output = false;
        let partition_count =
            |p: &Arc<dyn ExecutionPlan>| p.properties().output_partitioning().partition_count();
        let old_partitioning = node.properties().output_partitioning().clone();
        let replaced: Arc<dyn ExecutionPlan> = if let Some(join) =
            node.downcast_ref::<HashJoinExec>()
        {
            if *join.partition_mode() != PartitionMode::CollectLeft
                || !emits_build_rows_at_end(*join.join_type())
                || partition_count(join.right()) <= 1
            {
                return Ok(Transformed::no(node));
            }
            let n = partition_count(join.right());
            let left_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
            let right_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
            let build_input = match join.left().downcast_ref::<CoalescePartitionsExec>() {
                Some(coalesce) => Arc::clone(coalesce.input()),
                None => Arc::clone(join.left()),
            };
            let merged_build = join.left().is::<CoalescePartitionsExec>();
            let hashed_build: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
                build_input,
                Partitioning::Hash(left_keys, n),
            )?);
            let (left, right) = if reduces_probe_side(join) {
                // At most one row per build-side row comes out.
                small_output = true;
                // The broadcast build side is read twice: whole, to cut the probe side down
                // to the rows that can match, and by partition for the join. One shuffle by
                // the join key serves both (the broadcast reads all its partitions); a
                // build side that was one partition already is read as it was.
                let build = if merged_build {
                    Arc::new(CoalescePartitionsExec::new(Arc::clone(&hashed_build)))
                } else {
                    Arc::clone(join.left())
                };
                let matching_probe_rows = join
                    .builder()
                    .with_type(JoinType::RightSemi)
                    .with_projection(None)
                    .with_fetch(None)
                    .with_new_children(vec![build, Arc::clone(join.right())])?
                    .reset_state()
                    .build_exec()?;
                (hashed_build, matching_probe_rows)
            } else {
                (hashed_build, Arc::clone(join.right()))
            };
            let right: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(
                right,
                Partitioning::Hash(right_keys, n),
            )?);
            join.builder()
                .with_partition_mode(PartitionMode::Partitioned)
                .with_new_children(vec![left, right])?
                .recompute_properties()
                .build_exec()?
        } else if let Some(join) = node.downcast_ref::<NestedLoopJoinExec>() {
            if !emits_build_rows_at_end(*join.join_type()) || partition_count(join.right()) <= 1 {
                return Ok(Transformed::no(node));
            }
            let right: Arc<dyn ExecutionPlan> =
                Arc::new(CoalescePartitionsExec::new(Arc::clone(join.right())));
            #[allow(deprecated)]
            Arc::clone(&node).with_new_children(vec![Arc::clone(join.left()), right])?
        } else {
            return Ok(Transformed::no(node));
        };
        if small_output {
            small_outputs.insert(node_address(&replaced));
        }
        let new_partitioning = replaced.properties().output_partitioning().clone();
        let restored: Arc<dyn ExecutionPlan> = match old_partitioning {
            Partitioning::Hash(..) if new_partitioning != old_partitioning => {
                Arc::new(RepartitionExec::try_new(replaced, old_partitioning)?)
            }
            _ => replaced,
        };
        Ok(Transformed::yes(restored))
    })
    .map(|t| t.data)
}

/// `node` when it is a partitioned hash join whose keys never match NULL: the joins the
/// runtime filters below may narrow one input of.
fn partitioned_join(node: &Arc<dyn ExecutionPlan>) -> Option<&HashJoinExec> {
    let join = node.downcast_ref::<HashJoinExec>()?;
    (*join.partition_mode() == PartitionMode::Partitioned
        && join.null_equality() == datafusion::common::NullEquality::NullEqualsNothing)
        .then_some(join)
}

/// `join` over new `inputs` (left, right), with fresh execution state (a build side shared
/// by its partitions, say).
fn with_inputs(
    join: &HashJoinExec,
    inputs: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    join.builder()
        .with_new_children(inputs)?
        .reset_state()
        .build_exec()
}

/// The column before an operator's own output projection (a list of indices) that output
/// column `column` is.
fn unprojected(projection: Option<&[usize]>, column: usize) -> Option<usize> {
    match projection {
        Some(projection) => projection.get(column).copied(),
        None => Some(column),
    }
}

/// Below `exchange`, when it is a hash repartition, keeps only the rows whose `key` (over the
/// exchange's input) is one of `build`'s `build_key`s: a broadcast `RightSemi` join. When the
/// exchange's input is a partial aggregate grouped by that key, the rows are dropped before
/// they are aggregated (a group is dropped whole either way).
fn keep_matching_rows(
    exchange: &Arc<dyn ExecutionPlan>,
    build: &Arc<dyn ExecutionPlan>,
    on: JoinOnRef,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(repartition) = exchange.downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    if !matches!(repartition.partitioning(), Partitioning::Hash(..)) {
        return Ok(None);
    }
    let input = repartition.input();
    if let Some(aggregate) = input.downcast_ref::<AggregateExec>()
        && *aggregate.mode() == AggregateMode::Partial
    {
        let below: Option<Vec<_>> = on
            .iter()
            .map(|(build_key, key)| {
                let column = key.downcast_ref::<Column>()?;
                let source = grouped_column(aggregate, column.index())?;
                let source: Arc<dyn PhysicalExpr> = Arc::new(source);
                Some((Arc::clone(build_key), source))
            })
            .collect();
        if let Some(below) = below
            && let Some(matching) = matching_rows(aggregate.input(), build, &below)?
        {
            #[allow(deprecated)]
            let aggregate = Arc::clone(input).with_new_children(vec![matching])?;
            return Ok(Some(Arc::new(RepartitionExec::try_new(
                aggregate,
                repartition.partitioning().clone(),
            )?)));
        }
    }
    let Some(matching) = matching_rows(input, build, on)? else {
        return Ok(None);
    };
    Ok(Some(Arc::new(RepartitionExec::try_new(
        matching,
        repartition.partitioning().clone(),
    )?)))
}

/// The rows of `input` whose `key`s are among `build`'s `build_key`s (a broadcast `RightSemi`
/// join); `None` when a key's type differs from its build key's.
fn matching_rows(
    input: &Arc<dyn ExecutionPlan>,
    build: &Arc<dyn ExecutionPlan>,
    on: JoinOnRef,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    for (build_key, key) in on {
        if key.data_type(&input.schema())? != build_key.data_type(&build.schema())? {
            return Ok(None);
        }
    }
    let matching = HashJoinExecBuilder::new(
        Arc::clone(build),
        Arc::clone(input),
        on.to_vec(),
        JoinType::RightSemi,
    )
    .with_partition_mode(PartitionMode::CollectLeft)
    .build_exec()?;
    Ok(Some(matching))
}

/// The input column an aggregate's output column `column` is when that column is one of its
/// plain grouping columns (no grouping sets).
fn grouped_column(aggregate: &AggregateExec, column: usize) -> Option<Column> {
    let group_by = aggregate.group_expr();
    if !group_by.is_single() {
        return None;
    }
    let (expr, _) = group_by.expr().get(column)?;
    expr.downcast_ref::<Column>().cloned()
}

/// A partitioned join one of whose inputs is known to be small (the output of a semi, anti
/// or mark join whose left side was broadcast, so no bigger than that side), and whose other
/// input's rows without a key match cannot change the result (an inner join, or a semi/anti
/// join preserving the small side: TPC-H q21's `NOT EXISTS`), broadcasts the small input's
/// shuffle output to filter the other input before its shuffle, like Spark's runtime filter.
fn filter_by_small_join_outputs(
    plan: Arc<dyn ExecutionPlan>,
    small: &HashSet<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(join) = partitioned_join(&node) else {
            return Ok(Transformed::no(node));
        };
        let is_small = |side: &Arc<dyn ExecutionPlan>| {
            side.downcast_ref::<RepartitionExec>()
                .is_some_and(|exchange| small.contains(&node_address(exchange.input())))
        };
        let join_type = *join.join_type();
        let filter_left = is_small(join.right())
            && matches!(
                join_type,
                JoinType::Inner | JoinType::RightSemi | JoinType::RightAnti
            );
        let filter_right = !filter_left
            && is_small(join.left())
            && matches!(
                join_type,
                JoinType::Inner | JoinType::LeftSemi | JoinType::LeftAnti
            );
        let (small_side, filtered_side, on): (_, _, Vec<_>) = if filter_left {
            let on = join
                .on()
                .iter()
                .map(|(l, r)| (Arc::clone(r), Arc::clone(l)));
            (join.right(), join.left(), on.collect())
        } else if filter_right {
            let on = join
                .on()
                .iter()
                .map(|(l, r)| (Arc::clone(l), Arc::clone(r)));
            (join.left(), join.right(), on.collect())
        } else {
            return Ok(Transformed::no(node));
        };
        // The broadcast reads the small input's shuffle: one exchange, two readers.
        let build: Arc<dyn ExecutionPlan> =
            Arc::new(CoalescePartitionsExec::new(Arc::clone(small_side)));
        let Some(filtered) = keep_matching_rows(filtered_side, &build, &on)? else {
            return Ok(Transformed::no(node));
        };
        let children = if filter_left {
            vec![filtered, Arc::clone(join.right())]
        } else {
            vec![Arc::clone(join.left()), filtered]
        };
        Ok(Transformed::yes(with_inputs(join, children)?))
    })
    .map(|t| t.data)
}

/// A broadcast inner or semi join drops every probe row whose key is not in its small build
/// side, and a left semi or anti join ignores it. When that key column comes, through
/// projections, filters, grouping columns and inner joins, from the input of a shuffle
/// further down the probe side (TPC-H q7: suppliers of two nations joined to the output of a
/// partitioned `orders`-`lineitem` join; q20: the yearly quantity of each part and supplier,
/// needed only for the `forest` parts), Flint drops those rows before the
/// shuffle instead of after it: Spark's runtime filter (`InjectRuntimeFilter`), exact rather
/// than a bloom filter since the build side is broadcast anyway. Through an inner join on
/// that very key both of its inputs are filtered (TPC-H q18's `o_orderkey IN (subquery)` over
/// `orders JOIN lineitem`; Spark pushes such a semi join through the join,
/// `PushLeftSemiLeftAntiThroughJoin`). The build side is one shuffle however many read it.
fn filter_shuffles_by_broadcast_joins(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(join) = node.downcast_ref::<HashJoinExec>() else {
            return Ok(Transformed::no(node));
        };
        // Probe rows without a match are dropped (inner, right semi) or change nothing (a
        // left semi or anti join emits build rows; not a null-aware anti join, `NOT IN`,
        // whose answer a NULL probe key changes).
        let unmatched_probe_unused = match join.join_type() {
            JoinType::Inner | JoinType::RightSemi | JoinType::LeftSemi => true,
            JoinType::LeftAnti => !join.null_aware,
            _ => false,
        };
        if *join.partition_mode() != PartitionMode::CollectLeft
            || !unmatched_probe_unused
            || join.null_equality() != datafusion::common::NullEquality::NullEqualsNothing
        {
            return Ok(Transformed::no(node));
        }
        if !drops_rows(join.left()) {
            return Ok(Transformed::no(node));
        }
        for (build_key, probe_key) in join.on() {
            let Some(column) = probe_key.downcast_ref::<Column>() else {
                continue;
            };
            let filtered =
                filter_below_shuffle(join.right(), column.index(), join.left(), build_key)?;
            if let Some(right) = filtered {
                let inputs = vec![Arc::clone(join.left()), right];
                return Ok(Transformed::yes(with_inputs(join, inputs)?));
            }
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
}

/// Follows output column `column` of `plan` down to the input of the first shuffle it comes
/// through and filters that input by `build`'s keys; `None` when the column is computed, or
/// crosses an operator other than a projection, a filter or an inner join, first.
fn filter_below_shuffle(
    plan: &Arc<dyn ExecutionPlan>,
    column: usize,
    build: &Arc<dyn ExecutionPlan>,
    build_key: &Arc<dyn PhysicalExpr>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    use datafusion::physical_plan::filter::FilterExec;
    use datafusion::physical_plan::projection::ProjectionExec;

    if plan.is::<RepartitionExec>() {
        let key: Arc<dyn PhysicalExpr> =
            Arc::new(Column::new(plan.schema().field(column).name(), column));
        return keep_matching_rows(plan, build, &[(Arc::clone(build_key), key)]);
    }
    let rebuild = |child: usize, new_child: Arc<dyn ExecutionPlan>| {
        let mut children: Vec<_> = plan.children().into_iter().cloned().collect();
        children[child] = new_child;
        #[allow(deprecated)]
        Arc::clone(plan).with_new_children(children)
    };
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let Some(source) = projection
            .expr()
            .get(column)
            .and_then(|e| e.expr.downcast_ref::<Column>())
        else {
            return Ok(None);
        };
        return match filter_below_shuffle(projection.input(), source.index(), build, build_key)? {
            Some(input) => rebuild(0, input).map(Some),
            None => Ok(None),
        };
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let Some(source) = unprojected(filter.projection().as_deref(), column) else {
            return Ok(None);
        };
        return match filter_below_shuffle(filter.input(), source, build, build_key)? {
            Some(input) => rebuild(0, input).map(Some),
            None => Ok(None),
        };
    }
    if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        let Some(source) = grouped_column(aggregate, column) else {
            return Ok(None);
        };
        return match filter_below_shuffle(aggregate.input(), source.index(), build, build_key)? {
            Some(input) => rebuild(0, input).map(Some),
            None => Ok(None),
        };
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        if *join.join_type() != JoinType::Inner {
            return Ok(None);
        }
        let Some(joined) = unprojected(join.projection.as_deref(), column) else {
            return Ok(None);
        };
        let left_width = join.left().schema().fields().len();
        let (side, source) = if joined < left_width {
            (0, joined)
        } else {
            (1, joined - left_width)
        };
        // Every row of an inner join has equal keys on both sides, so when the column is a
        // key, the other side's key column is filtered too.
        let other_source = join.on().iter().find_map(|pair| {
            let [this, other] = if side == 0 {
                [&pair.0, &pair.1]
            } else {
                [&pair.1, &pair.0]
            };
            let this = this.downcast_ref::<Column>()?;
            let other = other.downcast_ref::<Column>()?;
            (this.index() == source).then_some(other.index())
        });
        let mut children = vec![Arc::clone(join.left()), Arc::clone(join.right())];
        let mut filtered = false;
        for (child, column) in [(side, Some(source)), (1 - side, other_source)] {
            let Some(column) = column else { continue };
            if let Some(input) = filter_below_shuffle(&children[child], column, build, build_key)? {
                children[child] = input;
                filtered = true;
            }
        }
        if !filtered {
            return Ok(None);
        }
        return with_inputs(join, children).map(Some);
    }
    Ok(None)
}

/// A partitioned join one of whose inputs holds, in a key column, only keys of a broadcast
/// join's build side (the column comes, through shuffles, projections, filters, aggregates
/// and joins, from a broadcast inner or semi join on it), and whose other input's rows
/// without a match change nothing, filters that other input by the broadcast build side
/// before its shuffle, and before a partial aggregation grouped by the key (TPC-H q17: the
/// average quantity of every part is computed only for the parts of the broadcast `part`
/// filter that `lineitem` was joined with). Spark's runtime filter (`InjectRuntimeFilter`)
/// derived through the join's equality, exact since the build side is broadcast anyway.
fn filter_partitioned_joins_by_broadcast_keys(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(join) = partitioned_join(&node) else {
            return Ok(Transformed::no(node));
        };
        let join_type = *join.join_type();
        // Rows of a side that match nothing are neither emitted nor change what is.
        let unmatched_left_unused = matches!(
            join_type,
            JoinType::Inner
                | JoinType::LeftSemi
                | JoinType::Right
                | JoinType::RightSemi
                | JoinType::RightAnti
                | JoinType::RightMark
        );
        let unmatched_right_unused = matches!(
            join_type,
            JoinType::Inner
                | JoinType::RightSemi
                | JoinType::Left
                | JoinType::LeftSemi
                | JoinType::LeftAnti
                | JoinType::LeftMark
        );
        let mut children = vec![Arc::clone(join.left()), Arc::clone(join.right())];
        let mut filtered = false;
        for (filtered_side, unused) in [(0, unmatched_left_unused), (1, unmatched_right_unused)] {
            if !unused {
                continue;
            }
            for (left_key, right_key) in join.on() {
                let (source_key, filtered_key) = if filtered_side == 0 {
                    (right_key, left_key)
                } else {
                    (left_key, right_key)
                };
                let (Some(source_key), Some(filtered_key)) = (
                    source_key.downcast_ref::<Column>(),
                    filtered_key.downcast_ref::<Column>(),
                ) else {
                    continue;
                };
                let source = &children[1 - filtered_side];
                let Some((build, build_key)) = broadcast_keys_of(source, source_key.index()) else {
                    continue;
                };
                if !drops_rows(&build) || filters_by(&children[filtered_side], &build) {
                    continue;
                }
                if let Some(input) = filter_below_shuffle(
                    &children[filtered_side],
                    filtered_key.index(),
                    &build,
                    &build_key,
                )? {
                    children[filtered_side] = input;
                    filtered = true;
                    break;
                }
            }
        }
        if !filtered {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(with_inputs(join, children)?))
    })
    .map(|t| t.data)
}

/// The broadcast build side (and its key) whose keys are the only values output column
/// `column` of `plan` can hold: the column is, through shuffles, projections, filters,
/// grouping columns and joins that keep a side's rows or fewer, a key of a broadcast inner
/// or semi join, on either side of it.
fn broadcast_keys_of(
    plan: &Arc<dyn ExecutionPlan>,
    column: usize,
) -> Option<(Arc<dyn ExecutionPlan>, Arc<dyn PhysicalExpr>)> {
    use datafusion::physical_plan::filter::FilterExec;
    use datafusion::physical_plan::projection::ProjectionExec;

    if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
        return broadcast_keys_of(repartition.input(), column);
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let source = projection
            .expr()
            .get(column)?
            .expr
            .downcast_ref::<Column>()?;
        return broadcast_keys_of(projection.input(), source.index());
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let source = unprojected(filter.projection().as_deref(), column)?;
        return broadcast_keys_of(filter.input(), source);
    }
    if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        let source = grouped_column(aggregate, column)?;
        return broadcast_keys_of(aggregate.input(), source.index());
    }
    let join = plan.downcast_ref::<HashJoinExec>()?;
    let joined = unprojected(join.projection.as_deref(), column)?;
    let join_type = *join.join_type();
    // Which input the output column comes from, and its index there.
    let (side, source) = match join_type {
        JoinType::Inner => {
            let left_width = join.left().schema().fields().len();
            if joined < left_width {
                (0, joined)
            } else {
                (1, joined - left_width)
            }
        }
        JoinType::LeftSemi | JoinType::LeftAnti => (0, joined),
        JoinType::RightSemi | JoinType::RightAnti => (1, joined),
        _ => return None,
    };
    let broadcast = *join.partition_mode() == PartitionMode::CollectLeft
        && matches!(join_type, JoinType::Inner | JoinType::RightSemi)
        && join.null_equality() == datafusion::common::NullEquality::NullEqualsNothing;
    if broadcast {
        let key_pair = join.on().iter().find(|(build_key, probe_key)| {
            let key = if side == 0 { build_key } else { probe_key };
            key.downcast_ref::<Column>()
                .is_some_and(|key| key.index() == source)
        });
        if let Some((build_key, _)) = key_pair {
            return Some((Arc::clone(join.left()), Arc::clone(build_key)));
        }
    }
    let input = if side == 0 { join.left() } else { join.right() };
    broadcast_keys_of(input, source)
}

/// Whether `build` can hold fewer keys than the table it reads: it filters or joins. A whole table (TPC-H's `supplier` under `lineitem`) keeps every row of the
/// other side, so filtering by it would only cost a join.
fn drops_rows(build: &Arc<dyn ExecutionPlan>) -> bool {
    use datafusion::physical_plan::filter::FilterExec;

    let mut stack = vec![Arc::clone(build)];
    while let Some(node) = stack.pop() {
        if node.is::<FilterExec>() || node.is::<HashJoinExec>() {
            return true;
        }
        stack.extend(node.children().into_iter().cloned());
    }
    false
}

/// Whether `plan` already keeps only the rows matching `build` (a broadcast join reading that
/// very build side), so filtering it again would add a join and drop nothing.
fn filters_by(plan: &Arc<dyn ExecutionPlan>, build: &Arc<dyn ExecutionPlan>) -> bool {
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        if let Some(join) = node.downcast_ref::<HashJoinExec>()
            && *join.partition_mode() == PartitionMode::CollectLeft
            && Arc::ptr_eq(join.left(), build)
        {
            return true;
        }
        stack.extend(node.children().into_iter().cloned());
    }
    false
}

/// DataFusion's protobuf drops the projection of a `range()` generator (`LazyMemoryExec`)
/// that `count(*)` pushes into it, so the decoded node would emit a column its schema lacks.
/// Flint moves that projection above the generator before plans travel.
fn unproject_series_generators(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::functions_table::generate_series::GenericSeriesState;
    use datafusion::physical_plan::memory::LazyMemoryExec;
    use datafusion::physical_plan::projection::ProjectionExec;

    plan.transform_up(|node| {
        let Some(generator_exec) = node.downcast_ref::<LazyMemoryExec>() else {
            return Ok(Transformed::no(node));
        };
        let [generator] = generator_exec.generators().as_slice() else {
            return Ok(Transformed::no(node));
        };
        let is_int_series = generator
            .read()
            .as_any()
            .downcast_ref::<GenericSeriesState<i64>>()
            .is_some();
        if !is_int_series || !node.schema().fields().is_empty() {
            return Ok(Transformed::no(node));
        }
        let full_schema = Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Int64,
            false,
        )]));
        let unprojected: Arc<dyn ExecutionPlan> = Arc::new(LazyMemoryExec::try_new(
            full_schema,
            generator_exec.generators().clone(),
        )?);
        let projection: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(
            Vec::<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)>::new(),
            unprojected,
        )?);
        Ok(Transformed::yes(projection))
    })
    .map(|t| t.data)
}

/// Cuts below `plan` and `plan` itself, numbering nodes in pre-order as
/// [`SqlPlanInfo::graph`] does; the returned node computes query-graph node `plan`'s number.
/// An exchange already cut (read a second time) counts as one leaf node, as
/// [`SqlPlanInfo::from_plan`] shows it, and reads the same shuffle.
fn cut_node(
    plan: Arc<dyn ExecutionPlan>,
    next_shuffle_id: &AtomicU32,
    shuffles: &mut BTreeMap<u32, Arc<ShuffleDependency>>,
    node_ids: &mut NodeIds,
) -> Result<Arc<dyn ExecutionPlan>> {
    let id = node_ids.next;
    node_ids.next += 1;
    let exchange = is_exchange(&plan).then(|| node_address(&plan));
    if let Some(cut) = exchange.and_then(|address| node_ids.cut_exchanges.get(&address)) {
        return Ok(Arc::clone(cut));
    }
    let cut = cut_children_and_node(plan, id, next_shuffle_id, shuffles, node_ids)?;
    node_ids.record(&cut, id);
    if let Some(address) = exchange {
        node_ids.cut_exchanges.insert(address, Arc::clone(&cut));
    }
    Ok(cut)
}

/// Whether the cut turns `plan` into a shuffle: a repartition, or a merge of several
/// partitions that are not already a shuffle's output.
pub(crate) fn is_exchange(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.is::<RepartitionExec>() {
        return true;
    }
    if !(plan.is::<CoalescePartitionsExec>() || plan.is::<SortPreservingMergeExec>()) {
        return false;
    }
    match plan.children()[..] {
        [input] => {
            input.properties().output_partitioning().partition_count() > 1
                && !input.is::<UnresolvedShuffleExec>()
                && !input.is::<RepartitionExec>()
        }
        _ => false,
    }
}

fn cut_children_and_node(
    plan: Arc<dyn ExecutionPlan>,
    id: u32,
    next_shuffle_id: &AtomicU32,
    shuffles: &mut BTreeMap<u32, Arc<ShuffleDependency>>,
    node_ids: &mut NodeIds,
) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan.children();
    let plan = if children.is_empty() {
        plan
    } else {
        let new_children = children
            .into_iter()
            .map(|child| cut_node(Arc::clone(child), next_shuffle_id, shuffles, node_ids))
            .collect::<Result<Vec<_>>>()?;
        #[allow(deprecated)]
        Arc::clone(&plan).with_new_children(new_children)?
    };

    if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
        let output = repartition.partitioning().clone();
        let partitioning = match &output {
            Partitioning::Hash(exprs, n) => match flint_sql::exchange::direct_partition_id(exprs) {
                Some(id) => ShuffleOutputPartitioning::Direct(id, *n),
                None => ShuffleOutputPartitioning::Hash(exprs.clone(), *n),
            },
            Partitioning::RoundRobinBatch(n) | Partitioning::UnknownPartitioning(n) => {
                ShuffleOutputPartitioning::RoundRobin(*n)
            }
            other => {
                return Err(DataFusionError::NotImplemented(format!(
                    "Flint cannot shuffle with partitioning {other}"
                )));
            }
        };
        let count = partitioning.partition_count();
        let input = Arc::clone(repartition.input());
        let reader = add_shuffle(
            input,
            partitioning,
            ShuffleReadMode::ReducePartitions(count),
            output,
            (next_shuffle_id.fetch_add(1, Ordering::SeqCst), None),
            shuffles,
            (node_ids, id),
        );
        return Ok(reader);
    }

    if let Some(cached) = plan.downcast_ref::<CachedScanExec>() {
        // The cached plan is a map stage of its own, with the cache's id as shuffle id, so
        // its blocks are found again by later jobs; each partition is one block. A cache
        // read twice in the job is cut once.
        let info = Arc::clone(cached.info());
        let partitions = cached
            .input()
            .properties()
            .output_partitioning()
            .partition_count();
        if shuffles.contains_key(&info.id) {
            let reader: Arc<dyn ExecutionPlan> = Arc::new(UnresolvedShuffleExec::new(
                info.id,
                Arc::clone(cached.read_schema()),
                ShuffleReadMode::MapOutputs(partitions),
                Partitioning::UnknownPartitioning(partitions),
            ));
            node_ids.record(&reader, id);
            return Ok(reader);
        }
        let mut cached_ids = NodeIds {
            detached: true,
            ..NodeIds::default()
        };
        let input = prepare(Arc::clone(cached.input()))?;
        let input = cut_node(input, next_shuffle_id, shuffles, &mut cached_ids)?;
        return Ok(add_shuffle(
            input,
            ShuffleOutputPartitioning::Single,
            ShuffleReadMode::MapOutputs(partitions),
            Partitioning::UnknownPartitioning(partitions),
            (info.id, Some((info, Arc::clone(cached.read_schema())))),
            shuffles,
            (node_ids, id),
        ));
    }

    let merges_partitions =
        plan.is::<CoalescePartitionsExec>() || plan.is::<SortPreservingMergeExec>();
    if merges_partitions {
        let [input] = plan.children()[..] else {
            return Err(DataFusionError::Internal(
                "merge node without one child".into(),
            ));
        };
        let input_partitions = input.properties().output_partitioning().partition_count();
        // A merge over one partition, or over a shuffle reader, runs inside the reader's stage.
        if input_partitions > 1 && !input.is::<UnresolvedShuffleExec>() {
            let input = Arc::clone(input);
            let reader = add_shuffle(
                input,
                ShuffleOutputPartitioning::Single,
                ShuffleReadMode::MapOutputs(input_partitions),
                Partitioning::UnknownPartitioning(input_partitions),
                (next_shuffle_id.fetch_add(1, Ordering::SeqCst), None),
                shuffles,
                (node_ids, id),
            );
            #[allow(deprecated)]
            return plan.with_new_children(vec![reader]);
        }
    }
    Ok(plan)
}

fn add_shuffle(
    input: Arc<dyn ExecutionPlan>,
    partitioning: ShuffleOutputPartitioning,
    mode: ShuffleReadMode,
    reader_partitioning: Partitioning,
    (shuffle_id, cache): (u32, Option<(Arc<CacheInfo>, SchemaRef)>),
    shuffles: &mut BTreeMap<u32, Arc<ShuffleDependency>>,
    (node_ids, exchange_id): (&mut NodeIds, u32),
) -> Arc<dyn ExecutionPlan> {
    // A cache is read as the query sees it; a shuffle as its map side writes it.
    let (schema, cache) = match cache {
        Some((cache, schema)) => (schema, Some(cache)),
        None => (input.schema(), None),
    };
    let num_map_tasks = input.properties().output_partitioning().partition_count();
    let num_reduce_partitions = partitioning.partition_count();
    let name = input.name().to_string();
    let parent_shuffle_ids = unresolved_shuffle_ids(&input);
    let writer = ShuffleWriterExec::new(input, shuffle_id, partitioning);
    let map_plan: Arc<dyn ExecutionPlan> = Arc::new(match &cache {
        Some(cache) => writer.with_cache_level(cache.level),
        None => writer,
    });
    node_ids.record(&map_plan, exchange_id);
    let map_node_ids = node_ids.stage(&map_plan);
    shuffles.insert(
        shuffle_id,
        Arc::new(ShuffleDependency {
            shuffle_id,
            map_plan,
            num_map_tasks,
            num_reduce_partitions,
            parent_shuffle_ids,
            name,
            node_ids: map_node_ids,
            cache,
        }),
    );
    let reader: Arc<dyn ExecutionPlan> = Arc::new(UnresolvedShuffleExec::new(
        shuffle_id,
        schema,
        mode,
        reader_partitioning,
    ));
    node_ids.record(&reader, exchange_id);
    reader
}
