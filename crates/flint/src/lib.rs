//! The crate applications link (PySpark's `pyspark.sql`, in Rust and async): [`SparkSession`],
//! [`DataFrame`], Spark SQL, readers and writers.
//!
//! ```no_run
//! # async fn run() -> Result<(), flint::FlintError> {
//! use flint::functions::{col, lit, sum};
//! let spark = flint::SparkSession::builder().master("local[2]").app_name("example").get_or_create().await?;
//! let df = spark.range(1000).await?
//!     .with_column("bucket", col("id") % lit(10))?
//!     .group_by(vec![col("bucket")])
//!     .agg(vec![sum(col("id")).alias("total")])?;
//! df.show(10).await?;
//! spark.stop();
//! # Ok(()) }
//! ```
//!
//! Every action (`collect`, `count`, `show`, `write`) is one job: the plan DataFusion makes is
//! cut into stages at shuffles and run as tasks on the application's executors, in local
//! mode too. The master URL and configuration may come from `flint submit` through the
//! environment, so one program runs under any master.

mod cache;
mod catalog;
mod context;
mod dataframe;
mod error;
mod format;
mod local_cluster;
mod path_tables;
mod reader;
mod session;
mod sql;
mod writer;

pub use dataframe::{DataFrame, GroupedData};
pub use error::FlintError;
pub use flint_sql::HiveFormat;
pub use format::{format_row_values, format_show, format_show_with};
pub use reader::DataFrameReader;
pub use session::{Builder, SparkSession};
pub use sql::split_statements;
pub use writer::DataFrameWriter;

pub use datafusion::arrow::array::RecordBatch;
pub use flint_conf::SparkConf;
pub use flint_driver::cache::StorageLevel;
pub use flint_driver::{
    JobResult, SparkListener, SparkListenerEvent, StageInfo, TaskEndReason, TaskInfo, TaskLocality,
    with_job_tags,
};

/// Column expressions and functions for DataFrame calls (PySpark's `pyspark.sql.functions`).
pub mod functions {
    pub use datafusion::functions_aggregate::expr_fn::{avg, count, count_distinct, max, min, sum};
    pub use datafusion::logical_expr::{Expr, ScalarUDF, SortExpr};
    pub use datafusion::prelude::{col, lit};
}
