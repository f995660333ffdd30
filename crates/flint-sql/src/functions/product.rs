//! Spark's `product(x)`: the product of a group's non-NULL values as a double, NULL when there
//! are none. Partial products multiply, so it runs in two phases like `sum`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// The `product` aggregate, for the registry.
pub(super) fn functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::from(Product {
        signature: Signature::any(1, Volatility::Immutable),
    }))]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Product {
    signature: Signature,
}

impl AggregateUDFImpl for Product {
    fn name(&self) -> &str {
        "product"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
            [other] => plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] product needs a number, got {other}"
            ),
            _ => plan_err!("product takes one argument"),
        }
    }

    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new("product", DataType::Float64, true)),
            Arc::new(Field::new("seen", DataType::Boolean, true)),
        ])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ProductAccumulator {
            product: 1.0,
            seen: false,
        }))
    }
}

#[derive(Debug)]
struct ProductAccumulator {
    product: f64,
    seen: bool,
}

impl Accumulator for ProductAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let doubles = datafusion::arrow::compute::cast(&values[0], &DataType::Float64)?;
        for value in doubles.as_primitive::<Float64Type>().iter().flatten() {
            self.product *= value;
            self.seen = true;
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let products = states[0].as_primitive::<Float64Type>();
        let seen = states[1].as_boolean();
        for i in 0..products.len() {
            if seen.is_valid(i) && seen.value(i) && products.is_valid(i) {
                self.product *= products.value(i);
                self.seen = true;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.product)),
            ScalarValue::Boolean(Some(self.seen)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.seen.then_some(self.product)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
