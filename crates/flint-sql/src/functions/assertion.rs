//! Spark's `raise_error(message)` and `assert_true(condition[, message])`: errors a query
//! raises itself (`USER_RAISED_EXCEPTION`).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::ScalarUDF;

use super::row::{RowContext, RowFunction, arity, text};

pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        RowFunction::new("raise_error", raise_types, null, raise_error)
            .lenient()
            .udf(),
        RowFunction::new("assert_true", assert_types, null, assert_true)
            .lenient()
            .udf(),
    ]
}

fn null(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Null)
}

fn raise_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("raise_error", types, 1, 2)?;
    Ok(types.iter().map(|_| DataType::Utf8).collect())
}

fn assert_types(types: &[DataType]) -> Result<Vec<DataType>> {
    arity("assert_true", types, 1, 2)?;
    let mut out = vec![DataType::Boolean];
    out.extend(types.get(1).map(|_| DataType::Utf8));
    Ok(out)
}

fn raise(message: &str) -> Result<ScalarValue> {
    exec_err!("[USER_RAISED_EXCEPTION] {message} SQLSTATE: P0001")
}

fn raise_error(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    raise(text(&args[0]).unwrap_or("null"))
}

fn assert_true(args: &[ScalarValue], _: &RowContext) -> Result<ScalarValue> {
    match (&args[0], args.get(1).and_then(text)) {
        (ScalarValue::Boolean(Some(true)), _) => Ok(ScalarValue::Null),
        (_, Some(message)) => raise(message),
        (value, None) => raise(&format!("'{value}' is not true!")),
    }
}
