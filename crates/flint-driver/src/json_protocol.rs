//! Listener events as JSON, in Spark's event-log shapes (Spark's `JsonProtocol`): one object
//! per event, `"Event"` naming it, Title Case field names (`"Job ID"`, `"Stage Info"`,
//! `"Task Metrics"`). What Flint knows that Spark's shapes have no place for is written in extra
//! fields (`"Host Port"`, `"Maximum Memory"` in `"Executor Info"`), which Spark's readers
//! ignore. SQL executions use Spark's SQL event names and camelCase fields
//! (`"executionId"`, `"sparkPlanInfo"`); a task's per-operator metrics, which Spark sends as
//! accumulator updates keyed by accumulator id, are written as `"SQL Metrics"` keyed by
//! plan-graph node.

use std::collections::BTreeMap;

use flint_executor::TaskMetrics;
use serde_json::{Map, Value, json};

use flint_executor::SqlMetricType;

use crate::cache::StorageLevel;
use crate::{
    ExecutorInfo, JobResult, RddInfo, SparkListenerEvent, SqlMetricUpdate, SqlPlanInfo, StageInfo,
    TaskEndReason, TaskInfo,
};

/// Spark's class names of the SQL execution events.
const SQL_EXECUTION_START: &str =
    "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart";
const SQL_EXECUTION_END: &str = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd";
/// The job property naming a job's SQL execution.
const SQL_EXECUTION_ID_PROPERTY: &str = "spark.sql.execution.id";
/// The job property holding a job's tags, comma-separated.
const JOB_TAGS_PROPERTY: &str = "spark.job.tags";
const POOL_PROPERTY: &str = "spark.scheduler.pool";
/// Spark's class names of the Spark Connect events.
const CONNECT_SESSION_STARTED: &str =
    "org.apache.spark.sql.connect.service.SparkListenerConnectSessionStarted";
const CONNECT_SESSION_CLOSED: &str =
    "org.apache.spark.sql.connect.service.SparkListenerConnectSessionClosed";
const CONNECT_OPERATION_STARTED: &str =
    "org.apache.spark.sql.connect.service.SparkListenerConnectOperationStarted";
const CONNECT_OPERATION_FINISHED: &str =
    "org.apache.spark.sql.connect.service.SparkListenerConnectOperationFinished";
const CONNECT_OPERATION_FAILED: &str =
    "org.apache.spark.sql.connect.service.SparkListenerConnectOperationFailed";
const CONNECT_OPERATION_CANCELED: &str =
    "org.apache.spark.sql.connect.service.SparkListenerConnectOperationCanceled";

/// The first line of every event log (Spark's `SparkListenerLogStart`).
pub fn log_start() -> Value {
    json!({"Event": "SparkListenerLogStart", "Spark Version": env!("CARGO_PKG_VERSION")})
}

/// An event as its JSON line's object; `None` for events Spark does not log (executor
/// heartbeats).
pub fn event_to_json(event: &SparkListenerEvent) -> Option<Value> {
    Some(match event {
        SparkListenerEvent::ApplicationStart {
            app_id,
            app_name,
            time,
            user,
        } => json!({
            "Event": "SparkListenerApplicationStart",
            "App Name": app_name,
            "App ID": app_id,
            "Timestamp": time,
            "User": user,
        }),
        SparkListenerEvent::ApplicationEnd { time } => {
            json!({"Event": "SparkListenerApplicationEnd", "Timestamp": time})
        }
        SparkListenerEvent::EnvironmentUpdate {
            spark_properties,
            system_properties,
        } => json!({
            "Event": "SparkListenerEnvironmentUpdate",
            "Spark Properties": pairs_to_json(spark_properties),
            "System Properties": pairs_to_json(system_properties),
            "Hadoop Properties": {},
            "Classpath Entries": {},
        }),
        SparkListenerEvent::ExecutorAdded {
            executor_id,
            time,
            info,
        } => json!({
            "Event": "SparkListenerExecutorAdded",
            "Timestamp": time,
            "Executor ID": executor_id,
            "Executor Info": {
                "Host": info.host,
                "Total Cores": info.total_cores,
                "Log Urls": info.log_urls,
                "Attributes": {},
                "Resources": {},
                "Resource Profile Id": 0,
                "Host Port": info.host_port,
                "Maximum Memory": info.max_memory,
            },
        }),
        SparkListenerEvent::ExecutorRemoved {
            executor_id,
            time,
            reason,
        } => json!({
            "Event": "SparkListenerExecutorRemoved",
            "Timestamp": time,
            "Executor ID": executor_id,
            "Removed Reason": reason,
        }),
        SparkListenerEvent::ExecutorMetricsUpdate { .. }
        | SparkListenerEvent::BlockUpdated { .. } => return None,
        SparkListenerEvent::UnpersistRdd { rdd_id } => json!({
            "Event": "SparkListenerUnpersistRDD",
            "RDD ID": rdd_id,
        }),
        SparkListenerEvent::JobStart {
            job_id,
            time,
            stage_infos,
            description,
            sql_execution_id,
            job_tags,
            pool,
        } => {
            let mut properties = Map::new();
            properties.insert("spark.job.description".into(), description.clone().into());
            properties.insert(POOL_PROPERTY.into(), pool.clone().into());
            if let Some(id) = sql_execution_id {
                properties.insert(SQL_EXECUTION_ID_PROPERTY.into(), id.to_string().into());
            }
            if !job_tags.is_empty() {
                properties.insert(JOB_TAGS_PROPERTY.into(), job_tags.join(",").into());
            }
            json!({
                "Event": "SparkListenerJobStart",
                "Job ID": job_id,
                "Submission Time": time,
                "Stage Infos": stage_infos.iter().map(stage_info_to_json).collect::<Vec<_>>(),
                "Stage IDs": stage_infos.iter().map(|s| s.stage_id).collect::<Vec<_>>(),
                "Properties": properties,
            })
        }
        SparkListenerEvent::JobEnd {
            job_id,
            time,
            result,
        } => json!({
            "Event": "SparkListenerJobEnd",
            "Job ID": job_id,
            "Completion Time": time,
            "Job Result": match result {
                JobResult::Succeeded => json!({"Result": "JobSucceeded"}),
                JobResult::Failed(message) => json!({
                    "Result": "JobFailed",
                    "Exception": {"Message": message, "Stack Trace": []},
                }),
            },
        }),
        SparkListenerEvent::StageSubmitted { stage_info } => json!({
            "Event": "SparkListenerStageSubmitted",
            "Stage Info": stage_info_to_json(stage_info),
            "Properties": {},
        }),
        SparkListenerEvent::StageCompleted { stage_info } => json!({
            "Event": "SparkListenerStageCompleted",
            "Stage Info": stage_info_to_json(stage_info),
        }),
        SparkListenerEvent::TaskStart {
            stage_id,
            stage_attempt,
            task_info,
        } => json!({
            "Event": "SparkListenerTaskStart",
            "Stage ID": stage_id,
            "Stage Attempt ID": stage_attempt,
            "Task Info": task_info_to_json(task_info, None),
        }),
        SparkListenerEvent::TaskEnd {
            stage_id,
            stage_attempt,
            task_info,
            reason,
            metrics,
            sql_metrics,
        } => json!({
            "Event": "SparkListenerTaskEnd",
            "Stage ID": stage_id,
            "Stage Attempt ID": stage_attempt,
            "Task End Reason": end_reason_to_json(reason),
            "Task Info": task_info_to_json(task_info, Some(reason)),
            "Task Metrics": metrics_to_json(metrics),
            "SQL Metrics": sql_metrics.iter().map(|m| json!({
                "Node ID": m.node_id,
                "Name": m.name,
                "Metric Type": m.metric_type.as_str(),
                "Update": m.value,
            })).collect::<Vec<_>>(),
        }),
        SparkListenerEvent::SqlExecutionStart {
            execution_id,
            description,
            details,
            physical_plan_description,
            plan,
            time,
        } => json!({
            "Event": SQL_EXECUTION_START,
            "executionId": execution_id,
            "rootExecutionId": execution_id,
            "description": description,
            "details": details,
            "physicalPlanDescription": physical_plan_description,
            "sparkPlanInfo": plan_info_to_json(plan),
            "time": time,
            "modifiedConfigs": {},
        }),
        SparkListenerEvent::ConnectSessionStarted {
            session_id,
            user_id,
            time,
        } => json!({
            "Event": CONNECT_SESSION_STARTED,
            "sessionId": session_id,
            "userId": user_id,
            "eventTime": time,
            "extraTags": {},
        }),
        SparkListenerEvent::ConnectSessionClosed { session_id, time } => json!({
            "Event": CONNECT_SESSION_CLOSED,
            "sessionId": session_id,
            "eventTime": time,
            "extraTags": {},
        }),
        SparkListenerEvent::ConnectOperationStarted {
            operation_id,
            session_id,
            user_id,
            job_tag,
            statement,
            time,
        } => json!({
            "Event": CONNECT_OPERATION_STARTED,
            "jobTag": job_tag,
            "operationId": operation_id,
            "eventTime": time,
            "sessionId": session_id,
            "userId": user_id,
            "userName": user_id,
            "statementText": statement,
            "sparkSessionTags": [],
            "extraTags": {},
        }),
        SparkListenerEvent::ConnectOperationEnded {
            operation_id,
            job_tag,
            state,
            error,
            time,
        } => {
            let event = match state.as_str() {
                "FAILED" => CONNECT_OPERATION_FAILED,
                "CANCELED" => CONNECT_OPERATION_CANCELED,
                _ => CONNECT_OPERATION_FINISHED,
            };
            let mut value = json!({
                "Event": event,
                "jobTag": job_tag,
                "operationId": operation_id,
                "eventTime": time,
                "extraTags": {},
            });
            if let (Some(map), Some(message)) = (value.as_object_mut(), error) {
                map.insert("errorMessage".into(), message.clone().into());
            }
            value
        }
        SparkListenerEvent::SqlExecutionEnd {
            execution_id,
            time,
            error_message,
        } => {
            let mut value = json!({
                "Event": SQL_EXECUTION_END,
                "executionId": execution_id,
                "time": time,
            });
            if let (Some(map), Some(message)) = (value.as_object_mut(), error_message) {
                map.insert("errorMessage".into(), message.clone().into());
            }
            value
        }
    })
}

fn plan_info_to_json(info: &SqlPlanInfo) -> Value {
    json!({
        "nodeName": info.node_name,
        "simpleString": info.simple_string,
        "children": info.children.iter().map(plan_info_to_json).collect::<Vec<_>>(),
        "metadata": {},
        "metrics": [],
    })
}

/// Reads a plan tree; its depth is bounded by serde_json's nesting limit on the line.
fn plan_info_from_json(value: &Value) -> Result<SqlPlanInfo, JsonProtocolError> {
    Ok(SqlPlanInfo {
        node_name: string(value, "nodeName")?,
        simple_string: optional_string(value, "simpleString").unwrap_or_default(),
        children: value
            .get("children")
            .and_then(Value::as_array)
            .map(|children| {
                children
                    .iter()
                    .map(plan_info_from_json)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
    })
}

fn sql_metrics_from_json(value: &Value) -> Vec<SqlMetricUpdate> {
    let Some(updates) = value.get("SQL Metrics").and_then(Value::as_array) else {
        return vec![];
    };
    updates
        .iter()
        .filter_map(|update| {
            Some(SqlMetricUpdate {
                node_id: u32::try_from(update.get("Node ID")?.as_u64()?).ok()?,
                name: update.get("Name")?.as_str()?.to_string(),
                metric_type: SqlMetricType::parse(update.get("Metric Type")?.as_str()?)?,
                value: update.get("Update")?.as_u64()?,
            })
        })
        .collect()
}

/// Why an event-log line could not be turned back into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonProtocolError(String);

/// The event a JSON line's object describes; `Ok(None)` for events Flint does not use
/// (`SparkListenerLogStart`, Spark's block-manager or SQL events), so logs written by newer
/// versions still replay.
pub fn event_from_json(value: &Value) -> Result<Option<SparkListenerEvent>, JsonProtocolError> {
    let name = string(value, "Event")?;
    Ok(Some(match name.as_str() {
        "SparkListenerApplicationStart" => SparkListenerEvent::ApplicationStart {
            app_id: string(value, "App ID")?,
            app_name: string(value, "App Name")?,
            time: number(value, "Timestamp")?,
            user: optional_string(value, "User").unwrap_or_default(),
        },
        "SparkListenerApplicationEnd" => SparkListenerEvent::ApplicationEnd {
            time: number(value, "Timestamp")?,
        },
        "SparkListenerUnpersistRDD" => SparkListenerEvent::UnpersistRdd {
            rdd_id: number(value, "RDD ID")? as u32,
        },
        "SparkListenerEnvironmentUpdate" => SparkListenerEvent::EnvironmentUpdate {
            spark_properties: pairs_from_json(value, "Spark Properties"),
            system_properties: pairs_from_json(value, "System Properties"),
        },
        "SparkListenerExecutorAdded" => {
            let info = object(value, "Executor Info")?;
            let host = string(info, "Host")?;
            SparkListenerEvent::ExecutorAdded {
                executor_id: string(value, "Executor ID")?,
                time: number(value, "Timestamp")?,
                info: ExecutorInfo {
                    host_port: optional_string(info, "Host Port").unwrap_or_else(|| host.clone()),
                    host,
                    total_cores: number(info, "Total Cores")? as usize,
                    max_memory: info
                        .get("Maximum Memory")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    log_urls: info
                        .get("Log Urls")
                        .and_then(Value::as_object)
                        .map(|urls| {
                            urls.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                                .collect::<BTreeMap<_, _>>()
                        })
                        .unwrap_or_default(),
                },
            }
        }
        "SparkListenerExecutorRemoved" => SparkListenerEvent::ExecutorRemoved {
            executor_id: string(value, "Executor ID")?,
            time: number(value, "Timestamp")?,
            reason: optional_string(value, "Removed Reason").unwrap_or_default(),
        },
        "SparkListenerJobStart" => SparkListenerEvent::JobStart {
            job_id: number(value, "Job ID")? as u32,
            time: number(value, "Submission Time")?,
            stage_infos: array(value, "Stage Infos")?
                .iter()
                .map(stage_info_from_json)
                .collect::<Result<_, _>>()?,
            description: value
                .get("Properties")
                .and_then(|p| p.get("spark.job.description"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            sql_execution_id: value
                .get("Properties")
                .and_then(|p| p.get(SQL_EXECUTION_ID_PROPERTY))
                .and_then(Value::as_str)
                .and_then(|id| id.parse().ok()),
            pool: value
                .get("Properties")
                .and_then(|p| p.get(POOL_PROPERTY))
                .and_then(Value::as_str)
                .unwrap_or(crate::pool::DEFAULT_POOL)
                .to_string(),
            job_tags: value
                .get("Properties")
                .and_then(|p| p.get(JOB_TAGS_PROPERTY))
                .and_then(Value::as_str)
                .map(|tags| {
                    tags.split(',')
                        .filter(|t| !t.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        },
        "SparkListenerJobEnd" => {
            let result = object(value, "Job Result")?;
            SparkListenerEvent::JobEnd {
                job_id: number(value, "Job ID")? as u32,
                time: number(value, "Completion Time")?,
                result: match string(result, "Result")?.as_str() {
                    "JobSucceeded" => JobResult::Succeeded,
                    _ => JobResult::Failed(
                        result
                            .get("Exception")
                            .and_then(|e| e.get("Message"))
                            .and_then(Value::as_str)
                            .unwrap_or("the job failed")
                            .to_string(),
                    ),
                },
            }
        }
        "SparkListenerStageSubmitted" => SparkListenerEvent::StageSubmitted {
            stage_info: stage_info_from_json(object(value, "Stage Info")?)?,
        },
        "SparkListenerStageCompleted" => SparkListenerEvent::StageCompleted {
            stage_info: stage_info_from_json(object(value, "Stage Info")?)?,
        },
        "SparkListenerTaskStart" => SparkListenerEvent::TaskStart {
            stage_id: number(value, "Stage ID")? as u32,
            stage_attempt: number(value, "Stage Attempt ID")? as u32,
            task_info: task_info_from_json(object(value, "Task Info")?)?,
        },
        "SparkListenerTaskEnd" => SparkListenerEvent::TaskEnd {
            stage_id: number(value, "Stage ID")? as u32,
            stage_attempt: number(value, "Stage Attempt ID")? as u32,
            task_info: task_info_from_json(object(value, "Task Info")?)?,
            reason: end_reason_from_json(object(value, "Task End Reason")?)?,
            metrics: value
                .get("Task Metrics")
                .map(metrics_from_json)
                .unwrap_or_default(),
            sql_metrics: sql_metrics_from_json(value),
        },
        SQL_EXECUTION_START => SparkListenerEvent::SqlExecutionStart {
            execution_id: number(value, "executionId")?,
            description: optional_string(value, "description").unwrap_or_default(),
            details: optional_string(value, "details").unwrap_or_default(),
            physical_plan_description: optional_string(value, "physicalPlanDescription")
                .unwrap_or_default(),
            plan: plan_info_from_json(object(value, "sparkPlanInfo")?)?,
            time: number(value, "time")?,
        },
        CONNECT_SESSION_STARTED => SparkListenerEvent::ConnectSessionStarted {
            session_id: string(value, "sessionId")?,
            user_id: string(value, "userId")?,
            time: number(value, "eventTime")?,
        },
        CONNECT_SESSION_CLOSED => SparkListenerEvent::ConnectSessionClosed {
            session_id: string(value, "sessionId")?,
            time: number(value, "eventTime")?,
        },
        CONNECT_OPERATION_STARTED => SparkListenerEvent::ConnectOperationStarted {
            operation_id: string(value, "operationId")?,
            session_id: string(value, "sessionId")?,
            user_id: string(value, "userId")?,
            job_tag: string(value, "jobTag")?,
            statement: optional_string(value, "statementText").unwrap_or_default(),
            time: number(value, "eventTime")?,
        },
        CONNECT_OPERATION_FINISHED | CONNECT_OPERATION_FAILED | CONNECT_OPERATION_CANCELED => {
            SparkListenerEvent::ConnectOperationEnded {
                operation_id: string(value, "operationId")?,
                job_tag: string(value, "jobTag")?,
                state: match name.as_str() {
                    CONNECT_OPERATION_FAILED => "FAILED",
                    CONNECT_OPERATION_CANCELED => "CANCELED",
                    _ => "FINISHED",
                }
                .to_string(),
                error: optional_string(value, "errorMessage"),
                time: number(value, "eventTime")?,
            }
        }
        SQL_EXECUTION_END => SparkListenerEvent::SqlExecutionEnd {
            execution_id: number(value, "executionId")?,
            time: number(value, "time")?,
            error_message: optional_string(value, "errorMessage").filter(|m| !m.is_empty()),
        },
        _ => return Ok(None),
    }))
}

fn pairs_to_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn pairs_from_json(value: &Value, name: &str) -> Vec<(String, String)> {
    value
        .get(name)
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    let text = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn stage_info_to_json(info: &StageInfo) -> Value {
    let mut value = json!({
        "Stage ID": info.stage_id,
        "Stage Attempt ID": info.attempt,
        "Stage Name": info.name,
        "Number of Tasks": info.num_tasks,
        "RDD Info": info.rdd_infos.iter().map(rdd_info_to_json).collect::<Vec<_>>(),
        "Parent IDs": info.parent_ids,
        "Details": "",
        "Accumulables": [],
        "Resource Profile Id": 0,
    });
    if let Some(map) = value.as_object_mut() {
        if let Some(time) = info.submission_time {
            map.insert("Submission Time".into(), time.into());
        }
        if let Some(time) = info.completion_time {
            map.insert("Completion Time".into(), time.into());
        }
        if let Some(reason) = &info.failure_reason {
            map.insert("Failure Reason".into(), reason.clone().into());
        }
    }
    value
}

fn stage_info_from_json(value: &Value) -> Result<StageInfo, JsonProtocolError> {
    Ok(StageInfo {
        stage_id: number(value, "Stage ID")? as u32,
        attempt: number(value, "Stage Attempt ID")? as u32,
        name: string(value, "Stage Name")?,
        num_tasks: number(value, "Number of Tasks")? as usize,
        parent_ids: array(value, "Parent IDs")?
            .iter()
            .filter_map(|id| id.as_u64().map(|id| id as u32))
            .collect(),
        submission_time: value.get("Submission Time").and_then(Value::as_u64),
        completion_time: value.get("Completion Time").and_then(Value::as_u64),
        failure_reason: optional_string(value, "Failure Reason"),
        rdd_infos: value
            .get("RDD Info")
            .and_then(Value::as_array)
            .map(|infos| infos.iter().filter_map(rdd_info_from_json).collect())
            .unwrap_or_default(),
    })
}

/// Spark's `StorageLevel` JSON.
fn storage_level_to_json(level: &StorageLevel) -> Value {
    json!({
        "Use Disk": level.use_disk,
        "Use Memory": level.use_memory,
        "Use Off Heap": false,
        "Deserialized": level.use_memory,
        "Replication": level.replication,
    })
}

fn rdd_info_to_json(info: &RddInfo) -> Value {
    json!({
        "RDD ID": info.id,
        "Name": info.name,
        "Storage Level": storage_level_to_json(&info.storage_level),
        "Number of Partitions": info.num_partitions,
        "Number of Cached Partitions": 0,
        "Memory Size": 0,
        "Disk Size": 0,
    })
}

/// An RDD of a stage; only persisted ones are kept (the others Spark lists are of no use
/// to Flint's listeners).
fn rdd_info_from_json(value: &Value) -> Option<RddInfo> {
    let level = value.get("Storage Level")?;
    let flag = |name: &str| level.get(name).and_then(Value::as_bool).unwrap_or(false);
    let storage_level = StorageLevel {
        use_disk: flag("Use Disk"),
        use_memory: flag("Use Memory"),
        replication: level
            .get("Replication")
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32,
    };
    if storage_level == StorageLevel::NONE {
        return None;
    }
    Some(RddInfo {
        id: value.get("RDD ID")?.as_u64()? as u32,
        name: value.get("Name")?.as_str()?.to_string(),
        num_partitions: value.get("Number of Partitions")?.as_u64()? as usize,
        storage_level,
    })
}

/// Spark's `taskInfoToJson`; `end` is how the task ended, `None` while it runs.
fn task_info_to_json(info: &TaskInfo, end: Option<&TaskEndReason>) -> Value {
    let killed = matches!(end, Some(TaskEndReason::TaskKilled { .. }));
    let failed = !killed && end.is_some_and(|reason| *reason != TaskEndReason::Success);
    json!({
        "Task ID": info.task_id,
        "Index": info.index,
        "Attempt": info.attempt,
        "Partition ID": info.index,
        "Launch Time": info.launch_time,
        "Executor ID": info.executor_id,
        "Host": info.host,
        "Locality": info.locality.as_str(),
        "Speculative": info.speculative,
        "Getting Result Time": 0,
        "Finish Time": info.finish_time,
        "Failed": failed,
        "Killed": killed,
        "Accumulables": [],
    })
}

fn task_info_from_json(value: &Value) -> Result<TaskInfo, JsonProtocolError> {
    Ok(TaskInfo {
        task_id: number(value, "Task ID")?,
        index: number(value, "Index")? as u32,
        attempt: number(value, "Attempt")? as u32,
        launch_time: number(value, "Launch Time")?,
        finish_time: value
            .get("Finish Time")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        executor_id: string(value, "Executor ID")?,
        host: string(value, "Host")?,
        speculative: value
            .get("Speculative")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        locality: crate::TaskLocality::parse(
            value
                .get("Locality")
                .and_then(Value::as_str)
                .unwrap_or("PROCESS_LOCAL"),
        ),
    })
}

/// Spark's `taskEndReasonToJson`: each kind with its own fields.
fn end_reason_to_json(reason: &TaskEndReason) -> Value {
    match reason {
        TaskEndReason::Success => json!({"Reason": "Success"}),
        TaskEndReason::TaskKilled { reason } => json!({
            "Reason": "TaskKilled",
            "Kill Reason": reason,
            "Accumulator Updates": [],
        }),
        TaskEndReason::FetchFailed {
            executor_id,
            host,
            port,
            shuffle_id,
            map_id,
            map_index,
            reduce_id,
            message,
        } => json!({
            "Reason": "FetchFailed",
            "Block Manager Address": {
                "Executor ID": executor_id,
                "Host": host,
                "Port": port,
            },
            "Shuffle ID": shuffle_id,
            "Map ID": map_id,
            "Map Index": map_index,
            "Reduce ID": reduce_id,
            "Message": message,
        }),
        TaskEndReason::ExceptionFailure {
            class_name,
            description,
        } => json!({
            "Reason": "ExceptionFailure",
            "Class Name": class_name,
            "Description": description,
            "Stack Trace": [],
            "Full Stack Trace": reason.error_string(),
            "Accumulator Updates": [],
        }),
        TaskEndReason::ExecutorLostFailure {
            executor_id,
            exit_caused_by_app,
            reason,
        } => json!({
            "Reason": "ExecutorLostFailure",
            "Executor ID": executor_id,
            "Exit Caused By App": exit_caused_by_app,
            "Loss Reason": reason,
        }),
    }
}

/// Spark's `taskEndReasonFromJson`; a reason Flint does not know (`Resubmitted`,
/// `TaskResultLost`, ...) reads as an `ExceptionFailure` naming it.
fn end_reason_from_json(value: &Value) -> Result<TaskEndReason, JsonProtocolError> {
    let reason = string(value, "Reason")?;
    let text = |field: &str| optional_string(value, field).unwrap_or_default();
    Ok(match reason.as_str() {
        "Success" => TaskEndReason::Success,
        "TaskKilled" => TaskEndReason::TaskKilled {
            reason: text("Kill Reason"),
        },
        "ExceptionFailure" => TaskEndReason::ExceptionFailure {
            class_name: text("Class Name"),
            description: text("Description"),
        },
        "ExecutorLostFailure" => TaskEndReason::ExecutorLostFailure {
            executor_id: text("Executor ID"),
            exit_caused_by_app: value
                .get("Exit Caused By App")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            reason: text("Loss Reason"),
        },
        "FetchFailed" => {
            let address = value.get("Block Manager Address").unwrap_or(&Value::Null);
            let small = |field: &str| number(value, field).unwrap_or(0).try_into().unwrap_or(0);
            TaskEndReason::FetchFailed {
                executor_id: optional_string(address, "Executor ID").unwrap_or_default(),
                host: optional_string(address, "Host").unwrap_or_default(),
                port: number(address, "Port")
                    .ok()
                    .and_then(|port| u16::try_from(port).ok())
                    .unwrap_or(0),
                shuffle_id: small("Shuffle ID"),
                map_id: number(value, "Map ID").unwrap_or(0),
                map_index: small("Map Index"),
                reduce_id: small("Reduce ID"),
                message: text("Message"),
            }
        }
        other => TaskEndReason::ExceptionFailure {
            class_name: other.to_string(),
            description: reason.clone(),
        },
    })
}

fn metrics_to_json(m: &TaskMetrics) -> Value {
    json!({
        "Executor Deserialize Time": m.executor_deserialize_time_ms,
        "Executor Deserialize CPU Time": 0,
        "Executor Run Time": m.executor_run_time_ms,
        "Executor CPU Time": 0,
        "Peak Execution Memory": 0,
        "Result Size": m.result_size,
        "JVM GC Time": 0,
        "Result Serialization Time": 0,
        "Memory Bytes Spilled": 0,
        "Disk Bytes Spilled": m.disk_bytes_spilled,
        "Shuffle Read Metrics": {
            "Remote Blocks Fetched": 0,
            "Local Blocks Fetched": 0,
            "Fetch Wait Time": 0,
            "Remote Bytes Read": m.shuffle_remote_bytes_read,
            "Remote Bytes Read To Disk": 0,
            "Local Bytes Read": m.shuffle_read_bytes.saturating_sub(m.shuffle_remote_bytes_read),
            "Total Records Read": m.shuffle_read_records,
        },
        "Shuffle Write Metrics": {
            "Shuffle Bytes Written": m.shuffle_write_bytes,
            "Shuffle Write Time": 0,
            "Shuffle Records Written": m.shuffle_write_records,
        },
        "Input Metrics": {"Bytes Read": m.input_bytes, "Records Read": m.input_records},
        "Output Metrics": {"Bytes Written": 0, "Records Written": m.output_records},
        "Updated Blocks": [],
        "Spill Count": m.spill_count,
    })
}

fn metrics_from_json(value: &Value) -> TaskMetrics {
    let get = |path: &[&str]| {
        path.iter()
            .try_fold(value, |v, key| v.get(*key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let remote = get(&["Shuffle Read Metrics", "Remote Bytes Read"]);
    TaskMetrics {
        executor_run_time_ms: get(&["Executor Run Time"]),
        executor_deserialize_time_ms: get(&["Executor Deserialize Time"]),
        input_bytes: get(&["Input Metrics", "Bytes Read"]),
        input_records: get(&["Input Metrics", "Records Read"]),
        output_records: get(&["Output Metrics", "Records Written"]),
        result_size: get(&["Result Size"]),
        shuffle_read_bytes: remote + get(&["Shuffle Read Metrics", "Local Bytes Read"]),
        shuffle_remote_bytes_read: remote,
        shuffle_read_records: get(&["Shuffle Read Metrics", "Total Records Read"]),
        shuffle_write_bytes: get(&["Shuffle Write Metrics", "Shuffle Bytes Written"]),
        shuffle_write_records: get(&["Shuffle Write Metrics", "Shuffle Records Written"]),
        disk_bytes_spilled: get(&["Disk Bytes Spilled"]),
        spill_count: get(&["Spill Count"]),
        // Per-operator figures travel as the event's "SQL Metrics".
        operators: vec![],
    }
}

fn missing(field: &str) -> JsonProtocolError {
    JsonProtocolError(format!("missing or mistyped field \"{field}\""))
}

fn string(value: &Value, field: &str) -> Result<String, JsonProtocolError> {
    optional_string(value, field).ok_or_else(|| missing(field))
}

fn optional_string(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_string)
}

fn number(value: &Value, field: &str) -> Result<u64, JsonProtocolError> {
    value
        .get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| missing(field))
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Value, JsonProtocolError> {
    value
        .get(field)
        .filter(|v| v.is_object())
        .ok_or_else(|| missing(field))
}

fn array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, JsonProtocolError> {
    value
        .get(field)
        .and_then(Value::as_array)
        .ok_or_else(|| missing(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: u32) -> StageInfo {
        StageInfo {
            stage_id: id,
            attempt: 1,
            name: format!("ShuffleMapStage {id} (AggregateExec)"),
            num_tasks: 3,
            parent_ids: vec![0],
            submission_time: Some(10),
            completion_time: None,
            failure_reason: Some("fetch failed".into()),
            rdd_infos: vec![RddInfo {
                id: 4,
                name: "In-memory table t".into(),
                num_partitions: 3,
                storage_level: crate::cache::StorageLevel::DISK_ONLY,
            }],
        }
    }

    fn task() -> TaskInfo {
        TaskInfo {
            task_id: 7,
            index: 2,
            attempt: 1,
            launch_time: 100,
            finish_time: 150,
            executor_id: "3".into(),
            host: "10.0.0.2".into(),
            speculative: true,
            locality: crate::TaskLocality::NodeLocal,
        }
    }

    /// Every event Flint logs reads back as itself.
    #[test]
    fn events_round_trip_through_spark_json() {
        let events = vec![
            SparkListenerEvent::ApplicationStart {
                app_id: "app-1".into(),
                app_name: "tpch".into(),
                time: 5,
                user: "ann".into(),
            },
            SparkListenerEvent::EnvironmentUpdate {
                spark_properties: vec![("spark.master".into(), "local[2]".into())],
                system_properties: vec![("os.name".into(), "linux".into())],
            },
            SparkListenerEvent::ExecutorAdded {
                executor_id: "0".into(),
                time: 6,
                info: ExecutorInfo {
                    host: "h".into(),
                    host_port: "h:7077".into(),
                    total_cores: 2,
                    max_memory: 1 << 30,
                    log_urls: [("stdout".to_string(), "http://w/logPage".to_string())].into(),
                },
            },
            SparkListenerEvent::JobStart {
                job_id: 4,
                time: 9,
                stage_infos: vec![stage(1), stage(2)],
                description: "collect at SELECT 1".into(),
                sql_execution_id: Some(3),
                job_tags: vec!["a".into(), "b".into()],
                pool: "production".into(),
            },
            SparkListenerEvent::SqlExecutionStart {
                execution_id: 3,
                description: "collect at SELECT 1".into(),
                details: "SELECT 1".into(),
                physical_plan_description: "== Physical Plan ==\nProjection (0)".into(),
                plan: SqlPlanInfo {
                    node_name: "Projection".into(),
                    simple_string: "ProjectionExec: expr=[1]".into(),
                    children: vec![SqlPlanInfo {
                        node_name: "PlaceholderRow".into(),
                        simple_string: "PlaceholderRowExec".into(),
                        children: vec![],
                    }],
                },
                time: 8,
            },
            SparkListenerEvent::StageSubmitted {
                stage_info: stage(1),
            },
            SparkListenerEvent::TaskStart {
                stage_id: 1,
                stage_attempt: 1,
                task_info: task(),
            },
            SparkListenerEvent::TaskEnd {
                stage_id: 1,
                stage_attempt: 1,
                task_info: task(),
                reason: TaskEndReason::ExecutorLostFailure {
                    executor_id: "0".into(),
                    exit_caused_by_app: false,
                    reason: "lost".into(),
                },
                metrics: TaskMetrics {
                    executor_run_time_ms: 40,
                    shuffle_read_bytes: 100,
                    shuffle_remote_bytes_read: 30,
                    spill_count: 1,
                    ..TaskMetrics::default()
                },
                sql_metrics: vec![SqlMetricUpdate {
                    node_id: 1,
                    name: "elapsed compute".into(),
                    metric_type: SqlMetricType::NsTiming,
                    value: 12_000,
                }],
            },
            SparkListenerEvent::TaskEnd {
                stage_id: 1,
                stage_attempt: 1,
                task_info: task(),
                reason: TaskEndReason::ExceptionFailure {
                    class_name: TaskEndReason::TASK_FAILURE_CLASS.into(),
                    description: "boom".into(),
                },
                metrics: TaskMetrics::default(),
                sql_metrics: vec![],
            },
            SparkListenerEvent::TaskEnd {
                stage_id: 1,
                stage_attempt: 1,
                task_info: task(),
                reason: TaskEndReason::FetchFailed {
                    executor_id: "2".into(),
                    host: "10.0.0.2".into(),
                    port: 7337,
                    shuffle_id: 3,
                    map_id: 17,
                    map_index: 4,
                    reduce_id: 5,
                    message: "connection refused".into(),
                },
                metrics: TaskMetrics::default(),
                sql_metrics: vec![],
            },
            SparkListenerEvent::TaskEnd {
                stage_id: 1,
                stage_attempt: 1,
                task_info: task(),
                reason: TaskEndReason::TaskKilled {
                    reason: "Stage 1 was cancelled".into(),
                },
                metrics: TaskMetrics::default(),
                sql_metrics: vec![],
            },
            SparkListenerEvent::StageCompleted {
                stage_info: stage(1),
            },
            SparkListenerEvent::JobEnd {
                job_id: 4,
                time: 20,
                result: JobResult::Failed("boom".into()),
            },
            SparkListenerEvent::SqlExecutionEnd {
                execution_id: 3,
                time: 20,
                error_message: Some("boom".into()),
            },
            SparkListenerEvent::ConnectSessionStarted {
                session_id: "s".into(),
                user_id: "ann".into(),
                time: 21,
            },
            SparkListenerEvent::ConnectOperationStarted {
                operation_id: "o".into(),
                session_id: "s".into(),
                user_id: "ann".into(),
                job_tag: "t".into(),
                statement: "SELECT 1".into(),
                time: 22,
            },
            SparkListenerEvent::ConnectOperationEnded {
                operation_id: "o".into(),
                job_tag: "t".into(),
                state: "FAILED".into(),
                error: Some("boom".into()),
                time: 23,
            },
            SparkListenerEvent::ConnectSessionClosed {
                session_id: "s".into(),
                time: 24,
            },
            SparkListenerEvent::ExecutorRemoved {
                executor_id: "0".into(),
                time: 21,
                reason: "gone".into(),
            },
            SparkListenerEvent::ApplicationEnd { time: 30 },
        ];
        for event in events {
            let json = event_to_json(&event).unwrap();
            let line = json.to_string();
            let back = event_from_json(&serde_json::from_str(&line).unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(format!("{back:?}"), format!("{event:?}"), "{line}");
        }
    }

    #[test]
    fn spark_field_names_are_used() {
        let json = event_to_json(&SparkListenerEvent::JobEnd {
            job_id: 1,
            time: 2,
            result: JobResult::Succeeded,
        })
        .unwrap();
        assert_eq!(
            json,
            json!({"Event": "SparkListenerJobEnd", "Job ID": 1, "Completion Time": 2,
                   "Job Result": {"Result": "JobSucceeded"}})
        );
    }

    #[test]
    fn unknown_events_are_skipped_and_broken_ones_named() {
        let unknown = json!({"Event": "SparkListenerBlockManagerAdded", "Timestamp": 1});
        assert!(event_from_json(&unknown).unwrap().is_none());
        assert!(event_from_json(&log_start()).unwrap().is_none());
        let broken = json!({"Event": "SparkListenerJobEnd", "Job ID": "one",
                            "Completion Time": 1, "Job Result": {"Result": "JobSucceeded"}});
        let error = event_from_json(&broken).unwrap_err().to_string();
        assert!(error.contains("\"Job ID\""), "{error}");
        assert!(event_from_json(&json!([1, 2])).is_err());
    }

    /// Any JSON value, nested a few levels, with Spark's event-log field names among the keys.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("Event".to_string()),
            Just("Reason".to_string()),
            Just("Stage ID".to_string()),
            Just("Task Info".to_string()),
            Just("Task End Reason".to_string()),
            Just("Block Manager Address".to_string()),
            Just("Port".to_string()),
            "[A-Za-z ]{1,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just("SparkListenerTaskEnd".to_string()),
                Just("SparkListenerStageSubmitted".to_string()),
                Just("FetchFailed".to_string()),
                "\\PC{0,12}",
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(key.clone(), inner, 0..8)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// An event-log line of any shape is an event, skipped, or an error naming what is
        /// missing; never a panic.
        #[test]
        fn any_event_log_line_is_read_or_refused(value in any_json()) {
            let _ = event_from_json(&value);
            if let Value::Object(mut fields) = value {
                fields.insert("Event".into(), Value::from("SparkListenerTaskEnd"));
                let _ = event_from_json(&Value::Object(fields));
            }
        }
    }
}
