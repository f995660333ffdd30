//! Spark's table-valued functions: `range(end)`, `range(start, end[, step[, numPartitions]])`
//! with one `bigint` column `id` (DataFusion's `range` names its column `value`).

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::common::{Result, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col, lit};

/// Spark's `range`: DataFusion's, with the column named `id`. With `numPartitions`, the
/// values are cut into that many partitions as Spark's `RangeExec` cuts them (partition `i`
/// holds elements `i * n / numPartitions` up to `(i + 1) * n / numPartitions`), so
/// `spark_partition_id()` and `monotonically_increasing_id()` answer as in Spark.
#[derive(Debug)]
pub struct SparkRange;

impl TableFunctionImpl for SparkRange {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let (exprs, partitions): (&[Expr], Option<&Expr>) = match args.exprs() {
            [] => {
                return plan_err!(
                    "range takes 1 to 4 arguments: (end) or (start, end[, step[, numPartitions]])"
                );
            }
            exprs if exprs.len() > 4 => {
                return plan_err!("range takes 1 to 4 arguments, {} given", exprs.len());
            }
            [start, end, step, partitions] => (
                &[start.clone(), end.clone(), step.clone()],
                Some(partitions),
            ),
            exprs => (exprs, None),
        };
        let scan = |exprs: &[Expr]| -> Result<LogicalPlanBuilder> {
            let range = datafusion::functions_table::range();
            let provider = range
                .function()
                .call_with_args(TableFunctionArgs::new(exprs, args.session()))?;
            LogicalPlanBuilder::scan("range", provider_as_source(provider), None)?
                .project(vec![col("value").alias("id")])
        };
        let slices = match partitions {
            Some(partitions) => slices(exprs, integer(partitions, "numPartitions")?)?,
            None => None,
        };
        let plan = match slices {
            Some(slices) => {
                let mut builder: Option<LogicalPlanBuilder> = None;
                for (start, end, step) in slices {
                    let slice = scan(&[lit(start), lit(end), lit(step)])?;
                    builder = Some(match builder {
                        None => slice,
                        Some(union) => union.union(slice.build()?)?,
                    });
                }
                match builder {
                    Some(builder) => builder.build()?,
                    None => scan(exprs)?.build()?,
                }
            }
            None => scan(exprs)?.build()?,
        };
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

/// A constant integer argument.
fn integer(expr: &Expr, what: &str) -> Result<i64> {
    let value = match expr {
        Expr::Literal(value, _) => value.clone(),
        Expr::Cast(cast) => match cast.expr.as_ref() {
            Expr::Literal(value, _) => value.clone(),
            _ => return plan_err!("range's {what} must be a constant integer"),
        },
        _ => return plan_err!("range's {what} must be a constant integer"),
    };
    match value.cast_to(&datafusion::arrow::datatypes::DataType::Int64)? {
        ScalarValue::Int64(Some(v)) => Ok(v),
        _ => plan_err!("range's {what} must be a constant integer"),
    }
}

/// The `(start, end, step)` of each of `partitions` slices of `range(exprs)`, as Spark cuts
/// them; `None` when the bounds are not constants (DataFusion then reports them).
fn slices(exprs: &[Expr], partitions: i64) -> Result<Option<Vec<(i64, i64, i64)>>> {
    if partitions < 1 {
        return plan_err!(
            "[INVALID_PARAMETER_VALUE] range's numPartitions must be positive, got {partitions}"
        );
    }
    let (start, end, step) = match exprs {
        [start, end, step] => (
            integer(start, "start")?,
            integer(end, "end")?,
            integer(step, "step")?,
        ),
        _ => return Ok(None),
    };
    if step == 0 {
        return Ok(None);
    }
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    // Spark's element count: ceil((end - start) / step), none when the step points away.
    let count = if (end - start) * step.signum() <= 0 {
        0
    } else {
        ((end - start).abs() + step.abs() - 1) / step.abs()
    };
    let n = i128::from(partitions);
    Ok(Some(
        (0..n)
            .map(|i| {
                let first = start + i * count / n * step;
                let last = start + (i + 1) * count / n * step;
                (first as i64, last as i64, step as i64)
            })
            .collect(),
    ))
}
