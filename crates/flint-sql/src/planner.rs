//! Spark's meaning where DataFusion's SQL planner decides itself: `struct(1, 'x')` has fields
//! `col1`, `col2` (a column or lambda variable keeps its name), not `c0`, `c1`; `array[0]` is the first
//! element.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::{DFSchema, Result};
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::logical_expr::planner::{
    ExprPlanner, PlannerResult, RawBinaryExpr, RawFieldAccessExpr,
};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, GetFieldAccess, lit};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::analyzer::{is_text, text_operand_type};
use crate::functions::arithmetic::{ArithmeticOp, arithmetic};

/// SQL types DataFusion's planner does not know, as Spark reads them: `MAP<K, V>` (in
/// `CAST(x AS MAP<STRING, INT>)`, say), read by Flint's DDL type reader.
#[derive(Debug, Default)]
pub struct SparkTypePlanner;

/// `sql_type` written as Spark's DDL writes it (`MAP<STRING, ARRAY<INT>>`), when it holds a
/// map; `None` for types DataFusion plans itself.
fn map_type_text(sql_type: &datafusion::sql::sqlparser::ast::DataType) -> Option<String> {
    use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as Sql};
    let text = |t: &Sql| map_type_text(t).unwrap_or_else(|| t.to_string());
    match sql_type {
        Sql::Map(key, value) => Some(format!("MAP<{}, {}>", text(key), text(value))),
        Sql::Array(ArrayElemTypeDef::AngleBracket(element)) => {
            map_type_text(element).map(|element| format!("ARRAY<{element}>"))
        }
        _ => None,
    }
}

#[allow(deprecated)]
impl datafusion::logical_expr::planner::TypePlanner for SparkTypePlanner {
    fn plan_type(
        &self,
        sql_type: &datafusion::sql::sqlparser::ast::DataType,
    ) -> Result<Option<DataType>> {
        match map_type_text(sql_type) {
            Some(text) => crate::ddl::parse_ddl(&text)
                .map(Some)
                .map_err(|e| datafusion::common::DataFusionError::Plan(e.to_string())),
            None => Ok(None),
        }
    }
}

/// Flint's expression planner, consulted before DataFusion's.
#[derive(Debug, Default)]
pub struct SparkExprPlanner;

impl ExprPlanner for SparkExprPlanner {
    /// Spark's operand rules that must hold before DataFusion types the expression: `div`
    /// is Spark's integral division (its ANSI mode is set by the analyzer), and text beside a
    /// number or compared with a boolean, date or timestamp is read as that type.
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let RawBinaryExpr { op, left, right } = expr;
        if op == BinaryOperator::MyIntegerDivide {
            let unresolved = Expr::Literal(ScalarValue::Boolean(None), None);
            let call = arithmetic(ArithmeticOp::IntegralDivide, left, right, false);
            let Expr::ScalarFunction(mut function) = call else {
                return Ok(PlannerResult::Planned(call));
            };
            if let Some(flag) = function.args.last_mut() {
                *flag = unresolved;
            }
            return Ok(PlannerResult::Planned(Expr::ScalarFunction(function)));
        }
        let is_arithmetic = matches!(
            op,
            BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo
        );
        let comparison = matches!(
            op,
            BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Spaceship
        );
        let (left, right) = match (left.get_type(schema), right.get_type(schema)) {
            (Ok(l), Ok(r)) if is_text(&l) && !is_text(&r) => {
                match text_operand_type(is_arithmetic, comparison, &r) {
                    Some(to) => (Expr::Cast(Cast::new(Box::new(left), to)), right),
                    None => (left, right),
                }
            }
            (Ok(l), Ok(r)) if is_text(&r) && !is_text(&l) => {
                match text_operand_type(is_arithmetic, comparison, &l) {
                    Some(to) => (left, Expr::Cast(Cast::new(Box::new(right), to))),
                    None => (left, right),
                }
            }
            _ => (left, right),
        };
        Ok(PlannerResult::Original(RawBinaryExpr { op, left, right }))
    }

    /// `array[i]` counts from 0 in Spark, from 1 in DataFusion.
    fn plan_field_access(
        &self,
        expr: RawFieldAccessExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawFieldAccessExpr>> {
        let RawFieldAccessExpr {
            field_access,
            expr: base,
        } = expr;
        let is_list = matches!(
            base.get_type(schema),
            Ok(DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..))
        );
        let field_access = match field_access {
            GetFieldAccess::ListIndex { key } if is_list => GetFieldAccess::ListIndex {
                key: Box::new(*key + lit(1)),
            },
            other => other,
        };
        Ok(PlannerResult::Original(RawFieldAccessExpr {
            field_access,
            expr: base,
        }))
    }

    /// `EXTRACT(field FROM x)` is Spark's `date_part`: seconds with their fraction, and
    /// fields of intervals.
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            datafusion::logical_expr::expr::ScalarFunction::new_udf(
                crate::functions::datetime_make::date_part(),
                args,
            ),
        )))
    }

    fn plan_struct_literal(
        &self,
        args: Vec<Expr>,
        is_named_struct: bool,
    ) -> Result<PlannerResult<Vec<Expr>>> {
        if is_named_struct {
            return Ok(PlannerResult::Original(args));
        }
        let named = args
            .into_iter()
            .enumerate()
            .flat_map(|(i, arg)| {
                let name = match &arg {
                    Expr::Column(column) => column.name.clone(),
                    Expr::LambdaVariable(variable) => variable.name.clone(),
                    _ => format!("col{}", i + 1),
                };
                [lit(name), arg]
            })
            .collect();
        Ok(PlannerResult::Planned(named_struct(named)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_types_are_read_as_spark_reads_them() {
        let parsed =
            crate::parser::parse_expression("CAST(x AS ARRAY<MAP<STRING, ARRAY<INT>>>)").unwrap();
        let datafusion::sql::sqlparser::ast::Expr::Cast { data_type, .. } = &parsed.expr else {
            panic!("not a cast: {}", parsed.expr);
        };
        #[allow(deprecated)]
        let planned =
            datafusion::logical_expr::planner::TypePlanner::plan_type(&SparkTypePlanner, data_type)
                .unwrap()
                .unwrap();
        assert_eq!(
            crate::functions::spark_type_name(&planned),
            "array<map<string,array<int>>>"
        );
    }
}
