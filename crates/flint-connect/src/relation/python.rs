//! Relations that run a Python function over whole batches: `mapInPandas`, `mapInArrow` and
//! `foreachPartition` (`MapPartitions`), `applyInPandas` and `applyInArrow` (`GroupMap`). The function travels in the plan to the executors,
//! which run it over each partition of their tasks in their Python workers.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::logical_expr::{Expr, Partitioning};
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
        let (udf, schema) = self.relation_function(
            map.func.as_ref(),
            "mapInPandas/mapInArrow",
            flint_python::EvalType::is_map,
        )?;
        let (state, plan) = df.into_parts();
        let plan = MapInPython::new(plan, udf, schema)?.into_plan();
        Ok(DfFrame::new(state, plan))
    }

    /// Plans `GroupMap` (`applyInPandas`, `applyInArrow`): the input's columns and its keys as
    /// `__flint_key_{i}`, shuffled by the keys, then the function over each group of each
    /// partition.
    pub(super) async fn group_map(
        &mut self,
        group: &spark_connect::GroupMap,
    ) -> Result<DfFrame, ConnectError> {
        if group.initial_input.is_some()
            || group.transform_with_state_info.is_some()
            || group.is_map_groups_with_state.is_some()
        {
            return Err(ConnectError::Unsupported(
                "applyInPandasWithState and transformWithState (streaming state)".into(),
            ));
        }
        let df = self
            .relation(input(&group.input, "GroupMap.input")?)
            .await?;
        let (udf, schema) = self.relation_function(
            group.func.as_ref(),
            "applyInPandas/applyInArrow",
            flint_python::EvalType::is_grouped_map,
        )?;
        let mut columns: Vec<Expr> = df
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        let mut keys = Vec::with_capacity(group.grouping_expressions.len());
        for (i, expression) in group.grouping_expressions.iter().enumerate() {
            let key = format!("{}{i}", flint_python::GROUP_KEY_PREFIX);
            columns.push(self.expression(&df, expression)?.expr.alias(&key));
            keys.push(datafusion::prelude::col(key));
        }
        let partitions = self.session.shuffle_partitions().max(1);
        let df = df.select(columns)?;
        let df = if keys.is_empty() {
            df.repartition(Partitioning::RoundRobinBatch(1))?
        } else {
            df.repartition(Partitioning::Hash(keys, partitions))?
        };
        let (state, plan) = df.into_parts();
        let plan = MapInPython::new(plan, udf, schema)?.into_plan();
        Ok(DfFrame::new(state, plan))
    }
}

impl Planner<'_> {
    /// The Python function of a relation (`where` it was called), if its eval type is one
    /// `accepts` takes, and the schema it declared.
    fn relation_function(
        &self,
        func: Option<&spark_connect::CommonInlineUserDefinedFunction>,
        called: &str,
        accepts: fn(flint_python::EvalType) -> bool,
    ) -> Result<(flint_python::PythonUdf, Arc<Schema>), ConnectError> {
        let func = func.ok_or_else(|| missing("the relation's Python function"))?;
        let name = format!("__flint_python_relation_{}", func.function_name);
        let udf = crate::udf::python_udf(&crate::udf::runner(self.session), func, &name)?;
        if !accepts(udf.eval_type()) {
            return Err(ConnectError::Unsupported(format!(
                "the Python function {} of eval type {} in {called}",
                func.function_name,
                udf.eval_type().code()
            )));
        }
        let schema = output_schema(&udf, &func.function_name)?;
        Ok((udf, schema))
    }
}

/// The schema a Python relation function declared (a struct type).
fn output_schema(udf: &flint_python::PythonUdf, name: &str) -> Result<Arc<Schema>, ConnectError> {
    let DataType::Struct(fields) = udf.output_type() else {
        return Err(ConnectError::IllegalArgument(format!(
            "[INVALID_RETURN_TYPE] the schema of {name} must be a struct, not {}",
            udf.output_type()
        )));
    };
    Ok(Arc::new(Schema::new(fields.clone())))
}
