//! The `flint` binary: one executable for every role: `submit`, `sql`, `datagen`, and the
//! standalone cluster's `master` and `worker` (the internal `executor` comes next).

mod cli;
mod daemons;
mod datagen;
mod error;
mod logging;
mod sql_shell;
mod submit;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.command.default_log_level());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("flint-driver")
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
            Command::Datagen(args) => datagen::run(args),
            Command::Master(args) => daemons::run_master(args).await,
            Command::Worker(args) => daemons::run_worker(args).await,
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
