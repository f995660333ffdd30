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

/// How a cached DataFrame is kept (Spark's `StorageLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StorageLevel {
    /// Blocks may go to the executor's disk.
    pub use_disk: bool,
    /// Blocks are kept in the executor's storage memory.
    pub use_memory: bool,
    /// Copies of each block (Flint keeps one; `_2` levels are accepted and kept once).
    pub replication: u32,
}

impl StorageLevel {
    /// `MEMORY_AND_DISK`, what `cache()` uses for DataFrames.
    pub const MEMORY_AND_DISK: StorageLevel = StorageLevel {
        use_disk: true,
        use_memory: true,
        replication: 1,
    };
    /// `MEMORY_ONLY`.
    pub const MEMORY_ONLY: StorageLevel = StorageLevel {
        use_disk: false,
        use_memory: true,
        replication: 1,
    };
    /// `DISK_ONLY`.
    pub const DISK_ONLY: StorageLevel = StorageLevel {
        use_disk: true,
        use_memory: false,
        replication: 1,
    };
    /// `NONE`: not cached.
    pub const NONE: StorageLevel = StorageLevel {
        use_disk: false,
        use_memory: false,
        replication: 1,
    };

    /// Parses Spark's level names (`MEMORY_AND_DISK`, `DISK_ONLY_2`, ...), case-insensitively.
    pub fn parse(name: &str) -> Option<StorageLevel> {
        let upper = name.trim().to_ascii_uppercase();
        let (base, replication) = match upper.strip_suffix("_2") {
            Some(base) => (base, 2),
            None => (upper.as_str(), 1),
        };
        let level = match base {
            "NONE" if replication == 1 => StorageLevel::NONE,
            "MEMORY_ONLY" | "MEMORY_ONLY_SER" => StorageLevel::MEMORY_ONLY,
            "MEMORY_AND_DISK" | "MEMORY_AND_DISK_SER" | "MEMORY_AND_DISK_DESER" => {
                StorageLevel::MEMORY_AND_DISK
            }
            "DISK_ONLY" => StorageLevel::DISK_ONLY,
            _ => return None,
        };
        Some(StorageLevel {
            replication,
            ..level
        })
    }

    /// Spark's name of the level (`MEMORY_AND_DISK`).
    pub fn name(&self) -> String {
        let base = match (self.use_memory, self.use_disk) {
            (true, true) => "MEMORY_AND_DISK",
            (true, false) => "MEMORY_ONLY",
            (false, true) => "DISK_ONLY",
            (false, false) => return "NONE".into(),
        };
        if self.replication > 1 {
            format!("{base}_{}", self.replication)
        } else {
            base.into()
        }
    }

    /// Spark's description, as the Storage tab shows it (`Disk Memory Deserialized 1x
    /// Replicated`).
    pub fn description(&self) -> String {
        let mut parts = vec![];
        if self.use_disk {
            parts.push("Disk");
        }
        if self.use_memory {
            parts.push("Memory");
            parts.push("Deserialized");
        }
        if parts.is_empty() {
            return "Serialized 1x Replicated".into();
        }
        format!("{} {}x Replicated", parts.join(" "), self.replication)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_levels_read_and_print_as_in_spark() {
        for name in [
            "MEMORY_AND_DISK",
            "MEMORY_ONLY",
            "DISK_ONLY",
            "DISK_ONLY_2",
            "NONE",
        ] {
            assert_eq!(StorageLevel::parse(name).unwrap().name(), name);
        }
        assert_eq!(
            StorageLevel::parse("memory_and_disk_deser"),
            Some(StorageLevel::MEMORY_AND_DISK)
        );
        assert_eq!(StorageLevel::parse("OFF_HEAP"), None);
        assert_eq!(
            StorageLevel::MEMORY_AND_DISK.description(),
            "Disk Memory Deserialized 1x Replicated"
        );
        assert_eq!(StorageLevel::DISK_ONLY.description(), "Disk 1x Replicated");
    }
}
