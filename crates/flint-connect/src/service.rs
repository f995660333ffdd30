//! `SparkConnectService` (Spark's `SparkConnectService`): the gRPC methods, each a thin shell
//! over sessions, executions, the planner and the config table.

use std::pin::Pin;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use futures::Stream;
use spark_connect::analyze_plan_request::Analyze;
use spark_connect::analyze_plan_response as answer;
use spark_connect::*;
use tonic::{Request, Response, Status};

use crate::error::{ConnectError, missing};
use crate::generated::spark_connect_service_server::SparkConnectService;
use crate::relation::Planner;
use crate::session::{ConnectSession, SessionManager};

/// The Spark version Flint's Connect endpoint speaks (the `pyspark-client` it pairs with).
pub const SPARK_VERSION: &str = "4.2.0";

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ExecutePlanResponse, Status>> + Send>>;

/// The service of one driver's Connect endpoint.
pub struct ConnectService {
    sessions: Arc<SessionManager>,
}

impl ConnectService {
    /// A service over the sessions of one application.
    pub fn new(sessions: Arc<SessionManager>) -> Self {
        ConnectService { sessions }
    }

    /// An open session, for calls that act on existing operations: a `ReleaseExecute` sent
    /// after `spark.stop()` must not open a new session.
    fn existing(&self, session_id: &str) -> Result<Arc<ConnectSession>, Status> {
        self.sessions.get(session_id).ok_or_else(|| {
            status(ConnectError::InvalidPlan(format!(
                "[INVALID_HANDLE.SESSION_NOT_FOUND] The handle {session_id} is invalid. Session not found. SQLSTATE: HY000"
            )))
        })
    }

    fn session(
        &self,
        session_id: &str,
        user: Option<&UserContext>,
        observed: Option<&str>,
    ) -> Result<Arc<ConnectSession>, Status> {
        let user_id = user.map(|u| u.user_id.as_str()).unwrap_or_default();
        self.sessions
            .get_or_create(session_id, user_id, observed)
            .map_err(|e| e.to_status())
    }
}

fn status(error: ConnectError) -> Status {
    error.to_status()
}

/// Spark's `printSchema` text.
fn tree_string(schema: &Schema, level: Option<i32>) -> String {
    fn field_line(
        out: &mut String,
        depth: usize,
        name: &str,
        data_type: &DataType,
        nullable: bool,
        max: usize,
    ) {
        if depth > max {
            return;
        }
        let indent = " |   ".repeat(depth - 1);
        let type_name = match data_type {
            DataType::Struct(_) => "struct".to_string(),
            DataType::List(_) | DataType::LargeList(_) => "array".to_string(),
            DataType::Map(_, _) => "map".to_string(),
            other => flint_sql::functions::spark_type_name(other),
        };
        out.push_str(&format!(
            "{indent} |-- {name}: {type_name} (nullable = {nullable})\n"
        ));
        match data_type {
            DataType::Struct(fields) => {
                for field in fields {
                    field_line(
                        out,
                        depth + 1,
                        field.name(),
                        field.data_type(),
                        field.is_nullable(),
                        max,
                    );
                }
            }
            DataType::List(field) | DataType::LargeList(field) => {
                let indent = " |   ".repeat(depth);
                if depth < max {
                    out.push_str(&format!(
                        "{indent} |-- element: {} (containsNull = {})\n",
                        element_name(field.data_type()),
                        field.is_nullable()
                    ));
                }
            }
            _ => {}
        }
    }
    fn element_name(data_type: &DataType) -> String {
        match data_type {
            DataType::Struct(_) => "struct".into(),
            other => flint_sql::functions::spark_type_name(other),
        }
    }
    let max = level
        .filter(|l| *l > 0)
        .map(|l| l as usize)
        .unwrap_or(usize::MAX);
    let mut out = String::from("root\n");
    for field in schema.fields() {
        field_line(
            &mut out,
            1,
            field.name(),
            field.data_type(),
            field.is_nullable(),
            max,
        );
    }
    out
}

/// The relation of a plan given to `AnalyzePlan`.
fn root(plan: Option<&Plan>) -> Result<&Relation, ConnectError> {
    match plan.and_then(|p| p.op_type.as_ref()) {
        Some(plan::OpType::Root(relation)) => Ok(relation),
        Some(_) => Err(ConnectError::InvalidPlan(
            "a relation is needed here, not a command".into(),
        )),
        None => Err(missing("Plan.op_type")),
    }
}

/// The analyzed logical plan of a relation: Spark's types, as an action would see them.
async fn analyzed(
    session: &ConnectSession,
    relation: &Relation,
) -> Result<datafusion::logical_expr::LogicalPlan, ConnectError> {
    let mut planner = Planner::new(&session.spark);
    let frame = planner.dataframe(relation, "analyze").await?;
    Ok(frame.datafusion().logical_plan().clone())
}

/// The relation an analysis request names.
fn relation_of(relation: Option<&Relation>) -> Result<&Relation, ConnectError> {
    relation.ok_or_else(|| crate::error::missing("relation"))
}

/// The DataFrame of `relation` as the planner builds it before analysis: what later
/// queries holding the same relation are planned into, so a cache of it is found there.
async fn frame_of(
    session: &ConnectSession,
    relation: &Relation,
) -> Result<flint::DataFrame, ConnectError> {
    let mut planner = Planner::new(&session.spark);
    let df = planner.relation_to_cache(relation).await?;
    Ok(flint::DataFrame::from_datafusion(
        &session.spark,
        df,
        "persist",
    ))
}

/// A client's storage level as Flint's: memory and disk as asked, one copy kept.
pub(crate) fn flint_level(level: &StorageLevel) -> Result<flint::StorageLevel, ConnectError> {
    if level.use_off_heap {
        return Err(ConnectError::Unsupported(
            "OFF_HEAP storage levels (Flint keeps cached blocks on heap or on disk)".into(),
        ));
    }
    Ok(flint::StorageLevel {
        use_disk: level.use_disk,
        use_memory: level.use_memory,
        replication: level.replication.max(1) as u32,
    })
}

/// Flint's storage level as the client's (`deserialized` where blocks are kept in memory).
fn connect_level(level: flint::StorageLevel) -> StorageLevel {
    StorageLevel {
        use_disk: level.use_disk,
        use_memory: level.use_memory,
        use_off_heap: false,
        deserialized: level.use_memory,
        replication: level.replication as i32,
    }
}

async fn analyze(
    session: &ConnectSession,
    analyze: Analyze,
) -> Result<answer::Result, ConnectError> {
    Ok(match analyze {
        Analyze::SparkVersion(_) => answer::Result::SparkVersion(answer::SparkVersion {
            version: SPARK_VERSION.into(),
        }),
        Analyze::Schema(request) => {
            let plan = analyzed(session, root(request.plan.as_ref())?).await?;
            answer::Result::Schema(answer::Schema {
                schema: Some(crate::types::schema_to_connect(plan.schema().as_arrow())),
            })
        }
        Analyze::TreeString(request) => {
            let plan = analyzed(session, root(request.plan.as_ref())?).await?;
            answer::Result::TreeString(answer::TreeString {
                tree_string: tree_string(plan.schema().as_arrow(), request.level),
            })
        }
        Analyze::Explain(request) => {
            let relation = root(request.plan.as_ref())?;
            let mut planner = Planner::new(&session.spark);
            let df = planner.relation(relation).await?;
            let extended =
                request.explain_mode != analyze_plan_request::explain::ExplainMode::Simple as i32;
            let logical = df.logical_plan().display_indent().to_string();
            let physical = df.clone().create_physical_plan().await?;
            let physical = datafusion::physical_plan::displayable(physical.as_ref())
                .indent(true)
                .to_string();
            let text = if extended {
                format!(
                    "== Analyzed Logical Plan ==\n{logical}\n\n== Optimized Logical Plan ==\n{}\n\n== Physical Plan ==\n{physical}\n",
                    df.into_optimized_plan()?.display_indent()
                )
            } else {
                format!("== Physical Plan ==\n{physical}\n")
            };
            answer::Result::Explain(answer::Explain {
                explain_string: text,
            })
        }
        Analyze::IsLocal(request) => {
            let relation = root(request.plan.as_ref())?;
            answer::Result::IsLocal(answer::IsLocal {
                is_local: matches!(relation.rel_type, Some(relation::RelType::LocalRelation(_))),
            })
        }
        Analyze::IsStreaming(_) => answer::Result::IsStreaming(answer::IsStreaming {
            is_streaming: false,
        }),
        Analyze::InputFiles(request) => {
            let mut files = Vec::new();
            input_files(root(request.plan.as_ref())?, &mut files);
            answer::Result::InputFiles(answer::InputFiles { files })
        }
        Analyze::DdlParse(request) => {
            let parsed = flint_sql::ddl::parse_ddl(&request.ddl_string)
                .map_err(|e| ConnectError::Parse(e.to_string()))?;
            answer::Result::DdlParse(answer::DdlParse {
                parsed: Some(crate::types::to_connect(&parsed)),
            })
        }
        Analyze::JsonToDdl(request) => {
            let parsed = crate::types::from_json_schema(&request.json_string)?;
            let ddl = match &parsed {
                DataType::Struct(fields) => fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}",
                            f.name(),
                            flint_sql::functions::spark_type_name(f.data_type())
                                .to_ascii_uppercase()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => flint_sql::functions::spark_type_name(other),
            };
            answer::Result::JsonToDdl(answer::JsonToDdl { ddl_string: ddl })
        }
        Analyze::SameSemantics(request) => {
            let target = analyzed(session, root(request.target_plan.as_ref())?).await?;
            let other = analyzed(session, root(request.other_plan.as_ref())?).await?;
            answer::Result::SameSemantics(answer::SameSemantics {
                result: canonical(target) == canonical(other),
            })
        }
        Analyze::SemanticHash(request) => {
            use std::hash::{Hash, Hasher};
            let plan = analyzed(session, root(request.plan.as_ref())?).await?;
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            canonical(plan).hash(&mut hasher);
            answer::Result::SemanticHash(answer::SemanticHash {
                result: hasher.finish() as i32,
            })
        }
        Analyze::Persist(request) => {
            let frame = frame_of(session, relation_of(request.relation.as_ref())?).await?;
            let level = match request.storage_level {
                Some(level) => flint_level(&level)?,
                None => flint::StorageLevel::MEMORY_AND_DISK,
            };
            frame.persist(level);
            answer::Result::Persist(answer::Persist {})
        }
        Analyze::Unpersist(request) => {
            frame_of(session, relation_of(request.relation.as_ref())?)
                .await?
                .unpersist();
            answer::Result::Unpersist(answer::Unpersist {})
        }
        Analyze::GetStorageLevel(request) => {
            let level = frame_of(session, relation_of(request.relation.as_ref())?)
                .await?
                .storage_level();
            answer::Result::GetStorageLevel(answer::GetStorageLevel {
                storage_level: Some(connect_level(level)),
            })
        }
    })
}

/// The paths a relation reads (`inputFiles`).
fn input_files(relation: &Relation, files: &mut Vec<String>) {
    use relation::RelType;
    if let Some(RelType::Read(read)) = &relation.rel_type
        && let Some(read::ReadType::DataSource(source)) = &read.read_type
    {
        for path in &source.paths {
            let listed = std::fs::read_dir(path)
                .map(|entries| {
                    let mut found: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| {
                            p.is_file()
                                && !p
                                    .file_name()
                                    .is_some_and(|n| n.to_string_lossy().starts_with(['_', '.']))
                        })
                        .map(|p| format!("file://{}", p.display()))
                        .collect();
                    found.sort();
                    found
                })
                .unwrap_or_else(|_| vec![format!("file://{path}")]);
            files.extend(listed);
        }
    }
    // Inputs of the relations most programs chain; deeper kinds read nothing more here.
    let children: Vec<&Relation> = match &relation.rel_type {
        Some(RelType::Project(p)) => p.input.as_deref().into_iter().collect(),
        Some(RelType::Filter(f)) => f.input.as_deref().into_iter().collect(),
        Some(RelType::Sort(s)) => s.input.as_deref().into_iter().collect(),
        Some(RelType::Limit(l)) => l.input.as_deref().into_iter().collect(),
        Some(RelType::Aggregate(a)) => a.input.as_deref().into_iter().collect(),
        Some(RelType::WithColumns(w)) => w.input.as_deref().into_iter().collect(),
        Some(RelType::Join(j)) => j
            .left
            .as_deref()
            .into_iter()
            .chain(j.right.as_deref())
            .collect(),
        Some(RelType::SetOp(s)) => s
            .left_input
            .as_deref()
            .into_iter()
            .chain(s.right_input.as_deref())
            .collect(),
        _ => Vec::new(),
    };
    for child in children {
        input_files(child, files);
    }
}

#[tonic::async_trait]
impl SparkConnectService for ConnectService {
    type ExecutePlanStream = ResponseStream;
    type ReattachExecuteStream = ResponseStream;

    async fn execute_plan(
        &self,
        request: Request<ExecutePlanRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let request = request.into_inner();
        let session = self.session(
            &request.session_id,
            request.user_context.as_ref(),
            request.client_observed_server_side_session_id.as_deref(),
        )?;
        let execution = crate::execute::start(session, request).map_err(status)?;
        Ok(Response::new(Box::pin(execution.stream(0))))
    }

    async fn analyze_plan(
        &self,
        request: Request<AnalyzePlanRequest>,
    ) -> Result<Response<AnalyzePlanResponse>, Status> {
        let request = request.into_inner();
        let session = self.session(
            &request.session_id,
            request.user_context.as_ref(),
            request.client_observed_server_side_session_id.as_deref(),
        )?;
        let kind = request
            .analyze
            .ok_or_else(|| status(missing("AnalyzePlanRequest.analyze")))?;
        let result = analyze(&session, kind).await.map_err(status)?;
        Ok(Response::new(AnalyzePlanResponse {
            session_id: session.session_id.clone(),
            server_side_session_id: session.server_side_session_id.clone(),
            result: Some(result),
        }))
    }

    async fn config(
        &self,
        request: Request<ConfigRequest>,
    ) -> Result<Response<ConfigResponse>, Status> {
        let request = request.into_inner();
        let session = self.session(
            &request.session_id,
            request.user_context.as_ref(),
            request.client_observed_server_side_session_id.as_deref(),
        )?;
        let operation = request
            .operation
            .and_then(|o| o.op_type)
            .ok_or_else(|| status(missing("ConfigRequest.operation")))?;
        let (pairs, warnings) = crate::config::operate(&session, &operation).map_err(status)?;
        Ok(Response::new(ConfigResponse {
            session_id: session.session_id.clone(),
            server_side_session_id: session.server_side_session_id.clone(),
            pairs,
            warnings,
        }))
    }

    async fn add_artifacts(
        &self,
        _request: Request<tonic::Streaming<AddArtifactsRequest>>,
    ) -> Result<Response<AddArtifactsResponse>, Status> {
        Err(Status::unimplemented(
            "AddArtifacts: Flint does not take artifacts (addPyFile, addArtifacts) yet; ship files with flint submit --py-files",
        ))
    }

    async fn artifact_status(
        &self,
        request: Request<ArtifactStatusesRequest>,
    ) -> Result<Response<ArtifactStatusesResponse>, Status> {
        let request = request.into_inner();
        let session = self.existing(&request.session_id)?;
        let statuses = request
            .names
            .into_iter()
            .map(|name| {
                (
                    name,
                    artifact_statuses_response::ArtifactStatus { exists: false },
                )
            })
            .collect();
        Ok(Response::new(ArtifactStatusesResponse {
            session_id: session.session_id.clone(),
            server_side_session_id: session.server_side_session_id.clone(),
            statuses,
        }))
    }

    async fn interrupt(
        &self,
        request: Request<InterruptRequest>,
    ) -> Result<Response<InterruptResponse>, Status> {
        use interrupt_request::{Interrupt, InterruptType};
        let request = request.into_inner();
        let session = self.existing(&request.session_id)?;
        let kind =
            InterruptType::try_from(request.interrupt_type).unwrap_or(InterruptType::Unspecified);
        let mut interrupted = Vec::new();
        for execution in session.executions() {
            let chosen = match (kind, &request.interrupt) {
                (InterruptType::All, _) => true,
                (InterruptType::Tag, Some(Interrupt::OperationTag(tag))) => {
                    execution.tags.contains(tag)
                }
                (InterruptType::OperationId, Some(Interrupt::OperationId(id))) => {
                    &execution.operation_id == id
                }
                _ => false,
            };
            if chosen && execution.state() == crate::execute::ExecutionState::Running {
                execution.interrupt();
                interrupted.push(execution.operation_id.clone());
            }
        }
        Ok(Response::new(InterruptResponse {
            session_id: session.session_id.clone(),
            server_side_session_id: session.server_side_session_id.clone(),
            interrupted_ids: interrupted,
        }))
    }

    async fn reattach_execute(
        &self,
        request: Request<ReattachExecuteRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let request = request.into_inner();
        let session = self.session(
            &request.session_id,
            request.user_context.as_ref(),
            request.client_observed_server_side_session_id.as_deref(),
        )?;
        let execution = session.execution(&request.operation_id).ok_or_else(|| {
            status(ConnectError::InvalidPlan(format!(
                "[INVALID_HANDLE.OPERATION_NOT_FOUND] The handle {} is invalid. Operation not found. SQLSTATE: HY000",
                request.operation_id
            )))
        })?;
        let next = match request.last_response_id.as_deref() {
            Some(id) => execution.position_after(id).ok_or_else(|| {
                status(ConnectError::InvalidPlan(format!(
                    "[INVALID_CURSOR.POSITION_NOT_AVAILABLE] The cursor is invalid. The cursor position id {id} has already been released. SQLSTATE: HY109"
                )))
            })?,
            None => 0,
        };
        Ok(Response::new(Box::pin(execution.stream(next))))
    }

    async fn release_execute(
        &self,
        request: Request<ReleaseExecuteRequest>,
    ) -> Result<Response<ReleaseExecuteResponse>, Status> {
        use release_execute_request::Release;
        let request = request.into_inner();
        let session = self.existing(&request.session_id)?;
        match &request.release {
            Some(Release::ReleaseAll(_)) | None => {
                session.remove_execution(&request.operation_id);
            }
            Some(Release::ReleaseUntil(until)) => {
                if let Some(execution) = session.execution(&request.operation_id) {
                    execution.release_until(&until.response_id);
                }
            }
        }
        Ok(Response::new(ReleaseExecuteResponse {
            session_id: session.session_id.clone(),
            server_side_session_id: session.server_side_session_id.clone(),
            operation_id: Some(request.operation_id),
        }))
    }

    async fn release_session(
        &self,
        request: Request<ReleaseSessionRequest>,
    ) -> Result<Response<ReleaseSessionResponse>, Status> {
        let request = request.into_inner();
        let released = self.sessions.release(&request.session_id);
        Ok(Response::new(ReleaseSessionResponse {
            session_id: request.session_id,
            server_side_session_id: released
                .map(|s| s.server_side_session_id.clone())
                .unwrap_or_default(),
        }))
    }

    async fn fetch_error_details(
        &self,
        _request: Request<FetchErrorDetailsRequest>,
    ) -> Result<Response<FetchErrorDetailsResponse>, Status> {
        Err(Status::unimplemented(
            "FetchErrorDetails: Flint's errors carry their details in ErrorInfo",
        ))
    }

    async fn clone_session(
        &self,
        _request: Request<CloneSessionRequest>,
    ) -> Result<Response<CloneSessionResponse>, Status> {
        Err(Status::unimplemented(
            "CloneSession is not supported by Flint yet",
        ))
    }

    async fn get_status(
        &self,
        _request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        Err(Status::unimplemented(
            "GetStatus is not supported by Flint yet",
        ))
    }
}

/// A plan's text with the names its aliases give left out: Spark's canonical form, in which
/// `withColumn("col1", id * 2)` and `withColumn("col0", id * 2)` compute the same.
fn canonical(plan: datafusion::logical_expr::LogicalPlan) -> String {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let written = plan.display_indent().to_string();
    let unaliased = plan.transform_up(|node| {
        node.map_expressions(|expr| {
            expr.transform_up(|e| match e {
                datafusion::logical_expr::Expr::Alias(alias) => Ok(Transformed::yes(*alias.expr)),
                other => Ok(Transformed::no(other)),
            })
        })
    });
    match unaliased {
        Ok(plan) => plan.data.display_indent().to_string(),
        Err(_) => written,
    }
}
