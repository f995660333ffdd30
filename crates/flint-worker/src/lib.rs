//! The standalone worker (Spark's `deploy.worker.Worker`): a machine's agent. It offers its
//! cores and memory to the master, registers (retrying until a master answers), heartbeats
//! every quarter of `spark.worker.timeout`, registers again when the master restarts or asks
//! it to, starts and kills executor processes for the master (their stdout and stderr under
//! the work dir, their shuffle files in a local directory deleted with them), and serves the
//! worker web UI with Spark's `/json/` shape and the executors' logs.
//!
//! **Invariant:** does not depend on DataFusion or Arrow.
//!
//! Main types: [`Worker`], [`WorkerConfig`], [`machine`] (what the machine offers).

mod driver_runner;
mod executor_runner;
pub mod machine;
mod rpc;
mod ui;
mod worker;

pub use worker::{Worker, WorkerConfig, WorkerError};
