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
}

impl FileFormat {
    /// Spark's name of the format.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "json" => Some(FileFormat::Json),
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
