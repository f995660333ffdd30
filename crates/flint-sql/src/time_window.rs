//! Spark's time windows (`window(time, '5 minutes')`, Catalyst's `TimeWindowing`): the
//! parser writes the window as an expression of its time column wrapped in the marker
//! `flint_time_window(window, time)`, and [`SparkTimeWindows`] (an analyzer rule) filters the
//! rows without a time out of the input of every node that computes one, as Spark does: no
//! row falls in a window of a NULL time, so the window column is never NULL.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, Filter, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// The marker's name, as the parser writes it.
pub const MARKER: &str = "flint_time_window";

/// The marker function, for the registry.
pub fn marker_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TimeWindow {
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

/// `flint_time_window(window, time)`: the window struct, which is never NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimeWindow {
    signature: Signature,
}

impl ScalarUDFImpl for TimeWindow {
    fn name(&self) -> &str {
        MARKER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(window) => Ok(window.clone()),
            None => plan_err!("{MARKER} takes a window and its time"),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        match args.arg_fields.first() {
            Some(window) => Ok(Arc::new(Field::new(
                self.name(),
                window.data_type().clone(),
                false,
            ))),
            None => plan_err!("{MARKER} takes a window and its time"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(window) => Ok(window),
            None => exec_err!("{MARKER} takes a window and its time"),
        }
    }
}

/// The time columns of the windows `node` computes.
fn window_times(node: &LogicalPlan) -> Result<Vec<Expr>> {
    let mut times = Vec::new();
    for expr in node.expressions() {
        expr.apply(|e| {
            if let Expr::ScalarFunction(call) = e
                && call.func.name() == MARKER
                && let Some(time) = call.args.get(1)
                && !times.contains(time)
            {
                times.push(time.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    Ok(times)
}

/// Filters out the rows without a time under every node that computes a time window.
#[derive(Debug)]
pub struct SparkTimeWindows;

impl AnalyzerRule for SparkTimeWindows {
    fn name(&self) -> &str {
        "spark_time_windows"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            if matches!(node, LogicalPlan::Extension(_)) || node.inputs().len() != 1 {
                return Ok(Transformed::no(node));
            }
            let times = window_times(&node)?;
            let Some(predicate) = conjunction(times.into_iter().map(Expr::is_not_null)) else {
                return Ok(Transformed::no(node));
            };
            let input = node.inputs()[0].clone();
            // The analyzer runs again on an analyzed plan: the filter is there already.
            if let LogicalPlan::Filter(filter) = &input
                && filter.predicate == predicate
            {
                return Ok(Transformed::no(node));
            }
            let filtered = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?);
            let exprs = node.expressions();
            Ok(Transformed::yes(
                node.with_new_exprs(exprs, vec![filtered])?,
            ))
        })
        .map(|t| t.data)
    }
}
