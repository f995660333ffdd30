//! The session configuration a Connect client reads and writes (`spark.conf`, the builder's
//! options): Spark's defaults for the keys the client depends on, the application's conf,
//! and what each session sets.

use spark_connect::KeyValue;
use spark_connect::config_request::operation::OpType;

use crate::error::ConnectError;
use crate::session::ConnectSession;

/// Keys the PySpark client reads, with the values Flint answers when nothing set them. The
/// local-relation cache threshold is kept high so `createDataFrame` sends its rows inline
/// instead of as artifacts; plan compression is off.
const CLIENT_DEFAULTS: &[(&str, &str)] = &[
    (
        "spark.connect.session.planCompression.defaultAlgorithm",
        "ZSTD",
    ),
    ("spark.connect.session.planCompression.threshold", "-1"),
    ("spark.python.sql.dataFrameDebugging.enabled", "false"),
    ("spark.sql.ansi.enabled", "true"),
    ("spark.sql.caseSensitive", "false"),
    ("spark.sql.connect.serverStacktrace.enabled", "false"),
    ("spark.sql.execution.arrow.maxRecordsPerBatch", "10000"),
    ("spark.sql.execution.arrow.pyspark.enabled", "true"),
    (
        "spark.sql.execution.arrow.pyspark.selfDestruct.enabled",
        "false",
    ),
    ("spark.sql.execution.arrow.useLargeVarTypes", "false"),
    (
        "spark.sql.execution.pandas.convertToArrowArraySafely",
        "false",
    ),
    ("spark.sql.execution.pandas.inferPandasDictAsMap", "false"),
    ("spark.sql.execution.pandas.structHandlingMode", "legacy"),
    ("spark.sql.execution.pyspark.binaryAsBytes", "true"),
    ("spark.sql.execution.pythonUDF.arrow.enabled", "false"),
    ("spark.sql.pyspark.inferNestedDictAsStruct.enabled", "false"),
    ("spark.sql.pyspark.jvmStacktrace.enabled", "false"),
    (
        "spark.sql.pyspark.legacy.inferArrayTypeFromFirstElement.enabled",
        "false",
    ),
    (
        "spark.sql.pyspark.legacy.inferMapTypeFromFirstPair.enabled",
        "false",
    ),
    ("spark.sql.repl.eagerEval.enabled", "false"),
    ("spark.sql.repl.eagerEval.maxNumRows", "20"),
    ("spark.sql.repl.eagerEval.truncate", "20"),
    (
        "spark.sql.session.localRelationBatchOfChunksSizeBytes",
        "134217728",
    ),
    (
        "spark.sql.session.localRelationCacheThreshold",
        "2147483647",
    ),
    ("spark.sql.session.localRelationChunkSizeBytes", "16777216"),
    ("spark.sql.session.localRelationChunkSizeRows", "10000"),
    ("spark.sql.session.localRelationSizeLimit", "2147483647"),
    ("spark.sql.timestampType", "TIMESTAMP_LTZ"),
];

/// A key's value for a session: what it set, else the application's, else Spark's default.
pub fn lookup(session: &ConnectSession, key: &str) -> Option<String> {
    if let Some(value) = session.client_conf(key) {
        return Some(value);
    }
    if let Some(value) = session.spark.sql_conf(key) {
        return Some(value);
    }
    match key {
        "spark.sql.session.timeZone" => return Some(session.spark.session_time_zone()),
        "spark.sql.shuffle.partitions" => {
            return Some(session.spark.shuffle_partitions().to_string());
        }
        "spark.app.name" => return Some(session.spark.app_name().to_string()),
        "spark.app.id" => return Some(session.spark.app_id().to_string()),
        _ => {}
    }
    CLIENT_DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .or_else(|| {
            flint_conf::keys::ALL
                .iter()
                .find(|entry| entry.key == key && key.starts_with("spark.sql."))
                .and_then(|entry| entry.default)
                .map(str::to_string)
        })
}

fn not_found(key: &str) -> ConnectError {
    ConnectError::ConfNotFound(format!(
        "[SQL_CONF_NOT_FOUND] The SQL config \"{key}\" cannot be found. Please verify that the config exists. SQLSTATE: 42K0I"
    ))
}

/// Runs one `Config` operation: the pairs it answers and its warnings.
pub fn operate(
    session: &ConnectSession,
    operation: &OpType,
) -> Result<(Vec<KeyValue>, Vec<String>), ConnectError> {
    let pair = |key: &str, value: Option<String>| KeyValue {
        key: key.to_string(),
        value,
    };
    let mut warnings = Vec::new();
    let pairs = match operation {
        OpType::Set(set) => {
            for kv in &set.pairs {
                let value = kv.value.clone().unwrap_or_default();
                session.set(&kv.key, &value)?;
            }
            Vec::new()
        }
        OpType::Get(get) => get
            .keys
            .iter()
            .map(|key| {
                lookup(session, key)
                    .map(|v| pair(key, Some(v)))
                    .ok_or_else(|| not_found(key))
            })
            .collect::<Result<_, _>>()?,
        OpType::GetWithDefault(get) => get
            .pairs
            .iter()
            .map(|kv| {
                pair(
                    &kv.key,
                    lookup(session, &kv.key).or_else(|| kv.value.clone()),
                )
            })
            .collect(),
        OpType::GetOption(get) => get
            .keys
            .iter()
            .map(|key| pair(key, lookup(session, key)))
            .collect(),
        OpType::GetAll(get) => {
            let mut all: std::collections::BTreeMap<String, String> = CLIENT_DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            all.extend(
                session
                    .spark
                    .conf()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            all.extend(session.spark.session_confs());
            all.extend(session.client_confs());
            all.insert(
                "spark.sql.session.timeZone".into(),
                session.spark.session_time_zone(),
            );
            let prefix = get.prefix.as_deref().unwrap_or("");
            all.into_iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| pair(&k, Some(v)))
                .collect()
        }
        OpType::Unset(unset) => {
            for key in &unset.keys {
                session.unset(key)?;
            }
            Vec::new()
        }
        OpType::IsModifiable(modifiable) => modifiable
            .keys
            .iter()
            .map(|key| pair(key, Some(key.starts_with("spark.sql.").to_string())))
            .collect(),
    };
    if let OpType::Set(set) = operation {
        for kv in &set.pairs {
            if !kv.key.starts_with("spark.sql.")
                && !set.silent.unwrap_or(false)
                && kv.key.starts_with("spark.")
            {
                warnings.push(format!(
                    "the config {} only takes effect when the application starts; pass it to flint submit or flint connect-server",
                    kv.key
                ));
            }
        }
    }
    Ok((pairs, warnings))
}
