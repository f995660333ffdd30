use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use flint_shuffle::{FetchFailure, MapStatus};

use crate::TaskMetrics;

/// One task as the scheduler sends it (Spark's `TaskDescription`): which partition of which
/// stage attempt to run, and the stage's plan as protobuf bytes.
#[derive(Debug, Clone)]
pub struct TaskDescription {
    /// Unique within the application (Spark's TID).
    pub task_id: u64,
    /// The job the task belongs to.
    pub job_id: u32,
    /// The stage the task belongs to.
    pub stage_id: u32,
    /// The stage attempt.
    pub stage_attempt: u32,
    /// The partition of the stage this task computes.
    pub partition: u32,
    /// How many times this partition was tried before in this stage attempt.
    pub attempt: u32,
    /// The stage's physical plan, encoded with DataFusion's protobuf and Flint's codec.
    pub plan: Bytes,
    /// The job's session settings the plan is decoded with (Spark ships its SQL conf in
    /// the task's local properties); see [`crate::task_sql_conf`].
    pub sql_conf: Arc<[(String, String)]>,
}

/// What a successful task produced.
#[derive(Debug, Clone)]
pub enum TaskOutput {
    /// A shuffle-map task's files and block sizes.
    MapStatus(MapStatus),
    /// A result task's rows, as one Arrow IPC stream.
    ResultBatches(Bytes),
}

/// Why a task failed (Spark's `TaskEndReason`); the scheduler matches on it to decide retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskFailureReason {
    /// A shuffle block could not be read: the map stage that wrote it is recomputed.
    FetchFailed(FetchFailure),
    /// The task's code failed (bad data, a function's error, a panic).
    ExceptionFailure { message: String },
    /// The task needed more memory than the executor's pool has, even with spilling.
    ResourcesExhausted { message: String },
    /// The task was cancelled.
    TaskKilled { reason: String },
    /// The executor running the task went away.
    ExecutorLost {
        executor_id: String,
        message: String,
    },
}

impl TaskFailureReason {
    /// Whether the failure counts against `spark.task.maxFailures` (Spark's `countTowardsTaskFailures`):
    /// fetch failures are handled by resubmitting stages, kills and lost executors are not the task's fault.
    pub fn counts_towards_task_failures(&self) -> bool {
        match self {
            TaskFailureReason::ExceptionFailure { .. }
            | TaskFailureReason::ResourcesExhausted { .. } => true,
            TaskFailureReason::FetchFailed(_)
            | TaskFailureReason::TaskKilled { .. }
            | TaskFailureReason::ExecutorLost { .. } => false,
        }
    }

    /// The failure as one line for logs and job failure messages.
    pub fn message(&self) -> String {
        match self {
            TaskFailureReason::FetchFailed(f) => format!(
                "FetchFailed(shuffleId={}, mapIndex={}, reduceId={}, executor={}): {}",
                f.shuffle_id, f.map_index, f.reduce_id, f.executor_id, f.message
            ),
            TaskFailureReason::ExceptionFailure { message }
            | TaskFailureReason::ResourcesExhausted { message } => message.clone(),
            TaskFailureReason::TaskKilled { reason } => format!("TaskKilled ({reason})"),
            TaskFailureReason::ExecutorLost {
                executor_id,
                message,
            } => {
                format!("ExecutorLostFailure (executor {executor_id} exited: {message})")
            }
        }
    }
}

/// The outcome of one task attempt, with the metrics it gathered either way.
#[derive(Debug, Clone)]
pub struct TaskResult {
    /// The task's output, or why it failed.
    pub outcome: std::result::Result<TaskOutput, TaskFailureReason>,
    /// What the task read, wrote, spilled and how long it ran.
    pub metrics: TaskMetrics,
}

/// Decodes a result task's Arrow IPC stream into batches.
pub fn decode_result_batches(bytes: &Bytes) -> Result<Vec<RecordBatch>> {
    if bytes.is_empty() {
        return Ok(vec![]);
    }
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.as_ref()), None)?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_decisions_follow_spark() {
        let fetch = TaskFailureReason::FetchFailed(FetchFailure {
            shuffle_id: 0,
            map_index: 0,
            reduce_id: 0,
            executor_id: "driver".into(),
            map_id: 0,
            host: "localhost".into(),
            port: 0,
            message: "missing".into(),
        });
        assert!(!fetch.counts_towards_task_failures());
        assert!(
            TaskFailureReason::ExceptionFailure {
                message: "x".into()
            }
            .counts_towards_task_failures()
        );
        assert!(
            TaskFailureReason::ResourcesExhausted {
                message: "x".into()
            }
            .counts_towards_task_failures()
        );
        assert!(
            !TaskFailureReason::TaskKilled { reason: "x".into() }.counts_towards_task_failures()
        );
        assert!(
            !TaskFailureReason::ExecutorLost {
                executor_id: "1".into(),
                message: "x".into()
            }
            .counts_towards_task_failures()
        );
    }
}
