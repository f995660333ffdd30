//! Spark's JSON functions: `get_json_object`, `json_array_length`, `json_object_keys`,
//! `to_json`, `from_json` and `schema_of_json` (`json_tuple` is planned as one
//! `get_json_object` per field).
//!
//! JSON text is read by a lenient reader that keeps what Spark's Jackson parser keeps: the
//! order of an object's fields and a number's text (so big integers stay exact), and it
//! takes single-quoted strings. Values are written back as Jackson writes them: compact,
//! doubles as Java prints them.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Fields, TimeUnit};
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::returns::{int, string, strings};
use super::row::{RowContext, RowFunction, arity, text};
use crate::display::{HiveFormat, java_double, java_float};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("get_json_object", two_texts, string, get_json_object).udf(),
        RowFunction::new("json_array_length", one_text, int, json_array_length).udf(),
        RowFunction::new("json_object_keys", one_text, strings, json_object_keys).udf(),
        RowFunction::new("to_json", to_json_types, string, to_json).udf(),
        RowFunction::new("from_json", from_json_types, from_json_type, from_json)
            .returns_from_literals(from_json_type_of_schema)
            .udf(),
        RowFunction::new("schema_of_json", schema_types, string, schema_of_json).udf(),
    ]
}

fn one_text(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("json_array_length", types, 1, 1)?;
    Ok(vec![DataType::Utf8])
}

fn two_texts(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("get_json_object", types, 2, 2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

fn to_json_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_json", types, 1, 2)?;
    Ok(types.to_vec())
}

/// The arguments of `from_json`/`from_csv`/`from_xml`: text, a schema, maybe options.
pub(crate) fn from_json_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("from_json", types, 2, 3)?;
    let mut out = vec![DataType::Utf8, DataType::Utf8];
    out.extend(types.get(2).cloned());
    Ok(out)
}

fn schema_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("schema_of_json", types, 1, 2)?;
    let mut out = vec![DataType::Utf8];
    out.extend(types.get(1).cloned());
    Ok(out)
}

/// `from_json`'s type before its schema is known.
fn from_json_type(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}

/// The type a `from_json`/`from_csv`/`from_xml` call answers: its literal DDL schema.
pub(crate) fn from_json_type_of_schema(
    _: &[DataType],
    literals: &[Option<&ScalarValue>],
) -> Result<DataType> {
    let Some(schema) = literals.get(1).copied().flatten().and_then(text) else {
        return plan_err!(
            "[INVALID_SCHEMA.NON_STRING_LITERAL] The input schema must be a string literal"
        );
    };
    crate::ddl::parse_ddl(schema).map_err(|e| DataFusionError::Plan(e.to_string()))
}

/// A JSON value as read: objects keep their field order, numbers their text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Reads the JSON value at the start of `text` (what follows it is ignored, as Spark's
/// functions ignore it); `None` when it is not JSON.
pub(crate) fn read_json(text: &str) -> Option<Json> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    reader.value(0)
}

/// Reads `text` as exactly one JSON value (nothing but whitespace after it).
pub(crate) fn read_json_exact(text: &str) -> Option<Json> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = reader.value(0)?;
    reader.skip_whitespace();
    (reader.at == reader.bytes.len()).then_some(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_whitespace(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > 1000 {
            return None;
        }
        self.skip_whitespace();
        match *self.bytes.get(self.at)? {
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                self.skip_whitespace();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Some(Json::Object(fields));
                }
                loop {
                    self.skip_whitespace();
                    let quote = *self.bytes.get(self.at)?;
                    if quote != b'"' && quote != b'\'' {
                        return None;
                    }
                    let name = self.string(quote)?;
                    self.skip_whitespace();
                    if self.bytes.get(self.at) != Some(&b':') {
                        return None;
                    }
                    self.at += 1;
                    let value = self.value(depth + 1)?;
                    fields.push((name, value));
                    self.skip_whitespace();
                    match self.bytes.get(self.at)? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(Json::Object(fields));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Some(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_whitespace();
                    match self.bytes.get(self.at)? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(Json::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            quote @ (b'"' | b'\'') => self.string(quote).map(Json::String),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Option<Json> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Some(value)
        } else {
            None
        }
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.at;
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        let digits = |r: &mut Self| {
            let from = r.at;
            while r.at < r.bytes.len() && r.bytes[r.at].is_ascii_digit() {
                r.at += 1;
            }
            r.at > from
        };
        let whole_start = self.at;
        if !digits(self) {
            return None;
        }
        // No leading zeros (`01`), as Jackson by default.
        if self.bytes[whole_start] == b'0' && self.at - whole_start > 1 {
            return None;
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
        Some(Json::Number(text.to_string()))
    }

    fn string(&mut self, quote: u8) -> Option<String> {
        self.at += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            match b {
                b if b == quote => break,
                b'\\' => {
                    let escaped = *self.bytes.get(self.at)?;
                    self.at += 1;
                    match escaped {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex =
                                std::str::from_utf8(self.bytes.get(self.at..self.at + 4)?).ok()?;
                            self.at += 4;
                            let mut unit = u32::from_str_radix(hex, 16).ok()?;
                            if (0xd800..0xdc00).contains(&unit)
                                && self.bytes.get(self.at..self.at + 2) == Some(b"\\u")
                            {
                                let low =
                                    std::str::from_utf8(self.bytes.get(self.at + 2..self.at + 6)?)
                                        .ok()?;
                                let low = u32::from_str_radix(low, 16).ok()?;
                                self.at += 6;
                                unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                            }
                            let c = char::from_u32(unit)?;
                            out.extend(c.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                b => out.push(b),
            }
        }
        String::from_utf8(out).ok()
    }
}

/// Writes `text` as a JSON string, escaped as Jackson escapes it.
pub(crate) fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as Jackson writes it back: integers exactly, others as Java doubles.
fn write_number(out: &mut String, number: &str) {
    if !number.contains(['.', 'e', 'E']) {
        let digits = number.trim_start_matches('-');
        if digits.trim_start_matches('0').is_empty() {
            out.push('0');
        } else {
            out.push_str(number);
        }
        return;
    }
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() => out.push_str(&java_double(value)),
        Ok(_) => out.push_str("\"Infinity\""),
        Err(_) => out.push_str(number),
    }
}

/// Writes `json` compactly.
pub(crate) fn write_json(out: &mut String, json: &Json) {
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => write_number(out, n),
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(fields) => {
            out.push('{');
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_json(out, value);
            }
            out.push('}');
        }
    }
}

/// One step of a `get_json_object` path.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// `[*]`
    AnyIndex,
    /// `.*` or `['*']`: matches nothing.
    AnyKey,
}

/// Reads a JSON path: `$` then `.name`, `['name']`, `[n]`, `[*]`.
fn json_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim_start().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return None;
            }
            steps.push(if name == "*" {
                Step::AnyKey
            } else {
                Step::Key(name.to_string())
            });
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            let name = &after[..end];
            if name.is_empty() {
                return None;
            }
            steps.push(if name == "*" {
                Step::AnyKey
            } else {
                Step::Key(name.to_string())
            });
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            steps.push(if inside == "*" {
                Step::AnyIndex
            } else {
                Step::Index(inside.parse().ok()?)
            });
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// How a matched value is written (Spark's `WriteStyle`).
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// A string is written without quotes.
    Raw,
    /// A string is written as JSON.
    Quoted,
    /// Arrays are written element by element.
    Flatten,
}

/// Evaluates `steps` on `json`, writing matches into `out`; whether anything matched.
fn evaluate(json: &Json, steps: &[Step], style: Style, out: &mut Vec<String>) -> bool {
    match (json, steps.first()) {
        (Json::Null, _) => false,
        (Json::String(s), None) if style == Style::Raw => {
            out.push(s.clone());
            true
        }
        (Json::Array(items), None) if style == Style::Flatten => {
            let mut any = false;
            for item in items {
                any |= evaluate(item, &[], Style::Flatten, out);
            }
            any
        }
        (value, None) => {
            let mut text = String::new();
            write_json(&mut text, value);
            out.push(text);
            true
        }
        (Json::Object(fields), Some(Step::Key(name))) => fields
            .iter()
            .filter(|(field, _)| field == name)
            .any(|(_, value)| evaluate(value, &steps[1..], style, out)),
        (Json::Array(items), Some(Step::AnyIndex)) => {
            if steps.get(1) == Some(&Step::AnyIndex) {
                let mut inner = Vec::new();
                for item in items {
                    evaluate(item, &steps[2..], Style::Flatten, &mut inner);
                }
                out.push(format!("[{}]", inner.join(",")));
                return true;
            }
            let inner_style = if style == Style::Raw {
                Style::Quoted
            } else {
                style
            };
            let mut inner = Vec::new();
            for item in items {
                evaluate(item, &steps[1..], inner_style, &mut inner);
            }
            match inner.len() {
                0 => false,
                1 if style != Style::Quoted => {
                    out.extend(inner);
                    true
                }
                _ => {
                    out.push(format!("[{}]", inner.join(",")));
                    true
                }
            }
        }
        (Json::Array(items), Some(Step::Index(i))) => match items.get(*i) {
            Some(item) => {
                let next_style = if steps.get(1) == Some(&Step::AnyIndex) {
                    Style::Quoted
                } else {
                    style
                };
                evaluate(item, &steps[1..], next_style, out)
            }
            None => false,
        },
        _ => false,
    }
}

fn get_json_object(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let (Some(json), Some(path)) = (text(&args[0]), text(&args[1])) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let (Some(steps), Some(value)) = (json_path(path), read_json(json)) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let mut out = Vec::new();
    if !evaluate(&value, &steps, Style::Raw, &mut out) {
        return Ok(ScalarValue::Utf8(None));
    }
    Ok(ScalarValue::Utf8(Some(out.concat())))
}

fn json_array_length(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Int32(
        match text(&args[0]).and_then(read_json) {
            Some(Json::Array(items)) => Some(items.len() as i32),
            _ => None,
        },
    ))
}

fn json_object_keys(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    match text(&args[0]).and_then(read_json) {
        Some(Json::Object(fields)) => {
            let keys: Vec<ScalarValue> = fields
                .into_iter()
                .map(|(k, _)| ScalarValue::Utf8(Some(k)))
                .collect();
            Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &keys,
                &DataType::Utf8,
            )))
        }
        _ => Ok(ScalarValue::Null),
    }
}

/// The string pairs of a literal options map (`map('timestampFormat', 'dd/MM/yyyy')`).
pub(crate) fn options(value: Option<&ScalarValue>) -> Vec<(String, String)> {
    let Some(ScalarValue::Map(map)) = value else {
        return Vec::new();
    };
    let entries = map.entries();
    let format = HiveFormat::cast_to_string();
    let (keys, values) = (entries.column(0), entries.column(1));
    (0..entries.len())
        .filter(|i| !keys.is_null(*i) && !values.is_null(*i))
        .map(|i| (format.value(keys, i, false), format.value(values, i, false)))
        .collect()
}

pub(crate) fn option<'a>(options: &'a [(String, String)], name: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// How `to_json` writes values (its options).
pub(crate) struct JsonWriter {
    timestamp_format: String,
    date_format: String,
    ignore_null_fields: bool,
    sort_keys: bool,
    format: HiveFormat,
}

impl JsonWriter {
    pub(crate) fn new(options: &[(String, String)]) -> Result<Self> {
        let chrono = super::datetime_pattern::chrono_format;
        Ok(Self {
            timestamp_format: chrono(
                option(options, "timestampFormat").unwrap_or("yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
            )?,
            date_format: chrono(option(options, "dateFormat").unwrap_or("yyyy-MM-dd"))?,
            ignore_null_fields: option(options, "ignoreNullFields")
                .is_none_or(|v| !v.eq_ignore_ascii_case("false")),
            sort_keys: option(options, "sortKeys").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            format: HiveFormat::cast_to_string(),
        })
    }

    /// A map key as Spark names it in JSON: its text; a struct key as `[field,...]` (the
    /// row's `toString`).
    fn map_key(&self, keys: &ArrayRef, j: usize) -> String {
        match keys.data_type() {
            DataType::Struct(_) => {
                let row = keys.as_struct();
                let fields: Vec<String> = row
                    .columns()
                    .iter()
                    .map(|c| self.format.value(c, j, false))
                    .collect();
                format!("[{}]", fields.join(","))
            }
            _ => self.format.value(keys, j, false),
        }
    }

    /// A date or timestamp as the options format it (`None` for other types).
    pub(crate) fn datetime_text(&self, array: &ArrayRef, i: usize) -> Result<Option<String>> {
        Ok(Some(match array.data_type() {
            DataType::Date32 => {
                let days = array
                    .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                    .value(i);
                let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                    .ok_or_else(|| DataFusionError::Execution(format!("bad date {days}")))?;
                date.format(&self.date_format).to_string()
            }
            DataType::Timestamp(unit, _) => {
                let value = ScalarValue::try_from_array(array, i)?;
                let nanos = match (unit, value) {
                    (TimeUnit::Second, ScalarValue::TimestampSecond(Some(v), _)) => {
                        v * 1_000_000_000
                    }
                    (TimeUnit::Millisecond, ScalarValue::TimestampMillisecond(Some(v), _)) => {
                        v * 1_000_000
                    }
                    (TimeUnit::Microsecond, ScalarValue::TimestampMicrosecond(Some(v), _)) => {
                        v * 1000
                    }
                    (TimeUnit::Nanosecond, ScalarValue::TimestampNanosecond(Some(v), _)) => v,
                    _ => return exec_err!("unexpected timestamp"),
                };
                let time = chrono::DateTime::from_timestamp_nanos(nanos);
                time.format(&self.timestamp_format).to_string()
            }
            _ => return Ok(None),
        }))
    }

    /// Writes row `i` of `array` as JSON.
    fn write(&self, out: &mut String, array: &ArrayRef, i: usize) -> Result<()> {
        if array.is_null(i) {
            out.push_str("null");
            return Ok(());
        }
        match array.data_type() {
            DataType::Boolean => out.push_str(if array.as_boolean().value(i) {
                "true"
            } else {
                "false"
            }),
            DataType::Float64 => {
                let v = array
                    .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .value(i);
                if v.is_finite() {
                    out.push_str(&java_double(v));
                } else {
                    write_string(out, &java_double(v));
                }
            }
            DataType::Float32 => {
                let v = array
                    .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                    .value(i);
                if v.is_finite() {
                    out.push_str(&java_float(v));
                } else {
                    write_string(out, &java_float(v));
                }
            }
            t if t.is_integer() || t.is_decimal() => {
                out.push_str(&self.format.value(array, i, false));
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                write_string(out, &self.format.value(array, i, false));
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                use base64::Engine;
                let bytes = ScalarValue::try_from_array(array, i)?;
                let bytes = super::row::bytes(&bytes).unwrap_or_default();
                write_string(
                    out,
                    &base64::engine::general_purpose::STANDARD.encode(bytes),
                );
            }
            DataType::Date32 | DataType::Timestamp(..) => {
                let text = self.datetime_text(array, i)?.unwrap_or_default();
                write_string(out, &text);
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                let value = ScalarValue::try_from_array(array, i)?;
                let items = match value {
                    ScalarValue::List(list) => list.value(0),
                    ScalarValue::LargeList(list) => list.value(0),
                    ScalarValue::FixedSizeList(list) => list.value(0),
                    _ => return exec_err!("to_json: unexpected list"),
                };
                out.push('[');
                for j in 0..items.len() {
                    if j > 0 {
                        out.push(',');
                    }
                    self.write(out, &items, j)?;
                }
                out.push(']');
            }
            DataType::Struct(fields) => {
                let row = array.as_struct();
                let mut order: Vec<usize> = (0..fields.len()).collect();
                if self.sort_keys {
                    order.sort_by(|a, b| fields[*a].name().cmp(fields[*b].name()));
                }
                out.push('{');
                let mut first = true;
                for f in order {
                    let column = row.column(f);
                    if column.is_null(i) && self.ignore_null_fields {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_string(out, fields[f].name());
                    out.push(':');
                    self.write(out, column, i)?;
                }
                out.push('}');
            }
            DataType::Map(..) => {
                let map = array.as_map();
                let entries = map.value(i);
                let (keys, values) = (entries.column(0), entries.column(1));
                let mut order: Vec<(String, usize)> = (0..entries.len())
                    .map(|j| (self.map_key(keys, j), j))
                    .collect();
                if self.sort_keys {
                    order.sort();
                }
                out.push('{');
                for (n, (key, j)) in order.into_iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    write_string(out, &key);
                    out.push(':');
                    self.write(out, values, j)?;
                }
                out.push('}');
            }
            DataType::Null => out.push_str("null"),
            other => {
                let _ = other;
                write_string(out, &self.format.value(array, i, false));
            }
        }
        Ok(())
    }
}

fn to_json(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let options = options(args.get(1));
    let writer = JsonWriter::new(&options)?;
    let array = args[0].to_array()?;
    if super::variant::is_variant(array.data_type()) {
        return Ok(ScalarValue::Utf8(Some(super::variant::variant_json(
            &array, 0,
        ))));
    }
    if !matches!(
        array.data_type(),
        DataType::Struct(_) | DataType::Map(..) | DataType::List(_) | DataType::LargeList(_)
    ) {
        return exec_err!(
            "[DATATYPE_MISMATCH.INVALID_JSON_SCHEMA] Cannot resolve \"to_json\" due to data \
             type mismatch: Input schema {} must be a struct, an array, a map or a variant.",
            super::spark_type_name(array.data_type()).to_uppercase()
        );
    }
    let mut out = String::new();
    writer.write(&mut out, &array, 0)?;
    Ok(ScalarValue::Utf8(Some(out)))
}

fn from_json(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    let schema = context.return_type;
    let options = options(args.get(2));
    let Some(json) = text(&args[0]) else {
        return ScalarValue::try_from(schema);
    };
    let reader = JsonToValue::new(&options)?;
    if json.trim().is_empty() {
        return ScalarValue::try_from(schema);
    }
    let json = unquoted_names_read(json, &options);
    let json = json.as_ref();
    match (read_json(json), schema) {
        (Some(value @ Json::Object(_)), DataType::Struct(_)) => reader.value(&value, schema),
        // PERMISSIVE: a record that is not an object is a row of NULL fields.
        (_, DataType::Struct(fields)) => reader.null_struct(fields),
        (Some(value), _) => reader.value(&value, schema),
        (None, _) => ScalarValue::try_from(schema),
    }
}

/// `json` as a value of `data_type`, as `from_json` converts it.
pub(crate) fn json_value(json: &Json, data_type: &DataType) -> Result<ScalarValue> {
    JsonToValue::new(&[])?.value(json, data_type)
}

/// `json` as a value of `data_type`, with `from_json`'s options (`timestampFormat`).
pub(crate) fn json_value_with(
    json: &Json,
    data_type: &DataType,
    options: &[(String, String)],
) -> Result<ScalarValue> {
    JsonToValue::new(options)?.value(json, data_type)
}

/// Converts read JSON into values of a schema, as `from_json` does.
struct JsonToValue {
    timestamp_format: Option<String>,
}

impl JsonToValue {
    fn new(options: &[(String, String)]) -> Result<Self> {
        Ok(Self {
            timestamp_format: option(options, "timestampFormat")
                .map(super::datetime_pattern::chrono_format)
                .transpose()?,
        })
    }

    fn null_struct(&self, fields: &Fields) -> Result<ScalarValue> {
        let mut builder = ScalarStructBuilder::new();
        for field in fields.iter() {
            builder =
                builder.with_scalar(Arc::clone(field), ScalarValue::try_from(field.data_type())?);
        }
        builder.build()
    }

    /// `json` as a value of `data_type`; NULL where it does not fit.
    fn value(&self, json: &Json, data_type: &DataType) -> Result<ScalarValue> {
        let null = || ScalarValue::try_from(data_type);
        Ok(match (json, data_type) {
            (Json::Null, _) => null()?,
            (Json::Bool(b), DataType::Boolean) => ScalarValue::Boolean(Some(*b)),
            (Json::Number(n), t) if t.is_integer() && !n.contains(['.', 'e', 'E']) => {
                match n.parse::<i64>() {
                    Ok(v) => ScalarValue::Int64(Some(v)).cast_to(t).or_else(|_| null())?,
                    Err(_) => null()?,
                }
            }
            (Json::Number(n), DataType::Float64) => ScalarValue::Float64(n.parse().ok()),
            (Json::Number(n), DataType::Float32) => ScalarValue::Float32(n.parse().ok()),
            (Json::Number(n), DataType::Decimal128(..))
            | (Json::String(n), DataType::Decimal128(..)) => ScalarValue::Utf8(Some(n.clone()))
                .cast_to(data_type)
                .or_else(|_| null())?,
            (Json::String(s), DataType::Utf8) => ScalarValue::Utf8(Some(s.clone())),
            (other, DataType::Utf8) => {
                let mut text = String::new();
                write_json(&mut text, other);
                ScalarValue::Utf8(Some(text))
            }
            (Json::String(s), DataType::Date32) => ScalarValue::Utf8(Some(s.clone()))
                .cast_to(data_type)
                .or_else(|_| null())?,
            (Json::String(s), DataType::Timestamp(unit, zone)) => {
                let parsed = match &self.timestamp_format {
                    Some(format) => chrono::NaiveDateTime::parse_from_str(s, format)
                        .ok()
                        .or_else(|| {
                            chrono::NaiveDate::parse_from_str(s, format)
                                .ok()
                                .and_then(|d| d.and_hms_opt(0, 0, 0))
                        }),
                    None => s
                        .parse::<chrono::NaiveDateTime>()
                        .ok()
                        .or_else(|| {
                            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()
                        })
                        .or_else(|| {
                            s.parse::<chrono::NaiveDate>()
                                .ok()
                                .and_then(|d| d.and_hms_opt(0, 0, 0))
                        }),
                };
                match parsed {
                    Some(time) => {
                        let micros = time.and_utc().timestamp_micros();
                        ScalarValue::TimestampMicrosecond(Some(micros), zone.clone())
                            .cast_to(&DataType::Timestamp(*unit, zone.clone()))?
                    }
                    None => null()?,
                }
            }
            (Json::Array(items), DataType::List(field)) => {
                let values = items
                    .iter()
                    .map(|item| self.value(item, field.data_type()))
                    .collect::<Result<Vec<_>>>()?;
                ScalarValue::List(ScalarValue::new_list_nullable(&values, field.data_type()))
            }
            (Json::Object(_), DataType::List(field))
                if matches!(field.data_type(), DataType::Struct(_)) =>
            {
                let value = self.value(json, field.data_type())?;
                ScalarValue::List(ScalarValue::new_list_nullable(&[value], field.data_type()))
            }
            (Json::Object(members), DataType::Struct(fields)) => {
                let mut builder = ScalarStructBuilder::new();
                for field in fields.iter() {
                    let value = match members.iter().rev().find(|(k, _)| k == field.name()) {
                        Some((_, v)) => self.value(v, field.data_type())?,
                        None => ScalarValue::try_from(field.data_type())?,
                    };
                    builder = builder.with_scalar(Arc::clone(field), value);
                }
                builder.build()?
            }
            (Json::Object(members), DataType::Map(entries, sorted)) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    return null();
                };
                let keys: Vec<ScalarValue> = members
                    .iter()
                    .map(|(k, _)| ScalarValue::Utf8(Some(k.clone())))
                    .collect();
                let values = members
                    .iter()
                    .map(|(_, v)| self.value(v, kv[1].data_type()))
                    .collect::<Result<Vec<_>>>()?;
                let key_array = if keys.is_empty() {
                    datafusion::arrow::array::new_empty_array(kv[0].data_type())
                } else {
                    ScalarValue::iter_to_array(keys)?
                };
                let value_array = if values.is_empty() {
                    datafusion::arrow::array::new_empty_array(kv[1].data_type())
                } else {
                    ScalarValue::iter_to_array(values)?
                };
                let struct_array =
                    StructArray::try_new(kv.clone(), vec![key_array, value_array], None)?;
                let offsets = OffsetBuffer::from_lengths([struct_array.len()]);
                let map =
                    MapArray::try_new(Arc::clone(entries), offsets, struct_array, None, *sorted)?;
                ScalarValue::Map(Arc::new(map))
            }
            _ => null()?,
        })
    }
}

/// The Spark type of a JSON value (`schema_of_json`'s inference).
#[derive(Debug, Clone, PartialEq)]
enum Inferred {
    String,
    Bigint,
    Double,
    Decimal(u8, i8),
    Boolean,
    Array(Box<Inferred>),
    Struct(Vec<(String, Inferred)>),
}

fn infer(json: &Json) -> Inferred {
    match json {
        Json::Null => Inferred::String,
        Json::Bool(_) => Inferred::Boolean,
        Json::String(_) => Inferred::String,
        Json::Number(n) if !n.contains(['.', 'e', 'E']) => {
            if n.parse::<i64>().is_ok() {
                Inferred::Bigint
            } else {
                let digits = n.trim_start_matches('-').len();
                if digits <= 38 {
                    Inferred::Decimal(digits as u8, 0)
                } else {
                    Inferred::Double
                }
            }
        }
        Json::Number(_) => Inferred::Double,
        Json::Array(items) => Inferred::Array(Box::new(
            items
                .iter()
                .map(infer)
                .reduce(merge)
                .unwrap_or(Inferred::String),
        )),
        Json::Object(fields) => {
            let mut merged: Vec<(String, Inferred)> = Vec::new();
            for (name, value) in fields {
                if name.is_empty() {
                    continue;
                }
                let value = infer(value);
                match merged.iter_mut().find(|(n, _)| n == name) {
                    Some((_, existing)) => *existing = merge(existing.clone(), value),
                    None => merged.push((name.clone(), value)),
                }
            }
            // Java's String.compareTo: UTF-16 code units.
            merged.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            Inferred::Struct(merged)
        }
    }
}

fn merge(a: Inferred, b: Inferred) -> Inferred {
    use Inferred::*;
    match (a, b) {
        (a, b) if a == b => a,
        (Bigint, Double) | (Double, Bigint) => Double,
        (Decimal(..), Double) | (Double, Decimal(..)) => Double,
        (Bigint, Decimal(p, s)) | (Decimal(p, s), Bigint) => {
            let whole = (p as i16 - s as i16).max(20);
            if whole + s as i16 > 38 {
                Double
            } else {
                Decimal((whole + s as i16) as u8, s)
            }
        }
        (Decimal(p1, s1), Decimal(p2, s2)) => {
            let scale = s1.max(s2);
            let whole = (p1 as i16 - s1 as i16).max(p2 as i16 - s2 as i16);
            if whole + scale as i16 > 38 {
                Double
            } else {
                Decimal((whole + scale as i16) as u8, scale)
            }
        }
        (Array(a), Array(b)) => Array(Box::new(merge(*a, *b))),
        (Struct(a), Struct(b)) => {
            let mut fields = a;
            for (name, value) in b {
                match fields.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, existing)) => *existing = merge(existing.clone(), value),
                    None => fields.push((name, value)),
                }
            }
            fields.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            Struct(fields)
        }
        _ => String,
    }
}

/// A field name as Spark's `.sql` quotes it.
pub(crate) fn sql_name(name: &str) -> std::string::String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.chars().all(|c| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn inferred_sql(t: &Inferred) -> std::string::String {
    match t {
        Inferred::String => "STRING".into(),
        Inferred::Bigint => "BIGINT".into(),
        Inferred::Double => "DOUBLE".into(),
        Inferred::Boolean => "BOOLEAN".into(),
        Inferred::Decimal(p, s) => format!("DECIMAL({p},{s})"),
        Inferred::Array(element) => format!("ARRAY<{}>", inferred_sql(element)),
        Inferred::Struct(fields) => format!(
            "STRUCT<{}>",
            fields
                .iter()
                .map(|(n, t)| format!("{}: {}", sql_name(n), inferred_sql(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The Spark SQL type (`STRUCT<a: BIGINT>`) `schema_of_json` infers for `json`.
pub(crate) fn schema_sql(json: &Json) -> std::string::String {
    inferred_sql(&infer(json))
}

/// The Spark SQL type (`STRUCT<...>`) Spark's JSON data source infers for `records`, one JSON
/// object each (fields merged over all records, sorted by name); `None` when no record is an
/// object.
pub fn infer_records_schema<'a>(records: impl IntoIterator<Item = &'a str>) -> Option<String> {
    records
        .into_iter()
        .filter_map(read_json)
        .filter(|json| matches!(json, Json::Object(_)))
        .map(|json| infer(&json))
        .reduce(merge)
        .map(|inferred| inferred_sql(&inferred))
}

pub(super) fn schema_of_json(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let Some(json) = text(&args[0]) else {
        return Ok(ScalarValue::Utf8(None));
    };
    let options = options(args.get(1));
    let leading_zeros = option(&options, "allowNumericLeadingZeros")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let cleaned;
    let json = if leading_zeros {
        cleaned = strip_leading_zeros(json);
        cleaned.as_str()
    } else {
        json
    };
    let json = unquoted_names_read(json, &options);
    let json = json.as_ref();
    let Some(value) = read_json(json) else {
        return exec_err!(
            "[MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION] Malformed records are detected in \
             record parsing: {json}."
        );
    };
    Ok(ScalarValue::Utf8(Some(inferred_sql(&infer(&value)))))
}

/// `01` as `1` outside strings (the `allowNumericLeadingZeros` option).
/// `json` as the reader takes it under `options`: unquoted field names quoted when
/// `allowUnquotedFieldNames` is on.
fn unquoted_names_read<'a>(
    json: &'a str,
    options: &[(std::string::String, std::string::String)],
) -> std::borrow::Cow<'a, str> {
    if option(options, "allowUnquotedFieldNames").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        std::borrow::Cow::Owned(quote_field_names(json))
    } else {
        std::borrow::Cow::Borrowed(json)
    }
}

/// `json` with its unquoted field names quoted (`{a:1}` is `{"a":1}`): what Spark's
/// `allowUnquotedFieldNames` reads. Text inside strings is left alone.
fn quote_field_names(json: &str) -> std::string::String {
    let chars: Vec<char> = json.chars().collect();
    let mut out = std::string::String::with_capacity(json.len() + 8);
    let mut quote: Option<char> = None;
    // The last character outside a string that was not white space.
    let mut previous = ' ';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            i = copy_string_char(&chars, i, q, &mut quote, &mut out);
            continue;
        }
        let starts_name = c.is_ascii_alphabetic() || c == '_' || c == '$';
        if starts_name && matches!(previous, '{' | ',') {
            let end = (i..chars.len())
                .find(|&j| {
                    !(chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == '$')
                })
                .unwrap_or(chars.len());
            let after = (end..chars.len()).find(|&j| !chars[j].is_whitespace());
            if after.is_some_and(|j| chars[j] == ':') {
                out.push('"');
                out.extend(&chars[i..end]);
                out.push('"');
                previous = 'a';
                i = end;
                continue;
            }
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
        }
        if !c.is_whitespace() {
            previous = c;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Copies the character at `i` of a string quoted by `q` (with the one it escapes) to `out`,
/// ending the string at its closing quote; the index after what it copied.
fn copy_string_char(
    chars: &[char],
    i: usize,
    q: char,
    quote: &mut Option<char>,
    out: &mut std::string::String,
) -> usize {
    let c = chars[i];
    out.push(c);
    if c == '\\' {
        if let Some(next) = chars.get(i + 1) {
            out.push(*next);
            return i + 2;
        }
    } else if c == q {
        *quote = None;
    }
    i + 1
}

fn strip_leading_zeros(json: &str) -> std::string::String {
    let mut out = std::string::String::with_capacity(json.len());
    let mut quote: Option<char> = None;
    let mut previous_is_boundary = true;
    let chars: Vec<char> = json.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                i = copy_string_char(&chars, i, q, &mut quote, &mut out);
                continue;
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                    out.push(c);
                } else if c == '0'
                    && previous_is_boundary
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())
                {
                    // Drop the zero; the next digit starts the number.
                    i += 1;
                    continue;
                } else {
                    out.push(c);
                }
                previous_is_boundary = !c.is_ascii_alphanumeric() && c != '.';
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_field_names_are_quoted_outside_strings() {
        assert_eq!(quote_field_names("{a:123}"), r#"{"a":123}"#);
        assert_eq!(
            quote_field_names(r#"{ a : [true, {b_1: "x:y", c: false}], "d": 1}"#),
            r#"{ "a" : [true, {"b_1": "x:y", "c": false}], "d": 1}"#
        );
    }

    fn get(json: &str, path: &str) -> Option<std::string::String> {
        let mut out = Vec::new();
        let value = read_json(json)?;
        evaluate(&value, &json_path(path)?, Style::Raw, &mut out).then(|| out.concat())
    }

    #[test]
    fn paths_select_as_spark_selects() {
        assert_eq!(get(r#"{"a":"b"}"#, "$.a").as_deref(), Some("b"));
        assert_eq!(
            get(r#"[{"a":"b"},{"a":"c"}]"#, "$[0].a").as_deref(),
            Some("b")
        );
        assert_eq!(
            get(r#"[{"a":"b"},{"a":"c"}]"#, "$[*].a").as_deref(),
            Some(r#"["b","c"]"#)
        );
        assert_eq!(
            get(r#"{"a":{"b":[1,2.50]}}"#, "$.a").as_deref(),
            Some(r#"{"b":[1,2.5]}"#)
        );
        assert_eq!(get(r#"{"a":null}"#, "$.a"), None);
        assert_eq!(get(r#"{"a":1}"#, "$..a"), None);
    }

    #[test]
    fn schemas_are_inferred_as_spark_infers_them() {
        let schema = |json: &str| inferred_sql(&infer(&read_json(json).unwrap()));
        assert_eq!(schema(r#"[{"col":0}]"#), "ARRAY<STRUCT<col: BIGINT>>");
        assert_eq!(
            schema(r#"{"b":[1, 2.5], "a": "x"}"#),
            "STRUCT<a: STRING, b: ARRAY<DOUBLE>>"
        );
        assert_eq!(strip_leading_zeros(r#"[{"col":01}]"#), r#"[{"col":1}]"#);
    }
}
