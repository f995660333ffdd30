//! Spark's path tables: ``SELECT * FROM parquet.`/data/file.parquet` `` reads the file named
//! as the table, through one schema per format (`parquet`, `csv`, `json`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};

use crate::FlintError;
use crate::context::planner_runtime;

/// File formats a path table can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Parquet,
    Csv,
    Json,
    /// Spark's `text`: each line a row of one string column.
    Text,
}

impl FileFormat {
    /// Spark's name of the format.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
            FileFormat::Text => "text",
        }
    }

    /// The format of a managed table: parquet, csv or json (a text table is not yet written).
    pub(crate) fn parse_table_format(name: &str) -> Option<Self> {
        Self::parse(name).filter(|format| *format != FileFormat::Text)
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "json" => Some(FileFormat::Json),
            "text" => Some(FileFormat::Text),
            _ => None,
        }
    }
}

/// Registers the `parquet`, `csv` and `json` schemas in the default catalog.
pub(crate) fn register_path_schemas(
    ctx: &SessionContext,
    config: SessionConfig,
) -> Result<(), FlintError> {
    let catalog = ctx.catalog("datafusion").ok_or_else(|| {
        FlintError::Analysis(DataFusionError::Internal(
            "default catalog missing; this is a Flint bug".into(),
        ))
    })?;
    // A separate context reads files, so the schemas hold no reference back to the session.
    let reader = SessionContext::new_with_config_rt(config, planner_runtime()?);
    for (name, format) in [
        ("parquet", FileFormat::Parquet),
        ("csv", FileFormat::Csv),
        ("json", FileFormat::Json),
        ("text", FileFormat::Text),
    ] {
        catalog.register_schema(
            name,
            Arc::new(PathSchema {
                format,
                reader: reader.clone(),
            }),
        )?;
    }
    Ok(())
}

/// The `text` table of a file or directory's files; `schema` names its one column.
pub(crate) fn text_table(
    path: &str,
    schema: Option<&datafusion::arrow::datatypes::Schema>,
    options: &std::collections::BTreeMap<String, String>,
) -> Result<Arc<dyn TableProvider>> {
    use flint_sql::text_source::{TextOptions, TextTable, text_files, text_schema};
    // Executors read the files: their names must not depend on the driver's directory.
    let path = std::path::absolute(path)
        .map_err(|e| DataFusionError::Execution(format!("{path}: {e}")))?;
    let files = text_files(&path)?;
    Ok(Arc::new(TextTable::new(
        files,
        text_schema(schema)?,
        TextOptions::from_spark(options)?,
    )))
}

/// Opens a file or directory as a table in `format`; csv files have a header row.
pub(crate) async fn open_path(
    reader: &SessionContext,
    format: FileFormat,
    path: &str,
) -> Result<Arc<dyn TableProvider>> {
    let df = match format {
        FileFormat::Parquet => {
            reader
                .read_parquet(path, ParquetReadOptions::default())
                .await?
        }
        FileFormat::Csv => {
            reader
                .read_csv(path, CsvReadOptions::new().has_header(true))
                .await?
        }
        FileFormat::Json => reader.read_json(path, JsonReadOptions::default()).await?,
        FileFormat::Text => reader.read_table(text_table(path, None, &Default::default())?)?,
    };
    Ok(df.into_view())
}

struct PathSchema {
    format: FileFormat,
    reader: SessionContext,
}

impl std::fmt::Debug for PathSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathSchema")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SchemaProvider for PathSchema {
    fn table_names(&self) -> Vec<String> {
        vec![]
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !std::path::Path::new(name).exists() {
            return Ok(None);
        }
        open_path(&self.reader, self.format, name).await.map(Some)
    }

    fn table_exist(&self, name: &str) -> bool {
        std::path::Path::new(name).exists()
    }
}
