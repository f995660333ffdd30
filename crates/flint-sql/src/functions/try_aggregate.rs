//! Spark's `try_avg`: `avg`, with NULL where the sum or the average overflows (a decimal
//! beyond 38 digits) instead of `ARITHMETIC_OVERFLOW`. The aggregate wraps the session's
//! `avg` and carries an "overflowed" flag in its state, so an overflow in any partial
//! aggregate makes the final answer NULL.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature};

/// `try_avg` over `avg` (the registry's, with Spark's result types).
pub(crate) fn try_avg(avg: Arc<AggregateUDF>) -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(TryAggregate {
        name: "try_avg",
        inner: avg,
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TryAggregate {
    name: &'static str,
    inner: Arc<AggregateUDF>,
}

/// Whether `error` is an overflow, which a `try_` aggregate answers with NULL.
fn overflowed(error: &DataFusionError) -> bool {
    let text = error.to_string();
    text.contains("verflow") || text.contains("ARITHMETIC_OVERFLOW")
}

impl AggregateUDFImpl for TryAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut fields = self.inner.state_fields(args)?;
        fields.push(Arc::new(Field::new(
            format!("{}[overflowed]", self.name),
            DataType::Boolean,
            true,
        )));
        Ok(fields)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(TryAccumulator {
            return_type: args.return_field.data_type().clone(),
            inner: self.inner.accumulator(args)?,
            overflowed: false,
        }))
    }
}

#[derive(Debug)]
struct TryAccumulator {
    inner: Box<dyn Accumulator>,
    return_type: DataType,
    overflowed: bool,
}

impl TryAccumulator {
    /// `result`, with an overflow remembered instead of failing.
    fn tolerate(&mut self, result: Result<()>) -> Result<()> {
        match result {
            Err(error) if overflowed(&error) => {
                self.overflowed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl Accumulator for TryAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.overflowed {
            return Ok(());
        }
        let result = self.inner.update_batch(values);
        self.tolerate(result)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some((flags, inner)) = states.split_last() else {
            return Ok(());
        };
        if flags.as_boolean().true_count() > 0 {
            self.overflowed = true;
        }
        if self.overflowed {
            return Ok(());
        }
        let result = self.inner.merge_batch(inner);
        self.tolerate(result)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut state = self.inner.state()?;
        state.push(ScalarValue::Boolean(Some(self.overflowed)));
        Ok(state)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let null = || ScalarValue::try_from(&self.return_type);
        if self.overflowed {
            return null();
        }
        match self.inner.evaluate() {
            Err(error) if overflowed(&error) => null(),
            other => other,
        }
    }

    fn size(&self) -> usize {
        self.inner.size() + std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::BooleanArray;

    #[test]
    fn an_overflowing_flag_in_a_partial_state_makes_the_answer_null() {
        let avg = datafusion::functions_aggregate::average::avg_udaf();
        let udaf = try_avg(avg);
        let schema = datafusion::arrow::datatypes::Schema::new(vec![Field::new(
            "x",
            DataType::Float64,
            true,
        )]);
        let expr = datafusion::physical_expr::expressions::col("x", &schema).unwrap();
        let return_field = Arc::new(Field::new("try_avg", DataType::Float64, true));
        let expr_fields = [Arc::new(Field::new("x", DataType::Float64, true))];
        let args = AccumulatorArgs {
            return_field,
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: "try_avg(x)",
            is_distinct: false,
            exprs: &[expr],
            expr_fields: &expr_fields,
        };
        let mut accumulator = udaf.accumulator(args).unwrap();
        let values: ArrayRef =
            Arc::new(datafusion::arrow::array::Float64Array::from(vec![1.0, 2.0]));
        accumulator.update_batch(&[values]).unwrap();
        assert_eq!(
            accumulator.evaluate().unwrap(),
            ScalarValue::Float64(Some(1.5))
        );
        // A partial aggregate that overflowed: count 1, sum 0, overflowed.
        let states: Vec<ArrayRef> = vec![
            Arc::new(datafusion::arrow::array::UInt64Array::from(vec![1])),
            Arc::new(datafusion::arrow::array::Float64Array::from(vec![0.0])),
            Arc::new(BooleanArray::from(vec![true])),
        ];
        accumulator.merge_batch(&states).unwrap();
        assert_eq!(accumulator.evaluate().unwrap(), ScalarValue::Float64(None));
    }
}
