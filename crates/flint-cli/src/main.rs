//! The `flint` binary: one executable for every role: `submit`, `sql`, `connect-server`,
//! `pyspark`, `datagen`, the
//! standalone cluster's `master` and `worker`, and the internal `executor` workers start.

mod cli;
mod connect;
mod daemons;
mod datagen;
mod deploy_client;
mod error;
mod logging;
mod sql_shell;
mod submit;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// Exits the process once stdin reaches its end: the parent (a worker for an executor, a
/// `local-cluster` driver for its daemons) holds the other end and is gone when it closes.
/// `orphaned_files`: a directory only the parent would have deleted (an executor's local
/// directory: its worker died, and its shuffle and cache files with the worker are of no
/// use to anyone), deleted before exiting, with its parent directory if that is then empty.
fn watch_stdin(orphaned_files: Option<std::path::PathBuf>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = [0u8; 256];
        loop {
            match std::io::Read::read(&mut stdin, &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        tracing::info!("The parent process is gone (stdin closed); exiting.");
        if let Some(dir) = orphaned_files {
            if let Err(error) = std::fs::remove_dir_all(&dir)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("Cannot delete {}: {error}", dir.display());
            }
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        std::process::exit(1);
    });
}

/// Stack size of the runtime's worker threads (see where the runtime is built).
const DRIVER_THREAD_STACK: usize = 32 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.command.default_log_level());
    if cli.command.watches_stdin() {
        watch_stdin(cli.command.orphaned_files());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flint-driver")
        // Planning recurses over the plan and expression trees (DataFusion's analyzer and
        // optimizer, the Connect planner): tokio's 2 MiB default overflows on plans a
        // PySpark program builds in a few chained calls. The stack is reserved, not resident.
        .thread_stack_size(DRIVER_THREAD_STACK)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Submit(args) => submit::run(args).await,
            Command::Sql(args) => sql_shell::run(args).await,
            Command::ConnectServer(args) => connect::run_server(args).await,
            Command::Pyspark(args) => connect::run_shell(args).await,
            Command::Datagen(args) => datagen::run(args),
            Command::Master(args) => daemons::run_master(args).await,
            Command::Worker(args) => daemons::run_worker(args).await,
            Command::HistoryServer(args) => daemons::run_history_server(args).await,
            Command::Executor(args) => daemons::run_executor(args).await,
        }
    });
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
