use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

use crate::path_tables::FileFormat;
use crate::{DataFrame, FlintError, SparkSession};

/// Reads files into DataFrames (PySpark's `DataFrameReader`): `spark.read().option("header",
/// "true").csv(path)`. Options and defaults are Spark's: csv has no header and all-string
/// columns named `_c0`, `_c1`, ... unless `header` and `inferSchema` say otherwise.
#[derive(Debug, Clone)]
pub struct DataFrameReader {
    session: SparkSession,
    options: BTreeMap<String, String>,
    schema: Option<Arc<Schema>>,
}

impl DataFrameReader {
    pub(crate) fn new(session: SparkSession) -> Self {
        Self {
            session,
            options: BTreeMap::new(),
            schema: None,
        }
    }

    /// Reads with this schema instead of inferring one (Spark's `schema(...)`; csv and json).
    pub fn schema(mut self, schema: Arc<Schema>) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Reads files in the format named as Spark names it: `parquet`, `csv` or `json`.
    pub async fn format_load(self, format: &str, path: &str) -> Result<DataFrame, FlintError> {
        let format = FileFormat::parse(format).ok_or_else(|| {
            FlintError::Unsupported(format!(
                "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: {format}. Flint reads parquet, csv and json"
            ))
        })?;
        self.load(format, path).await
    }

    /// Sets a read option (`header`, `inferSchema`, `sep`), case-insensitive like Spark's.
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.options
            .insert(key.to_ascii_lowercase(), value.to_string());
        self
    }

    /// Reads parquet files (a file or a directory of them).
    pub async fn parquet(self, path: &str) -> Result<DataFrame, FlintError> {
        self.load(FileFormat::Parquet, path).await
    }

    /// Reads csv files.
    pub async fn csv(self, path: &str) -> Result<DataFrame, FlintError> {
        self.load(FileFormat::Csv, path).await
    }

    /// Reads JSON-lines files.
    pub async fn json(self, path: &str) -> Result<DataFrame, FlintError> {
        self.load(FileFormat::Json, path).await
    }

    async fn load(self, format: FileFormat, path: &str) -> Result<DataFrame, FlintError> {
        let df = read_files_with_schema(
            &self.session.inner().ctx,
            format,
            path,
            &self.options,
            self.schema.clone(),
        )
        .await?;
        Ok(DataFrame::new(self.session, df, path.to_string()))
    }
}

/// Opens files in `format` with Spark's options; shared by readers and `CREATE TEMPORARY VIEW ... USING`.
pub(crate) async fn read_files(
    ctx: &SessionContext,
    format: FileFormat,
    path: &str,
    options: &BTreeMap<String, String>,
) -> Result<datafusion::dataframe::DataFrame, FlintError> {
    read_files_with_schema(ctx, format, path, options, None).await
}

/// [`read_files`] with a schema given by the user instead of an inferred one.
async fn read_files_with_schema(
    ctx: &SessionContext,
    format: FileFormat,
    path: &str,
    options: &BTreeMap<String, String>,
    schema: Option<Arc<Schema>>,
) -> Result<datafusion::dataframe::DataFrame, FlintError> {
    if !std::path::Path::new(path).exists() {
        return Err(FlintError::PathNotFound(path.to_string()));
    }
    let flag = |key: &str| {
        options
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    Ok(match format {
        FileFormat::Parquet => {
            ctx.read_parquet(path, ParquetReadOptions::default())
                .await?
        }
        FileFormat::Json => match &schema {
            Some(schema) => {
                ctx.read_json(path, JsonReadOptions::default().schema(schema))
                    .await?
            }
            None => ctx.read_json(path, JsonReadOptions::default()).await?,
        },
        FileFormat::Csv => {
            let header = flag("header");
            let infer_schema = flag("inferschema");
            let delimiter = match options
                .get("sep")
                .or_else(|| options.get("delimiter"))
                .map(String::as_bytes)
            {
                None => b',',
                Some([byte]) => *byte,
                Some(_) => {
                    return Err(FlintError::Unsupported(
                        "csv option sep must be one character".into(),
                    ));
                }
            };
            let base = CsvReadOptions::new()
                .has_header(header)
                .delimiter(delimiter);
            if let Some(schema) = &schema {
                return Ok(ctx.read_csv(path, base.schema(schema)).await?);
            }
            let inferred = ctx.read_csv(path, base.clone()).await?;
            let fields: Vec<Field> = inferred
                .schema()
                .fields()
                .iter()
                .enumerate()
                .map(|(i, field)| {
                    let name = if header {
                        field.name().clone()
                    } else {
                        format!("_c{i}")
                    };
                    let data_type = if infer_schema {
                        field.data_type().clone()
                    } else {
                        DataType::Utf8
                    };
                    Field::new(name, data_type, true)
                })
                .collect();
            let schema = Arc::new(Schema::new(fields));
            ctx.read_csv(path, base.schema(&schema)).await?
        }
    })
}
