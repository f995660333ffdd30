//! `ExecutePlan` and `ReattachExecute` (Spark's `ExecuteHolder` and its response buffer):
//! each execution runs in its own task and appends its responses (schema, Arrow batches of
//! at most about 4 MiB, `ResultComplete`) to a buffer; a client stream reads the buffer from
//! where it stands, so a client that reattaches resumes after the last response it saw.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use futures::Stream;
use spark_connect::ExecutePlanResponse;
use spark_connect::execute_plan_response::{ArrowBatch, ResponseType, ResultComplete};
use spark_connect::plan::OpType;
use tokio::sync::Notify;

use crate::command::CommandOutcome;
use crate::error::{ConnectError, missing};
use crate::relation::Planner;
use crate::session::ConnectSession;

/// Arrow batches sent to the client stay under this many bytes (Spark's
/// `spark.connect.grpc.arrow.maxBatchSize`, 4 MiB).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The state of an execution, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionState {
    /// Planning or running.
    Running,
    /// Every response is buffered.
    Finished,
    /// It failed with an error.
    Failed,
    /// It was interrupted.
    Canceled,
}

struct Buffer {
    /// Responses not yet released, the first at index `released`.
    responses: VecDeque<ExecutePlanResponse>,
    released: usize,
    /// Every response id sent so far and its index, released or not (Spark's
    /// `responseIdToIndex`): a client reattaches after the last id it saw, which it may
    /// already have released.
    positions: std::collections::HashMap<String, usize>,
    /// The error the execution ended with, sent after the buffered responses.
    error: Option<tonic::Status>,
    state: ExecutionState,
}

/// One `ExecutePlan` operation and its buffered responses.
pub struct Execution {
    /// The client's operation id.
    pub operation_id: String,
    /// The operation's tags (`spark.addTag`), for `Interrupt`.
    pub tags: Vec<String>,
    /// What the operation does, for the UI: SQL text or the relation's kind.
    pub statement: String,
    /// When it started (ms since the epoch).
    pub start_time: u64,
    /// The job tag of every job it starts (Spark Connect's operation tag), to cancel them.
    pub job_tag: String,
    /// Whether the client can reattach (else a dropped stream interrupts it).
    reattachable: bool,
    spark: flint::SparkSession,
    buffer: Mutex<Buffer>,
    changed: Notify,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    end_time: Mutex<Option<u64>>,
    /// Client streams reading it now, and since when none has (ms since the epoch).
    attached: Mutex<(usize, Option<u64>)>,
}

/// A client stream reading an execution; when the last one goes, the execution is
/// detached (and interrupted if the client cannot reattach).
struct Attachment(Arc<Execution>);

impl Attachment {
    fn new(execution: Arc<Execution>) -> Self {
        if let Ok(mut attached) = execution.attached.lock() {
            attached.0 += 1;
            attached.1 = None;
        }
        Attachment(execution)
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let execution = &self.0;
        let detached = match execution.attached.lock() {
            Ok(mut attached) => {
                attached.0 = attached.0.saturating_sub(1);
                if attached.0 == 0 {
                    attached.1 = Some(flint_common::now_millis());
                }
                attached.0 == 0
            }
            Err(_) => false,
        };
        if detached && !execution.reattachable && execution.state() == ExecutionState::Running {
            tracing::info!(
                operation_id = %execution.operation_id,
                "Spark Connect client went away; interrupting its operation"
            );
            execution.interrupt();
        }
    }
}

impl Execution {
    fn new(
        session: &ConnectSession,
        operation_id: String,
        tags: Vec<String>,
        statement: String,
        reattachable: bool,
    ) -> Self {
        Execution {
            job_tag: format!(
                "SparkConnect_OperationTag_User_{}_Session_{}_Operation_{operation_id}",
                session.user_id, session.session_id
            ),
            reattachable,
            spark: session.spark.clone(),
            attached: Mutex::new((0, Some(flint_common::now_millis()))),
            operation_id,
            tags,
            statement,
            start_time: flint_common::now_millis(),
            buffer: Mutex::new(Buffer {
                responses: VecDeque::new(),
                released: 0,
                positions: std::collections::HashMap::new(),
                error: None,
                state: ExecutionState::Running,
            }),
            changed: Notify::new(),
            task: Mutex::new(None),
            end_time: Mutex::new(None),
        }
    }

    /// When it ended (ms since the epoch), if it did.
    pub fn end_time(&self) -> Option<u64> {
        self.end_time.lock().ok().and_then(|end| *end)
    }

    /// Where the execution stands.
    pub fn state(&self) -> ExecutionState {
        self.buffer
            .lock()
            .map(|b| b.state)
            .unwrap_or(ExecutionState::Failed)
    }

    /// Appends a response, unless the execution already ended (an interrupted task runs on
    /// until its next await).
    fn push(&self, response: ExecutePlanResponse) {
        if let Ok(mut buffer) = self.buffer.lock()
            && buffer.state == ExecutionState::Running
        {
            let index = buffer.released + buffer.responses.len();
            buffer.positions.insert(response.response_id.clone(), index);
            buffer.responses.push_back(response);
        }
        self.changed.notify_waiters();
    }

    fn finish(&self, result: Result<(), ConnectError>) {
        let mut ended = None;
        if let Ok(mut buffer) = self.buffer.lock()
            && buffer.state == ExecutionState::Running
        {
            match result {
                Ok(()) => {
                    buffer.state = ExecutionState::Finished;
                    ended = Some(("FINISHED", None));
                }
                Err(error) => {
                    let state = if matches!(error, ConnectError::Interrupted) {
                        ExecutionState::Canceled
                    } else {
                        ExecutionState::Failed
                    };
                    buffer.state = state;
                    tracing::info!(operation_id = %self.operation_id, "Spark Connect operation failed: {error}");
                    ended = Some(match state {
                        ExecutionState::Canceled => ("CANCELED", None),
                        _ => ("FAILED", Some(error.to_string())),
                    });
                    buffer.error = Some(error.to_status());
                }
            }
        }
        if let Some((state, error)) = ended {
            self.spark
                .post_event(flint::SparkListenerEvent::ConnectOperationEnded {
                    operation_id: self.operation_id.clone(),
                    job_tag: self.job_tag.clone(),
                    state: state.to_string(),
                    error,
                    time: flint_common::now_millis(),
                });
        }
        let now = flint_common::now_millis();
        if let Ok(mut end) = self.end_time.lock()
            && end.is_none()
        {
            *end = Some(now);
            tracing::debug!(
                operation_id = %self.operation_id,
                duration_ms = now.saturating_sub(self.start_time),
                "Spark Connect operation ended: {}",
                self.statement
            );
        }
        self.changed.notify_waiters();
    }

    /// Stops the execution: its jobs are cancelled (their tasks killed on the executors) and
    /// its task stopped; a waiting client gets `OPERATION_CANCELED`.
    pub fn interrupt(&self) {
        self.finish(Err(ConnectError::Interrupted));
        let jobs = self.spark.cancel_jobs_with_tag(&self.job_tag);
        if !jobs.is_empty() {
            tracing::info!(
                operation_id = %self.operation_id,
                "Cancelled jobs {jobs:?} of an interrupted Spark Connect operation"
            );
        }
        // Whatever the task does next (planning, another job) does not happen.
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }

    /// Since when no client stream has read it, if none does now.
    pub fn detached_since(&self) -> Option<u64> {
        self.attached.lock().ok().and_then(|attached| attached.1)
    }

    /// Drops buffered responses up to and including `response_id` (`ReleaseUntil`).
    pub fn release_until(&self, response_id: &str) {
        if let Ok(mut buffer) = self.buffer.lock()
            && let Some(position) = buffer
                .responses
                .iter()
                .position(|r| r.response_id == response_id)
        {
            buffer.responses.drain(..=position);
            buffer.released += position + 1;
        }
    }

    /// The responses from index `next` on (counting released ones), waiting for more while
    /// the execution runs; an execution that failed ends the stream with its error.
    pub fn stream(
        self: Arc<Self>,
        next: usize,
    ) -> impl Stream<Item = Result<ExecutePlanResponse, tonic::Status>> + Send + 'static {
        futures::stream::unfold(
            (Attachment::new(self), next, false),
            |(attachment, mut next, done)| async move {
                if done {
                    return None;
                }
                let execution = Arc::clone(&attachment.0);
                let waiter = Arc::clone(&execution);
                loop {
                    let notified = waiter.changed.notified();
                    tokio::pin!(notified);
                    // Registered before the buffer is read, so no notification is missed.
                    notified.as_mut().enable();
                    {
                        let buffer = execution.buffer.lock().ok()?;
                        next = next.max(buffer.released);
                        if let Some(response) = buffer.responses.get(next - buffer.released) {
                            let response = response.clone();
                            drop(buffer);
                            // `ResultComplete` is the last response: the stream ends with it, so
                            // the status follows at once. (A PySpark client exiting reads up to
                            // `ResultComplete` and no further; grpcio can deadlock at interpreter
                            // exit if a call's status arrives while the interpreter finalizes.)
                            let last = matches!(
                                response.response_type,
                                Some(ResponseType::ResultComplete(_))
                            );
                            return Some((Ok(response), (attachment, next + 1, last)));
                        }
                        if buffer.state != ExecutionState::Running {
                            let error = buffer.error.clone()?;
                            drop(buffer);
                            return Some((Err(error), (attachment, next, true)));
                        }
                    }
                    notified.await;
                }
            },
        )
    }

    /// The index just after the response with this id, for `ReattachExecute`.
    pub fn position_after(&self, response_id: &str) -> Option<usize> {
        let buffer = self.buffer.lock().ok()?;
        buffer.positions.get(response_id).map(|index| index + 1)
    }
}

/// Starts an execution of `request` for `session` and registers it.
pub fn start(
    session: Arc<ConnectSession>,
    request: spark_connect::ExecutePlanRequest,
) -> Result<Arc<Execution>, ConnectError> {
    let operation_id = match request.operation_id.as_deref() {
        Some(id) if !id.is_empty() => {
            uuid::Uuid::parse_str(id).map_err(|_| {
                ConnectError::InvalidPlan(format!(
                    "[INVALID_HANDLE.FORMAT] The handle {id} is invalid. Handle must be an UUID string of the format '00112233-4455-6677-8899-aabbccddeeff'. SQLSTATE: HY000"
                ))
            })?;
            id.to_string()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    };
    // A client that cannot reattach sends no ReleaseExecute: its execution is forgotten once
    // it ends (the open stream still holds what it has to send).
    let reattachable = request.request_options.iter().any(|option| {
        matches!(
            &option.request_option,
            Some(spark_connect::execute_plan_request::request_option::RequestOption::ReattachOptions(
                options
            )) if options.reattachable
        )
    });
    let plan = request
        .plan
        .ok_or_else(|| missing("ExecutePlanRequest.plan"))?;
    let op = plan.op_type.ok_or_else(|| missing("Plan.op_type"))?;
    let execution = Arc::new(Execution::new(
        &session,
        operation_id,
        request.tags.clone(),
        describe(&op),
        reattachable,
    ));
    session.add_execution(Arc::clone(&execution))?;
    session
        .spark
        .post_event(flint::SparkListenerEvent::ConnectOperationStarted {
            operation_id: execution.operation_id.clone(),
            session_id: session.session_id.clone(),
            user_id: session.user_id.clone(),
            job_tag: execution.job_tag.clone(),
            statement: execution.statement.clone(),
            time: execution.start_time,
        });
    let runner = Arc::clone(&execution);
    let handle = tokio::spawn(async move {
        // Ends the execution even if planning panics, so no client waits forever.
        struct Ending(Arc<Execution>);
        impl Drop for Ending {
            fn drop(&mut self) {
                self.0.finish(Err(ConnectError::Unsupported(
                    "the operation stopped unexpectedly; this is a Flint bug".into(),
                )));
            }
        }
        let ending = Ending(Arc::clone(&runner));
        let tags = vec![runner.job_tag.clone()];
        let result = flint::with_job_tags(tags, run(&session, &runner, op)).await;
        runner.finish(result);
        drop(ending);
        if !reattachable {
            session.remove_execution(&runner.operation_id);
        }
    });
    if let Ok(mut task) = execution.task.lock() {
        *task = Some(handle.abort_handle());
    }
    Ok(execution)
}

/// The statement an operation runs, as the UI and job descriptions name it.
fn describe(op: &OpType) -> String {
    use spark_connect::command::CommandType;
    use spark_connect::relation::RelType;
    match op {
        OpType::Root(relation) => match &relation.rel_type {
            Some(RelType::Sql(sql)) => sql.query.clone(),
            Some(other) => crate::variant_name(other),
            None => "relation".into(),
        },
        OpType::Command(command) => match &command.command_type {
            Some(CommandType::SqlCommand(sql)) => match &sql.input {
                Some(spark_connect::Relation {
                    rel_type: Some(RelType::Sql(query)),
                    ..
                }) => query.query.clone(),
                #[allow(deprecated)]
                _ => sql.sql.clone(),
            },
            Some(other) => crate::variant_name(other),
            None => "command".into(),
        },
        OpType::CompressedOperation(_) => "compressed operation".into(),
    }
}

/// The action a root relation stands for in job descriptions.
fn action_of(relation: &spark_connect::Relation) -> &'static str {
    use spark_connect::relation::RelType;
    match &relation.rel_type {
        Some(RelType::ShowString(_)) => "showString",
        Some(RelType::Tail(_)) => "tail",
        Some(RelType::Aggregate(aggregate)) if aggregate.grouping_expressions.is_empty() => "count",
        _ => "collect",
    }
}

async fn run(
    session: &ConnectSession,
    execution: &Execution,
    op: OpType,
) -> Result<(), ConnectError> {
    let response = |kind: Option<ResponseType>| ExecutePlanResponse {
        session_id: session.session_id.clone(),
        server_side_session_id: session.server_side_session_id.clone(),
        operation_id: execution.operation_id.clone(),
        response_id: uuid::Uuid::new_v4().to_string(),
        metrics: None,
        observed_metrics: Vec::new(),
        schema: None,
        response_type: kind,
    };
    let mut planner = Planner::new(&session.spark);
    match op {
        OpType::Root(relation) => {
            let action = action_of(&relation);
            let frame = planner.dataframe(&relation, &execution.statement).await?;
            let batches = frame.collect_as(action).await?;
            let time_zone = session.spark.session_time_zone();
            // The rows' own schema: the plan's, after Spark's type rules ran on it.
            let rows_schema = batches
                .first()
                .map(|batch| batch.schema())
                .unwrap_or_else(|| frame.schema());
            let rows_schema = crate::types::with_names_of(&rows_schema, &frame.schema());
            let schema = client_schema(&rows_schema, &time_zone);
            let zone = flint_sql::functions::timezone::zone_named(&time_zone)?;
            let mut first = response(None);
            first.schema = Some(crate::types::schema_to_connect(&rows_schema));
            execution.push(first);
            let mut sent = 0;
            let mut offset = 0i64;
            for batch in &batches {
                let batch = client_batch(batch, &schema, &zone)?;
                for chunk in chunks(&batch) {
                    let rows = chunk.num_rows() as i64;
                    let data = ipc_stream(&schema, std::slice::from_ref(&chunk))?;
                    execution.push(response(Some(ResponseType::ArrowBatch(ArrowBatch {
                        row_count: rows,
                        data: data.into(),
                        start_offset: Some(offset),
                        chunk_index: None,
                        num_chunks_in_batch: None,
                    }))));
                    offset += rows;
                    sent += 1;
                }
            }
            if sent == 0 {
                // At least one batch, even for no rows: the client reads the schema from it.
                let data = ipc_stream(&schema, &[RecordBatch::new_empty(Arc::clone(&schema))])?;
                execution.push(response(Some(ResponseType::ArrowBatch(ArrowBatch {
                    row_count: 0,
                    data: data.into(),
                    start_offset: Some(0),
                    chunk_index: None,
                    num_chunks_in_batch: None,
                }))));
            }
        }
        OpType::Command(command) => {
            if let CommandOutcome::Response(kind) =
                crate::command::run(&mut planner, &command).await?
            {
                execution.push(response(Some(*kind)));
            }
        }
        OpType::CompressedOperation(_) => {
            return Err(ConnectError::Unsupported(
                "compressed plans: Flint answers spark.connect.session.planCompression.threshold=-1".into(),
            ));
        }
    }
    execution.push(response(Some(ResponseType::ResultComplete(
        ResultComplete {},
    ))));
    Ok(())
}

/// Slices a batch into pieces whose Arrow buffers stay under [`MAX_BATCH_BYTES`].
fn chunks(batch: &RecordBatch) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    let size = batch.get_array_memory_size();
    if rows <= 1 || size <= MAX_BATCH_BYTES {
        return vec![batch.clone()];
    }
    let per_chunk = (rows * MAX_BATCH_BYTES / size).max(1);
    (0..rows)
        .step_by(per_chunk)
        .map(|start| batch.slice(start, per_chunk.min(rows - start)))
        .collect()
}

/// The schema the client receives: timestamps in microseconds labelled with the session's
/// time zone, as Spark sends them, and plain strings and binaries (the client does not read
/// Arrow's view types).
fn client_schema(schema: &Schema, time_zone: &str) -> SchemaRef {
    let schema = crate::types::with_spark_names(schema);
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Timestamp(_, _) => field.as_ref().clone().with_data_type(
                DataType::Timestamp(TimeUnit::Microsecond, Some(time_zone.into())),
            ),
            other => field.as_ref().clone().with_data_type(client_type(other)),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The type the client reads for `data_type`, at any depth: Spark has no unsigned types
/// (DataFusion's `row_number` is one), and the client reads no Arrow view or large types.
/// Timestamps inside nested values keep their type.
fn client_type(data_type: &DataType) -> DataType {
    let field = |f: &Arc<Field>| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(client_type(f.data_type())),
        )
    };
    match data_type {
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => DataType::List(field(f)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        DataType::Map(entries, sorted) => DataType::Map(field(entries), *sorted),
        other => other.clone(),
    }
}

/// `batch` as the client reads it (`schema`): Flint's wall-clock timestamps become the
/// instants they are in the session time zone `zone`.
fn client_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
    zone: &flint_sql::functions::timezone::Zone,
) -> Result<RecordBatch, ConnectError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(
            |(column, field)| match (column.data_type(), field.data_type()) {
                (DataType::Timestamp(_, from_zone), DataType::Timestamp(_, to_zone)) => {
                    let instants = match from_zone {
                        None => flint_sql::functions::timezone::wall_to_instants(column, zone)?,
                        Some(_) => datafusion::arrow::compute::cast(
                            column,
                            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                        )?,
                    };
                    let values = instants
                        .as_primitive::<TimestampMicrosecondType>()
                        .clone()
                        .with_timezone_opt(to_zone.clone());
                    Ok(Arc::new(values) as ArrayRef)
                }
                (from, to) if from != to => Ok(datafusion::arrow::compute::cast(column, to)?),
                _ => Ok(Arc::clone(column)),
            },
        )
        .collect::<Result<Vec<_>, datafusion::error::DataFusionError>>()?;
    // A result without columns still has rows (`df.select().take(1)`).
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(
        RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
            .map_err(datafusion::error::DataFusionError::from)?,
    )
}

/// Batches as one Arrow IPC stream (schema, then the batches), as the client reads them.
pub fn ipc_stream(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ConnectError> {
    let encode = || -> Result<Vec<u8>, datafusion::arrow::error::ArrowError> {
        let mut writer = datafusion::arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.into_inner()
    };
    encode().map_err(|e| ConnectError::from(datafusion::error::DataFusionError::from(e)))
}
