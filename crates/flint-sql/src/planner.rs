//! Spark's naming where DataFusion's SQL planner names things itself: `struct(1, 'x')` has
//! fields `col1`, `col2` (a column argument keeps its name), not `c0`, `c1`.

use datafusion::common::Result;
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::{Expr, lit};

/// Flint's expression planner, consulted before DataFusion's.
#[derive(Debug, Default)]
pub struct SparkExprPlanner;

impl ExprPlanner for SparkExprPlanner {
    fn plan_struct_literal(
        &self,
        args: Vec<Expr>,
        is_named_struct: bool,
    ) -> Result<PlannerResult<Vec<Expr>>> {
        if is_named_struct {
            return Ok(PlannerResult::Original(args));
        }
        let named = args
            .into_iter()
            .enumerate()
            .flat_map(|(i, arg)| {
                let name = match &arg {
                    Expr::Column(column) => column.name.clone(),
                    _ => format!("col{}", i + 1),
                };
                [lit(name), arg]
            })
            .collect();
        Ok(PlannerResult::Planned(named_struct(named)))
    }
}
