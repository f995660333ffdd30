//! Flint's executor (Spark's `executor` package): runs the tasks of one application in task
//! slots, with one memory pool shared by the slots and one directory for its shuffle files.
//!
//! A task arrives as a [`TaskDescription`] whose plan is DataFusion physical-plan protobuf
//! (with Flint's [`flint_shuffle::ShuffleCodec`]); [`Executor::run_task`] decodes it, runs one
//! partition on the executor's own CPU runtime and answers a [`TaskResult`] with
//! [`TaskMetrics`]. Failures stay typed ([`TaskFailureReason`]) so the scheduler decides
//! retries with a `match`.
//!
//! **Invariant:** the executor never talks to a master and does not know how it was launched.

mod backend;
mod executor;
mod memory_manager;
mod metrics;
pub mod rpc;
mod session_config;
mod task;
mod task_threads;

pub use backend::{ExecutorBackendConfig, ShuffleServiceConfig, run_executor_backend};
pub use executor::{Executor, ExecutorConfig, ExecutorError};
pub use metrics::{OperatorMetric, OperatorMetrics, SqlMetricType, TaskMetrics, plan_preorder};
pub use session_config::{
    apply_sql_conf, flint_session_config, map_key_dedup_policy, task_sql_conf, with_task_sql_conf,
};
pub use task::{TaskDescription, TaskFailureReason, TaskOutput, TaskResult, decode_result_batches};
