//! Spark's `FunctionRegistry`: which implementation each of Spark's built-in function names
//! resolves to. DataFusion's built-ins come first, `datafusion-spark`'s replace them where
//! they follow Spark and DataFusion does not, and Flint's own replace both.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::registry::FunctionRegistry;

use crate::functions;

/// `datafusion-spark` functions that answer differently from Spark, left out so that a query
/// using them fails instead of answering wrong: `avg` always answers a double, where Spark
/// keeps a decimal's type; `json_tuple` is a generator in Spark (one column per field), a
/// struct there.
const DATAFUSION_SPARK_EXCLUDED: &[&str] = &["avg", "json_tuple"];

/// Registers Spark's function names over DataFusion's defaults in `registry` (a driver's
/// planner or an executor's decoder).
pub fn register_spark_functions(registry: &mut dyn FunctionRegistry) -> Result<()> {
    let excluded = |name: &str| DATAFUSION_SPARK_EXCLUDED.contains(&name);
    for udf in datafusion_spark::all_default_scalar_functions() {
        if !excluded(udf.name()) {
            registry.register_udf(udf)?;
        }
    }
    for udaf in datafusion_spark::all_default_aggregate_functions() {
        if !excluded(udaf.name()) {
            registry.register_udaf(udaf)?;
        }
    }
    for udwf in datafusion_spark::all_default_window_functions() {
        registry.register_udwf(udwf)?;
    }
    for udf in functions::scalar_functions() {
        registry.register_udf(udf)?;
    }
    for udaf in functions::aggregate_functions() {
        registry.register_udaf(udaf)?;
    }
    for udf in functions::arguments::with_spark_arguments(registry)? {
        registry.register_udf(udf)?;
    }
    for (spark_name, name) in SCALAR_ALIASES {
        let udf = registry.udf(name)?;
        registry.register_udf(Arc::new(udf.as_ref().clone().with_aliases([*spark_name])))?;
    }
    for (spark_name, name) in HIGHER_ORDER_ALIASES {
        let function = registry.higher_order_function(name)?;
        let function = function.as_ref().clone().with_aliases([*spark_name]);
        registry.register_higher_order_function(Arc::new(function))?;
    }
    for function in functions::higher_order_functions() {
        registry.register_higher_order_function(function)?;
    }
    for (spark_name, name) in AGGREGATE_ALIASES {
        let udaf = registry.udaf(name)?;
        registry.register_udaf(Arc::new(udaf.as_ref().clone().with_aliases([*spark_name])))?;
    }
    registry.register_udf(crate::exchange::direct_partition_udf())?;
    // Last, over DataFusion's `random`: computed per partition, as Spark computes them.
    for udf in crate::time_window::marker_udfs() {
        registry.register_udf(udf)?;
    }
    // `try_avg` wraps the session's `avg` (Spark's result types), NULL on overflow.
    let avg = registry.udaf("avg")?;
    registry.register_udaf(crate::functions::try_aggregate::try_avg(avg))?;
    for udf in crate::partition_values::functions() {
        registry.register_udf(udf)?;
    }
    Ok(())
}

/// Registers the functions an executor decodes task plans with: Spark's, except where a
/// `datafusion-spark` function exists only to be simplified on the driver into DataFusion's
/// function of the same name (`date_trunc`): plans carry functions by name, so the name must
/// find DataFusion's there (Spark's fails when called: "should have been simplified").
pub fn register_executor_functions(registry: &mut dyn FunctionRegistry) -> Result<()> {
    register_spark_functions(registry)?;
    registry.register_udf(datafusion::functions::datetime::date_trunc())?;
    Ok(())
}

/// Spark names of functions DataFusion has under another name, with Spark's behaviour.
const SCALAR_ALIASES: &[(&str, &str)] = &[
    ("startswith", "starts_with"),
    ("endswith", "ends_with"),
    ("ucase", "upper"),
    ("lcase", "lower"),
    ("sign", "signum"),
    ("array_size", "array_length"),
    ("regexp", "regexp_like"),
    ("rlike", "regexp_like"),
    ("extract", "date_part"),
];

/// Spark names of DataFusion's functions taking lambdas.
const HIGHER_ORDER_ALIASES: &[(&str, &str)] = &[("exists", "array_any_match")];

/// Spark names of aggregate functions DataFusion has under another name.
const AGGREGATE_ALIASES: &[(&str, &str)] = &[
    ("std", "stddev"),
    ("variance", "var_samp"),
    ("some", "bool_or"),
    ("any", "bool_or"),
    ("every", "bool_and"),
    ("first", "first_value"),
    ("last", "last_value"),
    ("percentile", "percentile_cont"),
    // Spark's `array_agg` is `collect_list`: it skips NULLs (DataFusion's keeps them).
    ("array_agg", "collect_list"),
];
