//! Spark's `raise_error(message)` and `assert_true(condition[, message])`: errors a query
//! raises itself (`USER_RAISED_EXCEPTION`); and the check that a scalar subquery gave at most
//! one row (`SCALAR_SUBQUERY_TOO_MANY_ROWS`).

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
        single_row_udf(),
    ]
}

/// `flint_single_row(rows, value)`: `value`, the one row of a scalar subquery, or Spark's
/// error when the subquery gave `rows` > 1.
pub(crate) fn single_row_udf() -> Arc<ScalarUDF> {
    RowFunction::new(
        "flint_single_row",
        |types| {
            arity("flint_single_row", types, 2, 2)?;
            Ok(vec![DataType::Int64, types[1].clone()])
        },
        |types| Ok(types[1].clone()),
        |args, _| match &args[0] {
            ScalarValue::Int64(Some(rows)) if *rows > 1 => exec_err!(
                "[SCALAR_SUBQUERY_TOO_MANY_ROWS] More than one row returned by a subquery used \
                 as an expression. SQLSTATE: 21000"
            ),
            _ => Ok(args[1].clone()),
        },
    )
    .udf()
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
