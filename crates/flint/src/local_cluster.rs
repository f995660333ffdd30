//! `local-cluster[W,C,M]` (Spark's `LocalSparkCluster`): a real `flint master` and W
//! `flint worker` processes on 127.0.0.1, started for one application and stopped with it.
//! Everything they write lives in one temporary directory, removed at the end.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::FlintError;

/// How long a daemon may take to report that it is up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running local cluster; dropping it stops the processes and removes their files.
pub(crate) struct LocalCluster {
    /// The master's RPC port on 127.0.0.1.
    pub(crate) master_port: u16,
    /// The master's web UI port on 127.0.0.1.
    pub(crate) master_webui_port: Option<u16>,
    dir: PathBuf,
    daemons: Vec<(Child, Option<ChildStdin>)>,
    /// `spark.authenticate`'s secret, handed to the daemons in their environment.
    secret: Option<String>,
}

impl std::fmt::Debug for LocalCluster {
    // Written out so the secret never reaches a `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("master_port", &self.master_port)
            .field("master_webui_port", &self.master_webui_port)
            .field("dir", &self.dir)
            .field("daemons", &self.daemons.len())
            .field("authenticates", &self.secret.is_some())
            .finish()
    }
}

/// The `flint` binary: `$FLINT_BIN`, this process when it is `flint`, or `flint` beside this
/// executable or one directory up (where cargo puts it for tests).
pub(crate) fn flint_binary() -> Result<PathBuf, FlintError> {
    if let Some(path) = std::env::var_os("FLINT_BIN") {
        return Ok(PathBuf::from(path));
    }
    let current = std::env::current_exe().map_err(|e| {
        FlintError::Unsupported(format!(
            "cannot locate this executable ({e}); set FLINT_BIN"
        ))
    })?;
    if current.file_stem().is_some_and(|stem| stem == "flint") {
        return Ok(current);
    }
    let mut dir = current.parent();
    for _ in 0..2 {
        let Some(here) = dir else { break };
        let candidate = here.join("flint");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = here.parent();
    }
    Err(FlintError::Unsupported(
        "local-cluster needs the flint binary to start a master and workers; set FLINT_BIN to its path".into(),
    ))
}

impl LocalCluster {
    /// Starts a master and `workers` workers with `cores` cores and `memory_mib` MiB each (each
    /// running a shuffle service on a port of its own when `shuffle_service`), and waits until
    /// every worker is registered. With `secret` (`spark.authenticate`) the daemons require
    /// it; they get it in their environment, not on their command lines. `ssl` are the
    /// application's `spark.ssl.*` settings, which the daemons share.
    pub(crate) fn start(
        workers: usize,
        cores: usize,
        memory_mib: u64,
        shuffle_service: bool,
        secret: Option<String>,
        ssl: Vec<(String, String)>,
    ) -> Result<Self, FlintError> {
        let binary = flint_binary()?;
        // Unique per process and per cluster: tests start several clusters at once.
        static CLUSTERS: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flint-local-cluster-{}-{}-{}",
            std::process::id(),
            flint_common::now_millis(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        let io_error = |path: &Path, source: std::io::Error| FlintError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        let mut cluster = LocalCluster {
            master_port: 0,
            master_webui_port: None,
            dir,
            daemons: vec![],
            secret,
        };
        let mut master_args: Vec<String> = [
            "master",
            "-h",
            "127.0.0.1",
            "-p",
            "0",
            "--webui-port",
            "0",
            "--watch-stdin",
        ]
        .map(String::from)
        .to_vec();
        let mut security_args = vec![];
        if cluster.secret.is_some() {
            security_args.extend(["--conf".to_string(), "spark.authenticate=true".to_string()]);
        }
        for (key, value) in &ssl {
            security_args.extend(["--conf".to_string(), format!("{key}={value}")]);
        }
        master_args.extend(security_args.iter().cloned());
        let ports = cluster.spawn(
            &binary,
            "master",
            &master_args,
            &[
                "Successfully started service 'sparkMaster' on port ",
                "Successfully started service 'MasterUI' on port ",
            ],
        )?;
        cluster.master_port = ports[0];
        cluster.master_webui_port = Some(ports[1]);
        let master_url = format!("spark://127.0.0.1:{}", cluster.master_port);
        for index in 0..workers {
            let work_dir = cluster.dir.join(format!("worker-{index}"));
            let mut args = vec![
                "worker".to_string(),
                master_url.clone(),
                "-h".into(),
                "127.0.0.1".into(),
                "--webui-port".into(),
                "0".into(),
                "-c".into(),
                cores.to_string(),
                "-m".into(),
                format!("{memory_mib}m"),
                "-d".into(),
                work_dir.display().to_string(),
                "--conf".into(),
                format!("spark.local.dir={}", work_dir.display()),
                "--watch-stdin".into(),
            ];
            args.extend(security_args.iter().cloned());
            if shuffle_service {
                // Every worker here shares one host: each takes a free port.
                for setting in [
                    "spark.shuffle.service.enabled=true",
                    "spark.shuffle.service.port=0",
                ] {
                    args.extend(["--conf".into(), setting.into()]);
                }
            }
            cluster.spawn(
                &binary,
                &format!("worker-{index}"),
                &args,
                &["Successfully registered with master "],
            )?;
        }
        tracing::info!(
            "Started local cluster: master {master_url}, {workers} worker(s) with {cores} core(s) and {memory_mib} MiB each"
        );
        Ok(cluster)
    }

    /// Starts one daemon, logging to `<dir>/<name>.log`, and waits for each of `markers` in
    /// its log; returns the number after each marker (a port) where there is one.
    fn spawn(
        &mut self,
        binary: &Path,
        name: &str,
        args: &[String],
        markers: &[&str],
    ) -> Result<Vec<u16>, FlintError> {
        let log_path = self.dir.join(format!("{name}.log"));
        let failed = |message: String| {
            FlintError::Unsupported(format!(
                "local-cluster: the {name} did not start: {message} (log: {})",
                log_path.display()
            ))
        };
        let mut command = Command::new(binary);
        if let Some(secret) = &self.secret {
            command.env(flint_conf::AUTH_SECRET_ENV, secret);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("FLINT_LOG", "info")
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        self.daemons.push((child, stdin));
        let Some(stderr) = stderr else {
            return Err(failed("no stderr".into()));
        };
        let mut log = std::fs::File::create(&log_path).map_err(|e| failed(e.to_string()))?;
        let (lines, found) = mpsc::channel::<String>();
        // Copies the daemon's log to its file for as long as it runs, and passes each line on
        // until the caller stops listening.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut ports = vec![];
        for marker in markers {
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let line = found.recv_timeout(left).map_err(|_| {
                    failed(format!("no \"{}\" within {START_TIMEOUT:?}", marker.trim()))
                })?;
                if let Some((_, rest)) = line.split_once(marker) {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(port) = digits.parse() {
                        ports.push(port);
                    }
                    break;
                }
            }
        }
        Ok(ports)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // Closing their stdin makes the daemons exit (--watch-stdin), workers first so they
        // see their executors out; then anything still running is killed.
        for (_, stdin) in self.daemons.iter_mut().rev() {
            stdin.take();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (child, _) in self.daemons.iter_mut().rev() {
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
