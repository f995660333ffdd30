//! Relations that reshape their input's columns: `unpivot`/`melt` (each row becomes one row
//! per value column, Spark's `Expand`) and `to(schema)` (columns picked by name, reordered
//! and cast to the schema's types).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, UnnestOptions};
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::functions::core::expr_ext::FieldAccessor;
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::{Expr, ExprSchemable, lit};
use datafusion::prelude::{cast, col};

use super::{Planner, input};
use crate::error::ConnectError;

/// The column holding each row's (variable, value) pairs between the projection and the
/// unnest.
const PAIRS: &str = "__flint_unpivot";

impl Planner<'_> {
    /// `unpivot(ids, values, variable, value)`: the ids, then the name of each value column
    /// and its value (of the value columns' least common type), value columns in order for
    /// each input row. Without values, every column that is not an id is one.
    pub(super) async fn unpivot(
        &mut self,
        unpivot: &spark_connect::Unpivot,
    ) -> Result<DfFrame, ConnectError> {
        let df = self
            .relation(input(&unpivot.input, "Unpivot.input")?)
            .await?;
        let ids = unpivot
            .ids
            .iter()
            .map(|id| self.expression(&df, id))
            .collect::<Result<Vec<_>, _>>()?;
        let id_names: Vec<String> = ids.iter().map(|id| id.rendered.name.clone()).collect();
        let values: Vec<(String, Expr)> = match &unpivot.values {
            Some(values) => values
                .values
                .iter()
                .map(|value| {
                    let planned = self.expression(&df, value)?;
                    Ok((planned.rendered.name, planned.expr))
                })
                .collect::<Result<_, ConnectError>>()?,
            None => df
                .schema()
                .iter()
                .filter(|(_, field)| !id_names.iter().any(|id| id == field.name()))
                .map(|(qualifier, field)| {
                    (field.name().clone(), col(Column::from((qualifier, field))))
                })
                .collect(),
        };
        if values.is_empty() {
            return Err(ConnectError::Analysis(
                "[UNPIVOT_REQUIRES_VALUE_COLUMNS] At least one value column needs to be \
                 specified for UNPIVOT, all columns specified as ids. SQLSTATE: 42K0A"
                    .into(),
            ));
        }
        let types = values
            .iter()
            .map(|(_, value)| value.get_type(df.schema()))
            .collect::<Result<Vec<DataType>, _>>()?;
        let Some(common) = type_union_resolution(&types) else {
            let names: Vec<String> = types
                .iter()
                .map(flint_sql::functions::spark_type_name)
                .collect();
            return Err(ConnectError::Analysis(format!(
                "[UNPIVOT_VALUE_DATA_TYPE_MISMATCH] Unpivot value columns must share a least \
                 common type, some types do not: [{}]. SQLSTATE: 42K09",
                names.join(", ")
            )));
        };
        let pairs = values
            .into_iter()
            .map(|(name, value)| {
                datafusion::functions::core::expr_fn::named_struct(vec![
                    lit("variable"),
                    lit(name),
                    lit("value"),
                    cast(value, common.clone()),
                ])
            })
            .collect();
        let mut projection: Vec<Expr> = ids.into_iter().map(|id| id.named()).collect();
        projection.push(datafusion::functions_nested::expr_fn::make_array(pairs).alias(PAIRS));
        let unnested = df.select(projection)?.unnest_columns_with_options(
            &[PAIRS],
            UnnestOptions::new().with_preserve_nulls(false),
        )?;
        let mut output: Vec<Expr> = id_names
            .iter()
            .map(|name| col(Column::from_name(name)))
            .collect();
        let pairs = col(Column::from_name(PAIRS));
        output.push(
            pairs
                .clone()
                .field("variable")
                .alias(&unpivot.variable_column_name),
        );
        output.push(pairs.field("value").alias(&unpivot.value_column_name));
        Ok(unnested.select(output)?)
    }

    /// `to(schema)`: the schema's columns in its order, found by name (ignoring case) in the
    /// input and cast to the schema's types.
    pub(super) async fn conform_to_schema(
        &mut self,
        to: &spark_connect::ToSchema,
    ) -> Result<DfFrame, ConnectError> {
        let df = self.relation(input(&to.input, "ToSchema.input")?).await?;
        let schema = to
            .schema
            .as_ref()
            .ok_or_else(|| crate::error::missing("ToSchema.schema"))?;
        let DataType::Struct(fields) = crate::types::from_connect(schema)? else {
            return Err(ConnectError::IllegalArgument(
                "to(schema) needs a struct type".into(),
            ));
        };
        let columns = fields
            .iter()
            .map(|field| {
                let (qualifier, found) = df
                    .schema()
                    .iter()
                    .find(|(_, f)| f.name().eq_ignore_ascii_case(field.name()))
                    .ok_or_else(|| {
                        ConnectError::Analysis(format!(
                            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function \
                             parameter with name `{}` cannot be resolved. Did you mean one of \
                             the following? [{}]. SQLSTATE: 42703",
                            field.name(),
                            df.schema().field_names().join(", ")
                        ))
                    })?;
                let column = col(Column::from((qualifier, found)));
                let value = if found.data_type() == field.data_type() {
                    column
                } else {
                    cast(column, field.data_type().clone())
                };
                Ok(value.alias(field.name()))
            })
            .collect::<Result<Vec<_>, ConnectError>>()?;
        Ok(df.select(columns)?)
    }
}
