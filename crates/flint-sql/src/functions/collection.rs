//! Spark's `element_at(array, index)` (1-based, negative counts from the end) and
//! `element_at(map, key)`, and `try_element_at`, which answers NULL where `element_at` fails.
//! DataFusion's `element_at` is for maps only and answers a list. Also `array_repeat(x, n)`:
//! DataFusion's builds a list of lists whose inner field name differs from its input's and
//! fails at run time for an array argument.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array, new_null_array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(ElementAt::new("element_at", false))),
        Arc::new(ScalarUDF::from(ElementAt::new("try_element_at", true))),
        Arc::new(ScalarUDF::from(ArrayRepeat {
            signature: Signature::any(2, Volatility::Immutable),
        })),
    ]
}

/// `array_repeat(element, count)`: an array holding `element` `count` times (none for a
/// count below one, NULL for a NULL count), of any element type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayRepeat {
    signature: Signature,
}

impl ScalarUDFImpl for ArrayRepeat {
    fn name(&self) -> &str {
        "array_repeat"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [element, count] if count.is_integer() || count.is_null() => {
                Ok(DataType::List(Arc::new(
                    datafusion::arrow::datatypes::Field::new_list_field(element.clone(), true),
                )))
            }
            [_, other] => plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] array_repeat's count must be an integer, got {other}"
            ),
            _ => plan_err!("array_repeat takes two arguments"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [element, count] = args.args.as_slice() else {
            return exec_err!("array_repeat takes two arguments");
        };
        let all_scalars = matches!(element, ColumnarValue::Scalar(_))
            && matches!(count, ColumnarValue::Scalar(_));
        let element = element.to_array(rows)?;
        let count = cast(&count.to_array(rows)?, &DataType::Int64)?;
        let count = count.as_primitive::<Int64Type>();
        let mut indices = Vec::new();
        let mut offsets = vec![0i32];
        for row in 0..rows {
            if count.is_valid(row) {
                let n = count.value(row).max(0);
                indices.extend(std::iter::repeat_n(row as u32, n as usize));
            }
            let end = i32::try_from(indices.len()).map_err(|_| {
                DataFusionError::Execution("array_repeat: an array of 2^31 elements or more".into())
            })?;
            offsets.push(end);
        }
        let values = take(element.as_ref(), &UInt32Array::from(indices), None)?;
        let field = Arc::new(datafusion::arrow::datatypes::Field::new_list_field(
            element.data_type().clone(),
            true,
        ));
        let list = datafusion::arrow::array::ListArray::try_new(
            field,
            datafusion::arrow::buffer::OffsetBuffer::new(offsets.into()),
            values,
            count.nulls().cloned(),
        )?;
        if all_scalars {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &list, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(Arc::new(list)))
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ElementAt {
    name: &'static str,
    lenient: bool,
    signature: Signature,
}

impl ElementAt {
    fn new(name: &'static str, lenient: bool) -> Self {
        Self {
            name,
            lenient,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn out_of_bounds(index: i64, size: usize) -> DataFusionError {
    DataFusionError::Execution(format!(
        "[INVALID_ARRAY_INDEX_IN_ELEMENT_AT] The index {index} is out of bounds. The array has \
         {size} elements. Use `try_element_at` to tolerate accessing element at invalid index \
         and return NULL instead. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to \
         bypass this error. SQLSTATE: 22003"
    ))
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [list @ (DataType::List(_) | DataType::LargeList(_)), _] => {
                Ok(vec![list.clone(), DataType::Int64])
            }
            [DataType::FixedSizeList(field, _), _] => {
                Ok(vec![DataType::List(Arc::clone(field)), DataType::Int64])
            }
            [map @ DataType::Map(entries, _), key] => {
                let key_type = match entries.data_type() {
                    DataType::Struct(fields) if !fields.is_empty() => fields[0].data_type().clone(),
                    _ => key.clone(),
                };
                Ok(vec![map.clone(), key_type])
            }
            [other, _] => plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] {} needs an array or a map, got {other}",
                self.name
            ),
            _ => plan_err!("{} takes two arguments", self.name),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::List(field) | DataType::LargeList(field)) => {
                Ok(field.data_type().clone())
            }
            Some(DataType::FixedSizeList(field, _)) => Ok(field.data_type().clone()),
            Some(DataType::Map(entries, _)) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => plan_err!("unexpected map entries {other}"),
            },
            _ => plan_err!("{} needs an array or a map", self.name),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let ansi = args.config_options.execution.enable_ansi_mode && !self.lenient;
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let [collection, key] = arrays.as_slice() else {
            return exec_err!("{} takes two arguments", self.name);
        };
        let result_type = args.return_field.data_type().clone();
        // Each row's position in the flattened values, or None for NULL.
        let mut picks: Vec<Option<u32>> = Vec::with_capacity(rows);
        let values: ArrayRef = match collection.data_type() {
            DataType::List(_) | DataType::LargeList(_) => {
                let list = cast(
                    collection,
                    &DataType::LargeList(match collection.data_type() {
                        DataType::List(f) | DataType::LargeList(f) => Arc::clone(f),
                        _ => return exec_err!("unreachable"),
                    }),
                )?;
                let list = list.as_list::<i64>();
                let index = key.as_primitive::<Int64Type>();
                for row in 0..rows {
                    if list.is_null(row) || index.is_null(row) {
                        picks.push(None);
                        continue;
                    }
                    let (start, end) = (list.value_offsets()[row], list.value_offsets()[row + 1]);
                    let size = (end - start) as usize;
                    let i = index.value(row);
                    if i == 0 {
                        if self.lenient {
                            picks.push(None);
                            continue;
                        }
                        return Err(DataFusionError::Execution(
                            "[INVALID_INDEX_OF_ZERO] The index 0 is invalid. An index shall be \
                             either < 0 or > 0 (the first element has index 1). SQLSTATE: 22003"
                                .to_string(),
                        ));
                    }
                    let position = if i > 0 { i - 1 } else { size as i64 + i };
                    if position < 0 || position >= size as i64 {
                        if ansi {
                            return Err(out_of_bounds(i, size));
                        }
                        picks.push(None);
                        continue;
                    }
                    picks.push(Some((start + position) as u32));
                }
                Arc::clone(list.values())
            }
            DataType::Map(..) => {
                let map = collection.as_map();
                let keys = map.keys();
                for row in 0..rows {
                    if map.is_null(row) || key.is_null(row) {
                        picks.push(None);
                        continue;
                    }
                    let wanted = ScalarValue::try_from_array(key, row)?;
                    let (start, end) = (map.value_offsets()[row], map.value_offsets()[row + 1]);
                    let mut found = None;
                    for position in start..end {
                        if ScalarValue::try_from_array(keys, position as usize)? == wanted {
                            found = Some(position as u32);
                            break;
                        }
                    }
                    picks.push(found);
                }
                Arc::clone(map.values())
            }
            other => return exec_err!("{}: cannot index {other}", self.name),
        };
        let result = if values.is_empty() {
            new_null_array(&result_type, rows)
        } else {
            take(values.as_ref(), &UInt32Array::from(picks), None)?
        };
        super::columnar(result, scalar)
    }
}
