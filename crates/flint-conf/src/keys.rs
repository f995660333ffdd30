//! Every `spark.*` key Flint reads, declared once: Spark's name, default and meaning.
//!
//! `docs/configuration.md` is generated from [`ALL`] by [`reference_markdown`] and a test
//! keeps it current.

/// One configuration key: Spark's exact name, its default as text, and a one-line doc.
#[derive(Debug, Clone, Copy)]
pub struct ConfigEntry {
    /// Spark's key, e.g. `spark.executor.memory`.
    pub key: &'static str,
    /// The default as Spark writes it, or `None` when the default is computed.
    pub default: Option<&'static str>,
    /// What the key does in Flint, one line.
    pub doc: &'static str,
}

macro_rules! entries {
    ($($name:ident = $key:literal, $default:expr, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $name: ConfigEntry = ConfigEntry { key: $key, default: $default, doc: $doc };
        )*
        /// Every declared key, sorted by name.
        pub const ALL: &[ConfigEntry] = &[$($name),*];
    };
}

entries! {
    APP_NAME = "spark.app.name", None, "The application's name, shown in logs and UIs (set by --name or the builder's app_name).";
    BLOCK_MANAGER_PORT = "spark.blockManager.port", Some("0"), "Port of each executor's shuffle block service (Arrow Flight), from which reducers on other hosts fetch its blocks; 0 picks a free one.";
    CONNECT_DETACHED_TIMEOUT = "spark.connect.execute.manager.detachedTimeout", Some("300s"), "Spark Connect: an operation no client stream is attached to is interrupted (if running) and forgotten after this long.";
    CONNECT_MAINTENANCE_INTERVAL = "spark.connect.execute.manager.maintenanceInterval", Some("30s"), "Spark Connect: how often abandoned operations and idle sessions are looked for.";
    CONNECT_SESSION_TIMEOUT = "spark.connect.session.manager.defaultSessionTimeout", Some("60m"), "Spark Connect: a session with no request for this long is closed.";
    CORES_MAX = "spark.cores.max", None, "Cores an application takes from a standalone cluster in all (flint submit --total-executor-cores); unset = every core it can get.";
    DEFAULT_PARALLELISM = "spark.default.parallelism", None, "Default partition count; when unset, the task slots: N for local[N], on a standalone cluster the cores the application may get when it registers (at least 2).";
    DEPLOY_MAX_EXECUTOR_RETRIES = "spark.deploy.maxExecutorRetries", Some("10"), "Master: abnormal executor exits in a row after which an application with no running executor is removed as FAILED.";
    DEPLOY_RETAINED_APPLICATIONS = "spark.deploy.retainedApplications", Some("200"), "Master: completed applications kept in the UI and /json/.";
    DEPLOY_SPREAD_OUT = "spark.deploy.spreadOut", Some("true"), "Master: spread each application's executors over as many workers as possible (false fills one worker first).";
    DRIVER_HOST = "spark.driver.host", None, "Address executors use to reach the driver; default 127.0.0.1 when the master is on a loopback address, else this machine's host name.";
    DRIVER_MEMORY = "spark.driver.memory", Some("1g"), "Memory of the driver; in local mode it sizes the one executor's memory pool.";
    DRIVER_PORT = "spark.driver.port", Some("0"), "Port of the driver's endpoint that executors dial; 0 picks a free one.";
    EVENT_LOG_COMPRESS = "spark.eventLog.compress", Some("true"), "Compress the event log with spark.eventLog.compression.codec (Spark 4's default).";
    EVENT_LOG_COMPRESSION_CODEC = "spark.eventLog.compression.codec", Some("zstd"), "Codec of a compressed event log; Flint writes zstd (file suffix .zstd).";
    EVENT_LOG_DIR = "spark.eventLog.dir", Some("file:///tmp/spark-events"), "Existing directory where each application's event log is written (a local path or file: URI).";
    EVENT_LOG_ENABLED = "spark.eventLog.enabled", Some("false"), "Write every listener event as a JSON line to one file per application, named <app-id>[.zstd] with .inprogress until it ends.";
    EVENT_LOG_OVERWRITE = "spark.eventLog.overwrite", Some("false"), "Replace an existing event log of the same application instead of failing.";
    EXECUTOR_CORES = "spark.executor.cores", None, "Task slots per executor; in local[N] mode N.";
    EXECUTOR_HEARTBEAT_INTERVAL = "spark.executor.heartbeatInterval", Some("10s"), "How often an executor tells its driver it is alive; must be well below spark.network.timeout.";
    EXECUTOR_MEMORY = "spark.executor.memory", Some("1g"), "Memory of each executor; sizes its memory pool shared by its task slots.";
    HISTORY_LOG_DIRECTORY = "spark.history.fs.logDirectory", Some("file:/tmp/spark-events"), "History server: the directory of event logs it lists and replays (flint history-server --log-dir).";
    HISTORY_UPDATE_INTERVAL = "spark.history.fs.update.interval", Some("10s"), "History server: how often it looks for new or changed event logs.";
    HISTORY_UI_PORT = "spark.history.ui.port", Some("18080"), "History server: port of its web UI (flint history-server --port); a taken port moves to the next.";
    IO_COMPRESSION_CODEC = "spark.io.compression.codec", Some("lz4"), "Compression of shuffle blocks: lz4, zstd or none.";
    LOCAL_DIR = "spark.local.dir", None, "Directory for shuffle files and spills; one sub-folder per application, removed when it stops. Default: the system temp dir.";
    MASTER = "spark.master", Some("local[*]"), "Where the application runs: local, local[N], local[*], local-cluster[W,C,M] or spark://HOST:PORT.";
    MASTER_UI_PORT = "spark.master.ui.port", Some("8080"), "Port of the master's web UI (flint master --webui-port); 0 picks a free one, a taken port moves to the next.";
    MEMORY_FRACTION = "spark.memory.fraction", Some("0.6"), "Fraction of the executor memory given to the execution memory pool (sorts, joins, aggregations), which spills beyond it.";
    NETWORK_TIMEOUT = "spark.network.timeout", Some("120s"), "Silence after which a driver removes an executor that stopped heartbeating; also the timeout of shuffle block fetches.";
    PORT_MAX_RETRIES = "spark.port.maxRetries", Some("16"), "Further ports a service tries, one up each time, when its port is taken (not for port 0).";
    PYSPARK_PYTHON = "spark.pyspark.python", None, "Python interpreter of PySpark scripts and of the executors' Python workers (Python UDFs); unset: PYSPARK_PYTHON, else python3.";
    PYTHON_WORKER_REUSE = "spark.python.worker.reuse", Some("true"), "Keep an executor's Python workers for later tasks; false starts one per UDF batch.";
    SHUFFLE_READ_HOST_LOCAL_DISK = "spark.shuffle.readHostLocalDisk", Some("true"), "Reducers read blocks written on their own host straight from disk; false fetches every other executor's blocks over the network.";
    ANSI_ENABLED = "spark.sql.ansi.enabled", Some("true"), "Spark's ANSI mode: integer overflow, a zero divisor and an invalid cast are errors (ARITHMETIC_OVERFLOW, DIVIDE_BY_ZERO, CAST_INVALID_INPUT); false gives Spark's legacy answers (wrapping, NULL).";
    AUTO_BROADCAST_JOIN_THRESHOLD = "spark.sql.autoBroadcastJoinThreshold", Some("10m"), "Joins whose smaller side is estimated below this size send that side whole to every task instead of shuffling both sides (-1 turns it off).";
    MAP_KEY_DEDUP_POLICY = "spark.sql.mapKeyDedupPolicy", Some("EXCEPTION"), "A key given twice when a map is built (map, map_concat, map_from_arrays, str_to_map, ...): EXCEPTION fails with DUPLICATED_MAP_KEY, LAST_WIN keeps the later value.";
    SESSION_TIME_ZONE = "spark.sql.session.timeZone", None, "Time zone timestamps are read and printed in (an IANA name such as America/Los_Angeles, or UTC). Default: the machine's zone (TZ, /etc/localtime), else UTC.";
    SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions", None, "Partitions on the reduce side of a shuffle; when unset, spark.default.parallelism (Spark's 200 is too many for small machines).";
    TIME_TYPE_ENABLED = "spark.sql.timeType.enabled", Some("false"), "Allow Spark's TIME type (make_time, to_time, CAST AS TIME, ...); off by default as in Spark, whose own test runs turn it on.";
    WAREHOUSE_DIR = "spark.sql.warehouse.dir", Some("spark-warehouse"), "Directory of managed tables' files (saveAsTable, CREATE TABLE ... USING), relative to the driver's working directory.";
    STARVATION_TIMEOUT = "spark.starvation.timeout", Some("15s"), "How often a driver with no executor yet repeats \"Initial job has not accepted any resources\".";
    SUBMIT_PY_FILES = "spark.submit.pyFiles", None, "Comma-separated .py, .zip and .egg files (flint submit --py-files) put on the Python path of the script and of the executors' Python workers; they must be readable at the same absolute path on every executor's machine.";
    TASK_MAX_FAILURES = "spark.task.maxFailures", Some("4"), "Attempts of one task before its job fails on a cluster (local mode tries once; local[N,F] sets F).";
    UI_ENABLED = "spark.ui.enabled", Some("true"), "Serve the application's web UI and /api/v1 REST API from the driver.";
    UI_PORT = "spark.ui.port", Some("4040"), "Port of the application's web UI; a taken port moves to the next, up to spark.port.maxRetries times; 0 picks a free one.";
    SHOW_CONSOLE_PROGRESS = "spark.ui.showConsoleProgress", Some("true"), "Show the stage progress bar on stderr when it is a terminal.";
    WORKER_TIMEOUT = "spark.worker.timeout", Some("10s"), "Silence after which the master declares a worker dead (Spark: 60s); workers heartbeat every quarter of it. A driver whose master has been gone this long with no executor left gives up.";
    WORKER_UI_PORT = "spark.worker.ui.port", Some("8081"), "Port of the worker's web UI (flint worker --webui-port); 0 picks a free one, a taken port moves to the next.";
}

/// The configuration reference page (`docs/configuration.md`), generated from [`ALL`].
pub fn reference_markdown() -> String {
    let mut page = String::from(
        "# Configuration\n\nGenerated from `crates/flint-conf/src/keys.rs`; a test keeps it current.\n\
         Keys are Spark's. Precedence: the session builder, then `flint submit` flags and `--conf`,\n\
         then the properties file (`--properties-file`, default `$FLINT_CONF_DIR/spark-defaults.conf`),\n\
         then the defaults below.\n\n| key | default | meaning |\n|---|---|---|\n",
    );
    for entry in ALL {
        page.push_str(&format!(
            "| `{}` | {} | {} |\n",
            entry.key,
            entry.default.unwrap_or("(computed)"),
            entry.doc
        ));
    }
    page
}

#[cfg(test)]
mod tests {
    #[test]
    fn reference_page_is_current() {
        // The crate's directory at run time: a test binary built from another checkout
        // sharing the target directory must still check this one.
        let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        let path = format!("{manifest_dir}/../../docs/configuration.md");
        let page = std::fs::read_to_string(&path).unwrap_or_default();
        if page != super::reference_markdown() {
            std::fs::write(&path, super::reference_markdown()).unwrap();
            panic!("docs/configuration.md was stale and has been regenerated; commit it");
        }
    }

    #[test]
    fn keys_are_sorted_and_unique() {
        let keys: Vec<_> = super::ALL.iter().map(|e| e.key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }
}
