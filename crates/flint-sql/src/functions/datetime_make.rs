//! Spark's datetime constructors and fields computed row by row: `make_timestamp`,
//! `make_timestamp_ltz`, `make_timestamp_ntz` (and `try_` forms), `make_ym_interval`,
//! `try_make_interval`, `months_between`, `convert_timezone`, and `date_part`/`extract` of
//! seconds (with their fraction) and of intervals.
//!
//! Flint's timestamps are zone-less values in the session time zone: a timestamp built
//! in another zone is converted to the session's.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{Expr, ScalarUDF};

use super::row::returns::{bigint, double, int};
use super::row::{RowContext, RowFunction, arity, integer, text};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("make_timestamp", make_types, timestamp, |a, _| {
            make(a, true, false)
        })
        .udf(),
        RowFunction::new("try_make_timestamp", make_types, timestamp, |a, _| {
            make(a, true, true)
        })
        .udf(),
        RowFunction::new("make_timestamp_ltz", make_types, timestamp, |a, _| {
            make(a, true, false)
        })
        .udf(),
        RowFunction::new("try_make_timestamp_ltz", make_types, timestamp, |a, _| {
            make(a, true, true)
        })
        .udf(),
        RowFunction::new("make_timestamp_ntz", make_types, timestamp, |a, _| {
            make(a, false, false)
        })
        .udf(),
        RowFunction::new("try_make_timestamp_ntz", make_types, timestamp, |a, _| {
            make(a, false, true)
        })
        .udf(),
        RowFunction::new(
            "make_ym_interval",
            ym_types,
            year_month_interval,
            make_ym_interval,
        )
        .udf(),
        RowFunction::new(
            "try_make_interval",
            interval_types,
            interval,
            try_make_interval,
        )
        .udf(),
        RowFunction::new("months_between", between_types, double, months_between).udf(),
        RowFunction::new(
            "convert_timezone",
            convert_types,
            timestamp,
            convert_timezone,
        )
        .udf(),
        RowFunction::new("timestampadd", add_types, timestamp, timestamp_add).udf(),
        RowFunction::new("timestampdiff", diff_types, bigint, timestamp_diff).udf(),
        date_part(),
    ]
}

/// A unit of `timestampadd` and `timestampdiff`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StampUnit {
    /// A number of months (a year is 12, a quarter 3).
    Months(i64),
    /// A fixed number of microseconds (a week, a day, ...).
    Micros(i64),
}

fn stamp_unit(function: &str, name: &str) -> Result<StampUnit> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "YEAR" => StampUnit::Months(12),
        "QUARTER" => StampUnit::Months(3),
        "MONTH" => StampUnit::Months(1),
        "WEEK" => StampUnit::Micros(7 * MICROS_PER_DAY),
        "DAY" | "DAYOFYEAR" => StampUnit::Micros(MICROS_PER_DAY),
        "HOUR" => StampUnit::Micros(3_600 * MICROS_PER_SECOND),
        "MINUTE" => StampUnit::Micros(60 * MICROS_PER_SECOND),
        "SECOND" => StampUnit::Micros(MICROS_PER_SECOND),
        "MILLISECOND" => StampUnit::Micros(1_000),
        "MICROSECOND" => StampUnit::Micros(1),
        _ => {
            return exec_err!(
                "[INVALID_PARAMETER_VALUE.DATETIME_UNIT] The value of parameter(s) `unit` in \
                 `{function}` is invalid: expects one of the units without quotes YEAR, \
                 QUARTER, MONTH, WEEK, DAY, DAYOFYEAR, HOUR, MINUTE, SECOND, MILLISECOND, \
                 MICROSECOND, but got the string literal '{name}'. SQLSTATE: 22023"
            );
        }
    })
}

fn add_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("timestampadd", types, 3, 3)?;
    Ok(vec![
        DataType::Utf8,
        DataType::Int64,
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ])
}

fn diff_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("timestampdiff", types, 3, 3)?;
    Ok(vec![
        DataType::Utf8,
        DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Timestamp(TimeUnit::Microsecond, None),
    ])
}

fn wall_time(micros: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

/// `timestampadd(unit, quantity, timestamp)`: months added as Spark's `plusMonths` does
/// (the day clamped to the month's end), other units as their length.
fn timestamp_add(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(unit), Some(quantity), Some(micros)) = (
        text(&args[0]),
        integer(&args[1]),
        timestamp_micros(&args[2]),
    ) else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    let overflow = || {
        DataFusionError::Execution(
            "[DATETIME_OVERFLOW] Datetime operation overflow. SQLSTATE: 22008".into(),
        )
    };
    let result = match stamp_unit("timestampadd", unit)? {
        StampUnit::Months(months) => {
            let time = wall_time(micros).ok_or_else(overflow)?;
            let months = quantity.checked_mul(months).ok_or_else(overflow)?;
            let shift =
                chrono::Months::new(u32::try_from(months.unsigned_abs()).map_err(|_| overflow())?);
            let moved = if months >= 0 {
                time.checked_add_months(shift)
            } else {
                time.checked_sub_months(shift)
            };
            micros_of(moved.ok_or_else(overflow)?)
        }
        StampUnit::Micros(length) => quantity
            .checked_mul(length)
            .and_then(|delta| micros.checked_add(delta))
            .ok_or_else(overflow)?,
    };
    Ok(ScalarValue::TimestampMicrosecond(Some(result), None))
}

/// `timestampdiff(unit, start, end)`: the whole units from `start` to `end` (Java's
/// `ChronoUnit.between` on the two wall-clock times).
fn timestamp_diff(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(unit), Some(start), Some(end)) = (
        text(&args[0]),
        timestamp_micros(&args[1]),
        timestamp_micros(&args[2]),
    ) else {
        return Ok(ScalarValue::Int64(None));
    };
    let value = match stamp_unit("timestampdiff", unit)? {
        StampUnit::Micros(length) => (end - start) / length,
        StampUnit::Months(months) => {
            let (Some(from), Some(to)) = (wall_time(start), wall_time(end)) else {
                return Ok(ScalarValue::Int64(None));
            };
            use chrono::Datelike;
            let month_index = |t: NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month0());
            let mut whole = month_index(to) - month_index(from);
            // A month is whole once the day and time of day have come round again.
            let within = |t: NaiveDateTime| (t.day(), t.time());
            if whole > 0 && within(to) < within(from) {
                whole -= 1;
            } else if whole < 0 && within(to) > within(from) {
                whole += 1;
            }
            whole / months
        }
    };
    Ok(ScalarValue::Int64(Some(value)))
}

/// Spark's `date_part(field, source)` (and `EXTRACT(field FROM source)`).
pub(crate) fn date_part() -> Arc<ScalarUDF> {
    RowFunction::new("date_part", part_types, int, date_part_row)
        .aliases(&["datepart"])
        .returns_from_literals(part_type)
        .simplify(simplify_date_part)
        .udf()
}

fn timestamp(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
}

fn interval(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Interval(IntervalUnit::MonthDayNano))
}

/// Spark's `YearMonthIntervalType`, which Arrow (and Spark's own Arrow conversion) keeps as
/// a number of months.
fn year_month_interval(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Interval(IntervalUnit::YearMonth))
}

fn make_types(types: &[DataType]) -> Result<Vec<DataType>> {
    match types {
        [DataType::Date32] => Ok(vec![DataType::Date32]),
        // make_timestamp(date, time) (with a zone, see the SQL front end).
        [_, _] => Ok(vec![DataType::Date32, super::time::TIME_TYPE]),

        [_, _, _, _, _, _] => Ok(make_numbers(false)),
        [_, _, _, _, _, _, _] => Ok(make_numbers(true)),
        _ => plan_err!(
            "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `make_timestamp` requires [1, 2, 3, 6, 7] \
             parameters but the actual number is {}.",
            types.len()
        ),
    }
}

fn make_numbers(zone: bool) -> Vec<DataType> {
    let mut types = vec![DataType::Int32; 5];
    types.push(DataType::Decimal128(16, 6));
    if zone {
        types.push(DataType::Utf8);
    }
    types
}

fn ym_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("make_ym_interval", types, 0, 2)?;
    Ok(vec![DataType::Int32; types.len()])
}

fn interval_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("try_make_interval", types, 0, 7)?;
    let mut out = vec![DataType::Int32; types.len().min(6)];
    if types.len() == 7 {
        out.push(DataType::Decimal128(18, 6));
    }
    Ok(out)
}

fn between_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("months_between", types, 2, 3)?;
    let mut out = vec![DataType::Timestamp(TimeUnit::Microsecond, None); 2];
    out.extend(types.get(2).map(|_| DataType::Boolean));
    Ok(out)
}

fn convert_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("convert_timezone", types, 2, 3)?;
    let mut out = vec![DataType::Utf8; types.len() - 1];
    out.push(DataType::Timestamp(TimeUnit::Microsecond, None));
    Ok(out)
}

fn zone(name: &str) -> Result<super::timezone::Zone> {
    super::timezone::zone_named(name)
}

/// A wall-clock time in `zone` as a UTC time.
fn from_zone(time: NaiveDateTime, zone: super::timezone::Zone) -> Option<NaiveDateTime> {
    zone.instant_of(micros_of(time))
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| t.naive_utc())
}

fn micros_of(time: NaiveDateTime) -> i64 {
    time.and_utc().timestamp_micros()
}

fn make(args: &[ScalarValue], zoned: bool, lenient: bool) -> Result<ScalarValue> {
    let result = build(args, zoned);
    match result {
        Ok(time) => Ok(ScalarValue::TimestampMicrosecond(
            Some(micros_of(time)),
            None,
        )),
        Err(_) if lenient => Ok(ScalarValue::TimestampMicrosecond(None, None)),
        Err(error) => Err(error),
    }
}

fn build(args: &[ScalarValue], zoned: bool) -> Result<NaiveDateTime> {
    // A date and a time (a zone is applied by the SQL front end, as for the fields).
    if let [ScalarValue::Date32(Some(days)), time @ ..] = args
        && time.len() <= 1
    {
        let nanos = time.first().and_then(super::time::nanos_of).unwrap_or(0);
        return NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|midnight| midnight + chrono::Duration::microseconds(nanos / 1000))
            .ok_or_else(|| DataFusionError::Execution(format!("invalid date {days}")));
    }
    let field = |i: usize| integer(&args[i]).unwrap_or(0);
    let (year, month, day, hour, minute) = (field(0), field(1), field(2), field(3), field(4));
    let ScalarValue::Decimal128(Some(seconds), _, scale) = &args[5] else {
        return exec_err!("make_timestamp: seconds must be a decimal");
    };
    let micros = seconds * 10i128.pow(6u32.saturating_sub(*scale as u32));
    let invalid = |what: String| {
        DataFusionError::Execution(format!(
            "[DATETIME_FIELD_OUT_OF_BOUNDS] {what}. If necessary set \
             \"spark.sql.ansi.enabled\" to \"false\" to bypass this error. SQLSTATE: 22023"
        ))
    };
    if !(0..=60 * 1_000_000).contains(&micros) {
        return Err(invalid(format!(
            "Invalid value for SecondOfMinute (valid values 0 - 59): {}",
            micros / 1_000_000
        )));
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)
        .ok_or_else(|| invalid(format!("Invalid date '{year}-{month}-{day}'")))?;
    let whole = (micros / 1_000_000) as u32;
    // Second 60 is the next minute's 0 (with no fraction).
    let (whole, fraction, carry) = if whole == 60 {
        if micros % 1_000_000 != 0 {
            return Err(invalid("The fraction of sec must be zero".into()));
        }
        (0, 0, 60)
    } else {
        (whole, (micros % 1_000_000) as u32, 0)
    };
    let time = date
        .and_hms_micro_opt(hour as u32, minute as u32, whole, fraction)
        .ok_or_else(|| invalid(format!("Invalid time {hour}:{minute}:{whole}")))?
        + chrono::Duration::seconds(carry);
    match args.get(6).and_then(text) {
        Some(name) if zoned => from_zone(time, zone(name)?)
            .ok_or_else(|| invalid(format!("Time {time} does not exist in {name}"))),
        _ => Ok(time),
    }
}

fn make_ym_interval(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let years = args.first().and_then(integer).unwrap_or(0);
    let months = args.get(1).and_then(integer).unwrap_or(0);
    let total = years
        .checked_mul(12)
        .and_then(|m| m.checked_add(months))
        .and_then(|m| i32::try_from(m).ok());
    match total {
        Some(months) => Ok(ScalarValue::IntervalYearMonth(Some(months))),
        None => exec_err!("[ARITHMETIC_OVERFLOW] integer overflow. SQLSTATE: 22003"),
    }
}

fn try_make_interval(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let field = |i: usize| args.get(i).and_then(integer).unwrap_or(0);
    let seconds = match args.get(6) {
        Some(ScalarValue::Decimal128(Some(v), _, scale)) => {
            (*v * 10i128.pow(6u32.saturating_sub(*scale as u32))) as i64
        }
        _ => 0,
    };
    let months = field(0)
        .checked_mul(12)
        .and_then(|m| m.checked_add(field(1)));
    let days = field(2)
        .checked_mul(7)
        .and_then(|d| d.checked_add(field(3)));
    let micros = field(4)
        .checked_mul(3_600 * MICROS_PER_SECOND)
        .and_then(|m| m.checked_add(field(5).checked_mul(60 * MICROS_PER_SECOND)?))
        .and_then(|m| m.checked_add(seconds));
    let value = match (
        months.and_then(|m| i32::try_from(m).ok()),
        days.and_then(|d| i32::try_from(d).ok()),
        micros.and_then(|m| m.checked_mul(1000)),
    ) {
        (Some(months), Some(days), Some(nanos)) => {
            Some(IntervalMonthDayNano::new(months, days, nanos))
        }
        _ => None,
    };
    Ok(ScalarValue::IntervalMonthDayNano(value))
}

fn timestamp_micros(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        _ => None,
    }
}

/// Spark's `months_between`: whole months when both days are the same day of the month or
/// both the last, else the month difference plus the remaining time over 31 days; rounded
/// to 8 digits unless `roundOff` is false.
fn months_between(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(a), Some(b)) = (timestamp_micros(&args[0]), timestamp_micros(&args[1])) else {
        return Ok(ScalarValue::Float64(None));
    };
    let round = !matches!(args.get(2), Some(ScalarValue::Boolean(Some(false))));
    let time = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc());
    let (Some(t1), Some(t2)) = (time(a), time(b)) else {
        return Ok(ScalarValue::Float64(None));
    };
    use chrono::Datelike;
    let last_day = |d: NaiveDate| d.succ_opt().is_none_or(|n| n.month() != d.month());
    let months1 = i64::from(t1.year()) * 12 + i64::from(t1.month());
    let months2 = i64::from(t2.year()) * 12 + i64::from(t2.month());
    let whole = (months1 - months2) as f64;
    if t1.day() == t2.day() || (last_day(t1.date()) && last_day(t2.date())) {
        return Ok(ScalarValue::Float64(Some(whole)));
    }
    let seconds_in_month = |t: NaiveDateTime| {
        i64::from(t.day()) * 86_400 + i64::from(chrono::Timelike::num_seconds_from_midnight(&t))
    };
    let difference = (seconds_in_month(t1) - seconds_in_month(t2)) as f64;
    let value = whole + difference / (31.0 * 86_400.0);
    let value = if round {
        (value * 1e8).round() / 1e8
    } else {
        value
    };
    Ok(ScalarValue::Float64(Some(value)))
}

/// `convert_timezone([source,] target, timestamp_ntz)`: the wall time in `source` (the
/// session zone when omitted) as a wall time in `target`.
fn convert_timezone(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (source, target, value) = match args {
        [source, target, value] => (text(source), text(target), value),
        [target, value] => (Some("UTC"), text(target), value),
        _ => return Ok(ScalarValue::TimestampMicrosecond(None, None)),
    };
    let (Some(source), Some(target), Some(micros)) = (source, target, timestamp_micros(value))
    else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    let Some(time) = chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()) else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    let Some(utc) = from_zone(time, zone(source)?) else {
        return Ok(ScalarValue::TimestampMicrosecond(None, None));
    };
    Ok(ScalarValue::TimestampMicrosecond(
        zone(target)?.wall_of(micros_of(utc)),
        None,
    ))
}

/// The field a `date_part` names, in Spark's spellings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// Any other field of a date or timestamp (left to DataFusion's `date_part`).
    Other,
}

fn part(name: &str) -> Part {
    match name.to_ascii_lowercase().as_str() {
        "year" | "y" | "years" | "yr" | "yrs" => Part::Year,
        "month" | "mon" | "mons" | "months" => Part::Month,
        "day" | "d" | "days" => Part::Day,
        "hour" | "h" | "hours" | "hr" | "hrs" => Part::Hour,
        "minute" | "m" | "min" | "mins" | "minutes" => Part::Minute,
        "second" | "s" | "sec" | "seconds" | "secs" => Part::Second,
        _ => Part::Other,
    }
}

fn is_interval(t: &DataType) -> bool {
    matches!(t, DataType::Interval(_) | DataType::Duration(_))
}

fn part_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("date_part", types, 2, 2)?;
    let source = match &types[1] {
        t if crate::analyzer::is_text(t) => DataType::Timestamp(TimeUnit::Microsecond, None),
        t => t.clone(),
    };
    Ok(vec![DataType::Utf8, source])
}

fn part_type(types: &[DataType], literals: &[Option<&ScalarValue>]) -> Result<DataType> {
    let field = literals.first().copied().flatten().and_then(text).map(part);
    Ok(match field {
        Some(Part::Second) => DataType::Decimal128(8, 6),
        Some(Part::Day) if types.get(1).is_some_and(is_interval) => DataType::Int32,
        Some(Part::Hour | Part::Minute) if types.get(1).is_some_and(is_interval) => DataType::Int8,
        _ => DataType::Int32,
    })
}

/// A date or timestamp's year, month, day, hour and minute are DataFusion's (through
/// `datafusion-spark`'s Spark spellings), which work on whole columns.
fn simplify_date_part(args: Vec<Expr>, context: &SimplifyContext) -> Result<ExprSimplifyResult> {
    let field = match args.first() {
        Some(Expr::Literal(value, _)) => text(value).map(part),
        _ => None,
    };
    let source = args.get(1).map(|a| context.get_data_type(a)).transpose()?;
    let columnar = matches!(
        source,
        Some(DataType::Date32 | DataType::Date64 | DataType::Timestamp(..))
    ) && field.is_some_and(|f| {
        // DataFusion's other fields (`dow` counts from 0) are not all Spark's: those are
        // computed a row at a time.
        matches!(
            f,
            Part::Year | Part::Month | Part::Day | Part::Hour | Part::Minute
        )
    });
    if columnar {
        return Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(
            datafusion::logical_expr::expr::ScalarFunction::new_udf(
                datafusion_spark::function::datetime::date_part(),
                args,
            ),
        )));
    }
    Ok(ExprSimplifyResult::Original(args))
}

fn date_part_row(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    let Some(name) = text(&args[0]) else {
        return ScalarValue::try_from(context.return_type);
    };
    let field = part(name);
    let as_result = |v: i64| -> Result<ScalarValue> {
        ScalarValue::Int64(Some(v)).cast_to(context.return_type)
    };
    let seconds =
        |micros_of_minute: i64| ScalarValue::Decimal128(Some(i128::from(micros_of_minute)), 8, 6);
    match &args[1] {
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            let micros = v.nanoseconds / 1000;
            let day_micros = i64::from(v.days) * MICROS_PER_DAY + micros;
            match field {
                Part::Year => as_result(i64::from(v.months / 12)),
                Part::Month => as_result(i64::from(v.months % 12)),
                Part::Day => as_result(day_micros / MICROS_PER_DAY),
                Part::Hour => as_result(day_micros % MICROS_PER_DAY / (3_600 * MICROS_PER_SECOND)),
                Part::Minute => {
                    as_result(day_micros % (3_600 * MICROS_PER_SECOND) / (60 * MICROS_PER_SECOND))
                }
                Part::Second => Ok(seconds(day_micros % (60 * MICROS_PER_SECOND))),
                Part::Other => unsupported_part(name),
            }
        }
        ScalarValue::DurationMicrosecond(Some(micros)) => match field {
            Part::Day => as_result(micros / MICROS_PER_DAY),
            Part::Hour => as_result(micros % MICROS_PER_DAY / (3_600 * MICROS_PER_SECOND)),
            Part::Minute => {
                as_result(micros % (3_600 * MICROS_PER_SECOND) / (60 * MICROS_PER_SECOND))
            }
            Part::Second => Ok(seconds(micros % (60 * MICROS_PER_SECOND))),
            _ => unsupported_part(name),
        },
        value => {
            let micros = match value.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None))? {
                ScalarValue::TimestampMicrosecond(Some(v), _) => v,
                _ => return ScalarValue::try_from(context.return_type),
            };
            let Some(time) = chrono::DateTime::from_timestamp_micros(micros) else {
                return ScalarValue::try_from(context.return_type);
            };
            use chrono::{Datelike, Timelike};
            match field {
                Part::Year => as_result(i64::from(time.year())),
                Part::Month => as_result(i64::from(time.month())),
                Part::Day => as_result(i64::from(time.day())),
                Part::Hour => as_result(i64::from(time.hour())),
                Part::Minute => as_result(i64::from(time.minute())),
                Part::Second => Ok(seconds(micros.rem_euclid(60 * MICROS_PER_SECOND))),
                Part::Other => match name.to_ascii_lowercase().as_str() {
                    "week" | "w" | "weeks" => as_result(i64::from(time.iso_week().week())),
                    "yearofweek" => as_result(i64::from(time.iso_week().year())),
                    "quarter" | "qtr" => as_result(i64::from((time.month() - 1) / 3 + 1)),
                    "dayofweek" | "dow" => {
                        as_result(i64::from(time.weekday().num_days_from_sunday()) + 1)
                    }
                    "dayofweek_iso" | "dow_iso" => {
                        as_result(i64::from(time.weekday().number_from_monday()))
                    }
                    "doy" => as_result(i64::from(time.ordinal())),
                    _ => unsupported_part(name),
                },
            }
        }
    }
}

fn unsupported_part(name: &str) -> Result<ScalarValue> {
    exec_err!("[INVALID_EXTRACT_FIELD] Cannot extract {name} from the source. SQLSTATE: 42601")
}
