//! Relations that run a Python function over whole batches: `mapInPandas`, `mapInArrow` and
//! `foreachPartition` (`MapPartitions`). The function travels in the plan to the executors,
//! which run it over each partition of their tasks in their Python workers.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::dataframe::DataFrame as DfFrame;
use flint_python::MapInPython;

use super::{Planner, input};
use crate::error::{ConnectError, missing};

impl Planner<'_> {
    /// Plans `MapPartitions`: the input, then the function over each of its partitions.
    pub(super) async fn map_partitions(
        &mut self,
        map: &spark_connect::MapPartitions,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&map.input, "MapPartitions.input")?)
            .await?;
        let func = map
            .func
            .as_ref()
            .ok_or_else(|| missing("MapPartitions.func"))?;
        let name = format!("__flint_python_map_{}", func.function_name);
        let udf = crate::udf::python_udf(&crate::udf::runner(self.session), func, &name)?;
        if !udf.eval_type().is_map() {
            return Err(ConnectError::Unsupported(format!(
                "the Python function {} of eval type {} in mapInPandas/mapInArrow",
                func.function_name,
                udf.eval_type().code()
            )));
        }
        let DataType::Struct(fields) = udf.output_type() else {
            return Err(ConnectError::IllegalArgument(format!(
                "[INVALID_RETURN_TYPE] the schema of {} must be a struct, not {}",
                func.function_name,
                udf.output_type()
            )));
        };
        let schema = Arc::new(Schema::new(fields.clone()));
        let (state, plan) = df.into_parts();
        let plan = MapInPython::new(plan, udf, schema)?.into_plan();
        Ok(DfFrame::new(state, plan))
    }
}
