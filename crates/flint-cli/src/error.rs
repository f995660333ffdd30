use thiserror::Error;

/// Everything the binary reports as `error: ...` with a non-zero exit code.
#[derive(Debug, Error)]
pub(crate) enum CliError {
    /// An application call failed (bad SQL, missing file, failed job, bad configuration).
    #[error(transparent)]
    Flint(#[from] flint::FlintError),
    /// A configuration argument was malformed.
    #[error(transparent)]
    Conf(#[from] flint_conf::ConfError),
    /// TPC-H generation failed.
    #[error(transparent)]
    Datagen(#[from] flint_datagen::DatagenError),
    /// A file named on the command line could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The application program could not be started.
    #[error("cannot start application {path}: {source}")]
    Launch {
        path: String,
        source: std::io::Error,
    },
    /// The master failed to start or stopped.
    #[error(transparent)]
    Master(#[from] flint_master::MasterError),
    /// The worker failed to start or stopped.
    #[error(transparent)]
    Worker(#[from] flint_worker::WorkerError),
    /// The history server could not start.
    #[error(transparent)]
    HistoryServer(#[from] flint_ui::HistoryServerError),
    /// The executor could not start or lost its driver.
    #[error(transparent)]
    Executor(#[from] flint_executor::ExecutorError),
    /// The Spark Connect endpoint could not start.
    #[error(transparent)]
    Connect(#[from] flint_connect::ConnectServerError),
    /// A PySpark program could not be started.
    #[error(transparent)]
    Python(#[from] flint_connect::LaunchError),
    /// The command line is incomplete or contradictory.
    #[error("{0}")]
    Usage(String),
    /// The master could not be reached or refused a request (cluster deploy mode).
    #[error("{0}")]
    MasterRequest(String),
    /// The interactive shell failed (terminal errors).
    #[error("shell: {0}")]
    Shell(String),
}
