//! `df.freqItems(cols, support)` (Spark's `StatFunctions.freqItems`): for each column, the
//! values that may occur in more than `support` of the rows, as one row of arrays named
//! `{col}_freqItems`.
//!
//! Spark counts with Karp, Schenker and Papadimitriou's algorithm in at most `1 / support`
//! counters: while a column has no more distinct values than that, every value is kept;
//! beyond, which false positives survive depends on the order rows arrive in. Flint keeps
//! every value in the first case, as Spark does, and exactly the values above the support
//! in the second: the ones Spark's answer is sure to hold.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, JoinType};
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::functions_aggregate::expr_fn::{array_agg, count};
use datafusion::logical_expr::lit;
use datafusion::prelude::{cast, col};

use super::{Planner, input};
use crate::error::ConnectError;

impl Planner<'_> {
    /// Plans `freqItems`: one aggregation per column, joined into one row.
    pub(super) async fn freq_items(
        &mut self,
        freq: &spark_connect::StatFreqItems,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&freq.input, "StatFreqItems.input")?)
            .await?;
        let support = freq.support.unwrap_or(0.01);
        if !(1e-4..=1.0).contains(&support) {
            return Err(ConnectError::IllegalArgument(format!(
                "[INVALID_PARAMETER_VALUE] The support ({support}) must be between 1e-4 and 1. \
                 SQLSTATE: 22023"
            )));
        }
        // Spark's counters: `(1 / support).toInt`.
        let counters = (1.0 / support) as i64;
        let total = df
            .clone()
            .aggregate(vec![], vec![count(lit(1)).alias("__flint_rows")])?;
        let mut result: Option<DfFrame> = None;
        for name in &freq.cols {
            let (qualifier, field) = df
                .schema()
                .iter()
                .find(|(_, field)| field.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    ConnectError::Analysis(format!(
                        "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function \
                         parameter with name `{name}` cannot be resolved. SQLSTATE: 42703"
                    ))
                })?;
            let counts = df.clone().aggregate(
                vec![col(Column::from((qualifier, field))).alias("__flint_item")],
                vec![count(lit(1)).alias("__flint_count")],
            )?;
            let distinct = counts
                .clone()
                .aggregate(vec![], vec![count(lit(1)).alias("__flint_distinct")])?;
            let above_support = cast(col("__flint_count"), DataType::Float64)
                .gt(cast(col("__flint_rows"), DataType::Float64) * lit(support));
            let items = counts
                .join_on(total.clone(), JoinType::Inner, [lit(true)])?
                .join_on(distinct, JoinType::Inner, [lit(true)])?
                .filter(
                    col("__flint_distinct")
                        .lt_eq(lit(counters))
                        .or(above_support),
                )?
                .aggregate(
                    vec![],
                    vec![array_agg(col("__flint_item")).alias(format!("{name}_freqItems"))],
                )?;
            result = Some(match result {
                None => items,
                Some(result) => result.join_on(items, JoinType::Inner, [lit(true)])?,
            });
        }
        result.ok_or_else(|| {
            ConnectError::IllegalArgument("freqItems needs at least one column".into())
        })
    }
}
