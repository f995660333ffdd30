//! Spark's TIME type (`TIME(6)`, a time of day to the microsecond) and its functions:
//! `make_time`, `to_time`/`try_to_time`, `time_diff`, `time_trunc`,
//! `time_from_seconds`/`millis`/`micros`, `time_to_seconds`/`millis`/`micros`,
//! `current_time`.
//!
//! A TIME is Arrow's `Time64(Nanosecond)` (the type PySpark's Arrow conversion gives it),
//! always a whole number of microseconds as in Spark. Spark refuses the type unless
//! `spark.sql.timeType.enabled` (an internal key, on in Spark's own test runs); Flint's
//! analyzer does the same (see [`crate::analyzer::SparkTimeType`]).

use std::sync::Arc;

use chrono::{NaiveTime, Timelike};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::returns::bigint;
use super::row::{RowContext, RowFunction, arity, integer, text};

/// Spark's TIME type as Arrow types it.
pub const TIME_TYPE: DataType = DataType::Time64(TimeUnit::Nanosecond);

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// The names of Spark's functions that take or make a TIME, which Spark refuses while
/// `spark.sql.timeType.enabled` is off.
pub const TIME_FUNCTIONS: &[&str] = &[
    "make_time",
    "time_diff",
    "time_trunc",
    "time_from_seconds",
    "time_from_millis",
    "time_from_micros",
    "time_to_seconds",
    "time_to_millis",
    "time_to_micros",
    "to_time",
    "try_to_time",
];

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("make_time", make_time_types, time, make_time).udf(),
        RowFunction::new("to_time", to_time_types, time, |a, _| to_time(a, false)).udf(),
        RowFunction::new("try_to_time", to_time_types, time, |a, _| to_time(a, true)).udf(),
        RowFunction::new("time_diff", diff_types, bigint, time_diff).udf(),
        RowFunction::new("time_trunc", trunc_types, time, time_trunc).udf(),
        RowFunction::new("time_from_seconds", seconds_types, time, from_seconds).udf(),
        RowFunction::new("time_from_millis", long_types, time, |a, _| {
            from_units(a, NANOS_PER_MILLI)
        })
        .udf(),
        RowFunction::new("time_from_micros", long_types, time, |a, _| {
            from_units(a, NANOS_PER_MICRO)
        })
        .udf(),
        RowFunction::new("time_to_seconds", time_types, seconds, to_seconds).udf(),
        RowFunction::new("time_to_millis", time_types, bigint, |a, _| {
            to_units(a, NANOS_PER_MILLI)
        })
        .udf(),
        RowFunction::new("time_to_micros", time_types, bigint, |a, _| {
            to_units(a, NANOS_PER_MICRO)
        })
        .udf(),
    ]
}

fn time(_: &[DataType]) -> Result<DataType> {
    Ok(TIME_TYPE)
}

fn seconds(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Decimal128(14, 6))
}

/// A TIME value of `nanos` since midnight.
pub fn time_value(nanos: Option<i64>) -> ScalarValue {
    ScalarValue::Time64Nanosecond(nanos)
}

/// The nanoseconds since midnight of a TIME value.
pub fn nanos_of(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Time64Nanosecond(Some(v)) => Some(*v),
        ScalarValue::Time64Microsecond(Some(v)) => Some(v * NANOS_PER_MICRO),
        ScalarValue::Time32Millisecond(Some(v)) => Some(i64::from(*v) * NANOS_PER_MILLI),
        ScalarValue::Time32Second(Some(v)) => Some(i64::from(*v) * NANOS_PER_SECOND),
        _ => None,
    }
}

/// A TIME as Spark prints it: `HH:mm:ss` and the fraction without trailing zeros.
pub fn time_string(nanos: i64) -> String {
    let micros = nanos.rem_euclid(NANOS_PER_DAY) / NANOS_PER_MICRO;
    let seconds = micros / 1_000_000;
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    let fraction = micros % 1_000_000;
    if fraction != 0 {
        text.push('.');
        text.push_str(format!("{fraction:06}").trim_end_matches('0'));
    }
    text
}

fn is_time(t: &DataType) -> bool {
    matches!(t, DataType::Time32(_) | DataType::Time64(_))
}

/// A TIME argument: a TIME, or text cast to one as Spark casts it.
fn time_argument(name: &str, t: &DataType) -> Result<DataType> {
    if is_time(t) || t.is_null() || crate::analyzer::is_text(t) {
        return Ok(TIME_TYPE);
    }
    plan_err!(
        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \"{name}\" due to data type \
         mismatch: the input requires the \"TIME\" type, however it has the type \"{}\". \
         SQLSTATE: 42K09",
        crate::functions::spark_type_name(t).to_ascii_uppercase()
    )
}

fn time_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("time_to_seconds", types, 1, 1)?;
    Ok(vec![time_argument("time_to_seconds", &types[0])?])
}

fn long_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("time_from_millis", types, 1, 1)?;
    Ok(vec![DataType::Int64])
}

fn seconds_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("time_from_seconds", types, 1, 1)?;
    Ok(vec![match &types[0] {
        t @ (DataType::Decimal128(..) | DataType::Float64) => t.clone(),
        DataType::Float32 | DataType::Float16 => DataType::Float64,
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
        _ => DataType::Int64,
    }])
}

fn make_time_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("make_time", types, 3, 3)?;
    Ok(vec![
        DataType::Int32,
        DataType::Int32,
        DataType::Decimal128(16, 6),
    ])
}

fn to_time_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_time", types, 1, 2)?;
    Ok(vec![DataType::Utf8; types.len()])
}

fn diff_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("time_diff", types, 3, 3)?;
    Ok(vec![
        DataType::Utf8,
        time_argument("time_diff", &types[1])?,
        time_argument("time_diff", &types[2])?,
    ])
}

fn trunc_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("time_trunc", types, 2, 2)?;
    Ok(vec![
        DataType::Utf8,
        time_argument("time_trunc", &types[1])?,
    ])
}

fn out_of_bounds(what: String) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[DATETIME_FIELD_OUT_OF_BOUNDS] {what}. If necessary set \"spark.sql.ansi.enabled\" to \
         \"false\" to bypass this error. SQLSTATE: 22023"
    ))
}

/// The microseconds of a decimal number of seconds.
fn decimal_micros(value: &ScalarValue) -> Option<i128> {
    match value {
        ScalarValue::Decimal128(Some(v), _, scale) => {
            let scale = i32::from(*scale);
            Some(if scale <= 6 {
                v * 10i128.pow((6 - scale) as u32)
            } else {
                v / 10i128.pow((scale - 6) as u32)
            })
        }
        _ => None,
    }
}

/// `make_time(hour, minute, second)`: `second` has up to six fraction digits.
fn make_time(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(hour), Some(minute), Some(micros)) = (
        integer(&args[0]),
        integer(&args[1]),
        decimal_micros(&args[2]),
    ) else {
        return Ok(time_value(None));
    };
    if !(0..24).contains(&hour) {
        return Err(out_of_bounds(format!(
            "Invalid value for HourOfDay (valid values 0 - 23): {hour}"
        )));
    }
    if !(0..60).contains(&minute) {
        return Err(out_of_bounds(format!(
            "Invalid value for MinuteOfHour (valid values 0 - 59): {minute}"
        )));
    }
    if !(0..60_000_000).contains(&micros) {
        return Err(out_of_bounds(format!(
            "Invalid value for SecondOfMinute (valid values 0 - 59): {}",
            micros.div_euclid(1_000_000)
        )));
    }
    let nanos = (hour * 3600 + minute * 60) * NANOS_PER_SECOND + micros as i64 * NANOS_PER_MICRO;
    Ok(time_value(Some(nanos)))
}

/// The nanoseconds since midnight of a chrono time, cut to Spark's microseconds.
fn nanos_of_time(time: NaiveTime) -> i64 {
    i64::from(time.num_seconds_from_midnight()) * NANOS_PER_SECOND
        + i64::from(time.nanosecond() % 1_000_000_000) / NANOS_PER_MICRO * NANOS_PER_MICRO
}

/// A time of day in Spark's default form: `H[H]:m[m][:s[s][.fraction]]`.
fn parse_default(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len()) || (fraction.is_some() && parts.len() != 3) {
        return None;
    }
    let field = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let hour = field(parts[0])?;
    let minute = field(parts[1])?;
    let second = match parts.get(2) {
        Some(s) => field(s)?,
        None => 0,
    };
    let nanos = match fraction {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<9}").parse::<u32>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// `to_time(text[, format])`: Spark's `CANNOT_PARSE_TIME` when `text` is not a time, NULL
/// for `try_to_time`.
fn to_time(args: &[ScalarValue], lenient: bool) -> Result<ScalarValue> {
    let Some(value) = text(&args[0]) else {
        return Ok(time_value(None));
    };
    let parsed = match args.get(1) {
        None => parse_default(value),
        Some(format) => {
            let Some(format) = text(format) else {
                return Ok(time_value(None));
            };
            let pattern = super::datetime_pattern::chrono_format(format)?;
            NaiveTime::parse_from_str(value, &pattern).ok()
        }
    };
    match parsed {
        Some(time) => Ok(time_value(Some(nanos_of_time(time)))),
        None if lenient => Ok(time_value(None)),
        None => {
            let format = args
                .get(1)
                .and_then(text)
                .map(|f| format!(" because it does not match to the datetime format '{f}'"))
                .unwrap_or_default();
            exec_err!(
                "[CANNOT_PARSE_TIME] The input string '{value}' cannot be parsed to a TIME \
                 value{format}. Use `try_to_time` to tolerate invalid input and return NULL \
                 instead. SQLSTATE: 22010"
            )
        }
    }
}

/// A unit `time_diff` and `time_trunc` take, as nanoseconds.
fn unit(function: &str, name: &str) -> Result<i64> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "HOUR" => 3600 * NANOS_PER_SECOND,
        "MINUTE" => 60 * NANOS_PER_SECOND,
        "SECOND" => NANOS_PER_SECOND,
        "MILLISECOND" => NANOS_PER_MILLI,
        "MICROSECOND" => NANOS_PER_MICRO,
        _ => {
            return exec_err!(
                "[INVALID_PARAMETER_VALUE.TIME_UNIT] The value of parameter(s) `unit` in \
                 `{function}` is invalid: expects one of the units without quotes HOUR, \
                 MINUTE, SECOND, MILLISECOND, MICROSECOND, but got the string literal \
                 '{name}'. SQLSTATE: 22023"
            );
        }
    })
}

/// `time_diff(unit, start, end)`: whole `unit`s from `start` to `end`.
fn time_diff(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(name), Some(start), Some(end)) =
        (text(&args[0]), nanos_of(&args[1]), nanos_of(&args[2]))
    else {
        return Ok(ScalarValue::Int64(None));
    };
    Ok(ScalarValue::Int64(Some(
        (end - start) / unit("time_diff", name)?,
    )))
}

/// `time_trunc(unit, time)`: `time` with the fields below `unit` zeroed.
fn time_trunc(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(name), Some(time)) = (text(&args[0]), nanos_of(&args[1])) else {
        return Ok(time_value(None));
    };
    let unit = unit("time_trunc", name)?;
    Ok(time_value(Some(time - time.rem_euclid(unit))))
}

fn in_day(nanos: Option<i64>, shown: &dyn std::fmt::Display) -> Result<ScalarValue> {
    match nanos {
        Some(n) if (0..NANOS_PER_DAY).contains(&n) => Ok(time_value(Some(n))),
        _ => exec_err!(
            "[DATETIME_FIELD_OUT_OF_BOUNDS] The value {shown} is out of the range of a TIME \
             (00:00:00 to 23:59:59.999999). SQLSTATE: 22023"
        ),
    }
}

/// `time_from_seconds(n)`: `n` seconds (a fraction counts to the microsecond) after midnight.
fn from_seconds(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let micros: Option<i128> = match &args[0] {
        ScalarValue::Float64(Some(v)) if v.is_finite() => Some((v * 1e6).trunc() as i128),
        ScalarValue::Float64(Some(_)) => None,
        value @ ScalarValue::Decimal128(..) => decimal_micros(value),
        value => integer(value).map(|v| i128::from(v) * 1_000_000),
    };
    let nanos = micros
        .and_then(|m| m.checked_mul(i128::from(NANOS_PER_MICRO)))
        .and_then(|n| i64::try_from(n).ok());
    in_day(nanos, &args[0])
}

/// `time_from_millis(n)` and `time_from_micros(n)`: `n` units of `nanos` after midnight.
fn from_units(args: &[ScalarValue], nanos: i64) -> Result<ScalarValue> {
    let Some(count) = integer(&args[0]) else {
        return Ok(time_value(None));
    };
    in_day(count.checked_mul(nanos), &count)
}

/// `time_to_seconds(time)`: seconds after midnight, to the microsecond.
fn to_seconds(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let micros = nanos_of(&args[0]).map(|n| i128::from(n / NANOS_PER_MICRO));
    Ok(ScalarValue::Decimal128(micros, 14, 6))
}

/// `time_to_millis(time)` and `time_to_micros(time)`: whole units after midnight.
fn to_units(args: &[ScalarValue], nanos: i64) -> Result<ScalarValue> {
    Ok(ScalarValue::Int64(nanos_of(&args[0]).map(|n| n / nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_spark_does() {
        assert_eq!(time_string(52_200_500_000_000), "14:30:00.5");
        assert_eq!(time_string(0), "00:00:00");
        assert_eq!(time_string(23_430_887_000_000), "06:30:30.887");
    }

    #[test]
    fn default_form_parses_spark_times() {
        let nanos = |s: &str| parse_default(s).map(nanos_of_time);
        assert_eq!(nanos("10:30:00"), Some(37_800 * NANOS_PER_SECOND));
        assert_eq!(nanos("10:30"), Some(37_800 * NANOS_PER_SECOND));
        assert_eq!(nanos("14:30:00.5"), Some(52_200_500_000_000));
        assert_eq!(nanos("malformed"), None);
        assert_eq!(nanos("25:00:00"), None);
    }

    #[test]
    fn diff_and_trunc_count_whole_units() -> Result<()> {
        let t = |s: &str| time_value(parse_default(s).map(nanos_of_time));
        let config = datafusion::common::config::ConfigOptions::default();
        let context = RowContext {
            return_type: &DataType::Int64,
            config: &config,
        };
        let unit = |u: &str| ScalarValue::Utf8(Some(u.into()));
        assert_eq!(
            time_diff(&[unit("HOUR"), t("13:08:15"), t("21:30:28")], &context)?,
            ScalarValue::Int64(Some(8))
        );
        assert_eq!(
            time_trunc(&[unit("hour"), t("13:08:15")], &context)?,
            t("13:00:00")
        );
        assert!(time_trunc(&[unit("DAY"), t("13:08:15")], &context).is_err());
        Ok(())
    }
}
