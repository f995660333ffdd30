//! A scalar function written one row at a time, for Spark functions whose work per row
//! (parsing a format, walking a JSON document, decoding a charset) outweighs the cost of
//! handling the row's values one by one.

use std::sync::Arc;

use datafusion::arrow::array::new_empty_array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// What a row function sees besides its arguments.
pub(crate) struct RowContext<'a> {
    /// The function's result type.
    pub return_type: &'a DataType,
    /// The session's settings (`spark.sql.mapKeyDedupPolicy`, say).
    pub config: &'a datafusion::common::config::ConfigOptions,
}

/// Computes one row's result from its argument values.
pub(crate) type Eval = fn(&[ScalarValue], &RowContext) -> Result<ScalarValue>;
/// The argument types a function takes, given the types it was called with.
pub(crate) type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;
/// The result type, given the (coerced) argument types.
pub(crate) type Returns = fn(&[DataType]) -> Result<DataType>;

/// The result type, given the argument types and the literal arguments.
pub(crate) type ReturnsFromLiterals = fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>;

/// Rewrites a call once its argument types are known (to a faster whole-column form).
pub(crate) type Simplify = fn(
    Vec<datafusion::logical_expr::Expr>,
    &datafusion::logical_expr::simplify::SimplifyContext,
) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult>;

/// A Spark function computed row by row by an [`Eval`].
#[derive(Debug)]
pub(crate) struct RowFunction {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    coerce: Coerce,
    returns: Returns,
    returns_from_literals: Option<ReturnsFromLiterals>,
    eval: Eval,
    simplify: Option<Simplify>,
    /// Whether a NULL argument makes the result NULL without calling `eval`.
    strict: bool,
}

impl RowFunction {
    /// A deterministic function that answers NULL when any argument is NULL (`eval` sees
    /// only rows without NULLs).
    pub(crate) fn new(name: &'static str, coerce: Coerce, returns: Returns, eval: Eval) -> Self {
        Self {
            name,
            aliases: Vec::new(),
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            returns,
            returns_from_literals: None,
            eval,
            simplify: None,
            strict: true,
        }
    }

    /// Also known as `aliases`.
    pub(crate) fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }

    /// The result type depends on literal arguments (a format, a schema).
    pub(crate) fn returns_from_literals(mut self, returns: ReturnsFromLiterals) -> Self {
        self.returns_from_literals = Some(returns);
        self
    }

    /// Calls are rewritten by `simplify` when the optimizer runs.
    pub(crate) fn simplify(mut self, simplify: Simplify) -> Self {
        self.simplify = Some(simplify);
        self
    }

    /// `eval` sees NULL arguments itself.
    pub(crate) fn lenient(mut self) -> Self {
        self.strict = false;
        self
    }

    /// As a DataFusion function.
    pub(crate) fn udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

impl PartialEq for RowFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for RowFunction {}

impl std::hash::Hash for RowFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for RowFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.returns)(arg_types)
    }

    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        match self.simplify {
            Some(simplify) => simplify(args, info),
            None => Ok(datafusion::logical_expr::simplify::ExprSimplifyResult::Original(args)),
        }
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let data_type = match self.returns_from_literals {
            Some(returns) => returns(&types, args.scalar_arguments)?,
            None => (self.returns)(&types)?,
        };
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
            self.name, data_type, true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let return_type = args.return_field.data_type().clone();
        let context = RowContext {
            return_type: &return_type,
            config: &args.config_options,
        };
        let (arrays, scalar) = super::argument_arrays(&args)?;
        let rows = if scalar { 1 } else { args.number_rows };
        let null = ScalarValue::try_from(&return_type)?;
        let mut values = Vec::with_capacity(rows);
        let mut row_args = Vec::with_capacity(arrays.len());
        for row in 0..rows {
            row_args.clear();
            for array in &arrays {
                row_args.push(ScalarValue::try_from_array(array, row)?);
            }
            let value = if self.strict && row_args.iter().any(ScalarValue::is_null) {
                null.clone()
            } else {
                let value = (self.eval)(&row_args, &context)?;
                if value.is_null() { null.clone() } else { value }
            };
            values.push(value);
        }
        let result = if values.is_empty() {
            new_empty_array(&return_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        super::columnar(result, scalar)
    }
}

/// Checks that a function got between `min` and `max` arguments.
pub(crate) fn arity(name: &str, arg_types: &[DataType], min: usize, max: usize) -> Result<()> {
    if arg_types.len() < min || arg_types.len() > max {
        let expected = if min == max {
            min.to_string()
        } else {
            format!("[{min}, {max}]")
        };
        return datafusion::common::plan_err!(
            "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `{name}` requires {expected} parameters \
             but the actual number is {}.",
            arg_types.len()
        );
    }
    Ok(())
}

/// The text of a string value.
pub(crate) fn text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// The bytes of a binary (or string) value.
pub(crate) fn bytes(value: &ScalarValue) -> Option<&[u8]> {
    match value {
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b))
        | ScalarValue::FixedSizeBinary(_, Some(b)) => Some(b),
        other => text(other).map(str::as_bytes),
    }
}

/// An integer value as an `i64`.
pub(crate) fn integer(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Some(*v),
        _ => None,
    }
}

/// Result types of row functions that do not depend on their arguments.
pub(crate) mod returns {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::common::Result;

    /// `string`.
    pub(crate) fn string(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// `binary`.
    pub(crate) fn binary(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    /// `boolean`.
    pub(crate) fn boolean(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    /// `int`.
    pub(crate) fn int(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    /// `bigint`.
    pub(crate) fn bigint(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    /// `double`.
    pub(crate) fn double(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    /// `float`.
    pub(crate) fn float(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float32)
    }

    /// `array<string>`.
    pub(crate) fn strings(_: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }
}

/// A decimal's plain text at its scale: `-12454.8`, `0.80`.
pub(crate) fn decimal_text(unscaled: i128, scale: i8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale.max(0) as usize;
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    if unscaled < 0 {
        format!("-{text}")
    } else {
        text
    }
}
