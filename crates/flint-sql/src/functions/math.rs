//! Spark's `round` (half up) and `bround` (half even): a decimal keeps a decimal type with
//! the rounded scale (`round(2.5)` is `3`, a `decimal(2,0)`), a double is rounded at its
//! shortest decimal form as Scala's `BigDecimal` does, an integer stays an integer.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float32Array, Float64Array, PrimitiveArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, FieldRef, Float32Type, Float64Type, Int64Type,
};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(Round::new("round", false))),
        Arc::new(ScalarUDF::from(Round::new("bround", true))),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Round {
    name: &'static str,
    half_even: bool,
    signature: Signature,
}

impl Round {
    fn new(name: &'static str, half_even: bool) -> Self {
        Self {
            name,
            half_even,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The scale argument, which Spark requires to be a constant.
fn scale_argument(args: &ReturnFieldArgs) -> Result<i32> {
    match args.scalar_arguments.get(1) {
        None => Ok(0),
        Some(Some(value)) => match value {
            ScalarValue::Int8(Some(v)) => Ok(i32::from(*v)),
            ScalarValue::Int16(Some(v)) => Ok(i32::from(*v)),
            ScalarValue::Int32(Some(v)) => Ok(*v),
            ScalarValue::Int64(Some(v)) => Ok(*v as i32),
            _ => plan_err!("round: the scale must be an integer constant"),
        },
        Some(None) => plan_err!("round: the scale must be a constant"),
    }
}

/// Spark's result type of rounding a `decimal(p, s)` to `scale` digits.
fn decimal_result(precision: u8, scale: i8, target: i32) -> DataType {
    let integral = i32::from(precision) - i32::from(scale) + 1;
    let (precision, scale) = if target < 0 {
        (integral - target, 0)
    } else {
        let scale = i32::from(scale).min(target);
        (integral + scale, scale)
    };
    DataType::Decimal128(precision.clamp(1, 38) as u8, scale.clamp(0, 38) as i8)
}

impl ScalarUDFImpl for Round {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let value = match arg_types.first() {
            Some(t @ (DataType::Decimal128(..) | DataType::Float32 | DataType::Float64)) => {
                t.clone()
            }
            Some(t @ (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64)) => {
                t.clone()
            }
            Some(DataType::Decimal32(p, s) | DataType::Decimal64(p, s)) => {
                DataType::Decimal128(*p, *s)
            }
            Some(DataType::Null) => DataType::Float64,
            Some(t) if t.is_numeric() => DataType::Float64,
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => DataType::Float64,
            Some(t) => {
                return plan_err!(
                    "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} needs a number, got {t}",
                    self.name
                );
            }
            None => return plan_err!("{} takes one or two arguments", self.name),
        };
        match arg_types.len() {
            1 => Ok(vec![value]),
            2 => Ok(vec![value, DataType::Int32]),
            _ => plan_err!("{} takes one or two arguments", self.name),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        // Planning asks `return_field_from_args`, which knows the scale.
        Ok(arg_types.first().cloned().unwrap_or(DataType::Float64))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let target = scale_argument(&args)?;
        let value = args
            .arg_fields
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Float64);
        let data_type = match value {
            DataType::Decimal128(p, s) => decimal_result(p, s, target),
            other => other,
        };
        Ok(Arc::new(Field::new(self.name, data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let target = match args.args.get(1) {
            None => 0,
            Some(ColumnarValue::Scalar(ScalarValue::Int32(Some(v)))) => *v,
            Some(ColumnarValue::Scalar(ScalarValue::Int32(None))) => {
                return Ok(ColumnarValue::Scalar(ScalarValue::try_from(
                    args.return_field.data_type(),
                )?));
            }
            Some(_) => return exec_err!("{}: the scale must be a constant", self.name),
        };
        let Some(value) = args.args.first() else {
            return exec_err!("{} takes one or two arguments", self.name);
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(rows)?;
        let half_even = self.half_even;
        let result: ArrayRef = match array.data_type() {
            DataType::Decimal128(_, scale) => {
                let DataType::Decimal128(p, s) = args.return_field.data_type().clone() else {
                    return exec_err!("{}: decimal result expected", self.name);
                };
                let input = array.as_primitive::<Decimal128Type>();
                let from = i32::from(*scale);
                let out: Decimal128Array = input
                    .iter()
                    .map(|v| v.map(|v| round_unscaled(v, from, target, i32::from(s), half_even)))
                    .collect();
                Arc::new(out.with_precision_and_scale(p, s)?)
            }
            DataType::Float64 => {
                let input = array.as_primitive::<Float64Type>();
                let out: Float64Array = input
                    .iter()
                    .map(|v| v.map(|v| round_double(v, target, half_even)))
                    .collect();
                Arc::new(out)
            }
            DataType::Float32 => {
                let input = array.as_primitive::<Float32Type>();
                let out: Float32Array = input
                    .iter()
                    .map(|v| v.map(|v| round_double(f64::from(v), target, half_even) as f32))
                    .collect();
                Arc::new(out)
            }
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                round_integers(&array, target, half_even)?
            }
            other => return exec_err!("{}: cannot round {other}", self.name),
        };
        super::columnar(result, scalar)
    }
}

/// Integers round only to negative scales (`round(125, -1)` is `130`).
fn round_integers(array: &ArrayRef, target: i32, half_even: bool) -> Result<ArrayRef> {
    if target >= 0 {
        return Ok(Arc::clone(array));
    }
    let longs = cast(array, &DataType::Int64)?;
    let out: PrimitiveArray<Int64Type> = longs
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map(|v| round_unscaled(i128::from(v), 0, target, 0, half_even) as i64))
        .collect();
    Ok(cast(&out, array.data_type())?)
}

/// Rounds the unscaled `value` at scale `from` to `target` digits, returning it unscaled at
/// scale `to` (the result type's scale).
fn round_unscaled(value: i128, from: i32, target: i32, to: i32, half_even: bool) -> i128 {
    if target >= from {
        return value * 10i128.pow((to - from).max(0) as u32);
    }
    let Some(factor) = 10i128.checked_pow((from - target) as u32) else {
        return 0;
    };
    let quotient = value / factor;
    let remainder = (value % factor).abs();
    let up = match (remainder * 2).cmp(&factor) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => !half_even || quotient % 2 != 0,
        std::cmp::Ordering::Less => false,
    };
    let rounded = if up {
        quotient + value.signum()
    } else {
        quotient
    };
    // Back to the result's scale: negative targets keep zeros, scale 0.
    if target < 0 {
        rounded.saturating_mul(10i128.saturating_pow((-target) as u32))
    } else {
        rounded * 10i128.pow((to - target).max(0) as u32)
    }
}

/// Rounds a double at its shortest decimal form (Scala's `BigDecimal(d)`), so
/// `round(1.005D, 2)` is `1.01` as in Spark.
fn round_double(value: f64, target: i32, half_even: bool) -> f64 {
    if !value.is_finite() {
        return value;
    }
    let text = format!("{:e}", value);
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // value = digits × 10^(exponent - (len - 1)); as unscaled at `scale` digits:
    let scale = digits.len() as i32 - 1 - exponent;
    if scale <= target || digits.len() > 36 {
        return value;
    }
    let Ok(unscaled) = digits.parse::<i128>() else {
        return value;
    };
    let unscaled = if negative { -unscaled } else { unscaled };
    let rounded = round_unscaled(unscaled, scale, target, target.max(0), half_even);
    let result_scale = target.max(0);
    format!("{rounded}e-{result_scale}")
        .parse()
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_as_spark_does() {
        assert_eq!(round_unscaled(25, 1, 0, 0, false), 3);
        assert_eq!(round_unscaled(-25, 1, 0, 0, false), -3);
        assert_eq!(round_unscaled(25, 1, 0, 0, true), 2);
        assert_eq!(round_unscaled(2345, 3, 2, 2, false), 235);
        assert_eq!(round_unscaled(125, 0, -1, 0, false), 130);
        assert_eq!(round_double(2.5, 0, false), 3.0);
        assert_eq!(round_double(1.005, 2, false), 1.01);
        assert_eq!(round_double(-2.5, 0, true), -2.0);
        assert_eq!(decimal_result(2, 1, 0), DataType::Decimal128(2, 0));
        assert_eq!(decimal_result(4, 3, 2), DataType::Decimal128(4, 2));
    }
}
