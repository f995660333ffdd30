use datafusion::error::DataFusionError;
use flint_conf::ConfError;
use flint_driver::JobError;
use flint_executor::ExecutorError;
use thiserror::Error;

/// Everything that can go wrong in an application's calls; each message is one line naming
/// what to fix.
#[derive(Debug, Error)]
pub enum FlintError {
    /// A configuration value is malformed (user input).
    #[error(transparent)]
    Conf(#[from] ConfError),
    /// SQL text or a DataFrame call is invalid (user input): syntax, unknown table or column.
    #[error("{}", one_line(.0))]
    Analysis(DataFusionError),
    /// A job failed (a task failed `spark.task.maxFailures` times, memory ran out).
    #[error(transparent)]
    Job(#[from] JobError),
    /// The executor could not start (local directory, threads).
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    /// A path given to a reader does not exist (user input).
    #[error("path does not exist: {0}")]
    PathNotFound(String),
    /// A writer's output path exists and the save mode is `error`.
    #[error("path {0} already exists; set mode(\"overwrite\") to replace it")]
    PathExists(String),
    /// A local file operation failed.
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The request is valid Spark but Flint does not do it yet.
    #[error("{0}")]
    Unsupported(String),
    /// The driver's endpoint for executors could not be bound.
    #[error(transparent)]
    Rpc(#[from] flint_rpc::RpcError),
    /// The standalone master could not be reached or refused the application.
    #[error(transparent)]
    Master(#[from] flint_driver::AppClientError),
    /// The event log could not be started (`spark.eventLog.*`).
    #[error(transparent)]
    EventLog(#[from] flint_driver::event_log::EventLogError),
    /// The scheduler's pools could not be set up (`spark.scheduler.mode`, `.allocation.file`).
    #[error(transparent)]
    Pools(#[from] flint_driver::pool::PoolError),
    /// The session was stopped; create a new one.
    #[error("this SparkSession was stopped; create a new one with SparkSession::builder()")]
    Stopped,
}

impl From<DataFusionError> for FlintError {
    fn from(error: DataFusionError) -> Self {
        FlintError::Analysis(error)
    }
}

/// DataFusion messages may span lines; errors print as one.
fn one_line(error: &DataFusionError) -> String {
    let text = match error.find_root() {
        // "sql parser error: Expected: an SQL statement, found: selec at Line: 1, Column: 1"
        DataFusionError::SQL(parser_error, _) => parser_error.to_string(),
        _ => error.to_string(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flint_sql::spark_error_message(&text).unwrap_or(text)
}
