//! Values as text the way Spark prints them: Spark's `HiveResult.toHiveString`, what
//! `spark-sql` prints for each row (`[1,2]`, `{"a":1}`, `NULL`, doubles as Java prints them,
//! timestamps in the session time zone).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Decimal256Array, FixedSizeListArray,
    GenericListArray, MapArray, OffsetSizeTrait, RecordBatch, StructArray,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float16Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit,
    IntervalYearMonthType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{DataFusionError, Result};

/// How one query's values are printed: the session time zone timestamps are shown in.
#[derive(Debug, Clone)]
pub struct HiveFormat {
    time_zone: Option<crate::functions::timezone::Zone>,
    /// Spark's `CAST(x AS STRING)` instead of `spark-sql`'s output: `[1, 2]`, `{a -> 1}`,
    /// `{1, x}`, strings inside unquoted.
    cast: bool,
    /// Spark's `show()` (`ToPrettyString`): as a cast, but nulls inside arrays, maps and
    /// structs print as `NULL`.
    pretty: bool,
}

impl HiveFormat {
    /// Formats timestamps in `time_zone` (an IANA name such as `America/Los_Angeles`, or
    /// `UTC`); an unknown name is an error naming it.
    pub fn new(time_zone: &str) -> Result<Self> {
        let time_zone = crate::functions::timezone::Zone::parse(time_zone).ok_or_else(|| {
            DataFusionError::Configuration(format!(
                "[INVALID_CONF_VALUE.TIME_ZONE] The value '{time_zone}' in the config \
                 \"spark.sql.session.timeZone\" is invalid. Cannot resolve the given timezone."
            ))
        })?;
        Ok(Self {
            time_zone: Some(time_zone),
            cast: false,
            pretty: false,
        })
    }

    /// Spark's `CAST(x AS STRING)`: what `concat`, `show()` and casts print; timestamps
    /// without a zone are printed as they are.
    pub fn cast_to_string() -> Self {
        Self {
            time_zone: None,
            cast: true,
            pretty: false,
        }
    }

    /// Spark's `show()`: [`HiveFormat::cast_to_string`] with nested nulls as `NULL`.
    pub fn show_string() -> Self {
        Self {
            time_zone: None,
            cast: true,
            pretty: true,
        }
    }

    fn null(&self, nested: bool) -> String {
        if nested && !self.pretty {
            "null"
        } else {
            "NULL"
        }
        .to_string()
    }

    /// Every row of `batch` as its column values, as `spark-sql` prints them.
    pub fn rows(&self, batch: &RecordBatch) -> Vec<Vec<String>> {
        (0..batch.num_rows())
            .map(|row| {
                batch
                    .columns()
                    .iter()
                    .map(|column| self.value(column, row, false))
                    .collect()
            })
            .collect()
    }

    /// One value; `nested` values (inside arrays, maps, structs) quote strings and print
    /// `null` in lower case, as Spark does.
    pub fn value(&self, array: &ArrayRef, row: usize, nested: bool) -> String {
        if array.is_null(row) {
            return self.null(nested);
        }
        if crate::functions::variant::is_variant(array.data_type()) {
            return crate::functions::variant::variant_json(array, row);
        }
        match array.data_type() {
            DataType::Null => self.null(nested),
            DataType::Boolean => array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .map(|a| a.value(row).to_string())
                .unwrap_or_default(),
            DataType::Int8 => array.as_primitive::<Int8Type>().value(row).to_string(),
            DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
            DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
            DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
            DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).to_string(),
            DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).to_string(),
            DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).to_string(),
            DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).to_string(),
            DataType::Float16 => {
                java_float(f32::from(array.as_primitive::<Float16Type>().value(row)))
            }
            DataType::Float32 => java_float(array.as_primitive::<Float32Type>().value(row)),
            DataType::Float64 => java_double(array.as_primitive::<Float64Type>().value(row)),
            DataType::Decimal128(_, scale) => {
                let a = array.as_any().downcast_ref::<Decimal128Array>();
                a.map(|a| plain_decimal(&a.value(row).to_string(), *scale))
                    .unwrap_or_default()
            }
            DataType::Decimal256(_, scale) => {
                let a = array.as_any().downcast_ref::<Decimal256Array>();
                a.map(|a| plain_decimal(&a.value(row).to_string(), *scale))
                    .unwrap_or_default()
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let text = string_value(array, row);
                if nested && !self.cast {
                    format!("\"{text}\"")
                } else {
                    text
                }
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView if self.pretty => {
                // `show()` prints a binary's bytes in hex: `[61 62 63]`.
                let bytes: Vec<String> = binary_value(array, row)
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect();
                format!("[{}]", bytes.join(" "))
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                // Spark prints a binary's bytes as UTF-8 text.
                String::from_utf8_lossy(&binary_value(array, row)).into_owned()
            }
            DataType::Date32 => {
                let days = array.as_primitive::<Date32Type>().value(row);
                date_string(i64::from(days))
            }
            DataType::Date64 => {
                let millis = array.as_primitive::<Date64Type>().value(row);
                date_string(millis.div_euclid(86_400_000))
            }
            DataType::Timestamp(unit, tz) => {
                let raw = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().value(row)
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().value(row)
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().value(row)
                    }
                };
                self.timestamp_string(raw, *unit, tz.is_some())
            }
            DataType::Time32(_) | DataType::Time64(_) => {
                match datafusion::common::ScalarValue::try_from_array(array, row)
                    .ok()
                    .as_ref()
                    .and_then(crate::functions::time::nanos_of)
                {
                    Some(nanos) => crate::functions::time::time_string(nanos),
                    None => fallback(array, row),
                }
            }
            DataType::Interval(IntervalUnit::YearMonth) => {
                let months = array.as_primitive::<IntervalYearMonthType>().value(row);
                if self.cast {
                    ansi_year_month_interval(months)
                } else {
                    year_month_interval(months)
                }
            }
            DataType::Interval(IntervalUnit::DayTime) => {
                let v = array.as_primitive::<IntervalDayTimeType>().value(row);
                self.day_time(
                    i128::from(v.days) * 86_400_000_000 + i128::from(v.milliseconds) * 1000,
                )
            }
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
                if self.cast {
                    spark_calendar_interval(v.months, v.days, v.nanoseconds)
                } else {
                    calendar_interval(v.months, v.days, v.nanoseconds)
                }
            }
            DataType::Duration(unit) => {
                let raw = match unit {
                    TimeUnit::Second => array.as_primitive::<DurationSecondType>().value(row),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<DurationMillisecondType>().value(row)
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<DurationMicrosecondType>().value(row)
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<DurationNanosecondType>().value(row)
                    }
                };
                let micros = match unit {
                    TimeUnit::Second => i128::from(raw) * 1_000_000,
                    TimeUnit::Millisecond => i128::from(raw) * 1000,
                    TimeUnit::Microsecond => i128::from(raw),
                    TimeUnit::Nanosecond => i128::from(raw) / 1000,
                };
                self.day_time(micros)
            }
            DataType::List(_) => self.list(array.as_list::<i32>(), row),
            DataType::LargeList(_) => self.list(array.as_list::<i64>(), row),
            DataType::FixedSizeList(..) => {
                let list = array.as_any().downcast_ref::<FixedSizeListArray>();
                list.map(|l| self.elements(&l.value(row)))
                    .unwrap_or_default()
            }
            DataType::Map(..) => array
                .as_any()
                .downcast_ref::<MapArray>()
                .map(|m| self.map(m, row))
                .unwrap_or_default(),
            DataType::Struct(_) => array
                .as_any()
                .downcast_ref::<StructArray>()
                .map(|s| self.struct_value(s, row))
                .unwrap_or_default(),
            DataType::Dictionary(..) | DataType::RunEndEncoded(..) => {
                match datafusion::arrow::compute::cast(array, &plain_type(array.data_type())) {
                    Ok(plain) => self.value(&plain, row, nested),
                    Err(_) => fallback(array, row),
                }
            }
            _ => fallback(array, row),
        }
    }

    /// A day-time interval: `INTERVAL '1 02:03:04.5' DAY TO SECOND` as a cast, the
    /// `spark-sql` form otherwise.
    fn day_time(&self, micros: i128) -> String {
        if self.cast {
            ansi_day_time_interval(micros)
        } else {
            day_time_interval(micros)
        }
    }

    fn list<O: OffsetSizeTrait>(&self, list: &GenericListArray<O>, row: usize) -> String {
        self.elements(&list.value(row))
    }

    fn elements(&self, values: &ArrayRef) -> String {
        let items: Vec<String> = (0..values.len())
            .map(|i| self.value(values, i, true))
            .collect();
        format!("[{}]", items.join(self.separator()))
    }

    fn map(&self, map: &MapArray, row: usize) -> String {
        let entries = map.value(row);
        let keys = Arc::clone(entries.column(0));
        let values = Arc::clone(entries.column(1));
        let items: Vec<String> = (0..entries.len())
            .map(|i| {
                format!(
                    "{}{}{}",
                    self.value(&keys, i, true),
                    if self.cast { " -> " } else { ":" },
                    self.value(&values, i, true)
                )
            })
            .collect();
        format!("{{{}}}", items.join(self.separator()))
    }

    fn struct_value(&self, value: &StructArray, row: usize) -> String {
        let items: Vec<String> = value
            .fields()
            .iter()
            .zip(value.columns())
            .map(|(field, column)| {
                let value = self.value(column, row, true);
                if self.cast {
                    value
                } else {
                    format!("\"{}\":{value}", field.name())
                }
            })
            .collect();
        format!("{{{}}}", items.join(self.separator()))
    }

    fn separator(&self) -> &'static str {
        if self.cast { ", " } else { "," }
    }

    fn timestamp_string(&self, raw: i64, unit: TimeUnit, zoned: bool) -> String {
        let (seconds, nanos) = match unit {
            TimeUnit::Second => (raw, 0),
            TimeUnit::Millisecond => (raw.div_euclid(1000), raw.rem_euclid(1000) * 1_000_000),
            TimeUnit::Microsecond => (raw.div_euclid(1_000_000), raw.rem_euclid(1_000_000) * 1000),
            TimeUnit::Nanosecond => (raw.div_euclid(1_000_000_000), raw.rem_euclid(1_000_000_000)),
        };
        let Some(utc) = chrono::DateTime::from_timestamp(seconds, nanos as u32) else {
            return raw.to_string();
        };
        // Spark keeps microseconds; the fraction is printed without trailing zeros.
        let local = match (zoned, self.time_zone) {
            (true, Some(zone)) => {
                let micros = utc.timestamp_micros();
                zone.wall_of(micros)
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map(|t| t.naive_utc())
                    .unwrap_or_else(|| utc.naive_utc())
            }
            _ => utc.naive_utc(),
        };
        let mut text = local.format("%Y-%m-%d %H:%M:%S").to_string();
        let micros = local.and_utc().timestamp_subsec_micros();
        if micros != 0 {
            let fraction = format!("{micros:06}");
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        text
    }
}

fn string_value(array: &ArrayRef, row: usize) -> String {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).to_string(),
        _ => array.as_string_view().value(row).to_string(),
    }
}

fn binary_value(array: &ArrayRef, row: usize) -> Vec<u8> {
    match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row).to_vec(),
        DataType::LargeBinary => array.as_binary::<i64>().value(row).to_vec(),
        _ => array.as_binary_view().value(row).to_vec(),
    }
}

fn plain_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Dictionary(_, value) => plain_type(value),
        DataType::RunEndEncoded(_, values) => plain_type(values.data_type()),
        other => other.clone(),
    }
}

fn fallback(array: &ArrayRef, row: usize) -> String {
    let options = FormatOptions::default().with_null("NULL");
    ArrayFormatter::try_new(array.as_ref(), &options)
        .map(|f| f.value(row).to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// An unscaled decimal's digits at `scale` (Java's `BigDecimal.toPlainString`).
fn plain_decimal(unscaled: &str, scale: i8) -> String {
    if scale <= 0 {
        return if unscaled == "0" {
            "0".to_string()
        } else {
            format!("{unscaled}{}", "0".repeat(scale.unsigned_abs() as usize))
        };
    }
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", unscaled),
    };
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn date_string(days: i64) -> String {
    chrono::DateTime::from_timestamp(days * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| days.to_string())
}

/// Java's `Double.toString`: plain between 10⁻³ and 10⁷, else `d.dddE±n`, always with a
/// fraction digit, using the shortest digits that read back as the same double.
pub fn java_double(value: f64) -> String {
    java_floating(
        value.is_nan(),
        value.is_infinite(),
        value.is_sign_negative(),
        || format!("{:e}", value.abs()),
    )
}

/// Java's `Float.toString` (the same rules on a 32-bit float).
pub fn java_float(value: f32) -> String {
    java_floating(
        value.is_nan(),
        value.is_infinite(),
        value.is_sign_negative(),
        || format!("{:e}", value.abs()),
    )
}

fn java_floating(
    nan: bool,
    infinite: bool,
    negative: bool,
    scientific: impl Fn() -> String,
) -> String {
    if nan {
        return "NaN".to_string();
    }
    let sign = if negative { "-" } else { "" };
    if infinite {
        return format!("{sign}Infinity");
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e3".
    let text = scientific();
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if digits.trim_start_matches('0').is_empty() {
        return format!("{sign}0.0");
    }
    if (-3..7).contains(&exponent) {
        let point = exponent + 1;
        let (whole, fraction) = if point <= 0 {
            (
                "0".to_string(),
                format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            let (w, f) = digits.split_at(point as usize);
            (w.to_string(), f.to_string())
        };
        let fraction = if fraction.is_empty() {
            "0".to_string()
        } else {
            fraction
        };
        format!("{sign}{whole}.{fraction}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

/// A year-month interval as `spark-sql` prints it: `1-2`.
fn year_month_interval(months: i32) -> String {
    let sign = if months < 0 { "-" } else { "" };
    let months = i64::from(months).abs();
    format!("{sign}{}-{}", months / 12, months % 12)
}

/// A day-time interval of `micros` split as Spark writes it: sign, days, hours, minutes and
/// the microseconds of the last minute.
fn day_time_fields(micros: i128) -> (&'static str, i128, i128, i128, i128) {
    let sign = if micros < 0 { "-" } else { "" };
    let micros = micros.abs();
    let rest = micros % 86_400_000_000;
    (
        sign,
        micros / 86_400_000_000,
        rest / 3_600_000_000,
        rest / 60_000_000 % 60,
        rest % 60_000_000,
    )
}

/// A day-time interval of `micros` as `spark-sql` prints it: `1 02:03:04.500000000`.
fn day_time_interval(micros: i128) -> String {
    let (sign, days, hours, minutes, second_micros) = day_time_fields(micros);
    let (seconds, fraction) = (second_micros / 1_000_000, second_micros % 1_000_000);
    format!("{sign}{days} {hours:02}:{minutes:02}:{seconds:02}.{fraction:06}000")
}

/// A year-month interval as Spark casts it to a string (`IntervalUtils`' ANSI style):
/// `INTERVAL '1-2' YEAR TO MONTH`. Flint's year-month intervals span both fields.
fn ansi_year_month_interval(months: i32) -> String {
    format!("INTERVAL '{}' YEAR TO MONTH", year_month_interval(months))
}

/// Seconds and their fraction as Spark's ANSI interval strings write them: two digits
/// before the point, trailing zeros dropped (`01.001001`, `00`).
fn ansi_seconds(micros: i128) -> String {
    let whole = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    if fraction == 0 {
        format!("{whole:02}")
    } else {
        let digits = format!("{fraction:06}");
        format!("{whole:02}.{}", digits.trim_end_matches('0'))
    }
}

/// A day-time interval as Spark casts it to a string (ANSI style):
/// `INTERVAL '1 02:03:04.5' DAY TO SECOND`. Flint's day-time intervals span all fields.
fn ansi_day_time_interval(micros: i128) -> String {
    let (sign, days, hours, minutes, second_micros) = day_time_fields(micros);
    let seconds = ansi_seconds(second_micros);
    format!("INTERVAL '{sign}{days} {hours:02}:{minutes:02}:{seconds}' DAY TO SECOND")
}

/// Spark's `CalendarInterval.toString`, what casting its calendar interval to a string
/// gives: `100 years 11 months 8 days 12 hours 30 minutes 1.001001 seconds`, or
/// `0 seconds`.
fn spark_calendar_interval(months: i32, days: i32, nanos: i64) -> String {
    let micros = nanos / 1000;
    if months == 0 && days == 0 && micros == 0 {
        return "0 seconds".to_string();
    }
    let mut parts = vec![];
    let mut unit = |value: i64, name: &str| {
        if value != 0 {
            parts.push(format!("{value} {name}s"));
        }
    };
    unit(i64::from(months / 12), "year");
    unit(i64::from(months % 12), "month");
    unit(i64::from(days), "day");
    unit(micros / 3_600_000_000, "hour");
    unit(micros % 3_600_000_000 / 60_000_000, "minute");
    let seconds = micros % 60_000_000;
    if seconds != 0 {
        let sign = if seconds < 0 { "-" } else { "" };
        let seconds = i128::from(seconds).abs();
        let text = ansi_seconds(seconds);
        let text = text
            .strip_prefix('0')
            .filter(|t| !t.starts_with('.'))
            .unwrap_or(&text);
        parts.push(format!("{sign}{text} seconds"));
    }
    parts.join(" ")
}

/// DataFusion's one interval type as Spark's: months alone are a year-month interval, days
/// and time alone a day-time interval, both Spark's `CalendarInterval`
/// (`1 years 2 months 3 days 4.5 seconds`).
fn calendar_interval(months: i32, days: i32, nanos: i64) -> String {
    if months == 0 && nanos == 0 {
        // A whole number of days is a day-time interval in Spark.
        return day_time_interval(i128::from(days) * 86_400_000_000);
    }
    if days == 0 && nanos == 0 {
        return year_month_interval(months);
    }
    if months == 0 {
        return day_time_interval(i128::from(days) * 86_400_000_000 + i128::from(nanos) / 1000);
    }
    let mut parts = vec![];
    let years = months / 12;
    if years != 0 {
        parts.push(format!("{years} years"));
    }
    if months % 12 != 0 {
        parts.push(format!("{} months", months % 12));
    }
    if days != 0 {
        parts.push(format!("{days} days"));
    }
    if nanos != 0 {
        let micros = nanos / 1000;
        let hours = micros / 3_600_000_000;
        let minutes = micros / 60_000_000 % 60;
        let seconds = micros % 60_000_000;
        if hours != 0 {
            parts.push(format!("{hours} hours"));
        }
        if minutes != 0 {
            parts.push(format!("{minutes} minutes"));
        }
        if seconds != 0 {
            let whole = seconds / 1_000_000;
            let fraction = seconds % 1_000_000;
            if fraction == 0 {
                parts.push(format!("{whole} seconds"));
            } else {
                let fraction = format!("{fraction:06}");
                parts.push(format!(
                    "{whole}.{} seconds",
                    fraction.trim_end_matches('0')
                ));
            }
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        for (value, expected) in [
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e10, "1.0E10"),
            (1e-5, "1.0E-5"),
            (1234567.0, "1234567.0"),
            (12345678.0, "1.2345678E7"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (123456789.123, "1.23456789123E8"),
        ] {
            assert_eq!(java_double(value), expected, "{value}");
        }
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(1.0 / 3.0), "0.33333334");
    }

    #[test]
    fn decimals_print_at_their_scale() {
        assert_eq!(plain_decimal("150", 2), "1.50");
        assert_eq!(plain_decimal("-5", 3), "-0.005");
        assert_eq!(plain_decimal("0", 2), "0.00");
        assert_eq!(plain_decimal("42", 0), "42");
    }

    #[test]
    fn intervals_print_as_spark_does() {
        assert_eq!(year_month_interval(14), "1-2");
        assert_eq!(
            ansi_year_month_interval(24_180),
            "INTERVAL '2015-0' YEAR TO MONTH"
        );
        assert_eq!(
            ansi_day_time_interval(131_401_001_001),
            "INTERVAL '1 12:30:01.001001' DAY TO SECOND"
        );
        assert_eq!(
            ansi_day_time_interval(-131_400_000_000),
            "INTERVAL '-1 12:30:00' DAY TO SECOND"
        );
        assert_eq!(
            spark_calendar_interval(1211, 8, 45_001_001_001_000),
            "100 years 11 months 8 days 12 hours 30 minutes 1.001001 seconds"
        );
        assert_eq!(spark_calendar_interval(0, 0, 500_000_000), "0.5 seconds");
        assert_eq!(spark_calendar_interval(0, 0, 0), "0 seconds");
        assert_eq!(calendar_interval(0, 1, 0), "1 00:00:00.000000000");
        assert_eq!(day_time_interval(90_061_500_000), "1 01:01:01.500000000");
        assert_eq!(
            calendar_interval(14, 25, 18_367_500_000_000),
            "1 years 2 months 25 days 5 hours 6 minutes 7.5 seconds"
        );
    }
}
