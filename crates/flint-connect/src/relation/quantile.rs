//! `df.approxQuantile(cols, probabilities, relativeError)` (Spark's `StatFunctions.
//! multipleApproxQuantiles`): per column, the value at each probability among its non-NULL
//! values, as one row holding an array of arrays of doubles.
//!
//! Spark answers from a Greenwald-Khanna summary: for probability `q` over `n` values, any
//! value whose rank is within `relativeError * n` of `ceil(q * n)`, and the minimum or
//! maximum when `q` is within the error of 0 or 1. Flint ranks the values exactly (a sort
//! and a row number) and takes the first rank Spark's query over a summary keeping every
//! value would take, so the answer always lies in Spark's bound and is Spark's whenever
//! Spark's summary still holds every value (small inputs).

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, ListBuilder, RecordBatch,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::logical_expr::ExprFunctionExt;

use super::{Planner, input};
use crate::error::ConnectError;
use crate::expression::quote;

impl Planner<'_> {
    /// Plans `StatApproxQuantile`: ranks each column's values in a job, then answers from
    /// memory.
    pub(super) async fn approx_quantile(
        &mut self,
        request: &spark_connect::StatApproxQuantile,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&request.input, "StatApproxQuantile.input")?)
            .await?;
        let error = request.relative_error;
        if error < 0.0 || error.is_nan() {
            return Err(ConnectError::IllegalArgument(format!(
                "[NEGATIVE_VALUES] Expected a non-negative relative error, got {error}."
            )));
        }
        let error = error.min(1.0);
        for q in &request.probabilities {
            if !(0.0..=1.0).contains(q) {
                return Err(ConnectError::IllegalArgument(format!(
                    "[INVALID_PARAMETER_VALUE] Each quantile must be in [0, 1], got {q}."
                )));
            }
        }
        let mut outer = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
        for name in &request.cols {
            let column = quote(name);
            let values = self.sql_expr(df.schema(), &format!("CAST({column} AS DOUBLE)"))?;
            let numbers = df
                .clone()
                .select(vec![values.alias("v")])?
                .filter(datafusion::prelude::col("v").is_not_null())?;
            let count =
                flint::DataFrame::from_datafusion(self.session, numbers.clone(), "approxQuantile")
                    .count()
                    .await? as i64;
            let ranks: Vec<i64> = request
                .probabilities
                .iter()
                .map(|q| rank(*q, error, count))
                .collect();
            let wanted: BTreeSet<i64> = ranks.iter().copied().collect();
            let mut found = std::collections::HashMap::new();
            if count > 0 {
                let ranked = numbers
                    .window(vec![
                        datafusion::functions_window::expr_fn::row_number()
                            .order_by(vec![datafusion::prelude::col("v").sort(true, true)])
                            .build()?
                            .alias("r"),
                    ])?
                    .filter(
                        datafusion::prelude::col("r").in_list(
                            wanted
                                .iter()
                                .map(|r| datafusion::prelude::lit(*r as u64))
                                .collect(),
                            false,
                        ),
                    )?;
                let batches =
                    flint::DataFrame::from_datafusion(self.session, ranked, "approxQuantile")
                        .collect_as("approxQuantile")
                        .await?;
                for batch in &batches {
                    let v = batch.column(0).as_primitive::<Float64Type>();
                    let r = datafusion::arrow::compute::cast(batch.column(1), &DataType::Int64)
                        .map_err(datafusion::error::DataFusionError::from)?;
                    let r = r.as_primitive::<Int64Type>();
                    for i in 0..batch.num_rows() {
                        found.insert(r.value(i), v.value(i));
                    }
                }
            }
            let inner = outer.values();
            if count > 0 {
                for r in &ranks {
                    inner.values().append_option(found.get(r).copied());
                }
            }
            inner.append(true);
        }
        outer.append(true);
        let array: ArrayRef = Arc::new(outer.finish());
        let schema = Arc::new(Schema::new(vec![Field::new(
            "approx_quantile",
            array.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![array])
            .map_err(datafusion::error::DataFusionError::from)?;
        self.batches(schema, vec![batch])
    }
}

/// The 1-based rank Spark's query of a summary holding all `n` values takes for `q`.
fn rank(q: f64, error: f64, n: i64) -> i64 {
    if n <= 0 {
        return 0;
    }
    if q <= error {
        return 1;
    }
    if q >= 1.0 - error {
        return n;
    }
    let target = (q * n as f64).ceil();
    let slack = error * n as f64;
    ((target - slack).ceil() as i64).clamp(1, n)
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn ranks_follow_spark_s_query() {
        assert_eq!(rank(0.0, 0.05, 5), 1);
        assert_eq!(rank(0.5, 0.05, 5), 3);
        assert_eq!(rank(1.0, 0.05, 5), 5);
        assert_eq!(rank(0.5, 0.0, 4), 2);
    }
}
