//! Cached data on the driver's side (Spark's `CacheManager` outputs and `StorageLevel`): a
//! persisted DataFrame's plan becomes, wherever it appears in a query, a [`CachedScanExec`].
//! The stage planner cuts there: the cached plan runs as a map stage whose shuffle id is the
//! cache's own id, each task storing its partition as one block in its executor's block
//! manager, and the query reads those blocks one partition each. Because the id stays the same
//! from job to job, the DAG scheduler finds the blocks already there and skips the stage; a
//! block lost with its executor is missing, so only its partition is computed again.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, SchedulingType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

pub use flint_storage::StorageLevel;

/// Records that an executor moved a cached block out of memory on its own (Spark's
/// `UpdateBlockInfo`): a dropped block is forgotten, so the next job computes its partition
/// again; a block moved to disk stays where it is registered. Listeners see either as a
/// `BlockUpdated`.
pub fn cached_block_changed(
    map_outputs: &crate::MapOutputTracker,
    listener_bus: &crate::ListenerBus,
    executor_id: &str,
    host_port: &str,
    status: flint_storage::BlockStatus,
) {
    let key = status.key;
    let map_index = if status.dropped {
        map_outputs.unregister_map_id(key.shuffle_id, key.map_id)
    } else {
        map_outputs.map_index_of(key.shuffle_id, key.map_id)
    };
    let Some(map_index) = map_index else {
        return;
    };
    listener_bus.post(crate::SparkListenerEvent::BlockUpdated {
        executor_id: executor_id.to_string(),
        host_port: host_port.to_string(),
        block_id: format!("rdd_{}_{map_index}", key.shuffle_id),
        storage_level: if status.dropped {
            StorageLevel::NONE
        } else {
            StorageLevel::DISK_ONLY
        },
        memory_size: status.memory_size,
        disk_size: status.disk_size,
    });
}

/// What a cache is, for stage names, listeners and the Storage tab (Spark's `RDDInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheInfo {
    /// The cache's id: its blocks are `rdd_<id>_<partition>`, and its map stage's shuffle id.
    pub id: u32,
    /// What was cached: `In-memory table <name>` or the plan's text.
    pub name: String,
    /// How its blocks are kept.
    pub level: StorageLevel,
}

/// Where a query reads a cached DataFrame; the stage planner replaces it with the cache's
/// map stage and a reader of its blocks. It never runs itself. It is a leaf: the plan that
/// computes the cache (already optimized) stays out of sight of the physical optimizer,
/// which would otherwise walk a cache built over earlier caches once per reference.
#[derive(Debug)]
pub struct CachedScanExec {
    info: Arc<CacheInfo>,
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl CachedScanExec {
    /// Reads cache `info`, whose data `input` computes, as `schema` (the query's view of it:
    /// the same columns, nullable where either says so).
    pub fn new(info: Arc<CacheInfo>, input: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Self {
        let partitions = input.properties().output_partitioning().partition_count();
        // Replaced before it runs: nothing to make cooperative.
        let properties = Arc::new(
            PlanProperties::new(
                EquivalenceProperties::new(Arc::clone(&schema)),
                Partitioning::UnknownPartitioning(partitions),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )
            .with_scheduling_type(SchedulingType::Cooperative),
        );
        Self {
            info,
            input,
            schema,
            properties,
        }
    }

    /// The rows' schema as the query reads them.
    pub fn read_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The cache read here.
    pub fn info(&self) -> &Arc<CacheInfo> {
        &self.info
    }

    /// The plan that computes the cached data.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

impl DisplayAs for CachedScanExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|field| field.name().as_str())
            .collect();
        write!(
            f,
            "InMemoryTableScan [{}] (rdd {}, {})",
            columns.join(", "),
            self.info.id,
            self.info.level.name()
        )
    }
}

impl ExecutionPlan for CachedScanExec {
    fn name(&self) -> &str {
        "InMemoryTableScan"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "InMemoryTableScan takes no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "InMemoryTableScan runs only as cut into stages by the stage planner".into(),
        ))
    }
}
