//! Generates TPC-H data as parquet files with the published `tpchgen` crates, for
//! `flint datagen tpch`, the tests and the benchmarks.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use thiserror::Error;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow,
    RecordBatchIterator, RegionArrow, SupplierArrow,
};

/// The eight TPC-H tables, in the order they are generated.
pub const TPCH_TABLES: [&str; 8] = [
    "nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem",
];

/// Failures of data generation.
#[derive(Debug, Error)]
pub enum DatagenError {
    /// The scale factor is not a positive number.
    #[error("invalid scale factor {0}: expected a positive number such as 0.01 or 1")]
    InvalidScaleFactor(f64),
    /// The output directory or a file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Encoding parquet failed.
    #[error("cannot write parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
}

/// One generated table: its file and row count.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedTable {
    /// Table name, e.g. `lineitem`.
    pub name: &'static str,
    /// The parquet file, `<output>/<name>.parquet`.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
}

/// Writes the eight TPC-H tables at `scale_factor` as `<output>/<table>.parquet`.
pub fn generate_tpch(
    scale_factor: f64,
    output: &Path,
) -> Result<Vec<GeneratedTable>, DatagenError> {
    if !(scale_factor > 0.0 && scale_factor.is_finite()) {
        return Err(DatagenError::InvalidScaleFactor(scale_factor));
    }
    std::fs::create_dir_all(output).map_err(|source| DatagenError::Io {
        path: output.to_path_buf(),
        source,
    })?;
    let sf = scale_factor;
    TPCH_TABLES
        .iter()
        .map(|name| {
            let batches: Box<dyn RecordBatchIterator> = match *name {
                "nation" => Box::new(NationArrow::new(NationGenerator::new(sf, 1, 1))),
                "region" => Box::new(RegionArrow::new(RegionGenerator::new(sf, 1, 1))),
                "part" => Box::new(PartArrow::new(PartGenerator::new(sf, 1, 1))),
                "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(sf, 1, 1))),
                "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(sf, 1, 1))),
                "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(sf, 1, 1))),
                "orders" => Box::new(OrderArrow::new(OrderGenerator::new(sf, 1, 1))),
                _ => Box::new(LineItemArrow::new(LineItemGenerator::new(sf, 1, 1))),
            };
            let path = output.join(format!("{name}.parquet"));
            let schema = Arc::clone(batches.schema());
            let rows = write_parquet(&path, schema, batches)?;
            tracing::info!("Generated {name}: {rows} rows in {}", path.display());
            Ok(GeneratedTable { name, path, rows })
        })
        .collect()
}

fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: impl Iterator<Item = RecordBatch>,
) -> Result<u64, DatagenError> {
    let parquet_error = |source| DatagenError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(|source| DatagenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(parquet_error)?;
    let mut rows = 0u64;
    for batch in batches {
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(parquet_error)?;
    }
    writer.close().map_err(parquet_error)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rejects_bad_scale_factors() {
        let dir = std::env::temp_dir();
        assert!(super::generate_tpch(0.0, &dir).is_err());
        assert!(super::generate_tpch(-1.0, &dir).is_err());
        assert!(super::generate_tpch(f64::NAN, &dir).is_err());
    }
}
