//! Spark aggregate functions that are DataFusion aggregates written another way; each plans
//! as that aggregate when the optimizer simplifies it, so no accumulator of its own exists:
//! `count_if(c)` is `count(CASE WHEN c THEN 1 END)`, `max_by(x, y)` is `first_value(x ORDER
//! BY y DESC)`, `min_by(x, y)` is `first_value(x ORDER BY y)`, `approx_count_distinct(x[,
//! relativeSD])` is `approx_distinct(x)`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, not_impl_err, plan_err};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::first_last::first_value_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, TypeSignature, Volatility, lit,
    when,
};

pub(super) fn functions() -> Vec<Arc<AggregateUDF>> {
    [
        Kind::CountIf,
        Kind::MaxBy,
        Kind::MinBy,
        Kind::ApproxCountDistinct,
    ]
    .into_iter()
    .map(|kind| {
        let signature = match kind {
            // `approx_count_distinct(x[, relativeSD])`.
            Kind::ApproxCountDistinct => Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
            _ => Signature::any(kind.arity(), Volatility::Immutable),
        };
        Arc::new(AggregateUDF::from(Rewritten { kind, signature }))
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    CountIf,
    MaxBy,
    MinBy,
    ApproxCountDistinct,
}

impl Kind {
    fn arity(self) -> usize {
        match self {
            Kind::CountIf | Kind::ApproxCountDistinct => 1,
            Kind::MaxBy | Kind::MinBy => 2,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Rewritten {
    kind: Kind,
    signature: Signature,
}

impl AggregateUDFImpl for Rewritten {
    fn name(&self) -> &str {
        match self.kind {
            Kind::CountIf => "count_if",
            Kind::MaxBy => "max_by",
            Kind::MinBy => "min_by",
            Kind::ApproxCountDistinct => "approx_count_distinct",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match (self.kind, arg_types) {
            (Kind::CountIf, [DataType::Boolean | DataType::Null]) => Ok(DataType::Int64),
            (Kind::ApproxCountDistinct, _) => Ok(DataType::UInt64),
            (Kind::CountIf, [other]) => plan_err!(
                "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] count_if needs a boolean, got {other}"
            ),
            (_, [value, _]) => Ok(value.clone()),
            _ => plan_err!("{} takes {} arguments", self.name(), self.kind.arity()),
        }
    }

    fn is_nullable(&self) -> bool {
        !matches!(self.kind, Kind::CountIf | Kind::ApproxCountDistinct)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        not_impl_err!("{} runs as the aggregate it simplifies to", self.name())
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let kind = self.kind;
        Some(Box::new(move |function: AggregateFunction, _context| {
            let mut params = function.params;
            let rewritten = match (kind, params.args.as_slice()) {
                (Kind::CountIf, [condition]) => {
                    params.args = vec![when(condition.clone(), lit(1)).end()?];
                    AggregateFunction::new_udf(
                        count_udaf(),
                        params.args,
                        params.distinct,
                        params.filter,
                        params.order_by,
                        params.null_treatment,
                    )
                }
                (Kind::MaxBy | Kind::MinBy, [value, by]) => {
                    let ascending = kind == Kind::MinBy;
                    AggregateFunction::new_udf(
                        first_value_udaf(),
                        vec![value.clone()],
                        false,
                        params.filter,
                        vec![by.clone().sort(ascending, false)],
                        None,
                    )
                }
                // DataFusion's HyperLogLog has a fixed precision (its error is within Spark's
                // default 5%); Spark's relativeSD is taken and not used.
                (Kind::ApproxCountDistinct, [value, ..]) => AggregateFunction::new_udf(
                    datafusion::functions_aggregate::approx_distinct::approx_distinct_udaf(),
                    vec![value.clone()],
                    params.distinct,
                    params.filter,
                    params.order_by,
                    params.null_treatment,
                ),
                _ => return plan_err!("wrong number of arguments"),
            };
            Ok(Expr::AggregateFunction(rewritten))
        }))
    }
}
