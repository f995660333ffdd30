//! Spark's implicit casts of function arguments, applied when the SQL planner checks a call
//! (before any analyzer rule could): wrappers around registered functions.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// Functions whose arguments follow Spark's implicit casts at SQL planning: which of their
/// arguments are dates (text is read as one), which are text (numbers, booleans and
/// datetimes are written as text, as `upper(1)` is `'1'`), and an integer literal is an
/// `int` (the analyzer narrows literals only after the SQL planner has checked signatures).
const COERCED_ARGUMENTS: &[(&str, &[usize], &[usize])] = &[
    ("add_months", &[0], &[]),
    ("date_add", &[0], &[]),
    ("date_sub", &[0], &[]),
    ("last_day", &[0], &[]),
    ("next_day", &[0], &[]),
    ("monthname", &[0], &[]),
    ("dayname", &[0], &[]),
    ("weekday", &[0], &[]),
    ("factorial", &[], &[]),
    ("upper", &[], &[0]),
    ("lower", &[], &[0]),
    ("initcap", &[], &[0]),
    ("repeat", &[], &[0]),
    ("replace", &[], &[0, 1, 2]),
    ("ltrim", &[], &[0, 1]),
    ("rtrim", &[], &[0, 1]),
    ("btrim", &[], &[0, 1]),
    ("starts_with", &[], &[0, 1]),
    ("ends_with", &[], &[0, 1]),
    ("contains", &[], &[0, 1]),
    ("substr_index", &[], &[0, 1]),
    ("regexp_like", &[], &[0, 1]),
    ("soundex", &[], &[0]),
    ("octet_length", &[], &[0]),
    ("bit_length", &[], &[0]),
];

/// The text matches Spark also answers for two binaries.
pub(crate) const BINARY_MATCHES: [&str; 3] = ["starts_with", "ends_with", "contains"];

/// The functions of [`COERCED_ARGUMENTS`] in `registry`, wrapped so that text passed as a
/// date is read as one (`date_add('2016-07-30', 1)`), a number passed as text is written as
/// text (`upper(1)`) and `factorial(5)` takes its `int`.
pub(crate) fn with_spark_arguments(
    registry: &dyn datafusion::execution::registry::FunctionRegistry,
) -> Result<Vec<Arc<ScalarUDF>>> {
    let mut wrapped = Vec::new();
    for (name, dates, texts) in COERCED_ARGUMENTS {
        if let Ok(inner) = registry.udf(name) {
            wrapped.push(Arc::new(ScalarUDF::new_from_impl(SparkArguments {
                signature: Signature::user_defined(inner.signature().volatility),
                inner,
                dates,
                texts,
            })));
        }
    }
    Ok(wrapped)
}

/// `inner`, with text read as a date in its `dates` arguments, other atomic values written
/// as text in its `texts` arguments, and `bigint` literals taken as `int` when its
/// signature needs one.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkArguments {
    inner: Arc<ScalarUDF>,
    dates: &'static [usize],
    texts: &'static [usize],
    signature: Signature,
}

impl ScalarUDFImpl for SparkArguments {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        use datafusion::arrow::datatypes::Field;
        // `startswith`, `endswith` and `contains` of two binaries are Spark's too: the
        // analyzer plans them on bytes (`functions::text::binary_match_udf`).
        if BINARY_MATCHES.contains(&self.inner.name())
            && arg_types.len() == 2
            && arg_types.iter().all(|t| matches!(t, DataType::Binary))
        {
            return Ok(arg_types.to_vec());
        }
        let fields: Vec<_> = arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = if self.dates.contains(&i) && crate::analyzer::is_text(t) {
                    DataType::Date32
                } else if self.texts.contains(&i) && crate::analyzer::is_atomic_non_text(t) {
                    DataType::Utf8
                } else {
                    t.clone()
                };
                Arc::new(Field::new("arg", t, true))
            })
            .collect();
        use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
        let coerced = match fields_with_udf(&fields, self.inner.as_ref()) {
            Ok(coerced) => coerced,
            // An integer literal is a `bigint` until the analyzer narrows it to Spark's
            // `int`: take it as one here.
            Err(error) => {
                let narrowed: Vec<_> = fields
                    .iter()
                    .map(|f| match f.data_type() {
                        DataType::Int64 => Arc::new(Field::new("arg", DataType::Int32, true)),
                        _ => Arc::clone(f),
                    })
                    .collect();
                fields_with_udf(&narrowed, self.inner.as_ref()).map_err(|_| error)?
            }
        };
        Ok(coerced.iter().map(|f| f.data_type().clone()).collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }
}
