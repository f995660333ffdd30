//! PySpark through Spark Connect: `flint connect-server`, `flint submit app.py` and
//! `flint pyspark` start a driver with a Connect endpoint (`flint-connect`).

use std::path::Path;
use std::process::ExitCode;

use flint_connect::{ConnectServer, PythonProgram};

use crate::cli::{ConnectServerArgs, PysparkArgs, SubmitArgs};
use crate::error::CliError;
use crate::submit::{start_session, start_session_with};

/// `flint connect-server`: one long-lived application serving PySpark clients until
/// interrupted (Ctrl-C or SIGTERM).
pub(crate) async fn run_server(args: ConnectServerArgs) -> Result<ExitCode, CliError> {
    let spark = start_session(&args.app, "Spark Connect server").await?;
    let server = ConnectServer::start(spark.clone(), &args.host, args.port).await;
    let mut server = match server {
        Ok(server) => server,
        Err(error) => {
            spark.stop();
            return Err(error.into());
        }
    };
    wait_for_shutdown().await;
    tracing::info!(
        "Stopping the Spark Connect server ({} open sessions)",
        server.session_count()
    );
    server.stop();
    spark.stop();
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs a PySpark program (a script, or the shell) against a new application's endpoint on
/// a free loopback port; the application ends when the program does. Its `--py-files` are
/// the application's `spark.submit.pyFiles`, so executors' Python workers import them too.
async fn run_program(
    app: &crate::cli::AppOptions,
    name: &str,
    program: PythonProgram,
) -> Result<ExitCode, CliError> {
    let py_files: Vec<String> = program
        .py_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let extra = if py_files.is_empty() {
        Vec::new()
    } else {
        vec![(flint_conf::keys::SUBMIT_PY_FILES.key, py_files.join(","))]
    };
    let spark = start_session_with(app, name, &extra).await?;
    let mut server = match ConnectServer::start_loopback(spark.clone()).await {
        Ok(server) => server,
        Err(error) => {
            spark.stop();
            return Err(error.into());
        }
    };
    let code = program.run(server.port(), server.bearer_token()).await;
    server.stop();
    spark.stop();
    let code = code?;
    Ok(match code {
        0 => ExitCode::SUCCESS,
        code => ExitCode::from(u8::try_from(code).unwrap_or(1)),
    })
}

/// `flint submit app.py [args]`.
pub(crate) async fn run_python_app(args: &SubmitArgs, script: &Path) -> Result<ExitCode, CliError> {
    if !script.is_file() {
        return Err(CliError::Read {
            path: script.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let conf = args.app.to_conf()?;
    let name = script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pyspark".into());
    // Absolute, so the script and every executor find them whatever their directory.
    let mut py_files = Vec::with_capacity(args.py_files.len());
    for file in &args.py_files {
        py_files.push(
            std::fs::canonicalize(file).map_err(|source| CliError::Read {
                path: file.display().to_string(),
                source,
            })?,
        );
    }
    let program = PythonProgram {
        python: flint_connect::python_interpreter(&conf),
        script: Some(script.to_path_buf()),
        args: args.args.clone(),
        py_files,
    };
    run_program(&args.app, &name, program).await
}

/// `flint pyspark`: the interactive shell.
pub(crate) async fn run_shell(args: PysparkArgs) -> Result<ExitCode, CliError> {
    let conf = args.app.to_conf()?;
    let program = PythonProgram {
        python: flint_connect::python_interpreter(&conf),
        script: None,
        args: Vec::new(),
        py_files: Vec::new(),
    };
    run_program(&args.app, "PySparkShell", program).await
}
