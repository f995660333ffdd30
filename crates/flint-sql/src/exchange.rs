//! Repartitions a user asked for (`df.repartition(n)`, `repartition(n, cols)`,
//! `DISTRIBUTE BY`): Spark always shuffles for them, so `repartition(1).write` writes one
//! file and `repartition(8)` spreads a one-file input over eight tasks. DataFusion's physical
//! optimizer removes every repartition it did not place itself (`EnforceDistribution`), so
//! [`KeepRequestedExchanges`] runs first and wraps each logical plan's `RepartitionExec` in an
//! [`ExchangeExec`], which it does not know; the stage planner unwraps it and cuts there.

use std::fmt;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

/// A `RepartitionExec` the query asked for, kept through physical optimization.
#[derive(Debug)]
pub struct ExchangeExec {
    repartition: Arc<dyn ExecutionPlan>,
}

impl ExchangeExec {
    /// The exchange of `repartition` (a `RepartitionExec`).
    pub fn new(repartition: Arc<dyn ExecutionPlan>) -> Self {
        ExchangeExec { repartition }
    }

    /// The `RepartitionExec` it keeps.
    pub fn repartition(&self) -> &Arc<dyn ExecutionPlan> {
        &self.repartition
    }
}

impl DisplayAs for ExchangeExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Exchange: ")?;
        match self.repartition.downcast_ref::<RepartitionExec>() {
            Some(repartition) => repartition.fmt_as(t, f),
            None => write!(f, "{}", self.repartition.name()),
        }
    }
}

impl ExecutionPlan for ExchangeExec {
    fn name(&self) -> &str {
        "ExchangeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.repartition.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.repartition.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.repartition.apply_expressions(f)
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.repartition.maintains_input_order()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ExchangeExec::new(
            datafusion::physical_plan::replace_children_if_necessary(
                Arc::clone(&self.repartition),
                children,
            )?,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.repartition.execute(partition, context)
    }
}

/// Wraps the repartitions a plan already has, before DataFusion places its own.
#[derive(Debug, Default)]
pub struct KeepRequestedExchanges;

impl PhysicalOptimizerRule for KeepRequestedExchanges {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.is::<RepartitionExec>() {
                Ok(Transformed::yes(
                    Arc::new(ExchangeExec::new(node)) as Arc<dyn ExecutionPlan>
                ))
            } else {
                Ok(Transformed::no(node))
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "keep_requested_exchanges"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with every [`ExchangeExec`] back to the `RepartitionExec` it keeps, for cutting
/// into stages.
pub fn unwrap_exchanges(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| match node.downcast_ref::<ExchangeExec>() {
        Some(exchange) => Ok(Transformed::yes(Arc::clone(exchange.repartition()))),
        None => Ok(Transformed::no(node)),
    })
    .map(|t| t.data)
}

/// The marker of a direct repartition: a hash repartition on `flint_direct_partition(id)`
/// is cut into a shuffle that sends each row to partition `pmod(id, n)` (Spark's
/// `ShufflePartitionIdPassThrough`, for `repartitionById` and `repartitionByRange`).
/// Evaluated anywhere else it is its argument as a `bigint`.
pub const DIRECT_PARTITION: &str = "flint_direct_partition";

/// The [`DIRECT_PARTITION`] function, for the registry.
pub fn direct_partition_udf() -> Arc<datafusion::logical_expr::ScalarUDF> {
    Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
        DirectPartition {
            signature: datafusion::logical_expr::Signature::uniform(
                1,
                vec![datafusion::arrow::datatypes::DataType::Int64],
                datafusion::logical_expr::Volatility::Immutable,
            ),
        },
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DirectPartition {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for DirectPartition {
    fn name(&self) -> &str {
        DIRECT_PARTITION
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(
        &self,
        _arg_types: &[datafusion::arrow::datatypes::DataType],
    ) -> Result<datafusion::arrow::datatypes::DataType> {
        Ok(datafusion::arrow::datatypes::DataType::Int64)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<datafusion::logical_expr::ColumnarValue> {
        match args.args.into_iter().next() {
            Some(id) => Ok(id),
            None => datafusion::common::exec_err!("{DIRECT_PARTITION} takes one argument"),
        }
    }
}

/// The partition id expression of a direct repartition's hash expressions, if they are one.
pub fn direct_partition_id(exprs: &[Arc<dyn PhysicalExpr>]) -> Option<Arc<dyn PhysicalExpr>> {
    let [expr] = exprs else { return None };
    let function = expr.downcast_ref::<datafusion::physical_expr::ScalarFunctionExpr>()?;
    if function.name() != DIRECT_PARTITION {
        return None;
    }
    function.args().first().cloned()
}
