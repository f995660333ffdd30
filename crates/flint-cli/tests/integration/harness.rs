use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished process printed.
pub struct Run {
    pub code: Option<i32>,
    /// Killed because it outlived its time limit.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the run failed with one `error: ...` line and no panic, and returns that line.
    pub fn expect_clear_error(&self) -> String {
        assert_ne!(
            self.code,
            Some(0),
            "expected failure\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "panic in stderr: {}",
            self.stderr
        );
        assert!(
            !self.stderr.contains("backtrace"),
            "backtrace in stderr: {}",
            self.stderr
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected one error line, stderr: {}",
            self.stderr
        );
        errors[0].to_string()
    }
}

/// Runs `flint` with `args` (and extra environment), killing it after two minutes.
pub fn flint(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flint"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let run = run_within(command, Duration::from_secs(120));
    assert!(
        !run.timed_out,
        "flint {args:?} did not finish in time\nstderr: {}",
        run.stderr
    );
    run
}

/// Runs `command` (stdin closed, output captured), killing it once `limit` has passed.
pub fn run_within(mut command: Command, limit: Duration) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the process");
    let deadline = Instant::now() + limit;
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.and_then(|s| s.code()),
        timed_out: status.is_none(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A long-running `flint` process (master, worker) whose stderr goes to a log file. Dropping
/// it kills the process and removes its directory; a failing test prints the log's tail.
pub struct Daemon {
    name: String,
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `flint args...` in a fresh temp dir (its working directory).
    pub fn start(name: &str, args: &[&str]) -> Daemon {
        Self::start_with(name, args, false)
    }

    /// Starts `flint args...` with a stdin the test writes to and closes ([`Daemon::close_stdin`]).
    pub fn start_with_stdin(name: &str, args: &[&str]) -> Daemon {
        Self::start_with(name, args, true)
    }

    fn start_with(name: &str, args: &[&str], piped_stdin: bool) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log file");
        let out = std::fs::File::create(dir.path().join("stdout.log")).expect("out file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_flint"))
            .args(args)
            .current_dir(dir.path())
            .stdin(if piped_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("start flint");
        Daemon {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            dir,
        }
    }

    /// What the process has printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Writes `text` to the process's stdin and closes it.
    pub fn close_stdin(&mut self, text: &str) {
        use std::io::Write;
        if let Some(mut stdin) = self.stdin.take() {
            stdin.write_all(text.as_bytes()).expect("write stdin");
        }
    }

    /// Waits (up to 60 s) for the process to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit in time\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Waits until the log has a line containing `needle`; returns that line.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let mut found = None;
        wait_until(&format!("{} to log {needle:?}", self.name), || {
            found = self
                .log()
                .lines()
                .find(|l| l.contains(needle))
                .map(String::from);
            found.is_some()
        });
        found.unwrap_or_default()
    }

    /// The port from Spark's "Successfully started service 'NAME' on port N." line.
    pub fn service_port(&self, service: &str) -> u16 {
        let line = self.wait_for_line(&format!("service '{service}' on port "));
        line.trim_end_matches('.')
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process's working directory (a temp dir removed on drop).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stops the process as `kill` does (SIGTERM) and waits (up to 60 s) for it to exit.
    pub fn terminate(&mut self) -> Option<i32> {
        let status = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {} failed", self.child.id());
        self.wait_exit()
    }

    /// Kills the process as `kill -9` does and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- {} log (last lines) ---", self.name);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Process ids of the executor processes of `app_id` still running, from `/proc`.
pub fn executor_pids(app_id: &str) -> Vec<u32> {
    let mut pids = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some(args) = process_args(pid) else {
            continue;
        };
        let is_executor = args.get(1).is_some_and(|a| a == "executor");
        if is_executor
            && args
                .windows(2)
                .any(|w| w[0] == "--app-id" && w[1] == app_id)
        {
            pids.push(pid);
        }
    }
    pids
}

/// The executors of `app_id` that `workers` launched. Application ids repeat across the
/// masters of tests running at once, so a test that owns its workers asks this way.
pub fn executor_pids_of(app_id: &str, workers: &[&Daemon]) -> Vec<u32> {
    let parents: Vec<u32> = workers.iter().map(|worker| worker.child.id()).collect();
    executor_pids(app_id)
        .into_iter()
        .filter(|pid| parent_pid(*pid).is_some_and(|parent| parents.contains(&parent)))
        .collect()
}

/// The parent of process `pid`, from `/proc` (`None` once it is gone).
pub fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces, so read after the last ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The command line of process `pid`, from `/proc` (`None` once it is gone).
pub fn process_args(pid: u32) -> Option<Vec<String>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Writes garbage, a truncated HTTP/1 request and broken HTTP/2 frames to `port`, each on
/// its own connection; the daemon behind it must refuse them and keep running.
pub fn send_garbage(port: u16) {
    use std::io::Write;
    for garbage in [
        &b"\x00\x01garbage\xff\xfe"[..],
        b"GET / HTTP/1.1\r\nHost",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x40\x01\x01\x00\x00\x00\x01\xff\xff",
    ] {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(garbage);
        }
    }
}

/// A runtime for the async steps of a test whose polls are blocking.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Polls `condition` every 50 ms until it holds, failing the test after 30 s.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GETs `url` and parses the body as JSON (`None` when the server does not answer).
pub fn get_json(url: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&get_text(url)?).ok()
}

/// The body of a GET of `url`, if it answers within 5 s.
pub fn get_text(url: &str) -> Option<String> {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?;
    response.text().ok()
}

/// The events of the one event log in `dir` whose file name starts with `prefix` (`app-`,
/// `local-`), as JSON values.
pub fn event_log(dir: &std::path::Path, prefix: &str) -> Vec<serde_json::Value> {
    let file = std::fs::read_dir(dir)
        .expect("an event log directory")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .expect("an event log");
    std::fs::read_to_string(file)
        .expect("a readable event log")
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// A standalone ZooKeeper server from Debian's `zookeeper` package, on a port chosen at run
/// time with its data in a temp dir; killed and removed on drop.
pub struct ZooKeeper {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    /// Its client port on 127.0.0.1.
    pub port: u16,
}

/// The jar Debian's `zookeeper` package installs.
const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

impl ZooKeeper {
    /// Starts one, installing the package first (`apt-get`, as root) when it is missing;
    /// `None`, with the reason printed, where that cannot be done.
    pub fn start() -> Option<ZooKeeper> {
        if !Path::new(ZOOKEEPER_JAR).exists() {
            let installed = Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends", "zookeeper"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !installed || !Path::new(ZOOKEEPER_JAR).exists() {
                eprintln!(
                    "SKIPPED: ZooKeeper is not installed and `apt-get install zookeeper` failed \
                     (it needs root and Debian's package archive); the ZooKeeper tests did not run"
                );
                return None;
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        // A short tick so sessions can be short (a session lasts 2 to 20 ticks).
        let config = format!(
            "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nmaxSessionTimeout=60000\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("zoo.cfg"), config).expect("zoo.cfg");
        let child = Command::new("java")
            .args([
                "-cp",
                &format!("/etc/zookeeper/conf:{ZOOKEEPER_JAR}"),
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                "zoo.cfg",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start java");
        let zookeeper = ZooKeeper {
            child,
            _dir: dir,
            port,
        };
        wait_until("ZooKeeper to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(zookeeper)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A driver in this process for application `name` on the standalone cluster at `url`,
/// taking `cores` one-core executors of 256 MiB.
pub fn cluster_session(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    name: &str,
    cores: &str,
) -> flint::SparkSession {
    runtime
        .block_on(
            flint::SparkSession::builder()
                .master(url)
                .app_name(name)
                .config("spark.cores.max", cores)
                .config("spark.executor.cores", "1")
                .config("spark.executor.memory", "256m")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.ui.showConsoleProgress", "false")
                .create(),
        )
        .expect("the session starts")
}

/// A result's rows as tab-separated lines, as `spark-sql` prints them.
pub fn tab_lines(batches: Vec<flint::RecordBatch>) -> Vec<String> {
    batches
        .iter()
        .flat_map(flint::format_row_values)
        .map(|row| row.join("\t"))
        .collect()
}
