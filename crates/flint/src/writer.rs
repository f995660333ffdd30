use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::csv::CsvFormatFactory;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::json::JsonFormatFactory;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::logical_expr::LogicalPlanBuilder;

use datafusion::error::DataFusionError;

use crate::path_tables::FileFormat;
use crate::{DataFrame, FlintError};

/// Writes a DataFrame's rows as files in a directory, one or more per task, plus Spark's
/// `_SUCCESS` marker (PySpark's `DataFrameWriter`).
#[derive(Debug, Clone)]
pub struct DataFrameWriter {
    df: DataFrame,
    mode: String,
    options: BTreeMap<String, String>,
    partition_by: Vec<String>,
}

impl DataFrameWriter {
    pub(crate) fn new(df: DataFrame) -> Self {
        Self {
            df,
            mode: "errorifexists".into(),
            options: BTreeMap::new(),
            partition_by: Vec::new(),
        }
    }

    /// Spark's save mode: `errorifexists` (default), `overwrite`, `append` or `ignore`.
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = mode.to_ascii_lowercase();
        self
    }

    /// Sets a write option (`header` for csv).
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.options
            .insert(key.to_ascii_lowercase(), value.to_string());
        self
    }

    /// Writes one directory per value of these columns (`col=value/`), as Spark's
    /// `partitionBy` does; the columns are left out of the files.
    pub fn partition_by(mut self, columns: Vec<String>) -> Self {
        self.partition_by = columns;
        self
    }

    /// Writes files in the format named as Spark names it: `parquet`, `csv` or `json`.
    pub async fn format_save(self, format: &str, path: &str) -> Result<(), FlintError> {
        match format.to_ascii_lowercase().as_str() {
            "parquet" => self.parquet(path).await,
            "csv" => self.csv(path).await,
            "text" => self.text(path).await,
            "json" => {
                let file_type = format_as_file_type(Arc::new(JsonFormatFactory::new()));
                self.save(path, file_type, HashMap::new()).await
            }
            other => Err(FlintError::Unsupported(format!(
                "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: {other}. Flint writes parquet, csv, json and text"
            ))),
        }
    }

    /// Writes the rows as the managed table `name` in `format` (Spark's `saveAsTable`): under
    /// the save mode, an existing table is an error, replaced, appended to or left alone.
    pub async fn save_as_table(self, name: &str, format: &str) -> Result<(), FlintError> {
        let session = self.df.session().clone();
        let tables = &session.inner().context.managed_tables;
        let format = FileFormat::parse_table_format(format).ok_or_else(|| {
            FlintError::Unsupported(format!(
                "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: {format}. Flint writes parquet, csv and json"
            ))
        })?;
        if !self.partition_by.is_empty() {
            return Err(FlintError::Unsupported(
                "saveAsTable with partitionBy: Flint's managed tables are not partitioned yet; write the partitioned files to a path".into(),
            ));
        }
        let exists = tables.get(name).is_some();
        match (self.mode.as_str(), exists) {
            ("errorifexists" | "error" | "default", true) => {
                return Err(FlintError::Analysis(DataFusionError::Plan(format!(
                    "[TABLE_OR_VIEW_ALREADY_EXISTS] Cannot create table or view `spark_catalog`.`default`.`{name}` because it already exists. SQLSTATE: 42P07"
                ))));
            }
            ("ignore", true) => return Ok(()),
            ("overwrite", true) => {
                tables.drop_table(name)?;
            }
            _ => {}
        }
        let location = tables.location(name);
        let (directory, mode) = match (tables.get(name), exists && self.mode == "append") {
            (Some((directory, _)), true) => (directory, "append"),
            _ => {
                // A table made anew starts from an empty directory.
                crate::catalog::remove_dir(&location)?;
                (location, "overwrite")
            }
        };
        let schema = self.df.schema();
        let path = directory.display().to_string();
        let writer = DataFrameWriter {
            mode: mode.to_string(),
            ..self
        }
        .option("header", "true");
        writer.format_save(format.name(), &path).await?;
        let state = session.session_context().state();
        // Appended files keep the table's schema; a table made anew takes the rows'.
        let schema = if mode == "append" { None } else { Some(schema) };
        tables.register(&state, name, format, schema).await?;
        Ok(())
    }

    /// Appends the rows to the managed table `name`, matching columns by position (Spark's
    /// `insertInto`).
    pub async fn insert_into(self, name: &str) -> Result<(), FlintError> {
        let session = self.df.session().clone();
        let (directory, format) = session
            .inner()
            .context
            .managed_tables
            .get(name)
            .ok_or_else(|| {
                FlintError::Analysis(DataFusionError::Plan(format!(
                    "[TABLE_OR_VIEW_NOT_FOUND] The table or view `{name}` cannot be found. Verify the spelling and correctness of the schema and catalog. SQLSTATE: 42P01"
                )))
            })?;
        // Spark's insertInto matches columns by position: the rows take the table's names
        // and types before they are written.
        let table = session
            .session_context()
            .table_provider(name.to_ascii_lowercase().as_str())
            .await?
            .schema();
        let columns = self.df.columns();
        if columns.len() != table.fields().len() {
            return Err(FlintError::Analysis(DataFusionError::Plan(format!(
                "[INSERT_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS] Cannot write to `spark_catalog`.`default`.`{name}`: the table has {} columns, the data {}. SQLSTATE: 21S01",
                table.fields().len(),
                columns.len()
            ))));
        }
        let exprs = columns
            .iter()
            .zip(table.fields())
            .map(|(column, field)| {
                datafusion::prelude::cast(
                    datafusion::prelude::col(datafusion::common::Column::from_name(column)),
                    field.data_type().clone(),
                )
                .alias(field.name())
            })
            .collect();
        let df = self.df.select(exprs)?;
        let path = directory.display().to_string();
        let writer = DataFrameWriter {
            df,
            mode: "append".to_string(),
            ..self
        }
        .option("header", "true");
        writer.format_save(format.name(), &path).await
    }

    /// Writes parquet files under `path`.
    pub async fn parquet(self, path: &str) -> Result<(), FlintError> {
        let file_type = format_as_file_type(Arc::new(ParquetFormatFactory::new()));
        self.save(path, file_type, HashMap::new()).await
    }

    /// Writes csv files under `path`.
    pub async fn csv(self, path: &str) -> Result<(), FlintError> {
        let header = self
            .options
            .get("header")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let file_type = format_as_file_type(Arc::new(CsvFormatFactory::new()));
        let mut options = HashMap::from([("format.has_header".to_string(), header.to_string())]);
        // Spark's csv options and DataFusion's names for them.
        for (spark, datafusion) in [
            ("nullvalue", "null_value"),
            ("sep", "delimiter"),
            ("delimiter", "delimiter"),
            ("quote", "quote"),
            ("escape", "escape"),
        ] {
            if let Some(value) = self.options.get(spark) {
                options.insert(format!("format.{datafusion}"), value.clone());
            }
        }
        self.save(path, file_type, options).await
    }

    /// Writes text files under `path`: the rows' one string column, a line each (Spark's
    /// `text`; a NULL is an empty line), one file per partition written by its task. Lines are
    /// written as they are (DataFusion's csv writer would quote a lone empty field).
    pub async fn text(self, path: &str) -> Result<(), FlintError> {
        let schema = self.df.schema();
        let fields = schema.fields();
        let is_text =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        if fields.len() != 1 || !is_text(fields[0].data_type()) {
            let columns: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect();
            return Err(FlintError::Analysis(DataFusionError::Plan(format!(
                "Text data source supports only a single column of type string, and you have {} ({})",
                fields.len(),
                columns.join(", ")
            ))));
        }
        if let Some(sep) = self.options.get("linesep").filter(|s| s.as_str() != "\n") {
            return Err(FlintError::Unsupported(format!(
                "text option lineSep {sep:?} when writing: Flint ends lines with \\n"
            )));
        }
        if !self.partition_by.is_empty() {
            return Err(FlintError::Unsupported(
                "text with partitionBy: Flint writes text without partition directories yet".into(),
            ));
        }
        if !prepare_target(&self.mode, path)? {
            return Ok(());
        }
        let directory = std::path::absolute(path).map_err(|source| FlintError::Io {
            path: path.to_string(),
            source,
        })?;
        let input = self.df.physical_plan().await?;
        let writer = flint_sql::text_source::TextWriterExec::new(
            input,
            directory.display().to_string(),
            uuid::Uuid::new_v4().to_string(),
        );
        self.df.run_plan("save", Arc::new(writer)).await?;
        std::fs::write(directory.join("_SUCCESS"), b"").map_err(|source| FlintError::Io {
            path: path.to_string(),
            source,
        })?;
        Ok(())
    }

    async fn save(
        self,
        path: &str,
        file_type: Arc<dyn datafusion::common::file_options::file_type::FileType>,
        options: HashMap<String, String>,
    ) -> Result<(), FlintError> {
        if !prepare_target(&self.mode, path)? {
            return Ok(());
        }
        let target = Path::new(path);
        let io = |source| FlintError::Io {
            path: path.to_string(),
            source,
        };
        let (state, plan) = self.df.inner_df().clone().into_parts();
        let directory = format!("{}/", path.trim_end_matches('/'));
        let plan =
            LogicalPlanBuilder::copy_to(plan, directory, file_type, options, self.partition_by)?
                .build()?;
        let copy = DataFrame::new(
            self.df.session().clone(),
            datafusion::dataframe::DataFrame::new(state, plan),
            self.df.origin().to_string(),
        );
        copy.run("save").await?;
        std::fs::write(target.join("_SUCCESS"), b"").map_err(io)?;
        Ok(())
    }
}

/// Readies `path` for a write under Spark's save `mode`: false when there is nothing to write
/// (`ignore` of an existing path); an existing path is an error, replaced or appended to.
fn prepare_target(mode: &str, path: &str) -> Result<bool, FlintError> {
    let target = Path::new(path);
    let io = |source| FlintError::Io {
        path: path.to_string(),
        source,
    };
    match (mode, target.exists()) {
        ("errorifexists" | "error" | "default", true) => {
            return Err(FlintError::PathExists(path.to_string()));
        }
        ("ignore", true) => return Ok(false),
        ("overwrite", true) => {
            if target.is_dir() {
                std::fs::remove_dir_all(target).map_err(io)?;
            } else {
                std::fs::remove_file(target).map_err(io)?;
            }
        }
        ("errorifexists" | "error" | "default" | "ignore" | "overwrite" | "append", _) => {}
        (other, _) => {
            return Err(FlintError::Unsupported(format!(
                "unknown save mode \"{other}\": use errorifexists, overwrite, append or ignore"
            )));
        }
    }
    std::fs::create_dir_all(target).map_err(io)?;
    Ok(true)
}
