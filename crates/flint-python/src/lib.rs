//! PySpark's worker side (Spark's `org.apache.spark.api.python`): a Python UDF is a
//! DataFusion scalar function ([`PythonUdf`]) that travels inside a task's plan to the
//! executor, which evaluates it batch by batch in Python worker processes it starts and
//! reuses ([`worker`], `spark.python.worker.reuse`), feeding them Arrow IPC.
//!
//! - [`PythonUdf`]: the function, its pickled command as the client sent it, its eval type
//!   (row at a time, pandas, Arrow) and result type, and how to run Python.
//! - [`PythonAggregateUdf`]: a grouped-aggregate UDF (Series or arrays to one value) as a
//!   DataFusion aggregate, called once per group with all of the group's rows.
//! - [`MapInPython`]: `mapInPandas`/`mapInArrow`, a function of a partition's batches to
//!   batches, as a logical node planned into [`MapInPythonExec`].
//! - [`worker`]: the pool of Python worker processes of this executor and the framing of
//!   requests to `worker.py`, Flint's own worker script.

mod map;
mod udaf;
mod udf;
pub mod worker;

pub use map::{MapInPython, MapInPythonExec, MapInPythonPlanner};
pub use udaf::PythonAggregateUdf;
pub use udf::{EvalType, PythonRunner, PythonUdf};

/// The name prefix of the key columns a grouped map's input carries after its data columns
/// (`__flint_key_0`, ...): the worker groups by them and hands the function the rest.
pub const GROUP_KEY_PREFIX: &str = "__flint_key_";

/// Why a Python UDF could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// The interpreter could not be started.
    #[error(
        "cannot start the Python worker {python}: {source}; set spark.pyspark.python or PYSPARK_PYTHON to a Python with pyspark-client, pyarrow and pandas"
    )]
    Spawn {
        /// The interpreter tried.
        python: String,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The worker went away or broke the protocol.
    #[error("Python worker {python} failed: {message}")]
    Worker {
        /// The interpreter it ran.
        python: String,
        /// What happened.
        message: String,
    },
    /// The user's function raised; the text is its traceback (Spark's `PythonException`).
    #[error(
        "An exception was thrown from the Python worker. Please see the stack trace below.\n{0}"
    )]
    Exception(String),
    /// Arrow data could not be written or read.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}
