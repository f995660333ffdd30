//! Spark's datetime patterns (Java's `DateTimeFormatter` letters: `yyyy-MM-dd HH:mm:ss`) for
//! `date_format`, and `to_date` / `to_timestamp` with a pattern.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(DatePattern::new(Kind::Format))),
        Arc::new(ScalarUDF::from(DatePattern::new(Kind::ToDate))),
        Arc::new(ScalarUDF::from(DatePattern::new(Kind::ToTimestamp))),
        Arc::new(ScalarUDF::from(DatePattern::new(Kind::TryToDate))),
        Arc::new(ScalarUDF::from(DatePattern::new(Kind::TryToTimestamp))),
    ]
}

/// A Java datetime pattern as a chrono format string; letters Flint does not know are an
/// error naming them.
pub fn chrono_format(pattern: &str) -> Result<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        if c == '\'' {
            // Quoted text; '' is a quote.
            if run >= 2 && run % 2 == 0 {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        let spec = match (c, run) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M' | 'L', 1) => "%-m",
            ('M' | 'L', 2) => "%m",
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', 1) => "%-j",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('a', _) => "%p",
            ('Z' | 'x', _) => "%z",
            ('X', _) => "%:z",
            (c, _) if c.is_ascii_alphabetic() => {
                return plan_err!(
                    "[INVALID_DATETIME_PATTERN] Unsupported pattern letter '{c}' in datetime \
                     pattern '{pattern}'"
                );
            }
            (c, _) => {
                for _ in 0..run {
                    push_literal(&mut out, c);
                }
                i += run;
                continue;
            }
        };
        out.push_str(spec);
        i += run;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `date_format(timestamp, pattern)`.
    Format,
    /// `to_date(string[, pattern])`.
    ToDate,
    /// `to_timestamp(string[, pattern])`.
    ToTimestamp,
    /// `try_to_date`: `to_date` with NULL for text it cannot read, also under ANSI mode.
    TryToDate,
    /// `try_to_timestamp`: `to_timestamp` with NULL for text it cannot read.
    TryToTimestamp,
}

impl Kind {
    /// The function without `try_`, and whether it is the `try_` one.
    fn base(self) -> (Kind, bool) {
        match self {
            Kind::TryToDate => (Kind::ToDate, true),
            Kind::TryToTimestamp => (Kind::ToTimestamp, true),
            kind => (kind, false),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DatePattern {
    kind: Kind,
    signature: Signature,
}

impl DatePattern {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

fn cannot_parse(value: &str, pattern: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[CANNOT_PARSE_TIMESTAMP] Text '{value}' could not be parsed with pattern '{pattern}'. \
         Use `try_to_timestamp` to tolerate invalid input string and return NULL instead. \
         SQLSTATE: 22007"
    ))
}

impl ScalarUDFImpl for DatePattern {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Format => "date_format",
            Kind::ToDate => "to_date",
            Kind::ToTimestamp => "to_timestamp",
            Kind::TryToDate => "try_to_date",
            Kind::TryToTimestamp => "try_to_timestamp",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match (self.kind.base().0, arg_types) {
            (Kind::Format, [_, _]) => Ok(vec![TIMESTAMP, DataType::Utf8]),
            (Kind::ToDate | Kind::ToTimestamp, [value]) => Ok(vec![match value {
                DataType::Date32 | DataType::Timestamp(..) => value.clone(),
                _ => DataType::Utf8,
            }]),
            (Kind::ToDate | Kind::ToTimestamp, [_, _]) => Ok(vec![DataType::Utf8, DataType::Utf8]),
            _ => plan_err!(
                "{} takes {} arguments",
                self.name(),
                match self.kind {
                    Kind::Format => "two",
                    _ => "one or two",
                }
            ),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind.base().0 {
            Kind::Format => DataType::Utf8,
            Kind::ToDate | Kind::TryToDate => DataType::Date32,
            Kind::ToTimestamp | Kind::TryToTimestamp => TIMESTAMP,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (kind, lenient) = self.kind.base();
        let ansi = args.config_options.execution.enable_ansi_mode && !lenient;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let result: ArrayRef = match (kind, arrays.as_slice()) {
            (Kind::Format, [value, pattern]) => {
                let value = cast(value, &TIMESTAMP)?;
                let value =
                    value.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
                let pattern = pattern.as_string::<i32>();
                let out: StringArray = (0..rows)
                    .map(|i| {
                        if value.is_null(i) || pattern.is_null(i) {
                            return Ok(None);
                        }
                        let format = chrono_format(pattern.value(i))?;
                        let time = chrono::DateTime::from_timestamp_micros(value.value(i))
                            .map(|t| t.naive_utc());
                        Ok(time.map(|t| t.format(&format).to_string()))
                    })
                    .collect::<Result<_>>()?;
                Arc::new(out)
            }
            (_, [value]) => {
                // Without a pattern Spark casts: ISO forms, CAST_INVALID_INPUT otherwise.
                let target = self.return_type(&[])?;
                let mode = if ansi {
                    super::cast::CastMode::Ansi
                } else {
                    super::cast::CastMode::Try
                };
                super::cast::cast_array(value, &target, mode)?
            }
            (kind, [value, pattern]) => {
                let value = value.as_string::<i32>();
                let pattern = pattern.as_string::<i32>();
                let parsed: Vec<Option<chrono::NaiveDateTime>> = (0..rows)
                    .map(|i| {
                        if value.is_null(i) || pattern.is_null(i) {
                            return Ok(None);
                        }
                        let format = chrono_format(pattern.value(i))?;
                        let text = value.value(i);
                        let time = chrono::NaiveDateTime::parse_from_str(text, &format)
                            .ok()
                            .or_else(|| {
                                chrono::NaiveDate::parse_from_str(text, &format)
                                    .ok()
                                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                            });
                        match time {
                            Some(time) => Ok(Some(time)),
                            None if ansi => Err(cannot_parse(text, pattern.value(i))),
                            None => Ok(None),
                        }
                    })
                    .collect::<Result<_>>()?;
                if kind == Kind::ToDate {
                    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                    Arc::new(
                        parsed
                            .iter()
                            .map(|t| t.map(|t| (t.date() - epoch).num_days() as i32))
                            .collect::<Date32Array>(),
                    )
                } else {
                    Arc::new(
                        parsed
                            .iter()
                            .map(|t| t.map(|t| t.and_utc().timestamp_micros()))
                            .collect::<TimestampMicrosecondArray>(),
                    )
                }
            }
            _ => return exec_err!("{}: wrong number of arguments", self.name()),
        };
        super::columnar(result, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns_become_chrono_formats() {
        assert_eq!(chrono_format("yyyy/MM/dd").unwrap(), "%Y/%m/%d");
        assert_eq!(
            chrono_format("yyyy-MM-dd HH:mm:ss.SSS EEE MMM a").unwrap(),
            "%Y-%m-%d %H:%M:%S.%3f %a %b %p"
        );
        assert_eq!(chrono_format("'T'HH''").unwrap(), "T%H'");
        assert!(chrono_format("yyyy q").is_err());
    }
}
