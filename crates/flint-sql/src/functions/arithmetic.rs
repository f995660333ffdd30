//! Spark's arithmetic operators where DataFusion's differ: `/` on non-decimals is a double
//! division, a zero divisor is `DIVIDE_BY_ZERO` under ANSI mode and `NULL` without it
//! (also for `div` and `%`), and integer `+ - *` overflow is `ARITHMETIC_OVERFLOW` under
//! ANSI mode (Spark's `Add`, `Subtract`, `Multiply`, `Divide`, `IntegralDivide`,
//! `Remainder`). The analyzer puts them in place of DataFusion's operators
//! ([`crate::analyzer`]); the third argument is the ANSI flag, so a plan carries its mode
//! to every executor.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, IntervalMonthDayNanoArray, new_null_array,
};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::compute::{cast, nullif};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit,
};
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

fn remainder_by_zero() -> DataFusionError {
    DataFusionError::Execution(
        "[REMAINDER_BY_ZERO] Remainder by zero. Use `try_mod` to tolerate divisor being 0 and \
         return NULL instead. If necessary set \"spark.sql.ansi.enabled\" to \"false\" to \
         bypass this error. SQLSTATE: 22012"
            .to_string(),
    )
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
        Ok(super::binary_schema_name(
            args,
            self.op.symbol(),
            self.name(),
        ))
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
                    if hit && self.op == ArithmeticOp::Remainder {
                        return Err(remainder_by_zero());
                    }
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

impl TryArithmetic {
    /// The argument types of a `try_add`/`try_subtract` with a date, timestamp or interval
    /// side (kept as they are); a calendar interval times or over a number is
    /// [`TryArithmetic::interval_types`].
    fn datetime_types(&self, left: &DataType, right: &DataType) -> Option<Vec<DataType>> {
        let temporal = |t: &DataType| t.is_temporal() || matches!(t, DataType::Interval(_));
        let additive = matches!(self.op.op, ArithmeticOp::Add | ArithmeticOp::Subtract);
        (additive && (temporal(left) || temporal(right))).then(|| vec![left.clone(), right.clone()])
    }

    /// The argument types of a `try_multiply` of a calendar interval and a number (either
    /// way round) or a `try_divide` of one by a number: the number as a double, as Spark's
    /// `MultiplyInterval` and `DivideInterval` take it.
    fn interval_types(&self, left: &DataType, right: &DataType) -> Option<Vec<DataType>> {
        let interval = DataType::Interval(IntervalUnit::MonthDayNano);
        let number = |t: &DataType| t.is_numeric() || t.is_null();
        match self.op.op {
            ArithmeticOp::Multiply | ArithmeticOp::Divide if *left == interval && number(right) => {
                Some(vec![interval, DataType::Float64])
            }
            ArithmeticOp::Multiply if *right == interval && number(left) => {
                Some(vec![DataType::Float64, interval])
            }
            _ => None,
        }
    }

    /// A calendar interval scaled by a number: each field multiplied (or divided) as a
    /// double, months and days truncated and the days' fraction carried into microseconds
    /// (Spark's `IntervalUtils.fromDoubles`); NULL where that overflows or divides by zero.
    fn scale_interval(&self, left: &ArrayRef, right: &ArrayRef) -> Result<ArrayRef> {
        let (intervals, numbers) = if left.data_type().is_numeric() {
            (right, left)
        } else {
            (left, right)
        };
        let intervals = intervals.as_primitive::<IntervalMonthDayNanoType>();
        let numbers = cast(numbers, &DataType::Float64)?;
        let numbers = numbers.as_primitive::<Float64Type>();
        let divide = self.op.op == ArithmeticOp::Divide;
        let scaled: IntervalMonthDayNanoArray = (0..intervals.len())
            .map(|i| {
                if intervals.is_null(i) || numbers.is_null(i) {
                    return None;
                }
                let (value, number) = (intervals.value(i), numbers.value(i));
                if divide && number == 0.0 {
                    return None;
                }
                let scale = |field: f64| {
                    if divide {
                        field / number
                    } else {
                        field * number
                    }
                };
                let months = scale(f64::from(value.months));
                let days = scale(f64::from(value.days));
                let micros = scale((value.nanoseconds / 1000) as f64);
                let whole = |v: f64| {
                    (v.is_finite() && v.trunc().abs() <= f64::from(i32::MAX))
                        .then(|| v.trunc() as i32)
                };
                let (months, whole_days) = (whole(months)?, whole(days)?);
                let micros = micros + 86_400_000_000.0 * (days - f64::from(whole_days));
                let nanos = (micros.is_finite() && micros.abs() < 9.2e15)
                    .then(|| micros.round() as i64 * 1000)?;
                Some(IntervalMonthDayNano::new(months, whole_days, nanos))
            })
            .collect();
        Ok(Arc::new(scaled))
    }

    /// Date, timestamp and interval arithmetic with Arrow's kernels; a date and an
    /// integer are a date and a number of days.
    fn datetime(&self, left: &ArrayRef, right: &ArrayRef) -> Result<ArrayRef> {
        use datafusion::arrow::compute::cast;
        use datafusion::arrow::compute::kernels::numeric;
        if *left.data_type() == DataType::Date32 && right.data_type().is_integer() {
            let days = cast(left, &DataType::Int32)?;
            let offset = cast(right, &DataType::Int32)?;
            let moved = match self.op.op {
                ArithmeticOp::Add => numeric::add(&days, &offset)?,
                ArithmeticOp::Subtract => numeric::sub(&days, &offset)?,
                _ => return exec_err!("{}: unsupported for a date", self.name),
            };
            return Ok(cast(&moved, &DataType::Date32)?);
        }
        Ok(match self.op.op {
            ArithmeticOp::Add => numeric::add(left, right)?,
            _ => numeric::sub(left, right)?,
        })
    }

    /// The operator of a date, timestamp or interval `try_add`/`try_subtract`.
    fn operator(&self) -> datafusion::logical_expr::Operator {
        use datafusion::logical_expr::Operator;
        match self.op.op {
            ArithmeticOp::Subtract => Operator::Minus,
            _ => Operator::Plus,
        }
    }
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
        if let Some(types) = self
            .datetime_types(left, right)
            .or_else(|| self.interval_types(left, right))
        {
            return Ok(types);
        }
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
        if let [left, right] = arg_types
            && self.interval_types(left, right).is_some()
        {
            return Ok(DataType::Interval(IntervalUnit::MonthDayNano));
        }
        if let [left, right] = arg_types
            && self.datetime_types(left, right).is_some()
        {
            return match (left, right) {
                (DataType::Date32, r) if r.is_integer() => Ok(DataType::Date32),
                _ => datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer::new(
                    left,
                    &self.operator(),
                    right,
                )
                .get_result_type(),
            };
        }
        self.op.return_type(arg_types)
    }

    /// Dates, timestamps and intervals are DataFusion's (or Spark's `date_add`/`date_sub`
    /// for a date and a number of days).
    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        let [left, right] = args.as_slice() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        let (left_type, right_type) = (info.get_data_type(left)?, info.get_data_type(right)?);
        if self.datetime_types(&left_type, &right_type).is_none() {
            return Ok(ExprSimplifyResult::Original(args));
        }
        use datafusion_spark::function::datetime::{date_add, date_sub};
        let days = match (self.op.op, &left_type) {
            (ArithmeticOp::Add, DataType::Date32) if right_type.is_integer() => Some(date_add()),
            (ArithmeticOp::Subtract, DataType::Date32) if right_type.is_integer() => {
                Some(date_sub())
            }
            _ => None,
        };
        let expr = match days {
            Some(udf) => {
                let days = datafusion::logical_expr::Expr::Cast(
                    datafusion::logical_expr::Cast::new(Box::new(right.clone()), DataType::Int32),
                );
                datafusion::logical_expr::Expr::ScalarFunction(
                    datafusion::logical_expr::expr::ScalarFunction::new_udf(
                        udf,
                        vec![left.clone(), days],
                    ),
                )
            }
            None => {
                datafusion::logical_expr::binary_expr(left.clone(), self.operator(), right.clone())
            }
        };
        Ok(ExprSimplifyResult::Simplified(expr))
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
        if self
            .interval_types(left.data_type(), right.data_type())
            .is_some()
        {
            return super::columnar(self.scale_interval(&left, &right)?, scalar);
        }
        if self
            .datetime_types(left.data_type(), right.data_type())
            .is_some()
        {
            let result = self
                .datetime(&left, &right)
                .or_else(|_| Ok::<_, DataFusionError>(new_null_array(args.return_type(), rows)))?;
            return super::columnar(result, scalar);
        }
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

/// Spark's type of `left / right` for decimals (`DecimalPrecision` with
/// `spark.sql.decimalOperations.allowPrecisionLoss`): scale `max(6, s1 + p2 + 1)`, integer
/// digits `p1 - s1 + s2`, at most 38 digits in all, keeping at least 6 of scale.
pub fn decimal_divide_type(left: (u8, i8), right: (u8, i8)) -> DataType {
    let (p1, s1) = (i32::from(left.0), i32::from(left.1));
    let (p2, s2) = (i32::from(right.0), i32::from(right.1));
    let scale = 6.max(s1 + p2 + 1);
    let precision = p1 - s1 + s2 + scale;
    let (precision, scale) = if precision <= 38 {
        (precision, scale)
    } else {
        let integer_digits = precision - scale;
        (38, (38 - integer_digits).max(scale.min(6)))
    };
    DataType::Decimal128(precision as u8, scale as i8)
}

/// `spark_decimal_divide(left, right, NULL::decimal(p,s), ansi)`: Spark's decimal division,
/// rounded half up to the result's scale.
pub fn decimal_divide(left: Expr, right: Expr, result: &DataType, ansi: bool) -> Result<Expr> {
    Ok(Expr::ScalarFunction(
        datafusion::logical_expr::expr::ScalarFunction::new_udf(
            Arc::new(ScalarUDF::from(DecimalDivide::new())),
            vec![
                left,
                right,
                Expr::Literal(ScalarValue::try_from(result)?, None),
                Expr::Literal(ScalarValue::Boolean(Some(ansi)), None),
            ],
        ),
    ))
}

pub(super) fn decimal_functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(DecimalDivide::new()))]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalDivide {
    signature: Signature,
}

impl DecimalDivide {
    fn new() -> Self {
        Self {
            signature: Signature::any(4, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DecimalDivide {
    fn name(&self) -> &str {
        "spark_decimal_divide"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        self.schema_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        Ok(super::binary_schema_name(args, "/", self.name()))
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.get(2).cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::Decimal128Array;
        use datafusion::arrow::datatypes::{Decimal128Type, i256};
        let rows = args.number_rows;
        let [left, right, result, ansi] = args.args.as_slice() else {
            return exec_err!("spark_decimal_divide takes four arguments");
        };
        let DataType::Decimal128(precision, scale) = result.data_type() else {
            return exec_err!("spark_decimal_divide: the result type must be a decimal");
        };
        let ansi = matches!(
            ansi,
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))
        );
        let scalar = matches!(
            (left, right),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let as_decimal = |value: &ColumnarValue| -> Result<(ArrayRef, i8)> {
            let array = value.to_array(rows)?;
            match array.data_type() {
                DataType::Decimal128(_, s) => Ok((Arc::clone(&array), *s)),
                _ => Ok((cast(&array, &DataType::Decimal128(38, 0))?, 0)),
            }
        };
        let (left, s1) = as_decimal(left)?;
        let (right, s2) = as_decimal(right)?;
        let left = datafusion::arrow::array::AsArray::as_primitive::<Decimal128Type>(&left);
        let right = datafusion::arrow::array::AsArray::as_primitive::<Decimal128Type>(&right);
        // left / right at `scale`: left * 10^(scale - s1 + s2) / right, half up.
        let shift = i32::from(scale) - i32::from(s1) + i32::from(s2);
        let ten = i256::from_i128(10);
        let limit = ten.wrapping_pow(u32::from(precision));
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if left.is_null(i) || right.is_null(i) {
                out.push(None);
                continue;
            }
            let divisor = i256::from_i128(right.value(i));
            if divisor == i256::ZERO {
                if ansi {
                    return Err(divide_by_zero());
                }
                out.push(None);
                continue;
            }
            let mut numerator = i256::from_i128(left.value(i));
            let mut divisor = divisor;
            if shift >= 0 {
                numerator = numerator.wrapping_mul(ten.wrapping_pow(shift as u32));
            } else {
                divisor = divisor.wrapping_mul(ten.wrapping_pow((-shift) as u32));
            }
            let quotient = numerator.wrapping_div(divisor);
            let remainder = numerator.wrapping_rem(divisor);
            let twice = remainder.wrapping_abs().wrapping_mul(i256::from_i128(2));
            let negative = (numerator < i256::ZERO) != (divisor < i256::ZERO);
            let rounded = if twice >= divisor.wrapping_abs() {
                if negative {
                    quotient.wrapping_sub(i256::ONE)
                } else {
                    quotient.wrapping_add(i256::ONE)
                }
            } else {
                quotient
            };
            if rounded.wrapping_abs() >= limit {
                if ansi {
                    return Err(DataFusionError::Execution(format!(
                        "[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] The result of a division \
                         cannot be represented as Decimal({precision}, {scale}). If necessary \
                         set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error, and \
                         return NULL instead. SQLSTATE: 22003"
                    )));
                }
                out.push(None);
                continue;
            }
            out.push(rounded.to_i128());
        }
        let array = Decimal128Array::from(out).with_precision_and_scale(precision, scale)?;
        super::columnar(Arc::new(array), scalar)
    }
}
