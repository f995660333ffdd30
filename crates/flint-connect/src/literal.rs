//! Connect literals as Spark SQL literals (`5L`, `1.50BD`, `DATE '2024-01-15'`, `X'0A'`),
//! with the names Spark gives them as columns.

use spark_connect::expression::Literal;
use spark_connect::expression::literal::{LiteralType, specialized_array::ValueType};

use crate::error::{ConnectError, missing};

/// A Spark SQL string literal: `'it\'s'` (Spark reads backslash escapes).
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn float_sql(value: f64, suffix: &str, type_name: &str) -> String {
    if value.is_finite() {
        format!("({value:?}{suffix})")
    } else {
        let text = if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        format!("CAST('{text}' AS {type_name})")
    }
}

/// The SQL text of a literal and Spark's name for it.
pub fn render_literal(literal: &Literal) -> Result<(String, String), ConnectError> {
    let kind = literal
        .literal_type
        .as_ref()
        .ok_or_else(|| missing("Literal.literal_type"))?;
    Ok(match kind {
        LiteralType::Null(data_type) => {
            let sql = match crate::types::sql_type_name(data_type) {
                Ok(name) if name != "void" => format!("CAST(NULL AS {name})"),
                _ => "NULL".into(),
            };
            (sql, "NULL".into())
        }
        LiteralType::Boolean(value) => (value.to_string(), value.to_string()),
        LiteralType::Byte(value) => (format!("CAST({value} AS TINYINT)"), value.to_string()),
        LiteralType::Short(value) => (format!("CAST({value} AS SMALLINT)"), value.to_string()),
        // The smallest values are written as casts: `-2147483648` would be minus a bigint.
        LiteralType::Integer(value) if *value == i32::MIN => {
            (format!("CAST('{value}' AS INT)"), value.to_string())
        }
        LiteralType::Long(value) if *value == i64::MIN => {
            (format!("CAST('{value}' AS BIGINT)"), value.to_string())
        }
        LiteralType::Integer(value) => (format!("({value})"), value.to_string()),
        LiteralType::Long(value) => (format!("({value}L)"), value.to_string()),
        LiteralType::Float(value) => (
            float_sql(f64::from(*value), "F", "FLOAT"),
            flint_sql::java_float(*value),
        ),
        LiteralType::Double(value) => (
            float_sql(*value, "D", "DOUBLE"),
            flint_sql::java_double(*value),
        ),
        LiteralType::Decimal(decimal) => {
            let text = decimal.value.trim();
            if text.is_empty()
                || !text
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            {
                return Err(ConnectError::InvalidPlan(format!(
                    "invalid decimal literal {text:?}"
                )));
            }
            let sql = match (decimal.precision, decimal.scale) {
                (Some(precision), Some(scale)) => {
                    format!("CAST('{text}' AS DECIMAL({precision},{scale}))")
                }
                _ => format!("({text}BD)"),
            };
            (sql, text.to_string())
        }
        LiteralType::String(value) => (string_literal(value), value.clone()),
        LiteralType::Binary(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
            (format!("X'{hex}'"), format!("X'{hex}'"))
        }
        LiteralType::Date(days) => {
            let date = days
                .checked_add(719_163)
                .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
                .ok_or_else(|| ConnectError::InvalidPlan(format!("date out of range: {days}")))?;
            let text = date.format("%Y-%m-%d").to_string();
            (format!("DATE '{text}'"), format!("DATE '{text}'"))
        }
        // An instant, seen in the session time zone (`timestamp_micros`); a TIMESTAMP_NTZ is
        // the wall-clock time itself.
        LiteralType::Timestamp(micros) | LiteralType::TimestampNtz(micros) => {
            let name = chrono::DateTime::from_timestamp_micros(*micros)
                .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string())
                .unwrap_or_else(|| micros.to_string());
            let function = match kind {
                LiteralType::Timestamp(_) => "timestamp_micros",
                _ => "to_timestamp_micros",
            };
            (
                format!("{function}({micros}L)"),
                format!("TIMESTAMP '{name}'"),
            )
        }
        LiteralType::YearMonthInterval(months) => {
            let sign = if *months < 0 { "-" } else { "" };
            let text = format!(
                "{sign}{}-{}",
                months.unsigned_abs() / 12,
                months.unsigned_abs() % 12
            );
            (
                format!("INTERVAL '{text}' YEAR TO MONTH"),
                format!("INTERVAL '{text}' YEAR TO MONTH"),
            )
        }
        LiteralType::DayTimeInterval(micros) => (
            format!("INTERVAL '{micros} microseconds'"),
            format!("INTERVAL '{micros} microseconds'"),
        ),
        LiteralType::CalendarInterval(interval) => {
            let text = format!(
                "{} months {} days {} microseconds",
                interval.months, interval.days, interval.microseconds
            );
            (format!("INTERVAL '{text}'"), format!("INTERVAL '{text}'"))
        }
        LiteralType::Array(array) => {
            let elements = array
                .elements
                .iter()
                .map(render_literal)
                .collect::<Result<Vec<_>, _>>()?;
            collection("array", &elements)
        }
        LiteralType::SpecializedArray(array) => {
            let elements: Vec<(String, String)> = match &array.value_type {
                Some(ValueType::Bools(v)) => v
                    .values
                    .iter()
                    .map(|b| (b.to_string(), b.to_string()))
                    .collect(),
                Some(ValueType::Ints(v)) => v
                    .values
                    .iter()
                    .map(|i| (format!("({i})"), i.to_string()))
                    .collect(),
                Some(ValueType::Longs(v)) => v
                    .values
                    .iter()
                    .map(|i| (format!("({i}L)"), i.to_string()))
                    .collect(),
                Some(ValueType::Floats(v)) => v
                    .values
                    .iter()
                    .map(|f| {
                        (
                            float_sql(f64::from(*f), "F", "FLOAT"),
                            flint_sql::java_float(*f),
                        )
                    })
                    .collect(),
                Some(ValueType::Doubles(v)) => v
                    .values
                    .iter()
                    .map(|f| (float_sql(*f, "D", "DOUBLE"), flint_sql::java_double(*f)))
                    .collect(),
                Some(ValueType::Strings(v)) => v
                    .values
                    .iter()
                    .map(|s| (string_literal(s), s.clone()))
                    .collect(),
                None => return Err(missing("SpecializedArray.value_type")),
            };
            collection("array", &elements)
        }
        LiteralType::Map(map) => {
            if map.keys.len() != map.values.len() {
                return Err(ConnectError::InvalidPlan(
                    "map literal with more keys than values".into(),
                ));
            }
            let mut elements = Vec::new();
            for (key, value) in map.keys.iter().zip(&map.values) {
                elements.push(render_literal(key)?);
                elements.push(render_literal(value)?);
            }
            collection("map", &elements)
        }
        LiteralType::Struct(value) => {
            let names = struct_field_names(literal);
            let mut arguments = Vec::new();
            let mut shown = Vec::new();
            for (index, element) in value.elements.iter().enumerate() {
                let (sql, name) = render_literal(element)?;
                let field = names
                    .get(index)
                    .cloned()
                    .unwrap_or_else(|| format!("col{}", index + 1));
                arguments.push(format!("{}, {sql}", string_literal(&field)));
                shown.push(format!("{field}, {name}"));
            }
            (
                format!("named_struct({})", arguments.join(", ")),
                format!("named_struct({})", shown.join(", ")),
            )
        }
        LiteralType::Time(time) => {
            let text = flint_sql::functions::time::time_string(time.nano);
            (format!("TIME '{text}'"), format!("TIME '{text}'"))
        }
        LiteralType::TimestampNtzNanos(value) => {
            let micros = value.epoch_micros;
            (
                format!("to_timestamp_micros({micros}L)"),
                micros.to_string(),
            )
        }
        LiteralType::TimestampLtzNanos(value) => {
            let micros = value.epoch_micros;
            (format!("timestamp_micros({micros}L)"), micros.to_string())
        }
    })
}

fn collection(function: &str, elements: &[(String, String)]) -> (String, String) {
    let sql: Vec<&str> = elements.iter().map(|e| e.0.as_str()).collect();
    let names: Vec<&str> = elements.iter().map(|e| e.1.as_str()).collect();
    (
        format!("{function}({})", sql.join(", ")),
        format!("{function}({})", names.join(", ")),
    )
}

/// The field names of a struct literal, from its data type (or the deprecated struct type).
fn struct_field_names(literal: &Literal) -> Vec<String> {
    use spark_connect::data_type::Kind;
    #[allow(deprecated)]
    let struct_type = match &literal.literal_type {
        Some(LiteralType::Struct(value)) => value.struct_type.as_ref(),
        _ => None,
    };
    let data_type = literal.data_type.as_ref().or(struct_type);
    match data_type.and_then(|t| t.kind.as_ref()) {
        Some(Kind::Struct(fields)) => fields.fields.iter().map(|f| f.name.clone()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(kind: LiteralType) -> Literal {
        Literal {
            data_type: None,
            literal_type: Some(kind),
        }
    }

    #[test]
    fn writes_spark_literals() {
        let check = |kind: LiteralType, sql: &str, name: &str| {
            assert_eq!(
                render_literal(&literal(kind)).expect("literal"),
                (sql.to_string(), name.to_string())
            );
        };
        check(LiteralType::Integer(-5), "(-5)", "-5");
        check(LiteralType::Long(7), "(7L)", "7");
        check(LiteralType::Double(1.5), "(1.5D)", "1.5");
        check(
            LiteralType::Double(f64::NAN),
            "CAST('NaN' AS DOUBLE)",
            "NaN",
        );
        check(
            LiteralType::String("it's \\".into()),
            "'it\\'s \\\\'",
            "it's \\",
        );
        check(
            LiteralType::Date(19737),
            "DATE '2024-01-15'",
            "DATE '2024-01-15'",
        );
        check(
            LiteralType::Binary(vec![10u8, 255].into()),
            "X'0AFF'",
            "X'0AFF'",
        );
    }
}
