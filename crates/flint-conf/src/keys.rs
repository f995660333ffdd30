//! Every `spark.*` key Flint reads, declared once: Spark's name, the type of its value, its
//! default and meaning. A key with a default is a [`Key`], read with [`SparkConf::value`];
//! one whose default is computed from other settings is an [`OptionalKey`], read with
//! [`SparkConf::optional`]. No call site restates a default.
//!
//! `docs/configuration.md` is generated from [`ALL`] by [`reference_markdown`] and a test
//! keeps it current.
//!
//! [`SparkConf::value`]: crate::SparkConf::value
//! [`SparkConf::optional`]: crate::SparkConf::optional

use std::marker::PhantomData;
use std::time::Duration;

use crate::ConfError;

/// One configuration key as the reference page shows it: Spark's exact name, its default as
/// text, and a one-line doc.
#[derive(Debug, Clone, Copy)]
pub struct ConfigEntry {
    /// Spark's key, e.g. `spark.executor.memory`.
    pub key: &'static str,
    /// The default as Spark writes it, or `None` when the default is computed.
    pub default: Option<&'static str>,
    /// What the key does in Flint, one line.
    pub doc: &'static str,
}

/// A key whose value is a `T`, with a declared default.
#[derive(Debug)]
pub struct Key<T> {
    /// Spark's key, e.g. `spark.ui.port`.
    pub key: &'static str,
    /// The default as Spark writes it; parsed as any set value is.
    pub default: &'static str,
    /// What the key does in Flint, one line.
    pub doc: &'static str,
    value: PhantomData<fn() -> T>,
}

/// A key whose value is a `T` and whose default, when it is unset, is computed by its reader
/// (from the machine or from other keys).
#[derive(Debug)]
pub struct OptionalKey<T> {
    /// Spark's key, e.g. `spark.cores.max`.
    pub key: &'static str,
    /// What the key does in Flint, one line.
    pub doc: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    const fn new(key: &'static str, default: &'static str, doc: &'static str) -> Self {
        Key {
            key,
            default,
            doc,
            value: PhantomData,
        }
    }

    /// The key as the reference page lists it.
    pub const fn entry(&self) -> ConfigEntry {
        ConfigEntry {
            key: self.key,
            default: Some(self.default),
            doc: self.doc,
        }
    }
}

impl<T> OptionalKey<T> {
    const fn new(key: &'static str, doc: &'static str) -> Self {
        OptionalKey {
            key,
            doc,
            value: PhantomData,
        }
    }

    /// The key as the reference page lists it.
    pub const fn entry(&self) -> ConfigEntry {
        ConfigEntry {
            key: self.key,
            default: None,
            doc: self.doc,
        }
    }
}

/// A type a key's text parses into, with the error naming the key and the value.
pub trait ConfValue: Sized {
    /// `text`, the value of `key`, as this type.
    fn parse(key: &str, text: &str) -> Result<Self, ConfError>;
}

fn invalid(key: &str, text: &str, expected: &'static str) -> ConfError {
    ConfError::InvalidValue {
        key: key.to_string(),
        value: text.to_string(),
        expected,
    }
}

impl ConfValue for String {
    fn parse(_: &str, text: &str) -> Result<Self, ConfError> {
        Ok(text.to_string())
    }
}

impl ConfValue for bool {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid(key, text, "true or false")),
        }
    }
}

/// Ports: 0 means any free port.
impl ConfValue for u16 {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        text.trim()
            .parse()
            .map_err(|_| invalid(key, text, "an integer from 0 to 65535"))
    }
}

/// Numbers of things that may be none, such as executors: 0 or more.
impl ConfValue for u32 {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        text.trim()
            .parse()
            .map_err(|_| invalid(key, text, "a whole number, 0 or more"))
    }
}

/// Counts: a positive integer.
impl ConfValue for usize {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        text.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(key, text, "a positive integer"))
    }
}

/// Durations such as `10s`, `500ms` or `2min`; a bare number is in seconds.
impl ConfValue for Duration {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        crate::parse_duration(key, text)
    }
}

/// A fraction in (0, 1], such as `spark.memory.fraction`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl ConfValue for Fraction {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .map(Fraction)
            .ok_or_else(|| invalid(key, text, "a number in (0, 1]"))
    }
}

/// A factor of at least 1, such as `spark.speculation.multiplier`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Multiplier(pub f64);

impl ConfValue for Multiplier {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 1.0)
            .map(Multiplier)
            .ok_or_else(|| invalid(key, text, "a number of at least 1"))
    }
}

/// A memory size in bytes such as `512m` or `4g`; a bare number is in MiB, as for Spark's
/// memory keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ConfValue for ByteSize {
    fn parse(key: &str, text: &str) -> Result<Self, ConfError> {
        crate::parse_size(key, text, 1 << 20).map(ByteSize)
    }
}

macro_rules! entries {
    (@key $name:ident: $ty:ty = $key:literal, default $default:literal, $doc:literal) => {
        #[doc = $doc]
        pub const $name: Key<$ty> = Key::new($key, $default, $doc);
    };
    (@key $name:ident: $ty:ty = $key:literal, computed, $doc:literal) => {
        #[doc = $doc]
        pub const $name: OptionalKey<$ty> = OptionalKey::new($key, $doc);
    };
    (@check $name:ident, default $default:literal) => {
        crate::SparkConf::new().value(&$name).map(|_| ())
    };
    (@check $name:ident, computed) => {
        Ok::<(), ConfError>(())
    };
    ($($name:ident: $ty:ty = $key:literal, $kind:ident $($default:literal)?, $doc:literal;)*) => {
        $(entries!(@key $name: $ty = $key, $kind $($default)?, $doc);)*
        /// Every declared key, sorted by name.
        pub const ALL: &[ConfigEntry] = &[$($name.entry()),*];
        /// Parses every declared default as its key's type (a test calls it).
        #[cfg(test)]
        fn check_defaults() -> Result<(), ConfError> {
            $(entries!(@check $name, $kind $($default)?)?;)*
            Ok(())
        }
    };
}

entries! {
    ACLS_ENABLE: bool = "spark.acls.enable", default "false", "Web UIs and JSON APIs (master, worker, driver, history server) let only the users of spark.ui.view.acls see pages and only those of spark.modify.acls use kill links; the process's own user and spark.admin.acls may do both, and * means everyone. The user is the one a trusted proxy names in the header spark.ui.proxyUserHeader; a request naming nobody is refused, except, with spark.authenticate, one that proves the secret and names nobody: whoever holds the secret is the cluster itself (it can do anything over RPC), which ACLs do not limit. flint submit --kill needs modify rights for the SPARK_USER it sends, which the master cannot verify.";
    ADMIN_ACLS: String = "spark.admin.acls", default "", "With spark.acls.enable: comma-separated users who may view and modify everything.";
    APP_NAME: String = "spark.app.name", computed, "The application's name, shown in logs and UIs (set by --name or the builder's app_name).";
    AUTHENTICATE: bool = "spark.authenticate", default "false", "Every RPC between master, workers, drivers and executors, every shuffle fetch, the Spark Connect endpoint and the web UIs require the shared secret (spark.authenticate.secret). Each RPC connection proves it knows the secret with an HMAC-SHA256 challenge and response, so the secret never crosses the network; Connect clients send it as their bearer token (sc://host:port/;token=...), browsers as the password of HTTP basic authentication. Workers hand it to their executors and drivers in the environment (_SPARK_AUTH_SECRET), never on a command line.";
    AUTHENTICATE_SECRET: String = "spark.authenticate.secret", computed, "The shared secret of spark.authenticate; set it (or spark.authenticate.secret.file) on every master, worker and application. Redacted wherever settings are shown.";
    AUTHENTICATE_SECRET_FILE: String = "spark.authenticate.secret.file", computed, "A file holding the shared secret of spark.authenticate (surrounding whitespace ignored), instead of spark.authenticate.secret.";
    BLOCK_MANAGER_PORT: u16 = "spark.blockManager.port", default "0", "Port of each executor's shuffle block service (Arrow Flight), from which reducers on other hosts fetch its blocks; 0 picks a free one.";
    CONNECT_DETACHED_TIMEOUT: Duration = "spark.connect.execute.manager.detachedTimeout", default "300s", "Spark Connect: an operation no client stream is attached to is interrupted (if running) and forgotten after this long.";
    CONNECT_MAINTENANCE_INTERVAL: Duration = "spark.connect.execute.manager.maintenanceInterval", default "30s", "Spark Connect: how often abandoned operations and idle sessions are looked for.";
    CONNECT_GRPC_RECURSION_LIMIT: usize = "spark.connect.grpc.marshallerRecursionLimit", default "1024", "Spark Connect: how deeply a request's messages may nest (a long chain of DataFrame calls nests two levels per call); a deeper request is refused before it is decoded.";
    CONNECT_SESSION_TIMEOUT: Duration = "spark.connect.session.manager.defaultSessionTimeout", default "60m", "Spark Connect: a session with no request for this long is closed.";
    CORES_MAX: usize = "spark.cores.max", computed, "Cores an application takes from a standalone cluster in all (flint submit --total-executor-cores); unset = every core it can get.";
    DEFAULT_PARALLELISM: usize = "spark.default.parallelism", computed, "Default partition count; when unset, the task slots: N for local[N], on a standalone cluster the cores the application may get when it registers (at least 2).";
    DEPLOY_MAX_EXECUTOR_RETRIES: usize = "spark.deploy.maxExecutorRetries", default "10", "Master: abnormal executor exits in a row after which an application with no running executor is removed as FAILED.";
    DEPLOY_RECOVERY_DIRECTORY: String = "spark.deploy.recoveryDirectory", default "", "Master with spark.deploy.recoveryMode=FILESYSTEM: the directory where it keeps its workers, applications and drivers (one file each), read back when it restarts.";
    DEPLOY_RECOVERY_MODE: String = "spark.deploy.recoveryMode", default "NONE", "Master: NONE; FILESYSTEM to persist its workers, applications and drivers in spark.deploy.recoveryDirectory, so a restarted master recovers them (RECOVERING, then ALIVE) while running applications keep running; ZOOKEEPER to persist them in ZooKeeper (spark.deploy.zookeeper.url) and run several masters, one elected leader and the others STANDBY.";
    DEPLOY_RETAINED_APPLICATIONS: usize = "spark.deploy.retainedApplications", default "200", "Master: completed applications kept in the UI and /json/.";
    DEPLOY_SPREAD_OUT: bool = "spark.deploy.spreadOut", default "true", "Master: spread each application's executors over as many workers as possible (false fills one worker first).";
    DEPLOY_ZOOKEEPER_DIR: String = "spark.deploy.zookeeper.dir", default "/spark", "Master with spark.deploy.recoveryMode=ZOOKEEPER: the znode under which the masters elect their leader (leader_election) and keep their state (master_status).";
    DEPLOY_ZOOKEEPER_URL: String = "spark.deploy.zookeeper.url", computed, "Master with spark.deploy.recoveryMode=ZOOKEEPER: the ensemble, HOST:PORT[,HOST:PORT...]. A leader that loses its session (spark.worker.timeout) stops, and a standby master takes over.";
    DRIVER_HOST: String = "spark.driver.host", computed, "Address executors use to reach the driver; default 127.0.0.1 when the master is on a loopback address, else this machine's host name.";
    DRIVER_MEMORY: ByteSize = "spark.driver.memory", default "1g", "Memory of the driver; in local mode it sizes the one executor's memory pool.";
    DRIVER_PORT: u16 = "spark.driver.port", default "0", "Port of the driver's endpoint that executors dial; 0 picks a free one.";
    DYN_ALLOCATION_CACHED_IDLE_TIMEOUT: Duration = "spark.dynamicAllocation.cachedExecutorIdleTimeout", computed, "Dynamic allocation: an idle executor holding cached blocks is given back after this long; unset: never while it holds any.";
    DYN_ALLOCATION_ENABLED: bool = "spark.dynamicAllocation.enabled", default "false", "On a standalone cluster, ask the master for executors while tasks wait and give back executors idle for executorIdleTimeout (needs spark.shuffle.service.enabled or shuffleTracking.enabled). Ignored in local mode.";
    DYN_ALLOCATION_RATIO: Fraction = "spark.dynamicAllocation.executorAllocationRatio", default "1", "Dynamic allocation: the share of the executors the waiting and running tasks would fill that is asked for.";
    DYN_ALLOCATION_IDLE_TIMEOUT: Duration = "spark.dynamicAllocation.executorIdleTimeout", default "60s", "Dynamic allocation: an executor with no task for this long is given back to the cluster.";
    DYN_ALLOCATION_INITIAL_EXECUTORS: u32 = "spark.dynamicAllocation.initialExecutors", computed, "Dynamic allocation: executors asked for at start; unset: minExecutors.";
    DYN_ALLOCATION_MAX_EXECUTORS: u32 = "spark.dynamicAllocation.maxExecutors", computed, "Dynamic allocation: the most executors the application asks for; unset: no limit.";
    DYN_ALLOCATION_MIN_EXECUTORS: u32 = "spark.dynamicAllocation.minExecutors", default "0", "Dynamic allocation: executors kept however idle.";
    DYN_ALLOCATION_BACKLOG_TIMEOUT: Duration = "spark.dynamicAllocation.schedulerBacklogTimeout", default "1s", "Dynamic allocation: tasks waiting this long make the application ask for one more executor.";
    DYN_ALLOCATION_SHUFFLE_TRACKING: bool = "spark.dynamicAllocation.shuffleTracking.enabled", default "true", "Dynamic allocation without a shuffle service: keep executors whose map outputs are still registered.";
    DYN_ALLOCATION_SHUFFLE_TRACKING_TIMEOUT: Duration = "spark.dynamicAllocation.shuffleTracking.timeout", computed, "Dynamic allocation with shuffle tracking: how long an idle executor holding map outputs is kept; unset: as long as the outputs are registered.";
    DYN_ALLOCATION_SUSTAINED_BACKLOG_TIMEOUT: Duration = "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout", computed, "Dynamic allocation: while tasks keep waiting, the application asks for twice as many more executors each time this passes; unset: schedulerBacklogTimeout.";
    EVENT_LOG_COMPRESS: bool = "spark.eventLog.compress", default "true", "Compress the event log with spark.eventLog.compression.codec (Spark 4's default).";
    EVENT_LOG_COMPRESSION_CODEC: String = "spark.eventLog.compression.codec", default "zstd", "Codec of a compressed event log; Flint writes zstd (file suffix .zstd).";
    EVENT_LOG_DIR: String = "spark.eventLog.dir", default "file:///tmp/spark-events", "Existing directory where each application's event log is written (a local path or file: URI).";
    EVENT_LOG_ENABLED: bool = "spark.eventLog.enabled", default "false", "Write every listener event as a JSON line to one file per application, named <app-id>[.zstd] with .inprogress until it ends.";
    EVENT_LOG_OVERWRITE: bool = "spark.eventLog.overwrite", default "false", "Replace an existing event log of the same application instead of failing.";
    EXECUTOR_CORES: usize = "spark.executor.cores", computed, "Task slots per executor; in local[N] mode N.";
    EXECUTOR_HEARTBEAT_INTERVAL: Duration = "spark.executor.heartbeatInterval", default "10s", "How often an executor tells its driver it is alive; must be well below spark.network.timeout.";
    EXECUTOR_MEMORY: ByteSize = "spark.executor.memory", default "1g", "Memory of each executor; sizes its memory pool shared by its task slots.";
    HISTORY_LOG_DIRECTORY: String = "spark.history.fs.logDirectory", default "file:/tmp/spark-events", "History server: the directory of event logs it lists and replays (flint history-server --log-dir).";
    HISTORY_UPDATE_INTERVAL: Duration = "spark.history.fs.update.interval", default "10s", "History server: how often it looks for new or changed event logs.";
    HISTORY_UI_PORT: u16 = "spark.history.ui.port", default "18080", "History server: port of its web UI (flint history-server --port); a taken port moves to the next.";
    IO_COMPRESSION_CODEC: String = "spark.io.compression.codec", default "lz4", "Compression of shuffle blocks: lz4, zstd or none.";
    LOCAL_DIR: String = "spark.local.dir", computed, "Directory for shuffle files and spills; one sub-folder per application, removed when it stops. Default: the system temp dir.";
    LOCALITY_WAIT: Duration = "spark.locality.wait", default "3s", "Delay scheduling: how long the tasks of a stage wait for a free core at a locality level (the executor holding their cached blocks, then a host holding much of their shuffle input) after the last launch at that level, before they run at the next.";
    MASTER: String = "spark.master", default "local[*]", "Where the application runs: local, local[N], local[*], local-cluster[W,C,M] or spark://HOST:PORT.";
    MASTER_UI_PORT: u16 = "spark.master.ui.port", default "8080", "Port of the master's web UI (flint master --webui-port); 0 picks a free one, a taken port moves to the next.";
    MEMORY_FRACTION: Fraction = "spark.memory.fraction", default "0.6", "Fraction of the executor memory given to its memory pool, shared by execution (sorts, joins, aggregations, which spill beyond it) and cached blocks.";
    MEMORY_STORAGE_FRACTION: Fraction = "spark.memory.storageFraction", default "0.5", "Share of the memory pool whose cached blocks execution cannot push out; beyond it, execution that needs memory moves cached blocks to disk (or drops MEMORY_ONLY ones).";
    MODIFY_ACLS: String = "spark.modify.acls", default "", "With spark.acls.enable: comma-separated users who may kill applications, drivers (kill links, flint submit --kill) besides the owner and spark.admin.acls.";
    NETWORK_TIMEOUT: Duration = "spark.network.timeout", default "120s", "Silence after which a driver removes an executor that stopped heartbeating; also the timeout of shuffle block fetches.";
    PORT_MAX_RETRIES: u16 = "spark.port.maxRetries", default "16", "Further ports a service tries, one up each time, when its port is taken (not for port 0).";
    PYSPARK_PYTHON: String = "spark.pyspark.python", computed, "Python interpreter of PySpark scripts and of the executors' Python workers (Python UDFs); unset: PYSPARK_PYTHON, else python3.";
    PYTHON_WORKER_REUSE: bool = "spark.python.worker.reuse", default "true", "Keep an executor's Python workers for later tasks; false starts one per UDF batch.";
    REDUCER_MAX_REQS_IN_FLIGHT: usize = "spark.reducer.maxReqsInFlight", computed, "Shuffle blocks a reduce task fetches at once, at most; unset: as many as spark.reducer.maxSizeInFlight allows.";
    REDUCER_MAX_SIZE_IN_FLIGHT: ByteSize = "spark.reducer.maxSizeInFlight", default "48m", "Bytes of shuffle blocks a reduce task fetches at once (at least one block); more overlap the network with decoding, and take memory.";
    SCHEDULER_ALLOCATION_FILE: String = "spark.scheduler.allocation.file", computed, "FAIR mode: an XML file of pools (Spark's fairscheduler.xml: <allocations><pool name=...> with schedulingMode, weight, minShare); unset: only the default pool.";
    SCHEDULER_MODE: String = "spark.scheduler.mode", default "FIFO", "How jobs of one application share its task slots: FIFO (earliest job first) or FAIR (by pools, see spark.scheduler.allocation.file).";
    SCHEDULER_POOL: String = "spark.scheduler.pool", computed, "The FAIR pool the session's jobs run in (SET spark.scheduler.pool=... in SQL, spark.conf.set in PySpark); unset: default. A pool no file declares gets weight 1, minShare 0, FIFO.";
    SHUFFLE_CHECKSUM_ENABLED: bool = "spark.shuffle.checksum.enabled", default "true", "Write a CRC32 checksum of every shuffle (and cached) block beside its map output; readers and shuffle services check it before they decode the block, so a block corrupted on disk fails the fetch and its map output is computed again.";
    SHUFFLE_IO_MAX_RETRIES: u32 = "spark.shuffle.io.maxRetries", default "3", "Times a shuffle fetch whose connection failed is tried again before the read fails (a fetch failure); a block its server refuses (missing, corrupt) is not retried.";
    SHUFFLE_IO_RETRY_WAIT: Duration = "spark.shuffle.io.retryWait", default "5s", "The wait before each retry of a shuffle fetch.";
    SHUFFLE_READ_HOST_LOCAL_DISK: bool = "spark.shuffle.readHostLocalDisk", default "true", "Reducers read blocks written on their own host straight from disk; false fetches every other executor's blocks over the network.";
    SHUFFLE_REDUCE_LOCALITY: bool = "spark.shuffle.reduceLocality.enabled", default "true", "Reduce tasks prefer the hosts holding at least 20% of their shuffle input (NODE_LOCAL), when both sides have fewer than 1000 tasks.";
    SHUFFLE_REGISTRATION_MAX_ATTEMPTS: usize = "spark.shuffle.registration.maxAttempts", default "3", "Attempts, five seconds apart, of an executor to register with its worker's shuffle service before it gives up and exits.";
    SHUFFLE_REGISTRATION_TIMEOUT: Duration = "spark.shuffle.registration.timeout", default "5s", "How long one attempt of an executor to register with its worker's shuffle service may take.";
    SHUFFLE_SERVICE_ENABLED: bool = "spark.shuffle.service.enabled", default "false", "Worker: run the shuffle service, which serves the shuffle files of the worker's executors after they exit and deletes them when their application ends. Application: register executors with it and fetch from it, so losing an executor (not its worker) loses no map output; set it for both (local-cluster passes it on).";
    SHUFFLE_SERVICE_FETCH_RDD: bool = "spark.shuffle.service.fetch.rdd.enabled", default "false", "With the shuffle service: it also serves cached blocks written to disk (DISK_ONLY, or no room in memory), which then outlive their executor; false loses them with the executor, to be computed again.";
    SHUFFLE_SERVICE_PORT: u16 = "spark.shuffle.service.port", default "7337", "Port of the worker's shuffle service (Arrow Flight); a taken port moves to the next; 0 picks a free one. Executors are told the port their worker bound.";
    SHUFFLE_SERVICE_REMOVE_SHUFFLE: bool = "spark.shuffle.service.removeShuffle", default "true", "With the shuffle service: when no job reads a shuffle (or cache) any more, the driver also asks the services holding files of its executors that are gone to delete them; false leaves those files until the application ends.";
    SPECULATION: bool = "spark.speculation", default "false", "On a standalone cluster, run a second copy of a task that runs much longer than its stage's others on another executor; the first copy to finish is used, the other is killed.";
    SPECULATION_INTERVAL: Duration = "spark.speculation.interval", default "100ms", "How often running tasks are checked for speculation.";
    SPECULATION_MIN_TASK_RUNTIME: Duration = "spark.speculation.minTaskRuntime", default "100ms", "A task is not speculated before it has run this long.";
    SPECULATION_MULTIPLIER: Multiplier = "spark.speculation.multiplier", default "1.5", "A task running this many times longer than the median of its stage's finished tasks is speculated.";
    SPECULATION_QUANTILE: Fraction = "spark.speculation.quantile", default "0.75", "The fraction of a stage's tasks that must finish before its tasks are speculated.";
    ANSI_ENABLED: bool = "spark.sql.ansi.enabled", default "true", "Spark's ANSI mode: integer overflow, a zero divisor and an invalid cast are errors (ARITHMETIC_OVERFLOW, DIVIDE_BY_ZERO, CAST_INVALID_INPUT); false gives Spark's legacy answers (wrapping, NULL).";
    AUTO_BROADCAST_JOIN_THRESHOLD: String = "spark.sql.autoBroadcastJoinThreshold", default "10m", "Joins whose smaller side is estimated below this size send that side whole to every task instead of shuffling both sides (-1 turns it off).";
    MAP_KEY_DEDUP_POLICY: String = "spark.sql.mapKeyDedupPolicy", default "EXCEPTION", "A key given twice when a map is built (map, map_concat, map_from_arrays, str_to_map, ...): EXCEPTION fails with DUPLICATED_MAP_KEY, LAST_WIN keeps the later value.";
    SESSION_TIME_ZONE: String = "spark.sql.session.timeZone", computed, "Time zone timestamps are read and printed in (an IANA name such as America/Los_Angeles, or UTC). Default: the machine's zone (TZ, /etc/localtime), else UTC.";
    SHUFFLE_PARTITIONS: usize = "spark.sql.shuffle.partitions", computed, "Partitions on the reduce side of a shuffle; when unset, spark.default.parallelism (Spark's 200 is too many for small machines).";
    TIME_TYPE_ENABLED: bool = "spark.sql.timeType.enabled", default "false", "Allow Spark's TIME type (make_time, to_time, CAST AS TIME, ...); off by default as in Spark, whose own test runs turn it on.";
    WAREHOUSE_DIR: String = "spark.sql.warehouse.dir", default "spark-warehouse", "Directory of managed tables' files (saveAsTable, CREATE TABLE ... USING), relative to the driver's working directory.";
    SSL_CERT_CHAIN: String = "spark.ssl.certChain", computed, "With spark.ssl.enabled: a PEM file holding this process's certificate, then the certificates that sign it; it must name the host (or address) peers use to reach this process.";
    SSL_ENABLED: bool = "spark.ssl.enabled", default "false", "TLS on every RPC and shuffle fetch, the Spark Connect endpoint and the web UIs (https), with the certificate of spark.ssl.certChain and spark.ssl.privateKey; a process trusts the peers it connects to when spark.ssl.trustStore's certificates sign theirs. A plain-text client is refused. Servers do not ask clients for certificates: who may connect is spark.authenticate's job. Set it, and the three files, on every master, worker and application.";
    SSL_PRIVATE_KEY: String = "spark.ssl.privateKey", computed, "With spark.ssl.enabled: a PEM file holding the private key of spark.ssl.certChain's certificate (PKCS#8, PKCS#1 or SEC1, unencrypted).";
    SSL_TRUST_STORE: String = "spark.ssl.trustStore", computed, "With spark.ssl.enabled: a PEM file of the CA certificates this process trusts when it connects to its peers (Spark's trustStore, as PEM here).";
    STARVATION_TIMEOUT: Duration = "spark.starvation.timeout", default "15s", "How often a driver with no executor yet repeats \"Initial job has not accepted any resources\".";
    SUBMIT_PY_FILES: String = "spark.submit.pyFiles", computed, "Comma-separated .py, .zip and .egg files (flint submit --py-files) put on the Python path of the script and of the executors' Python workers; they must be readable at the same absolute path on every executor's machine.";
    TASK_MAX_FAILURES: usize = "spark.task.maxFailures", default "4", "Attempts of one task before its job fails on a cluster (local mode tries once; local[N,F] sets F).";
    UI_ENABLED: bool = "spark.ui.enabled", default "true", "Serve the application's web UI and /api/v1 REST API from the driver.";
    UI_KILL_ENABLED: bool = "spark.ui.killEnabled", default "true", "The web UIs show Spark's (kill) links: the master's on running applications and drivers, the application's on running jobs and stages (killing a job fails it with SPARK_JOB_CANCELLED, killing a stage fails the jobs that run it). Kills are POSTs from the UI's own pages (a request from another site is refused), and with spark.acls.enable they need modify rights.";
    UI_PORT: u16 = "spark.ui.port", default "4040", "Port of the application's web UI; a taken port moves to the next, up to spark.port.maxRetries times; 0 picks a free one.";
    UI_PROXY_USER_HEADER: String = "spark.ui.proxyUserHeader", computed, "An HTTP header (e.g. X-Forwarded-User) in which a trusted proxy in front of the web UIs names the user it authenticated, for spark.acls.enable. With spark.authenticate the proxy proves the secret (a bearer token) on each request and users never hold it; without, the header is believed from anyone, so the UIs must then be reachable only through that proxy.";
    SHOW_CONSOLE_PROGRESS: bool = "spark.ui.showConsoleProgress", default "true", "Show the stage progress bar on stderr when it is a terminal.";
    UI_VIEW_ACLS: String = "spark.ui.view.acls", default "", "With spark.acls.enable: comma-separated users who may see the web UIs and JSON APIs besides the owner and spark.admin.acls.";
    WORKER_TIMEOUT: Duration = "spark.worker.timeout", default "10s", "Silence after which the master declares a worker dead (Spark: 60s); workers heartbeat every quarter of it. A driver whose master has been gone this long with no executor left gives up.";
    WORKER_UI_PORT: u16 = "spark.worker.ui.port", default "8081", "Port of the worker's web UI (flint worker --webui-port); 0 picks a free one, a taken port moves to the next.";
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
    fn every_default_parses_as_its_keys_type() {
        super::check_defaults().unwrap();
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
