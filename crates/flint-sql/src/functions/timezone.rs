//! The session time zone (`spark.sql.session.timeZone`) where a timestamp meets an instant.
//!
//! Flint holds a Spark `TIMESTAMP` as the wall-clock time it shows in the session time zone
//! (an Arrow timestamp without a zone), so parsing, printing, fields (`hour`), truncation and
//! casts to and from text and dates need no zone at all. A zone is needed only where Spark
//! counts from the epoch or meets another zone, and there these functions convert:
//!
//! - `flint_epoch(ts, per_second, zone)`: the wall-clock time `ts` in `zone` as a count of
//!   `per_second` units since the epoch (floored, as Spark's `unix_seconds` is);
//! - `flint_timestamp(x, per_second, zone)`: the wall-clock time in `zone` of an instant, given
//!   as a count since the epoch or as a zoned timestamp (`now()`);
//! - `flint_session_zone()`: the session time zone, which the analyzer writes into the plan as
//!   a literal, so executors need no session of their own.
//!
//! Zones are IANA names (`America/Los_Angeles`), Java's short ids (`PST`, `JST`) and offsets
//! (`+08:00`, `UTC+8`, `GMT-05:30`).

use std::sync::Arc;

use chrono::{FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::lit;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(Epoch::new())),
        Arc::new(ScalarUDF::from(FromEpoch::new())),
        Arc::new(ScalarUDF::from(SessionZone::new())),
        Arc::new(ScalarUDF::from(Now::new())),
    ]
}

/// The name of the function that stands for the session time zone until analysis.
pub const SESSION_ZONE_FUNCTION: &str = "flint_session_zone";

/// A time zone as Spark reads one.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// A region with its rules (`America/Los_Angeles`).
    Region(chrono_tz::Tz),
    /// A fixed offset from UTC (`+08:00`).
    Fixed(FixedOffset),
}

/// Java's `ZoneId.SHORT_IDS`, which Spark accepts beside region names.
const SHORT_IDS: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
];

/// Fixed offsets among Java's short ids.
const SHORT_OFFSETS: &[(&str, i32)] =
    &[("EST", -5 * 3600), ("MST", -7 * 3600), ("HST", -10 * 3600)];

impl Zone {
    /// Reads a zone the way Spark's `getZoneId` does; `None` for a name it does not know.
    pub fn parse(name: &str) -> Option<Zone> {
        let name = name.trim();
        if let Some((_, region)) = SHORT_IDS.iter().find(|(id, _)| *id == name) {
            return region.parse().ok().map(Zone::Region);
        }
        if let Some((_, seconds)) = SHORT_OFFSETS.iter().find(|(id, _)| *id == name) {
            return FixedOffset::east_opt(*seconds).map(Zone::Fixed);
        }
        if let Ok(region) = name.parse::<chrono_tz::Tz>() {
            return Some(Zone::Region(region));
        }
        if matches!(name, "Z" | "UTC" | "GMT" | "UT") {
            return FixedOffset::east_opt(0).map(Zone::Fixed);
        }
        let offset = ["UTC", "GMT", "UT"]
            .iter()
            .find_map(|prefix| name.strip_prefix(prefix))
            .unwrap_or(name);
        parse_offset(offset).map(Zone::Fixed)
    }

    /// The instant (microseconds since the epoch) of the wall-clock time `wall` here. A time
    /// skipped by a daylight-saving change moves forward by the gap and an ambiguous one takes
    /// the earlier offset, as Java's `ZonedDateTime.of` does.
    pub fn instant_of(&self, wall: i64) -> Option<i64> {
        let local = chrono::DateTime::from_timestamp_micros(wall)?.naive_utc();
        let offset = match self {
            Zone::Fixed(offset) => offset.local_minus_utc(),
            Zone::Region(tz) => local_offset(tz, local)?,
        };
        wall.checked_sub(i64::from(offset) * 1_000_000)
    }

    /// The wall-clock time here (microseconds, as if UTC) of the instant `micros`.
    pub fn wall_of(&self, micros: i64) -> Option<i64> {
        let utc = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
        let offset = match self {
            Zone::Fixed(offset) => offset.local_minus_utc(),
            Zone::Region(tz) => tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
        };
        micros.checked_add(i64::from(offset) * 1_000_000)
    }
}

fn local_offset(tz: &chrono_tz::Tz, local: NaiveDateTime) -> Option<i32> {
    match tz.offset_from_local_datetime(&local) {
        LocalResult::Single(offset) => Some(offset.fix().local_minus_utc()),
        LocalResult::Ambiguous(earlier, _) => Some(earlier.fix().local_minus_utc()),
        // In a gap the offset before it applies, which moves the time forward by the gap.
        LocalResult::None => {
            let before = local - chrono::Duration::hours(3);
            tz.offset_from_local_datetime(&before)
                .earliest()
                .map(|offset| offset.fix().local_minus_utc())
        }
    }
}

/// `+8`, `+08`, `+08:00`, `-0530`, `+08:00:00`.
fn parse_offset(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let parts: Vec<&str> = if rest.contains(':') {
        rest.split(':').collect()
    } else if rest.len() > 2 {
        vec![&rest[..2], &rest[2..]]
    } else {
        vec![rest]
    };
    let mut seconds = 0i32;
    for (part, scale) in parts.iter().zip([3600, 60, 1]) {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        seconds += part.parse::<i32>().ok()? * scale;
    }
    if parts.len() > 3 || seconds > 18 * 3600 {
        return None;
    }
    FixedOffset::east_opt(sign * seconds)
}

fn invalid_zone(name: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[INVALID_TIMEZONE] The timezone: {name} is invalid. The timezone must be either a \
         region-based zone ID or a zone offset. Region IDs must have the form 'area/city', \
         such as 'America/Los_Angeles'. Zone offsets must be in the format '(+|-)HH', \
         '(+|-)HH:mm' or '(+|-)HH:mm:ss', e.g '-08', '+01:00' or '-13:33:33', and must be in \
         the range from -18:00 to +18:00. 'Z' and 'UTC' are accepted as synonyms for \
         '+00:00'. SQLSTATE: 22009"
    ))
}

/// The zone of each row: one parse for a constant zone, one per row otherwise.
fn zones(array: &ArrayRef, rows: usize) -> Result<Vec<Option<Zone>>> {
    let names = cast(array, &DataType::Utf8)?;
    let names = names.as_string::<i32>();
    let parse = |i: usize| -> Result<Option<Zone>> {
        if names.is_null(i) {
            return Ok(None);
        }
        zone_named(names.value(i)).map(Some)
    };
    if names.len() == 1 {
        let zone = parse(0)?;
        return Ok(vec![zone; rows]);
    }
    (0..rows).map(parse).collect()
}

fn per_second(args: &[ColumnarValue], name: &str) -> Result<i64> {
    match args.get(1) {
        Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(n))))
            if [1, 1_000, 1_000_000].contains(n) =>
        {
            Ok(*n)
        }
        _ => exec_err!("{name}: the unit must be 1, 1000 or 1000000 a second"),
    }
}

/// Timestamps as microseconds, without their zone label.
fn micros(array: &ArrayRef) -> Result<ArrayRef> {
    let utc = match array.data_type() {
        DataType::Timestamp(_, Some(_)) => cast(
            array,
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )?,
        _ => cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
    };
    Ok(cast(&utc, &DataType::Int64)?)
}

/// `flint_epoch(ts, per_second, zone)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Epoch {
    signature: Signature,
}

impl Epoch {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Epoch {
    fn name(&self) -> &str {
        "flint_epoch"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [value, _, _] => Ok(vec![
                match value {
                    DataType::Timestamp(..) => value.clone(),
                    _ => DataType::Timestamp(TimeUnit::Microsecond, None),
                },
                DataType::Int64,
                DataType::Utf8,
            ]),
            _ => plan_err!("flint_epoch takes a timestamp, a unit and a zone"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = per_second(&args.args, self.name())?;
        let rows = args.number_rows;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let [value, _, zone] = arrays.as_slice() else {
            return exec_err!("flint_epoch takes three arguments");
        };
        let zoned = matches!(value.data_type(), DataType::Timestamp(_, Some(_)));
        let values = micros(value)?;
        let values = values.as_primitive::<Int64Type>();
        let zones = zones(zone, rows)?;
        let out: Int64Array = (0..rows)
            .map(|i| {
                if values.is_null(i) {
                    return None;
                }
                // A zoned timestamp is already an instant.
                let instant = if zoned {
                    Some(values.value(i))
                } else {
                    zones[i]?.instant_of(values.value(i))
                }?;
                Some(instant.div_euclid(1_000_000 / unit))
            })
            .collect();
        super::columnar(Arc::new(out), scalar)
    }
}

/// `flint_timestamp(x, per_second, zone)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FromEpoch {
    signature: Signature,
}

impl FromEpoch {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FromEpoch {
    fn name(&self) -> &str {
        "flint_timestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [value, _, _] => Ok(vec![
                match value {
                    DataType::Timestamp(..) => value.clone(),
                    v if v.is_integer() || v.is_null() => DataType::Int64,
                    _ => DataType::Float64,
                },
                DataType::Int64,
                DataType::Utf8,
            ]),
            _ => plan_err!("flint_timestamp takes an instant, a unit and a zone"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = per_second(&args.args, self.name())?;
        let scale = 1_000_000 / unit;
        let rows = args.number_rows;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let [value, _, zone] = arrays.as_slice() else {
            return exec_err!("flint_timestamp takes three arguments");
        };
        // Every instant in microseconds since the epoch.
        let instants: Vec<Option<i64>> = match value.data_type() {
            DataType::Timestamp(..) => {
                let values = micros(value)?;
                values.as_primitive::<Int64Type>().iter().collect()
            }
            t if !t.is_integer() && !t.is_null() => cast(value, &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| {
                    v.and_then(|v| {
                        let micros = (v * scale as f64).trunc();
                        (micros.is_finite() && micros.abs() < 9.2e18).then_some(micros as i64)
                    })
                })
                .collect(),
            _ => {
                let values = cast(value, &DataType::Int64)?;
                values
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.and_then(|v| v.checked_mul(scale)))
                    .collect()
            }
        };
        let zones = zones(zone, rows)?;
        let out: TimestampMicrosecondArray = instants
            .iter()
            .zip(&zones)
            .map(|(instant, zone)| zone.as_ref()?.wall_of((*instant)?))
            .collect();
        super::columnar(Arc::new(out), scalar)
    }
}

/// `flint_session_zone()`: UTC, unless the analyzer put the session's zone in its place.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionZone {
    signature: Signature,
}

impl SessionZone {
    fn new() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for SessionZone {
    fn name(&self) -> &str {
        SESSION_ZONE_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some("UTC".into()))))
    }
}

/// `flint_now()`: the instant the query started (one value for the whole query, as Spark's
/// `current_timestamp()`), labelled UTC. Named apart from `now` so that Spark's `now()`
/// can be written in terms of it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Now {
    signature: Signature,
}

impl Now {
    fn new() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for Now {
    fn name(&self) -> &str {
        "flint_now"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ))
    }

    fn simplify(
        &self,
        args: Vec<Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        let Some(start) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            ScalarValue::TimestampMicrosecond(Some(start.timestamp_micros()), Some("UTC".into())),
            None,
        )))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
            Some(chrono::Utc::now().timestamp_micros()),
            Some("UTC".into()),
        )))
    }
}

/// `flint_epoch(value, per_second, zone)` as an expression.
pub fn epoch_expr(value: Expr, per_second: i64, zone: &str) -> Expr {
    ScalarUDF::from(Epoch::new()).call(vec![value, lit(per_second), lit(zone)])
}

/// `flint_timestamp(value, per_second, zone)` as an expression.
pub fn timestamp_expr(value: Expr, per_second: i64, zone: &str) -> Expr {
    ScalarUDF::from(FromEpoch::new()).call(vec![value, lit(per_second), lit(zone)])
}

/// Converts the timestamps of `array` (wall-clock times in `zone`) to instants, labelled UTC:
/// what a client that reads zoned timestamps is sent.
pub fn wall_to_instants(array: &ArrayRef, zone: &Zone) -> Result<ArrayRef> {
    let values = micros(array)?;
    let out: TimestampMicrosecondArray = values
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| zone.instant_of(v?))
        .collect();
    Ok(Arc::new(out.with_timezone("UTC")))
}

/// Converts instants (a zoned timestamp array) to wall-clock times in `zone`: how a client's
/// timestamps enter Flint.
pub fn instants_to_wall(array: &ArrayRef, zone: &Zone) -> Result<ArrayRef> {
    let values = micros(array)?;
    let out: TimestampMicrosecondArray = values
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| zone.wall_of(v?))
        .collect();
    Ok(Arc::new(out))
}

/// The zone `name` names, or Spark's `INVALID_TIMEZONE` error.
pub fn zone_named(name: &str) -> Result<Zone> {
    Zone::parse(name).ok_or_else(|| invalid_zone(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap_or_default()
    }

    #[test]
    fn zones_read_as_spark_reads_them() {
        for name in [
            "America/Los_Angeles",
            "PST",
            "JST",
            "EST",
            "+08:00",
            "-0530",
            "UTC+8",
            "GMT",
            "Z",
        ] {
            assert!(Zone::parse(name).is_some(), "{name}");
        }
        for name in ["Mars/Olympus", "+25:00", "8", ""] {
            assert!(Zone::parse(name).is_none(), "{name}");
        }
    }

    #[test]
    fn wall_clock_and_instants_convert_both_ways() {
        let la = Zone::parse("America/Los_Angeles").expect("a region");
        // 2015-04-08 12:12:12 in Los Angeles (PDT, -7) is 19:12:12 UTC: Spark's 1428520332.
        let instant = la.instant_of(wall("2015-04-08 12:12:12"));
        assert_eq!(instant, Some(1_428_520_332_000_000));
        assert_eq!(
            la.wall_of(1_428_520_332_000_000),
            Some(wall("2015-04-08 12:12:12"))
        );
        // 02:30 on 2015-03-08 does not exist there: it is 03:30 PDT.
        assert_eq!(
            la.instant_of(wall("2015-03-08 02:30:00")),
            la.instant_of(wall("2015-03-08 03:30:00"))
        );
        let tokyo = Zone::parse("JST").expect("a short id");
        assert_eq!(tokyo.wall_of(0), Some(9 * 3_600_000_000));
    }
}
