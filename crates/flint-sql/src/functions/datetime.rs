//! Spark's `year(date)` family.

use std::sync::Arc;

use datafusion::arrow::compute::kernels::temporal::{DatePart, date_part};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

/// `year`, `month`, `day`, `dayofmonth`, `quarter`, `hour`, `minute`, `second`.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        ("year", DatePart::Year),
        ("quarter", DatePart::Quarter),
        ("month", DatePart::Month),
        ("day", DatePart::Day),
        ("dayofmonth", DatePart::Day),
        ("hour", DatePart::Hour),
        ("minute", DatePart::Minute),
        ("second", DatePart::Second),
    ]
    .into_iter()
    .map(|(name, part)| Arc::new(ScalarUDF::from(SparkDatePart::new(name, part))))
    .collect()
}

/// Spark's `year(date)` family: one field of a date or timestamp as an `int`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkDatePart {
    name: &'static str,
    part: DatePartKey,
    signature: Signature,
}

/// `DatePart` lacks `Hash`; this mirrors the variants Flint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DatePartKey {
    Year,
    Quarter,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl SparkDatePart {
    fn new(name: &'static str, part: DatePart) -> Self {
        let part = match part {
            DatePart::Year => DatePartKey::Year,
            DatePart::Quarter => DatePartKey::Quarter,
            DatePart::Month => DatePartKey::Month,
            DatePart::Hour => DatePartKey::Hour,
            DatePart::Minute => DatePartKey::Minute,
            DatePart::Second => DatePartKey::Second,
            _ => DatePartKey::Day,
        };
        let signature = Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Date32]),
                TypeSignature::Exact(vec![DataType::Date64]),
                TypeSignature::Coercible(vec![datafusion::logical_expr::Coercion::new_exact(
                    datafusion::logical_expr::TypeSignatureClass::Timestamp,
                )]),
            ],
            Volatility::Immutable,
        );
        Self {
            name,
            part,
            signature,
        }
    }

    fn arrow_part(&self) -> DatePart {
        match self.part {
            DatePartKey::Year => DatePart::Year,
            DatePartKey::Quarter => DatePart::Quarter,
            DatePartKey::Month => DatePart::Month,
            DatePartKey::Day => DatePart::Day,
            DatePartKey::Hour => DatePart::Hour,
            DatePartKey::Minute => DatePart::Minute,
            DatePartKey::Second => DatePart::Second,
        }
    }
}

impl ScalarUDFImpl for SparkDatePart {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar_input = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [array] = arrays.as_slice() else {
            return datafusion::common::plan_err!("{} takes one argument", self.name);
        };
        let result = date_part(array.as_ref(), self.arrow_part())?;
        super::columnar(result, scalar_input)
    }
}
