//! The `catalog` relation (PySpark's `spark.catalog`): Flint has one database, `default`, in
//! the catalog `spark_catalog`, holding each session's temporary views.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::dataframe::DataFrame as DfFrame;
use spark_connect::catalog::CatType;

use crate::error::{ConnectError, missing};
use crate::relation::Planner;

const DATABASE: &str = "default";
const CATALOG: &str = "spark_catalog";

fn strings(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn table(planner: &Planner<'_>, columns: Vec<(&str, ArrayRef)>) -> Result<DfFrame, ConnectError> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let arrays = columns.into_iter().map(|(_, array)| array).collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)
        .map_err(datafusion::error::DataFusionError::from)?;
    planner.batches(schema, vec![batch])
}

fn boolean(planner: &Planner<'_>, value: bool) -> Result<DfFrame, ConnectError> {
    table(
        planner,
        vec![("value", Arc::new(BooleanArray::from(vec![value])))],
    )
}

fn single(planner: &Planner<'_>, value: &str) -> Result<DfFrame, ConnectError> {
    table(
        planner,
        vec![("value", strings(vec![Some(value.to_string())]))],
    )
}

/// The names of the session's tables: its temporary views and the application's managed
/// tables, sorted.
fn view_names(session: &flint::SparkSession) -> Vec<String> {
    let ctx = session.session_context();
    let mut names: Vec<String> = ctx
        .catalog("datafusion")
        .and_then(|catalog| catalog.schema("public"))
        .map(|schema| schema.table_names())
        .unwrap_or_default();
    names.sort();
    names
}

fn matches_pattern(name: &str, pattern: Option<&str>) -> bool {
    let Some(pattern) = pattern else {
        return true;
    };
    // Spark's patterns: `*` is any text, `|` separates alternatives.
    pattern.split('|').any(|alternative| {
        let regex = format!(
            "(?i)^{}$",
            regex_lite_escape(alternative.trim()).replace("\\*", ".*")
        );
        regex::Regex::new(&regex).is_ok_and(|r| r.is_match(name))
    })
}

fn regex_lite_escape(text: &str) -> String {
    regex::escape(text)
}

/// Whether `name` names Flint's one database: `default`, or `spark_catalog.default`, in
/// any case and quoting.
fn is_database(name: &str) -> bool {
    let parts = crate::expression::identifier_parts(name).unwrap_or_default();
    let parts: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    match parts.as_slice() {
        [database] => database == DATABASE,
        [catalog, database] => catalog == CATALOG && database == DATABASE,
        _ => false,
    }
}

fn check_database(name: Option<&str>) -> Result<(), ConnectError> {
    match name {
        None => Ok(()),
        Some(name) if is_database(name) => Ok(()),
        Some(other) => Err(ConnectError::Analysis(format!(
            "[SCHEMA_NOT_FOUND] The schema `{other}` cannot be found. SQLSTATE: 42704"
        ))),
    }
}

/// A table name as `getTable`/`tableExists` take it (`t`, `db.t`, `catalog.db.t`): the
/// table, and whether it was qualified by a database (then only managed tables are found:
/// temporary views belong to no database).
fn table_in(name: &str, database: Option<&str>) -> Result<Option<(String, bool)>, ConnectError> {
    check_database(database)?;
    let mut parts = crate::expression::identifier_parts(name)?;
    let Some(table) = parts.pop() else {
        return Ok(None);
    };
    if parts.is_empty() {
        return Ok(Some((table, database.is_some())));
    }
    if !is_database(&parts.join(".")) {
        return Ok(None);
    }
    Ok(Some((table, true)))
}

/// Whether the session has the table `name` (a managed table when `qualified`).
fn has_table(session: &flint::SparkSession, name: &str, qualified: bool) -> bool {
    if qualified {
        session.managed_tables().contains(&name.to_string())
    } else {
        view_names(session).contains(&name.to_string())
    }
}

/// Answers one catalog request as a small table.
pub async fn plan(
    planner: &mut Planner<'_>,
    catalog: &spark_connect::Catalog,
) -> Result<DfFrame, ConnectError> {
    let session = planner.session();
    match catalog
        .cat_type
        .as_ref()
        .ok_or_else(|| missing("Catalog.cat_type"))?
    {
        CatType::CurrentDatabase(_) => single(planner, DATABASE),
        CatType::SetCurrentDatabase(set) => {
            check_database(Some(&set.db_name))?;
            single(planner, DATABASE)
        }
        CatType::CurrentCatalog(_) => single(planner, CATALOG),
        CatType::SetCurrentCatalog(set) => {
            if set.catalog_name != CATALOG {
                return Err(ConnectError::Analysis(format!(
                    "[CATALOG_NOT_FOUND] The catalog `{}` is not found. SQLSTATE: 42P08",
                    set.catalog_name
                )));
            }
            single(planner, CATALOG)
        }
        CatType::ListCatalogs(list) => {
            let names: Vec<Option<String>> = [CATALOG]
                .into_iter()
                .filter(|c| matches_pattern(c, list.pattern.as_deref()))
                .map(|c| Some(c.to_string()))
                .collect();
            let descriptions = vec![None; names.len()];
            table(
                planner,
                vec![
                    ("name", strings(names)),
                    ("description", strings(descriptions)),
                ],
            )
        }
        CatType::ListDatabases(list) => {
            let keep = matches_pattern(DATABASE, list.pattern.as_deref());
            let rows = usize::from(keep);
            table(
                planner,
                vec![
                    ("name", strings(vec![Some(DATABASE.into()); rows])),
                    ("catalog", strings(vec![Some(CATALOG.into()); rows])),
                    (
                        "description",
                        strings(vec![Some("default database".into()); rows]),
                    ),
                    ("locationUri", strings(vec![Some(warehouse_uri()); rows])),
                ],
            )
        }
        CatType::GetDatabase(get) => {
            check_database(Some(&get.db_name))?;
            table(
                planner,
                vec![
                    ("name", strings(vec![Some(DATABASE.into())])),
                    ("catalog", strings(vec![Some(CATALOG.into())])),
                    (
                        "description",
                        strings(vec![Some("default database".into())]),
                    ),
                    ("locationUri", strings(vec![Some(warehouse_uri())])),
                ],
            )
        }
        CatType::DatabaseExists(exists) => boolean(planner, is_database(&exists.db_name)),
        CatType::ListTables(list) => {
            listed(planner, list.db_name.as_deref(), list.pattern.as_deref())
        }
        CatType::ListViews(list) => {
            listed(planner, list.db_name.as_deref(), list.pattern.as_deref())
        }
        CatType::GetTable(get) => match table_in(&get.table_name, get.db_name.as_deref())? {
            Some((table, qualified)) if has_table(&session, &table, qualified) => {
                table_rows(planner, std::slice::from_ref(&table))
            }
            _ => Err(table_not_found(&get.table_name)),
        },
        CatType::TableExists(exists) => {
            let found = table_in(&exists.table_name, exists.db_name.as_deref())?
                .is_some_and(|(table, qualified)| has_table(&session, &table, qualified));
            boolean(planner, found)
        }
        CatType::DropTempView(drop) => {
            let existed = session.drop_temp_view(&drop.view_name)?;
            boolean(planner, existed)
        }
        CatType::DropGlobalTempView(drop) => {
            let existed = session.drop_global_temp_view(&drop.view_name)?;
            boolean(planner, existed)
        }
        CatType::FunctionExists(exists) => {
            let name = exists.function_name.to_ascii_lowercase();
            boolean(planner, function_names(&session).contains(&name))
        }
        CatType::ListFunctions(list) => {
            check_database(list.db_name.as_deref())?;
            let names: Vec<String> = function_names(&session)
                .into_iter()
                .filter(|name| matches_pattern(name, list.pattern.as_deref()))
                .collect();
            function_rows(planner, &names)
        }
        CatType::GetFunction(get) => {
            let name = get.function_name.to_ascii_lowercase();
            if !function_names(&session).contains(&name) {
                return Err(ConnectError::Analysis(format!(
                    "[UNRESOLVED_ROUTINE] Cannot resolve routine `{}` on search path [`system`.`builtin`, `system`.`session`, `spark_catalog`.`default`]. SQLSTATE: 42883",
                    get.function_name
                )));
            }
            function_rows(planner, &[name])
        }
        CatType::ListColumns(list) => {
            check_database(list.db_name.as_deref())?;
            let provider = session
                .session_context()
                .table_provider(list.table_name.as_str())
                .await
                .map_err(|_| table_not_found(&list.table_name))?;
            let schema = provider.schema();
            let fields = schema.fields();
            let names: Vec<Option<String>> =
                fields.iter().map(|f| Some(f.name().clone())).collect();
            let types: Vec<Option<String>> = fields
                .iter()
                .map(|f| Some(flint_sql::functions::spark_type_name(f.data_type())))
                .collect();
            let nullable: Vec<bool> = fields.iter().map(|f| f.is_nullable()).collect();
            let no = || Arc::new(BooleanArray::from(vec![false; fields.len()])) as ArrayRef;
            table(
                planner,
                vec![
                    ("name", strings(names)),
                    ("description", strings(vec![None; fields.len()])),
                    ("dataType", strings(types)),
                    ("nullable", Arc::new(BooleanArray::from(nullable))),
                    ("isPartition", no()),
                    ("isBucket", no()),
                    ("isCluster", no()),
                ],
            )
        }
        CatType::DropTable(drop) => {
            let existed = session
                .session_context()
                .deregister_table(drop.table_name.as_str())?
                .is_some();
            if !existed && !drop.if_exists {
                return Err(table_not_found(&drop.table_name));
            }
            boolean(planner, existed)
        }
        CatType::DropView(drop) => {
            let existed = session.drop_temp_view(&drop.view_name)?;
            if !existed && !drop.if_exists {
                return Err(table_not_found(&drop.view_name));
            }
            boolean(planner, existed)
        }
        CatType::IsCached(cached) => {
            let level = session
                .table(&cached.table_name)
                .await
                .map_err(|_| table_not_found(&cached.table_name))?
                .storage_level();
            boolean(planner, level != flint::StorageLevel::NONE)
        }
        // `spark.catalog.cacheTable` is lazy, as Spark's: the next action over the table
        // stores it.
        CatType::CacheTable(cache) => {
            let level = match &cache.storage_level {
                Some(level) => crate::service::flint_level(level)?,
                None => flint::StorageLevel::MEMORY_AND_DISK,
            };
            session
                .table(&cache.table_name)
                .await
                .map_err(|_| table_not_found(&cache.table_name))?;
            session
                .sql(&format!(
                    "CACHE LAZY TABLE `{}` OPTIONS ('storageLevel' '{}')",
                    cache.table_name.replace('`', ""),
                    level.name()
                ))
                .await?;
            boolean(planner, true)
        }
        CatType::UncacheTable(uncache) => {
            session
                .sql(&format!(
                    "UNCACHE TABLE `{}`",
                    uncache.table_name.replace('`', "")
                ))
                .await
                .map_err(|_| table_not_found(&uncache.table_name))?;
            boolean(planner, true)
        }
        CatType::ClearCache(_) => {
            session.sql("CLEAR CACHE").await?;
            boolean(planner, true)
        }
        // Flint's planner reads statistics from the files themselves (Parquet footers, file
        // sizes) each time it plans, so there are none to compute ahead and store: the
        // request checks the table exists and is done.
        CatType::AnalyzeTable(analyze) => {
            let found = table_in(&analyze.table_name, None)?
                .is_some_and(|(table, qualified)| has_table(&session, &table, qualified));
            if !found {
                return Err(table_not_found(&analyze.table_name));
            }
            boolean(planner, true)
        }
        CatType::GetCreateTableString(get) => {
            let table = table_in(&get.table_name, None)?
                .map(|(table, _)| table)
                .filter(|table| session.managed_table_format(table).is_some())
                .ok_or_else(|| table_not_found(&get.table_name))?;
            let format = session.managed_table_format(&table).unwrap_or("parquet");
            let provider = session
                .session_context()
                .table_provider(table.as_str())
                .await
                .map_err(|_| table_not_found(&get.table_name))?;
            let columns: Vec<String> = provider
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    format!(
                        "  {} {}",
                        quote_if_needed(f.name()),
                        flint_sql::functions::spark_type_name(f.data_type()).to_uppercase()
                    )
                })
                .collect();
            // Spark's `SHOW CREATE TABLE` text.
            let text = format!(
                "CREATE TABLE {CATALOG}.{DATABASE}.{table} (\n{})\nUSING {format}\n",
                columns.join(",\n")
            );
            single(planner, &text)
        }
        other => Err(ConnectError::Unsupported(format!(
            "the catalog operation {}",
            crate::variant_name(other)
        ))),
    }
}

/// `listTables`/`listViews`: the session's tables whose names match `pattern`.
fn listed(
    planner: &Planner<'_>,
    database: Option<&str>,
    pattern: Option<&str>,
) -> Result<DfFrame, ConnectError> {
    check_database(database)?;
    let names: Vec<String> = view_names(&planner.session())
        .into_iter()
        .filter(|n| matches_pattern(n, pattern))
        .collect();
    table_rows(planner, &names)
}

/// A name as Spark's `quoteIfNeeded` writes it: bare when it is a plain identifier.
fn quote_if_needed(name: &str) -> String {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.is_empty();
    if plain {
        name.to_string()
    } else {
        crate::expression::quote(name)
    }
}

fn table_not_found(name: &str) -> ConnectError {
    ConnectError::Analysis(format!(
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view `{name}` cannot be found. Verify the spelling and correctness of the schema and catalog. SQLSTATE: 42P01"
    ))
}

/// Rows of `listTables`: name, catalog, namespace, description, tableType, isTemporary.
fn table_rows(planner: &Planner<'_>, names: &[String]) -> Result<DfFrame, ConnectError> {
    // Managed tables are in `spark_catalog.default`; views are temporary.
    let managed = planner.session().managed_tables();
    let is_managed: Vec<bool> = names.iter().map(|n| managed.contains(n)).collect();
    let mut namespace = ListBuilder::new(StringBuilder::new());
    for managed in &is_managed {
        if *managed {
            namespace.values().append_value(DATABASE);
        }
        namespace.append(true);
    }
    let pick = |managed: &str, temporary: Option<&str>| -> ArrayRef {
        strings(
            is_managed
                .iter()
                .map(|m| {
                    if *m {
                        Some(managed.to_string())
                    } else {
                        temporary.map(String::from)
                    }
                })
                .collect(),
        )
    };
    let temporary: Vec<bool> = is_managed.iter().map(|m| !m).collect();
    table(
        planner,
        vec![
            (
                "name",
                strings(names.iter().map(|n| Some(n.clone())).collect()),
            ),
            ("catalog", pick(CATALOG, None)),
            ("namespace", Arc::new(namespace.finish())),
            ("description", strings(vec![None; names.len()])),
            ("tableType", pick("MANAGED", Some("TEMPORARY"))),
            ("isTemporary", Arc::new(BooleanArray::from(temporary))),
        ],
    )
}

/// The functions a session can call (built-in, and its registered UDFs), by name, sorted;
/// Flint's internal helpers (`flint_...`, `__...`) are left out.
fn function_names(session: &flint::SparkSession) -> std::collections::BTreeSet<String> {
    let state = session.session_context().state();
    state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .map(|name| name.to_ascii_lowercase())
        .filter(|name| !name.starts_with("flint_") && !name.starts_with("__"))
        .collect()
}

/// Functions as Spark's catalog lists them; built-in functions and session UDFs belong to no
/// catalog or database, and are temporary.
fn function_rows(planner: &Planner<'_>, names: &[String]) -> Result<DfFrame, ConnectError> {
    let mut namespace = ListBuilder::new(StringBuilder::new());
    for _ in names {
        namespace.append(false);
    }
    table(
        planner,
        vec![
            (
                "name",
                strings(names.iter().map(|n| Some(n.clone())).collect()),
            ),
            ("catalog", strings(vec![None; names.len()])),
            ("namespace", Arc::new(namespace.finish())),
            ("description", strings(vec![None; names.len()])),
            ("className", strings(vec![None; names.len()])),
            (
                "isTemporary",
                Arc::new(BooleanArray::from(vec![true; names.len()])),
            ),
        ],
    )
}

fn warehouse_uri() -> String {
    let directory = std::env::current_dir()
        .unwrap_or_default()
        .join("spark-warehouse");
    format!("file:{}", directory.display())
}
