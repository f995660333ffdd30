//! What the benchmark programs share: TPC-H data on disk, the queries' text, the tables
//! registered in Flint and in plain DataFusion, and the machine's name for the tables.

use std::path::{Path, PathBuf};

use datafusion::prelude::{ParquetReadOptions, SessionContext};
use flint::SparkSession;

/// A boxed error for the benchmark programs' `main`.
pub type BoxError = Box<dyn std::error::Error>;

/// Splits `KEY=VALUE`.
pub fn split_pair(pair: &str) -> Result<(&str, &str), String> {
    pair.split_once('=')
        .ok_or_else(|| format!("invalid setting {pair}: expected KEY=VALUE"))
}

/// The text of TPC-H query `n` (Spark's SQL, `benchmarks/queries/`).
pub fn query_text(n: usize) -> std::io::Result<String> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("queries/q{n}.sql")))
}

/// The CPU model and core count, for the tables' headings.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores")
}

/// The TPC-H data at `scale_factor`: `data`, or `target/tpch-sf<X>`, generated when missing.
pub fn tpch_data(scale_factor: f64, data: Option<PathBuf>) -> Result<PathBuf, BoxError> {
    let data = data.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/tpch-sf{scale_factor}"))
    });
    if !data.join("_COMPLETE").exists() {
        eprintln!("generating TPC-H SF{scale_factor} in {}", data.display());
        flint_datagen::generate_tpch(scale_factor, &data)?;
        std::fs::write(data.join("_COMPLETE"), b"")?;
    }
    Ok(data)
}

/// A plain single-process DataFusion context with Flint's Spark functions, the oracle the
/// benchmarks compare Flint with.
pub fn oracle(
    config: datafusion::prelude::SessionConfig,
) -> datafusion::error::Result<SessionContext> {
    let mut oracle = SessionContext::new_with_config(config);
    flint_sql::register_spark_functions(&mut oracle)?;
    Ok(oracle)
}

/// Registers the TPC-H tables in `data` in every session and in the oracle.
pub async fn register_tpch(
    data: &Path,
    sessions: &[SparkSession],
    oracle: &SessionContext,
) -> Result<(), BoxError> {
    for table in flint_datagen::TPCH_TABLES {
        let path = data.join(format!("{table}.parquet"));
        let path = path.to_str().ok_or("non-UTF-8 data path")?;
        for spark in sessions {
            spark
                .sql(&format!(
                    "CREATE TEMPORARY VIEW {table} USING parquet OPTIONS (path '{path}')"
                ))
                .await?;
        }
        oracle
            .register_parquet(table, path, ParquetReadOptions::default())
            .await?;
    }
    Ok(())
}
