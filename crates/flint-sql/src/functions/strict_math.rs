//! Spark's math functions compute with `java.lang.StrictMath` (fdlibm), whose last bit
//! differs from the platform's libm that DataFusion's call: Spark's `exp(1)` is
//! `2.7182818284590455`, DataFusion's `2.718281828459045`; `cosh(1)` is `1.543080634815244`,
//! not `1.5430806348152437`. These are the same functions on the `libm` crate, FreeBSD's
//! msun, which is fdlibm, with Spark's formulas where Spark has its own (`log2` as
//! `log(x) / log(2)`, `cot` as `1 / tan`, `asinh` through `log` and `sqrt`, `degrees` times
//! Java's constant). Arguments are doubles (Spark casts numbers to double), results too.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

/// Java's `Math.toDegrees` factor.
const RADIANS_TO_DEGREES: f64 = 57.295_779_513_082_32;
/// Java's `Math.toRadians` factor.
const DEGREES_TO_RADIANS: f64 = 0.017_453_292_519_943_295;

/// One of Spark's `StrictMath` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MathFunction {
    Exp,
    Expm1,
    Ln,
    Log10,
    Log2,
    Log1p,
    Sin,
    Cos,
    Tan,
    Cot,
    Csc,
    Sec,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Cbrt,
    Degrees,
    Radians,
    Atan2,
    Power,
    Hypot,
    /// `log(x)` or `log(base, x)`.
    Log,
}

impl MathFunction {
    fn unary(self, x: f64) -> f64 {
        use MathFunction::*;
        match self {
            Exp => libm::exp(x),
            Expm1 => libm::expm1(x),
            Ln | Log => libm::log(x),
            Log10 => libm::log10(x),
            Log2 => libm::log(x) / libm::log(2.0),
            Log1p => libm::log1p(x),
            Sin => libm::sin(x),
            Cos => libm::cos(x),
            Tan => libm::tan(x),
            Cot => 1.0 / libm::tan(x),
            Csc => 1.0 / libm::sin(x),
            Sec => 1.0 / libm::cos(x),
            Asin => libm::asin(x),
            Acos => libm::acos(x),
            Atan => libm::atan(x),
            Sinh => libm::sinh(x),
            Cosh => libm::cosh(x),
            Tanh => libm::tanh(x),
            Asinh => {
                if x == f64::NEG_INFINITY {
                    x
                } else {
                    libm::log(x + libm::sqrt(x * x + 1.0))
                }
            }
            Acosh => libm::log(x + libm::sqrt(x * x - 1.0)),
            Atanh => 0.5 * (libm::log1p(x) - libm::log1p(-x)),
            Cbrt => libm::cbrt(x),
            Degrees => x * RADIANS_TO_DEGREES,
            Radians => x * DEGREES_TO_RADIANS,
            Atan2 | Power | Hypot => f64::NAN,
        }
    }

    fn binary(self, a: f64, b: f64) -> f64 {
        match self {
            // Spark adds 0.0 to turn -0.0 into 0.0 before `atan2`.
            MathFunction::Atan2 => libm::atan2(a + 0.0, b + 0.0),
            MathFunction::Power => libm::pow(a, b),
            MathFunction::Hypot => libm::hypot(a, b),
            // `log(base, x)`: Spark's `Logarithm`.
            MathFunction::Log => libm::log(b) / libm::log(a),
            _ => f64::NAN,
        }
    }
}

const FUNCTIONS: &[(&str, MathFunction, usize)] = &[
    ("exp", MathFunction::Exp, 1),
    ("expm1", MathFunction::Expm1, 1),
    ("ln", MathFunction::Ln, 1),
    ("log10", MathFunction::Log10, 1),
    ("log2", MathFunction::Log2, 1),
    ("log1p", MathFunction::Log1p, 1),
    ("sin", MathFunction::Sin, 1),
    ("cos", MathFunction::Cos, 1),
    ("tan", MathFunction::Tan, 1),
    ("cot", MathFunction::Cot, 1),
    ("csc", MathFunction::Csc, 1),
    ("sec", MathFunction::Sec, 1),
    ("asin", MathFunction::Asin, 1),
    ("acos", MathFunction::Acos, 1),
    ("atan", MathFunction::Atan, 1),
    ("sinh", MathFunction::Sinh, 1),
    ("cosh", MathFunction::Cosh, 1),
    ("tanh", MathFunction::Tanh, 1),
    ("asinh", MathFunction::Asinh, 1),
    ("acosh", MathFunction::Acosh, 1),
    ("atanh", MathFunction::Atanh, 1),
    ("cbrt", MathFunction::Cbrt, 1),
    ("degrees", MathFunction::Degrees, 1),
    ("radians", MathFunction::Radians, 1),
    ("atan2", MathFunction::Atan2, 2),
    ("power", MathFunction::Power, 2),
    ("pow", MathFunction::Power, 2),
    ("hypot", MathFunction::Hypot, 2),
    ("log", MathFunction::Log, 0),
];

/// The functions, for the registry.
pub(super) fn functions() -> Vec<Arc<ScalarUDF>> {
    FUNCTIONS
        .iter()
        .map(|(name, function, arity)| {
            let arities = match arity {
                0 => vec![1, 2],
                n => vec![*n],
            };
            let signature = Signature::one_of(
                arities
                    .into_iter()
                    .map(|n| TypeSignature::Uniform(n, vec![DataType::Float64]))
                    .collect(),
                Volatility::Immutable,
            );
            Arc::new(ScalarUDF::new_from_impl(StrictMath {
                name,
                function: *function,
                signature,
            }))
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StrictMath {
    name: &'static str,
    function: MathFunction,
    signature: Signature,
}

impl ScalarUDFImpl for StrictMath {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|arg| {
                let array = arg.to_array(rows)?;
                Ok(cast(&array, &DataType::Float64)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let result: Float64Array = match arrays.as_slice() {
            [x] => x
                .as_primitive::<Float64Type>()
                .unary(|x| self.function.unary(x)),
            [a, b] => datafusion::arrow::compute::binary(
                a.as_primitive::<Float64Type>(),
                b.as_primitive::<Float64Type>(),
                |a, b| self.function.binary(a, b),
            )?,
            _ => return exec_err!("{} takes one or two arguments", self.name),
        };
        let all_scalars = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        if all_scalars {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&result, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(Arc::new(result)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values Spark 4 answers (from its documentation's examples, run on a JVM).
    #[test]
    fn answers_are_strict_math_s() {
        assert_eq!(
            MathFunction::Exp.unary(1.0).to_string(),
            "2.7182818284590455"
        );
        assert_eq!(
            MathFunction::Cosh.unary(1.0).to_string(),
            "1.543080634815244"
        );
        assert_eq!(MathFunction::Degrees.unary(std::f64::consts::PI), 180.0);
        assert_eq!(MathFunction::Log.binary(2.0, 8.0), 3.0);
    }
}
