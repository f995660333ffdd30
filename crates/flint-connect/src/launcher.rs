//! Running a PySpark program against a driver's Connect endpoint (Spark's `PythonRunner` for
//! `spark-submit app.py`, and the `pyspark` shell): the interpreter from
//! `spark.pyspark.python` / `PYSPARK_PYTHON` (default `python3`) runs a small launcher with
//! `SPARK_REMOTE` set, which makes the script's own `.master(...)` harmless and runs it as
//! `__main__`.

use std::path::PathBuf;

const LAUNCHER: &str = include_str!("launcher.py");

/// A Python program to run against a Connect endpoint.
#[derive(Debug, Clone)]
pub struct PythonProgram {
    /// The interpreter.
    pub python: String,
    /// The script, or `None` for the interactive shell.
    pub script: Option<PathBuf>,
    /// The script's arguments.
    pub args: Vec<String>,
    /// `--py-files`: `.py` files and `.zip` archives put on the script's path.
    pub py_files: Vec<PathBuf>,
}

/// The program could not run.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The launcher could not be written to a temporary file.
    #[error("cannot write the PySpark launcher: {0}")]
    Write(std::io::Error),
    /// The interpreter could not be started.
    #[error(
        "cannot start {python}: {source}; set spark.pyspark.python or PYSPARK_PYTHON to a Python with pyspark-client installed"
    )]
    Start {
        /// The interpreter tried.
        python: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// The interpreter to use: `spark.pyspark.python`, else `PYSPARK_PYTHON`, else `python3`.
pub fn python_interpreter(conf: &flint::SparkConf) -> String {
    conf.get(flint_conf::keys::PYSPARK_PYTHON.key)
        .map(str::to_string)
        .or_else(|| {
            std::env::var("PYSPARK_PYTHON")
                .ok()
                .filter(|p| !p.is_empty())
        })
        .unwrap_or_else(|| "python3".to_string())
}

impl PythonProgram {
    /// Runs the program with the endpoint on `127.0.0.1:port`, its stdin, stdout and stderr
    /// the caller's, and returns its exit code. A `token` (the endpoint's, with
    /// `spark.authenticate`) reaches PySpark in its environment, as Spark's local Connect
    /// server hands it over, never on a command line.
    pub async fn run(&self, port: u16, token: Option<&str>) -> Result<i32, LaunchError> {
        let directory = tempfile::tempdir().map_err(LaunchError::Write)?;
        let launcher = directory.path().join("flint_pyspark_launcher.py");
        std::fs::write(&launcher, LAUNCHER).map_err(LaunchError::Write)?;
        let mut command = tokio::process::Command::new(&self.python);
        command.arg(&launcher);
        match &self.script {
            Some(script) => {
                command.arg(script).args(&self.args);
            }
            None => {
                command.arg("--shell");
            }
        }
        let py_files = std::env::join_paths(
            self.py_files
                .iter()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        )
        .unwrap_or_default();
        match token {
            // PySpark sends a token over plain TCP only to `localhost` (gRPC's local
            // credentials); elsewhere it insists on TLS.
            Some(token) => command
                .env("SPARK_REMOTE", format!("sc://localhost:{port}"))
                .env("SPARK_CONNECT_AUTHENTICATE_TOKEN", token),
            None => command
                .env("SPARK_REMOTE", format!("sc://127.0.0.1:{port}"))
                .env_remove("SPARK_CONNECT_AUTHENTICATE_TOKEN"),
        };
        command
            .env("FLINT_PY_FILES", py_files)
            .env("PYARROW_IGNORE_TIMEZONE", "1")
            .env_remove("MASTER")
            .kill_on_drop(true);
        let status = command
            .status()
            .await
            .map_err(|source| LaunchError::Start {
                python: self.python.clone(),
                source,
            })?;
        Ok(status.code().unwrap_or(1))
    }
}
