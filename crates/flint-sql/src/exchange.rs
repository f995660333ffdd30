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
