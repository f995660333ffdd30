//! Failures of Connect requests, and how each reaches the client: a gRPC status whose
//! `google.rpc.ErrorInfo` names Spark's exception classes, error class and SQLSTATE, so
//! PySpark raises `AnalysisException`, `ParseException`, `ArithmeticException`, ...

use datafusion::error::DataFusionError;
use flint::FlintError;
use tonic_types::{ErrorDetails, StatusExt};

/// What can go wrong while serving a Connect request.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Planning or running the request failed in Flint (user input or a failed job).
    #[error(transparent)]
    Flint(#[from] FlintError),
    /// SQL text (a query or a SQL expression) does not parse (user input).
    #[error("[PARSE_SYNTAX_ERROR] {0}")]
    Parse(String),
    /// A plan names something that does not exist or does not fit (user input).
    #[error("{0}")]
    Analysis(String),
    /// A message is malformed or misses a required field (a client bug or garbage).
    #[error("[INVALID_PLAN_INPUT] {0}")]
    InvalidPlan(String),
    /// A configuration value is invalid, or a key is unknown to `Config.Get` (user input).
    #[error("{0}")]
    IllegalArgument(String),
    /// `Config.Get` of a key no one set and Spark has no default for (user input).
    #[error("{0}")]
    ConfNotFound(String),
    /// Valid Spark Connect that Flint does not do yet.
    #[error("[UNSUPPORTED_FEATURE] {0}")]
    Unsupported(String),
    /// The operation was interrupted (`Interrupt`, or the client went away).
    #[error("[OPERATION_CANCELED] Operation has been canceled.")]
    Interrupted,
}

impl From<DataFusionError> for ConnectError {
    fn from(error: DataFusionError) -> Self {
        ConnectError::Flint(FlintError::from(error))
    }
}

/// Shorthand for a missing required field of a message.
pub(crate) fn missing(field: &str) -> ConnectError {
    ConnectError::InvalidPlan(format!("missing required field {field}"))
}

impl ConnectError {
    /// Spark's exception classes for this failure, most specific first (the client raises
    /// the first it knows).
    fn classes(&self, message: &str) -> &'static [&'static str] {
        const ANALYSIS: &[&str] = &["org.apache.spark.sql.AnalysisException"];
        const PARSE: &[&str] = &[
            "org.apache.spark.sql.catalyst.parser.ParseException",
            "org.apache.spark.sql.AnalysisException",
        ];
        const ARITHMETIC: &[&str] = &[
            "org.apache.spark.SparkArithmeticException",
            "java.lang.ArithmeticException",
            "org.apache.spark.SparkException",
        ];
        const NUMBER_FORMAT: &[&str] = &[
            "org.apache.spark.SparkNumberFormatException",
            "java.lang.NumberFormatException",
            "org.apache.spark.SparkException",
        ];
        const RUNTIME: &[&str] = &[
            "org.apache.spark.SparkRuntimeException",
            "org.apache.spark.SparkException",
        ];
        const ILLEGAL_ARGUMENT: &[&str] = &[
            "org.apache.spark.SparkIllegalArgumentException",
            "java.lang.IllegalArgumentException",
        ];
        const INVALID_PLAN: &[&str] = &["org.apache.spark.sql.connect.common.InvalidPlanInput"];
        const UNSUPPORTED: &[&str] = &[
            "org.apache.spark.SparkUnsupportedOperationException",
            "java.lang.UnsupportedOperationException",
        ];
        const JOB: &[&str] = &["org.apache.spark.SparkException"];
        const PYTHON: &[&str] = &[
            "org.apache.spark.api.python.PythonException",
            "org.apache.spark.SparkException",
        ];
        let runtime_class = || {
            if [
                "DIVIDE_BY_ZERO",
                "ARITHMETIC_OVERFLOW",
                "REMAINDER_BY_ZERO",
                "NUMERIC_VALUE_OUT_OF_RANGE",
                "CAST_OVERFLOW",
            ]
            .iter()
            .any(|class| message.contains(class))
            {
                ARITHMETIC
            } else if message.contains("CAST_INVALID_INPUT") {
                NUMBER_FORMAT
            } else {
                RUNTIME
            }
        };
        match self {
            _ if message.contains(PYTHON_EXCEPTION) => PYTHON,
            ConnectError::Parse(_) => PARSE,
            ConnectError::Analysis(_) => ANALYSIS,
            ConnectError::InvalidPlan(_) => INVALID_PLAN,
            ConnectError::IllegalArgument(_) => ILLEGAL_ARGUMENT,
            ConnectError::Unsupported(_) => UNSUPPORTED,
            ConnectError::Interrupted => JOB,
            ConnectError::ConfNotFound(_) => &[
                "org.apache.spark.SparkNoSuchElementException",
                "java.util.NoSuchElementException",
            ],
            ConnectError::Flint(error) => match error {
                FlintError::Conf(_) => ILLEGAL_ARGUMENT,
                FlintError::Analysis(DataFusionError::SQL(..)) => PARSE,
                FlintError::Analysis(inner) if is_runtime(inner) => runtime_class(),
                FlintError::Analysis(_)
                | FlintError::PathNotFound(_)
                | FlintError::PathExists(_) => ANALYSIS,
                FlintError::Unsupported(_) => UNSUPPORTED,
                FlintError::Job(_) => {
                    let class = runtime_class();
                    if class == RUNTIME { JOB } else { class }
                }
                _ => JOB,
            },
        }
    }

    /// The gRPC status the client turns into a Python exception.
    pub fn to_status(&self) -> tonic::Status {
        let message = self.to_string();
        let classes = self.classes(&message);
        let mut metadata = std::collections::HashMap::new();
        metadata.insert(
            "classes".to_string(),
            serde_json::to_string(classes).unwrap_or_default(),
        );
        if let Some(class) = error_class(&message) {
            metadata.insert("errorClass".to_string(), class.to_string());
            metadata.insert("messageParameters".to_string(), "{}".to_string());
        }
        if let Some(state) = sql_state(&message) {
            metadata.insert("sqlState".to_string(), state.to_string());
        }
        let code = match self {
            ConnectError::Interrupted => tonic::Code::Cancelled,
            ConnectError::InvalidPlan(_) => tonic::Code::InvalidArgument,
            _ => tonic::Code::Internal,
        };
        // A Python UDF's failure reads as in Spark: the client prints its own heading above
        // the traceback.
        let shown = match message.find(PYTHON_EXCEPTION) {
            Some(at) => message[at..]
                .split_once('\n')
                .map_or(message.as_str(), |(_, traceback)| traceback),
            None => message.as_str(),
        };
        // gRPC messages travel in a header: keep them well under its limits.
        let short: String = shown.chars().take(2048).collect();
        tonic::Status::with_error_details(
            code,
            short,
            ErrorDetails::with_error_info(classes[0], "org.apache.spark", metadata),
        )
    }
}

/// How the failure of a Python UDF begins (Spark's `PythonException`).
const PYTHON_EXCEPTION: &str = "An exception was thrown from the Python worker";

/// Whether a DataFusion error happened while computing rows (a Spark runtime error) rather
/// than while planning.
fn is_runtime(error: &DataFusionError) -> bool {
    matches!(
        error.find_root(),
        DataFusionError::ArrowError(..)
            | DataFusionError::Execution(_)
            | DataFusionError::External(_)
    )
}

/// The error class a message starts with: `[DIVIDE_BY_ZERO] ...` → `DIVIDE_BY_ZERO`.
pub(crate) fn error_class(message: &str) -> Option<&str> {
    let start = message.find('[')?;
    let rest = &message[start + 1..];
    let end = rest.find(']')?;
    let class = &rest[..end];
    (!class.is_empty()
        && class
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '.'))
    .then_some(class)
}

/// The SQLSTATE a Spark message ends with: `... SQLSTATE: 22012`.
fn sql_state(message: &str) -> Option<&str> {
    let start = message.rfind("SQLSTATE: ")? + "SQLSTATE: ".len();
    let state = message.get(start..start + 5)?;
    state
        .chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_error_class_and_sql_state() {
        let message = "Job aborted: [DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012";
        assert_eq!(error_class(message), Some("DIVIDE_BY_ZERO"));
        assert_eq!(sql_state(message), Some("22012"));
        assert_eq!(error_class("no class [here is text]"), None);
    }

    #[test]
    fn maps_failures_to_spark_exception_classes() {
        let parse = ConnectError::Parse("x".into());
        assert_eq!(
            parse.classes("x")[0],
            "org.apache.spark.sql.catalyst.parser.ParseException"
        );
        let analysis = ConnectError::Analysis("[UNRESOLVED_COLUMN] x".into());
        assert_eq!(
            analysis.classes("")[0],
            "org.apache.spark.sql.AnalysisException"
        );
        let conf = ConnectError::IllegalArgument("bad".into());
        assert!(
            conf.classes("")
                .contains(&"java.lang.IllegalArgumentException")
        );
        let status = analysis.to_status();
        assert_eq!(status.code(), tonic::Code::Internal);
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(
            info.metadata.get("errorClass").map(String::as_str),
            Some("UNRESOLVED_COLUMN")
        );
    }
}
