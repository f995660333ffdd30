//! Connect expressions as Spark SQL text. Every expression a client sends is written as the
//! SQL it means and planned by Flint's SQL front end (Spark's parser, function registry and
//! type rules), so a DataFrame call and the same SQL get one answer: there is no second
//! mapping of function names. Each expression also gets the column name Spark would give
//! it (`(a + 1)`, `sum(v)`, `CAST(x AS INT)`).

use std::collections::HashMap;

use datafusion::common::DFSchema;
use spark_connect::Expression;
use spark_connect::expression::window::window_frame::{
    FrameBoundary, FrameType, frame_boundary::Boundary,
};
use spark_connect::expression::{self as ex, ExprType};

use crate::error::{ConnectError, missing};
use crate::literal::render_literal;

/// An expression as Spark SQL text, with the column name Spark gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The SQL text, parenthesised where it could bind wrongly inside another expression.
    pub sql: String,
    /// Spark's name for the column it computes.
    pub name: String,
    /// Whether the expression is a bare column (its name needs no alias).
    pub is_column: bool,
    /// Whether the client named it (`alias`).
    pub is_alias: bool,
}

impl Rendered {
    fn expr(sql: String, name: String) -> Self {
        Rendered {
            sql,
            name,
            is_column: false,
            is_alias: false,
        }
    }
}

/// Writes Connect expressions over one input as SQL.
pub struct ExpressionWriter<'a> {
    /// The input's columns, to qualify references that carry a plan id.
    pub schema: &'a DFSchema,
    /// The qualifier each plan id's columns have in the input (set by joins).
    pub plan_qualifiers: &'a HashMap<i64, String>,
    /// Where Python UDF calls go to be registered for planning (none: not allowed here).
    pub python_udfs: Option<&'a crate::udf::PythonUdfs>,
    /// The relations subquery expressions refer to, by plan id.
    pub subqueries: &'a HashMap<i64, datafusion::logical_expr::LogicalPlan>,
}

/// A name quoted for Spark SQL: `` `a``b` ``.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The parts of a column reference as Spark splits them: `a.b`, `` `a.b`.c ``.
pub fn identifier_parts(text: &str) -> Result<Vec<String>, ConnectError> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted_part = false;
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                quoted_part = true;
                loop {
                    match chars.next() {
                        Some('`') if chars.peek() == Some(&'`') => {
                            chars.next();
                            current.push('`');
                        }
                        Some('`') => break,
                        Some(other) => current.push(other),
                        None => {
                            return Err(ConnectError::Parse(format!(
                                "unclosed backquote in column name {text}"
                            )));
                        }
                    }
                }
            }
            '.' => {
                parts.push(std::mem::take(&mut current));
                quoted_part = false;
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() || quoted_part || parts.is_empty() {
        parts.push(current);
    }
    Ok(parts)
}

const BINARY_OPERATORS: &[(&str, &str)] = &[
    ("+", "+"),
    ("-", "-"),
    ("*", "*"),
    ("/", "/"),
    ("%", "%"),
    ("==", "="),
    ("!=", "!="),
    ("<", "<"),
    ("<=", "<="),
    (">", ">"),
    (">=", ">="),
    ("<=>", "<=>"),
    ("and", "AND"),
    ("or", "OR"),
    ("&", "&"),
    ("|", "|"),
    ("^", "^"),
    ("like", "LIKE"),
    ("ilike", "ILIKE"),
];

impl ExpressionWriter<'_> {
    /// The SQL of `expression`.
    pub fn write(&self, expression: &Expression) -> Result<Rendered, ConnectError> {
        let kind = expression
            .expr_type
            .as_ref()
            .ok_or_else(|| missing("Expression.expr_type"))?;
        match kind {
            ExprType::Literal(literal) => {
                let (sql, name) = render_literal(literal)?;
                Ok(Rendered::expr(sql, name))
            }
            ExprType::UnresolvedAttribute(attribute) => self.attribute(attribute),
            ExprType::UnresolvedFunction(function) => self.function(function),
            // `expr("*")`, as in `count(expr("*"))`: the star.
            ExprType::ExpressionString(text) if text.expression.trim() == "*" => {
                Ok(Rendered::expr("*".into(), "*".into()))
            }
            ExprType::ExpressionString(text) => {
                // `selectExpr("a + 1 AS b")`: the alias names the column.
                let parsed = flint_sql::parser::parse_expression(&text.expression)
                    .map_err(|e| ConnectError::Parse(e.to_string()))?;
                match parsed.alias {
                    Some(alias) => Ok(Rendered {
                        sql: format!("({})", without_alias(&text.expression, &alias.value)),
                        name: alias.value,
                        is_column: false,
                        is_alias: true,
                    }),
                    None => {
                        // Spark names an operator expression in parentheses: `(age * 2)`.
                        let name = match (
                            flint_sql::names::expression_text_name(&text.expression),
                            parsed.expr,
                        ) {
                            (Some(name), _) => name,
                            (
                                None,
                                expr @ datafusion::sql::sqlparser::ast::Expr::BinaryOp { .. },
                            ) => {
                                format!("({expr})")
                            }
                            _ => text.expression.trim().to_string(),
                        };
                        Ok(Rendered::expr(format!("({})", text.expression), name))
                    }
                }
            }
            // `isin(df)`, `df.exists()`, `df.scalar()`: a placeholder the planner replaces
            // by the subquery over the relation of that plan id.
            ExprType::SubqueryExpression(subquery) => {
                use spark_connect::subquery_expression::SubqueryType;
                let id = subquery.plan_id;
                let Some(plan) = self.subqueries.get(&id) else {
                    return Err(ConnectError::Analysis(format!(
                        "the subquery's relation (plan id {id}) was not sent"
                    )));
                };
                match SubqueryType::try_from(subquery.subquery_type) {
                    Ok(SubqueryType::Scalar) => {
                        let [field] = plan.schema().fields().as_ref() else {
                            return Err(ConnectError::Analysis(
                                "[INVALID_SUBQUERY_EXPRESSION.SCALAR_SUBQUERY_RETURN_MORE_THAN_ONE_OUTPUT_COLUMN] \
                                 Invalid subquery: a scalar subquery must return only one column. \
                                 SQLSTATE: 42823"
                                    .into(),
                            ));
                        };
                        let data_type = flint_sql::functions::spark_type_name(field.data_type());
                        Ok(Rendered::expr(
                            format!(
                                "{}('scalar', {id}, CAST(NULL AS {data_type}))",
                                crate::subquery::PLACEHOLDER
                            ),
                            "scalarsubquery()".into(),
                        ))
                    }
                    Ok(SubqueryType::Exists) => Ok(Rendered::expr(
                        format!("{}('exists', {id}, false)", crate::subquery::PLACEHOLDER),
                        "exists()".into(),
                    )),
                    Ok(SubqueryType::In) => {
                        let values = self.arguments(&subquery.in_subquery_values)?;
                        let sql: Vec<&str> = values.iter().map(|v| v.sql.as_str()).collect();
                        let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
                        Ok(Rendered::expr(
                            format!(
                                "{}('in', {id}, false, {})",
                                crate::subquery::PLACEHOLDER,
                                sql.join(", ")
                            ),
                            format!("({} IN (listquery()))", names.join(", ")),
                        ))
                    }
                    _ => Err(ConnectError::Unsupported(
                        "a table-argument subquery".into(),
                    )),
                }
            }
            // `withField` / `dropFields`: Flint's struct update functions.
            ExprType::UpdateFields(update) => {
                let target = update
                    .struct_expression
                    .as_deref()
                    .ok_or_else(|| crate::error::missing("UpdateFields.struct_expression"))?;
                let target = self.write(target)?;
                let path = crate::literal::string_literal(&update.field_name);
                Ok(match update.value_expression.as_deref() {
                    Some(value) => {
                        let value = self.write(value)?;
                        Rendered::expr(
                            format!("flint_with_field({}, {path}, {})", target.sql, value.sql),
                            format!(
                                "update_fields({}, WithField({}, {}))",
                                target.name, update.field_name, value.name
                            ),
                        )
                    }
                    None => Rendered::expr(
                        format!("flint_drop_field({}, {path})", target.sql),
                        format!("update_fields({}, dropfield())", target.name),
                    ),
                })
            }
            ExprType::UnresolvedStar(star) => {
                let sql = match &star.unparsed_target {
                    Some(target) => {
                        let target = target.trim_end_matches(".*");
                        let parts = identifier_parts(target)?;
                        let quoted: Vec<String> = parts.iter().map(|p| quote(p)).collect();
                        format!("{}.*", quoted.join("."))
                    }
                    None => "*".to_string(),
                };
                Ok(Rendered::expr(sql.clone(), sql))
            }
            ExprType::Alias(alias) => {
                let inner =
                    self.write(alias.expr.as_deref().ok_or_else(|| missing("Alias.expr"))?)?;
                let name = match alias.name.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(missing("Alias.name")),
                    _ => {
                        return Err(ConnectError::Unsupported(
                            "aliases of several names (for generators)".into(),
                        ));
                    }
                };
                Ok(Rendered {
                    sql: inner.sql,
                    name,
                    is_column: false,
                    is_alias: true,
                })
            }
            ExprType::Cast(cast) => {
                let inner =
                    self.write(cast.expr.as_deref().ok_or_else(|| missing("Cast.expr"))?)?;
                let type_name = match &cast.cast_to_type {
                    Some(ex::cast::CastToType::Type(data_type)) => {
                        crate::types::sql_type_name(data_type)?
                    }
                    Some(ex::cast::CastToType::TypeStr(text)) => text.clone(),
                    None => return Err(missing("Cast.cast_to_type")),
                };
                let function = if cast.eval_mode == ex::cast::EvalMode::Try as i32 {
                    "TRY_CAST"
                } else {
                    "CAST"
                };
                // `col("x").cast("int")` keeps the column's name, as in Spark.
                let name = if inner.is_column || inner.is_alias {
                    inner.name.clone()
                } else {
                    format!(
                        "{function}({} AS {})",
                        inner.name,
                        type_name.to_ascii_uppercase()
                    )
                };
                Ok(Rendered::expr(
                    format!("{function}({} AS {type_name})", inner.sql),
                    name,
                ))
            }
            ExprType::SortOrder(order) => {
                let (sql, name) = self.sort_order(order)?;
                Ok(Rendered::expr(sql, name))
            }
            ExprType::Window(window) => self.window(window),
            ExprType::UnresolvedExtractValue(extract) => {
                let child = self.write(
                    extract
                        .child
                        .as_deref()
                        .ok_or_else(|| missing("UnresolvedExtractValue.child"))?,
                )?;
                let key = extract
                    .extraction
                    .as_deref()
                    .ok_or_else(|| missing("UnresolvedExtractValue.extraction"))?;
                // A string key of a struct is a field: `s.f`; other keys index: `a[0]`, `m['k']`.
                if let Some(ExprType::Literal(ex::Literal {
                    literal_type: Some(ex::literal::LiteralType::String(field)),
                    ..
                })) = &key.expr_type
                    && self.is_struct(&child.sql)
                {
                    // Spark names `df.r.getField("b")` `r.b` (but `col("r.b")` just `b`).
                    return Ok(Rendered::expr(
                        format!("{}.{}", child.sql, quote(field)),
                        format!("{}.{field}", child.name),
                    ));
                }
                let key = self.write(key)?;
                Ok(Rendered::expr(
                    format!("{}[{}]", child.sql, key.sql),
                    format!("{}[{}]", child.name, key.name),
                ))
            }
            ExprType::LambdaFunction(lambda) => {
                let parameters: Vec<String> = lambda
                    .arguments
                    .iter()
                    .map(|variable| variable.name_parts.join("."))
                    .collect();
                let body = self.write(
                    lambda
                        .function
                        .as_deref()
                        .ok_or_else(|| missing("LambdaFunction.function"))?,
                )?;
                let head = if parameters.len() == 1 {
                    parameters[0].clone()
                } else {
                    format!("({})", parameters.join(", "))
                };
                Ok(Rendered::expr(
                    format!("{head} -> {}", body.sql),
                    format!("lambdafunction({}, {})", body.name, parameters.join(", ")),
                ))
            }
            ExprType::UnresolvedNamedLambdaVariable(variable) => {
                let name = variable.name_parts.join(".");
                Ok(Rendered::expr(name.clone(), name))
            }
            ExprType::CallFunction(call) => self.function(&ex::UnresolvedFunction {
                function_name: call.function_name.clone(),
                arguments: call.arguments.clone(),
                is_distinct: false,
                is_user_defined_function: false,
                is_internal: None,
            }),
            // `repartitionById(n, col)`: the shuffle sends each row to partition
            // `pmod(col, n)` (the marker is cut into a direct shuffle by the stage planner).
            ExprType::DirectShufflePartitionId(direct) => {
                let child = self.write(
                    direct
                        .child
                        .as_deref()
                        .ok_or_else(|| missing("DirectShufflePartitionId.child"))?,
                )?;
                Ok(Rendered::expr(
                    format!(
                        "{}(CAST({} AS BIGINT))",
                        flint_sql::exchange::DIRECT_PARTITION,
                        child.sql
                    ),
                    format!("direct_shuffle_partition_id({})", child.name),
                ))
            }
            ExprType::CommonInlineUserDefinedFunction(udf) => {
                let udfs = self.python_udfs.ok_or_else(|| {
                    ConnectError::Unsupported(format!(
                        "the user-defined function {} in a parameter of a SQL query",
                        udf.function_name
                    ))
                })?;
                // `f(b=x, a=y)`: keyword arguments, named `b => x` in the column's name.
                let mut keywords = Vec::with_capacity(udf.arguments.len());
                let mut args = Vec::with_capacity(udf.arguments.len());
                let mut names = Vec::with_capacity(udf.arguments.len());
                for argument in &udf.arguments {
                    match &argument.expr_type {
                        Some(ExprType::NamedArgumentExpression(named)) => {
                            let value = named
                                .value
                                .as_deref()
                                .ok_or_else(|| missing("NamedArgumentExpression.value"))?;
                            let value = self.write(value)?;
                            names.push(format!("{} => {}", named.key, value.name));
                            keywords.push(named.key.clone());
                            args.push(value.sql);
                        }
                        _ => {
                            if keywords.iter().any(|k: &String| !k.is_empty()) {
                                return Err(ConnectError::Analysis(format!(
                                    "[UNEXPECTED_POSITIONAL_ARGUMENT] Cannot invoke routine `{}` because it contains positional argument(s) following the named argument. SQLSTATE: 4274K",
                                    udf.function_name
                                )));
                            }
                            let value = self.write(argument)?;
                            names.push(value.name);
                            keywords.push(String::new());
                            args.push(value.sql);
                        }
                    }
                }
                let planned_name = udfs.call(udf, keywords)?;
                Ok(Rendered::expr(
                    format!("{planned_name}({})", args.join(", ")),
                    format!("{}({})", udf.function_name, names.join(", ")),
                ))
            }
            other => Err(ConnectError::Unsupported(format!(
                "the Connect expression {}",
                expression_kind_name(other)
            ))),
        }
    }

    /// Whether `sql` (a written expression) is a struct column of the input.
    fn is_struct(&self, sql: &str) -> bool {
        let Ok(parts) = identifier_parts(sql) else {
            return false;
        };
        let name = parts.last().map(String::as_str).unwrap_or_default();
        let mut named = self
            .schema
            .fields()
            .iter()
            .filter(|field| field.name() == name)
            .peekable();
        // A nested field is not an input column; only a struct has string-named fields.
        named.peek().is_none()
            || named.any(|field| {
                matches!(
                    field.data_type(),
                    datafusion::arrow::datatypes::DataType::Struct(_)
                )
            })
    }

    fn attribute(&self, attribute: &ex::UnresolvedAttribute) -> Result<Rendered, ConnectError> {
        let parts = identifier_parts(&attribute.unparsed_identifier)?;
        let name = parts.last().cloned().unwrap_or_default();
        if parts.len() == 1 && parts[0] == "*" {
            return Ok(Rendered::expr("*".into(), "*".into()));
        }
        // `df.col` of one side of a join: qualify it with that side's name.
        if let Some(qualifier) = attribute
            .plan_id
            .and_then(|id| self.plan_qualifiers.get(&id))
            && parts.len() == 1
            && self.schema.iter().any(|(q, field)| {
                q.is_some_and(|q| q.table() == qualifier) && field.name() == &parts[0]
            })
        {
            return Ok(Rendered {
                sql: format!("{}.{}", quote(qualifier), quote(&parts[0])),
                name,
                is_column: true,
                is_alias: false,
            });
        }
        // `t.c` is a column of the input, `s.f` a struct's field: that needs Spark's name
        // (`f`) given as an alias, DataFusion naming it after the access.
        let prefix = &parts[..parts.len().saturating_sub(1)];
        let is_column = prefix.is_empty()
            || self.schema.iter().any(|(qualifier, field)| {
                // Spark resolves names case-insensitively.
                field.name().eq_ignore_ascii_case(&name)
                    && qualifier.is_some_and(|q| {
                        (prefix.len() == 1 && q.table().eq_ignore_ascii_case(&prefix[0]))
                            || q.to_string().eq_ignore_ascii_case(&prefix.join("."))
                    })
            });
        let quoted: Vec<String> = parts.iter().map(|p| quote(p)).collect();
        Ok(Rendered {
            sql: quoted.join("."),
            name,
            is_column,
            is_alias: false,
        })
    }

    fn arguments(&self, arguments: &[Expression]) -> Result<Vec<Rendered>, ConnectError> {
        arguments
            .iter()
            .map(|argument| self.write(argument))
            .collect()
    }

    /// A function's arguments, a star among them standing for every input column (its
    /// table's, for `t.*`), as Spark expands `hash(*)` or `struct(*)`.
    fn expanded_arguments(&self, arguments: &[Expression]) -> Result<Vec<Rendered>, ConnectError> {
        let mut rendered = Vec::with_capacity(arguments.len());
        for argument in arguments {
            let Some(ExprType::UnresolvedStar(star)) = argument.expr_type.as_ref() else {
                rendered.push(self.write(argument)?);
                continue;
            };
            let qualifier = match &star.unparsed_target {
                Some(target) => Some(identifier_parts(target.trim_end_matches(".*"))?.join(".")),
                None => None,
            };
            for (table, field) in self.schema.iter() {
                if let Some(qualifier) = &qualifier
                    && table.map(|t| t.to_string()).as_deref() != Some(qualifier.as_str())
                {
                    continue;
                }
                let sql = match table {
                    Some(table) => format!("{}.{}", quote(&table.to_string()), quote(field.name())),
                    None => quote(field.name()),
                };
                rendered.push(Rendered {
                    sql,
                    name: field.name().clone(),
                    is_column: true,
                    is_alias: false,
                });
            }
        }
        Ok(rendered)
    }

    fn function(&self, function: &ex::UnresolvedFunction) -> Result<Rendered, ConnectError> {
        let name = function.function_name.as_str();
        let args = if name.eq_ignore_ascii_case("count") {
            self.arguments(&function.arguments)?
        } else {
            self.expanded_arguments(&function.arguments)?
        };
        let lower = name.to_ascii_lowercase();
        let arity = |n: usize| -> Result<(), ConnectError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(ConnectError::Analysis(format!(
                    "[WRONG_NUM_ARGS.WITHOUT_SUGGESTION] The `{name}` requires {n} parameters but the actual number is {}. SQLSTATE: 42605",
                    args.len()
                )))
            }
        };
        // `like(a, b, escape)` is planned below, with its escape character.
        let like_with_escape = matches!(lower.as_str(), "like" | "ilike") && args.len() == 3;
        if let Some((_, operator)) = BINARY_OPERATORS
            .iter()
            .find(|(op, _)| *op == lower && !like_with_escape)
        {
            arity(2)?;
            return Ok(Rendered::expr(
                format!("({} {operator} {})", args[0].sql, args[1].sql),
                format!("({} {operator} {})", args[0].name, args[1].name),
            ));
        }
        let unary = |sql: String, name: String| Ok(Rendered::expr(sql, name));
        match lower.as_str() {
            // `zipWithIndex`: consecutive numbers from 0 over the rows in partition order, as
            // Spark's `AttachDistributedSequence` numbers them. A row number over the whole
            // input gives the same numbers; the rows meet in one partition in partition
            // order (Flint's single-block shuffle reads map outputs in order).
            "distributed_sequence_id" => {
                arity(0)?;
                unary(
                    "(CAST(row_number() OVER () AS BIGINT) - 1)".to_string(),
                    "distributed_sequence_id()".to_string(),
                )
            }
            // A schema given as a `StructType` arrives as Spark's JSON form of it; the
            // functions take DDL.
            "from_json" | "from_csv" | "from_xml"
                if args.len() >= 2 && json_schema_literal(&function.arguments[1]).is_some() =>
            {
                let json = json_schema_literal(&function.arguments[1]).unwrap_or_default();
                let ddl =
                    flint_sql::functions::spark_type_name(&crate::types::from_json_schema(&json)?);
                let mut sql: Vec<String> = args.iter().map(|a| a.sql.clone()).collect();
                sql[1] = crate::literal::string_literal(&ddl);
                let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
                unary(
                    format!("{lower}({})", sql.join(", ")),
                    flint_sql::names::call_name(name, "", names),
                )
            }
            // `mode(col, deterministic)`: Spark names the deterministic form by the ordered
            // aggregate it is.
            "mode" if args.len() == 2 && matches!(args[1].name.as_str(), "true" | "false") => {
                let name = if args[1].name == "true" {
                    format!("mode() WITHIN GROUP (ORDER BY {} DESC)", args[0].name)
                } else {
                    format!("mode({})", args[0].name)
                };
                unary(format!("mode({}, {})", args[0].sql, args[1].sql), name)
            }
            // `nth_value(col, n, ignoreNulls)`: the flag is SQL's IGNORE NULLS, and not part
            // of Spark's column name.
            "nth_value" if args.len() == 3 && matches!(args[2].name.as_str(), "true" | "false") => {
                let nulls = if args[2].name == "true" {
                    " IGNORE NULLS"
                } else {
                    ""
                };
                unary(
                    format!("nth_value({}, {}){nulls}", args[0].sql, args[1].sql),
                    format!("nth_value({}, {})", args[0].name, args[1].name),
                )
            }
            "not" => {
                arity(1)?;
                unary(
                    format!("(NOT {})", args[0].sql),
                    format!("(NOT {})", args[0].name),
                )
            }
            "negative" => {
                arity(1)?;
                unary(
                    format!("(- {})", args[0].sql),
                    format!("negative({})", args[0].name),
                )
            }
            "positive" => {
                arity(1)?;
                unary(
                    format!("(+ {})", args[0].sql),
                    format!("(+ {})", args[0].name),
                )
            }
            // Spark's SQL is `ltrim(trimStr, str)`, named as the TRIM syntax it means.
            "ltrim" | "rtrim" | "trim" if args.len() == 2 => {
                let side = match lower.as_str() {
                    "ltrim" => "LEADING",
                    "rtrim" => "TRAILING",
                    _ => "BOTH",
                };
                unary(
                    format!("TRIM({side} {} FROM {})", args[0].sql, args[1].sql),
                    format!("TRIM({side} {} FROM {})", args[0].name, args[1].name),
                )
            }
            "like" | "ilike" if args.len() == 3 => {
                let operator = lower.to_ascii_uppercase();
                unary(
                    format!(
                        "({} {operator} {} ESCAPE {})",
                        args[0].sql, args[1].sql, args[2].sql
                    ),
                    format!(
                        "{} {operator} {} ESCAPE '{}'",
                        args[0].name, args[1].name, args[2].name
                    ),
                )
            }
            // The message Spark checks with is part of the name.
            "assert_true" if args.len() == 1 => unary(
                format!("assert_true({})", args[0].sql),
                format!(
                    "assert_true({}, '{}' is not true!)",
                    args[0].name, args[0].name
                ),
            ),
            "~" => {
                arity(1)?;
                unary(format!("(~ {})", args[0].sql), format!("~{}", args[0].name))
            }
            "isnull" if args.len() == 1 => unary(
                format!("({} IS NULL)", args[0].sql),
                format!("({} IS NULL)", args[0].name),
            ),
            "isnotnull" if args.len() == 1 => unary(
                format!("({} IS NOT NULL)", args[0].sql),
                format!("({} IS NOT NULL)", args[0].name),
            ),
            "in" => {
                if args.is_empty() {
                    return Err(missing("in: the value"));
                }
                if args.len() == 1 {
                    return unary("false".into(), format!("({} IN ())", args[0].name));
                }
                let list: Vec<&str> = args[1..].iter().map(|a| a.sql.as_str()).collect();
                let names: Vec<&str> = args[1..].iter().map(|a| a.name.as_str()).collect();
                unary(
                    format!("({} IN ({}))", args[0].sql, list.join(", ")),
                    format!("({} IN ({}))", args[0].name, names.join(", ")),
                )
            }
            "when" => {
                let mut sql = String::from("CASE");
                let mut spark_name = String::from("CASE");
                let mut pairs = args.chunks_exact(2);
                for pair in pairs.by_ref() {
                    sql.push_str(&format!(" WHEN {} THEN {}", pair[0].sql, pair[1].sql));
                    spark_name.push_str(&format!(" WHEN {} THEN {}", pair[0].name, pair[1].name));
                }
                if let [otherwise] = pairs.remainder() {
                    sql.push_str(&format!(" ELSE {}", otherwise.sql));
                    spark_name.push_str(&format!(" ELSE {}", otherwise.name));
                }
                unary(format!("({sql} END)"), format!("{spark_name} END"))
            }
            "startswith" | "endswith" | "contains" => {
                arity(2)?;
                let sql_name = match lower.as_str() {
                    "startswith" => "startswith",
                    "endswith" => "endswith",
                    _ => "contains",
                };
                unary(
                    format!("{sql_name}({}, {})", args[0].sql, args[1].sql),
                    format!("{sql_name}({}, {})", args[0].name, args[1].name),
                )
            }
            // `struct(lit(0).alias("count"), ...)`: an aliased field takes its alias as its
            // name (SQL's `struct` has no aliases: the rest are named by the planner).
            "struct" if args.iter().any(|a| a.is_alias) => {
                let fields: Vec<String> = args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let name = if a.is_alias || a.is_column {
                            a.name.clone()
                        } else {
                            format!("col{}", i + 1)
                        };
                        format!("{}, {}", crate::literal::string_literal(&name), a.sql)
                    })
                    .collect();
                let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
                unary(
                    format!("named_struct({})", fields.join(", ")),
                    format!("struct({})", names.join(", ")),
                )
            }
            "isnan" => {
                arity(1)?;
                unary(
                    format!("isnan({})", args[0].sql),
                    format!("isnan({})", args[0].name),
                )
            }
            _ => {
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                    return Err(ConnectError::Analysis(format!(
                        "[UNRESOLVED_ROUTINE] Cannot resolve routine `{name}` on search path [`system`.`builtin`, `system`.`session`, `spark_catalog`.`default`]. SQLSTATE: 42883"
                    )));
                }
                let distinct = if function.is_distinct {
                    "DISTINCT "
                } else {
                    ""
                };
                // Spark names `count(*)` after the `count(1)` it becomes.
                if lower == "count" && args.len() == 1 && args[0].sql == "*" {
                    return Ok(Rendered::expr(
                        format!("count({distinct}*)"),
                        format!("count({distinct}1)"),
                    ));
                }
                let sql_args: Vec<&str> = args.iter().map(|a| a.sql.as_str()).collect();
                let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
                Ok(Rendered::expr(
                    format!("{name}({distinct}{})", sql_args.join(", ")),
                    flint_sql::names::call_name(name, distinct, names),
                ))
            }
        }
    }

    /// A sort key as SQL (`x DESC NULLS LAST`) and as Spark names it.
    pub fn sort_order(&self, order: &ex::SortOrder) -> Result<(String, String), ConnectError> {
        let child = self.write(
            order
                .child
                .as_deref()
                .ok_or_else(|| missing("SortOrder.child"))?,
        )?;
        let (descending, nulls_first) = sort_flags(order);
        let direction = if descending { "DESC" } else { "ASC" };
        let nulls = if nulls_first {
            "NULLS FIRST"
        } else {
            "NULLS LAST"
        };
        Ok((
            format!("{} {direction} {nulls}", child.sql),
            format!("{} {direction} {nulls}", child.name),
        ))
    }

    fn window(&self, window: &ex::Window) -> Result<Rendered, ConnectError> {
        let function = self.write(
            window
                .window_function
                .as_deref()
                .ok_or_else(|| missing("Window.window_function"))?,
        )?;
        let mut spec_sql = Vec::new();
        let mut spec_name = Vec::new();
        if !window.partition_spec.is_empty() {
            let parts = self.arguments(&window.partition_spec)?;
            spec_sql.push(format!(
                "PARTITION BY {}",
                parts
                    .iter()
                    .map(|p| p.sql.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            spec_name.push(format!(
                "PARTITION BY {}",
                parts
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !window.order_spec.is_empty() {
            let orders = window
                .order_spec
                .iter()
                .map(|order| self.sort_order(order))
                .collect::<Result<Vec<_>, _>>()?;
            spec_sql.push(format!(
                "ORDER BY {}",
                orders
                    .iter()
                    .map(|o| o.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            spec_name.push(format!(
                "ORDER BY {}",
                orders
                    .iter()
                    .map(|o| o.1.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(frame) = &window.frame_spec {
            let unit = match FrameType::try_from(frame.frame_type) {
                Ok(FrameType::Range) => "RANGE",
                _ => "ROWS",
            };
            let lower = self.boundary(frame.lower.as_deref(), true)?;
            let upper = self.boundary(frame.upper.as_deref(), false)?;
            let text = format!("{unit} BETWEEN {lower} AND {upper}");
            spec_sql.push(text.clone());
            spec_name.push(text);
        }
        Ok(Rendered::expr(
            format!("{} OVER ({})", function.sql, spec_sql.join(" ")),
            format!("{} OVER ({})", function.name, spec_name.join(" ")),
        ))
    }

    fn boundary(
        &self,
        boundary: Option<&FrameBoundary>,
        lower: bool,
    ) -> Result<String, ConnectError> {
        let edge = if lower { "PRECEDING" } else { "FOLLOWING" };
        Ok(match boundary.and_then(|b| b.boundary.as_ref()) {
            None | Some(Boundary::Unbounded(_)) => format!("UNBOUNDED {edge}"),
            Some(Boundary::CurrentRow(_)) => "CURRENT ROW".into(),
            Some(Boundary::Value(value)) => {
                let offset = self.write(value)?.sql;
                let offset = offset
                    .trim_matches(['(', ')'])
                    .trim_end_matches('L')
                    .to_string();
                match offset.strip_prefix('-') {
                    Some(magnitude) => format!("{} PRECEDING", magnitude.trim()),
                    None if offset == "0" => "CURRENT ROW".into(),
                    None => format!("{offset} FOLLOWING"),
                }
            }
        })
    }
}

/// The text of `expr AS alias` (or `expr alias`) without its alias, as written: printing the
/// parsed expression again would lose Spark's escapes (`'\\d'`).
fn without_alias<'t>(text: &'t str, alias: &str) -> &'t str {
    let trimmed = text.trim_end();
    let quoted = format!("`{alias}`");
    let rest = trimmed
        .strip_suffix(quoted.as_str())
        .or_else(|| trimmed.strip_suffix(alias))
        .unwrap_or(trimmed)
        .trim_end();
    let lower = rest.to_ascii_lowercase();
    if lower.ends_with(" as") || lower.ends_with(")as") {
        rest[..rest.len() - 2].trim_end()
    } else {
        rest
    }
}

/// Whether a sort order is descending, and whether its nulls come first (Spark's defaults:
/// ascending puts nulls first, descending last).
pub fn sort_flags(order: &ex::SortOrder) -> (bool, bool) {
    use ex::sort_order::{NullOrdering, SortDirection};
    let descending = order.direction == SortDirection::Descending as i32;
    let nulls_first = match NullOrdering::try_from(order.null_ordering) {
        Ok(NullOrdering::SortNullsFirst) => true,
        Ok(NullOrdering::SortNullsLast) => false,
        _ => !descending,
    };
    (descending, nulls_first)
}

fn expression_kind_name(kind: &ExprType) -> &'static str {
    match kind {
        ExprType::UnresolvedRegex(_) => "unresolved_regex (colRegex)",
        ExprType::UpdateFields(_) => "update_fields (withField/dropFields)",
        ExprType::NamedArgumentExpression(_) => "named_argument_expression",
        ExprType::MergeAction(_) => "merge_action",
        ExprType::TypedAggregateExpression(_) => "typed_aggregate_expression",
        ExprType::SubqueryExpression(_) => "subquery_expression",
        ExprType::DirectShufflePartitionId(_) => "direct_shuffle_partition_id",
        ExprType::Extension(_) => "extension",
        _ => "expression",
    }
}

/// The text of a string literal holding a JSON schema (`{"type":"struct",...}`), if
/// `expression` is one.
fn json_schema_literal(expression: &Expression) -> Option<String> {
    use spark_connect::expression::literal::LiteralType;
    match &expression.expr_type {
        Some(ExprType::Literal(literal)) => match &literal.literal_type {
            Some(LiteralType::String(text)) if text.trim_start().starts_with('{') => {
                Some(text.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_aliases_off_expression_text() {
        assert_eq!(without_alias("a + 1 AS b", "b"), "a + 1");
        assert_eq!(
            without_alias("regexp_replace(s, '\\d+', '') x", "x"),
            "regexp_replace(s, '\\d+', '')"
        );
        assert_eq!(without_alias("count(*) as `n`", "n"), "count(*)");
    }

    #[test]
    fn splits_column_names_as_spark_does() {
        let check = |text: &str, expected: &[&str]| {
            assert_eq!(identifier_parts(text).expect("parts"), expected, "{text}");
        };
        check("a", &["a"]);
        check("a.b", &["a", "b"]);
        check("`a.b`.c", &["a.b", "c"]);
        check("`x``y`", &["x`y"]);
        assert!(identifier_parts("`open").is_err());
    }
}
