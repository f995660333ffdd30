//! `cargo build --release -p flint-cli -p flint-benchmarks && target/release/chaos
//! --scale-factor 1 --executor-kills 50 --worker-kills 20 --master-kills 10 --pauses 10`
//! (one build of both, so the harness finds `flint` beside it)
//!
//! Faults at random moments on a real standalone cluster. The harness starts a master (with
//! `spark.deploy.recoveryMode=FILESYSTEM`) and `--workers` workers (one core each) as
//! `flint` processes on 127.0.0.1, each worker with its own local and work directories.
//! Each run is one application (two single-core executors) running a TPC-H query once,
//! while one fault lands at a random moment within the query's undisturbed duration:
//!
//! - `executor`: an executor of the application is killed (`kill -9`);
//! - `worker`: the worker running one of its executors is killed (`kill -9`) and a new
//!   worker started in its place (same directories);
//! - `master`: the master is killed (`kill -9`) and started again on the same port and
//!   recovery directory; the time until it is ALIVE with every worker back is measured.
//!   With `--standby` there are two masters on a ZooKeeper the harness starts: the leader
//!   is killed, the time until the standby is ALIVE with every worker back is measured,
//!   and a new standby starts in the dead one's place;
//! - `pause`: an executor is stopped (`SIGSTOP`) for `--pause-ms`, then continued;
//! - `partition` (with `--netns`): the worker running one of its executors is cut off the
//!   network for `--partition-ms`, then connected again.
//!
//! With `--netns` (root, `ip` from iproute2) each worker runs in a network namespace of its
//! own, joined to a bridge by a veth pair, so each has its own address and shuffles really
//! cross a network; the master and the driver listen on the bridge. The namespaces and the
//! bridge are removed when the harness ends.
//!
//! Every answer is compared row by row with plain single-process DataFusion's. A run that
//! takes longer than `--hang-after-s` is a hang. After each run the application must have
//! left nothing: no executor process, no listening port of the driver (this process), and
//! no file of the application in any worker's local directory (shuffle and cache files).
//! The worker's work directory keeps each executor's logs, as Spark's does, and is not
//! counted. With `--secret-file` the whole cluster runs with `spark.authenticate` on, so
//! every reconnection after a fault goes through the secret's handshake. Prints one line per run and a table by fault kind; exits non-zero when any
//! answer was wrong or missing, any run hung or left something behind.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::prelude::{SessionConfig, SessionContext};
use flint::{SparkListener, SparkListenerEvent, SparkSession, TaskEndReason, format_row_values};
use flint_benchmarks::{
    BoxError, machine, oracle, query_text, register_tpch, split_pair, tpch_data,
};

#[derive(Debug, Parser)]
#[command(about = "TPC-H applications on a standalone cluster while its processes fail")]
struct Args {
    /// TPC-H scale factor
    #[arg(long, default_value_t = 1.0)]
    scale_factor: f64,
    /// Where the data lives (generated when missing); default target/tpch-sf<X>
    #[arg(long)]
    data: Option<PathBuf>,
    /// The TPC-H query each application runs
    #[arg(long, default_value_t = 9)]
    query: usize,
    /// Workers of one core each (the application takes two)
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Memory of each worker, MiB
    #[arg(long, default_value_t = 2560)]
    worker_memory_mib: u64,
    /// Runs with an executor killed
    #[arg(long, default_value_t = 4)]
    executor_kills: usize,
    /// Runs with a worker killed
    #[arg(long, default_value_t = 2)]
    worker_kills: usize,
    /// Runs with the master killed and restarted
    #[arg(long, default_value_t = 2)]
    master_kills: usize,
    /// Runs with an executor paused
    #[arg(long, default_value_t = 2)]
    pauses: usize,
    /// How long a paused executor stays stopped, ms
    #[arg(long, default_value_t = 2000)]
    pause_ms: u64,
    /// Run each worker in a network namespace of its own (needs root and `ip`)
    #[arg(long)]
    netns: bool,
    /// Two masters elected through a ZooKeeper the harness starts (Debian's `zookeeper`
    /// package): a master fault kills the leader, the standby takes over, and a new standby
    /// starts in the dead one's place
    #[arg(long)]
    standby: bool,
    /// Runs with a worker cut off the network (needs --netns)
    #[arg(long, default_value_t = 0)]
    partitions: usize,
    /// How long a worker stays cut off, ms
    #[arg(long, default_value_t = 3000)]
    partition_ms: u64,
    /// A run taking longer than this is a hang, s
    #[arg(long, default_value_t = 300)]
    hang_after_s: u64,
    /// `spark.worker.timeout` of the master and workers
    #[arg(long, default_value = "2s")]
    worker_timeout: String,
    /// Any other setting of the applications, KEY=VALUE; may repeat
    #[arg(long = "conf", value_name = "KEY=VALUE")]
    conf: Vec<String>,
    /// Turn `spark.authenticate` on for the master, workers and applications, with the
    /// secret in this file
    #[arg(long)]
    secret_file: Option<PathBuf>,
}

/// The secret the harness proves to the master's UI as a bearer token, with `--secret-file`.
static UI_SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The settings `--secret-file` gives every process of the cluster (`KEY=VALUE`).
fn security_conf(args: &Args) -> Vec<String> {
    match &args.secret_file {
        Some(file) => vec![
            "spark.authenticate=true".into(),
            format!("spark.authenticate.secret.file={}", file.display()),
        ],
        None => vec![],
    }
}

/// A fault one run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Executor,
    Worker,
    Master,
    Pause,
    Partition,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Executor => "executor kill -9",
            Fault::Worker => "worker kill -9",
            Fault::Master => "master kill -9",
            Fault::Pause => "executor SIGSTOP",
            Fault::Partition => "worker cut off",
        }
    }
}

/// Stage attempts after the first and fetch failures, counted from listener events.
#[derive(Default)]
struct Retries {
    resubmitted_stages: usize,
    fetch_failures: usize,
}

struct RetryCounter(Mutex<Retries>);

impl SparkListener for RetryCounter {
    fn on_event(&self, event: &SparkListenerEvent) {
        let mut retries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            SparkListenerEvent::StageSubmitted { stage_info } if stage_info.attempt > 0 => {
                retries.resubmitted_stages += 1;
            }
            SparkListenerEvent::TaskEnd {
                reason: TaskEndReason::FetchFailed { .. },
                ..
            } => retries.fetch_failures += 1,
            _ => {}
        }
    }
}

/// A `flint` daemon the harness started; its stderr goes to a log file.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(program: &Path, args: &[String], log: PathBuf) -> Result<Daemon, BoxError> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Daemon { child, log })
    }

    /// The port of Spark's "Successfully started service 'NAME' on port N." line.
    async fn service_port(&self, service: &str) -> Result<u16, BoxError> {
        let needle = format!("service '{service}' on port ");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(port) = log.lines().find_map(|line| {
                let (_, rest) = line.split_once(&needle)?;
                rest.trim_end_matches('.').parse().ok()
            }) {
                return Ok(port);
            }
            if Instant::now() > deadline {
                return Err(format!("no {service} port in {}", self.log.display()).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The standalone cluster the applications run on.
struct Cluster {
    flint: PathBuf,
    root: tempfile::TempDir,
    worker_timeout: String,
    worker_memory_mib: u64,
    master: Daemon,
    master_port: u16,
    master_ui: String,
    /// One worker per slot; a killed one is replaced in its slot.
    workers: Vec<Daemon>,
    started: usize,
    /// The workers' network namespaces, with `--netns`.
    network: Option<Network>,
    /// The masters' settings (`--conf` pairs): recovery, and those of `security`.
    recovery: Vec<String>,
    /// The settings of `--secret-file`, given to every master and worker.
    security: Vec<String>,
    /// With `--standby`: the ZooKeeper server, kept running as long as the cluster.
    _zookeeper: Option<Daemon>,
    /// With `--standby`: the standby master, its port and UI.
    standby: Option<(Daemon, u16, String)>,
}

/// A bridge in this namespace and one network namespace per worker slot, joined to it by
/// a veth pair; removed on drop.
struct Network {
    bridge: String,
    /// `10.X.Y` of the /24 the bridge (`.1`) and the workers (`.10 + slot`) are in.
    prefix: String,
    namespaces: Vec<String>,
    /// The bridge's end of each namespace's veth pair: down cuts the worker off.
    links: Vec<String>,
}

/// Runs `ip args`; an error names the command.
fn ip(args: &[&str]) -> Result<(), BoxError> {
    let status = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`ip {}` failed ({status})", args.join(" ")).into())
    }
}

impl Network {
    fn create(slots: usize) -> Result<Network, BoxError> {
        let id = std::process::id() % 100_000;
        let mut network = Network {
            bridge: format!("fbr{id}"),
            prefix: format!("10.211.{}", 20 + id % 200),
            namespaces: vec![],
            links: vec![],
        };
        ip(&["link", "add", &network.bridge, "type", "bridge"])?;
        let address = format!("{}.1/24", network.prefix);
        ip(&["addr", "add", &address, "dev", &network.bridge])?;
        ip(&["link", "set", &network.bridge, "up"])?;
        for slot in 0..slots {
            let namespace = format!("flint{id}-w{slot}");
            let (outside, inside) = (format!("fvh{id}w{slot}"), format!("fvn{id}w{slot}"));
            ip(&["netns", "add", &namespace])?;
            network.namespaces.push(namespace.clone());
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ])?;
            network.links.push(outside.clone());
            ip(&["link", "set", &outside, "master", &network.bridge, "up"])?;
            ip(&["link", "set", &inside, "netns", &namespace])?;
            let address = format!("{}/24", network.worker_host(slot));
            ip(&["-n", &namespace, "addr", "add", &address, "dev", &inside])?;
            ip(&["-n", &namespace, "link", "set", &inside, "up"])?;
            ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        }
        Ok(network)
    }

    fn host(&self) -> String {
        format!("{}.1", self.prefix)
    }

    fn worker_host(&self, slot: usize) -> String {
        format!("{}.{}", self.prefix, 10 + slot)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in &self.namespaces {
            let _ = ip(&["netns", "del", namespace]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

impl Cluster {
    async fn start(args: &Args) -> Result<Cluster, BoxError> {
        let flint = flint_binary()?;
        let root = tempfile::tempdir()?;
        std::fs::create_dir_all(root.path().join("logs"))?;
        let network = if args.netns {
            Some(Network::create(args.workers)?)
        } else {
            None
        };
        let host = network.as_ref().map_or("127.0.0.1".into(), Network::host);
        let (zookeeper, recovery) = if args.standby {
            let (zookeeper, port) = start_zookeeper(root.path()).await?;
            let recovery = vec![
                "spark.deploy.recoveryMode=ZOOKEEPER".to_string(),
                format!("spark.deploy.zookeeper.url=127.0.0.1:{port}"),
                "spark.deploy.zookeeper.dir=/flint-chaos".to_string(),
            ];
            (Some(zookeeper), recovery)
        } else {
            let directory = root.path().join("recovery");
            let recovery = vec![
                "spark.deploy.recoveryMode=FILESYSTEM".to_string(),
                format!("spark.deploy.recoveryDirectory={}", directory.display()),
            ];
            (None, recovery)
        };
        let security = security_conf(args);
        let recovery = [recovery, security.clone()].concat();
        let (master, master_port, master_ui) = start_master(
            &flint,
            root.path(),
            (&host, 0),
            (&args.worker_timeout, &recovery),
            0,
        )
        .await?;
        wait_for_status(&master_ui, "ALIVE").await?;
        let standby = if args.standby {
            let standby = start_master(
                &flint,
                root.path(),
                (&host, 0),
                (&args.worker_timeout, &recovery),
                1,
            )
            .await?;
            wait_for_status(&standby.2, "STANDBY").await?;
            Some(standby)
        } else {
            None
        };
        let mut cluster = Cluster {
            flint,
            root,
            worker_timeout: args.worker_timeout.clone(),
            worker_memory_mib: args.worker_memory_mib,
            master,
            master_port,
            master_ui,
            workers: vec![],
            started: 1,
            network,
            recovery,
            security,
            _zookeeper: zookeeper,
            standby,
        };
        for slot in 0..args.workers {
            let worker = cluster.start_worker(slot)?;
            cluster.workers.push(worker);
        }
        Ok(cluster)
    }

    /// The address the master and the driver listen on.
    fn host(&self) -> String {
        self.network
            .as_ref()
            .map_or("127.0.0.1".into(), Network::host)
    }

    fn url(&self) -> String {
        match &self.standby {
            Some((_, port, _)) => format!(
                "spark://{host}:{},{host}:{port}",
                self.master_port,
                host = self.host()
            ),
            None => format!("spark://{}:{}", self.host(), self.master_port),
        }
    }

    fn local_dir(&self, slot: usize) -> PathBuf {
        self.root.path().join(format!("worker-{slot}/local"))
    }

    fn start_worker(&mut self, slot: usize) -> Result<Daemon, BoxError> {
        self.started += 1;
        let dir = self.root.path().join(format!("worker-{slot}"));
        let host = self
            .network
            .as_ref()
            .map_or("127.0.0.1".into(), |n| n.worker_host(slot));
        let mut args = vec![
            "worker".to_string(),
            self.url(),
            "-h".into(),
            host,
            "--webui-port".into(),
            "0".into(),
            "--cores".into(),
            "1".into(),
            "--memory".into(),
            format!("{}m", self.worker_memory_mib),
            "-d".into(),
            dir.join("work").display().to_string(),
            "--conf".into(),
            format!("spark.local.dir={}", self.local_dir(slot).display()),
            "--conf".into(),
            format!("spark.worker.timeout={}", self.worker_timeout),
        ];
        for pair in &self.security {
            args.extend(["--conf".to_string(), pair.clone()]);
        }
        let log = self
            .root
            .path()
            .join(format!("logs/worker-{slot}-{}.log", self.started));
        match &self.network {
            // `ip netns exec` execs the worker: the process is the worker's.
            Some(network) => {
                let mut wrapped = vec![
                    "netns".to_string(),
                    "exec".into(),
                    network.namespaces[slot].clone(),
                    self.flint.display().to_string(),
                ];
                wrapped.extend(args);
                Daemon::start(Path::new("ip"), &wrapped, log)
            }
            None => Daemon::start(&self.flint, &args, log),
        }
    }

    /// Waits until the master is ALIVE with every worker registered; returns how long.
    async fn wait_until_whole(&self) -> Result<Duration, BoxError> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Some(state) = get_json(&format!("{}/json/", self.master_ui)).await
                && state["status"] == "ALIVE"
                && state["aliveworkers"] == self.workers.len()
            {
                return Ok(started.elapsed());
            }
            if Instant::now() > deadline {
                return Err("the cluster did not come back whole within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the master and starts it again on its port and recovery directory; returns
    /// the times until it was ALIVE and until every worker was back.
    async fn restart_master(&mut self) -> Result<(Duration, Duration), BoxError> {
        self.master.kill();
        let restarted = Instant::now();
        self.started += 1;
        if let Some((standby, port, ui)) = self.standby.take() {
            // The standby takes over; a new standby starts on the dead leader's port.
            let dead_port = self.master_port;
            self.master = standby;
            self.master_port = port;
            self.master_ui = ui;
            let alive = wait_for_status(&self.master_ui, "ALIVE").await?;
            self.wait_until_whole().await?;
            let whole = restarted.elapsed();
            let standby = start_master(
                &self.flint,
                self.root.path(),
                (&self.host(), dead_port),
                (&self.worker_timeout, &self.recovery),
                self.started,
            )
            .await?;
            wait_for_status(&standby.2, "STANDBY").await?;
            self.standby = Some(standby);
            return Ok((alive, whole));
        }
        let (master, _, ui) = start_master(
            &self.flint,
            self.root.path(),
            (&self.host(), self.master_port),
            (&self.worker_timeout, &self.recovery),
            self.started,
        )
        .await?;
        self.master = master;
        self.master_ui = ui;
        let alive = loop {
            if get_json(&format!("{}/json/", self.master_ui))
                .await
                .is_some_and(|state| state["status"] == "ALIVE")
            {
                break restarted.elapsed();
            }
            if restarted.elapsed() > Duration::from_secs(120) {
                return Err("the restarted master was not ALIVE within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.wait_until_whole().await?;
        Ok((alive, restarted.elapsed()))
    }
}

/// Waits until the master UI at `ui` reports `status`; returns how long that took.
async fn wait_for_status(ui: &str, status: &str) -> Result<Duration, BoxError> {
    let started = Instant::now();
    loop {
        if get_json(&format!("{ui}/json/"))
            .await
            .is_some_and(|state| state["status"] == status)
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("the master at {ui} was not {status} within 120 s").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The jar Debian's `zookeeper` package installs.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// Starts a standalone ZooKeeper with its data under `root`; returns it and its port.
async fn start_zookeeper(root: &Path) -> Result<(Daemon, u16), BoxError> {
    if !Path::new(ZOOKEEPER_JAR).exists() {
        return Err(format!(
            "--standby needs ZooKeeper: {ZOOKEEPER_JAR} is missing (apt-get install zookeeper)"
        )
        .into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = root.join("zookeeper");
    std::fs::create_dir_all(&dir)?;
    // A short tick lets sessions be as short as spark.worker.timeout (2 to 20 ticks).
    let config = dir.join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nmaxSessionTimeout=60000\n",
            dir.join("data").display()
        ),
    )?;
    let args = [
        "-cp".to_string(),
        format!("/etc/zookeeper/conf:{ZOOKEEPER_JAR}"),
        "org.apache.zookeeper.server.ZooKeeperServerMain".into(),
        config.display().to_string(),
    ];
    let zookeeper = Daemon::start(Path::new("java"), &args, root.join("logs/zookeeper.log"))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("ZooKeeper did not listen within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((zookeeper, port))
}

async fn start_master(
    flint: &Path,
    root: &Path,
    (host, port): (&str, u16),
    (worker_timeout, recovery): (&str, &[String]),
    incarnation: usize,
) -> Result<(Daemon, u16, String), BoxError> {
    let mut args = vec![
        "master".to_string(),
        "-h".into(),
        host.to_string(),
        "-p".into(),
        port.to_string(),
        "--webui-port".into(),
        "0".into(),
        "--conf".into(),
        format!("spark.worker.timeout={worker_timeout}"),
    ];
    for pair in recovery {
        args.push("--conf".into());
        args.push(pair.clone());
    }
    let master = Daemon::start(
        flint,
        &args,
        root.join(format!("logs/master-{incarnation}.log")),
    )?;
    let port = master.service_port("sparkMaster").await?;
    let ui = format!("http://{host}:{}", master.service_port("MasterUI").await?);
    Ok((master, port, ui))
}

/// The `flint` binary: `$FLINT_BIN`, or the one beside this program.
fn flint_binary() -> Result<PathBuf, BoxError> {
    if let Some(path) = std::env::var_os("FLINT_BIN") {
        return Ok(PathBuf::from(path));
    }
    let beside = std::env::current_exe()?.with_file_name("flint");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(format!("no flint binary at {} (set FLINT_BIN)", beside.display()).into())
    }
}

async fn get_json(url: &str) -> Option<serde_json::Value> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(secret) = UI_SECRET.get() {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.ok()?;
    serde_json::from_str(&response.text().await.ok()?).ok()
}

/// `(pid, parent pid)` of the running executor processes of the application named
/// `app_name`, from `/proc`.
fn executor_processes(app_name: &str) -> Vec<(u32, u32)> {
    let name_conf = format!("spark.app.name={app_name}");
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).is_some_and(|a| a == "executor") && args.contains(&name_conf) {
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
                    stat.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            found.push((pid, parent));
        }
    }
    found.sort();
    found
}

/// TCP ports this process listens on, from `/proc/net/tcp{,6}` and its open sockets.
fn own_listening_ports() -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && let Some(inode) = target
                    .to_str()
                    .and_then(|t| t.strip_prefix("socket:["))
                    .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
    }
    let mut ports = vec![];
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, st (0A = LISTEN), inode
            if fields.len() > 9
                && fields[3] == "0A"
                && inodes.contains(fields[9])
                && let Some(port) = fields[1]
                    .rsplit_once(':')
                    .and_then(|(_, port)| u16::from_str_radix(port, 16).ok())
            {
                ports.push(port);
            }
        }
    }
    ports.sort();
    ports
}

/// Files and directories of application `app_id` under `dir`.
fn files_of(dir: &Path, app_id: &str) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(app_id) {
                found.push(path);
            } else if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

/// What an application left behind, polled until nothing is left or 20 s passed.
async fn leftovers(
    cluster: &Cluster,
    app_name: &str,
    app_id: &str,
    ports_before: &[u16],
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut left = vec![];
        let processes = executor_processes(app_name);
        if !processes.is_empty() {
            left.push(format!("{} executor process(es)", processes.len()));
        }
        let ports: Vec<u16> = own_listening_ports()
            .into_iter()
            .filter(|port| !ports_before.contains(port))
            .collect();
        if !ports.is_empty() {
            left.push(format!("driver ports {ports:?}"));
        }
        for slot in 0..cluster.workers.len() {
            let files = files_of(&cluster.local_dir(slot), app_id);
            if !files.is_empty() {
                left.push(format!(
                    "{} path(s) like {}",
                    files.len(),
                    files[0].display()
                ));
            }
        }
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An answer's rows as `spark-sql` prints them, to compare.
fn rows(batches: &[flint::RecordBatch]) -> Vec<Vec<String>> {
    batches.iter().flat_map(format_row_values).collect()
}

/// A random number below `bound` (from the standard library's randomly keyed hasher).
fn random_below(bound: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish() % bound.max(1)
}

/// Waits until the application named `app_name` has `count` executor processes.
async fn wait_for_executors(app_name: &str, count: usize) -> Result<Vec<(u32, u32)>, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let executors = executor_processes(app_name);
        if executors.len() == count {
            return Ok(executors);
        }
        if Instant::now() > deadline {
            return Err(format!("no {count} executors after 120 s: {executors:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One application: starts it, runs the query, stops it.
struct Application {
    spark: SparkSession,
    name: String,
    retries: Arc<RetryCounter>,
}

async fn start_application(
    cluster: &Cluster,
    args: &Args,
    data: &Path,
    run: usize,
) -> Result<Application, BoxError> {
    let name = format!("chaos-{}-{run}", std::process::id());
    let mut builder = SparkSession::builder()
        .master(&cluster.url())
        .app_name(&name)
        .config("spark.executor.cores", "1")
        .config("spark.cores.max", "2")
        .config(
            "spark.executor.memory",
            &format!("{}m", args.worker_memory_mib),
        )
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.shuffle.readHostLocalDisk", "false")
        .config("spark.worker.timeout", &args.worker_timeout)
        .config("spark.driver.host", &cluster.host())
        .config("spark.ui.showConsoleProgress", "false");
    for pair in args.conf.iter().chain(&security_conf(args)) {
        let (key, value) = split_pair(pair)?;
        builder = builder.config(key, value);
    }
    let spark = builder.create().await?;
    let views = SessionContext::new();
    register_tpch(data, std::slice::from_ref(&spark), &views).await?;
    let retries = Arc::new(RetryCounter(Mutex::default()));
    spark.add_listener(retries.clone());
    wait_for_executors(&name, 2).await?;
    Ok(Application {
        spark,
        name,
        retries,
    })
}

/// What happened in one run.
struct Outcome {
    fault: Fault,
    /// When the fault landed, if it did before the query ended.
    at: Option<Duration>,
    took: Duration,
    result: String,
    right: bool,
    hung: bool,
    left: Vec<String>,
    /// For a master restart: until ALIVE, until every worker was back.
    master_back: Option<(Duration, Duration)>,
}

/// Injects `fault` into the application's executors or the cluster.
async fn inject(
    fault: Fault,
    cluster: &Arc<tokio::sync::Mutex<Cluster>>,
    app_name: &str,
    pause: Duration,
) -> Option<(Duration, Duration)> {
    let executors = executor_processes(app_name);
    if executors.is_empty() {
        return None;
    }
    let (pid, parent) = executors[random_below(executors.len() as u64) as usize];
    match fault {
        Fault::Executor => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            None
        }
        Fault::Pause => {
            let _ = Command::new("kill")
                .args(["-STOP", &pid.to_string()])
                .status();
            tokio::time::sleep(pause).await;
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
            None
        }
        Fault::Worker => {
            let mut cluster = cluster.lock().await;
            let slot = cluster
                .workers
                .iter()
                .position(|w| w.child.id() == parent)?;
            // `Child::kill` is SIGKILL: the worker gets no chance to clean up.
            cluster.workers[slot].kill();
            match cluster.start_worker(slot) {
                Ok(worker) => cluster.workers[slot] = worker,
                Err(error) => {
                    eprintln!("cannot start a worker in place of the killed one: {error}")
                }
            }
            None
        }
        Fault::Partition => {
            let link = {
                let cluster = cluster.lock().await;
                let slot = cluster
                    .workers
                    .iter()
                    .position(|w| w.child.id() == parent)?;
                cluster.network.as_ref()?.links[slot].clone()
            };
            let _ = ip(&["link", "set", &link, "down"]);
            tokio::time::sleep(pause).await;
            let _ = ip(&["link", "set", &link, "up"]);
            None
        }
        Fault::Master => {
            let mut cluster = cluster.lock().await;
            match cluster.restart_master().await {
                Ok(times) => Some(times),
                Err(error) => {
                    eprintln!("master restart: {error}");
                    None
                }
            }
        }
    }
}

async fn run_once(
    cluster: &Arc<tokio::sync::Mutex<Cluster>>,
    args: &Args,
    data: &Path,
    run: usize,
    fault: Fault,
    window: Duration,
    (text, expected): (&str, &[Vec<String>]),
) -> Result<Outcome, BoxError> {
    cluster.lock().await.wait_until_whole().await?;
    let ports_before = own_listening_ports();
    let app = start_application(&*cluster.lock().await, args, data, run).await?;
    let app_id = app.spark.app_id().to_string();
    let at = Duration::from_millis(random_below(window.as_millis() as u64));
    let injector = {
        let cluster = Arc::clone(cluster);
        let name = app.name.clone();
        let pause = Duration::from_millis(match fault {
            Fault::Partition => args.partition_ms,
            _ => args.pause_ms,
        });
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            inject(fault, &cluster, &name, pause).await
        })
    };
    let started = Instant::now();
    let query = async {
        match app.spark.sql(text).await {
            Ok(df) => df.collect().await,
            Err(error) => Err(error),
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(args.hang_after_s), query).await;
    let took = started.elapsed();
    // A fault that would land after the query ended is not made; one under way finishes.
    let landed = took > at;
    if !landed {
        injector.abort();
    }
    let master_back = injector.await.ok().flatten();
    app.spark.wait_for_listeners();
    let (result, right, hung) = match answer {
        Err(_) => (format!("HUNG after {took:?}"), false, true),
        Ok(Err(error)) => (format!("FAILED: {error}"), false, false),
        Ok(Ok(batches)) => {
            let answer = rows(&batches);
            if answer == expected {
                ("right".to_string(), true, false)
            } else {
                (format!("WRONG ({} rows)", answer.len()), false, false)
            }
        }
    };
    let counts = {
        let retries = app.retries.0.lock().unwrap_or_else(|p| p.into_inner());
        format!(
            "{} stage retries, {} fetch failures",
            retries.resubmitted_stages, retries.fetch_failures
        )
    };
    app.spark.stop();
    let name = app.name.clone();
    drop(app);
    let left = leftovers(&*cluster.lock().await, &name, &app_id, &ports_before).await;
    Ok(Outcome {
        fault,
        at: landed.then_some(at),
        took,
        result: format!("{result} ({counts})"),
        right,
        hung,
        left,
        master_back,
    })
}

fn millis(duration: Duration) -> String {
    format!("{:.0}", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.partitions > 0 && !args.netns {
        return Err("--partitions needs --netns (workers in network namespaces)".into());
    }
    if let Some(file) = &args.secret_file {
        let secret = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read --secret-file {}: {e}", file.display()))?;
        let _ = UI_SECRET.set(secret.trim().to_string());
    }
    let data = tpch_data(args.scale_factor, args.data.clone())?;
    let text = query_text(args.query)?;
    let oracle = oracle(SessionConfig::new().with_target_partitions(8))?;
    register_tpch(&data, &[], &oracle).await?;
    let expected = rows(&oracle.sql(&text).await?.collect().await?);

    let cluster = Arc::new(tokio::sync::Mutex::new(Cluster::start(&args).await?));
    // A first application with no fault sets the window the faults land in.
    cluster.lock().await.wait_until_whole().await?;
    let app = start_application(&*cluster.lock().await, &args, &data, 0).await?;
    // Twice, both checked: the second run, warm as the later ones mostly are, sets the window.
    let cold = rows(&app.spark.sql(&text).await?.collect().await?);
    let started = Instant::now();
    let warm = rows(&app.spark.sql(&text).await?.collect().await?);
    let window = started.elapsed();
    app.spark.stop();
    drop(app);
    if cold != expected || warm != expected {
        return Err("an undisturbed run differs from DataFusion's answer".into());
    }
    println!(
        "TPC-H q{} SF{} | {} workers of 1 core, applications of 2 executors | {} | undisturbed run {} ms | {} rows",
        args.query,
        args.scale_factor,
        args.workers,
        machine(),
        millis(window),
        expected.len()
    );

    let mut faults: Vec<Fault> = [
        (Fault::Executor, args.executor_kills),
        (Fault::Worker, args.worker_kills),
        (Fault::Master, args.master_kills),
        (Fault::Pause, args.pauses),
        (Fault::Partition, args.partitions),
    ]
    .into_iter()
    .flat_map(|(fault, count)| std::iter::repeat_n(fault, count))
    .collect();
    // A random order, so each kind meets the cluster in every state the others leave.
    for i in (1..faults.len()).rev() {
        faults.swap(i, random_below(i as u64 + 1) as usize);
    }
    println!(
        "{:>4}  {:<17} {:>8} {:>9}  result",
        "run", "fault", "at (ms)", "took (ms)"
    );
    let mut outcomes = vec![];
    for (run, fault) in faults.into_iter().enumerate() {
        let outcome = run_once(
            &cluster,
            &args,
            &data,
            run + 1,
            fault,
            window,
            (&text, &expected),
        )
        .await?;
        println!(
            "{:>4}  {:<17} {:>8} {:>9}  {}{}{}",
            run + 1,
            fault.name(),
            outcome.at.map_or("-".into(), millis),
            millis(outcome.took),
            outcome.result,
            outcome
                .master_back
                .map_or(String::new(), |(alive, whole)| format!(
                    "; master ALIVE after {} ms, all workers back after {} ms",
                    millis(alive),
                    millis(whole)
                )),
            if outcome.left.is_empty() {
                String::new()
            } else {
                format!("; LEFT: {}", outcome.left.join(", "))
            }
        );
        outcomes.push(outcome);
    }

    let mut by_kind: BTreeMap<Fault, [usize; 6]> = BTreeMap::new();
    for outcome in &outcomes {
        let row = by_kind.entry(outcome.fault).or_default();
        row[0] += 1;
        row[1] += usize::from(outcome.at.is_some());
        row[2] += usize::from(outcome.right);
        row[3] += usize::from(!outcome.right && !outcome.hung);
        row[4] += usize::from(outcome.hung);
        row[5] += usize::from(!outcome.left.is_empty());
    }
    println!();
    println!(
        "| fault | runs | landed during the query | right | wrong or failed | hangs | runs with leftovers |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut totals = [0usize; 6];
    for (fault, row) in &by_kind {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            fault.name(),
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5]
        );
        for (total, value) in totals.iter_mut().zip(row) {
            *total += value;
        }
    }
    println!(
        "| all | {} | {} | {} | {} | {} | {} |",
        totals[0], totals[1], totals[2], totals[3], totals[4], totals[5]
    );
    let mut restarts: Vec<(Duration, Duration)> =
        outcomes.iter().filter_map(|o| o.master_back).collect();
    if !restarts.is_empty() {
        restarts.sort();
        let alive: Vec<String> = restarts.iter().map(|(a, _)| millis(*a)).collect();
        let whole: Vec<String> = restarts.iter().map(|(_, w)| millis(*w)).collect();
        println!(
            "master restarts: ALIVE after [{}] ms; every worker back after [{}] ms",
            alive.join(", "),
            whole.join(", ")
        );
    }
    if totals[2] == totals[0] && totals[5] == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} of {} runs were not right, {} hung, {} left something behind",
            totals[0] - totals[2],
            totals[0],
            totals[4],
            totals[5]
        )
        .into())
    }
}
