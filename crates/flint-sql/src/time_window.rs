//! Spark's time windows (`window(time, '5 minutes')`, Catalyst's `TimeWindowing`): the
//! parser writes the window as an expression of its time column wrapped in the marker
//! `flint_time_window(window, time)`, and [`SparkTimeWindows`] (an analyzer rule) filters the
//! rows without a time out of the input of every node that computes one, as Spark does: no
//! row falls in a window of a NULL time, so the window column is never NULL. A sliding
//! window (`window(time, '10 minutes', '5 minutes')`) is the marker
//! `flint_sliding_window(windows, time)` of the array of windows holding the row: the rule
//! makes one row per window under the node (an unnest, Spark's `Expand`) and the node reads
//! the window from it.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result, exec_err, plan_err};
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, Filter, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

/// The marker's name, as the parser writes it.
pub const MARKER: &str = "flint_time_window";

/// The marker of a sliding window: the array of the row's windows, then its time.
pub const SLIDING_MARKER: &str = "flint_sliding_window";

/// The column of the row's window under a node computing a sliding window.
const WINDOW_COLUMN: &str = "__flint_window";

/// The marker functions, for the registry.
pub fn marker_udfs() -> Vec<Arc<ScalarUDF>> {
    [MARKER, SLIDING_MARKER]
        .into_iter()
        .map(|name| {
            Arc::new(ScalarUDF::new_from_impl(TimeWindow {
                name,
                signature: Signature::any(2, Volatility::Immutable),
            }))
        })
        .collect()
}

/// `flint_time_window(window, time)`: the window struct, which is never NULL (and
/// `flint_sliding_window(windows, time)`, which the analyzer replaces).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimeWindow {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for TimeWindow {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match (self.name, arg_types.first()) {
            // A sliding window's column is one of the row's windows.
            (SLIDING_MARKER, Some(DataType::List(window))) => Ok(window.data_type().clone()),
            (_, Some(window)) => Ok(window.clone()),
            (_, None) => plan_err!("{} takes a window and its time", self.name),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Arc::new(Field::new(
            self.name(),
            self.return_type(&types)?,
            false,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.name == SLIDING_MARKER {
            return exec_err!(
                "a sliding time window is computed in a projection, filter or aggregation, not \
                 here (a join condition, say)"
            );
        }
        match args.args.into_iter().next() {
            Some(window) => Ok(window),
            None => exec_err!("{MARKER} takes a window and its time"),
        }
    }
}

/// The calls of marker `name` in `node`'s expressions, each once.
fn marker_calls(node: &LogicalPlan, name: &str) -> Result<Vec<Expr>> {
    let mut calls = Vec::new();
    for expr in node.expressions() {
        expr.apply(|e| {
            if let Expr::ScalarFunction(call) = e
                && call.func.name() == name
                && !calls.contains(e)
            {
                calls.push(e.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    Ok(calls)
}

/// The `i`th argument of a marker call.
fn argument(call: &Expr, i: usize) -> Result<Expr> {
    match call {
        Expr::ScalarFunction(call) if call.args.len() == 2 => Ok(call.args[i].clone()),
        _ => plan_err!("a malformed time window marker: {call}"),
    }
}

/// `node` reading its sliding window from a row per window made under it: its input's rows
/// with a time, each repeated with one of its windows in [`WINDOW_COLUMN`]. A node passing
/// its input's columns through (a filter, a sort) keeps its own columns, not the window's.
fn expand_sliding_window(node: LogicalPlan, call: &Expr) -> Result<LogicalPlan> {
    let (windows, time) = (argument(call, 0)?, argument(call, 1)?);
    let input = node.inputs()[0].clone();
    let mut items: Vec<Expr> = input
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    items.push(windows.alias(WINDOW_COLUMN));
    let expanded = LogicalPlanBuilder::from(input)
        .filter(time.is_not_null())?
        .project(items)?
        .unnest_column(WINDOW_COLUMN)?
        .build()?;
    let window = Expr::Column(Column::from_name(WINDOW_COLUMN));
    let preserver = NamePreserver::new(&node);
    let exprs = node
        .expressions()
        .into_iter()
        .map(|expr| {
            let name = preserver.save(&expr);
            let replaced = expr
                .transform_up(|e| {
                    Ok(if &e == call {
                        Transformed::yes(window.clone())
                    } else {
                        Transformed::no(e)
                    })
                })?
                .data;
            Ok(name.restore(replaced))
        })
        .collect::<Result<Vec<_>>>()?;
    let columns = node.schema().columns();
    let rewritten = node.with_new_exprs(exprs, vec![expanded])?;
    if rewritten.schema().fields().len() == columns.len() {
        return Ok(rewritten);
    }
    LogicalPlanBuilder::from(rewritten)
        .project(columns.into_iter().map(Expr::Column))?
        .build()
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
            let sliding = marker_calls(&node, SLIDING_MARKER)?;
            match sliding.as_slice() {
                [] => {}
                [call] => return Ok(Transformed::yes(expand_sliding_window(node, call)?)),
                _ => {
                    return plan_err!(
                        "Multiple time/session window expressions would result in a cartesian \
                         product of rows, therefore they are currently not supported."
                    );
                }
            }
            let times = marker_calls(&node, MARKER)?
                .iter()
                .map(|call| argument(call, 1))
                .collect::<Result<Vec<_>>>()?;
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
