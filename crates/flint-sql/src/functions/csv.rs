//! Spark's CSV functions on one record: `from_csv` (a DDL schema), `to_csv` and
//! `schema_of_csv`. Options: `sep` (`,`), `timestampFormat`, `dateFormat`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ScalarUDF;

use super::json::{
    Json, JsonWriter, from_json_type_of_schema, from_json_types, json_value_with, option, options,
};
use super::row::returns::string;
use super::row::{RowContext, RowFunction, arity, text};
use crate::display::HiveFormat;

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("from_csv", from_json_types, string, from_csv)
            .returns_from_literals(from_type)
            .udf(),
        RowFunction::new("to_csv", to_types, string, to_csv).udf(),
        RowFunction::new("schema_of_csv", schema_types, string, schema_of_csv).udf(),
    ]
}

fn to_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("to_csv", types, 1, 2)?;
    if !matches!(types[0], DataType::Struct(_)) {
        return plan_err!(
            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \"to_csv\" due to data \
             type mismatch: the input must be a struct."
        );
    }
    Ok(types.to_vec())
}

fn schema_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("schema_of_csv", types, 1, 2)?;
    let mut out = vec![DataType::Utf8];
    out.extend(types.get(1).cloned());
    Ok(out)
}

/// `from_csv`'s type: its literal schema, which must be a struct.
fn from_type(types: &[DataType], literals: &[Option<&ScalarValue>]) -> Result<DataType> {
    match from_json_type_of_schema(types, literals)? {
        t @ DataType::Struct(_) => Ok(t),
        other => {
            plan_err!("[INVALID_SCHEMA.NON_STRUCT_TYPE] The input schema is not a struct: {other}")
        }
    }
}

fn separator(options: &[(String, String)]) -> String {
    option(options, "sep")
        .or_else(|| option(options, "delimiter"))
        .unwrap_or(",")
        .to_string()
}

/// The fields of one CSV record as Spark's reader splits it: `"` quotes a field (which may
/// then hold the separator), `\` escapes a quote inside one; `ignoreLeadingWhiteSpace` and
/// `ignoreTrailingWhiteSpace` trim the fields.
fn split_record(record: &str, options: &[(String, String)]) -> Result<Vec<String>> {
    let separator = separator(options);
    let [separator] = separator.as_bytes() else {
        return exec_err!(
            "[INVALID_PARAMETER_VALUE] `sep` must be one character, got '{separator}'"
        );
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(*separator)
        .escape(Some(b'\\'))
        .flexible(true)
        .from_reader(record.as_bytes());
    let flag = |name: &str| option(options, name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (leading, trailing) = (
        flag("ignoreLeadingWhiteSpace"),
        flag("ignoreTrailingWhiteSpace"),
    );
    let trim = |field: &str| {
        let field = if leading { field.trim_start() } else { field };
        let field = if trailing { field.trim_end() } else { field };
        field.to_string()
    };
    match reader.records().next() {
        Some(Ok(row)) => Ok(row.iter().map(trim).collect()),
        Some(Err(error)) => exec_err!("[MALFORMED_RECORD_IN_PARSING] {error}"),
        None => Ok(vec![String::new()]),
    }
}

/// A CSV field as the JSON token `from_json` would convert to `data_type`.
///
/// Only floating-point fields may have spaces around the number (Java's
/// `Double.parseDouble` trims; integer and decimal parsing does not): `' 1'` is no `INT`.
fn field_token(field: &str, data_type: &DataType) -> Json {
    let trimmed = field.trim();
    let number = if data_type.is_floating() {
        trimmed
    } else {
        field
    };
    if data_type.is_numeric() && number.parse::<f64>().is_ok() {
        Json::Number(number.to_string())
    } else if *data_type == DataType::Boolean && trimmed.eq_ignore_ascii_case("true") {
        Json::Bool(true)
    } else if *data_type == DataType::Boolean && trimmed.eq_ignore_ascii_case("false") {
        Json::Bool(false)
    } else {
        Json::String(field.to_string())
    }
}

fn from_csv(args: &[ScalarValue], context: &RowContext) -> Result<ScalarValue> {
    let DataType::Struct(fields) = context.return_type else {
        return exec_err!("from_csv: the schema is not a struct");
    };
    let options = options(args.get(2));
    let record = text(&args[0]).unwrap_or_default();
    let values = split_record(record, &options)?;
    let mut builder = ScalarStructBuilder::new();
    for (i, field) in fields.iter().enumerate() {
        let value = match values.get(i) {
            Some(text) if !text.is_empty() => json_value_with(
                &field_token(text, field.data_type()),
                field.data_type(),
                &options,
            )?,
            _ => ScalarValue::try_from(field.data_type())?,
        };
        builder = builder.with_scalar(Arc::clone(field), value);
    }
    builder.build()
}

fn to_csv(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let options = options(args.get(1));
    let writer = JsonWriter::new(&options)?;
    let format = HiveFormat::cast_to_string();
    let array = args[0].to_array()?;
    let row = array.as_struct();
    let mut fields = Vec::with_capacity(row.num_columns());
    for column in row.columns() {
        let text = if column.is_null(0) {
            String::new()
        } else {
            match writer.datetime_text(column, 0)? {
                Some(text) => text,
                None => format.value(column, 0, false),
            }
        };
        // A field holding the separator, a quote or a line break is quoted, its quotes
        // escaped, as Spark's writer does.
        let separator = separator(&options);
        if text.contains(separator.as_str()) || text.contains(['"', '\n', '\r']) {
            fields.push(format!("\"{}\"", text.replace('"', "\\\"")));
        } else {
            fields.push(text);
        }
    }
    Ok(ScalarValue::Utf8(Some(fields.join(&separator(&options)))))
}

/// The type Spark infers for one CSV field.
fn infer(field: &str) -> &'static str {
    let field = field.trim();
    if field.parse::<i32>().is_ok() {
        "INT"
    } else if field.parse::<i64>().is_ok() {
        "BIGINT"
    } else if field.parse::<f64>().is_ok() && !field.chars().any(|c| c.is_alphabetic()) {
        "DOUBLE"
    } else if field.eq_ignore_ascii_case("true") || field.eq_ignore_ascii_case("false") {
        "BOOLEAN"
    } else {
        "STRING"
    }
}

pub(super) fn schema_of_csv(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    let options = options(args.get(1));
    let record = text(&args[0]).unwrap_or_default();
    let fields: Vec<String> = split_record(record, &options)?
        .iter()
        .enumerate()
        .map(|(i, field)| format!("_c{i}: {}", infer(field)))
        .collect();
    Ok(ScalarValue::Utf8(Some(format!(
        "STRUCT<{}>",
        fields.join(", ")
    ))))
}
