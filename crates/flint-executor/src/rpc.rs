//! Conversions between the driver ↔ executor wire messages (`executor.proto`) and the
//! executor's domain types. Failures keep their kind across the wire: a fetch failure stays
//! a [`TaskFailureReason::FetchFailed`], so the driver resubmits the map stage instead of
//! retrying the task (Ballista lost that when its fetch failures became strings).

use bytes::Bytes;
use flint_rpc::executor as wire;
use flint_shuffle::{FetchFailure, MapStatus};
use thiserror::Error;

use crate::{
    OperatorMetric, OperatorMetrics, SqlMetricType, TaskDescription, TaskFailureReason,
    TaskMetrics, TaskOutput, TaskResult,
};

/// A message from the other side that lacks a required part.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("malformed {message} message: {missing} is missing")]
pub struct MalformedMessage {
    /// The message kind.
    pub message: &'static str,
    /// The field that was not set.
    pub missing: &'static str,
}

impl From<TaskDescription> for wire::LaunchTask {
    fn from(task: TaskDescription) -> Self {
        wire::LaunchTask {
            task_id: task.task_id,
            job_id: task.job_id,
            stage_id: task.stage_id,
            stage_attempt: task.stage_attempt,
            partition: task.partition,
            attempt: task.attempt,
            plan: task.plan.to_vec(),
            sql_conf: task.sql_conf.iter().cloned().collect(),
        }
    }
}

impl From<wire::LaunchTask> for TaskDescription {
    fn from(task: wire::LaunchTask) -> Self {
        TaskDescription {
            task_id: task.task_id,
            job_id: task.job_id,
            stage_id: task.stage_id,
            stage_attempt: task.stage_attempt,
            partition: task.partition,
            attempt: task.attempt,
            plan: Bytes::from(task.plan),
            sql_conf: task.sql_conf.into_iter().collect(),
        }
    }
}

impl From<TaskMetrics> for wire::TaskMetrics {
    fn from(m: TaskMetrics) -> Self {
        wire::TaskMetrics {
            executor_run_time_ms: m.executor_run_time_ms,
            executor_deserialize_time_ms: m.executor_deserialize_time_ms,
            input_bytes: m.input_bytes,
            input_records: m.input_records,
            output_records: m.output_records,
            result_size: m.result_size,
            shuffle_read_bytes: m.shuffle_read_bytes,
            shuffle_remote_bytes_read: m.shuffle_remote_bytes_read,
            shuffle_read_records: m.shuffle_read_records,
            shuffle_write_bytes: m.shuffle_write_bytes,
            shuffle_write_records: m.shuffle_write_records,
            disk_bytes_spilled: m.disk_bytes_spilled,
            spill_count: m.spill_count,
            operators: m.operators.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<OperatorMetrics> for wire::OperatorMetrics {
    fn from(m: OperatorMetrics) -> Self {
        wire::OperatorMetrics {
            node_name: m.node_name,
            metrics: m
                .metrics
                .into_iter()
                .map(|metric| wire::OperatorMetric {
                    name: metric.name,
                    metric_type: wire::SqlMetricType::from(metric.metric_type).into(),
                    value: metric.value,
                })
                .collect(),
        }
    }
}

impl From<wire::OperatorMetrics> for OperatorMetrics {
    fn from(m: wire::OperatorMetrics) -> Self {
        OperatorMetrics {
            node_name: m.node_name,
            metrics: m
                .metrics
                .into_iter()
                .map(|metric| OperatorMetric {
                    // An unknown type (a newer executor) is shown as a plain sum.
                    metric_type: wire::SqlMetricType::try_from(metric.metric_type)
                        .map(Into::into)
                        .unwrap_or(SqlMetricType::Sum),
                    name: metric.name,
                    value: metric.value,
                })
                .collect(),
        }
    }
}

impl From<SqlMetricType> for wire::SqlMetricType {
    fn from(t: SqlMetricType) -> Self {
        match t {
            SqlMetricType::Sum => wire::SqlMetricType::Sum,
            SqlMetricType::Size => wire::SqlMetricType::Size,
            SqlMetricType::NsTiming => wire::SqlMetricType::NsTiming,
        }
    }
}

impl From<wire::SqlMetricType> for SqlMetricType {
    fn from(t: wire::SqlMetricType) -> Self {
        match t {
            wire::SqlMetricType::Sum => SqlMetricType::Sum,
            wire::SqlMetricType::Size => SqlMetricType::Size,
            wire::SqlMetricType::NsTiming => SqlMetricType::NsTiming,
        }
    }
}

impl From<wire::TaskMetrics> for TaskMetrics {
    fn from(m: wire::TaskMetrics) -> Self {
        TaskMetrics {
            executor_run_time_ms: m.executor_run_time_ms,
            executor_deserialize_time_ms: m.executor_deserialize_time_ms,
            input_bytes: m.input_bytes,
            input_records: m.input_records,
            output_records: m.output_records,
            result_size: m.result_size,
            shuffle_read_bytes: m.shuffle_read_bytes,
            shuffle_remote_bytes_read: m.shuffle_remote_bytes_read,
            shuffle_read_records: m.shuffle_read_records,
            shuffle_write_bytes: m.shuffle_write_bytes,
            shuffle_write_records: m.shuffle_write_records,
            disk_bytes_spilled: m.disk_bytes_spilled,
            spill_count: m.spill_count,
            operators: m.operators.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<TaskFailureReason> for wire::TaskFailure {
    fn from(reason: TaskFailureReason) -> Self {
        use wire::task_failure::Reason;
        let reason = match reason {
            TaskFailureReason::FetchFailed(f) => Reason::FetchFailed(wire::FetchFailed {
                shuffle_id: f.shuffle_id,
                map_index: f.map_index,
                reduce_id: f.reduce_id,
                executor_id: f.executor_id,
                message: f.message,
                map_id: f.map_id,
                host: f.host,
                port: u32::from(f.port),
            }),
            TaskFailureReason::ExceptionFailure { message } => Reason::Exception(message),
            TaskFailureReason::ResourcesExhausted { message } => {
                Reason::ResourcesExhausted(message)
            }
            TaskFailureReason::TaskKilled { reason } => Reason::TaskKilled(reason),
            TaskFailureReason::ExecutorLost {
                executor_id,
                message,
            } => Reason::ExecutorLost(wire::ExecutorLost {
                executor_id,
                message,
            }),
        };
        wire::TaskFailure {
            reason: Some(reason),
        }
    }
}

impl TryFrom<wire::TaskFailure> for TaskFailureReason {
    type Error = MalformedMessage;

    fn try_from(failure: wire::TaskFailure) -> Result<Self, Self::Error> {
        use wire::task_failure::Reason;
        Ok(match failure.reason {
            Some(Reason::FetchFailed(f)) => TaskFailureReason::FetchFailed(FetchFailure {
                shuffle_id: f.shuffle_id,
                map_index: f.map_index,
                reduce_id: f.reduce_id,
                executor_id: f.executor_id,
                map_id: f.map_id,
                host: f.host,
                port: u16::try_from(f.port).map_err(|_| MalformedMessage {
                    message: "FetchFailed",
                    missing: "a port below 65536",
                })?,
                message: f.message,
            }),
            Some(Reason::Exception(message)) => TaskFailureReason::ExceptionFailure { message },
            Some(Reason::ResourcesExhausted(message)) => {
                TaskFailureReason::ResourcesExhausted { message }
            }
            Some(Reason::TaskKilled(reason)) => TaskFailureReason::TaskKilled { reason },
            Some(Reason::ExecutorLost(lost)) => TaskFailureReason::ExecutorLost {
                executor_id: lost.executor_id,
                message: lost.message,
            },
            None => {
                return Err(MalformedMessage {
                    message: "TaskFailure",
                    missing: "reason",
                });
            }
        })
    }
}

impl From<TaskResult> for wire::TaskResult {
    fn from(result: TaskResult) -> Self {
        use wire::task_result::Outcome;
        let outcome = match result.outcome {
            Ok(TaskOutput::MapStatus(status)) => Outcome::MapStatus(wire::MapStatus {
                map_index: status.map_index,
                map_id: status.map_id,
                executor_id: status.executor_id,
                host: status.host,
                port: u32::from(status.port),
                data_path: status.data_path,
                index_path: status.index_path,
                partition_lengths: status.partition_lengths,
                records_written: status.records_written,
                in_memory: status.in_memory,
            }),
            Ok(TaskOutput::ResultBatches(bytes)) => Outcome::ResultBatches(bytes.to_vec()),
            Err(reason) => Outcome::Failure(reason.into()),
        };
        wire::TaskResult {
            outcome: Some(outcome),
            metrics: Some(result.metrics.into()),
        }
    }
}

impl TryFrom<wire::TaskResult> for TaskResult {
    type Error = MalformedMessage;

    fn try_from(result: wire::TaskResult) -> Result<Self, Self::Error> {
        use wire::task_result::Outcome;
        let outcome = match result.outcome {
            Some(Outcome::MapStatus(status)) => Ok(TaskOutput::MapStatus(MapStatus {
                map_index: status.map_index,
                map_id: status.map_id,
                port: u16::try_from(status.port).map_err(|_| MalformedMessage {
                    message: "MapStatus",
                    missing: "a port below 65536",
                })?,
                host: status.host,
                executor_id: status.executor_id,
                data_path: status.data_path,
                index_path: status.index_path,
                partition_lengths: status.partition_lengths,
                records_written: status.records_written,
                in_memory: status.in_memory,
            })),
            Some(Outcome::ResultBatches(bytes)) => {
                Ok(TaskOutput::ResultBatches(Bytes::from(bytes)))
            }
            Some(Outcome::Failure(failure)) => Err(TaskFailureReason::try_from(failure)?),
            None => {
                return Err(MalformedMessage {
                    message: "TaskResult",
                    missing: "outcome",
                });
            }
        };
        Ok(TaskResult {
            outcome,
            metrics: result.metrics.map(TaskMetrics::from).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// Encodes to bytes and back, as the message travels.
    fn over_the_wire(result: TaskResult) -> Result<TaskResult, MalformedMessage> {
        let bytes = wire::TaskResult::from(result).encode_to_vec();
        let decoded = wire::TaskResult::decode(bytes.as_slice()).expect("valid protobuf");
        TaskResult::try_from(decoded)
    }

    fn failed(reason: TaskFailureReason) -> TaskResult {
        TaskResult {
            outcome: Err(reason),
            metrics: TaskMetrics {
                executor_run_time_ms: 7,
                shuffle_read_bytes: 11,
                shuffle_remote_bytes_read: 5,
                operators: vec![
                    OperatorMetrics {
                        node_name: "AggregateExec".into(),
                        metrics: vec![OperatorMetric {
                            name: "elapsed compute".into(),
                            metric_type: SqlMetricType::NsTiming,
                            value: 1_500_000,
                        }],
                    },
                    OperatorMetrics::default(),
                ],
                ..Default::default()
            },
        }
    }

    #[test]
    fn every_failure_kind_survives_the_wire_with_its_retry_decision() {
        let reasons = [
            TaskFailureReason::FetchFailed(FetchFailure {
                shuffle_id: 3,
                map_index: 1,
                reduce_id: 2,
                executor_id: "4".into(),
                map_id: 11,
                host: "10.0.0.4".into(),
                port: 7337,
                message: "connection refused".into(),
            }),
            TaskFailureReason::ExceptionFailure {
                message: "division by zero".into(),
            },
            TaskFailureReason::ResourcesExhausted {
                message: "raise spark.executor.memory".into(),
            },
            TaskFailureReason::TaskKilled {
                reason: "stage cancelled".into(),
            },
            TaskFailureReason::ExecutorLost {
                executor_id: "2".into(),
                message: "worker lost".into(),
            },
        ];
        for reason in reasons {
            let back = over_the_wire(failed(reason.clone())).expect("well formed");
            assert_eq!(back.outcome.as_ref().err(), Some(&reason));
            assert_eq!(
                back.outcome.err().map(|r| r.counts_towards_task_failures()),
                Some(reason.counts_towards_task_failures())
            );
            assert_eq!(back.metrics.executor_run_time_ms, 7);
            assert_eq!(back.metrics.shuffle_read_bytes, 11);
            assert_eq!(back.metrics.shuffle_remote_bytes_read, 5);
            assert_eq!(
                back.metrics.operators,
                failed(reason.clone()).metrics.operators
            );
        }
    }

    #[test]
    fn outputs_and_tasks_survive_the_wire() {
        let status = MapStatus {
            map_index: 5,
            map_id: 17,
            executor_id: "1".into(),
            host: "10.0.0.7".into(),
            port: 40123,
            data_path: "/tmp/a.data".into(),
            index_path: "/tmp/a.index".into(),
            partition_lengths: vec![0, 10, 20],
            records_written: 9,
            in_memory: true,
        };
        let back = over_the_wire(TaskResult {
            outcome: Ok(TaskOutput::MapStatus(status.clone())),
            metrics: TaskMetrics::default(),
        })
        .expect("well formed");
        match back.outcome {
            Ok(TaskOutput::MapStatus(got)) => assert_eq!(got, status),
            other => panic!("expected a map status, got {other:?}"),
        }
        let task = TaskDescription {
            task_id: 42,
            job_id: 1,
            stage_id: 2,
            stage_attempt: 1,
            partition: 3,
            attempt: 2,
            plan: Bytes::from_static(b"plan"),
            sql_conf: vec![("spark.sql.ansi.enabled".to_string(), "false".to_string())].into(),
        };
        let back = TaskDescription::from(wire::LaunchTask::from(task.clone()));
        assert_eq!(back.task_id, 42);
        assert_eq!(
            (
                back.stage_id,
                back.stage_attempt,
                back.partition,
                back.attempt
            ),
            (2, 1, 3, 2)
        );
        assert_eq!(back.plan, task.plan);
        assert_eq!(back.sql_conf, task.sql_conf);
    }

    #[test]
    fn missing_parts_are_errors_not_panics() {
        let empty = TaskResult::try_from(wire::TaskResult::default());
        assert_eq!(
            empty.err(),
            Some(MalformedMessage {
                message: "TaskResult",
                missing: "outcome"
            })
        );
        let no_reason = wire::TaskResult {
            outcome: Some(wire::task_result::Outcome::Failure(wire::TaskFailure {
                reason: None,
            })),
            metrics: None,
        };
        assert!(TaskResult::try_from(no_reason).is_err());
        // Garbage bytes fail to decode instead of crashing the receiver.
        assert!(wire::TaskResult::decode(&b"\xff\xff\xff\xff"[..]).is_err());
    }

    proptest::proptest! {
        /// Bytes of any kind arriving as a driver's or an executor's message decode to a
        /// message or an error, and a decoded task result converts or is refused as
        /// malformed; never a panic.
        #[test]
        fn any_bytes_on_the_wire_are_a_message_or_an_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let _ = flint_rpc::executor::DriverMessage::decode(bytes.as_slice());
            if let Ok(flint_rpc::executor::ExecutorMessage {
                message: Some(flint_rpc::executor::executor_message::Message::StatusUpdate(update)),
            }) = flint_rpc::executor::ExecutorMessage::decode(bytes.as_slice())
                && let Some(result) = update.result
            {
                let _ = TaskResult::try_from(result);
            }
            if let Ok(result) = wire::TaskResult::decode(bytes.as_slice()) {
                let _ = TaskResult::try_from(result);
            }
        }
    }
}
