//! Spark's VARIANT: semi-structured values in the Parquet variant binary encoding (Spark's
//! own), held in Arrow as `struct<metadata: binary, value: binary>`, and the functions on
//! them: `parse_json`/`try_parse_json`, `variant_get`/`try_variant_get`, `is_variant_null`,
//! `schema_of_variant`, `to_variant_object`, `variant_set`, `variant_insert`,
//! `variant_delete`, `variant_array_append` (and their `try_` forms),
//! `variant_strip_nulls`, `is_valid_variant`. A variant prints as JSON.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::json::{Json, read_json_exact, sql_name, write_string};
use super::row::returns::{boolean, string};
use super::row::{RowContext, RowFunction, arity, decimal_text, text};
use crate::display::java_double;

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("parse_json", one_text, variant, parse_json).udf(),
        RowFunction::new("try_parse_json", one_text, variant, try_parse_json).udf(),
        RowFunction::new("variant_get", get_types, variant, variant_get)
            .returns_from_literals(get_type)
            .udf(),
        RowFunction::new("try_variant_get", get_types, variant, try_variant_get)
            .returns_from_literals(get_type)
            .udf(),
        RowFunction::new("is_variant_null", one_variant, boolean, is_variant_null)
            .lenient()
            .udf(),
        RowFunction::new("is_valid_variant", one_variant, boolean, |args, _| {
            Ok(ScalarValue::Boolean(Some(decode_scalar(&args[0]).is_ok())))
        })
        .udf(),
        RowFunction::new("schema_of_variant", one_variant, string, schema_of_variant).udf(),
        RowFunction::new("to_variant_object", any_one, variant, to_variant_object).udf(),
        RowFunction::new("variant_strip_nulls", strip_types, variant, strip_nulls).udf(),
        RowFunction::new("variant_set", set_types, variant, |a, _| {
            edit(a, Edit::Set, false)
        })
        .udf(),
        RowFunction::new("try_variant_set", set_types, variant, |a, _| {
            edit(a, Edit::Set, true)
        })
        .udf(),
        RowFunction::new("variant_insert", edit_types, variant, |a, _| {
            edit(a, Edit::Insert, false)
        })
        .udf(),
        RowFunction::new("try_variant_insert", edit_types, variant, |a, _| {
            edit(a, Edit::Insert, true)
        })
        .udf(),
        RowFunction::new("variant_array_append", edit_types, variant, |a, _| {
            edit(a, Edit::Append, false)
        })
        .udf(),
        RowFunction::new("try_variant_array_append", edit_types, variant, |a, _| {
            edit(a, Edit::Append, true)
        })
        .udf(),
        RowFunction::new("variant_delete", delete_types, variant, variant_delete)
            .lenient()
            .udf(),
    ]
}

/// The Arrow type of a Spark VARIANT.
pub fn variant_type() -> DataType {
    DataType::Struct(variant_fields())
}

fn variant_fields() -> Fields {
    Fields::from(vec![
        Field::new("metadata", DataType::Binary, false),
        Field::new("value", DataType::Binary, false),
    ])
}

/// Whether `data_type` is a VARIANT.
pub fn is_variant(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Struct(fields)
        if fields.len() == 2
            && fields[0].name() == "metadata"
            && fields[1].name() == "value"
            && fields.iter().all(|f| f.data_type() == &DataType::Binary))
}

fn variant(_: &[DataType]) -> Result<DataType> {
    Ok(variant_type())
}

fn one_text(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("parse_json", types, 1, 1)?;
    Ok(vec![DataType::Utf8])
}

fn expect_variant(t: &DataType, function: &str) -> Result<DataType> {
    if is_variant(t) || t.is_null() {
        Ok(variant_type())
    } else {
        plan_err!(
            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \"{function}\" due to data \
             type mismatch: the first parameter requires the \"VARIANT\" type, however it has \
             the type \"{}\".",
            super::spark_type_name(t).to_uppercase()
        )
    }
}

fn one_variant(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("is_variant_null", types, 1, 1)?;
    Ok(vec![expect_variant(&types[0], "is_variant_null")?])
}

fn any_one(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_variant_object", types, 1, 1)?;
    Ok(types.to_vec())
}

fn strip_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("variant_strip_nulls", types, 1, 2)?;
    let mut out = vec![expect_variant(&types[0], "variant_strip_nulls")?];
    out.extend(types.get(1).map(|_| DataType::Boolean));
    Ok(out)
}

fn get_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("variant_get", types, 2, 3)?;
    let mut out = vec![expect_variant(&types[0], "variant_get")?, DataType::Utf8];
    out.extend(types.get(2).map(|_| DataType::Utf8));
    Ok(out)
}

/// `variant_get`'s type: the literal type name, else VARIANT.
fn get_type(_: &[DataType], literals: &[Option<&ScalarValue>]) -> Result<DataType> {
    match literals.get(2) {
        None => Ok(variant_type()),
        Some(literal) => match literal.and_then(text) {
            Some(name) if name.eq_ignore_ascii_case("variant") => Ok(variant_type()),
            Some(name) => {
                crate::ddl::parse_ddl(name).map_err(|e| DataFusionError::Plan(e.to_string()))
            }
            None => plan_err!("[INVALID_PARAMETER_VALUE] variant_get's type must be a literal"),
        },
    }
}

fn edit_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("variant_insert", types, 3, 3)?;
    Ok(vec![
        expect_variant(&types[0], "variant_insert")?,
        DataType::Utf8,
        types[2].clone(),
    ])
}

fn set_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("variant_set", types, 3, 4)?;
    let mut out = vec![
        expect_variant(&types[0], "variant_set")?,
        DataType::Utf8,
        types[2].clone(),
    ];
    out.extend(types.get(3).map(|_| DataType::Boolean));
    Ok(out)
}

fn delete_types(types: &[DataType]) -> Result<Vec<DataType>> {
    if types.len() < 2 {
        return plan_err!(
            "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `variant_delete` requires at least 2 \
             parameters but the actual number is {}.",
            types.len()
        );
    }
    let mut out = vec![expect_variant(&types[0], "variant_delete")?];
    out.extend(types[1..].iter().map(|_| DataType::Utf8));
    Ok(out)
}

/// A decoded variant value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Variant {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Float(f32),
    /// Unscaled value and scale.
    Decimal(i128, u8),
    String(String),
    Binary(Vec<u8>),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch; `true` for TIMESTAMP_NTZ.
    Timestamp(i64, bool),
    Array(Vec<Variant>),
    /// Fields in key order (as the encoding stores them).
    Object(Vec<(String, Variant)>),
}

fn malformed() -> DataFusionError {
    DataFusionError::Execution(
        "[MALFORMED_VARIANT] Variant binary is malformed. Please check the data source is \
         valid."
            .into(),
    )
}

/// Reads the little-endian unsigned integer of `size` bytes at `at`.
fn read_uint(bytes: &[u8], at: usize, size: usize) -> Result<usize> {
    let slice = bytes.get(at..at + size).ok_or_else(malformed)?;
    Ok(slice
        .iter()
        .rev()
        .fold(0usize, |acc, b| acc << 8 | usize::from(*b)))
}

/// The dictionary of a variant's metadata.
fn dictionary(metadata: &[u8]) -> Result<Vec<String>> {
    let header = *metadata.first().ok_or_else(malformed)?;
    if header & 0x0f != 1 {
        return Err(malformed());
    }
    let offset_size = usize::from(header >> 6) + 1;
    let size = read_uint(metadata, 1, offset_size)?;
    let offsets_at = 1 + offset_size;
    let strings_at = offsets_at + (size + 1) * offset_size;
    (0..size)
        .map(|i| {
            let start = read_uint(metadata, offsets_at + i * offset_size, offset_size)?;
            let end = read_uint(metadata, offsets_at + (i + 1) * offset_size, offset_size)?;
            let bytes = metadata
                .get(strings_at + start..strings_at + end)
                .ok_or_else(malformed)?;
            String::from_utf8(bytes.to_vec()).map_err(|_| malformed())
        })
        .collect()
}

/// Decodes the value at `at` of `value`.
fn decode(value: &[u8], at: usize, keys: &[String]) -> Result<Variant> {
    let header = *value.get(at).ok_or_else(malformed)?;
    let basic = header & 3;
    let info = usize::from(header >> 2);
    let body = at + 1;
    let fixed = |n: usize| value.get(body..body + n).ok_or_else(malformed);
    Ok(match basic {
        0 => match info {
            0 => Variant::Null,
            1 => Variant::Bool(true),
            2 => Variant::Bool(false),
            3 => Variant::Int(i64::from(fixed(1)?[0] as i8)),
            4 => Variant::Int(i64::from(i16::from_le_bytes(
                fixed(2)?.try_into().map_err(|_| malformed())?,
            ))),
            5 => Variant::Int(i64::from(i32::from_le_bytes(
                fixed(4)?.try_into().map_err(|_| malformed())?,
            ))),
            6 => Variant::Int(i64::from_le_bytes(
                fixed(8)?.try_into().map_err(|_| malformed())?,
            )),
            7 => Variant::Double(f64::from_le_bytes(
                fixed(8)?.try_into().map_err(|_| malformed())?,
            )),
            8..=10 => {
                let width = [4, 8, 16][info - 8];
                let bytes = fixed(1 + width)?;
                let scale = bytes[0];
                let mut raw = [0u8; 16];
                raw[..width].copy_from_slice(&bytes[1..]);
                if bytes[width] & 0x80 != 0 {
                    raw[width..].fill(0xff);
                }
                Variant::Decimal(i128::from_le_bytes(raw), scale)
            }
            11 => Variant::Date(i32::from_le_bytes(
                fixed(4)?.try_into().map_err(|_| malformed())?,
            )),
            12 | 13 => Variant::Timestamp(
                i64::from_le_bytes(fixed(8)?.try_into().map_err(|_| malformed())?),
                info == 13,
            ),
            14 => Variant::Float(f32::from_le_bytes(
                fixed(4)?.try_into().map_err(|_| malformed())?,
            )),
            15 | 16 => {
                let len = read_uint(value, body, 4)?;
                let bytes = value.get(body + 4..body + 4 + len).ok_or_else(malformed)?;
                if info == 15 {
                    Variant::Binary(bytes.to_vec())
                } else {
                    Variant::String(String::from_utf8(bytes.to_vec()).map_err(|_| malformed())?)
                }
            }
            _ => return Err(malformed()),
        },
        1 => {
            let bytes = value.get(body..body + info).ok_or_else(malformed)?;
            Variant::String(String::from_utf8(bytes.to_vec()).map_err(|_| malformed())?)
        }
        2 => {
            let offset_size = (info & 3) + 1;
            let id_size = ((info >> 2) & 3) + 1;
            let large = info & 0x10 != 0;
            let count_size = if large { 4 } else { 1 };
            let count = read_uint(value, body, count_size)?;
            let ids_at = body + count_size;
            let offsets_at = ids_at + count * id_size;
            let values_at = offsets_at + (count + 1) * offset_size;
            let mut fields = Vec::with_capacity(count);
            for i in 0..count {
                let id = read_uint(value, ids_at + i * id_size, id_size)?;
                let offset = read_uint(value, offsets_at + i * offset_size, offset_size)?;
                let key = keys.get(id).ok_or_else(malformed)?.clone();
                fields.push((key, decode(value, values_at + offset, keys)?));
            }
            Variant::Object(fields)
        }
        _ => {
            let offset_size = (info & 3) + 1;
            let large = info & 0x4 != 0;
            let count_size = if large { 4 } else { 1 };
            let count = read_uint(value, body, count_size)?;
            let offsets_at = body + count_size;
            let values_at = offsets_at + (count + 1) * offset_size;
            let mut items = Vec::with_capacity(count);
            for i in 0..count {
                let offset = read_uint(value, offsets_at + i * offset_size, offset_size)?;
                items.push(decode(value, values_at + offset, keys)?);
            }
            Variant::Array(items)
        }
    })
}

/// Encodes `variant` as `(metadata, value)`; objects' fields are stored in key order.
fn encode(variant: &Variant) -> (Vec<u8>, Vec<u8>) {
    let mut keys: Vec<String> = Vec::new();
    collect_keys(variant, &mut keys);
    keys.sort();
    keys.dedup();
    let mut metadata = vec![0b1101_0001u8]; // version 1, sorted, 4-byte offsets
    metadata.extend((keys.len() as u32).to_le_bytes());
    let mut offset = 0u32;
    metadata.extend(offset.to_le_bytes());
    for key in &keys {
        offset += key.len() as u32;
        metadata.extend(offset.to_le_bytes());
    }
    for key in &keys {
        metadata.extend(key.as_bytes());
    }
    let mut value = Vec::new();
    encode_value(variant, &keys, &mut value);
    (metadata, value)
}

fn collect_keys(variant: &Variant, keys: &mut Vec<String>) {
    match variant {
        Variant::Object(fields) => {
            for (key, value) in fields {
                keys.push(key.clone());
                collect_keys(value, keys);
            }
        }
        Variant::Array(items) => items.iter().for_each(|i| collect_keys(i, keys)),
        _ => {}
    }
}

fn encode_value(variant: &Variant, keys: &[String], out: &mut Vec<u8>) {
    let primitive = |id: u8| id << 2;
    match variant {
        Variant::Null => out.push(primitive(0)),
        Variant::Bool(true) => out.push(primitive(1)),
        Variant::Bool(false) => out.push(primitive(2)),
        Variant::Int(v) => {
            if let Ok(v) = i8::try_from(*v) {
                out.push(primitive(3));
                out.extend(v.to_le_bytes());
            } else if let Ok(v) = i16::try_from(*v) {
                out.push(primitive(4));
                out.extend(v.to_le_bytes());
            } else if let Ok(v) = i32::try_from(*v) {
                out.push(primitive(5));
                out.extend(v.to_le_bytes());
            } else {
                out.push(primitive(6));
                out.extend(v.to_le_bytes());
            }
        }
        Variant::Double(v) => {
            out.push(primitive(7));
            out.extend(v.to_le_bytes());
        }
        Variant::Float(v) => {
            out.push(primitive(14));
            out.extend(v.to_le_bytes());
        }
        Variant::Decimal(v, scale) => {
            let digits = v.unsigned_abs().to_string().len();
            let (id, width) = if digits <= 9 {
                (8, 4)
            } else if digits <= 18 {
                (9, 8)
            } else {
                (10, 16)
            };
            out.push(primitive(id));
            out.push(*scale);
            out.extend(&v.to_le_bytes()[..width]);
        }
        Variant::Date(days) => {
            out.push(primitive(11));
            out.extend(days.to_le_bytes());
        }
        Variant::Timestamp(micros, ntz) => {
            out.push(primitive(if *ntz { 13 } else { 12 }));
            out.extend(micros.to_le_bytes());
        }
        Variant::String(s) if s.len() < 64 => {
            out.push((s.len() as u8) << 2 | 1);
            out.extend(s.as_bytes());
        }
        Variant::String(s) => {
            out.push(primitive(16));
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s.as_bytes());
        }
        Variant::Binary(b) => {
            out.push(primitive(15));
            out.extend((b.len() as u32).to_le_bytes());
            out.extend(b);
        }
        Variant::Array(items) => {
            // Large, 4-byte offsets.
            out.push((0b111 << 2) | 3);
            out.extend((items.len() as u32).to_le_bytes());
            let mut bodies = Vec::new();
            let mut offsets = vec![0u32];
            for item in items {
                encode_value(item, keys, &mut bodies);
                offsets.push(bodies.len() as u32);
            }
            offsets.iter().for_each(|o| out.extend(o.to_le_bytes()));
            out.extend(bodies);
        }
        Variant::Object(fields) => {
            // Large, 4-byte ids and offsets; fields sorted by key.
            out.push((0b11111 << 2) | 2);
            let mut sorted: Vec<&(String, Variant)> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend((sorted.len() as u32).to_le_bytes());
            for (key, _) in &sorted {
                let id = keys.binary_search(key).unwrap_or(0) as u32;
                out.extend(id.to_le_bytes());
            }
            let mut bodies = Vec::new();
            let mut offsets = vec![0u32];
            for (_, value) in &sorted {
                encode_value(value, keys, &mut bodies);
                offsets.push(bodies.len() as u32);
            }
            offsets.iter().for_each(|o| out.extend(o.to_le_bytes()));
            out.extend(bodies);
        }
    }
}

/// A variant as a scalar value of [`variant_type`].
fn to_scalar(variant: &Variant) -> Result<ScalarValue> {
    let (metadata, value) = encode(variant);
    let fields = variant_fields();
    ScalarStructBuilder::new()
        .with_scalar(Arc::clone(&fields[0]), ScalarValue::Binary(Some(metadata)))
        .with_scalar(Arc::clone(&fields[1]), ScalarValue::Binary(Some(value)))
        .build()
}

/// The variant in row `row` of a variant array.
pub(crate) fn decode_row(array: &ArrayRef, row: usize) -> Result<Variant> {
    let parts = array.as_struct();
    let binary = |i: usize| -> Result<Vec<u8>> {
        let value = ScalarValue::try_from_array(parts.column(i), row)?;
        super::row::bytes(&value)
            .map(<[u8]>::to_vec)
            .ok_or_else(malformed)
    };
    let (metadata, value) = (binary(0)?, binary(1)?);
    decode(&value, 0, &dictionary(&metadata)?)
}

fn decode_scalar(value: &ScalarValue) -> Result<Variant> {
    decode_row(&value.to_array()?, 0)
}

/// A JSON document as a variant: integers are the smallest integer that holds them,
/// numbers with a fraction decimals (doubles beyond 38 digits or with an exponent).
fn from_json(json: Json) -> Result<Variant> {
    Ok(match json {
        Json::Null => Variant::Null,
        Json::Bool(b) => Variant::Bool(b),
        Json::String(s) => Variant::String(s),
        Json::Number(n) => number(&n),
        Json::Array(items) => {
            Variant::Array(items.into_iter().map(from_json).collect::<Result<_>>()?)
        }
        Json::Object(fields) => {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::with_capacity(fields.len());
            for (key, value) in fields {
                if !seen.insert(key.clone()) {
                    return exec_err!(
                        "[VARIANT_DUPLICATE_KEY] Failed to build variant because of a duplicate \
                         object key `{key}`."
                    );
                }
                out.push((key, from_json(value)?));
            }
            Variant::Object(out)
        }
    })
}

fn number(text: &str) -> Variant {
    if !text.contains(['.', 'e', 'E'])
        && let Ok(v) = text.parse::<i64>()
    {
        return Variant::Int(v);
    }
    if !text.contains(['e', 'E']) {
        let negative = text.starts_with('-');
        let unsigned = text.trim_start_matches('-');
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = format!("{}{fraction}", whole.trim_start_matches('0'));
        let significant = digits.trim_start_matches('0').len().max(fraction.len());
        if significant <= 38
            && let Ok(unscaled) = format!("{whole}{fraction}").parse::<i128>()
        {
            let unscaled = if negative { -unscaled } else { unscaled };
            return Variant::Decimal(unscaled, fraction.len() as u8);
        }
    }
    Variant::Double(text.parse().unwrap_or(f64::NAN))
}

/// Writes a variant as JSON, as Spark prints one.
pub(crate) fn write_variant(out: &mut String, variant: &Variant) {
    match variant {
        Variant::Null => out.push_str("null"),
        Variant::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Variant::Int(v) => out.push_str(&v.to_string()),
        Variant::Double(v) if v.is_finite() => out.push_str(&java_double(*v)),
        Variant::Double(v) => write_string(out, &java_double(*v)),
        Variant::Float(v) => out.push_str(&crate::display::java_float(*v)),
        Variant::Decimal(v, scale) => out.push_str(&decimal_text(*v, *scale as i8)),
        Variant::String(s) => write_string(out, s),
        Variant::Binary(b) => {
            use base64::Engine;
            write_string(out, &base64::engine::general_purpose::STANDARD.encode(b));
        }
        Variant::Date(days) => {
            let date = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163);
            write_string(out, &date.map(|d| d.to_string()).unwrap_or_default());
        }
        Variant::Timestamp(micros, ntz) => {
            let time = chrono::DateTime::from_timestamp_micros(*micros)
                .map(|t| {
                    let text = t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string();
                    if *ntz { text } else { format!("{text}+00:00") }
                })
                .unwrap_or_default();
            write_string(out, &time);
        }
        Variant::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_variant(out, item);
            }
            out.push(']');
        }
        Variant::Object(fields) => {
            out.push('{');
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_variant(out, value);
            }
            out.push('}');
        }
    }
}

/// The JSON text of row `row` of a variant array.
pub(crate) fn variant_json(array: &ArrayRef, row: usize) -> String {
    match decode_row(array, row) {
        Ok(variant) => {
            let mut out = String::new();
            write_variant(&mut out, &variant);
            out
        }
        Err(error) => error.to_string(),
    }
}

fn parse(args: &[ScalarValue]) -> Result<Option<Variant>> {
    let Some(json) = text(&args[0]) else {
        return Ok(None);
    };
    match read_json_exact(json) {
        Some(value) => from_json(value).map(Some),
        None => exec_err!(
            "[MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION] Malformed records are detected in \
             record parsing: {json}. Parse Mode: FAILFAST. To process malformed records as null \
             result, try setting the option 'mode' as 'PERMISSIVE'."
        ),
    }
}

fn parse_json(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    match parse(args)? {
        Some(variant) => to_scalar(&variant),
        None => ScalarValue::try_from(variant_type()),
    }
}

fn try_parse_json(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    match parse(args).ok().flatten() {
        Some(variant) => to_scalar(&variant),
        None => ScalarValue::try_from(variant_type()),
    }
}

/// One step of a variant path: `.key`, `['key']` or `[n]`.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn variant_path(path: &str, function: &str) -> Result<Vec<Step>> {
    let invalid = || {
        DataFusionError::Execution(format!(
            "[INVALID_VARIANT_GET_PATH] The path `{path}` is not a valid variant extraction path \
             in `{function}`. A valid path should start with `$` and is followed by zero or more \
             segments like `[123]`, `.name`, `['name']`, or `[\"name\"]`."
        ))
    };
    let mut rest = path.strip_prefix('$').ok_or_else(invalid)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return Err(invalid());
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let quote = if rest.starts_with("['") { "']" } else { "\"]" };
            let end = after.find(quote).ok_or_else(invalid)?;
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(invalid)?;
            steps.push(Step::Index(after[..end].parse().map_err(|_| invalid())?));
            rest = &after[end + 1..];
        } else {
            return Err(invalid());
        }
    }
    Ok(steps)
}

fn lookup<'a>(variant: &'a Variant, steps: &[Step]) -> Option<&'a Variant> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(variant);
    };
    let next = match (variant, step) {
        (Variant::Object(fields), Step::Key(key)) => {
            fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)?
        }
        (Variant::Array(items), Step::Index(i)) => items.get(*i)?,
        _ => return None,
    };
    lookup(next, rest)
}

/// A variant as JSON text's tree, for conversion to other types.
fn to_json_tree(variant: &Variant) -> Json {
    match variant {
        Variant::Null => Json::Null,
        Variant::Bool(b) => Json::Bool(*b),
        Variant::Int(v) => Json::Number(v.to_string()),
        Variant::Decimal(v, s) => Json::Number(decimal_text(*v, *s as i8)),
        Variant::Double(v) => Json::Number(java_double(*v)),
        Variant::Float(v) => Json::Number(crate::display::java_float(*v)),
        Variant::String(s) => Json::String(s.clone()),
        Variant::Array(items) => Json::Array(items.iter().map(to_json_tree).collect()),
        Variant::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json_tree(v)))
                .collect(),
        ),
        other => {
            let mut text = String::new();
            write_variant(&mut text, other);
            Json::String(text.trim_matches('"').to_string())
        }
    }
}

fn get(args: &[ScalarValue], context: &RowContext, lenient: bool) -> Result<ScalarValue> {
    let target = context.return_type;
    let null = || ScalarValue::try_from(target);
    let (Some(path), Ok(variant)) = (text(&args[1]), decode_scalar(&args[0])) else {
        return null();
    };
    let steps = variant_path(path, "variant_get")?;
    let Some(found) = lookup(&variant, &steps) else {
        return null();
    };
    if is_variant(target) {
        return to_scalar(found);
    }
    if *found == Variant::Null {
        return null();
    }
    let value = match (found, target) {
        (Variant::String(s), DataType::Utf8) => ScalarValue::Utf8(Some(s.clone())),
        (other, DataType::Utf8) => {
            let mut text = String::new();
            write_variant(&mut text, other);
            ScalarValue::Utf8(Some(text))
        }
        (Variant::String(s), t)
            if !matches!(
                t,
                DataType::Struct(_) | DataType::List(_) | DataType::Map(..)
            ) =>
        {
            ScalarValue::Utf8(Some(s.clone()))
                .cast_to(t)
                .unwrap_or(ScalarValue::try_from(t)?)
        }
        (Variant::Decimal(v, s), t) if t.is_integer() || t.is_floating() => {
            ScalarValue::Decimal128(Some(*v), 38, *s as i8)
                .cast_to(t)
                .unwrap_or(ScalarValue::try_from(t)?)
        }
        (other, t) => super::json::json_value(&to_json_tree(other), t)?,
    };
    if value.is_null() && !lenient {
        let mut text = String::new();
        write_variant(&mut text, found);
        return exec_err!(
            "[INVALID_VARIANT_CAST] The variant value `{text}` cannot be cast into `{}`. Please \
             use `try_variant_get` instead. SQLSTATE: 22023",
            super::spark_type_name(target).to_uppercase()
        );
    }
    Ok(value)
}

fn variant_get(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    get(args, context, false)
}

fn try_variant_get(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    get(args, context, true)
}

fn is_variant_null(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    if args[0].is_null() {
        return Ok(ScalarValue::Boolean(Some(false)));
    }
    Ok(ScalarValue::Boolean(Some(
        decode_scalar(&args[0])? == Variant::Null,
    )))
}

/// The Spark type of a variant's value (`schema_of_variant`).
fn variant_schema(variant: &Variant) -> String {
    match variant {
        Variant::Null => "VOID".into(),
        Variant::Bool(_) => "BOOLEAN".into(),
        Variant::Int(_) => "BIGINT".into(),
        Variant::Double(_) => "DOUBLE".into(),
        Variant::Float(_) => "FLOAT".into(),
        Variant::Decimal(v, s) => {
            let digits = v.unsigned_abs().to_string().len() as u8;
            format!("DECIMAL({},{s})", digits.max(*s))
        }
        Variant::String(_) => "STRING".into(),
        Variant::Binary(_) => "BINARY".into(),
        Variant::Date(_) => "DATE".into(),
        Variant::Timestamp(_, true) => "TIMESTAMP_NTZ".into(),
        Variant::Timestamp(_, false) => "TIMESTAMP".into(),
        Variant::Array(items) => {
            let element = items
                .iter()
                .map(variant_schema)
                .reduce(|a, b| {
                    if a == b || b == "VOID" {
                        a
                    } else if a == "VOID" {
                        b
                    } else {
                        "VARIANT".into()
                    }
                })
                .unwrap_or_else(|| "VOID".into());
            format!("ARRAY<{element}>")
        }
        Variant::Object(fields) => format!(
            "OBJECT<{}>",
            fields
                .iter()
                .map(|(k, v)| format!("{}: {}", sql_name(k), variant_schema(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn schema_of_variant(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    Ok(ScalarValue::Utf8(Some(variant_schema(&decode_scalar(
        &args[0],
    )?))))
}

/// A SQL value as a variant.
fn from_value(array: &ArrayRef, row: usize) -> Result<Variant> {
    use datafusion::arrow::datatypes::*;
    if array.is_null(row) {
        return Ok(Variant::Null);
    }
    if is_variant(array.data_type()) {
        return decode_row(array, row);
    }
    Ok(match array.data_type() {
        DataType::Boolean => Variant::Bool(array.as_boolean().value(row)),
        DataType::Int8 => Variant::Int(i64::from(array.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => Variant::Int(i64::from(array.as_primitive::<Int16Type>().value(row))),
        DataType::Int32 => Variant::Int(i64::from(array.as_primitive::<Int32Type>().value(row))),
        DataType::Int64 => Variant::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => Variant::Float(array.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => Variant::Double(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, s) => Variant::Decimal(
            array.as_primitive::<Decimal128Type>().value(row),
            (*s).max(0) as u8,
        ),
        DataType::Date32 => Variant::Date(array.as_primitive::<Date32Type>().value(row)),
        DataType::Struct(fields) => {
            let parts = array.as_struct();
            Variant::Object(
                fields
                    .iter()
                    .zip(parts.columns())
                    .map(|(f, c)| Ok((f.name().clone(), from_value(c, row)?)))
                    .collect::<Result<_>>()?,
            )
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let format = crate::display::HiveFormat::cast_to_string();
            Variant::Object(
                (0..entries.len())
                    .map(|i| {
                        Ok((
                            format.value(entries.column(0), i, false),
                            from_value(entries.column(1), i)?,
                        ))
                    })
                    .collect::<Result<_>>()?,
            )
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let items = match ScalarValue::try_from_array(array, row)? {
                ScalarValue::List(l) => l.value(0),
                ScalarValue::LargeList(l) => l.value(0),
                ScalarValue::FixedSizeList(l) => l.value(0),
                _ => return Err(malformed()),
            };
            Variant::Array(
                (0..items.len())
                    .map(|i| from_value(&items, i))
                    .collect::<Result<_>>()?,
            )
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let value = ScalarValue::try_from_array(array, row)?;
            Variant::Binary(super::row::bytes(&value).unwrap_or_default().to_vec())
        }
        DataType::Timestamp(..) => {
            let value = ScalarValue::try_from_array(array, row)?
                .cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None))?;
            match value {
                // Flint's TIMESTAMP is Spark's TIMESTAMP (with local time zone).
                ScalarValue::TimestampMicrosecond(Some(v), _) => Variant::Timestamp(v, false),
                _ => Variant::Null,
            }
        }
        _ => Variant::String(crate::display::HiveFormat::cast_to_string().value(array, row, false)),
    })
}

fn to_variant_object(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    to_scalar(&from_value(&args[0].to_array()?, 0)?)
}

fn strip(variant: Variant, in_arrays: bool) -> Variant {
    match variant {
        Variant::Object(fields) => Variant::Object(
            fields
                .into_iter()
                .filter(|(_, v)| *v != Variant::Null)
                .map(|(k, v)| (k, strip(v, in_arrays)))
                .collect(),
        ),
        Variant::Array(items) => Variant::Array(
            items
                .into_iter()
                .filter(|v| !in_arrays || *v != Variant::Null)
                .map(|v| strip(v, in_arrays))
                .collect(),
        ),
        other => other,
    }
}

fn strip_nulls(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let in_arrays = !matches!(args.get(1), Some(ScalarValue::Boolean(Some(false))));
    to_scalar(&strip(decode_scalar(&args[0])?, in_arrays))
}

#[derive(Clone, Copy, PartialEq)]
enum Edit {
    Set,
    Insert,
    Append,
}

fn edit_error(function: &str, reason: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[INVALID_VARIANT_PATH_OPERATION] Cannot apply `{function}`: {reason}. SQLSTATE: 22023"
    ))
}

/// Applies `edit` of `value` at `steps` in `variant`. `create` makes missing object fields
/// and pads arrays with NULLs (`variant_set`'s last argument).
fn apply(
    variant: &mut Variant,
    steps: &[Step],
    value: &Variant,
    edit: Edit,
    create: bool,
) -> std::result::Result<(), &'static str> {
    let Some((step, rest)) = steps.split_first() else {
        return match edit {
            Edit::Set => {
                *variant = value.clone();
                Ok(())
            }
            Edit::Insert => Err("the path already exists"),
            Edit::Append => match variant {
                Variant::Array(items) => {
                    items.push(value.clone());
                    Ok(())
                }
                _ => Err("the value at the path is not an array"),
            },
        };
    };
    match (variant, step) {
        (Variant::Object(fields), Step::Key(key)) => {
            if let Some((_, child)) = fields.iter_mut().find(|(k, _)| k == key) {
                return apply(child, rest, value, edit, create);
            }
            if edit == Edit::Append || !create {
                return Ok(());
            }
            fields.push((key.clone(), build(rest, value)));
            Ok(())
        }
        (Variant::Array(items), Step::Index(i)) => {
            if *i < items.len() {
                if rest.is_empty() && edit == Edit::Insert {
                    items.insert(*i, value.clone());
                    return Ok(());
                }
                return apply(&mut items[*i], rest, value, edit, create);
            }
            if edit == Edit::Append || !create {
                return Ok(());
            }
            items.resize(*i, Variant::Null);
            items.push(build(rest, value));
            Ok(())
        }
        _ => Err("the path does not match the value's structure"),
    }
}

/// The value made for a missing path: objects for keys, arrays for indexes.
fn build(steps: &[Step], value: &Variant) -> Variant {
    match steps.split_first() {
        None => value.clone(),
        Some((Step::Key(key), rest)) => Variant::Object(vec![(key.clone(), build(rest, value))]),
        Some((Step::Index(i), rest)) => {
            let mut items = vec![Variant::Null; *i];
            items.push(build(rest, value));
            Variant::Array(items)
        }
    }
}

fn edit(args: &[ScalarValue], edit: Edit, lenient: bool) -> Result<ScalarValue> {
    let function = match edit {
        Edit::Set => "variant_set",
        Edit::Insert => "variant_insert",
        Edit::Append => "variant_array_append",
    };
    let null = || ScalarValue::try_from(variant_type());
    let Some(path) = text(&args[1]) else {
        return null();
    };
    let mut variant = decode_scalar(&args[0])?;
    let value = from_value(&args[2].to_array()?, 0)?;
    let create = !matches!(args.get(3), Some(ScalarValue::Boolean(Some(false))));
    let steps = match variant_path(path, function) {
        Ok(steps) => steps,
        Err(_) if lenient => return null(),
        Err(error) => return Err(error),
    };
    match apply(&mut variant, &steps, &value, edit, create) {
        Ok(()) => to_scalar(&variant),
        Err(_) if lenient => null(),
        Err(reason) => Err(edit_error(function, reason)),
    }
}

fn variant_delete(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    if args[0].is_null() {
        return ScalarValue::try_from(variant_type());
    }
    let mut variant = decode_scalar(&args[0])?;
    for path in args[1..].iter().filter_map(text) {
        let steps = variant_path(path, "variant_delete")?;
        delete(&mut variant, &steps);
    }
    to_scalar(&variant)
}

fn delete(variant: &mut Variant, steps: &[Step]) {
    let Some((step, rest)) = steps.split_first() else {
        return;
    };
    match (variant, step) {
        (Variant::Object(fields), Step::Key(key)) => {
            if rest.is_empty() {
                fields.retain(|(k, _)| k != key);
            } else if let Some((_, child)) = fields.iter_mut().find(|(k, _)| k == key) {
                delete(child, rest);
            }
        }
        (Variant::Array(items), Step::Index(i)) if *i < items.len() => {
            if rest.is_empty() {
                items.remove(*i);
            } else {
                delete(&mut items[*i], rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_round_trip_through_the_binary_encoding() {
        let json = r#"{"b":[1,300,70000,5000000000,"x",null,true],"a":{"c":0.80,"d":1.5e3}}"#;
        let variant = from_json(read_json_exact(json).unwrap()).unwrap();
        let (metadata, value) = encode(&variant);
        let decoded = decode(&value, 0, &dictionary(&metadata).unwrap()).unwrap();
        let mut out = String::new();
        write_variant(&mut out, &decoded);
        assert_eq!(
            out,
            r#"{"a":{"c":0.80,"d":1500.0},"b":[1,300,70000,5000000000,"x",null,true]}"#
        );
        assert_eq!(
            variant_schema(&decoded),
            "OBJECT<a: OBJECT<c: DECIMAL(2,2), d: DOUBLE>, b: ARRAY<VARIANT>>"
        );
    }
}
