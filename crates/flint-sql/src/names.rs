//! The names Spark gives the columns of computed expressions (its `toPrettySQL`): `(a + 1)`,
//! `sum(v)`, `count(1)`, `CAST(x AS INT)`, `upper(a)`. Connect expressions are named by
//! `flint-connect` with [`call_name`]; `spark.sql` text by [`name_select_items`], which
//! names each unnamed computed item of every `SELECT` from its syntax tree before Flint's
//! rewrites change it (DataFusion would name `1 + 1` as `Int64(1) + Int64(1)`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Query,
    SelectItem, SetExpr, Statement, UnaryOperator, Value, VisitMut, VisitorMut,
};

/// Functions whose columns Spark names in capitals (its math expressions' pretty names):
/// `F.acos("x")` is `ACOS(x)`.
const UPPER_CASE_NAMES: &[&str] = &[
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "cbrt",
    "ceil",
    "cos",
    "cosh",
    "cot",
    "csc",
    "degrees",
    "e",
    "exp",
    "expm1",
    "floor",
    "hypot",
    "log",
    "log10",
    "log1p",
    "log2",
    "pi",
    "power",
    "radians",
    "regexp",
    "regexp_like",
    "rlike",
    "sec",
    "signum",
    "sin",
    "sinh",
    "spark_partition_id",
    "sqrt",
    "tan",
    "tanh",
];

/// Aggregates whose second argument is an ignore-nulls flag Spark leaves out of the name.
const IGNORE_NULLS_FLAG: &[&str] = &["any_value", "first", "first_value", "last", "last_value"];

/// Arguments Spark fills in when a call leaves them out, and shows in the column's name:
/// `round(x)` is named `round(x, 0)`. Each entry: the function, how many arguments the
/// short call has, and the name of the one Spark adds.
const DEFAULT_ARGUMENTS: &[(&str, usize, &str)] = &[
    ("round", 1, "0"),
    ("bround", 1, "0"),
    ("st_asbinary", 1, "NDR"),
    ("replace", 2, ""),
    ("st_geomfromwkb", 1, "0"),
    ("position", 2, "1"),
    ("substr", 2, "2147483647"),
    ("substring", 2, "2147483647"),
    ("regexp_replace", 3, "1"),
    ("regexp_extract_all", 2, "1"),
    ("regexp_instr", 2, "0"),
    ("unix_timestamp", 1, "yyyy-MM-dd HH:mm:ss"),
    ("to_unix_timestamp", 1, "yyyy-MM-dd HH:mm:ss"),
    ("listagg", 1, "NULL"),
    ("string_agg", 1, "NULL"),
    ("hll_sketch_agg", 1, "12"),
    ("hll_union", 2, "false"),
    ("hll_union_agg", 1, "false"),
    ("theta_sketch_agg", 1, "12"),
    ("theta_union", 2, "12"),
    ("theta_union_agg", 1, "12"),
    ("tuple_intersection_double", 2, "sum"),
    ("tuple_intersection_integer", 2, "sum"),
    ("tuple_intersection_theta_double", 2, "sum"),
    ("tuple_intersection_theta_integer", 2, "sum"),
    ("tuple_intersection_agg_double", 1, "sum"),
    ("tuple_intersection_agg_integer", 1, "sum"),
    ("tuple_sketch_summary_double", 1, "sum"),
    ("tuple_sketch_summary_integer", 1, "sum"),
];

/// Calls whose name shows only their first arguments (the rest are options, a schema or a
/// seed): `from_csv(value, 'a INT')` is named `from_csv(value)`. Each entry: the function
/// and how many arguments its name keeps.
const NAMED_ARGUMENTS: &[(&str, usize)] = &[
    ("from_csv", 1),
    ("from_json", 1),
    ("from_xml", 1),
    ("schema_of_csv", 1),
    ("schema_of_json", 1),
    ("schema_of_xml", 1),
    ("to_csv", 1),
    ("to_json", 1),
    ("to_xml", 1),
    ("shuffle", 1),
];

/// Calls Spark names after another function: `dateadd(d, 1)` is `date_add(d, 1)`.
const RENAMED: &[(&str, &str)] = &[
    ("dateadd", "date_add"),
    ("current_database", "current_schema"),
];

/// The name Spark gives the column of a call of `name` whose arguments are named `names`.
pub fn call_name(name: &str, distinct: &str, mut names: Vec<&str>) -> String {
    let lower = name.to_ascii_lowercase();
    // `ceil(x, 1)` and `floor(x, 1)` keep their lower-case names; a function the user
    // registered keeps the case it was registered with.
    let scaled = matches!(lower.as_str(), "ceil" | "floor") && names.len() > 1;
    let mut shown = if UPPER_CASE_NAMES.contains(&lower.as_str()) && !scaled {
        lower.to_ascii_uppercase()
    } else if name != lower && !RENAMED.iter().any(|(from, _)| *from == lower) {
        name.to_string()
    } else {
        lower.clone()
    };
    if let Some((_, to)) = RENAMED.iter().find(|(from, _)| *from == lower) {
        shown = (*to).to_string();
    }
    // The ignore-nulls flag the client always sends is not part of Spark's name.
    if IGNORE_NULLS_FLAG.contains(&lower.as_str())
        && names.len() == 2
        && matches!(names[1], "true" | "false")
    {
        names.pop();
    }
    if let Some((_, _, default)) = DEFAULT_ARGUMENTS
        .iter()
        .find(|(function, short, _)| *function == lower && *short == names.len())
    {
        names.push(default);
    }
    if let Some((_, kept)) = NAMED_ARGUMENTS
        .iter()
        .find(|(function, _)| *function == lower)
    {
        names.truncate(*kept);
    }
    // A time window is a column named after the function alone.
    if matches!(lower.as_str(), "window" | "session_window") {
        return lower;
    }
    // `uuid(seed)`: the seed is the client's own draw, not part of Spark's name.
    if lower == "uuid" {
        return "uuid()".to_string();
    }
    match (lower.as_str(), names.as_slice()) {
        // mode(x, deterministic): only a deterministic mode names its flag.
        ("mode", [value, "false"]) => names = vec![value],
        // With a zone, try_make_timestamp is named after its fields alone.
        ("try_make_timestamp", [fields @ .., _zone]) if fields.len() == 6 => names.truncate(6),
        _ => {}
    }
    format!("{shown}({distinct}{})", names.join(", "))
}

/// Functions that make rows or columns rather than values (`explode(xs)` is named `col`):
/// their items keep the names Flint's generator rewrites give them.
const GENERATORS: &[&str] = &[
    "explode",
    "explode_outer",
    "posexplode",
    "posexplode_outer",
    "inline",
    "inline_outer",
    "stack",
    "json_tuple",
];

/// Gives each unnamed computed item of every `SELECT` in `statement` the name Spark gives
/// it, as an alias. Items Spark names as DataFusion does (columns), items whose Spark name
/// Flint does not know (window functions, subqueries, ...) and items whose name another item
/// of the same `SELECT` already has (Spark allows two columns of one name, DataFusion does
/// not) are left as they are.
pub fn name_select_items(statement: &mut Statement) {
    let _ = statement.visit(&mut SelectNamer);
}

struct SelectNamer;

impl VisitorMut for SelectNamer {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<Self::Break> {
        name_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn name_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => name_projection(&mut select.projection),
        SetExpr::SetOperation { left, right, .. } => {
            name_set_expr(left);
            name_set_expr(right);
        }
        _ => {}
    }
}

fn name_projection(projection: &mut [SelectItem]) {
    let mut taken: Vec<String> = projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_ascii_lowercase()),
            SelectItem::UnnamedExpr(Expr::Identifier(ident)) => {
                Some(ident.value.to_ascii_lowercase())
            }
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(|p| p.value.to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    for item in projection.iter_mut() {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let Some(name) = item_name(expr) else {
            continue;
        };
        if taken.contains(&name.to_ascii_lowercase()) {
            continue;
        }
        taken.push(name.to_ascii_lowercase());
        let expr = std::mem::replace(expr, Expr::value(Value::Null));
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('`', name),
        };
    }
}

/// Spark's name for a select item: as [`expr_name`], except that a cast of a column keeps
/// the column's name (Spark's `ResolveAliases`). `None` for a bare column and a generator.
fn item_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Wildcard(_) => None,
        Expr::QualifiedWildcard(..) => None,
        Expr::Cast { expr: inner, .. } => match inner.as_ref() {
            Expr::Identifier(ident) => Some(ident.value.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
            _ => expr_name(expr),
        },
        Expr::Function(function)
            if GENERATORS.contains(&function.name.to_string().to_ascii_lowercase().as_str()) =>
        {
            None
        }
        _ => expr_name(expr),
    }
}

/// Spark's pretty SQL of `expr` (`toPrettySQL`), or `None` where Flint does not know it.
pub fn expr_name(expr: &Expr) -> Option<String> {
    Some(match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
        Expr::Value(value) => value_name(&value.value)?,
        Expr::Nested(inner) => expr_name(inner)?,
        Expr::TypedString(typed) => {
            let text = typed.value.value.clone().into_string()?;
            let kind = match &typed.data_type {
                datafusion::sql::sqlparser::ast::DataType::Date => "DATE",
                datafusion::sql::sqlparser::ast::DataType::Timestamp(..)
                | datafusion::sql::sqlparser::ast::DataType::TimestampNtz(..) => "TIMESTAMP",
                datafusion::sql::sqlparser::ast::DataType::Time(..) => "TIME",
                _ => return None,
            };
            format!("{kind} '{text}'")
        }
        Expr::UnaryOp { op, expr: inner } => match (op, inner.as_ref()) {
            // Spark reads `-1` as the literal -1.
            (UnaryOperator::Minus, Expr::Value(value))
                if matches!(value.value, Value::Number(..)) =>
            {
                format!("-{}", value_name(&value.value)?)
            }
            (UnaryOperator::Minus, inner) => format!("(- {})", expr_name(inner)?),
            (UnaryOperator::Plus, inner) => format!("(+ {})", expr_name(inner)?),
            (UnaryOperator::Not, inner) => format!("(NOT {})", expr_name(inner)?),
            (UnaryOperator::BitwiseNot, inner) => format!("~{}", expr_name(inner)?),
            _ => return None,
        },
        Expr::BinaryOp { left, op, right } => {
            let (left, right) = (expr_name(left)?, expr_name(right)?);
            let symbol = match op {
                BinaryOperator::Plus => "+",
                BinaryOperator::Minus => "-",
                BinaryOperator::Multiply => "*",
                BinaryOperator::Divide => "/",
                BinaryOperator::Modulo => "%",
                BinaryOperator::Eq => "=",
                BinaryOperator::Lt => "<",
                BinaryOperator::LtEq => "<=",
                BinaryOperator::Gt => ">",
                BinaryOperator::GtEq => ">=",
                BinaryOperator::Spaceship => "<=>",
                BinaryOperator::And => "AND",
                BinaryOperator::Or => "OR",
                BinaryOperator::BitwiseAnd => "&",
                BinaryOperator::BitwiseOr => "|",
                BinaryOperator::BitwiseXor => "^",
                BinaryOperator::MyIntegerDivide => "div",
                // Spark's `a != b` is `NOT (a = b)`, and `a || b` is `concat(a, b)`.
                BinaryOperator::NotEq => return Some(format!("(NOT ({left} = {right}))")),
                BinaryOperator::StringConcat => return Some(format!("concat({left}, {right})")),
                _ => return None,
            };
            format!("({left} {symbol} {right})")
        }
        // Spark's `Like.sql`/`ILike.sql`; NOT wraps it as `Not` does.
        Expr::Like {
            negated,
            any: false,
            expr: inner,
            pattern,
            escape_char: None,
        }
        | Expr::ILike {
            negated,
            any: false,
            expr: inner,
            pattern,
            escape_char: None,
        } => {
            let operator = if matches!(expr, Expr::Like { .. }) {
                "LIKE"
            } else {
                "ILIKE"
            };
            let like = format!("{} {operator} {}", expr_name(inner)?, expr_name(pattern)?);
            if *negated {
                format!("(NOT {like})")
            } else {
                like
            }
        }
        Expr::IsNull(inner) => format!("({} IS NULL)", expr_name(inner)?),
        Expr::IsNotNull(inner) => format!("({} IS NOT NULL)", expr_name(inner)?),
        Expr::InList {
            expr: inner,
            list,
            negated,
        } => {
            let items: Option<Vec<String>> = list.iter().map(expr_name).collect();
            let test = format!("({} IN ({}))", expr_name(inner)?, items?.join(", "));
            if *negated {
                format!("(NOT {test})")
            } else {
                test
            }
        }
        Expr::Cast {
            kind,
            expr: inner,
            data_type,
            format: None,
            ..
        } => {
            let spark_type = crate::ddl::parse_ddl(&data_type.to_string()).ok()?;
            let type_name = crate::functions::spark_type_name(&spark_type).to_ascii_uppercase();
            let function = match kind {
                CastKind::TryCast | CastKind::SafeCast => "TRY_CAST",
                CastKind::Cast | CastKind::DoubleColon => "CAST",
            };
            format!("{function}({} AS {type_name})", expr_name(inner)?)
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = operand.as_deref().map(expr_name);
            let mut name = String::from("CASE");
            for when in conditions {
                let condition = expr_name(&when.condition)?;
                let condition = match &operand {
                    Some(operand) => format!("({} = {condition})", operand.clone()?),
                    None => condition,
                };
                name.push_str(&format!(
                    " WHEN {condition} THEN {}",
                    expr_name(&when.result)?
                ));
            }
            if let Some(otherwise) = else_result {
                name.push_str(&format!(" ELSE {}", expr_name(otherwise)?));
            }
            name.push_str(" END");
            name
        }
        Expr::Function(function) => {
            if function.over.is_some()
                || function.filter.is_some()
                || function.null_treatment.is_some()
                || !function.within_group.is_empty()
                || !matches!(function.parameters, FunctionArguments::None)
            {
                return None;
            }
            let [part] = function.name.0.as_slice() else {
                return None;
            };
            let name = part.as_ident()?.value.clone();
            let lower = name.to_ascii_lowercase();
            let (distinct, args) = match &function.args {
                FunctionArguments::None => ("", Vec::new()),
                FunctionArguments::List(list) => {
                    if !list.clauses.is_empty() {
                        return None;
                    }
                    let distinct = match list.duplicate_treatment {
                        Some(datafusion::sql::sqlparser::ast::DuplicateTreatment::Distinct) => {
                            "DISTINCT "
                        }
                        _ => "",
                    };
                    (distinct, list.args.iter().collect())
                }
                FunctionArguments::Subquery(_) => return None,
            };
            // Spark names `count(*)` after the `count(1)` it becomes.
            if lower == "count"
                && let [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)] = args.as_slice()
            {
                return Some(format!("count({distinct}1)"));
            }
            let names: Option<Vec<String>> = args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => expr_name(e),
                    _ => None,
                })
                .collect();
            let names = names?;
            call_name(&lower, distinct, names.iter().map(String::as_str).collect())
        }
        _ => return None,
    })
}

/// Spark's name for the expression `text` (`selectExpr("upper('a')")` is `upper(a)`), when
/// it is one Flint knows how to name.
pub fn expression_text_name(text: &str) -> Option<String> {
    let dialect = datafusion::sql::sqlparser::dialect::SparkSqlDialect {};
    let expr = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()?;
    item_name(&expr)
}

/// A literal's name: its value as Spark prints it (a string without its quotes).
fn value_name(value: &Value) -> Option<String> {
    Some(match value {
        Value::Number(text, _) => text.clone(),
        Value::SingleQuotedString(text) | Value::DoubleQuotedString(text) => text.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Null => "NULL".into(),
        Value::HexStringLiteral(hex) => format!("X'{}'", hex.to_ascii_uppercase()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(sql: &str) -> Vec<String> {
        let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::SparkSqlDialect {},
            sql,
        )
        .expect("parses");
        let statement = &mut statements[0];
        name_select_items(statement);
        let Statement::Query(query) = statement else {
            panic!("a query");
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            panic!("a select");
        };
        select
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                other => format!("unnamed {other}"),
            })
            .collect()
    }

    #[test]
    fn computed_items_get_spark_names() {
        assert_eq!(
            named("SELECT 1 + 1, upper('a'), abs(-1), count(*), sum(t.id), id"),
            [
                "(1 + 1)",
                "upper(a)",
                "abs(-1)",
                "count(1)",
                "sum(id)",
                "unnamed id"
            ]
        );
        assert_eq!(
            named("SELECT cast(id AS string), CAST(1 AS INTEGER), a != b, a || b, -a"),
            [
                "id",
                "CAST(1 AS INT)",
                "(NOT (a = b))",
                "concat(a, b)",
                "(- a)"
            ]
        );
        assert_eq!(
            named("SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, a IN (1, 2), a IS NULL"),
            [
                "CASE WHEN (a > 1) THEN x ELSE y END",
                "(a IN (1, 2))",
                "(a IS NULL)"
            ]
        );
        assert_eq!(
            named("SELECT s LIKE '%a%b%', 'abc' NOT LIKE 'a%', s ILIKE 'A_'"),
            ["s LIKE %a%b%", "(NOT abc LIKE a%)", "s ILIKE A_"]
        );
        assert_eq!(
            named("SELECT round(x), count(DISTINCT a), DATE '2020-01-01', acos(x)"),
            [
                "round(x, 0)",
                "count(DISTINCT a)",
                "DATE '2020-01-01'",
                "ACOS(x)"
            ]
        );
    }

    #[test]
    fn expression_text_is_named_as_its_sql() {
        assert_eq!(
            expression_text_name("UPPER('a')").as_deref(),
            Some("upper(a)")
        );
        assert_eq!(expression_text_name("age*2").as_deref(), Some("(age * 2)"));
        assert_eq!(expression_text_name("a"), None);
    }

    #[test]
    fn unknown_and_repeated_names_are_left_to_datafusion() {
        assert_eq!(
            named("SELECT a + 1, a + 1, row_number() OVER (ORDER BY a), explode(xs)"),
            [
                "(a + 1)",
                "unnamed a + 1",
                "unnamed row_number() OVER (ORDER BY a)",
                "unnamed explode(xs)"
            ]
        );
    }
}
