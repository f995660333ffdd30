//! Relations that reshape their input's columns: `unpivot`/`melt` (each row becomes one row
//! per value column, Spark's `Expand`) and `to(schema)` (columns picked by name, reordered
//! and cast to the schema's types), `transpose` (rows become columns).

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

/// Spark's `spark.sql.transposeMaxValues`: the most index values `transpose` makes columns of.
const TRANSPOSE_MAX_VALUES: usize = 500;

impl Planner<'_> {
    /// `transpose(indexColumn)` (Spark's `Transpose`): a column `key` holding the names of the
    /// other columns, then one column per index value (in ascending order, NULL left out)
    /// holding that row's values, of the columns' least common type. Like Spark, the input
    /// is collected while planning.
    pub(super) async fn transpose(
        &mut self,
        transpose: &spark_connect::Transpose,
    ) -> Result<DfFrame, ConnectError> {
        use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
        use datafusion::arrow::datatypes::{Field, Schema};
        use std::sync::Arc;

        let df = self
            .relation(input(&transpose.input, "Transpose.input")?)
            .await?;
        let index = match transpose.index_columns.as_slice() {
            [] => match df.schema().columns().first() {
                Some(column) => column.clone(),
                None => {
                    return Err(ConnectError::Analysis(
                        "[TRANSPOSE_INVALID_INDEX_COLUMN] transpose needs an index column".into(),
                    ));
                }
            },
            [one] => match self.expression(&df, one)?.expr {
                Expr::Column(column) => column,
                other => {
                    return Err(ConnectError::Analysis(format!(
                        "[TRANSPOSE_INVALID_INDEX_COLUMN] Invalid index column for TRANSPOSE because: {other} is not a column"
                    )));
                }
            },
            _ => {
                return Err(ConnectError::Analysis(
                    "[TRANSPOSE_INVALID_INDEX_COLUMN] TRANSPOSE takes one index column".into(),
                ));
            }
        };
        let values: Vec<Column> = df
            .schema()
            .columns()
            .into_iter()
            .filter(|c| c.name != index.name || c.relation != index.relation)
            .collect();
        let types = values
            .iter()
            .map(|c| {
                Ok(df
                    .schema()
                    .qualified_field_from_column(c)?
                    .1
                    .data_type()
                    .clone())
            })
            .collect::<Result<Vec<_>, ConnectError>>()?;
        let text =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        // Spark's wider type promotes to text when one of the columns is text.
        let common = if types.is_empty() || types.iter().any(text) {
            DataType::Utf8
        } else {
            type_union_resolution(&types).ok_or_else(|| {
                ConnectError::Analysis(format!(
                    "[TRANSPOSE_NO_LEAST_COMMON_TYPE] Transpose requires non-index columns to share a least common type, but {types:?} do not. SQLSTATE: 42K09"
                ))
            })?
        };
        let mut projection = vec![cast(col(index.clone()), DataType::Utf8).alias("__flint_index")];
        for (i, column) in values.iter().enumerate() {
            projection.push(
                cast(col(column.clone()), common.clone()).alias(format!("__flint_value_{i}")),
            );
        }
        let ordered = df
            .filter(col(index.clone()).is_not_null())?
            .select(projection)?
            .sort(vec![col("__flint_index").sort(true, false)])?;
        let batches = flint::DataFrame::from_datafusion(self.session, ordered, "transpose")
            .collect_as("transpose")
            .await?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows > TRANSPOSE_MAX_VALUES {
            return Err(ConnectError::Analysis(format!(
                "[TRANSPOSE_EXCEED_ROW_LIMIT] Number of rows exceeds the allowed limit of {TRANSPOSE_MAX_VALUES} for TRANSPOSE. SQLSTATE: 54006"
            )));
        }
        let mut fields = vec![Field::new("key", DataType::Utf8, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
            values.iter().map(|c| c.name.as_str()),
        ))];
        for batch in &batches {
            let names = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(
                        "transpose's index is not text".into(),
                    )
                })?;
            for row in 0..batch.num_rows() {
                let slices: Vec<ArrayRef> = (1..batch.num_columns())
                    .map(|c| batch.column(c).slice(row, 1))
                    .collect();
                let column = if slices.is_empty() {
                    datafusion::arrow::array::new_empty_array(&common)
                } else {
                    let parts: Vec<&dyn Array> = slices.iter().map(|a| a.as_ref()).collect();
                    datafusion::arrow::compute::concat(&parts)
                        .map_err(datafusion::error::DataFusionError::from)?
                };
                fields.push(Field::new(names.value(row), common.clone(), true));
                columns.push(column);
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        self.batches(schema, vec![batch])
    }
}
