//! `mapInPandas` / `mapInArrow` (Spark's `MapInPandas` plan node and `MapInBatchExec`): a
//! Python function of an iterator of a partition's batches to an iterator of batches of a
//! declared schema. [`MapInPython`] is the logical node, [`MapInPythonExec`] the physical one
//! that runs in every task of its stage, [`MapInPythonPlanner`] turns one into the other.
//!
//! A partition's batches go to the worker in one request and the function's answer comes
//! back whole, so a partition must fit in the executor's memory.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::{StreamExt, TryStreamExt};

use crate::{PythonUdf, worker};

/// The logical node: `input` mapped partition by partition through `udf` into `schema`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapInPython {
    input: LogicalPlan,
    udf: PythonUdf,
    schema: DFSchemaRef,
}

impl MapInPython {
    /// `input` mapped through `udf` (eval type [`crate::EvalType::is_map`]), whose batches
    /// have the columns of `schema`.
    pub fn new(input: LogicalPlan, udf: PythonUdf, schema: SchemaRef) -> Result<Self> {
        Ok(MapInPython {
            input,
            udf,
            schema: Arc::new(DFSchema::try_from(schema.as_ref().clone())?),
        })
    }

    /// The node as a logical plan.
    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(datafusion::logical_expr::Extension {
            node: Arc::new(self),
        })
    }
}

impl PartialOrd for MapInPython {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.udf.name(), self.udf.key())
            .partial_cmp(&(other.udf.name(), other.udf.key()))
            .filter(|ordering| *ordering != Ordering::Equal || self == other)
    }
}

impl UserDefinedLogicalNodeCore for MapInPython {
    fn name(&self) -> &str {
        "MapInPython"
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
            "MapInPython: {} ({:?})",
            self.udf.name(),
            self.udf.eval_type()
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("MapInPython needs one input".into()))?;
        Ok(MapInPython {
            input,
            udf: self.udf.clone(),
            schema: Arc::clone(&self.schema),
        })
    }
}

/// Plans [`MapInPython`] as [`MapInPythonExec`].
#[derive(Debug, Default)]
pub struct MapInPythonPlanner;

#[async_trait]
impl ExtensionPlanner for MapInPythonPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &dyn Session,
        _planning_context: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(map) = node.as_any().downcast_ref::<MapInPython>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal(
                "MapInPython needs one input".into(),
            ));
        };
        Ok(Some(Arc::new(MapInPythonExec::new(
            Arc::clone(input),
            map.udf.clone(),
            Arc::new(map.schema.as_arrow().clone()),
        ))))
    }
}

/// The physical node: each partition of `input` through the function, in a Python worker of
/// the executor running the task.
#[derive(Debug)]
pub struct MapInPythonExec {
    input: Arc<dyn ExecutionPlan>,
    udf: PythonUdf,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl MapInPythonExec {
    /// `input` mapped through `udf` into batches of `schema`.
    pub fn new(input: Arc<dyn ExecutionPlan>, udf: PythonUdf, schema: SchemaRef) -> Self {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        MapInPythonExec {
            input,
            udf,
            schema,
            properties,
        }
    }

    /// The function.
    pub fn udf(&self) -> &PythonUdf {
        &self.udf
    }
}

impl DisplayAs for MapInPythonExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "MapInPythonExec: {} ({:?})",
            self.udf.name(),
            self.udf.eval_type()
        )
    }
}

impl ExecutionPlan for MapInPythonExec {
    fn name(&self) -> &str {
        "MapInPythonExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("MapInPythonExec needs one input".into()))?;
        Ok(Arc::new(MapInPythonExec::new(
            input,
            self.udf.clone(),
            Arc::clone(&self.schema),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let input_schema = input.schema();
        let udf = self.udf.clone();
        let schema = Arc::clone(&self.schema);
        let output = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let mapped = worker::map_partition(&udf, &input_schema, &schema, &batches)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            // The worker's batches, under the declared schema (names, nullability, metadata).
            let mapped = mapped
                .into_iter()
                .map(|batch| {
                    RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec())
                        .map_err(DataFusionError::from)
                })
                .collect::<Vec<_>>();
            Ok::<_, DataFusionError>(futures::stream::iter(mapped))
        })
        .try_flatten()
        .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            output,
        )))
    }
}
