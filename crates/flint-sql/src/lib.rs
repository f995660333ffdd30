//! Spark SQL's semantics on DataFusion (Spark's `catalyst`): the function registry that SQL
//! and DataFrame calls resolve Spark's function names through, Spark's SQL syntax, Spark's
//! type rules as analyzer rules, and values printed as `spark-sql` prints them.
//!
//! Driver and executors register the same functions, so a plan that calls one decodes on
//! any executor.

pub mod analyzer;
pub mod ddl;
mod display;
mod errors;
pub mod exchange;
pub mod functions;
pub mod identifiers;
pub mod names;
pub mod parser;
pub mod partition_values;
mod planner;
mod registry;
pub mod text_source;
pub mod time_window;
pub mod wider_types;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::SessionStateDefaults;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::Analyzer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;

pub use display::{HiveFormat, java_double, java_float};
pub use errors::spark_error_message;
pub use registry::{register_executor_functions, register_spark_functions};

/// A DataFusion session that plans SQL and DataFrame calls as Spark does: Spark's function
/// names and behaviour, `EXTRACT`/`SUBSTRING` as Spark's functions, Spark's literal types and
/// arithmetic (ANSI mode from `config`'s `enable_ansi_mode`).
pub fn spark_session_state(
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    extension_planners: Vec<Arc<dyn ExtensionPlanner + Send + Sync>>,
) -> Result<SessionState> {
    let (before, after) = analyzer::spark_analyzer_rules();
    let rules = before
        .into_iter()
        .chain(Analyzer::new().rules)
        .chain(after)
        .collect();
    let mut planners = SessionStateDefaults::default_expr_planners();
    planners.insert(0, Arc::new(datafusion_spark::planner::SparkFunctionPlanner));
    planners.insert(0, Arc::new(planner::SparkExprPlanner));
    // DataFusion 55's `push_down_leaf_projections` fails on a map or struct field read
    // straight over an in-memory table ("qualified field name \"?table?\".d and unqualified
    // field name d would be ambiguous"), which every PySpark `createDataFrame` is; it only
    // prunes nested fields, so it is left out.
    let optimizer_rules = datafusion::optimizer::Optimizer::new()
        .rules
        .into_iter()
        .filter(|rule| rule.name() != "push_down_leaf_projections")
        .collect();
    let physical_optimizer_rules = std::iter::once(Arc::new(exchange::KeepRequestedExchanges)
        as Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>)
    .chain(datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules)
    .collect();
    let config = if config
        .options()
        .extensions
        .get::<analyzer::FlintOptions>()
        .is_some()
    {
        config
    } else {
        config.with_option_extension(analyzer::FlintOptions::default())
    };
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_analyzer_rules(rules)
        .with_optimizer_rules(optimizer_rules)
        .with_expr_planners(planners)
        .with_type_planner(Arc::new(planner::SparkTypePlanner))
        .with_query_planner(Arc::new(SparkQueryPlanner { extension_planners }))
        .with_physical_optimizer_rules(physical_optimizer_rules)
        .build();
    register_spark_functions(&mut state)?;
    state.register_udtf("range", Arc::new(functions::table::SparkRange));
    Ok(state)
}

/// DataFusion's physical planner, with planners for Flint's own logical nodes: this crate's
/// [`partition_values::PartitionValues`] and those crates above it provide (Python's
/// `mapInPandas`, say).
struct SparkQueryPlanner {
    extension_planners: Vec<Arc<dyn ExtensionPlanner + Send + Sync>>,
}

impl std::fmt::Debug for SparkQueryPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SparkQueryPlanner({} extensions)",
            self.extension_planners.len()
        )
    }
}

#[async_trait::async_trait]
impl datafusion::execution::context::QueryPlanner for SparkQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut planners = self.extension_planners.clone();
        planners.push(Arc::new(partition_values::PartitionValuesPlanner));
        DefaultPhysicalPlanner::with_extension_planners(planners)
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}
