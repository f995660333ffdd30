use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::datasource::file_format::csv::CsvFormatFactory;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::json::JsonFormatFactory;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::logical_expr::LogicalPlanBuilder;

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
            "json" => {
                let file_type = format_as_file_type(Arc::new(JsonFormatFactory::new()));
                self.save(path, file_type, HashMap::new()).await
            }
            other => Err(FlintError::Unsupported(format!(
                "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: {other}. Flint writes parquet, csv and json"
            ))),
        }
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
        let options = HashMap::from([("format.has_header".to_string(), header.to_string())]);
        self.save(path, file_type, options).await
    }

    async fn save(
        self,
        path: &str,
        file_type: Arc<dyn datafusion::common::file_options::file_type::FileType>,
        options: HashMap<String, String>,
    ) -> Result<(), FlintError> {
        let target = Path::new(path);
        let io = |source| FlintError::Io {
            path: path.to_string(),
            source,
        };
        match (self.mode.as_str(), target.exists()) {
            ("errorifexists" | "error" | "default", true) => {
                return Err(FlintError::PathExists(path.to_string()));
            }
            ("ignore", true) => return Ok(()),
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
