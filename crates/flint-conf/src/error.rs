use thiserror::Error;

/// Errors in configuration values; every variant is the user's input and names key and value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfError {
    /// A size string such as `5x` that is not `<number>[b|k|m|g|t|p][b]`.
    #[error(
        "invalid size \"{value}\" for {key}: expected a number with an optional unit (b, k, m, g, t, p), e.g. 512m or 4g"
    )]
    InvalidSize { key: String, value: String },
    /// A master URL that is none of `local`, `local[N]`, `local[*]`, `local-cluster[W,C,M]`, `spark://HOST:PORT`.
    #[error(
        "invalid master URL \"{0}\": expected local, local[N], local[*], local-cluster[W,C,M] or spark://HOST:PORT"
    )]
    InvalidMaster(String),
    /// A value of the wrong type, e.g. `spark.task.maxFailures=abc`.
    #[error("invalid value \"{value}\" for {key}: expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    /// A properties file (`spark-defaults.conf`) that cannot be read or has a line without a value.
    #[error("cannot use properties file {path}: {message}")]
    PropertiesFile { path: String, message: String },
    /// Settings that contradict each other; the message names them.
    #[error("{0}")]
    Inconsistent(String),
    /// A `--conf` argument without `=`.
    #[error("invalid --conf \"{0}\": expected KEY=VALUE")]
    MalformedPair(String),
}
