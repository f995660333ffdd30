//! Spark's data types as Connect messages (`spark.connect.DataType`) and as Arrow types,
//! both ways, and as the SQL type names a `CAST` is written with.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, IntervalUnit, Schema, TimeUnit};
use spark_connect::data_type::{self as dt, Kind};

use crate::error::ConnectError;

/// The Connect message of an Arrow type, by Spark's mapping (zone-less timestamps are
/// Spark's `TIMESTAMP`, as Flint's SQL types them).
pub fn to_connect(data_type: &DataType) -> spark_connect::DataType {
    let kind = match data_type {
        DataType::Null => Kind::Null(dt::Null::default()),
        DataType::Boolean => Kind::Boolean(dt::Boolean::default()),
        DataType::Int8 => Kind::Byte(dt::Byte::default()),
        DataType::Int16 | DataType::UInt8 => Kind::Short(dt::Short::default()),
        DataType::Int32 | DataType::UInt16 => Kind::Integer(dt::Integer::default()),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Kind::Long(dt::Long::default()),
        DataType::Float16 | DataType::Float32 => Kind::Float(dt::Float::default()),
        DataType::Float64 => Kind::Double(dt::Double::default()),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Kind::Decimal(dt::Decimal {
            scale: Some(i32::from(*s)),
            precision: Some(i32::from(*p)),
            type_variation_reference: 0,
        }),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            Kind::String(dt::String::default())
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Kind::Binary(dt::Binary::default()),
        DataType::Date32 | DataType::Date64 => Kind::Date(dt::Date::default()),
        DataType::Timestamp(_, _) => Kind::Timestamp(dt::Timestamp::default()),
        DataType::Time32(_) | DataType::Time64(_) => Kind::Time(dt::Time {
            precision: Some(6),
            type_variation_reference: 0,
        }),
        DataType::Interval(IntervalUnit::YearMonth) => {
            Kind::YearMonthInterval(dt::YearMonthInterval {
                start_field: Some(0),
                end_field: Some(1),
                type_variation_reference: 0,
            })
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            Kind::CalendarInterval(dt::CalendarInterval::default())
        }
        DataType::Interval(_) | DataType::Duration(_) => {
            Kind::DayTimeInterval(dt::DayTimeInterval {
                start_field: Some(0),
                end_field: Some(3),
                type_variation_reference: 0,
            })
        }
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _) => Kind::Array(Box::new(dt::Array {
            element_type: Some(Box::new(to_connect(field.data_type()))),
            contains_null: field.is_nullable(),
            type_variation_reference: 0,
        })),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => Kind::Map(Box::new(dt::Map {
                key_type: Some(Box::new(to_connect(fields[0].data_type()))),
                value_type: Some(Box::new(to_connect(fields[1].data_type()))),
                value_contains_null: fields[1].is_nullable(),
                type_variation_reference: 0,
            })),
            other => return to_connect(other),
        },
        DataType::Struct(fields) => Kind::Struct(struct_of(fields)),
        DataType::Dictionary(_, value) => return to_connect(value),
        other => Kind::Unparsed(dt::Unparsed {
            data_type_string: flint_sql::functions::spark_type_name(other),
        }),
    };
    spark_connect::DataType { kind: Some(kind) }
}

/// The Arrow field metadata key holding a column's Spark metadata (its JSON text), as an
/// alias with metadata gives it.
pub const SPARK_METADATA: &str = "spark.metadata";

/// Field metadata holding a column's Spark name when it differs from its name in the plan:
/// Spark allows two columns of one name (`select("id", "id")`), DataFusion does not, so the
/// second is planned under a name of its own and shown to the client under this one.
pub const SPARK_NAME: &str = "flint.spark_name";

/// The name the client sees for `field`.
pub fn spark_name(field: &Field) -> &str {
    field
        .metadata()
        .get(SPARK_NAME)
        .map(String::as_str)
        .unwrap_or_else(|| field.name())
}

/// `rows` (a result's schema, which may have lost field metadata in the physical plan) with
/// the [`SPARK_NAME`] metadata of the plan's `logical` schema, field by field.
pub fn with_names_of(rows: &Schema, logical: &Schema) -> Schema {
    if rows.fields().len() != logical.fields().len() {
        return rows.clone();
    }
    let fields: Vec<Field> = rows
        .fields()
        .iter()
        .zip(logical.fields())
        .map(
            |(field, planned)| match planned.metadata().get(SPARK_NAME) {
                Some(name) => {
                    let mut metadata = field.metadata().clone();
                    metadata.insert(SPARK_NAME.to_string(), name.clone());
                    field.as_ref().clone().with_metadata(metadata)
                }
                None => field.as_ref().clone(),
            },
        )
        .collect();
    Schema::new_with_metadata(fields, rows.metadata().clone())
}

/// `schema` with each field under its Spark name ([`SPARK_NAME`]).
pub fn with_spark_names(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let mut field = field.as_ref().clone();
            if let Some(name) = field.metadata().get(SPARK_NAME).cloned() {
                let mut metadata = field.metadata().clone();
                metadata.remove(SPARK_NAME);
                field = field.with_name(name).with_metadata(metadata);
            }
            field
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

fn struct_of(fields: &Fields) -> dt::Struct {
    dt::Struct {
        fields: fields
            .iter()
            .map(|field| dt::StructField {
                name: spark_name(field).to_string(),
                data_type: Some(to_connect(field.data_type())),
                nullable: field.is_nullable(),
                metadata: field.metadata().get(SPARK_METADATA).cloned(),
            })
            .collect(),
        type_variation_reference: 0,
    }
}

/// The Connect struct type of a schema (what `ExecutePlan` and `AnalyzePlan.schema` answer).
pub fn schema_to_connect(schema: &Schema) -> spark_connect::DataType {
    spark_connect::DataType {
        kind: Some(Kind::Struct(struct_of(schema.fields()))),
    }
}

/// The Arrow type of a Connect type message.
pub fn from_connect(data_type: &spark_connect::DataType) -> Result<DataType, ConnectError> {
    let kind = data_type
        .kind
        .as_ref()
        .ok_or_else(|| crate::error::missing("DataType.kind"))?;
    Ok(match kind {
        Kind::Null(_) => DataType::Null,
        Kind::Boolean(_) => DataType::Boolean,
        Kind::Byte(_) => DataType::Int8,
        Kind::Short(_) => DataType::Int16,
        Kind::Integer(_) => DataType::Int32,
        Kind::Long(_) => DataType::Int64,
        Kind::Float(_) => DataType::Float32,
        Kind::Double(_) => DataType::Float64,
        Kind::Decimal(d) => DataType::Decimal128(
            d.precision.unwrap_or(10).clamp(1, 38) as u8,
            d.scale.unwrap_or(0).clamp(-38, 38) as i8,
        ),
        Kind::String(_) | Kind::Char(_) | Kind::VarChar(_) => DataType::Utf8,
        Kind::Binary(_) => DataType::Binary,
        Kind::Date(_) => DataType::Date32,
        Kind::Timestamp(_) | Kind::TimestampNtz(_) => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        Kind::YearMonthInterval(_) => DataType::Interval(IntervalUnit::YearMonth),
        Kind::DayTimeInterval(_) => DataType::Duration(TimeUnit::Microsecond),
        Kind::CalendarInterval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
        Kind::Array(array) => {
            let element = array
                .element_type
                .as_deref()
                .ok_or_else(|| crate::error::missing("Array.element_type"))?;
            DataType::List(Arc::new(Field::new(
                "element",
                from_connect(element)?,
                true,
            )))
        }
        Kind::Map(map) => {
            let key = map
                .key_type
                .as_deref()
                .ok_or_else(|| crate::error::missing("Map.key_type"))?;
            let value = map
                .value_type
                .as_deref()
                .ok_or_else(|| crate::error::missing("Map.value_type"))?;
            flint_sql::ddl::map_type(from_connect(key)?, from_connect(value)?)
        }
        Kind::Struct(fields) => DataType::Struct(
            fields
                .fields
                .iter()
                .map(|field| {
                    let data_type = field
                        .data_type
                        .as_ref()
                        .ok_or_else(|| crate::error::missing("StructField.data_type"))?;
                    Ok(Field::new(
                        &field.name,
                        from_connect(data_type)?,
                        field.nullable,
                    ))
                })
                .collect::<Result<Vec<_>, ConnectError>>()?
                .into(),
        ),
        Kind::Unparsed(unparsed) => flint_sql::ddl::parse_ddl(&unparsed.data_type_string)
            .map_err(|e| ConnectError::Parse(e.to_string()))?,
        Kind::Udt(udt) => match udt.sql_type.as_deref() {
            Some(sql_type) => from_connect(sql_type)?,
            None => {
                return Err(ConnectError::Unsupported(format!(
                    "user-defined type {}",
                    udt.r#type
                )));
            }
        },
        Kind::Time(_) => flint_sql::functions::time::TIME_TYPE,
        Kind::Variant(_) | Kind::Geometry(_) | Kind::Geography(_) => {
            return Err(ConnectError::Unsupported(format!(
                "the type {kind:?} in a Connect plan"
            )));
        }
        Kind::TimestampNtzNanos(_) | Kind::TimestampLtzNanos(_) => {
            DataType::Timestamp(TimeUnit::Nanosecond, None)
        }
    })
}

/// The Spark SQL name of a Connect type, for `CAST(x AS <type>)`.
pub fn sql_type_name(data_type: &spark_connect::DataType) -> Result<String, ConnectError> {
    if let Some(Kind::Unparsed(unparsed)) = &data_type.kind {
        return Ok(unparsed.data_type_string.clone());
    }
    if let Some(Kind::TimestampNtz(_)) = &data_type.kind {
        return Ok("timestamp_ntz".into());
    }
    Ok(flint_sql::functions::spark_type_name(&from_connect(
        data_type,
    )?))
}

/// A schema in Spark's JSON form (`{"type":"struct","fields":[...]}`), as `DataType.json()`
/// writes it.
pub fn from_json_schema(text: &str) -> Result<DataType, ConnectError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ConnectError::Parse(format!("invalid JSON schema: {e}")))?;
    json_type(&value)
}

fn json_type(value: &serde_json::Value) -> Result<DataType, ConnectError> {
    let invalid = || ConnectError::Parse(format!("invalid JSON data type: {value}"));
    match value {
        serde_json::Value::String(name) => {
            flint_sql::ddl::parse_ddl(name).map_err(|e| ConnectError::Parse(e.to_string()))
        }
        serde_json::Value::Object(object) => match object.get("type").and_then(|t| t.as_str()) {
            Some("struct") => {
                let fields = object
                    .get("fields")
                    .and_then(|f| f.as_array())
                    .ok_or_else(invalid)?;
                let fields = fields
                    .iter()
                    .map(|field| {
                        let name = field
                            .get("name")
                            .and_then(|n| n.as_str())
                            .ok_or_else(invalid)?;
                        let data_type = json_type(field.get("type").ok_or_else(invalid)?)?;
                        let nullable = field
                            .get("nullable")
                            .and_then(|n| n.as_bool())
                            .unwrap_or(true);
                        Ok(Field::new(name, data_type, nullable))
                    })
                    .collect::<Result<Vec<_>, ConnectError>>()?;
                Ok(DataType::Struct(fields.into()))
            }
            Some("array") => {
                let element = json_type(object.get("elementType").ok_or_else(invalid)?)?;
                let nullable = object
                    .get("containsNull")
                    .and_then(|n| n.as_bool())
                    .unwrap_or(true);
                Ok(DataType::List(Arc::new(Field::new(
                    "element", element, nullable,
                ))))
            }
            Some("map") => {
                let key = json_type(object.get("keyType").ok_or_else(invalid)?)?;
                let value = json_type(object.get("valueType").ok_or_else(invalid)?)?;
                Ok(flint_sql::ddl::map_type(key, value))
            }
            Some("udt") => json_type(object.get("sqlType").ok_or_else(invalid)?),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_round_trip_through_connect() {
        for data_type in [
            DataType::Int32,
            DataType::Int64,
            DataType::Utf8,
            DataType::Float64,
            DataType::Decimal128(10, 2),
            DataType::Date32,
            DataType::List(Arc::new(Field::new("element", DataType::Int64, true))),
        ] {
            assert_eq!(
                from_connect(&to_connect(&data_type)).expect("type"),
                data_type
            );
        }
        let ddl = spark_connect::DataType {
            kind: Some(Kind::Unparsed(dt::Unparsed {
                data_type_string: "array<int>".into(),
            })),
        };
        assert_eq!(sql_type_name(&ddl).expect("name"), "array<int>");
    }

    proptest::proptest! {
        /// What a client sends for types, literals and column names — protobuf bytes or
        /// text of any shape — converts or is an error naming what is wrong; never a panic,
        /// so the Connect server keeps serving.
        #[test]
        fn any_client_types_literals_and_names_convert_or_are_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            text in "[`.a-z{}\\[\\]\":,0-9 ]{0,40}|\\PC{0,40}",
        ) {
            use prost::Message;
            if let Ok(data_type) = spark_connect::DataType::decode(bytes.as_slice()) {
                let _ = from_connect(&data_type);
                let _ = sql_type_name(&data_type);
            }
            if let Ok(literal) = spark_connect::expression::Literal::decode(bytes.as_slice()) {
                let _ = crate::literal::render_literal(&literal);
            }
            let _ = from_json_schema(&text);
            let _ = crate::expression::identifier_parts(&text);
        }
    }
}
