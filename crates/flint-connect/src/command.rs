//! Connect commands: `sql_command`, `create_dataframe_view`, `write_operation`,
//! `register_function`; and the parameters of `spark.sql(text, args)` bound into the text as
//! Spark SQL literals.

use std::collections::HashMap;

use spark_connect::command::CommandType;
use spark_connect::execute_plan_response::{ResponseType, SqlCommandResult};
use spark_connect::{Expression, Relation};

use crate::error::{ConnectError, missing};
use crate::expression::ExpressionWriter;
use crate::relation::Planner;

/// What a command answers besides `ResultComplete`.
pub enum CommandOutcome {
    /// Nothing more (a write, a view).
    Done,
    /// `SqlCommandResult`: the relation the client runs next.
    Response(Box<ResponseType>),
}

fn render(argument: &Expression) -> Result<String, ConnectError> {
    let schema = datafusion::common::DFSchema::empty();
    let qualifiers = HashMap::new();
    let subqueries = HashMap::new();
    let writer = ExpressionWriter {
        schema: &schema,
        plan_qualifiers: &qualifiers,
        python_udfs: None,
        subqueries: &subqueries,
    };
    Ok(writer.write(argument)?.sql)
}

/// The SQL text of `spark.sql(query, args)`: `:name` and `?` markers outside literals and
/// comments replaced by the arguments, as Spark binds them.
pub fn bind_parameters(
    _planner: &Planner<'_>,
    sql: &spark_connect::Sql,
) -> Result<String, ConnectError> {
    #[allow(deprecated)]
    let positional: Vec<String> = if !sql.pos_arguments.is_empty() {
        sql.pos_arguments
            .iter()
            .map(render)
            .collect::<Result<_, _>>()?
    } else {
        sql.pos_args
            .iter()
            .map(|l| Ok(crate::literal::render_literal(l)?.0))
            .collect::<Result<_, ConnectError>>()?
    };
    let mut named: HashMap<String, String> = HashMap::new();
    for (name, literal) in &sql.args {
        named.insert(name.clone(), crate::literal::render_literal(literal)?.0);
    }
    for (name, expression) in &sql.named_arguments {
        named.insert(name.clone(), render(expression)?);
    }
    if positional.is_empty() && named.is_empty() {
        return Ok(sql.query.clone());
    }
    substitute(&sql.query, &positional, &named)
}

fn substitute(
    text: &str,
    positional: &[String],
    named: &HashMap<String, String>,
) -> Result<String, ConnectError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut next_positional = positional.iter();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                // A literal or quoted name, with backslash escapes inside string literals.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && c != '`' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == c {
                        break;
                    }
                }
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '?' => {
                let value = next_positional.next().ok_or_else(|| {
                    ConnectError::Analysis(
                        "[UNBOUND_SQL_PARAMETER] Found the unbound parameter: ?. SQLSTATE: 42P02"
                            .into(),
                    )
                })?;
                out.push_str(value);
                i += 1;
            }
            ':' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() || *n == '_')
                && (i == 0 || chars[i - 1] != ':') =>
            {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                let value = named.get(&name).ok_or_else(|| {
                    ConnectError::Analysis(format!(
                        "[UNBOUND_SQL_PARAMETER] Found the unbound parameter: {name}. Please, fix `args` and provide a mapping of the parameter to either a SQL literal or collection constructor functions such as `map()`, `array()`, `struct()`. SQLSTATE: 42P02"
                    ))
                })?;
                out.push_str(value);
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Whether SQL text is a query, planned lazily as Spark does, rather than a command Spark runs
/// at once (DDL, `SET`, `SHOW`, `DESCRIBE`, `EXPLAIN`) whose rows come back as a local relation.
pub fn is_query(text: &str) -> bool {
    let pieces = flint_sql::parser::split_script(text);
    let first = pieces.first().map(String::as_str).unwrap_or(text);
    let word: String = first
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    matches!(
        word.as_str(),
        "SELECT" | "WITH" | "VALUES" | "FROM" | "TABLE"
    )
}

/// Runs a command of a session.
pub async fn run(
    planner: &mut Planner<'_>,
    command: &spark_connect::Command,
) -> Result<CommandOutcome, ConnectError> {
    let session = planner.session();
    match command
        .command_type
        .as_ref()
        .ok_or_else(|| missing("Command.command_type"))?
    {
        CommandType::SqlCommand(sql_command) => {
            #[allow(deprecated)]
            let relation = match &sql_command.input {
                Some(relation) => relation.clone(),
                None => Relation {
                    common: None,
                    rel_type: Some(spark_connect::relation::RelType::Sql(spark_connect::Sql {
                        query: sql_command.sql.clone(),
                        args: sql_command.args.clone(),
                        pos_args: sql_command.pos_args.clone(),
                        named_arguments: sql_command.named_arguments.clone(),
                        pos_arguments: sql_command.pos_arguments.clone(),
                    })),
                },
            };
            let query = match &relation.rel_type {
                Some(spark_connect::relation::RelType::Sql(sql)) => Some(sql),
                _ => None,
            };
            match query {
                // A query stays lazy: the client runs the relation when it needs rows. It is
                // planned now so that a bad query fails here, as in Spark.
                Some(sql) if is_query(&sql.query) => {
                    planner.relation(&relation).await?;
                    Ok(CommandOutcome::Response(Box::new(
                        ResponseType::SqlCommandResult(SqlCommandResult {
                            relation: Some(relation),
                        }),
                    )))
                }
                // A statement runs now; its rows come back as a local relation.
                _ => {
                    let frame = planner.dataframe(&relation, "sql").await?;
                    let batches = frame.collect_as("sql").await?;
                    let schema = frame.schema();
                    let data = crate::execute::ipc_stream(&schema, &batches)?;
                    Ok(CommandOutcome::Response(Box::new(
                        ResponseType::SqlCommandResult(SqlCommandResult {
                            relation: Some(Relation {
                                common: None,
                                rel_type: Some(spark_connect::relation::RelType::LocalRelation(
                                    spark_connect::LocalRelation {
                                        data: Some(data.into()),
                                        schema: None,
                                    },
                                )),
                            }),
                        }),
                    )))
                }
            }
        }
        CommandType::CreateDataframeView(view) => {
            let input = view
                .input
                .as_ref()
                .ok_or_else(|| missing("CreateDataFrameViewCommand.input"))?;
            let df = planner.relation(input).await?;
            if view.is_global {
                flint::DataFrame::from_datafusion(&session, df, "createGlobalTempView")
                    .create_global_temp_view(&view.name, view.replace)?;
                return Ok(CommandOutcome::Done);
            }
            let ctx = session.session_context();
            if !view.replace && ctx.table_exist(view.name.as_str())? {
                return Err(ConnectError::Analysis(format!(
                    "[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create the temporary view `{}` because it already exists. SQLSTATE: 42P07",
                    view.name
                )));
            }
            ctx.register_table(view.name.as_str(), df.into_view())?;
            Ok(CommandOutcome::Done)
        }
        CommandType::WriteOperation(write) => {
            use spark_connect::write_operation::{SaveMode, SaveType};
            let input = write
                .input
                .as_ref()
                .ok_or_else(|| missing("WriteOperation.input"))?;
            let frame = planner.dataframe(input, "save").await?;
            let mode = match SaveMode::try_from(write.mode).unwrap_or(SaveMode::Unspecified) {
                SaveMode::Append => "append",
                SaveMode::Overwrite => "overwrite",
                SaveMode::Ignore => "ignore",
                SaveMode::ErrorIfExists | SaveMode::Unspecified => "errorifexists",
            };
            let mut writer = frame
                .write()
                .mode(mode)
                .partition_by(write.partitioning_columns.clone());
            for (key, value) in &write.options {
                writer = writer.option(key, value);
            }
            let format = write.source.clone().unwrap_or_else(|| "parquet".into());
            match &write.save_type {
                Some(SaveType::Path(path)) => {
                    let path = path.strip_prefix("file://").unwrap_or(path);
                    writer.format_save(&format, path).await?;
                }
                Some(SaveType::Table(table)) => {
                    use spark_connect::write_operation::save_table::TableSaveMethod;
                    let parts = crate::expression::identifier_parts(&table.table_name)?;
                    let name = parts.last().cloned().unwrap_or_default();
                    match TableSaveMethod::try_from(table.save_method) {
                        Ok(TableSaveMethod::InsertInto) => writer.insert_into(&name).await?,
                        _ => writer.save_as_table(&name, &format).await?,
                    }
                }
                None => {
                    let path = write.options.get("path").ok_or_else(|| {
                        ConnectError::IllegalArgument(
                            "a path is needed to save files: save(path)".into(),
                        )
                    })?;
                    writer.format_save(&format, path).await?;
                }
            }
            Ok(CommandOutcome::Done)
        }
        // `spark.stop()` clears the server's ML object cache; Flint keeps none.
        CommandType::MlCommand(spark_connect::MlCommand {
            command: Some(spark_connect::ml_command::Command::CleanCache(_)),
        }) => Ok(CommandOutcome::Done),
        CommandType::RegisterFunction(udf) => {
            // `spark.udf.register(name, f)`: callable by name from this session's SQL.
            // Function names are case-insensitive, as the SQL front end looks them up.
            let name = udf.function_name.to_ascii_lowercase();
            let function = crate::udf::python_udf(&crate::udf::runner(&session), udf, &name)?;
            let context = session.session_context();
            let state = context.state_ref();
            crate::udf::register(&mut *state.write(), function)?;
            Ok(CommandOutcome::Done)
        }
        other => Err(ConnectError::Unsupported(format!(
            "the Connect command {}",
            crate::variant_name(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_markers_outside_literals() {
        let named = HashMap::from([("x".to_string(), "(5)".to_string())]);
        let positional = vec!["'a'".to_string()];
        let text = "SELECT :x, ?, ':x', `?`, a::int -- :x ?\nFROM t";
        assert_eq!(
            substitute(text, &positional, &named).expect("bound"),
            "SELECT (5), 'a', ':x', `?`, a::int -- :x ?\nFROM t"
        );
        assert!(substitute("SELECT :y", &[], &named).is_err());
    }

    #[test]
    fn tells_queries_from_statements() {
        assert!(is_query("  select 1"));
        assert!(is_query("(SELECT 1)"));
        assert!(is_query("WITH a AS (SELECT 1) SELECT * FROM a"));
        assert!(!is_query("CREATE TEMPORARY VIEW v AS SELECT 1"));
        assert!(!is_query("SET spark.sql.shuffle.partitions=3"));
        // Spark runs SHOW, DESCRIBE and EXPLAIN at once, as commands.
        assert!(!is_query("SHOW TABLES"));
    }
}
