//! Spark's `typeof`, `isnull` and `isnotnull`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(TypeOf::new())),
        Arc::new(ScalarUDF::from(IsNull::new("isnull", true))),
        Arc::new(ScalarUDF::from(IsNull::new("isnotnull", false))),
        Arc::new(ScalarUDF::from(Size::new())),
        Arc::new(ScalarUDF::from(Locate::new())),
    ]
}

/// Spark's name of a type (`DataType.simpleString`): `int`, `decimal(10,2)`,
/// `array<string>`, `struct<a:int,b:string>`.
pub fn spark_type_name(data_type: &DataType) -> String {
    if super::variant::is_variant(data_type) {
        return "variant".into();
    }
    match super::geo::geo_kind(data_type) {
        Some(true) => return "geography".into(),
        Some(false) => return "geometry".into(),
        None => {}
    }
    match data_type {
        DataType::Null => "void".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 => "smallint".into(),
        DataType::UInt16 => "int".into(),
        DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        // Spark's TIMESTAMP is a point in time shown in the session zone; DataFusion's
        // literals and casts give zone-less timestamps for the same values.
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time(6)".into(),
        DataType::Interval(IntervalUnit::YearMonth) => "interval year to month".into(),
        DataType::Interval(_) | DataType::Duration(TimeUnit::Microsecond) => {
            "interval day to second".into()
        }
        DataType::Duration(_) => "interval day to second".into(),
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _) => {
            format!("array<{}>", spark_type_name(field.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => format!(
                "map<{},{}>",
                spark_type_name(fields[0].data_type()),
                spark_type_name(fields[1].data_type())
            ),
            other => spark_type_name(other),
        },
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), spark_type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::Dictionary(_, value) => spark_type_name(value),
        DataType::RunEndEncoded(_, values) => spark_type_name(values.data_type()),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// `typeof(expr)`: the Spark name of the argument's type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl TypeOf {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("typeof takes one argument");
        };
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            spark_type_name(&arg.data_type()),
        ))))
    }
}

/// `isnull(expr)` / `isnotnull(expr)`: never NULL themselves.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IsNull {
    name: &'static str,
    null: bool,
    signature: Signature,
}

impl IsNull {
    fn new(name: &'static str, null: bool) -> Self {
        Self {
            name,
            null,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IsNull {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("{} takes one argument", self.name);
        };
        Ok(match arg {
            ColumnarValue::Scalar(value) => {
                ColumnarValue::Scalar(ScalarValue::Boolean(Some(value.is_null() == self.null)))
            }
            ColumnarValue::Array(array) => {
                let result: BooleanArray = (0..array.len())
                    .map(|i| Some(array.is_null(i) == self.null))
                    .collect();
                ColumnarValue::Array(Arc::new(result))
            }
        })
    }
}

/// `size(array | map)`: the element count; for NULL, NULL under ANSI mode and -1 without it
/// (Spark's `spark.sql.legacy.sizeOfNull`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Size {
    signature: Signature,
}

impl Size {
    fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Size {
    fn name(&self) -> &str {
        "size"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let null_size = (!args.config_options.execution.enable_ansi_mode).then_some(-1);
        let [arg] = args.args.as_slice() else {
            return exec_err!("size takes one argument");
        };
        let scalar = matches!(arg, ColumnarValue::Scalar(_));
        let array = arg.to_array(args.number_rows)?;
        let length = |i: usize| -> Result<Option<i32>> {
            if array.is_null(i) {
                return Ok(null_size);
            }
            let len = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().value(i).len(),
                DataType::LargeList(_) => array.as_list::<i64>().value(i).len(),
                DataType::FixedSizeList(_, n) => *n as usize,
                DataType::Map(..) => array.as_map().value(i).len(),
                DataType::Null => return Ok(null_size),
                other => {
                    return exec_err!(
                        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] size needs an array or a map, got {}",
                        spark_type_name(other)
                    );
                }
            };
            Ok(Some(len as i32))
        };
        let sizes: Int32Array = (0..array.len()).map(length).collect::<Result<_>>()?;
        super::columnar(Arc::new(sizes), scalar)
    }
}

/// `locate(substr, str[, pos])` and `position(substr, str[, pos])`: the 1-based character
/// position of `substr` in `str` at or after `pos`, 0 when absent or `pos` < 1.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Locate {
    signature: Signature,
    aliases: Vec<String>,
}

impl Locate {
    fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: vec!["position".to_string()],
        }
    }
}

impl ScalarUDFImpl for Locate {
    fn name(&self) -> &str {
        "locate"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.len() {
            2 => Ok(vec![DataType::Utf8, DataType::Utf8]),
            3 => Ok(vec![DataType::Utf8, DataType::Utf8, DataType::Int32]),
            n => datafusion::common::plan_err!("locate takes two or three arguments, got {n}"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let (Some(needle), Some(haystack)) = (arrays.first(), arrays.get(1)) else {
            return exec_err!("locate takes two or three arguments");
        };
        let needle = needle.as_string::<i32>();
        let haystack = haystack.as_string::<i32>();
        let start = arrays
            .get(2)
            .map(|a| a.as_primitive::<datafusion::arrow::datatypes::Int32Type>());
        let found: Int32Array = (0..rows)
            .map(|i| {
                if needle.is_null(i) || haystack.is_null(i) {
                    return None;
                }
                let pos = match start {
                    Some(start) if start.is_null(i) => return None,
                    Some(start) => start.value(i),
                    None => 1,
                };
                if pos < 1 {
                    return Some(0);
                }
                let text = haystack.value(i);
                let skip = (pos - 1) as usize;
                let offset = text.char_indices().nth(skip).map(|(b, _)| b);
                let Some(offset) = offset else {
                    return Some(
                        if needle.value(i).is_empty() && skip == text.chars().count() {
                            pos
                        } else {
                            0
                        },
                    );
                };
                Some(match text[offset..].find(needle.value(i)) {
                    Some(byte) => (text[..offset + byte].chars().count() + 1) as i32,
                    None => 0,
                })
            })
            .collect();
        super::columnar(Arc::new(found), scalar)
    }
}
