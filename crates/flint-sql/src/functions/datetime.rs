//! Spark's `year(date)` family.

use std::sync::Arc;

use datafusion::arrow::compute::kernels::temporal::{DatePart, date_part};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// `year`, `month`, `day`, `dayofmonth`, `quarter`, `hour`, `minute`, `second`,
/// `dayofweek` (Sunday is 1), `dayofyear`, `weekofyear` (ISO weeks).
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
        ("dayofweek", DatePart::DayOfWeekSunday0),
        ("dayofyear", DatePart::DayOfYear),
        ("weekofyear", DatePart::Week),
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
    DayOfWeek,
    DayOfYear,
    WeekOfYear,
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
            DatePart::DayOfWeekSunday0 => DatePartKey::DayOfWeek,
            DatePart::DayOfYear => DatePartKey::DayOfYear,
            DatePart::Week => DatePartKey::WeekOfYear,
            _ => DatePartKey::Day,
        };
        let signature = Signature::user_defined(Volatility::Immutable);
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
            DatePartKey::DayOfWeek => DatePart::DayOfWeekSunday0,
            DatePartKey::DayOfYear => DatePart::DayOfYear,
            DatePartKey::WeekOfYear => DatePart::Week,
        }
    }
}

impl ScalarUDFImpl for SparkDatePart {
    /// Dates and timestamps as they are; text is read as a date (a timestamp for the time
    /// fields), as Spark casts it.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let time_field = matches!(
            self.part,
            DatePartKey::Hour | DatePartKey::Minute | DatePartKey::Second
        );
        match arg_types {
            [t @ (DataType::Date32 | DataType::Date64 | DataType::Timestamp(..))] => {
                Ok(vec![t.clone()])
            }
            [t @ (DataType::Time32(_) | DataType::Time64(_))] if time_field => Ok(vec![t.clone()]),
            [DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null]
                if time_field =>
            {
                Ok(vec![DataType::Timestamp(
                    datafusion::arrow::datatypes::TimeUnit::Microsecond,
                    None,
                )])
            }
            [DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null] => {
                Ok(vec![DataType::Date32])
            }
            [other] => datafusion::common::plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} needs a date or timestamp, got {other}",
                self.name
            ),
            _ => datafusion::common::plan_err!("{} takes one argument", self.name),
        }
    }

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
        let (arrays, scalar_input) = super::argument_arrays(&args)?;
        let [array] = arrays.as_slice() else {
            return datafusion::common::plan_err!("{} takes one argument", self.name);
        };
        let mut result = date_part(array.as_ref(), self.arrow_part())?;
        if self.part == DatePartKey::DayOfWeek {
            // Spark counts Sunday as 1, arrow as 0.
            result = datafusion::arrow::compute::kernels::numeric::add(
                &result,
                &datafusion::arrow::array::Int32Array::new_scalar(1),
            )?;
        }
        super::columnar(result, scalar_input)
    }
}
