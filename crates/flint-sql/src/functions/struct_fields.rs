//! Spark's `Column.withField` and `Column.dropFields` (Catalyst's `UpdateFields`), as
//! `flint_with_field(struct, 'path', value)` and `flint_drop_field(struct, 'path')`: the path
//! names a field, `a.b` one inside a nested struct; a field is found ignoring case, replaced
//! where it stands or added at the end. A NULL struct stays NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// The two functions, for the registry.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::new_from_impl(UpdateField::new(true))),
        Arc::new(ScalarUDF::new_from_impl(UpdateField::new(false))),
    ]
}

/// `flint_with_field` (`with` is true) or `flint_drop_field`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct UpdateField {
    with: bool,
    signature: Signature,
}

impl UpdateField {
    fn new(with: bool) -> Self {
        Self {
            with,
            signature: Signature::any(if with { 3 } else { 2 }, Volatility::Immutable),
        }
    }
}

/// The path literal of a call: `a.b` as `["a", "b"]`.
fn path_of(value: Option<&ScalarValue>) -> Result<Vec<String>> {
    match value {
        Some(ScalarValue::Utf8(Some(path)) | ScalarValue::LargeUtf8(Some(path))) => Ok(path
            .split('.')
            .map(|part| part.trim_matches('`').to_string())
            .collect()),
        _ => plan_err!("withField/dropFields need a field name"),
    }
}

fn position(fields: &Fields, name: &str) -> Option<usize> {
    fields.iter().position(|f| f.name() == name).or_else(|| {
        fields
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(name))
    })
}

/// The struct type after the update.
fn updated_type(data_type: &DataType, path: &[String], value: Option<&Field>) -> Result<DataType> {
    let DataType::Struct(fields) = data_type else {
        return plan_err!(
            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] withField/dropFields need a struct, not {data_type}"
        );
    };
    let mut fields: Vec<FieldRef> = fields.iter().cloned().collect();
    let (name, rest) = path
        .split_first()
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("an empty field path".into()))?;
    let found = position(&Fields::from(fields.clone()), name);
    match (rest.is_empty(), found, value) {
        (true, Some(i), Some(value)) => {
            fields[i] = Arc::new(value.clone().with_name(fields[i].name()));
        }
        (true, None, Some(value)) => fields.push(Arc::new(value.clone().with_name(name))),
        (true, Some(i), None) => {
            fields.remove(i);
        }
        (true, None, None) => {}
        (false, Some(i), _) => {
            let inner = updated_type(fields[i].data_type(), rest, value)?;
            fields[i] = Arc::new(fields[i].as_ref().clone().with_data_type(inner));
        }
        (false, None, _) => {
            return plan_err!("[FIELD_NOT_FOUND] No such struct field `{name}`. SQLSTATE: 42704");
        }
    }
    if fields.is_empty() {
        return plan_err!(
            "[DATATYPE_MISMATCH.CANNOT_DROP_ALL_FIELDS] Cannot drop all fields in struct. SQLSTATE: 42K09"
        );
    }
    Ok(DataType::Struct(Fields::from(fields)))
}

/// `array` with the update applied, of type `to`.
fn updated(
    array: &StructArray,
    path: &[String],
    value: Option<&ArrayRef>,
    to: &DataType,
) -> Result<ArrayRef> {
    let DataType::Struct(to_fields) = to else {
        return exec_err!("withField/dropFields produce a struct");
    };
    let (name, rest) = match path.split_first() {
        Some(split) => split,
        None => return exec_err!("an empty field path"),
    };
    let found = position(array.fields(), name);
    let mut columns: Vec<ArrayRef> = array.columns().to_vec();
    match (rest.is_empty(), found, value) {
        (true, Some(i), Some(value)) => columns[i] = Arc::clone(value),
        (true, None, Some(value)) => columns.push(Arc::clone(value)),
        (true, Some(i), None) => {
            columns.remove(i);
        }
        (true, None, None) => {}
        (false, Some(i), _) => {
            let Some(inner) = columns[i].as_struct_opt() else {
                return exec_err!("`{name}` is not a struct");
            };
            let inner_type = to_fields
                .iter()
                .find(|f| f.name() == array.fields()[i].name())
                .map(|f| f.data_type().clone())
                .unwrap_or_else(|| columns[i].data_type().clone());
            columns[i] = updated(inner, rest, value, &inner_type)?;
        }
        (false, None, _) => return exec_err!("No such struct field `{name}`"),
    }
    Ok(Arc::new(StructArray::try_new(
        to_fields.clone(),
        columns,
        array.nulls().cloned(),
    )?))
}

impl ScalarUDFImpl for UpdateField {
    fn name(&self) -> &str {
        if self.with {
            "flint_with_field"
        } else {
            "flint_drop_field"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("{} is typed from its arguments", self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let path = path_of(args.scalar_arguments.get(1).copied().flatten())?;
        let value = if self.with {
            args.arg_fields.get(2).map(|f| f.as_ref())
        } else {
            None
        };
        let data_type = updated_type(args.arg_fields[0].data_type(), &path, value)?;
        Ok(Arc::new(Field::new(self.name(), data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let path = match &args.args[1] {
            ColumnarValue::Scalar(value) => path_of(Some(value))?,
            ColumnarValue::Array(_) => return exec_err!("withField/dropFields need a field name"),
        };
        let input = args.args[0].to_array(rows)?;
        let Some(input) = input.as_struct_opt() else {
            return exec_err!("withField/dropFields need a struct");
        };
        let value = match args.args.get(2) {
            Some(value) if self.with => Some(value.to_array(rows)?),
            _ => None,
        };
        let out = updated(input, &path, value.as_ref(), args.return_field.data_type())?;
        Ok(ColumnarValue::Array(out))
    }
}
