//! `repartitionByRange(n, cols)` (Spark's `RangePartitioning`): rows in order of the sort
//! keys are cut into `n` ranges, partition `i` holding the `i`-th, and equal keys always in
//! one partition. Spark samples the input for `n - 1` bounds in a job of its own; Flint
//! ranks the rows (`rank()` over the keys, so ties share a rank) and sends rank `r` of `N`
//! rows to partition `(r - 1) * n / N` through a direct shuffle: exact, balanced ranges for
//! the price of ranking the input in one partition.

use datafusion::common::Column;
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionDefinition};
use datafusion::logical_expr::{Expr, ExprFunctionExt, Partitioning, lit};
use datafusion::prelude::col;
use spark_connect::expression::ExprType;

use super::{Planner, input};
use crate::error::{ConnectError, missing};

const RANK: &str = "__flint_range_rank";
const ROWS: &str = "__flint_range_rows";
const PARTITION: &str = "__flint_range_partition";

/// Whether `expression` is a sort order (a range repartition's key).
pub(super) fn is_sort_order(expression: &spark_connect::Expression) -> bool {
    matches!(expression.expr_type, Some(ExprType::SortOrder(_)))
}

impl Planner<'_> {
    /// Plans `RepartitionByExpression` over sort orders.
    pub(super) async fn repartition_by_range(
        &mut self,
        repartition: &spark_connect::RepartitionByExpression,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&repartition.input, "RepartitionByExpression.input")?)
            .await?;
        let orders = repartition
            .partition_exprs
            .iter()
            .map(|e| match &e.expr_type {
                Some(ExprType::SortOrder(order)) => Ok(order.as_ref().clone()),
                // A plain column is an ascending key, as in Spark.
                _ => Ok(spark_connect::expression::SortOrder {
                    child: Some(Box::new(e.clone())),
                    direction: spark_connect::expression::sort_order::SortDirection::Ascending
                        as i32,
                    null_ordering:
                        spark_connect::expression::sort_order::NullOrdering::SortNullsFirst as i32,
                }),
            })
            .collect::<Result<Vec<_>, ConnectError>>()?;
        if orders.is_empty() {
            return Err(missing("RepartitionByExpression.partition_exprs"));
        }
        let n = repartition
            .num_partitions
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_else(|| self.session.shuffle_partitions())
            .max(1);
        let columns: Vec<Expr> = df
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let keys = self.sort_exprs(&df, &orders)?;
        let rank = datafusion::functions_window::expr_fn::rank()
            .order_by(keys)
            .build()?
            .alias(RANK);
        let rows = Expr::from(WindowFunction::new(
            WindowFunctionDefinition::AggregateUDF(
                datafusion::functions_aggregate::count::count_udaf(),
            ),
            vec![lit(1)],
        ))
        .alias(ROWS);
        // One window node per ordering: DataFusion's planner wants one sort per node.
        let ranked = df.window(vec![rows])?.window(vec![rank])?;
        // Spark's integral division (its `/` is a double division).
        let partition = self.sql_expr(
            ranked.schema(),
            &format!("(CAST({RANK} AS BIGINT) - 1) * {n} div CAST({ROWS} AS BIGINT)"),
        )?;
        let mut with_partition = columns.clone();
        with_partition.push(partition.alias(PARTITION));
        let direct = flint_sql::exchange::direct_partition_udf().call(vec![col(PARTITION)]);
        let spread = ranked
            .select(with_partition)?
            .repartition(Partitioning::Hash(vec![direct], n))?;
        let kept: Vec<Expr> = columns
            .into_iter()
            .map(|c| match c {
                Expr::Column(column) => Expr::Column(Column::new(column.relation, column.name)),
                other => other,
            })
            .collect();
        Ok(spread.select(kept)?)
    }
}
