//! Spark's arithmetic operators where DataFusion's differ: `/` on non-decimals is a double
//! division, a zero divisor is `DIVIDE_BY_ZERO` under ANSI mode and `NULL` without it
//! (also for `div` and `%`), and integer `+ - *` overflow is `ARITHMETIC_OVERFLOW` under
//! ANSI mode (Spark's `Add`, `Subtract`, `Multiply`, `Divide`, `IntegralDivide`,
//! `Remainder`). The analyzer puts them in place of DataFusion's operators
//! ([`crate::analyzer`]); the third argument is the ANSI flag, so a plan carries its mode
//! to every executor.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, new_null_array};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::compute::{cast, nullif};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// One of Spark's arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithmeticOp {
    /// `+` on integers.
    Add,
    /// `-` on integers.
    Subtract,
    /// `*` on integers.
    Multiply,
    /// `/`: always a double division (decimals keep DataFusion's operator).
    Divide,
    /// `div`: integer division answering a `bigint`.
    IntegralDivide,
    /// `%` on integers and doubles.
    Remainder,
}

impl ArithmeticOp {
    /// The registry name of the operator's function.
    pub fn function_name(self) -> &'static str {
        match self {
            Self::Add => "spark_add",
            Self::Subtract => "spark_subtract",
            Self::Multiply => "spark_multiply",
            Self::Divide => "spark_divide",
            Self::IntegralDivide => "spark_integral_divide",
            Self::Remainder => "spark_remainder",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Subtract => "-",
            Self::Multiply => "*",
            Self::Divide => "/",
            Self::IntegralDivide => "div",
            Self::Remainder => "%",
        }
    }
}

/// The operators' functions, registered on driver and executors.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    [
        ArithmeticOp::Add,
        ArithmeticOp::Subtract,
        ArithmeticOp::Multiply,
        ArithmeticOp::Divide,
        ArithmeticOp::IntegralDivide,
        ArithmeticOp::Remainder,
    ]
    .into_iter()
    .map(|op| Arc::new(ScalarUDF::from(SparkArithmetic::new(op))))
    .collect()
}

/// The call of `op` on `left` and `right` in the given mode.
pub fn arithmetic(op: ArithmeticOp, left: Expr, right: Expr, ansi: bool) -> Expr {
    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
        Arc::new(ScalarUDF::from(SparkArithmetic::new(op))),
        vec![
            left,
            right,
            Expr::Literal(ScalarValue::Boolean(Some(ansi)), None),
        ],
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkArithmetic {
    op: ArithmeticOp,
    signature: Signature,
}

impl SparkArithmetic {
    fn new(op: ArithmeticOp) -> Self {
        Self {
            op,
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

fn divide_by_zero() -> DataFusionError {
    DataFusionError::Execution(
        "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0 and \
         return NULL instead. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to \
         bypass this error. SQLSTATE: 22012"
            .to_string(),
    )
}

fn overflow(op: ArithmeticOp, data_type: &DataType) -> DataFusionError {
    let hint = match op {
        ArithmeticOp::Add => "try_add",
        ArithmeticOp::Subtract => "try_subtract",
        ArithmeticOp::Multiply => "try_multiply",
        _ => "try_divide",
    };
    DataFusionError::Execution(format!(
        "[ARITHMETIC_OVERFLOW] {} overflow. Use '{hint}' to tolerate overflow and return NULL \
         instead. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this \
         error. SQLSTATE: 22003",
        spark_type_name(data_type)
    ))
}

/// Spark's name of an integer type, as its overflow errors say it.
fn spark_type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int8 => "tinyint",
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "long",
    }
}

impl ScalarUDFImpl for SparkArithmetic {
    fn name(&self) -> &str {
        self.op.function_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        self.schema_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [left, right, ..] => Ok(format!(
                "({} {} {})",
                left.schema_name(),
                self.op.symbol(),
                right.schema_name()
            )),
            _ => Ok(self.name().to_string()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.op {
            ArithmeticOp::Divide => DataType::Float64,
            ArithmeticOp::IntegralDivide => DataType::Int64,
            _ => arg_types.first().cloned().unwrap_or(DataType::Null),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [left, right, ansi] = args.args.as_slice() else {
            return exec_err!("{} takes three arguments", self.name());
        };
        let ansi = matches!(
            ansi,
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))
        );
        let scalar = matches!(
            (left, right),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let left = left.to_array(rows)?;
        let right = right.to_array(rows)?;
        let result_type = self.return_type(&[left.data_type().clone()])?;
        let result = if left.data_type() == &DataType::Null || right.data_type() == &DataType::Null
        {
            new_null_array(&result_type, rows)
        } else {
            self.evaluate(&left, &right, ansi, &result_type)?
        };
        super::columnar(result, scalar)
    }
}

impl SparkArithmetic {
    fn evaluate(
        &self,
        left: &ArrayRef,
        right: &ArrayRef,
        ansi: bool,
        result_type: &DataType,
    ) -> Result<ArrayRef> {
        let checked =
            |result: std::result::Result<ArrayRef, datafusion::arrow::error::ArrowError>| {
                result.map_err(|e| match e {
                    datafusion::arrow::error::ArrowError::ArithmeticOverflow(_) => {
                        overflow(self.op, left.data_type())
                    }
                    datafusion::arrow::error::ArrowError::DivideByZero => divide_by_zero(),
                    other => DataFusionError::ArrowError(Box::new(other), None),
                })
            };
        match self.op {
            ArithmeticOp::Add if ansi => checked(numeric::add(left, right)),
            ArithmeticOp::Add => checked(numeric::add_wrapping(left, right)),
            ArithmeticOp::Subtract if ansi => checked(numeric::sub(left, right)),
            ArithmeticOp::Subtract => checked(numeric::sub_wrapping(left, right)),
            ArithmeticOp::Multiply if ansi => checked(numeric::mul(left, right)),
            ArithmeticOp::Multiply => checked(numeric::mul_wrapping(left, right)),
            ArithmeticOp::Divide | ArithmeticOp::IntegralDivide | ArithmeticOp::Remainder => {
                let (left, right) = if self.op == ArithmeticOp::Remainder {
                    (Arc::clone(left), Arc::clone(right))
                } else {
                    (cast(left, result_type)?, cast(right, result_type)?)
                };
                let zero = ScalarValue::new_zero(right.data_type())?.to_scalar()?;
                let is_zero: BooleanArray = eq(&right, &zero)?;
                if ansi && is_zero.true_count() > 0 {
                    // A zero divisor only counts where the dividend is not NULL.
                    let hit = (0..is_zero.len())
                        .any(|i| is_zero.is_valid(i) && is_zero.value(i) && left.is_valid(i));
                    if hit {
                        return Err(divide_by_zero());
                    }
                }
                let right = nullif(&right, &is_zero)?;
                match self.op {
                    ArithmeticOp::Remainder => checked(numeric::rem(&left, &right)),
                    _ => checked(numeric::div(&left, &right)),
                }
            }
        }
    }
}

/// Spark's `try_add`, `try_subtract`, `try_multiply`, `try_divide` and `try_mod`: the
/// operator, with NULL where it would overflow or divide by zero.
pub(super) fn try_functions() -> Vec<Arc<ScalarUDF>> {
    [
        ("try_add", ArithmeticOp::Add),
        ("try_subtract", ArithmeticOp::Subtract),
        ("try_multiply", ArithmeticOp::Multiply),
        ("try_divide", ArithmeticOp::Divide),
        ("try_mod", ArithmeticOp::Remainder),
    ]
    .into_iter()
    .map(|(name, op)| {
        Arc::new(ScalarUDF::from(TryArithmetic {
            name,
            op: SparkArithmetic::new(op),
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    })
    .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TryArithmetic {
    name: &'static str,
    op: SparkArithmetic,
    signature: Signature,
}

impl ScalarUDFImpl for TryArithmetic {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [left, right] = arg_types else {
            return datafusion::common::plan_err!("{} takes two arguments", self.name);
        };
        let common = datafusion::logical_expr::type_coercion::binary::comparison_coercion(
            left, right,
        )
        .filter(|t| t.is_numeric() || t.is_null())
        .ok_or_else(|| {
            DataFusionError::Plan(format!(
                "[DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES] {} needs two numbers, got {left} and {right}",
                self.name
            ))
        })?;
        Ok(vec![common.clone(), common])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.op.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [left, right] = args.args.as_slice() else {
            return exec_err!("{} takes two arguments", self.name);
        };
        let scalar = matches!(
            (left, right),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let left = left.to_array(rows)?;
        let right = right.to_array(rows)?;
        let result_type = self.op.return_type(&[left.data_type().clone()])?;
        let result = if left.data_type().is_null() || right.data_type().is_null() {
            new_null_array(&result_type, rows)
        } else {
            // Checked `+ - *` fail on overflow and legacy `/ %` answer NULL for a zero
            // divisor; a failure fails the whole batch, so then each row is computed alone.
            let checked = matches!(
                self.op.op,
                ArithmeticOp::Add | ArithmeticOp::Subtract | ArithmeticOp::Multiply
            );
            match self.op.evaluate(&left, &right, checked, &result_type) {
                Ok(result) => result,
                Err(_) => {
                    let rows: Vec<ArrayRef> = (0..rows)
                        .map(|i| {
                            let (l, r) = (left.slice(i, 1), right.slice(i, 1));
                            self.op
                                .evaluate(&l, &r, checked, &result_type)
                                .unwrap_or_else(|_| new_null_array(&result_type, 1))
                        })
                        .collect();
                    let refs: Vec<&dyn Array> = rows.iter().map(|a| a.as_ref()).collect();
                    datafusion::arrow::compute::concat(&refs)?
                }
            }
        };
        super::columnar(result, scalar)
    }
}
