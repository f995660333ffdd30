//! Flint's driver-side scheduling (Spark's `scheduler` package): every action becomes a job,
//! cut into stages at shuffle boundaries, each stage into one task per partition.
//!
//! - [`stage_planner`] cuts a DataFusion physical plan at every exchange into a [`StageGraph`].
//! - [`DagScheduler`] runs a job: submits parent stages first, skips stages whose shuffle
//!   output already exists, resubmits map stages after fetch failures.
//! - [`TaskScheduler`] and its task-set managers fill task slots and retry failed tasks up to
//!   `spark.task.maxFailures`.
//! - [`SchedulerBackend`] is the seam to executors; [`LocalSchedulerBackend`] runs them
//!   in-process, [`StandaloneSchedulerBackend`] reaches executor processes over gRPC.
//! - [`StandaloneAppClient`] registers the application with a standalone master and passes
//!   its executor events to the backend.
//! - [`sql_plan`] keeps each query's plan graph for the SQL tab and names stage-plan nodes
//!   by it, so per-operator task metrics land on the query's nodes.
//! - [`locality`] says where each task would rather run and how long it waits for a core
//!   there (delay scheduling).
//! - [`MapOutputTracker`] remembers where each map output lives, cached DataFrames' blocks
//!   among them ([`cache`]).
//! - [`executor_allocation_manager`] is dynamic allocation: it asks the master for executors
//!   while tasks wait and gives back idle ones.
//! - [`ListenerBus`] carries job, stage, task and executor events to the progress bar, the
//!   UIs and the [`event_log`], whose JSON lines ([`json_protocol`]) the history server
//!   replays.
//!
//! **Invariant:** this crate does not launch executors; a master (asked by
//! [`StandaloneAppClient`]) or the local backend does.

mod app_client;
pub mod cache;
mod dag_scheduler;
pub mod event_log;
pub mod executor_allocation_manager;
pub mod json_protocol;
mod listener_bus;
pub mod locality;
mod map_output_tracker;
pub mod pool;
mod scheduler_backend;
pub mod sql_plan;
pub mod stage_planner;
mod standalone_backend;
mod task_scheduler;
mod task_set_manager;

pub use app_client::{AppClientError, AppDescription, StandaloneAppClient};
pub use dag_scheduler::{DagScheduler, JobError, with_job_tags};
pub use listener_bus::{
    ExecutorInfo, JobResult, ListenerBus, RddInfo, SparkListener, SparkListenerEvent, StageInfo,
    TaskEndReason, TaskInfo, TaskLocality,
};
pub use map_output_tracker::MapOutputTracker;
pub use scheduler_backend::{LocalSchedulerBackend, Placement, SchedulerBackend};
pub use sql_plan::{SqlMetricUpdate, SqlPlanEdge, SqlPlanInfo, SqlPlanNode, StageNodeIds};
pub use stage_planner::{ShuffleCleaner, ShuffleDependency, StageGraph};
pub use standalone_backend::{ClusterRequest, StandaloneSchedulerBackend};
pub use task_scheduler::{Speculation, TaskScheduler};
