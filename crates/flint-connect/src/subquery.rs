//! Subquery expressions of the DataFrame API: `col.isin(df)`, `df.exists()`, `df.scalar()`.
//! The client sends the subquery's relation in `WithRelations` and the expression names it
//! by plan id. Expressions are planned from SQL text, which cannot hold a plan, so the text
//! calls the placeholder `flint_subquery(kind, plan_id, typed_null, values...)` and the
//! planned expression has it replaced by DataFusion's `InSubquery`, `Exists` or
//! `ScalarSubquery` over the relation's plan (which the optimizer turns into joins). A
//! relation naming columns of the query it sits in (`col("x").outer()`, which the client
//! sends as a plain column) is planned with that query's schema, those columns becoming
//! outer references (a correlated subquery).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, LogicalPlanBuilder, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Subquery, Volatility, cast, lit,
};

/// The placeholder's name.
pub const PLACEHOLDER: &str = "flint_subquery";

/// The placeholder function, registered in a request's planning state.
pub fn placeholder_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Placeholder {
        signature: Signature::variadic_any(Volatility::Immutable),
    }))
}

/// `expr` with each placeholder call replaced by the subquery it stands for.
pub fn replace_placeholders(expr: Expr, plans: &HashMap<i64, LogicalPlan>) -> Result<Expr> {
    expr.transform_up(|expr| {
        let Expr::ScalarFunction(call) = &expr else {
            return Ok(Transformed::no(expr));
        };
        if call.func.name() != PLACEHOLDER {
            return Ok(Transformed::no(expr));
        }
        let (
            Some(Expr::Literal(ScalarValue::Utf8(Some(kind)), _)),
            Some(Expr::Literal(ScalarValue::Int64(Some(plan_id)), _)),
        ) = (call.args.first(), call.args.get(1))
        else {
            return plan_err!("a malformed subquery placeholder");
        };
        let Some(plan) = plans.get(plan_id) else {
            return plan_err!("the subquery's relation (plan id {plan_id}) was not sent");
        };
        // A correlated subquery (`col("x").outer()`) lists the outer columns it reads.
        let subquery = |plan: LogicalPlan| Subquery {
            outer_ref_columns: plan.all_out_ref_exprs(),
            subquery: Arc::new(plan),
            spans: Default::default(),
        };
        let replaced = match (kind.as_str(), &call.args[3..]) {
            ("scalar", []) => Expr::ScalarSubquery(subquery(plan.clone())),
            ("exists", []) => Expr::Exists(Exists::new(subquery(plan.clone()), false)),
            ("in", [value]) => Expr::InSubquery(InSubquery::new(
                Box::new(value.clone()),
                subquery(plan.clone()),
                false,
            )),
            // `struct(a, b).isin(df)`: the values as one struct, in a subquery of the
            // relation's rows as structs of the same field names and types.
            ("in", values) if values.len() == plan.schema().fields().len() => {
                let fields = plan.schema().columns();
                let mut row = Vec::with_capacity(values.len() * 2);
                let mut key = Vec::with_capacity(values.len() * 2);
                for (i, (value, column)) in values.iter().zip(fields).enumerate() {
                    let (_, field) = plan.schema().qualified_field_from_column(&column)?;
                    let name = lit(format!("c{i}"));
                    key.push(name.clone());
                    key.push(cast(value.clone(), field.data_type().clone()));
                    row.push(name);
                    row.push(Expr::Column(column));
                }
                let rows = LogicalPlanBuilder::from(plan.clone())
                    .project(vec![named_struct(row).alias("row")])?
                    .build()?;
                Expr::InSubquery(InSubquery::new(
                    Box::new(named_struct(key)),
                    subquery(rows),
                    false,
                ))
            }
            _ => return plan_err!("[IN_SUBQUERY_LENGTH_MISMATCH] The number of values of IN does not match the columns of the subquery"),
        };
        Ok(Transformed::yes(replaced))
    })
    .map(|t| t.data)
}

/// Typed as its third argument; never run.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Placeholder {
    signature: Signature,
}

impl ScalarUDFImpl for Placeholder {
    fn name(&self) -> &str {
        PLACEHOLDER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.get(2) {
            Some(data_type) => Ok(data_type.clone()),
            None => plan_err!("a malformed subquery placeholder"),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let data_type = self.return_type(
            &args
                .arg_fields
                .iter()
                .map(|f| f.data_type().clone())
                .collect::<Vec<_>>(),
        )?;
        Ok(Arc::new(Field::new(PLACEHOLDER, data_type, true)))
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("a subquery placeholder was left in a plan")
    }
}
