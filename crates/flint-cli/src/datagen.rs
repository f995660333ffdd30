use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{DatagenArgs, DatagenBenchmark};
use crate::error::CliError;

/// `flint datagen tpch --scale-factor X --output DIR`.
pub(crate) fn run(args: DatagenArgs) -> Result<ExitCode, CliError> {
    let DatagenBenchmark::Tpch {
        scale_factor,
        output,
    } = args.benchmark;
    let started = Instant::now();
    let tables = flint_datagen::generate_tpch(scale_factor, &output)?;
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    tracing::info!(
        "Generated TPC-H at scale factor {scale_factor}: {} tables, {rows} rows in {} ({:.1} s)",
        tables.len(),
        output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
