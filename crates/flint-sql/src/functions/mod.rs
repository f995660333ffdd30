//! Spark functions that neither DataFusion nor `datafusion-spark` provide with Spark's
//! behaviour, written for Flint.

pub use misc::spark_type_name;

pub mod arithmetic;
mod datetime;
mod misc;
pub mod table;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

/// Every scalar function Flint itself implements.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    datetime::functions()
        .into_iter()
        .chain(arithmetic::functions())
        .chain(arithmetic::try_functions())
        .chain(misc::functions())
        .collect()
}
