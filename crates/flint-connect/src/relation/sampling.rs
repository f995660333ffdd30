//! `df.stat.sampleBy(col, fractions, seed)` (Spark's `StatFunctions.sampleBy`): a row is
//! kept when `rand(seed)` falls below its stratum's fraction (0 for strata not listed), the
//! same draws as Spark's on the same partitioning.

use datafusion::dataframe::DataFrame as DfFrame;

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
