//! Spark's generators in a DataFrame projection: `explode`, `explode_outer`, `posexplode`,
//! `posexplode_outer` (of an array or a map), `inline`, `inline_outer`, `stack` and
//! `json_tuple`. A generator turns one input row into zero or more output rows, so it is
//! not an expression: the projection becomes a projection of the generator's arrays next to
//! the other items, DataFusion's `Unnest` of those arrays, and a projection that names the
//! generated columns as Spark does (`col`, `pos`, `key`/`value`, the struct's fields,
//! `col0`..., `c0`...). As in Spark, a projection holds at most one generator.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue, UnnestOptions};
use datafusion::dataframe::DataFrame as DfFrame;
use datafusion::functions::core::expr_ext::FieldAccessor;
use datafusion::logical_expr::{Expr, ExprSchemable, lit, when};
use datafusion::prelude::{cast, col};
use spark_connect::Expression;
use spark_connect::expression::ExprType;

use super::Planner;
use crate::error::ConnectError;

/// The generators Flint plans, by Spark's name.
const GENERATORS: [&str; 8] = [
    "explode",
    "explode_outer",
    "posexplode",
    "posexplode_outer",
    "inline",
    "inline_outer",
    "stack",
    "json_tuple",
];

/// A generator call in a projection: its name, arguments and the names the client gave
/// its columns (`alias("a", "b")`).
pub(super) struct GeneratorCall<'e> {
    name: String,
    arguments: &'e [Expression],
    aliases: Vec<String>,
}

impl<'e> GeneratorCall<'e> {
    /// The generator `expression` calls, if it is one (under an alias or not).
    pub(super) fn of(expression: &'e Expression) -> Option<Self> {
        let (inner, aliases) = match &expression.expr_type {
            Some(ExprType::Alias(alias)) => (alias.expr.as_deref()?, alias.name.clone()),
            _ => (expression, Vec::new()),
        };
        let Some(ExprType::UnresolvedFunction(function)) = &inner.expr_type else {
            return None;
        };
        let name = function.function_name.to_ascii_lowercase();
        GENERATORS
            .contains(&name.as_str())
            .then_some(GeneratorCall {
                name,
                arguments: &function.arguments,
                aliases,
            })
    }

    /// Names the generated columns `aliases` (`withColumn`'s name).
    pub(super) fn rename(&mut self, aliases: Vec<String>) {
        self.aliases = aliases;
    }
}

/// One item of a projection that holds a generator.
pub(super) enum Item<'e> {
    /// An ordinary (named) expression, computed once per input row.
    Value(Expr),
    /// The generator.
    Generator(GeneratorCall<'e>),
}

/// What a generator produces: the arrays to unnest together (zipped, as `posexplode`'s
/// positions and values), and its output columns: expressions of the unnested columns
/// (named `__flint_generated_{i}`), or of the input when there is nothing to unnest.
struct Generated {
    arrays: Vec<Expr>,
    columns: Vec<(String, Expr)>,
}

fn generated(i: usize) -> String {
    format!("__flint_generated_{i}")
}

fn analysis(message: String) -> ConnectError {
    ConnectError::Analysis(message)
}

impl Planner<'_> {
    /// `items` over `df`, where one item is a generator.
    pub(super) fn generate(
        &self,
        df: DfFrame,
        items: Vec<Item<'_>>,
    ) -> Result<DfFrame, ConnectError> {
        let generators = items
            .iter()
            .filter(|i| matches!(i, Item::Generator(_)))
            .count();
        if generators > 1 {
            return Err(analysis(format!(
                "[UNSUPPORTED_GENERATOR.MULTI_GENERATOR] The generator is not supported: only \
                 one generator allowed per SELECT clause but found {generators}. SQLSTATE: 42K0E"
            )));
        }
        let mut values = Vec::new();
        let mut generator = None;
        for item in items {
            match item {
                Item::Value(expr) => values.push(expr),
                Item::Generator(call) => {
                    generator = Some((values.len(), self.generator(&df, &call)?));
                }
            }
        }
        let Some((position, generated_columns)) = generator else {
            return Ok(df.select(values)?);
        };
        if generated_columns.arrays.is_empty() {
            // `json_tuple`: one row per row, its columns computed from the input.
            let columns = generated_columns
                .columns
                .into_iter()
                .map(|(name, expr)| expr.alias(name));
            values.splice(position..position, columns);
            return Ok(df.select(values)?);
        }
        // The other items and the arrays, side by side, then the arrays unnested.
        let kept = values.len();
        let mut before = values;
        let names: Vec<String> = (0..generated_columns.arrays.len()).map(generated).collect();
        for (array, name) in generated_columns.arrays.iter().zip(&names) {
            before.push(array.clone().alias(name));
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let df = df
            .select(before)?
            .unnest_columns_with_options(&names, UnnestOptions::new().with_preserve_nulls(false))?;
        let mut after: Vec<Expr> = df
            .schema()
            .iter()
            .take(kept)
            .map(|(qualifier, field)| col(Column::from((qualifier, field))))
            .collect();
        // Spark lets a generated column share a name with another column (`select('*',
        // inline(a))` of a struct with a field `a`); DataFusion needs distinct qualified
        // names, so such a column gets a qualifier of its own.
        // names, so such a column gets a qualifier of its own (as does an unqualified column
        // it clashes with: DataFusion refuses `a` next to `q.a`).
        let clashes = |name: &str| {
            generated_columns
                .columns
                .iter()
                .any(|(generated, _)| generated.eq_ignore_ascii_case(name))
        };
        for (expr, (qualifier, field)) in after.iter_mut().zip(df.schema().iter()) {
            if qualifier.is_none() && clashes(field.name()) {
                *expr = expr.clone().alias_qualified(Some("__input"), field.name());
            }
        }
        let taken: Vec<&String> = df
            .schema()
            .fields()
            .iter()
            .take(kept)
            .map(|f| f.name())
            .collect();
        let columns = generated_columns.columns.into_iter().map(|(name, expr)| {
            if taken.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
                expr.alias_qualified(Some("__generated"), name)
            } else {
                expr.alias(name)
            }
        });
        after.splice(position..position, columns);
        Ok(df.select(after)?)
    }

    /// The arrays and columns of one generator call.
    fn generator(&self, df: &DfFrame, call: &GeneratorCall<'_>) -> Result<Generated, ConnectError> {
        let planned = call
            .arguments
            .iter()
            .map(|argument| self.expression(df, argument))
            .collect::<Result<Vec<_>, _>>()?;
        let schema = df.schema();
        let name = call.name.as_str();
        let wrong_arguments = |expected: &str| {
            analysis(format!(
                "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `{name}` requires {expected} parameters \
                 but the actual number is {}. SQLSTATE: 42605",
                planned.len()
            ))
        };
        let outer = name.ends_with("_outer");
        let unnested = |i: usize| col(generated(i));
        let mut generated = match name {
            "explode" | "explode_outer" | "posexplode" | "posexplode_outer" => {
                let [argument] = planned.as_slice() else {
                    return Err(wrong_arguments("1"));
                };
                let array = argument.expr.clone();
                let (array, map) = match array.get_type(schema)? {
                    DataType::Map(..) => (
                        datafusion::functions_nested::expr_fn::map_entries(array),
                        true,
                    ),
                    DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::FixedSizeList(..)
                    | DataType::Null => (array, false),
                    other => {
                        return Err(analysis(format!(
                            "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \
                             \"{name}({})\" due to data type mismatch: The first parameter \
                             requires the (\"ARRAY\" or \"MAP\") type, however \"{}\" has the \
                             type \"{other}\". SQLSTATE: 42K09",
                            argument.rendered.name, argument.rendered.name
                        )));
                    }
                };
                let mut arrays = Vec::new();
                let mut columns = Vec::new();
                if name.starts_with("pos") {
                    let last = cast(
                        datafusion::functions_nested::expr_fn::cardinality(array.clone()),
                        DataType::Int64,
                    ) - lit(1i64);
                    let positions = datafusion::functions_nested::expr_fn::gen_series(
                        lit(0i64),
                        last,
                        lit(1i64),
                    );
                    arrays.push(if outer {
                        at_least_one_row(&array, positions, &DataType::Int64)?
                    } else {
                        positions
                    });
                    columns.push(("pos".to_string(), cast(unnested(0), DataType::Int32)));
                }
                let values = arrays.len();
                let element = element_type(&array.get_type(schema)?);
                arrays.push(if outer {
                    at_least_one_row(&array, array.clone(), &element)?
                } else {
                    array
                });
                if map {
                    for field in ["key", "value"] {
                        columns.push((field.to_string(), unnested(values).field(field)));
                    }
                } else {
                    columns.push(("col".to_string(), unnested(values)));
                }
                Generated { arrays, columns }
            }
            "inline" | "inline_outer" => {
                let [argument] = planned.as_slice() else {
                    return Err(wrong_arguments("1"));
                };
                let array = argument.expr.clone();
                let element = element_type(&array.get_type(schema)?);
                let DataType::Struct(fields) = &element else {
                    return Err(analysis(format!(
                        "[DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE] Cannot resolve \
                         \"{name}({})\" due to data type mismatch: The first parameter requires \
                         the \"ARRAY<STRUCT>\" type, however \"{}\" has the type \"{}\". \
                         SQLSTATE: 42K09",
                        argument.rendered.name,
                        argument.rendered.name,
                        array.get_type(schema)?
                    )));
                };
                let columns = fields
                    .iter()
                    .map(|field| (field.name().clone(), unnested(0).field(field.name())))
                    .collect();
                let array = if outer {
                    at_least_one_row(&array, array.clone(), &element)?
                } else {
                    array
                };
                Generated {
                    arrays: vec![array],
                    columns,
                }
            }
            "stack" => {
                let Some((rows, values)) = planned.split_first() else {
                    return Err(wrong_arguments("> 1"));
                };
                let count = match &rows.expr {
                    Expr::Literal(value, _) => match value {
                        ScalarValue::Int8(Some(n)) => i64::from(*n),
                        ScalarValue::Int16(Some(n)) => i64::from(*n),
                        ScalarValue::Int32(Some(n)) => i64::from(*n),
                        ScalarValue::Int64(Some(n)) => *n,
                        _ => 0,
                    },
                    _ => 0,
                };
                if count < 1 || values.is_empty() {
                    return Err(analysis(format!(
                        "[DATATYPE_MISMATCH.NON_FOLDABLE_INPUT] Cannot resolve \"stack\": the \
                         first argument must be a positive integer literal, followed by at \
                         least one value; got \"{}\". SQLSTATE: 42K09",
                        rows.rendered.name
                    )));
                }
                let rows = count as usize;
                let width = values.len().div_ceil(rows);
                let mut arrays = Vec::new();
                let mut columns = Vec::new();
                for column in 0..width {
                    let cells: Vec<Expr> = (0..rows)
                        .map(|row| {
                            values
                                .get(row * width + column)
                                .map_or(lit(ScalarValue::Null), |v| v.expr.clone())
                        })
                        .collect();
                    arrays.push(datafusion::functions_nested::expr_fn::make_array(cells));
                    columns.push((format!("col{column}"), unnested(column)));
                }
                Generated { arrays, columns }
            }
            "json_tuple" => {
                let Some((json, keys)) = planned.split_first() else {
                    return Err(wrong_arguments("> 1"));
                };
                if keys.is_empty() {
                    return Err(wrong_arguments("> 1"));
                }
                let columns = keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| {
                        let sql = flint_sql::parser::json_tuple_field(
                            &json.rendered.sql,
                            &key.rendered.sql,
                        );
                        Ok((format!("c{i}"), self.sql_expr(schema, &sql)?))
                    })
                    .collect::<Result<_, ConnectError>>()?;
                Generated {
                    arrays: Vec::new(),
                    columns,
                }
            }
            _ => return Err(ConnectError::Unsupported(format!("generator {name}"))),
        };
        if !call.aliases.is_empty() {
            if call.aliases.len() != generated.columns.len() {
                return Err(analysis(format!(
                    "[UDTF_ALIAS_NUMBER_MISMATCH] The number of aliases supplied in the AS \
                     clause does not match the number of columns output by the UDTF. Expected \
                     {} aliases, but got {}. SQLSTATE: 42802",
                    generated.columns.len(),
                    call.aliases.join(", ")
                )));
            }
            for ((name, _), alias) in generated.columns.iter_mut().zip(&call.aliases) {
                *name = alias.clone();
            }
        }
        Ok(generated)
    }
}

/// The element type of a list type (NULL for anything else).
fn element_type(t: &DataType) -> DataType {
    match t {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            field.data_type().clone()
        }
        _ => DataType::Null,
    }
}

/// `values` where `array` has elements, else a one-element array holding NULL: the
/// `_outer` generators keep a row for a NULL or empty array.
fn at_least_one_row(array: &Expr, values: Expr, element: &DataType) -> Result<Expr, ConnectError> {
    let null_row = ScalarValue::List(ScalarValue::new_list_nullable(
        &[ScalarValue::try_from(element)?],
        element,
    ));
    let has_elements = array
        .clone()
        .is_not_null()
        .and(datafusion::functions_nested::expr_fn::cardinality(array.clone()).gt(lit(0u64)));
    Ok(when(has_elements, values).otherwise(lit(null_row))?)
}
