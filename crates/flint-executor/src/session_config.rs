//! The DataFusion settings of every Flint planner and executor: driver and executors must
//! agree, or a plan cut into tasks behaves differently from the plan that was cut.

use datafusion::common::config::{ConfigOptions, MapKeyDedupPolicy};
use datafusion::prelude::SessionConfig;
use flint_conf::{ConfError, SparkConf, keys};

/// DataFusion settings every Flint planner and executor uses.
pub fn flint_session_config(shuffle_partitions: usize, broadcast_threshold: u64) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_target_partitions(shuffle_partitions)
        .with_information_schema(true);
    let options = config.options_mut();
    // Spark reads `1.5` as a decimal (`decimal(2,1)`), not a double.
    options.sql_parser.parse_float_as_decimal = true;
    // Spark sorts NULL as the smallest value: first in ascending order, last in descending
    // (DataFusion's default is Postgres's, the other way round).
    options.sql_parser.default_null_ordering = "nulls_min".to_string();
    // Dynamic filters connect operators through shared state within one process; across
    // tasks they would wait for partitions another task builds, so Flint turns them off.
    options.optimizer.enable_dynamic_filter_pushdown = false;
    options.optimizer.enable_join_dynamic_filter_pushdown = false;
    options.optimizer.enable_topk_dynamic_filter_pushdown = false;
    options.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    // Each partition of a scan runs as its own task with its own copy of the plan: siblings
    // never share a queue, so one stealing another's files would read them twice.
    options.execution.enable_file_stream_work_stealing = false;
    // A round-robin repartition only spreads one partition's rows over more cores. In one
    // process that is a cheap channel; in Flint it is a whole shuffle (a stage writing every
    // row to disk before the next may start), so, like Spark, Flint keeps a scan's own splits.
    options.optimizer.enable_round_robin_repartition = false;
    // Uncorrelated scalar subqueries run in the same process as the plan that reads their
    // value; Flint plans them as joins instead, which cut into stages like any other join.
    options
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    // Spark's broadcast joins: a join side estimated below the threshold is built whole in
    // every task (DataFusion's CollectLeft) and the other side is not shuffled. DataFusion
    // falls back to row counts when sizes are unknown; about 32 bytes a row is assumed.
    options.optimizer.hash_join_single_partition_threshold = broadcast_threshold as usize;
    options.optimizer.hash_join_single_partition_threshold_rows =
        (broadcast_threshold / 32) as usize;
    config
}

/// The application's Spark SQL settings that change what a plan computes, on `config`:
/// `spark.sql.ansi.enabled` and `spark.sql.mapKeyDedupPolicy` (a session may set them again).
pub fn apply_sql_conf(config: &mut SessionConfig, conf: &SparkConf) -> Result<(), ConfError> {
    let options = config.options_mut();
    options.execution.enable_ansi_mode = conf.value(&keys::ANSI_ENABLED)?;
    let policy = conf.value(&keys::MAP_KEY_DEDUP_POLICY)?;
    options.spark.map_key_dedup_policy =
        map_key_dedup_policy(&policy).ok_or_else(|| ConfError::InvalidValue {
            key: keys::MAP_KEY_DEDUP_POLICY.key.into(),
            value: policy.clone(),
            expected: "EXCEPTION or LAST_WIN",
        })?;
    Ok(())
}

/// The session settings of `options` that [`apply_sql_conf`] reads, as Spark keys and values:
/// shipped with every task of a job so executors compute what the session asked for.
pub fn task_sql_conf(options: &ConfigOptions) -> Vec<(String, String)> {
    vec![
        (
            keys::ANSI_ENABLED.key.to_string(),
            options.execution.enable_ansi_mode.to_string(),
        ),
        (
            keys::MAP_KEY_DEDUP_POLICY.key.to_string(),
            options.spark.map_key_dedup_policy.to_string(),
        ),
    ]
}

/// `config` with a task's session settings ([`task_sql_conf`]) applied.
pub fn with_task_sql_conf(
    mut config: SessionConfig,
    sql_conf: &[(String, String)],
) -> Result<SessionConfig, ConfError> {
    let mut conf = SparkConf::new();
    for (key, value) in sql_conf {
        conf.set(key.as_str(), value.as_str());
    }
    apply_sql_conf(&mut config, &conf)?;
    Ok(config)
}

/// `spark.sql.mapKeyDedupPolicy`'s value (any case) as DataFusion's setting.
pub fn map_key_dedup_policy(value: &str) -> Option<MapKeyDedupPolicy> {
    match value.to_ascii_uppercase().as_str() {
        "EXCEPTION" => Some(MapKeyDedupPolicy::Exception),
        "LAST_WIN" => Some(MapKeyDedupPolicy::LastWin),
        _ => None,
    }
}
