//! Spark's `CAST` where DataFusion's differs (Spark's `Cast` expression):
//!
//! - text is trimmed, booleans read `t/true/y/yes/1` and `f/false/n/no/0`, and text that
//!   does not read as the type is `CAST_INVALID_INPUT` under ANSI mode, NULL without it;
//! - a number too big for an integer type is `CAST_OVERFLOW` under ANSI mode and wraps
//!   around without it (Java's narrowing), a decimal too big for its new precision is
//!   `NUMERIC_VALUE_OUT_OF_RANGE`, NULL without ANSI mode;
//! - doubles, timestamps, arrays, maps and structs become text as Spark writes them
//!   (`1.0E10`, `2024-01-15 10:11:12`, `[1, 2]`, `{a -> 1}`, `{1, x}`).
//!
//! `try_cast` is the same with NULL for every failure. The analyzer puts `spark_cast(value,
//! <NULL of the target type>, <mode>)` in place of the casts where the two differ.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::misc::spark_type_name;
use crate::HiveFormat;

/// How a cast treats values it cannot convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastMode {
    /// ANSI mode: an error with Spark's error class.
    Ansi,
    /// Legacy mode: NULL for bad text, Java's wrap-around for integer overflow.
    Legacy,
    /// `try_cast`: NULL for every failure.
    Try,
}

impl CastMode {
    fn code(self) -> i8 {
        match self {
            Self::Ansi => 0,
            Self::Legacy => 1,
            Self::Try => 2,
        }
    }

    fn from_code(code: Option<i8>) -> Self {
        match code {
            Some(1) => Self::Legacy,
            Some(2) => Self::Try,
            _ => Self::Ansi,
        }
    }
}

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(SparkCast::new()))]
}

/// Whether Spark's cast from `from` to `to` differs from DataFusion's.
pub fn differs(from: &DataType, to: &DataType) -> bool {
    if from == to || from.is_null() {
        return false;
    }
    if text(from) {
        return !text(to)
            && !matches!(
                to,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
            );
    }
    if text(to) {
        return matches!(
            from,
            DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Timestamp(..)
                | DataType::Time32(_)
                | DataType::Time64(_)
                | DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Map(..)
                | DataType::Struct(_)
        );
    }
    if to.is_integer() {
        return (from.is_integer() && integer_width(from) > integer_width(to))
            || from.is_floating()
            || from.is_decimal();
    }
    match (decimal_shape(from), decimal_shape(to)) {
        (Some((p1, s1)), Some((p2, s2))) => {
            s2 < s1 || (p2 as i16 - s2 as i16) < (p1 as i16 - s1 as i16)
        }
        _ => false,
    }
}

fn text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn integer_width(t: &DataType) -> u32 {
    t.primitive_width().map(|w| w as u32).unwrap_or(8)
}

fn decimal_shape(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((*p, *s)),
        _ => None,
    }
}

/// `spark_cast(value, NULL::to, mode)`: Spark's cast of `value` to `to`.
pub fn spark_cast(value: Expr, to: &DataType, mode: CastMode) -> Result<Expr> {
    let target = ScalarValue::try_from(to)?;
    Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(SparkCast::new())),
        vec![
            value,
            Expr::Literal(target, None),
            Expr::Literal(ScalarValue::Int8(Some(mode.code())), None),
        ],
    )))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkCast {
    signature: Signature,
}

impl SparkCast {
    fn new() -> Self {
        Self {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

fn upper_type(t: &DataType) -> String {
    spark_type_name(t).to_ascii_uppercase()
}

fn invalid_input(text: &str, to: &DataType) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[CAST_INVALID_INPUT] The value '{text}' of the type \"STRING\" cannot be cast to \"{}\" \
         because it is malformed. Correct the value as per the syntax, or change its target \
         type. Use `try_cast` to tolerate malformed input and return NULL instead. SQLSTATE: \
         22018",
        upper_type(to)
    ))
}

fn overflow(value: &str, from: &DataType, to: &DataType) -> DataFusionError {
    if decimal_shape(to).is_some() {
        let (p, s) = decimal_shape(to).unwrap_or((38, 0));
        return DataFusionError::Execution(format!(
            "[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] {value} cannot be represented as \
             Decimal({p}, {s}). If necessary set \"spark.sql.ansi.enabled\" to \"false\" to \
             bypass this error, and return NULL instead. SQLSTATE: 22003"
        ));
    }
    DataFusionError::Execution(format!(
        "[CAST_OVERFLOW] The value {value} of the type \"{}\" cannot be cast to \"{}\" due to an \
         overflow. Use `try_cast` to tolerate overflow and return NULL instead. If necessary \
         set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error. SQLSTATE: 22003",
        upper_type(from),
        upper_type(to)
    ))
}

/// Spark's reading of text as a boolean.
fn text_boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "0" => Some(false),
        _ => None,
    }
}

impl ScalarUDFImpl for SparkCast {
    fn name(&self) -> &str {
        "spark_cast"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        self.schema_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [value, Expr::Literal(target, _), ..] => Ok(format!(
                "CAST({} AS {})",
                value.schema_name(),
                upper_type(&target.data_type())
            )),
            _ => Ok(self.name().to_string()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.get(1).cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [value, target, mode] = args.args.as_slice() else {
            return exec_err!("spark_cast takes three arguments");
        };
        let to = target.data_type();
        let mode = match mode {
            ColumnarValue::Scalar(ScalarValue::Int8(code)) => CastMode::from_code(*code),
            _ => CastMode::Ansi,
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let value = value.to_array(rows)?;
        let result = cast_array(&value, &to, mode)?;
        super::columnar(result, scalar)
    }
}

/// Casts every value of `value` to `to` as Spark does in `mode`.
pub fn cast_array(value: &ArrayRef, to: &DataType, mode: CastMode) -> Result<ArrayRef> {
    let from = value.data_type().clone();
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    if text(to) {
        let format = HiveFormat::cast_to_string();
        let strings: StringArray = (0..value.len())
            .map(|i| value.is_valid(i).then(|| format.value(value, i, false)))
            .collect();
        return Ok(cast_with_options(&strings, to, &safe)?);
    }
    if text(&from) {
        let strings = cast_with_options(value, &DataType::Utf8, &safe)?;
        let strings = strings.as_string::<i32>();
        let result: ArrayRef = if to == &DataType::Boolean {
            Arc::new(
                strings
                    .iter()
                    .map(|s| s.and_then(text_boolean))
                    .collect::<BooleanArray>(),
            )
        } else {
            let trimmed: StringArray = strings.iter().map(|s| s.map(str::trim)).collect();
            cast_with_options(&trimmed, to, &safe)?
        };
        if mode == CastMode::Ansi
            && let Some(i) = (0..value.len()).find(|i| result.is_null(*i) && strings.is_valid(*i))
        {
            return Err(invalid_input(strings.value(i), to));
        }
        return Ok(result);
    }
    let result = cast_with_options(value, to, &safe)?;
    let lost = (0..value.len()).find(|i| result.is_null(*i) && value.is_valid(*i));
    let Some(i) = lost else {
        return Ok(result);
    };
    match mode {
        CastMode::Try => Ok(result),
        CastMode::Ansi => {
            let shown = ScalarValue::try_from_array(value, i)?;
            let shown = match shown {
                ScalarValue::Int64(Some(v)) => format!("{v}L"),
                other => other.to_string(),
            };
            Err(overflow(&shown, &from, to))
        }
        CastMode::Legacy if to.is_integer() && (from.is_integer() || from.is_floating()) => {
            // Java's narrowing: through a long, keeping the low bits.
            let longs = cast_with_options(value, &DataType::Int64, &safe)?;
            let longs = longs.as_primitive::<Int64Type>();
            let wrapped: Int64Array = longs
                .iter()
                .map(|v| {
                    v.map(|v| match to {
                        DataType::Int8 => i64::from(v as i8),
                        DataType::Int16 => i64::from(v as i16),
                        DataType::Int32 => i64::from(v as i32),
                        _ => v,
                    })
                })
                .collect();
            Ok(cast_with_options(&wrapped, to, &safe)?)
        }
        CastMode::Legacy => Ok(result),
    }
}
