use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::DataFusionError;
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
        self.format_load_paths(format, &[path]).await
    }

    /// Reads the files under several paths as one DataFrame (`spark.read.parquet(a, b)`):
    /// parquet columns are the union of the files' columns.
    pub async fn format_load_paths(
        self,
        format: &str,
        paths: &[&str],
    ) -> Result<DataFrame, FlintError> {
        let format = FileFormat::parse(format).ok_or_else(|| {
            FlintError::Unsupported(format!(
                "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: {format}. Flint reads parquet, csv, json and text"
            ))
        })?;
        self.load(format, paths).await
    }

    /// Sets a read option (`header`, `inferSchema`, `sep`), case-insensitive like Spark's.
    pub fn option(mut self, key: &str, value: &str) -> Self {
        self.options
            .insert(key.to_ascii_lowercase(), value.to_string());
        self
    }

    /// Reads parquet files (a file or a directory of them).
    pub async fn parquet(self, path: &str) -> Result<DataFrame, FlintError> {
        self.load(FileFormat::Parquet, &[path]).await
    }

    /// Reads csv files.
    pub async fn csv(self, path: &str) -> Result<DataFrame, FlintError> {
        self.load(FileFormat::Csv, &[path]).await
    }

    /// Reads JSON-lines files.
    pub async fn json(self, path: &str) -> Result<DataFrame, FlintError> {
        self.load(FileFormat::Json, &[path]).await
    }

    async fn load(self, format: FileFormat, paths: &[&str]) -> Result<DataFrame, FlintError> {
        let df = read_files_with_schema(
            &self.session.inner().ctx,
            format,
            paths,
            &self.options,
            self.schema.clone(),
        )
        .await?;
        Ok(DataFrame::new(self.session, df, paths.join(", ")))
    }
}

/// Opens files in `format` with Spark's options; shared by readers and `CREATE TEMPORARY VIEW ... USING`.
pub(crate) async fn read_files(
    ctx: &SessionContext,
    format: FileFormat,
    path: &str,
    options: &BTreeMap<String, String>,
) -> Result<datafusion::dataframe::DataFrame, FlintError> {
    read_files_with_schema(ctx, format, &[path], options, None).await
}

/// [`read_files`] with a schema given by the user instead of an inferred one.
async fn read_files_with_schema(
    ctx: &SessionContext,
    format: FileFormat,
    paths: &[&str],
    options: &BTreeMap<String, String>,
    schema: Option<Arc<Schema>>,
) -> Result<datafusion::dataframe::DataFrame, FlintError> {
    if let Some(missing) = paths.iter().find(|p| !std::path::Path::new(p).exists()) {
        return Err(FlintError::PathNotFound(missing.to_string()));
    }
    let first = paths.first().copied().unwrap_or_default();
    let partitions = partition_columns(std::path::Path::new(first));
    let path = paths.to_vec();
    let flag = |key: &str| {
        options
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    Ok(match format {
        FileFormat::Parquet => {
            let read = ParquetReadOptions::default().table_partition_cols(partitions.clone());
            let df = if path.len() > 1 {
                // DataFusion takes the schema of the first path; Spark's is all of theirs.
                let mut schemas = Vec::with_capacity(path.len());
                for one in &path {
                    let df = ctx.read_parquet(*one, read.clone()).await?;
                    let fields =
                        df.schema().fields().iter().filter(|field| {
                            !partitions.iter().any(|(name, _)| name == field.name())
                        });
                    // A column one path lacks is NULL in its rows.
                    let fields = fields.map(|field| field.as_ref().clone().with_nullable(true));
                    schemas.push(Schema::new(fields.collect::<Vec<_>>()));
                }
                let merged = Schema::try_merge(schemas).map_err(DataFusionError::from)?;
                ctx.read_parquet(path, read.schema(&merged)).await?
            } else {
                ctx.read_parquet(path, read).await?
            };
            match schema {
                Some(schema) => with_columns_of(df, &schema)?,
                None => df,
            }
        }
        FileFormat::Text => {
            let mut tables = Vec::with_capacity(path.len());
            for one in &path {
                tables.push(ctx.read_table(crate::path_tables::text_table(
                    one,
                    schema.as_deref(),
                    options,
                )?)?);
            }
            let mut tables = tables.into_iter();
            let first = tables
                .next()
                .ok_or_else(|| FlintError::Unsupported("text needs at least one path".into()))?;
            tables.try_fold(first, |all, next| all.union(next))?
        }
        FileFormat::Json => match &schema {
            Some(schema) => {
                let options = JsonReadOptions::default()
                    .schema(schema.as_ref())
                    .table_partition_cols(partitions);
                ctx.read_json(path, options).await?
            }
            None => {
                let options = JsonReadOptions::default().table_partition_cols(partitions);
                ctx.read_json(path, options).await?
            }
        },
        FileFormat::Csv => {
            let header = flag("header");
            let infer_schema = flag("inferschema");
            let one_byte = |key: &str| match options.get(key).map(String::as_bytes) {
                Some([byte]) => Ok(Some(*byte)),
                None => Ok(None),
                Some(_) => Err(FlintError::Unsupported(format!(
                    "csv option {key} must be one character"
                ))),
            };
            let delimiter = match one_byte("sep")? {
                Some(byte) => byte,
                None => one_byte("delimiter")?.unwrap_or(b','),
            };
            let mut base = CsvReadOptions::new()
                .table_partition_cols(partitions.clone())
                .has_header(header)
                .delimiter(delimiter)
                // Spark's nullValue, for inferring types (DataFusion's scan ignores it:
                // `read_csv_with_null_value` applies it).
                .null_regex(
                    options
                        .get("nullvalue")
                        .map(|value| format!("^(?:{})?$", regex::escape(value))),
                );
            if let Some(quote) = one_byte("quote")? {
                base = base.quote(quote);
            }
            if let Some(escape) = one_byte("escape")? {
                base = base.escape(escape);
            }
            if let Some(comment) = one_byte("comment")? {
                base = base.comment(comment);
            }
            let schema = match schema {
                Some(schema) => schema,
                None => {
                    let inferred = ctx.read_csv(path.clone(), base.clone()).await?;
                    let fields: Vec<Field> = inferred
                        .schema()
                        .fields()
                        .iter()
                        .filter(|field| !partitions.iter().any(|(name, _)| name == field.name()))
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
                    Arc::new(Schema::new(fields))
                }
            };
            match options.get("nullvalue") {
                None => ctx.read_csv(path, base.schema(&schema)).await?,
                Some(null) => read_csv_with_null_value(ctx, path, base, &schema, null).await?,
            }
        }
    })
}

/// `df`'s columns as `schema` names and types them (a parquet read with a schema given):
/// columns the files lack are NULL.
fn with_columns_of(
    df: datafusion::dataframe::DataFrame,
    schema: &Schema,
) -> Result<datafusion::dataframe::DataFrame, FlintError> {
    use datafusion::common::{Column, ScalarValue};
    use datafusion::logical_expr::{Expr, cast, lit};
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let value = if df.schema().has_column_with_unqualified_name(field.name()) {
                Expr::Column(Column::from_name(field.name()))
            } else {
                lit(ScalarValue::Null)
            };
            cast(value, field.data_type().clone()).alias(field.name())
        })
        .collect::<Vec<_>>();
    Ok(df.select(columns)?)
}

/// Reads csv with Spark's `nullValue`: DataFusion's csv scan does not apply its null regex,
/// so the columns are read as text, `null` becomes NULL and the rest is cast to `schema`'s
/// types (a value that does not parse is NULL, as in Spark's PERMISSIVE mode).
async fn read_csv_with_null_value(
    ctx: &SessionContext,
    path: Vec<&str>,
    options: CsvReadOptions<'_>,
    schema: &Schema,
    null: &str,
) -> Result<datafusion::dataframe::DataFrame, FlintError> {
    use datafusion::common::{Column, ScalarValue};
    use datafusion::logical_expr::{Expr, TryCast, lit, when};
    let text = Schema::new(
        schema
            .fields()
            .iter()
            .map(|field| Field::new(field.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    );
    let df = ctx.read_csv(path, options.schema(&text)).await?;
    let columns = df
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = Expr::Column(Column::from_name(field.name()));
            let Ok(wanted) = schema.field_with_name(field.name()) else {
                return Ok(column);
            };
            let value = when(column.clone().eq(lit(null)), lit(ScalarValue::Utf8(None)))
                .otherwise(column)?;
            Ok(
                Expr::TryCast(TryCast::new(Box::new(value), wanted.data_type().clone()))
                    .alias(field.name()),
            )
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    Ok(df.select(columns)?)
}

/// The partition columns of a directory written with `partitionBy` (`year=2024/month=5/...`),
/// found as Spark's partition discovery finds them: one per `key=value` level, typed as the
/// values read (int, bigint, double, else string).
fn partition_columns(path: &std::path::Path) -> Vec<(String, DataType)> {
    let mut columns = Vec::new();
    let mut level = vec![path.to_path_buf()];
    loop {
        let mut key: Option<String> = None;
        let mut values = Vec::new();
        let mut next = Vec::new();
        for directory in &level {
            let Ok(entries) = std::fs::read_dir(directory) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some((k, v)) = name.split_once('=') else {
                    continue;
                };
                if key.get_or_insert_with(|| k.to_string()) != k {
                    // Levels that disagree on the column are not a partitioned layout.
                    return columns;
                }
                values.push(v.to_string());
                next.push(entry.path());
            }
        }
        let Some(key) = key else {
            return columns;
        };
        let present = values.iter().filter(|v| *v != "__HIVE_DEFAULT_PARTITION__");
        let data_type = if present.clone().all(|v| v.parse::<i32>().is_ok()) {
            DataType::Int32
        } else if present.clone().all(|v| v.parse::<i64>().is_ok()) {
            DataType::Int64
        } else if present.clone().all(|v| v.parse::<f64>().is_ok()) {
            DataType::Float64
        } else {
            DataType::Utf8
        };
        columns.push((key, data_type));
        level = next;
    }
}
