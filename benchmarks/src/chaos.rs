//! `cargo build --release -p flint-cli -p flint-benchmarks && target/release/chaos
//! --scale-factor 1 --runs 32` (one build of both, so `local-cluster` finds `flint` beside it)
//!
//! An executor lost at a random moment: one application on `local-cluster[2,1,M]` (two
//! workers with one core each, so one single-core executor on each) runs a TPC-H query
//! `--runs` times, and during each run one of its two executors is killed with `kill -9` at a
//! random moment within the query's undisturbed duration (a kill that would land after the
//! run ended is not made). Every answer is compared row by row with plain single-process
//! DataFusion's. Prints one line per run (who was killed when, stage attempts that were
//! resubmitted, the most attempts one stage needed, fetch failures, right or not) and the
//! totals; exits non-zero when any answer was wrong or missing.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::prelude::SessionConfig;
use flint::{SparkListener, SparkListenerEvent, SparkSession, TaskEndReason, format_row_values};
use flint_benchmarks::{
    BoxError, machine, oracle, query_text, register_tpch, split_pair, tpch_data,
};

#[derive(Debug, Parser)]
#[command(about = "TPC-H on a local cluster while executors are killed at random moments")]
struct Args {
    /// TPC-H scale factor
    #[arg(long, default_value_t = 1.0)]
    scale_factor: f64,
    /// Where the data lives (generated when missing); default target/tpch-sf<X>
    #[arg(long)]
    data: Option<PathBuf>,
    /// The TPC-H query to run
    #[arg(long, default_value_t = 9)]
    query: usize,
    /// Runs, each with one executor killed
    #[arg(long, default_value_t = 32)]
    runs: usize,
    /// Memory of each of the two workers, MiB (executors get spark.executor.memory)
    #[arg(long, default_value_t = 2560)]
    worker_memory_mib: u64,
    /// Any other Flint setting, KEY=VALUE; may repeat
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
}

/// Stage attempts after the first, the most attempts of one stage, and fetch failures,
/// counted from listener events.
#[derive(Default)]
struct Retries {
    resubmitted_stages: usize,
    most_attempts: u32,
    fetch_failures: usize,
}

struct RetryCounter(Mutex<Retries>);

impl SparkListener for RetryCounter {
    fn on_event(&self, event: &SparkListenerEvent) {
        let mut retries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            SparkListenerEvent::StageSubmitted { stage_info } => {
                if stage_info.attempt > 0 {
                    retries.resubmitted_stages += 1;
                }
                retries.most_attempts = retries.most_attempts.max(stage_info.attempt + 1);
            }
            SparkListenerEvent::TaskEnd {
                reason: TaskEndReason::FetchFailed { .. },
                ..
            } => retries.fetch_failures += 1,
            _ => {}
        }
    }
}

/// `(executor id, pid)` of the running executor processes of the application named
/// `app_name`, from `/proc`.
fn executor_processes(app_name: &str) -> Vec<(String, u32)> {
    let name_conf = format!("spark.app.name={app_name}");
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).is_some_and(|a| a == "executor")
            && args.contains(&name_conf)
            && let Some(id) = args
                .windows(2)
                .find(|w| w[0] == "--executor-id")
                .map(|w| w[1].clone())
        {
            found.push((id, pid));
        }
    }
    found.sort();
    found
}

/// An answer's rows as `spark-sql` prints them, to compare.
fn rows(batches: &[flint::RecordBatch]) -> Vec<Vec<String>> {
    batches.iter().flat_map(format_row_values).collect()
}

/// A random number below `bound` (from the standard library's randomly keyed hasher).
fn random_below(bound: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish() % bound.max(1)
}

async fn wait_for_two_executors(app_name: &str) -> Result<Vec<(String, u32)>, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let executors = executor_processes(app_name);
        if executors.len() == 2 {
            return Ok(executors);
        }
        if Instant::now() > deadline {
            return Err(format!("no two executors after 120 s: {executors:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let data = tpch_data(args.scale_factor, args.data.clone())?;
    let app_name = format!("chaos-{}", std::process::id());
    let mut builder = SparkSession::builder()
        .master(&format!("local-cluster[2,1,{}]", args.worker_memory_mib))
        .app_name(&app_name)
        .config("spark.executor.cores", "1")
        .config("spark.cores.max", "2")
        .config("spark.executor.memory", "2g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.shuffle.readHostLocalDisk", "false")
        .config("spark.ui.showConsoleProgress", "false");
    for pair in &args.conf {
        let (key, value) = split_pair(pair)?;
        builder = builder.config(key, value);
    }
    let spark = builder.create().await?;
    let oracle = oracle(SessionConfig::new().with_target_partitions(spark.shuffle_partitions()))?;
    register_tpch(&data, std::slice::from_ref(&spark), &oracle).await?;
    let retries = Arc::new(RetryCounter(Mutex::default()));
    spark.add_listener(retries.clone());

    let text = query_text(args.query)?;
    let expected = rows(&oracle.sql(&text).await?.collect().await?);
    wait_for_two_executors(&app_name).await?;
    let started = Instant::now();
    let undisturbed = rows(&spark.sql(&text).await?.collect().await?);
    let duration = started.elapsed();
    if undisturbed != expected {
        return Err("the undisturbed run differs from DataFusion's answer".into());
    }
    println!(
        "TPC-H q{} SF{} on local-cluster[2,1,{}] | {} | undisturbed run {:.0} ms | {} rows",
        args.query,
        args.scale_factor,
        args.worker_memory_mib,
        machine(),
        duration.as_secs_f64() * 1000.0,
        expected.len()
    );
    println!(
        "{:>4} {:>9} {:>9} {:>9} {:>13} {:>13} {:>14}  result",
        "run",
        "executor",
        "kill (ms)",
        "took (ms)",
        "stage retries",
        "most attempts",
        "fetch failures"
    );
    let (mut right, mut wrong, mut failed, mut kills) = (0, 0, 0, 0);
    for run in 1..=args.runs {
        let executors = wait_for_two_executors(&app_name).await?;
        let (victim, pid) = executors[random_below(2) as usize].clone();
        let at = Duration::from_millis(random_below(duration.as_millis() as u64));
        *retries.0.lock().unwrap_or_else(|p| p.into_inner()) = Retries::default();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(at).await;
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        });
        let started = Instant::now();
        let outcome = match spark.sql(&text).await {
            Ok(df) => df.collect().await,
            Err(error) => Err(error),
        };
        let took = started.elapsed();
        // A kill that would land after the query ended is not made.
        killer.abort();
        let killed = killer.await.is_ok();
        kills += usize::from(killed);
        spark.wait_for_listeners();
        let result = match outcome {
            Ok(batches) => {
                let answer = rows(&batches);
                if answer == expected {
                    right += 1;
                    "right".to_string()
                } else {
                    wrong += 1;
                    format!("WRONG ({} rows)", answer.len())
                }
            }
            Err(error) => {
                failed += 1;
                format!("FAILED: {error}")
            }
        };
        let counts = retries.0.lock().unwrap_or_else(|p| p.into_inner());
        let (victim, at) = if killed {
            (victim, at.as_millis().to_string())
        } else {
            ("-".to_string(), "-".to_string())
        };
        println!(
            "{run:>4} {victim:>9} {at:>9} {:>9.0} {:>13} {:>13} {:>14}  {result}",
            took.as_secs_f64() * 1000.0,
            counts.resubmitted_stages,
            counts.most_attempts,
            counts.fetch_failures
        );
    }
    println!(
        "{} runs, {kills} with an executor killed while it ran: {right} right, {wrong} wrong, {failed} failed",
        args.runs
    );
    spark.stop();
    if right == args.runs {
        Ok(())
    } else {
        Err(format!(
            "{} of {} runs did not give the right answer",
            wrong + failed,
            args.runs
        )
        .into())
    }
}
