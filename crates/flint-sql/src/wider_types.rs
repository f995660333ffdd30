//! Spark's wider type of a decimal and a floating-point number is `double`
//! (`DecimalPrecision`'s rule), where DataFusion's union resolution makes both a
//! `decimal(30,15)`: `VALUES (0.0), (pi())`, `coalesce(0.5, x)`, `CASE ... THEN 0.5 ELSE x END`,
//! `array(0.5, x)`, `x IN (0.5, y)` and `UNION` columns. The analyzer rule
//! [`SparkWiderTypes`] casts the decimal side to `double` before DataFusion's type coercion
//! sees it (a `VALUES` list, typed when it was planned, is retyped).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Case, InList, ScalarFunction};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, Projection, Union, Values};
use datafusion::optimizer::AnalyzerRule;

/// Functions whose arguments meet in one result type.
const COMMON_TYPE_FUNCTIONS: &[&str] = &[
    "coalesce",
    "nvl",
    "ifnull",
    "greatest",
    "least",
    "make_array",
    "array",
];

/// Casts the decimal side of a decimal meeting a floating-point number to `double`.
#[derive(Debug)]
pub struct SparkWiderTypes;

/// Whether `types` hold both a decimal and a floating-point number.
fn decimal_meets_float<'a>(types: impl IntoIterator<Item = &'a DataType>) -> bool {
    let (mut decimal, mut float) = (false, false);
    for t in types {
        decimal |= t.is_decimal();
        float |= t.is_floating();
    }
    decimal && float
}

/// `exprs` with each decimal one cast to `double`, when a decimal meets a float among them.
fn widen(exprs: Vec<Expr>, schema: &DFSchema) -> (Vec<Expr>, bool) {
    let types: Vec<Option<DataType>> = exprs.iter().map(|e| e.get_type(schema).ok()).collect();
    if !decimal_meets_float(types.iter().flatten()) {
        return (exprs, false);
    }
    let widened = exprs
        .into_iter()
        .zip(&types)
        .map(|(expr, t)| match t {
            Some(t) if t.is_decimal() => Expr::Cast(Cast::new(Box::new(expr), DataType::Float64)),
            _ => expr,
        })
        .collect();
    (widened, true)
}

fn widen_expr(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    Ok(match expr {
        Expr::Case(case) => {
            let Case {
                expr: operand,
                when_then_expr,
                else_expr,
            } = case;
            let (whens, thens): (Vec<Box<Expr>>, Vec<Box<Expr>>) =
                when_then_expr.into_iter().unzip();
            let mut results: Vec<Expr> = thens.into_iter().map(|e| *e).collect();
            let has_else = else_expr.is_some();
            results.extend(else_expr.map(|e| *e));
            let (mut results, changed) = widen(results, schema);
            let else_expr = if has_else {
                results.pop().map(Box::new)
            } else {
                None
            };
            let when_then_expr = whens
                .into_iter()
                .zip(results.into_iter().map(Box::new))
                .collect();
            let case = Expr::Case(Case {
                expr: operand,
                when_then_expr,
                else_expr,
            });
            if changed {
                Transformed::yes(case)
            } else {
                Transformed::no(case)
            }
        }
        Expr::ScalarFunction(ScalarFunction { func, args })
            if COMMON_TYPE_FUNCTIONS.contains(&func.name()) =>
        {
            let (args, changed) = widen(args, schema);
            let call = Expr::ScalarFunction(ScalarFunction { func, args });
            if changed {
                Transformed::yes(call)
            } else {
                Transformed::no(call)
            }
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let mut all = vec![*expr];
            all.extend(list);
            let (mut all, changed) = widen(all, schema);
            let expr = Box::new(all.remove(0));
            let in_list = Expr::InList(InList {
                expr,
                list: all,
                negated,
            });
            if changed {
                Transformed::yes(in_list)
            } else {
                Transformed::no(in_list)
            }
        }
        other => Transformed::no(other),
    })
}

/// A `VALUES` list whose column mixes decimals and floats, as `double`s (DataFusion typed
/// it when it was planned, casting every row to its common type).
fn widen_values(values: Values) -> Result<Transformed<LogicalPlan>> {
    let columns = values.schema.fields().len();
    let empty = DFSchema::empty();
    // A row's value as written: under the cast to the column's common type, if any.
    let written = |e: &Expr| -> Expr {
        match e {
            Expr::Cast(Cast { expr, .. }) => expr.as_ref().clone(),
            other => other.clone(),
        }
    };
    let widened: Vec<bool> = (0..columns)
        .map(|j| {
            values.schema.field(j).data_type().is_decimal()
                && decimal_meets_float(
                    values
                        .values
                        .iter()
                        .filter_map(|row| written(&row[j]).get_type(&empty).ok())
                        .collect::<Vec<_>>()
                        .iter(),
                )
        })
        .collect();
    if !widened.contains(&true) {
        return Ok(Transformed::no(LogicalPlan::Values(values)));
    }
    let rows = values
        .values
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, e)| {
                    if widened[j] {
                        Expr::Cast(Cast::new(Box::new(written(e)), DataType::Float64))
                    } else {
                        e.clone()
                    }
                })
                .collect()
        })
        .collect();
    let fields: Vec<(Option<datafusion::common::TableReference>, Arc<Field>)> = values
        .schema
        .iter()
        .enumerate()
        .map(|(j, (qualifier, field))| {
            let field = if widened[j] {
                Arc::new(field.as_ref().clone().with_data_type(DataType::Float64))
            } else {
                Arc::clone(field)
            };
            (qualifier.cloned(), field)
        })
        .collect();
    let schema = DFSchema::new_with_metadata(fields, values.schema.metadata().clone())?;
    Ok(Transformed::yes(LogicalPlan::Values(Values {
        schema: Arc::new(schema),
        values: rows,
    })))
}

/// A `UNION` whose column is a decimal in one input and a float in another: the decimal
/// inputs cast that column to `double`.
fn widen_union(union: Union) -> Result<Transformed<LogicalPlan>> {
    let columns = union.schema.fields().len();
    let widened: Vec<bool> = (0..columns)
        .map(|j| {
            decimal_meets_float(
                union
                    .inputs
                    .iter()
                    .filter_map(|input| input.schema().fields().get(j).map(|f| f.data_type()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    if !widened.contains(&true) {
        return Ok(Transformed::no(LogicalPlan::Union(union)));
    }
    let inputs = union
        .inputs
        .into_iter()
        .map(|input| {
            let schema = input.schema();
            let needs = (0..columns).any(|j| {
                widened[j]
                    && schema
                        .fields()
                        .get(j)
                        .is_some_and(|f| f.data_type().is_decimal())
            });
            if !needs {
                return Ok(input);
            }
            let exprs = schema
                .iter()
                .enumerate()
                .map(|(j, (qualifier, field))| {
                    let column = Expr::Column(datafusion::common::Column::new(
                        qualifier.cloned(),
                        field.name(),
                    ));
                    if widened[j] && field.data_type().is_decimal() {
                        Expr::Cast(Cast::new(Box::new(column), DataType::Float64))
                            .alias_qualified(qualifier.cloned(), field.name())
                    } else {
                        column
                    }
                })
                .collect();
            Ok(Arc::new(LogicalPlan::Projection(Projection::try_new(
                exprs, input,
            )?)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::yes(LogicalPlan::Union(
        Union::try_new_with_loose_types(inputs)?,
    )))
}

impl AnalyzerRule for SparkWiderTypes {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        let plan = crate::analyzer::rewrite_plan(plan, &widen_expr)?;
        let widened = plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Values(values) => widen_values(values),
            LogicalPlan::Union(union) => widen_union(union),
            other => Ok(Transformed::no(other)),
        })?;
        if !widened.transformed {
            return Ok(widened.data);
        }
        // The nodes above a retyped one see the new types.
        widened
            .data
            .transform_up_with_subqueries(|node| Ok(Transformed::yes(node.recompute_schema()?)))
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spark_wider_types"
    }
}
