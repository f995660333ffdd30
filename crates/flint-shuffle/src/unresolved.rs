use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

use crate::{MapStatus, ShuffleBlock, ShuffleReaderExec};

/// How a reader's partitions map onto map outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShuffleReadMode {
    /// Partition `r` reads block `r` of every map output (after a hash or round-robin shuffle).
    ReducePartitions(usize),
    /// Partition `m` reads all of map output `m` (before a merge of partitions into one).
    MapOutputs(usize),
}

/// Stands in a stage's plan for the reader of a parent stage's shuffle until the parent's map
/// outputs exist; [`UnresolvedShuffleExec::resolve`] turns it into a [`ShuffleReaderExec`].
#[derive(Debug)]
pub struct UnresolvedShuffleExec {
    shuffle_id: u32,
    schema: SchemaRef,
    mode: ShuffleReadMode,
    properties: Arc<PlanProperties>,
}

impl UnresolvedShuffleExec {
    /// A placeholder for reading `shuffle_id` in `mode`; `partitioning` is what the reader will
    /// provide (hash partitioning is kept so joins and aggregations see co-partitioned inputs).
    pub fn new(
        shuffle_id: u32,
        schema: SchemaRef,
        mode: ShuffleReadMode,
        partitioning: Partitioning,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            partitioning,
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            shuffle_id,
            schema,
            mode,
            properties,
        }
    }

    /// The shuffle to be read.
    pub fn shuffle_id(&self) -> u32 {
        self.shuffle_id
    }

    /// How partitions map onto map outputs.
    pub fn mode(&self) -> ShuffleReadMode {
        self.mode
    }

    /// The reader of the given map outputs (one per map task, any order).
    pub fn resolve(&self, map_statuses: &[MapStatus]) -> ShuffleReaderExec {
        let block = |status: &MapStatus, reduce_id: u32| ShuffleBlock {
            map_index: status.map_index,
            map_id: status.map_id,
            reduce_id,
            executor_id: status.executor_id.clone(),
            host: status.host.clone(),
            port: status.port,
            data_path: status.data_path.clone(),
            index_path: status.index_path.clone(),
            in_memory: status.in_memory,
            size: status
                .partition_lengths
                .get(reduce_id as usize)
                .copied()
                .unwrap_or(0),
        };
        let mut statuses: Vec<&MapStatus> = map_statuses.iter().collect();
        statuses.sort_by_key(|s| s.map_index);
        let partitions = match self.mode {
            ShuffleReadMode::ReducePartitions(n) => (0..n as u32)
                .map(|r| {
                    statuses
                        .iter()
                        .filter(|s| s.partition_lengths.get(r as usize).copied().unwrap_or(0) > 0)
                        .map(|s| block(s, r))
                        .collect()
                })
                .collect(),
            ShuffleReadMode::MapOutputs(_) => statuses.iter().map(|s| vec![block(s, 0)]).collect(),
        };
        ShuffleReaderExec::new(self.shuffle_id, Arc::clone(&self.schema), partitions)
    }
}

impl DisplayAs for UnresolvedShuffleExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "UnresolvedShuffleExec: shuffle_id={}, mode={:?}",
            self.shuffle_id, self.mode
        )
    }
}

impl ExecutionPlan for UnresolvedShuffleExec {
    fn name(&self) -> &str {
        "UnresolvedShuffleExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "UnresolvedShuffleExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(format!(
            "shuffle {} was read before its map stage finished; this is a Flint bug",
            self.shuffle_id
        )))
    }
}
