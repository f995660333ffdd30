//! `df.stat.sampleBy(col, fractions, seed)` (Spark's `StatFunctions.sampleBy`): a row is
//! kept when `rand(seed)` falls below its stratum's fraction (0 for strata not listed), the
//! same draws as Spark's on the same partitioning; `df.sample(withReplacement = true)`,
//! rows repeated by Spark's Poisson draws.

use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::logical_expr::Expr;
use datafusion::prelude::col;

use super::{Planner, input};
use crate::error::{ConnectError, missing};

impl Planner<'_> {
    /// Plans `StatSampleBy` as a filter on `rand(seed)` against the row's stratum's fraction.
    pub(super) async fn sample_by(
        &mut self,
        sample: &spark_connect::StatSampleBy,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&sample.input, "StatSampleBy.input")?)
            .await?;
        let column = sample
            .col
            .as_ref()
            .ok_or_else(|| missing("StatSampleBy.col"))?;
        let column = self.expression(&df, column)?.rendered.sql;
        let mut cases = Vec::with_capacity(sample.fractions.len());
        for fraction in &sample.fractions {
            if !(0.0..=1.0).contains(&fraction.fraction) {
                return Err(ConnectError::IllegalArgument(format!(
                    "[INVALID_PARAMETER_VALUE] Fractions must be in [0, 1], but got {}.",
                    fraction.fraction
                )));
            }
            let stratum = fraction
                .stratum
                .as_ref()
                .ok_or_else(|| missing("StatSampleBy.fractions.stratum"))?;
            let (stratum, _) = crate::literal::render_literal(stratum)?;
            cases.push(format!("WHEN {stratum} THEN {:?}D", fraction.fraction));
        }
        let seed = sample.seed.unwrap_or(0);
        let condition = if cases.is_empty() {
            "false".to_string()
        } else {
            format!(
                "rand({seed}L) < CASE ({column}) {} ELSE 0.0D END",
                cases.join(" ")
            )
        };
        let condition = self.sql_expr(df.schema(), &condition)?;
        Ok(df.filter(condition)?)
    }
}

/// The column holding each row's number of copies while a sample with replacement is made.
const COPIES: &str = "__flint_sample_copies";

impl Planner<'_> {
    /// `sample(withReplacement = true, fraction, seed)` (Spark's `SampleExec` with a
    /// `PoissonSampler` per partition, seeded as `PartitionwiseSampledRDD` seeds it): each
    /// row comes out as many times as its Poisson draw of mean `fraction`, Spark's draws on
    /// the same partitioning.
    pub(super) fn sample_with_replacement(
        &self,
        df: DfFrame,
        fraction: f64,
        seed: i64,
    ) -> Result<DfFrame, ConnectError> {
        if fraction.is_nan() || fraction < 0.0 || fraction.is_infinite() {
            return Err(ConnectError::IllegalArgument(format!(
                "requirement failed: Sampling fraction ({fraction}) must be nonnegative with \
                 replacement"
            )));
        }
        let (state, plan) = df.into_parts();
        let columns: Vec<Expr> = plan.schema().columns().into_iter().map(col).collect();
        let counted = flint_sql::partition_values::poisson_counts(plan, COPIES, fraction, seed)?;
        let df = DfFrame::new(state, counted);
        // `array_repeat(true, n)` unnested: n copies of the row, none for 0.
        let copies = self.sql_expr(df.schema(), &format!("array_repeat(true, {COPIES})"))?;
        Ok(df
            .with_column(COPIES, copies)?
            .unnest_columns(&[COPIES])?
            .select(columns)?)
    }
}
