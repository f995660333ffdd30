//! `cargo build --release -p flint-cli -p flint-benchmarks && target/release/tpch
//! --scale-factor 1 --master 'local[2]' [--master 'local-cluster[1,2,4096]' ...]`
//!
//! Runs the 22 TPC-H queries (Spark's SQL text, `benchmarks/queries/`) through Flint under
//! each master and through plain single-process DataFusion with the same partition count,
//! checks all return the same number of rows, and prints a per-query table with totals and
//! ratios.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::prelude::SessionConfig;
use flint::SparkSession;
use flint_benchmarks::{machine, oracle, query_text, register_tpch, split_pair, tpch_data};

#[derive(Debug, Parser)]
#[command(about = "TPC-H: Flint vs plain DataFusion")]
struct Args {
    /// TPC-H scale factor
    #[arg(long, default_value_t = 1.0)]
    scale_factor: f64,
    /// Flint's master URL; may repeat to compare several (e.g. local[2] and
    /// local-cluster[1,2,4096]) in one run. The first one's shuffle partitions are
    /// DataFusion's partition count
    #[arg(long = "master", default_values_t = ["local[2]".to_string()])]
    masters: Vec<String>,
    /// Where the data lives (generated when missing); default target/tpch-sf<X>
    #[arg(long)]
    data: Option<PathBuf>,
    /// Runs of each query per engine; the best time counts
    #[arg(long, default_value_t = 1)]
    iterations: usize,
    /// Only these queries, e.g. 1,3,18
    #[arg(long, value_delimiter = ',')]
    queries: Vec<usize>,
    /// spark.driver.memory for Flint's local executor
    #[arg(long, default_value = "4g")]
    driver_memory: String,
    /// Any other Flint setting, KEY=VALUE; may repeat
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// A DataFusion option for the single-process baseline, KEY=VALUE
    /// (e.g. datafusion.optimizer.enable_dynamic_filter_pushdown=false); may repeat
    #[arg(long = "datafusion-conf", value_name = "KEY=VALUE")]
    datafusion_conf: Vec<String>,
    /// Print each query's plain-DataFusion physical plan before timing it
    #[arg(long)]
    explain: bool,
}

/// Runs a query `iterations` times; returns the best time and the row count.
async fn best_of<F, Fut>(
    iterations: usize,
    mut run: F,
) -> Result<(Duration, usize), Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<flint::RecordBatch>, Box<dyn std::error::Error>>>,
{
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..iterations.max(1) {
        let started = Instant::now();
        let batches = run().await?;
        best = best.min(started.elapsed());
        rows = batches.iter().map(|b| b.num_rows()).sum();
    }
    Ok((best, rows))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let data = tpch_data(args.scale_factor, args.data.clone())?;
    let queries: Vec<usize> = if args.queries.is_empty() {
        (1..=22).collect()
    } else {
        args.queries.clone()
    };

    let mut sessions = vec![];
    for master in &args.masters {
        let mut builder = SparkSession::builder()
            .master(master)
            .app_name("tpch-benchmark")
            .config("spark.driver.memory", &args.driver_memory)
            .config("spark.ui.showConsoleProgress", "false");
        for pair in &args.conf {
            let (key, value) = split_pair(pair)?;
            builder = builder.config(key, value);
        }
        sessions.push(builder.create().await?);
    }
    let partitions = sessions.first().ok_or("no --master")?.shuffle_partitions();
    let mut oracle_config = SessionConfig::new().with_target_partitions(partitions);
    for pair in &args.datafusion_conf {
        let (key, value) = split_pair(pair)?;
        oracle_config.options_mut().set(key, value)?;
    }
    let oracle = oracle(oracle_config)?;
    register_tpch(&data, &sessions, &oracle).await?;

    println!(
        "TPC-H SF{} on {} | Flint vs DataFusion with {partitions} partitions | best of {}",
        args.scale_factor,
        machine(),
        args.iterations
    );
    for (index, master) in args.masters.iter().enumerate() {
        println!("  flint[{index}] = {master}");
    }
    let mut header = format!("{:<6}", "query");
    for index in 0..sessions.len() {
        header.push_str(&format!(
            " {:>14} {:>6}",
            format!("flint[{index}] ms"),
            "ratio"
        ));
    }
    header.push_str(&format!(" {:>15} {:>8}", "datafusion (ms)", "rows"));
    println!("{header}");
    let mut flint_totals = vec![Duration::ZERO; sessions.len()];
    let mut datafusion_total = Duration::ZERO;
    for n in queries {
        let text = query_text(n)?;
        if args.explain {
            let plan = oracle.sql(&text).await?.create_physical_plan().await?;
            println!(
                "q{n} DataFusion plan:\n{}",
                datafusion::physical_plan::displayable(plan.as_ref()).indent(true)
            );
        }
        let (df_time, df_rows) = best_of(args.iterations, || async {
            Ok(oracle.sql(&text).await?.collect().await?)
        })
        .await?;
        let mut line = format!("{:<6}", format!("q{n}"));
        for (index, spark) in sessions.iter().enumerate() {
            let (flint_time, flint_rows) = best_of(args.iterations, || async {
                Ok(spark.sql(&text).await?.collect().await?)
            })
            .await?;
            if flint_rows != df_rows {
                return Err(format!(
                    "q{n}: {} returned {flint_rows} rows, datafusion {df_rows}",
                    args.masters[index]
                )
                .into());
            }
            flint_totals[index] += flint_time;
            line.push_str(&format!(
                " {:>14.1} {:>6.2}",
                flint_time.as_secs_f64() * 1000.0,
                flint_time.as_secs_f64() / df_time.as_secs_f64()
            ));
        }
        datafusion_total += df_time;
        line.push_str(&format!(
            " {:>15.1} {:>8}",
            df_time.as_secs_f64() * 1000.0,
            df_rows
        ));
        println!("{line}");
    }
    let mut line = format!("{:<6}", "total");
    for total in &flint_totals {
        line.push_str(&format!(
            " {:>14.1} {:>6.2}",
            total.as_secs_f64() * 1000.0,
            total.as_secs_f64() / datafusion_total.as_secs_f64()
        ));
    }
    line.push_str(&format!(
        " {:>15.1}",
        datafusion_total.as_secs_f64() * 1000.0
    ));
    println!("{line}");
    for spark in &sessions {
        spark.stop();
    }
    Ok(())
}
