//! Spark's table-valued functions: `range(end)`, `range(start, end[, step[, numPartitions]])`
//! with one `bigint` column `id` (DataFusion's `range` names its column `value`).

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col};

/// Spark's `range`: DataFusion's, with the column named `id`. The partition count is
/// Flint's to choose and is ignored.
#[derive(Debug)]
pub struct SparkRange;

impl TableFunctionImpl for SparkRange {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs: &[Expr] = match args.exprs() {
            [] => {
                return plan_err!(
                    "range takes 1 to 4 arguments: (end) or (start, end[, step[, numPartitions]])"
                );
            }
            exprs if exprs.len() > 4 => {
                return plan_err!("range takes 1 to 4 arguments, {} given", exprs.len());
            }
            [start, end, step, _partitions] => &[start.clone(), end.clone(), step.clone()],
            exprs => exprs,
        };
        let range = datafusion::functions_table::range();
        let provider = range
            .function()
            .call_with_args(TableFunctionArgs::new(exprs, args.session()))?;
        let plan = LogicalPlanBuilder::scan("range", provider_as_source(provider), None)?
            .project(vec![col("value").alias("id")])?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
