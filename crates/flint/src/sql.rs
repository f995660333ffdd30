//! Spark SQL statements: `CREATE TEMPORARY VIEW ... USING ... OPTIONS (...)` and `SET
//! key=value` are recognised on SQL tokens; everything else is parsed by `flint_sql::parser`
//! (Spark's dialect) and planned by DataFusion's SQL planner with Spark's functions and type
//! rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use flint_conf::keys;

use flint_driver::cache::StorageLevel;

use crate::path_tables::FileFormat;
use crate::reader::read_files;
use crate::{DataFrame, FlintError, SparkSession};

fn tokenize(text: &str) -> Result<Vec<Token>, FlintError> {
    Tokenizer::new(&GenericDialect {}, text)
        .tokenize()
        .map_err(|e| {
            FlintError::Analysis(datafusion::error::DataFusionError::SQL(
                Box::new(e.into()),
                None,
            ))
        })
}

/// Splits a SQL script into statements at top-level semicolons (not in strings or comments),
/// dropping empty statements and comments.
pub fn split_statements(text: &str) -> Result<Vec<String>, FlintError> {
    Ok(flint_sql::parser::split_script(text))
}

/// Runs one statement for `SparkSession::sql`.
pub(crate) async fn run_statement(
    session: &SparkSession,
    text: &str,
) -> Result<DataFrame, FlintError> {
    // Spark's literals (`'Don\\'t'`, `r'...'`) in standard form for the token checks.
    let tokens: Vec<Token> = tokenize(&flint_sql::parser::spark_string_literals(text))?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .collect();
    let ctx = &session.inner().ctx;
    if create_table_using(session, text).await? {
        return empty(session).await;
    }
    if let Some(view) = parse_create_view_using(&tokens)? {
        if !view.replace && ctx.table_exist(view.name.as_str())? {
            return Err(FlintError::Analysis(
                datafusion::error::DataFusionError::Plan(format!(
                    "temporary view `{}` already exists; use CREATE OR REPLACE TEMPORARY VIEW",
                    view.name
                )),
            ));
        }
        let path = view.options.get("path").ok_or_else(|| {
            FlintError::Unsupported(format!(
                "CREATE TEMPORARY VIEW {} USING {:?} needs OPTIONS (path '...')",
                view.name, view.format
            ))
        })?;
        let df = read_files(ctx, view.format, path, &view.options).await?;
        ctx.register_table(view.name.as_str(), df.into_view())?;
        return empty(session).await;
    }
    if let Some((key, value)) = parse_set(&tokens) {
        set_conf(session, &key, &value)?;
        return empty(session).await;
    }
    if let Some(command) = parse_cache_command(text)? {
        run_cache_command(session, command).await?;
        return empty(session).await;
    }
    let mut statements = flint_sql::parser::parse_sql(text)
        .map_err(|e| FlintError::Analysis(DataFusionError::SQL(Box::new(e), None)))?;
    let statement = match (statements.pop(), statements.is_empty()) {
        (Some(statement), true) => statement,
        (None, _) => {
            return Err(FlintError::Analysis(DataFusionError::SQL(
                Box::new(
                    datafusion::sql::sqlparser::parser::ParserError::ParserError(
                        "[PARSE_EMPTY_STATEMENT] Syntax error, unexpected empty statement. \
                     SQLSTATE: 42617"
                            .into(),
                    ),
                ),
                None,
            )));
        }
        (Some(_), false) => {
            return Err(FlintError::Analysis(DataFusionError::Plan(
                "one statement at a time: split the text at its semicolons".into(),
            )));
        }
    };
    // Spark's DROP TABLE also drops a temporary view of that name; DataFusion's drops tables.
    if let datafusion::sql::sqlparser::ast::Statement::Drop {
        object_type: datafusion::sql::sqlparser::ast::ObjectType::Table,
        names,
        ..
    } = &statement
        && let [name] = names.as_slice()
        && let [part] = name.0.as_slice()
        && let Some(view) = part.as_ident()
        && session.drop_temp_view(&view.value)?
    {
        return empty(session).await;
    }
    // Spark's SHOW TABLES: the database's tables, then the session's temporary views.
    if let datafusion::sql::sqlparser::ast::Statement::ShowTables { show_options, .. } = &statement
        && show_options.show_in.is_none()
        && show_options.filter_position.is_none()
    {
        return show_tables(session);
    }
    let state = ctx.state();
    let plan = match state
        .statement_to_plan(DFStatement::Statement(Box::new(statement.clone())))
        .await
    {
        Err(error) if flint_sql::identifiers::is_unknown_column(&error) => {
            match case_insensitive_names(ctx, statement).await {
                Some(statement) => state
                    .statement_to_plan(DFStatement::Statement(Box::new(statement)))
                    .await
                    .map_err(|_| error)?,
                None => return Err(error.into()),
            }
        }
        planned => planned?,
    };
    // Queries are analyzed at once, so the DataFrame's schema has Spark's types (the
    // analyzer runs again, unchanged, when the plan is optimized).
    let plan = if is_query(&plan) {
        state
            .analyzer()
            .execute_and_check(plan, state.config_options(), |_, _| {})?
    } else {
        plan
    };
    let df = ctx.execute_logical_plan(plan).await?;
    Ok(DataFrame::new(session.clone(), df, statement_origin(text)))
}

/// A statement's text on one line without its comment lines (a TPC-H query file starts with
/// `-- using default substitutions`): what job descriptions show of it.
fn statement_origin(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `statement` with its identifiers resolved to the columns of the tables it reads whatever
/// their case, as Spark resolves them; `None` when nothing changes.
async fn case_insensitive_names(
    ctx: &datafusion::prelude::SessionContext,
    mut statement: datafusion::sql::sqlparser::ast::Statement,
) -> Option<datafusion::sql::sqlparser::ast::Statement> {
    let mut names = flint_sql::identifiers::ColumnNames::default();
    for relation in flint_sql::identifiers::relations(&statement) {
        let Some(reference) = flint_sql::identifiers::table_reference(&relation) else {
            continue;
        };
        if let Ok(table) = ctx.table_provider(reference).await {
            for field in table.schema().fields() {
                names.add_field(field);
            }
        }
    }
    names.add_aliases_of(&statement);
    names.rewrite(&mut statement).then_some(statement)
}

/// `CREATE TABLE [IF NOT EXISTS] name [(columns)] USING format [AS query]`: a managed table
/// of the application, its files under `spark.sql.warehouse.dir`. Returns whether `text` was
/// such a statement.
async fn create_table_using(session: &SparkSession, text: &str) -> Result<bool, FlintError> {
    static CREATE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let pattern = CREATE.get_or_init(|| {
        regex::Regex::new(
            r"(?is)^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?((?:spark_catalog\.)?(?:default\.)?)`?([A-Za-z_][A-Za-z0-9_]*)`?\s*(?:\((.*)\))?\s*USING\s+([A-Za-z]+)\s*(.*?)\s*;?\s*$",
        )
        .ok()
    });
    let Some(captures) = pattern.as_ref().and_then(|p| p.captures(text)) else {
        return Ok(false);
    };
    let if_not_exists = captures.get(1).is_some();
    let name = captures
        .get(3)
        .map_or("", |m| m.as_str())
        .to_ascii_lowercase();
    let columns = captures.get(4).map(|m| m.as_str());
    let format_name = captures.get(5).map_or("", |m| m.as_str());
    let rest = captures.get(6).map_or("", |m| m.as_str());
    let format = FileFormat::parse_table_format(format_name).ok_or_else(|| {
        FlintError::Unsupported(format!(
            "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: {format_name}. Flint's tables are parquet, csv or json"
        ))
    })?;
    let tables = &session.inner().context.managed_tables;
    if tables.get(&name).is_some() {
        if if_not_exists {
            return Ok(true);
        }
        return Err(FlintError::Analysis(DataFusionError::Plan(format!(
            "[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view `spark_catalog`.`default`.`{name}` because it already exists. SQLSTATE: 42P07"
        ))));
    }
    let query = match rest.get(..2) {
        None => None,
        Some(word) if word.eq_ignore_ascii_case("as") => Some(&rest[2..]),
        Some(_) => {
            return Err(FlintError::Unsupported(format!(
                "CREATE TABLE ... USING {format_name} {rest}: Flint takes a column list and AS query, not these clauses yet"
            )));
        }
    };
    match (columns, query) {
        (Some(columns), None) => {
            let schema = match flint_sql::ddl::parse_ddl(columns) {
                Ok(datafusion::arrow::datatypes::DataType::Struct(fields)) => {
                    std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
                }
                Ok(other) => std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
                    datafusion::arrow::datatypes::Field::new("value", other, true),
                ])),
                Err(e) => return Err(FlintError::Analysis(DataFusionError::Plan(e.to_string()))),
            };
            crate::catalog::remove_dir(&tables.location(&name))?;
            tables
                .register(
                    &session.session_context().state(),
                    &name,
                    format,
                    Some(schema),
                )
                .await?;
        }
        (_, Some(query)) => {
            let df = Box::pin(run_statement(session, query)).await?;
            df.write().save_as_table(&name, format.name()).await?;
        }
        (None, None) => {
            return Err(FlintError::Analysis(DataFusionError::Plan(format!(
                "CREATE TABLE {name} USING {format_name} needs a column list or AS query"
            ))));
        }
    }
    Ok(true)
}

/// Whether `plan` computes rows (not DDL, DML or a session statement).
fn is_query(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
    )
}

/// `SET key=value` for this session: `spark.sql.shuffle.partitions`, `spark.sql.ansi.enabled`
/// and the session time zone change how later statements are planned; every key is kept in
/// the session's SQL conf.
pub(crate) fn set_conf(session: &SparkSession, key: &str, value: &str) -> Result<(), FlintError> {
    let ctx = &session.inner().ctx;
    let invalid = |expected: &'static str| flint_conf::ConfError::InvalidValue {
        key: key.into(),
        value: value.into(),
        expected,
    };
    if key == keys::SHUFFLE_PARTITIONS.key {
        let partitions = value
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("a positive integer"))?;
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .execution
            .target_partitions = partitions;
    } else if key == keys::ANSI_ENABLED.key {
        let ansi = value
            .parse::<bool>()
            .map_err(|_| invalid("true or false"))?;
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .execution
            .enable_ansi_mode = ansi;
    } else if key == keys::SESSION_TIME_ZONE.key {
        flint_sql::HiveFormat::new(value)?;
        set_plan_time_zone(session, value);
    } else if key == keys::MAP_KEY_DEDUP_POLICY.key {
        let policy = flint_executor::map_key_dedup_policy(value)
            .ok_or_else(|| invalid("EXCEPTION or LAST_WIN"))?;
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .spark
            .map_key_dedup_policy = policy;
    } else if key == keys::TIME_TYPE_ENABLED.key {
        let enabled = value
            .parse::<bool>()
            .map_err(|_| invalid("true or false"))?;
        if let Some(options) = ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .extensions
            .get_mut::<flint_sql::analyzer::FlintOptions>()
        {
            options.time_type_enabled = enabled;
        }
    }
    if let Ok(mut conf) = session.inner().sql_conf.write() {
        conf.insert(key.to_string(), value.to_string());
    }
    Ok(())
}

/// Makes `zone` the time zone this session's plans convert timestamps with (a zone the
/// plans cannot read fails when they run, with Spark's `INVALID_TIMEZONE`).
pub(crate) fn set_plan_time_zone(session: &SparkSession, zone: &str) {
    let state = session.inner().ctx.state_ref();
    let mut state = state.write();
    if let Some(options) = state
        .config_mut()
        .options_mut()
        .extensions
        .get_mut::<flint_sql::analyzer::FlintOptions>()
    {
        options.session_time_zone = zone.to_string();
    }
}

/// `SHOW TABLES` as Spark answers it: `namespace`, `tableName`, `isTemporary`.
fn show_tables(session: &SparkSession) -> Result<DataFrame, FlintError> {
    use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let tables = session.managed_tables();
    let mut views = session.temp_view_names();
    views.sort();
    let namespaces = tables
        .iter()
        .map(|_| "default")
        .chain(views.iter().map(|_| ""));
    let names = tables.iter().chain(&views).map(String::as_str);
    let temporary = tables
        .iter()
        .map(|_| false)
        .chain(views.iter().map(|_| true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("namespace", DataType::Utf8, false),
        Field::new("tableName", DataType::Utf8, false),
        Field::new("isTemporary", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(namespaces)),
            Arc::new(StringArray::from_iter_values(names)),
            Arc::new(BooleanArray::from_iter(temporary.map(Some))),
        ],
    )
    .map_err(DataFusionError::from)?;
    let df = session.inner().ctx.read_batch(batch)?;
    Ok(DataFrame::new(session.clone(), df, "SHOW TABLES".into()))
}

/// Spark's cache statements.
#[derive(Debug, PartialEq)]
enum CacheCommand {
    /// `CACHE [LAZY] TABLE name [OPTIONS ('storageLevel' 'LEVEL')] [[AS] query]`.
    Cache {
        table: String,
        lazy: bool,
        level: StorageLevel,
        query: Option<String>,
    },
    /// `UNCACHE TABLE [IF EXISTS] name`.
    Uncache { table: String, if_exists: bool },
    /// `CLEAR CACHE`.
    Clear,
}

/// Recognises `CACHE TABLE`, `UNCACHE TABLE` and `CLEAR CACHE`.
fn parse_cache_command(text: &str) -> Result<Option<CacheCommand>, FlintError> {
    static CACHE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?is)^\s*CACHE\s+(LAZY\s+)?TABLE\s+([\w.`]+)\s*(?:OPTIONS\s*\(\s*'storageLevel'\s*(?:=\s*)?'([\w]+)'\s*\))?\s*(?:AS\s+)?(.*?)\s*;?\s*$",
        )
        .expect("a valid regex")
    });
    static UNCACHE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)^\s*UNCACHE\s+TABLE\s+(IF\s+EXISTS\s+)?([\w.`]+)\s*;?\s*$")
            .expect("a valid regex")
    });
    static CLEAR: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)^\s*CLEAR\s+CACHE\s*;?\s*$").expect("a valid regex")
    });
    let unquote = |name: &str| name.replace('`', "");
    if CLEAR.is_match(text) {
        return Ok(Some(CacheCommand::Clear));
    }
    if let Some(found) = UNCACHE.captures(text) {
        return Ok(Some(CacheCommand::Uncache {
            table: unquote(&found[2]),
            if_exists: found.get(1).is_some(),
        }));
    }
    let Some(found) = CACHE.captures(text) else {
        return Ok(None);
    };
    let level = match found.get(3) {
        Some(name) => StorageLevel::parse(name.as_str()).ok_or_else(|| {
            FlintError::Analysis(DataFusionError::Plan(format!(
                "Invalid storage level '{}' for CACHE TABLE: expected NONE, DISK_ONLY, MEMORY_ONLY, MEMORY_AND_DISK (or their _2 forms)",
                name.as_str()
            )))
        })?,
        None => StorageLevel::MEMORY_AND_DISK,
    };
    let query = found
        .get(4)
        .map(|q| q.as_str().trim())
        .filter(|q| !q.is_empty())
        .map(String::from);
    Ok(Some(CacheCommand::Cache {
        table: unquote(&found[2]),
        lazy: found.get(1).is_some(),
        level,
        query,
    }))
}

/// Runs a cache statement: `CACHE TABLE` caches the table's plan (defining it first as a
/// temporary view of the query, if one is given) and, unless `LAZY`, computes it at once.
async fn run_cache_command(
    session: &SparkSession,
    command: CacheCommand,
) -> Result<(), FlintError> {
    let context = &session.inner().context;
    match command {
        CacheCommand::Cache {
            table,
            lazy,
            level,
            query,
        } => {
            if let Some(query) = query {
                let df = Box::pin(session.sql(&query)).await?;
                df.create_or_replace_temp_view(&table)?;
            }
            let df = session.table(&table).await?;
            df.persist_as(level, Some(table.clone()));
            if !lazy {
                df.collect_as(&format!("CACHE TABLE {table}")).await?;
            }
        }
        CacheCommand::Uncache { table, if_exists } => match context.cache.uncache_table(&table) {
            Some(cache) => context.drop_caches(&[cache]),
            None if if_exists || session.table(&table).await.is_ok() => {}
            None => {
                return Err(FlintError::Analysis(DataFusionError::Plan(format!(
                    "[TABLE_OR_VIEW_NOT_FOUND] The table or view `{table}` cannot be found."
                ))));
            }
        },
        CacheCommand::Clear => {
            let dropped = context.cache.clear();
            context.drop_caches(&dropped);
        }
    }
    Ok(())
}

async fn empty(session: &SparkSession) -> Result<DataFrame, FlintError> {
    let df = session.inner().ctx.read_empty()?;
    Ok(DataFrame::new(session.clone(), df, String::new()))
}

#[derive(Debug, PartialEq)]
struct CreateViewUsing {
    replace: bool,
    name: String,
    format: FileFormat,
    options: BTreeMap<String, String>,
}

fn word(token: &Token) -> Option<(Keyword, &str)> {
    match token {
        Token::Word(w) => Some((w.keyword, w.value.as_str())),
        _ => None,
    }
}

fn is_keyword(token: Option<&Token>, keyword: Keyword) -> bool {
    token.and_then(word).is_some_and(|(k, _)| k == keyword)
}

fn text_value(token: &Token) -> Option<String> {
    match token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Some(s.clone()),
        Token::Number(n, _) => Some(n.clone()),
        Token::Word(w) => Some(w.value.clone()),
        _ => None,
    }
}

/// Recognises `CREATE [OR REPLACE] [GLOBAL] TEMP[ORARY] VIEW name USING format [OPTIONS (k v, ...)]`.
fn parse_create_view_using(tokens: &[Token]) -> Result<Option<CreateViewUsing>, FlintError> {
    let mut i = 0;
    let next = |i: &mut usize| {
        let token = tokens.get(*i);
        *i += 1;
        token
    };
    if !is_keyword(next(&mut i), Keyword::CREATE) {
        return Ok(None);
    }
    let mut replace = false;
    if is_keyword(tokens.get(i), Keyword::OR) {
        i += 1;
        if !is_keyword(next(&mut i), Keyword::REPLACE) {
            return Ok(None);
        }
        replace = true;
    }
    if is_keyword(tokens.get(i), Keyword::GLOBAL) {
        i += 1;
    }
    let temp = next(&mut i);
    if !(is_keyword(temp, Keyword::TEMPORARY) || is_keyword(temp, Keyword::TEMP))
        || !is_keyword(next(&mut i), Keyword::VIEW)
    {
        return Ok(None);
    }
    let Some(name) = next(&mut i).and_then(word).map(|(_, v)| v.to_string()) else {
        return Ok(None);
    };
    if !is_keyword(next(&mut i), Keyword::USING) {
        return Ok(None);
    }
    let Some(format_name) = next(&mut i).and_then(word).map(|(_, v)| v.to_string()) else {
        return Ok(None);
    };
    let format = FileFormat::parse(&format_name).ok_or_else(|| {
        FlintError::Unsupported(format!(
            "data source \"{format_name}\" is not supported; use parquet, csv, json or text"
        ))
    })?;
    let mut options = BTreeMap::new();
    if is_keyword(tokens.get(i), Keyword::OPTIONS) {
        i += 1;
        if next(&mut i) != Some(&Token::LParen) {
            return Err(malformed_options());
        }
        loop {
            let key = next(&mut i)
                .and_then(text_value)
                .ok_or_else(malformed_options)?;
            if tokens.get(i) == Some(&Token::Eq) {
                i += 1;
            }
            let value = next(&mut i)
                .and_then(text_value)
                .ok_or_else(malformed_options)?;
            options.insert(key.to_ascii_lowercase(), value);
            match next(&mut i) {
                Some(Token::Comma) => continue,
                Some(Token::RParen) => break,
                _ => return Err(malformed_options()),
            }
        }
    }
    if i < tokens.len() {
        return Err(malformed_options());
    }
    Ok(Some(CreateViewUsing {
        replace,
        name,
        format,
        options,
    }))
}

fn malformed_options() -> FlintError {
    FlintError::Analysis(datafusion::error::DataFusionError::Plan(
        "malformed CREATE TEMPORARY VIEW ... USING: expected OPTIONS (key 'value', ...)".into(),
    ))
}

/// Recognises `SET spark.sql.shuffle.partitions = N`.
/// Recognises `SET key=value` (the value may be quoted).
fn parse_set(tokens: &[Token]) -> Option<(String, String)> {
    if !is_keyword(tokens.first(), Keyword::SET) {
        return None;
    }
    let rest: String = tokens[1..].iter().map(|t| t.to_string()).collect();
    let (key, value) = rest.split_once('=')?;
    let value = value.trim().trim_matches(['\'', '"']);
    Some((key.trim().to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn cache_statements_parse_like_spark() {
        assert_eq!(
            parse_cache_command(
                "CACHE LAZY TABLE t OPTIONS ('storageLevel' 'DISK_ONLY') AS SELECT 1"
            )
            .unwrap(),
            Some(CacheCommand::Cache {
                table: "t".into(),
                lazy: true,
                level: StorageLevel::DISK_ONLY,
                query: Some("SELECT 1".into()),
            })
        );
        assert_eq!(
            parse_cache_command("cache table `db`.`t`").unwrap(),
            Some(CacheCommand::Cache {
                table: "db.t".into(),
                lazy: false,
                level: StorageLevel::MEMORY_AND_DISK,
                query: None,
            })
        );
        assert_eq!(
            parse_cache_command("UNCACHE TABLE IF EXISTS t;").unwrap(),
            Some(CacheCommand::Uncache {
                table: "t".into(),
                if_exists: true
            })
        );
        assert_eq!(
            parse_cache_command("CLEAR CACHE").unwrap(),
            Some(CacheCommand::Clear)
        );
        assert_eq!(parse_cache_command("SELECT 1").unwrap(), None);
        assert!(parse_cache_command("CACHE TABLE t OPTIONS ('storageLevel' 'FAST')").is_err());
    }
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
            .collect()
    }

    #[test]
    fn job_descriptions_show_the_statement_without_comment_lines() {
        assert_eq!(
            statement_origin("-- using default substitutions\nselect\n\ta,  b -- x\nfrom t"),
            "select a, b -- x from t"
        );
    }

    #[test]
    fn recognises_spark_create_view_using() {
        let view = parse_create_view_using(&tokens(
            "CREATE TEMPORARY VIEW lineitem USING parquet OPTIONS (path '/data/lineitem.parquet')",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(view.name, "lineitem");
        assert_eq!(view.format, FileFormat::Parquet);
        assert_eq!(
            view.options.get("path").map(String::as_str),
            Some("/data/lineitem.parquet")
        );
        assert!(!view.replace);

        let view = parse_create_view_using(&tokens(
            "create or replace temp view t using csv options (path '/x.csv', header 'true', inferSchema = true);",
        ))
        .unwrap()
        .unwrap();
        assert!(view.replace);
        assert_eq!(
            view.options.get("inferschema").map(String::as_str),
            Some("true")
        );

        assert_eq!(
            parse_create_view_using(&tokens("CREATE VIEW v AS SELECT 1")).unwrap(),
            None
        );
        assert!(
            parse_create_view_using(&tokens("CREATE TEMP VIEW v USING avro OPTIONS (path 'x')"))
                .is_err()
        );
        assert!(
            parse_create_view_using(&tokens("CREATE TEMP VIEW v USING csv OPTIONS (path)"))
                .is_err()
        );
    }

    #[test]
    fn splits_scripts_at_top_level_semicolons() {
        let statements =
            split_statements("select ';' as a; -- comment; here\n\nselect 2;;\n").unwrap();
        assert_eq!(
            statements,
            vec!["select ';' as a".to_string(), "select 2".to_string()]
        );
    }

    #[test]
    fn recognises_set() {
        assert_eq!(
            parse_set(&tokens("SET spark.sql.shuffle.partitions=8")),
            Some(("spark.sql.shuffle.partitions".into(), "8".into()))
        );
        assert_eq!(
            parse_set(&tokens("SET spark.sql.session.timeZone = 'UTC'")),
            Some(("spark.sql.session.timeZone".into(), "UTC".into()))
        );
        assert_eq!(parse_set(&tokens("SELECT 1")), None);
    }
}
