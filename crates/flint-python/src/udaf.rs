//! A grouped-aggregate Python UDF (`pandas_udf` of Series to a scalar, `arrow_udf` of arrays
//! to a scalar) as a DataFusion aggregate function: a group's rows are gathered, then the
//! function sees all of them at once in a Python worker (Spark's `AggregateInPandasExec`).
//!
//! Gathering runs in two phases like any aggregate: a partial aggregate keeps each group's
//! argument values as lists, the final aggregate concatenates the lists that reach it after
//! the shuffle and calls the function once per group.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility,
};

use crate::{PythonUdf, worker};

/// A grouped-aggregate Python UDF: one call of the function per group.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonAggregateUdf {
    udf: PythonUdf,
    signature: Signature,
}

impl PythonAggregateUdf {
    /// The aggregate of `udf`, whose eval type must be an aggregate one
    /// ([`crate::EvalType::is_aggregate`]).
    pub fn new(udf: PythonUdf) -> Self {
        PythonAggregateUdf {
            udf,
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
                Volatility::Volatile,
            ),
        }
    }

    /// The function's definition (pickled command, eval type, result type, runner).
    pub fn definition(&self) -> &PythonUdf {
        &self.udf
    }

    /// The UDF itself if `udaf` is a Python aggregate.
    pub fn of(udaf: &AggregateUDF) -> Option<&PythonAggregateUdf> {
        udaf.inner().as_ref().downcast_ref::<PythonAggregateUdf>()
    }
}

impl AggregateUDFImpl for PythonAggregateUdf {
    fn name(&self) -> &str {
        self.udf.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.udf.output_type().clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(args
            .input_fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let item = Field::new_list_field(field.data_type().clone(), true);
                Arc::new(Field::new(
                    format!("{}[{i}]", args.name),
                    DataType::List(Arc::new(item)),
                    true,
                ))
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(GroupValues {
            udf: self.udf.clone(),
            types: args
                .expr_fields
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
            parts: vec![Vec::new(); args.expr_fields.len()],
            rows: 0,
        }))
    }
}

/// One group's argument values, gathered until the function is called.
#[derive(Debug)]
struct GroupValues {
    udf: PythonUdf,
    types: Vec<DataType>,
    /// Per argument, the arrays seen so far.
    parts: Vec<Vec<ArrayRef>>,
    rows: usize,
}

impl GroupValues {
    /// Per argument, all values gathered so far as one array.
    fn columns(&self) -> Result<Vec<ArrayRef>> {
        self.parts
            .iter()
            .zip(&self.types)
            .map(|(parts, data_type)| match parts.as_slice() {
                [] => Ok(datafusion::arrow::array::new_empty_array(data_type)),
                [one] => Ok(Arc::clone(one)),
                many => {
                    let many: Vec<&dyn Array> = many.iter().map(|a| a.as_ref()).collect();
                    Ok(concat(&many)?)
                }
            })
            .collect()
    }
}

impl Accumulator for GroupValues {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if let Some(first) = values.first() {
            self.rows += first.len();
        }
        for (parts, array) in self.parts.iter_mut().zip(values) {
            if !array.is_empty() {
                parts.push(Arc::clone(array));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for (parts, state) in self.parts.iter_mut().zip(states) {
            let lists = state.as_list::<i32>();
            for i in 0..lists.len() {
                if lists.is_valid(i) {
                    let values = lists.value(i);
                    if !values.is_empty() {
                        parts.push(values);
                    }
                }
            }
        }
        self.rows = self
            .parts
            .first()
            .map_or(0, |p| p.iter().map(|a| a.len()).sum());
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .columns()?
            .into_iter()
            .map(|column| SingleRowListArrayBuilder::new(column).build_list_scalar())
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let columns = self.columns()?;
        let rows = columns.first().map_or(self.rows, |c| c.len());
        let result = worker::arguments_batch(columns, rows)
            .and_then(|batch| worker::evaluate(&self.udf, &batch))
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        ScalarValue::try_from_array(&result, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .parts
                .iter()
                .flatten()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }
}
