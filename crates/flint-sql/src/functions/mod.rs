//! Spark functions that neither DataFusion nor `datafusion-spark` provide with Spark's
//! behaviour, written for Flint.

pub use json::infer_records_schema;
pub use misc::spark_type_name;

mod aes;
mod aggregate;
pub(crate) mod arguments;
pub mod arithmetic;
pub(crate) mod assertion;
mod bitmap;
pub mod cast;
mod collection;
mod csv;
pub(crate) mod datetime;
pub(crate) mod datetime_make;
pub mod datetime_pattern;
mod encoding;
pub(crate) mod geo;
mod json;
mod lambda;
pub(crate) mod like;
mod math;
mod misc;
mod number_format;
mod product;
mod row;
mod sketch;
mod statistics;
mod strict_math;
mod string;
mod struct_fields;
pub mod table;
pub(crate) mod text;
pub mod time;
pub mod timezone;
pub(crate) mod try_aggregate;
pub(crate) mod variant;
mod vector;
mod xml;

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{AggregateUDF, ColumnarValue, ScalarUDF};

/// The schema `schema_of_json`, `schema_of_csv` or `schema_of_xml` infers from `sample`:
/// such a call on a literal is folded into the literal DDL `from_json`/`from_csv`/`from_xml`
/// need (Spark evaluates the foldable schema argument before planning).
pub(crate) fn schema_of_literal(function: &str, sample: &str) -> Option<String> {
    let infer = match function {
        "schema_of_json" => json::schema_of_json,
        "schema_of_csv" => csv::schema_of_csv,
        "schema_of_xml" => xml::schema_of_xml,
        _ => return None,
    };
    let config = datafusion::common::config::ConfigOptions::default();
    let context = row::RowContext {
        return_type: &datafusion::arrow::datatypes::DataType::Utf8,
        config: &config,
    };
    match infer(&[ScalarValue::Utf8(Some(sample.to_string()))], &context) {
        Ok(ScalarValue::Utf8(Some(ddl))) => Some(ddl),
        _ => None,
    }
}

/// Every scalar function Flint itself implements.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    datetime::functions()
        .into_iter()
        .chain(arithmetic::functions())
        .chain(arithmetic::try_functions())
        .chain(arithmetic::decimal_functions())
        .chain(misc::functions())
        .chain(aes::functions())
        .chain(math::functions())
        .chain(strict_math::functions())
        .chain(string::functions())
        .chain(cast::functions())
        .chain(collection::functions())
        .chain(datetime_pattern::functions())
        .chain(encoding::functions())
        .chain(text::functions())
        .chain(text::rounding_functions())
        .chain(text::array_functions())
        .chain(text::map_functions())
        .chain(number_format::functions())
        .chain(json::functions())
        .chain(variant::functions())
        .chain(datetime_make::functions())
        .chain(csv::functions())
        .chain(vector::functions())
        .chain(assertion::functions())
        .chain(sketch::functions())
        .chain(geo::functions())
        .chain(xml::functions())
        .chain(timezone::functions())
        .chain(struct_fields::functions())
        .chain(time::functions())
        .chain([like::udf()])
        .collect()
}

/// Every function taking lambdas Flint itself implements.
pub fn higher_order_functions() -> Vec<Arc<datafusion::logical_expr::HigherOrderUDF>> {
    lambda::functions()
}

/// Every aggregate function Flint itself implements.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    aggregate::functions()
        .into_iter()
        .chain(vector::aggregate_functions())
        .chain(statistics::functions())
        .chain(product::functions())
        .chain(sketch::aggregate_functions())
        .chain(bitmap::aggregate_functions())
        .collect()
}

/// Every argument as an array of the batch's rows, and whether all of them were single
/// values (so the result is one value too).
pub(crate) fn argument_arrays(
    args: &datafusion::logical_expr::ScalarFunctionArgs,
) -> Result<(Vec<ArrayRef>, bool)> {
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    Ok((ColumnarValue::values_to_arrays(&args.args)?, scalar))
}

/// The column name of a binary operator written as a function: `(left op right)`, as Spark
/// names it.
pub(crate) fn binary_schema_name(
    args: &[datafusion::logical_expr::Expr],
    symbol: &str,
    name: &str,
) -> String {
    match args {
        [left, right, ..] => format!("({} {symbol} {})", left.schema_name(), right.schema_name()),
        _ => name.to_string(),
    }
}

/// A function's result: one value when every argument was one value, else the array.
pub(crate) fn columnar(result: ArrayRef, scalar_input: bool) -> Result<ColumnarValue> {
    if scalar_input {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?))
    } else {
        Ok(ColumnarValue::Array(result))
    }
}
