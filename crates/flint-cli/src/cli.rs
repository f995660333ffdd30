use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use flint_conf::{ConfError, SparkConf, keys};

/// Flint: Apache Spark's cluster architecture in Rust.
#[derive(Debug, Parser)]
#[command(name = "flint", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run an application: a .sql file, a PySpark script or a program built on the flint
    /// crate (spark-submit).
    Submit(SubmitArgs),
    /// Run Spark SQL: -e TEXT, -f FILE, or an interactive shell (spark-sql).
    Sql(SqlArgs),
    /// Serve Spark Connect for PySpark clients, sc://HOST:15002 (start-connect-server.sh).
    ConnectServer(ConnectServerArgs),
    /// Interactive PySpark shell with `spark` defined, through Spark Connect (pyspark).
    Pyspark(PysparkArgs),
    /// Generate benchmark data.
    Datagen(DatagenArgs),
    /// Start a standalone master (Spark's deploy.master.Master).
    Master(MasterArgs),
    /// Start a standalone worker and register it with a master (Spark's deploy.worker.Worker).
    Worker(WorkerArgs),
    /// Serve the UIs of finished and running applications from their event logs
    /// (Spark's deploy.history.HistoryServer).
    HistoryServer(HistoryServerArgs),
    /// Internal: an application's executor process, started by a worker
    /// (Spark's CoarseGrainedExecutorBackend).
    #[command(hide = true)]
    Executor(ExecutorArgs),
}

impl Command {
    /// Whether the process must exit when its stdin closes (`--watch-stdin`).
    pub(crate) fn watches_stdin(&self) -> bool {
        match self {
            Command::Master(args) => args.daemon.watch_stdin,
            Command::Worker(args) => args.daemon.watch_stdin,
            Command::HistoryServer(args) => args.daemon.watch_stdin,
            Command::Executor(args) => args.watch_stdin,
            Command::Submit(args) => args.watch_stdin,
            _ => false,
        }
    }

    /// What to delete when the parent goes away: an executor's `spark.local.dir`, which
    /// its worker made for it and would have deleted.
    pub(crate) fn orphaned_files(&self) -> Option<std::path::PathBuf> {
        let Command::Executor(args) = self else {
            return None;
        };
        args.conf.iter().rev().find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == "spark.local.dir").then(|| std::path::PathBuf::from(value.trim()))
        })
    }

    /// Spark's defaults: applications log at INFO, the SQL shell at WARN.
    pub(crate) fn default_log_level(&self) -> &'static str {
        match self {
            Command::Submit(_)
            | Command::Datagen(_)
            | Command::Master(_)
            | Command::Worker(_)
            | Command::HistoryServer(_)
            | Command::Executor(_)
            | Command::ConnectServer(_) => "info",
            Command::Sql(_) | Command::Pyspark(_) => "warn",
        }
    }
}

/// Options every application takes; each maps to one configuration key.
#[derive(Debug, Args, Clone)]
pub(crate) struct AppOptions {
    /// spark.master: local, local[N], local[*], spark://HOST:PORT, local-cluster[W,C,M]
    #[arg(long)]
    pub(crate) master: Option<String>,
    /// spark.app.name
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Any configuration key, KEY=VALUE; may repeat
    #[arg(long = "conf", short = 'c', value_name = "KEY=VALUE")]
    pub(crate) conf: Vec<String>,
    /// spark.driver.memory (e.g. 1g); sizes the memory pool in local mode
    #[arg(long, value_name = "SIZE")]
    pub(crate) driver_memory: Option<String>,
    /// spark.executor.memory (e.g. 2g)
    #[arg(long, value_name = "SIZE")]
    pub(crate) executor_memory: Option<String>,
    /// spark.executor.cores
    #[arg(long, value_name = "N")]
    pub(crate) executor_cores: Option<String>,
    /// spark.cores.max
    #[arg(long, value_name = "N")]
    pub(crate) total_executor_cores: Option<String>,
    /// Properties file with default settings (Spark's spark-defaults.conf); default:
    /// $FLINT_CONF_DIR/spark-defaults.conf when that exists
    #[arg(long, value_name = "FILE")]
    pub(crate) properties_file: Option<PathBuf>,
    /// Where the driver runs: client (this process) or cluster (a worker, spark:// only)
    #[arg(long, value_name = "MODE", default_value = "client")]
    pub(crate) deploy_mode: String,
}

impl AppOptions {
    /// The configuration these options set; flags win over `--conf` for the same key, as in spark-submit.
    pub(crate) fn to_conf(&self) -> Result<SparkConf, ConfError> {
        let mut conf = SparkConf::new();
        for pair in &self.conf {
            conf.set_pair(pair)?;
        }
        let flags = [
            (keys::MASTER.key, &self.master),
            (keys::APP_NAME.key, &self.name),
            (keys::DRIVER_MEMORY.key, &self.driver_memory),
            (keys::EXECUTOR_MEMORY.key, &self.executor_memory),
            (keys::EXECUTOR_CORES.key, &self.executor_cores),
            (keys::CORES_MAX.key, &self.total_executor_cores),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                conf.set(key, value.as_str());
            }
        }
        // Spark's precedence: flags and --conf over the properties file.
        add_properties_file(&mut conf, self.properties_file.as_deref())?;
        // Validate what can be validated before anything starts.
        if let Some(master) = conf.get(keys::MASTER.key) {
            flint_conf::MasterUrl::parse(master, 1)?;
        }
        for key in [&keys::DRIVER_MEMORY, &keys::EXECUTOR_MEMORY] {
            conf.value(key)?;
        }
        if self.deploy_mode != "client" && self.deploy_mode != "cluster" {
            return Err(ConfError::InvalidValue {
                key: "spark.submit.deployMode".into(),
                value: self.deploy_mode.clone(),
                expected: "client or cluster",
            });
        }
        Ok(conf)
    }
}

#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    pub(crate) app: AppOptions,
    /// Cluster deploy mode: restart the driver when it exits non-zero
    #[arg(long)]
    pub(crate) supervise: bool,
    /// spark.driver.cores: cores reserved for the driver in cluster deploy mode
    #[arg(long, value_name = "N")]
    pub(crate) driver_cores: Option<u32>,
    /// Print the state of a driver submitted in cluster deploy mode (needs --master)
    #[arg(long, value_name = "SUBMISSION_ID", conflicts_with = "kill")]
    pub(crate) status: Option<String>,
    /// Kill a driver submitted in cluster deploy mode (needs --master)
    #[arg(long, value_name = "SUBMISSION_ID")]
    pub(crate) kill: Option<String>,
    /// Internal: exit when stdin closes (a worker runs this driver)
    #[arg(long, hide = true)]
    pub(crate) watch_stdin: bool,
    /// .py and .zip files put on a PySpark application's path (comma-separated)
    #[arg(long, value_name = "FILES", value_delimiter = ',')]
    pub(crate) py_files: Vec<PathBuf>,
    /// The application: a .sql file, a PySpark .py script, or an executable built on the
    /// flint crate
    #[arg(required_unless_present_any = ["status", "kill"])]
    pub(crate) application: Option<PathBuf>,
    /// Arguments passed to the application program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) args: Vec<String>,
}

/// `flint connect-server`: Spark's `start-connect-server.sh`.
#[derive(Debug, Args)]
pub(crate) struct ConnectServerArgs {
    #[command(flatten)]
    pub(crate) app: AppOptions,
    /// Address to listen on for clients (spark.connect.grpc.binding.address)
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub(crate) host: String,
    /// Port for clients, sc://HOST:PORT (spark.connect.grpc.binding.port; 0 picks a free one)
    #[arg(long, default_value_t = flint_connect::DEFAULT_PORT, value_name = "PORT")]
    pub(crate) port: u16,
}

/// `flint pyspark`: the interactive PySpark shell.
#[derive(Debug, Args)]
pub(crate) struct PysparkArgs {
    #[command(flatten)]
    pub(crate) app: AppOptions,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    #[command(flatten)]
    pub(crate) app: AppOptions,
    /// SQL text to run (statements separated by ;)
    #[arg(short = 'e', conflicts_with = "file", value_name = "SQL")]
    pub(crate) execute: Option<String>,
    /// SQL file to run
    #[arg(short = 'f', value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DatagenArgs {
    #[command(subcommand)]
    pub(crate) benchmark: DatagenBenchmark,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DatagenBenchmark {
    /// The 8 TPC-H tables as <output>/<table>.parquet
    Tpch {
        /// TPC-H scale factor (1 = about 1 GB of raw data)
        #[arg(long, default_value_t = 1.0)]
        scale_factor: f64,
        /// Output directory
        #[arg(long)]
        output: PathBuf,
    },
}

/// Fills in settings `conf` lacks from the properties file: `file`, else
/// `$FLINT_CONF_DIR/spark-defaults.conf` when it exists.
fn add_properties_file(
    conf: &mut SparkConf,
    file: Option<&std::path::Path>,
) -> Result<(), ConfError> {
    let defaults_file = file.map(PathBuf::from).or_else(|| {
        let path = PathBuf::from(std::env::var_os("FLINT_CONF_DIR")?).join("spark-defaults.conf");
        path.exists().then_some(path)
    });
    if let Some(path) = defaults_file {
        conf.set_missing_from(&SparkConf::from_properties_file(&path)?);
    }
    Ok(())
}

/// Settings a daemon reads besides its flags: `--conf` pairs and a properties file.
#[derive(Debug, Args, Clone)]
pub(crate) struct DaemonConf {
    /// Any configuration key, KEY=VALUE (e.g. spark.worker.timeout=10s); may repeat
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub(crate) conf: Vec<String>,
    /// Properties file with settings (Spark's spark-defaults.conf); default:
    /// $FLINT_CONF_DIR/spark-defaults.conf when that exists
    #[arg(long, value_name = "FILE")]
    pub(crate) properties_file: Option<PathBuf>,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub(crate) help: Option<bool>,
    /// Internal: exit when stdin closes (the process that started this one is gone)
    #[arg(long, hide = true)]
    pub(crate) watch_stdin: bool,
}

impl DaemonConf {
    /// `--conf` pairs over the properties file.
    pub(crate) fn to_conf(&self) -> Result<SparkConf, ConfError> {
        let mut conf = SparkConf::new();
        for pair in &self.conf {
            conf.set_pair(pair)?;
        }
        add_properties_file(&mut conf, self.properties_file.as_deref())?;
        Ok(conf)
    }
}

/// `flint master`: Spark's `start-master.sh` / `spark-class ...Master` options.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct MasterArgs {
    /// Host name or address to listen on and advertise (default: this machine's host name)
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    pub(crate) host: Option<String>,
    /// Port for the master's RPC (0 picks a free port)
    #[arg(short = 'p', long = "port", default_value_t = 7077)]
    pub(crate) port: u16,
    /// Port for the master web UI (default: spark.master.ui.port, 8080)
    #[arg(long = "webui-port", value_name = "PORT")]
    pub(crate) webui_port: Option<u16>,
    #[command(flatten)]
    pub(crate) daemon: DaemonConf,
}

/// `flint worker`: Spark's `start-worker.sh` / `spark-class ...Worker` options.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct WorkerArgs {
    /// The master to register with: spark://HOST:PORT (or flint://), comma-separated for several
    #[arg(value_name = "MASTER")]
    pub(crate) master: String,
    /// Cores to offer (default: all of this machine's)
    #[arg(short = 'c', long = "cores", value_name = "N")]
    pub(crate) cores: Option<u32>,
    /// Memory to offer, e.g. 1000m or 2g (default: the machine's memory minus 1 GiB)
    #[arg(short = 'm', long = "memory", value_name = "SIZE")]
    pub(crate) memory: Option<String>,
    /// Host name or address to listen on and advertise (default: this machine's host name)
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    pub(crate) host: Option<String>,
    /// Port for the worker's RPC (default: any free port)
    #[arg(short = 'p', long = "port", default_value_t = 0)]
    pub(crate) port: u16,
    /// Port for the worker web UI (default: spark.worker.ui.port, 8081)
    #[arg(long = "webui-port", value_name = "PORT")]
    pub(crate) webui_port: Option<u16>,
    /// Directory for executors' and drivers' files and logs (default: ./work)
    #[arg(short = 'd', long = "work-dir", value_name = "DIR")]
    pub(crate) work_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) daemon: DaemonConf,
}

/// `flint history-server`: Spark's `start-history-server.sh` options.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct HistoryServerArgs {
    /// Directory of event logs (default: spark.history.fs.logDirectory, file:/tmp/spark-events)
    #[arg(long = "log-dir", value_name = "DIR")]
    pub(crate) log_dir: Option<String>,
    /// Port of the history server's UI (default: spark.history.ui.port, 18080)
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub(crate) port: Option<u16>,
    /// Host name or address to listen on and advertise (default: this machine's host name)
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    pub(crate) host: Option<String>,
    #[command(flatten)]
    pub(crate) daemon: DaemonConf,
}

/// `flint executor`: the arguments a worker passes (Spark's CoarseGrainedExecutorBackend).
#[derive(Debug, Args)]
pub(crate) struct ExecutorArgs {
    /// The driver's executor endpoint, HOST:PORT
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) driver_url: String,
    /// The executor's id within its application
    #[arg(long)]
    pub(crate) executor_id: String,
    /// The host this executor reports
    #[arg(long)]
    pub(crate) hostname: String,
    /// Task slots
    #[arg(long)]
    pub(crate) cores: usize,
    /// The application's id
    #[arg(long)]
    pub(crate) app_id: String,
    /// The application's settings, KEY=VALUE (spark.executor.memory, spark.local.dir, ...);
    /// may repeat
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    pub(crate) conf: Vec<String>,
    /// Exit when stdin closes: the worker that started this executor is gone (Spark's
    /// WorkerWatcher)
    #[arg(long)]
    pub(crate) watch_stdin: bool,
}
