//! PySpark through Spark Connect, as users run it: `flint submit app.py` on every master and
//! deploy mode, `flint connect-server` with several clients, and what a missing client says.
//! The Python side is the official `pyspark-client` (4.2.0) in a venv the test creates under
//! `~/.cache/flint/` on first use (from PyPI; never committed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cluster::{master_state, start_master, start_worker_with};
use crate::harness::{
    Daemon, executor_pids, flint, get_json, run_within, send_garbage, wait_until,
};

const CLIENT: &str = "pyspark-client==4.2.0";

/// The Python of a venv holding the PySpark Connect client, pandas and pyarrow; made once
/// per machine, in a temp dir renamed into place so concurrent test processes agree.
pub fn pyspark_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let cache = std::env::var_os("FLINT_PYSPARK_VENV_DIR")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/flint")
                });
            let venv = cache.join("pyspark-client-4.2.0-venv");
            let python = venv.join("bin/python");
            if venv.join("ready").exists() {
                return python;
            }
            std::fs::create_dir_all(&cache).expect("cache dir");
            let staging = tempfile::tempdir_in(&cache).expect("staging dir");
            let staged = staging.path().join("venv");
            let run = |command: &mut Command| {
                let output = command.output().expect("run python3");
                assert!(
                    output.status.success(),
                    "{command:?} failed:\n{}\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            };
            run(Command::new("python3").args(["-m", "venv"]).arg(&staged));
            run(Command::new(staged.join("bin/python")).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                CLIENT,
                "pandas<3",
                "pyarrow",
                "pytest",
            ]));
            std::fs::write(staged.join("ready"), CLIENT).expect("mark venv ready");
            // A venv records its own path: it is built where it would be renamed to only if
            // that path is free, else another process already made it.
            if std::fs::rename(&staged, &venv).is_err() {
                assert!(venv.join("ready").exists(), "venv at {}", venv.display());
            }
            python
        })
        .clone()
}

/// The path of the PySpark test script `name` under `tests/pyspark`.
pub fn script(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pyspark")
        .join(name)
        .display()
        .to_string()
}

fn python_env() -> [(&'static str, String); 1] {
    [("PYSPARK_PYTHON", pyspark_python().display().to_string())]
}

fn submit_everyday(master: &str) {
    let work = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let env = python_env();
    let local_conf = format!("spark.local.dir={}", local.path().display());
    let warehouse_conf = format!(
        "spark.sql.warehouse.dir={}",
        work.path().join("warehouse").display()
    );
    let run = flint(
        &[
            "submit",
            "--master",
            master,
            "--conf",
            &local_conf,
            "--conf",
            &warehouse_conf,
            &script("everyday.py"),
            work.path().to_str().unwrap(),
            if master.starts_with("local-cluster") {
                "cluster"
            } else {
                "local"
            },
        ],
        &[(env[0].0, env[0].1.as_str())],
    );
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("ALL CHECKS PASSED"),
        "stdout: {}",
        run.stdout
    );
    // Every check in the script ran.
    let written = std::fs::read_to_string(script("everyday.py"))
        .unwrap()
        .matches("check(\"")
        .count();
    let checks = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("CHECKED "))
        .count();
    assert_eq!(checks, written, "stdout: {}", run.stdout);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // The application's directory is gone once the script ends.
    let left: Vec<_> = std::fs::read_dir(local.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind in spark.local.dir: {left:?}");
}

/// An unmodified PySpark script (its own `.master(...)` included) runs everyday DataFrame
/// and SQL operations in local mode, each answer checked against pandas by the script.
#[test]
fn pyspark_script_runs_in_local_mode() {
    submit_everyday("local[2]");
}

/// The same script on a local cluster: its jobs run as tasks on two executor processes.
#[test]
fn pyspark_script_runs_on_a_local_cluster() {
    submit_everyday("local-cluster[2,1,1024]");
}

/// Seed 003's walkthrough with `hello-spark.py`: client mode against a real master and
/// worker, then cluster mode, which Spark refuses for Python and Flint runs on the worker.
#[test]
fn seed_hello_spark_runs_in_client_and_cluster_mode() {
    // The venv first: making it may take a minute, which the daemons need not wait through.
    let env = python_env();
    let (_master, port, ui) = start_master(0);
    let url = format!("spark://127.0.0.1:{port}");
    let worker = start_worker_with(port, "2", "2g", &[]);
    wait_until("the worker to register", || {
        master_state(&ui)["aliveworkers"] == 1
    });
    let python_conf = format!("spark.pyspark.python={}", env[0].1);
    let hello = script("hello-spark.py");
    let client = flint(
        &[
            "submit",
            "--master",
            &url,
            "--total-executor-cores",
            "2",
            "--executor-memory",
            "500m",
            "--conf",
            &python_conf,
            &hello,
        ],
        &[],
    );
    assert_eq!(client.code, Some(0), "stderr: {}", client.stderr);
    assert_eq!(client.stdout.trim(), "500");
    wait_until("the client-mode application to finish", || {
        master_state(&ui)["completedapps"]
            .as_array()
            .is_some_and(|apps| apps.iter().any(|a| a["state"] == "FINISHED"))
    });

    let cluster = flint(
        &[
            "submit",
            "--master",
            &url,
            "--deploy-mode",
            "cluster",
            "--executor-memory",
            "256m",
            "--driver-memory",
            "256m",
            "--conf",
            &python_conf,
            &hello,
        ],
        &[],
    );
    assert_eq!(cluster.code, Some(0), "stderr: {}", cluster.stderr);
    let driver_id = cluster.stdout.trim().to_string();
    wait_until("the cluster-mode driver to finish", || {
        let status = flint(&["submit", "--master", &url, "--status", &driver_id], &[]);
        status.stdout.trim() == "FINISHED"
    });
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let stdout = reqwest::blocking::get(format!(
        "{worker_ui}/logPage/?driverId={driver_id}&logType=stdout"
    ))
    .unwrap()
    .text()
    .unwrap();
    assert_eq!(stdout.trim(), "500");
}

fn run_client(python: &Path, port: u16, code: &str) -> std::process::Output {
    Command::new(python)
        .arg("-c")
        .arg(guarded(code))
        .env("SPARK_REMOTE", format!("sc://127.0.0.1:{port}"))
        // `python -c` looks like doctest mode to pyspark, which then wants SPARK_HOME.
        .env("SPARK_HOME", std::env::temp_dir())
        .env("PYARROW_IGNORE_TIMEZONE", "1")
        .output()
        .expect("run python")
}

/// A client program `code` (which defines `spark`) made safe to run from a test: alive after
/// 60 s, it prints its threads' stacks and exits, so a hang fails the test with the place it
/// hangs instead of stalling the suite; at its end it stops its session, as `launcher.py`
/// does for `flint submit` (a session left open sends a last request at exit, and grpcio can
/// deadlock if that call's status arrives while the interpreter finalizes).
fn guarded(code: &str) -> String {
    format!(
        "import faulthandler\nfaulthandler.dump_traceback_later(60, exit=True)\n{code}spark.stop()\n"
    )
}

/// Sends an `ExecutePlan` whose plan stacks 100,000 projections to the Connect server on the
/// port given as argument, encoded by hand (from the inside out, without recursion), and
/// prints the error it gets.
const DEEP_PLAN: &str = r#"
import sys, uuid, grpc
def varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7f, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
def header(field, length):
    return varint(field << 3 | 2) + varint(length)
# Relation.project = 3 holding Project.input = 1 holding the next Relation.
sizes = [0]
for _ in range(100000):
    inner = len(header(1, sizes[-1])) + sizes[-1]
    sizes.append(len(header(3, inner)) + inner)
parts = []
for depth in range(100000, 0, -1):
    inner = len(header(1, sizes[depth - 1])) + sizes[depth - 1]
    parts += [header(3, inner), header(1, sizes[depth - 1])]
root = b"".join(parts)
plan = header(1, len(root)) + root
session = str(uuid.uuid4()).encode()
user = bytes([10, 2]) + b"me"
request = header(1, len(session)) + session + header(2, len(user)) + user + header(3, len(plan)) + plan
channel = grpc.insecure_channel("127.0.0.1:" + sys.argv[1])
call = channel.unary_stream("/spark.connect.SparkConnectService/ExecutePlan",
    request_serializer=lambda x: x, response_deserializer=lambda x: x)
try:
    for _ in call(request, timeout=60):
        pass
    print("answered")
except grpc.RpcError as error:
    print(error.code(), error.details())
"#;

/// `flint connect-server` is one application serving several clients: each session has its
/// own temporary views and SQL conf, garbage on the port and a request nested too deeply get
/// an error while the server keeps serving, and SIGTERM stops it.
#[test]
fn connect_server_serves_isolated_sessions() {
    let python = pyspark_python();
    let mut server = Daemon::start(
        "connect-server",
        &[
            "connect-server",
            "--master",
            "local[2]",
            "--port",
            "0",
            "--conf",
            "spark.ui.enabled=false",
        ],
    );
    let port = server.service_port("SparkConnectService");
    let first = run_client(
        &python,
        port,
        "from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         spark.range(5).createOrReplaceTempView('mine')\n\
         spark.range(3).write.saveAsTable('shared')\n\
         spark.conf.set('spark.sql.shuffle.partitions', '7')\n\
         print(spark.sql('SELECT count(*) FROM mine').collect()[0][0])\n\
         print(spark.conf.get('spark.sql.shuffle.partitions'))\n",
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&first.stdout), "5\n7\n");
    send_garbage(port);
    // A plan of 100,000 stacked projections, 800 KB: refused before it is decoded, instead
    // of overflowing the server's stack.
    let deep = Command::new(&python)
        .arg("-c")
        .arg(DEEP_PLAN)
        .arg(port.to_string())
        .output()
        .expect("run python");
    assert_eq!(
        String::from_utf8_lossy(&deep.stdout).trim(),
        "StatusCode.INVALID_ARGUMENT the request's messages nest more than 1024 levels deep (spark.connect.grpc.marshallerRecursionLimit)",
        "{}",
        String::from_utf8_lossy(&deep.stderr)
    );
    let second = run_client(
        &python,
        port,
        "from pyspark.sql import SparkSession\n\
         from pyspark.errors import AnalysisException\n\
         spark = SparkSession.builder.getOrCreate()\n\
         print(spark.catalog.tableExists('mine'))\n\
         print(spark.conf.get('spark.sql.shuffle.partitions') != '7')\n\
         print(spark.table('shared').count())\n\
         try:\n    spark.table('mine').collect()\nexcept AnalysisException as e:\n    print(e.getCondition())\n",
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "False\nTrue\n3\nTABLE_OR_VIEW_NOT_FOUND\n"
    );
    assert!(server.is_running());
    assert_eq!(server.terminate(), Some(0));
}

/// A PySpark session picks its FAIR pool with `spark.conf.set` or SQL `SET`, as Spark's
/// `spark.scheduler.pool`; the REST API names each stage's pool and the Stages tab lists
/// the pools of the allocation file.
#[test]
fn pyspark_sessions_choose_their_fair_pool() {
    let python = pyspark_python();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fairscheduler.xml");
    std::fs::write(
        &file,
        "<allocations><pool name=\"reports\"><weight>3</weight></pool></allocations>",
    )
    .unwrap();
    let file_conf = format!("spark.scheduler.allocation.file={}", file.display());
    let mut server = Daemon::start(
        "connect-server-fair",
        &[
            "connect-server",
            "--master",
            "local[2]",
            "--port",
            "0",
            "--conf",
            "spark.ui.port=0",
            "--conf",
            "spark.scheduler.mode=FAIR",
            "--conf",
            &file_conf,
        ],
    );
    let port = server.service_port("SparkConnectService");
    let ui = format!("http://127.0.0.1:{}", server.service_port("SparkUI"));
    let client = run_client(
        &python,
        port,
        "from pyspark.sql import SparkSession\n\
         spark = SparkSession.builder.getOrCreate()\n\
         spark.conf.set('spark.scheduler.pool', 'reports')\n\
         print(spark.sql('SELECT count(*) FROM range(10)').collect()[0][0])\n\
         spark.sql('SET spark.scheduler.pool=adhoc')\n\
         print(spark.sql('SELECT count(*) FROM range(20)').collect()[0][0])\n",
    );
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&client.stdout), "10\n20\n");
    let app_id = get_json(&format!("{ui}/api/v1/applications")).expect("applications")[0]["id"]
        .as_str()
        .expect("an application id")
        .to_string();
    let stages = get_json(&format!("{ui}/api/v1/applications/{app_id}/stages")).expect("stages");
    let mut pools: Vec<&str> = stages
        .as_array()
        .expect("a list of stages")
        .iter()
        .filter_map(|stage| stage["schedulingPool"].as_str())
        .collect();
    pools.sort_unstable();
    pools.dedup();
    assert_eq!(pools, ["adhoc", "reports"]);
    let page = reqwest::blocking::get(format!("{ui}/stages/"))
        .and_then(|r| r.text())
        .expect("the Stages tab");
    assert!(page.contains("Fair Scheduler Pools (2)"), "{page}");
    assert_eq!(server.terminate(), Some(0));
}

/// `--py-files` puts a module and a zip archive on the script's path, and on the path of
/// the Python workers of executors in other processes (a UDF imports them there).
#[test]
fn py_files_are_on_the_script_and_executor_path() {
    let env = python_env();
    let dir = tempfile::tempdir().unwrap();
    let helpers = dir.path().join("helpers");
    std::fs::create_dir(&helpers).unwrap();
    std::fs::write(
        helpers.join("greeting.py"),
        "def hello():\n    return 'hello'\n",
    )
    .unwrap();
    let zipped = dir.path().join("lib.zip");
    let made = Command::new(&env[0].1)
        .arg("-c")
        .arg(format!(
            "import zipfile; z = zipfile.ZipFile({:?}, 'w'); z.writestr('shout.py', 'def loud(s):\\n    return s.upper()\\n'); z.close()",
            zipped.display().to_string()
        ))
        .env("SPARK_HOME", std::env::temp_dir())
        .status()
        .unwrap();
    assert!(made.success());
    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "from greeting import hello\nfrom shout import loud\nprint(loud(hello()))\n\
         from pyspark.sql import SparkSession, functions as F\n\
         spark = SparkSession.builder.getOrCreate()\n\
         @F.udf('string')\n\
         def shouted(s):\n    \
             from greeting import hello\n    from shout import loud\n    \
             return loud(hello() + ' ' + s)\n\
         print(spark.createDataFrame([('x',)], ['s']).select(shouted('s')).first()[0])\n",
    )
    .unwrap();
    let py_files = format!(
        "{},{}",
        helpers.join("greeting.py").display(),
        zipped.display()
    );
    let run = flint(
        &[
            "submit",
            "--master",
            "local-cluster[1,1,1024]",
            "--py-files",
            &py_files,
            app.to_str().unwrap(),
        ],
        &[(env[0].0, env[0].1.as_str())],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout.trim(), "HELLO\nHELLO X");
}

/// A Python without the Connect client gets one line saying what to install, at once.
#[test]
fn missing_pyspark_client_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.py");
    std::fs::write(&app, "print('never runs')\n").unwrap();
    // A bare venv has no pyspark at all.
    let venv = dir.path().join("bare");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("python3");
    assert!(made.success());
    let bare = venv.join("bin/python").display().to_string();
    let run = flint(
        &["submit", "--master", "local[1]", app.to_str().unwrap()],
        &[("PYSPARK_PYTHON", bare.as_str())],
    );
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        line.contains("pip install 'pyspark-client==4.2.0'"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("never runs"));
}

/// A result's rows as Spark prints its values.
fn printed_rows(batches: &[datafusion::arrow::array::RecordBatch]) -> Vec<Vec<String>> {
    batches.iter().flat_map(flint::format_row_values).collect()
}

/// Whether two printed values are equal, up to float rounding.
fn same_value(x: &str, y: &str) -> bool {
    x == y
        || match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        }
}

/// The 22 TPC-H queries through `spark.sql` from PySpark on `local[2]` give what
/// single-process DataFusion gives on the same files (the rows as the client received them).
#[test]
fn tpch_through_pyspark_matches_datafusion() {
    let env = python_env();
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tpch-sf0.01-pyspark");
    if !data.join("_COMPLETE").exists() {
        flint_datagen::generate_tpch(0.01, &data).expect("generate TPC-H");
        std::fs::write(data.join("_COMPLETE"), b"").unwrap();
    }
    let queries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks/queries");
    let out = tempfile::tempdir().unwrap();
    let run = flint(
        &[
            "submit",
            "--master",
            "local[2]",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            &script("tpch.py"),
            data.to_str().unwrap(),
            queries.to_str().unwrap(),
            out.path().to_str().unwrap(),
        ],
        &[(env[0].0, env[0].1.as_str())],
    );
    assert_eq!(
        run.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    crate::harness::runtime().block_on(async {
        let mut oracle = datafusion::prelude::SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(2),
        );
        flint_sql::register_spark_functions(&mut oracle).unwrap();
        for table in flint_datagen::TPCH_TABLES {
            let path = data.join(format!("{table}.parquet"));
            oracle
                .register_parquet(table, path.to_str().unwrap(), Default::default())
                .await
                .unwrap();
        }
        for n in 1..=22 {
            let text = std::fs::read_to_string(queries.join(format!("q{n}.sql"))).unwrap();
            let expected = oracle.sql(&text).await.unwrap().collect().await.unwrap();
            let received = out.path().join(format!("q{n}.parquet"));
            let actual = oracle
                .read_parquet(received.to_str().unwrap(), Default::default())
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let (mut actual, mut expected) = (printed_rows(&actual), printed_rows(&expected));
            if !text.to_lowercase().contains("order by") {
                actual.sort();
                expected.sort();
            }
            assert_eq!(actual.len(), expected.len(), "q{n}: row counts differ");
            for (a, e) in actual.iter().zip(&expected) {
                let same = a.len() == e.len() && a.iter().zip(e).all(|(x, y)| same_value(x, y));
                assert!(same, "q{n}: pyspark {a:?} != datafusion {e:?}");
            }
        }
    });
}

/// Counts from pytest's closing line ("3 failed, 27 passed, 1 skipped in 1.2s").
fn pytest_counts(output: &str) -> (usize, usize, usize) {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains(" passed") || l.contains(" failed"))
        .unwrap_or_default();
    let count = |word: &str| {
        line.split(',')
            .map(str::trim)
            .find_map(|part| {
                let mut pieces = part.split_whitespace();
                let n = pieces.next()?.parse::<usize>().ok()?;
                (pieces.next()? == word).then_some(n)
            })
            .unwrap_or(0)
    };
    (count("passed"), count("failed"), count("skipped"))
}

/// PySpark's own doctests (`pyspark.sql.{column, functions, dataframe, group, window,
/// readwriter, catalog}`, shipped in pyspark-client) against `flint connect-server`, with a
/// row-order normaliser (`tests/pyspark/doctests/conftest.py`). Prints passed/failed per
/// module and fails if a module passes fewer than its floor in `doctests/floor.txt`.
#[test]
fn pyspark_doctests_stay_above_their_floors() {
    let python = pyspark_python();
    // The executors' Python workers (UDF examples) need the client's packages too.
    let python_conf = format!("spark.pyspark.python={}", python.display());
    let doctests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pyspark/doctests");
    let floors: Vec<(String, usize)> = std::fs::read_to_string(doctests.join("floor.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (module, floor) = l.split_once(' ').expect("module floor");
            (module.to_string(), floor.trim().parse().expect("floor"))
        })
        .collect();
    let server = Daemon::start(
        "connect-server",
        &[
            "connect-server",
            "--master",
            "local[2]",
            "--port",
            "0",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            // Spark's own test runs, where these doctests pass, allow its TIME type.
            "--conf",
            "spark.sql.timeType.enabled=true",
            "--conf",
            &python_conf,
        ],
    );
    let port = server.service_port("SparkConnectService");
    let mut below = Vec::new();
    let (mut all_passed, mut all_total) = (0, 0);
    eprintln!(
        "{:<28} {:>6} {:>6} {:>7} {:>6}",
        "module", "passed", "failed", "skipped", "floor"
    );
    for (module, floor) in &floors {
        let work = tempfile::tempdir().unwrap();
        let mut pytest = Command::new(&python);
        pytest
            .args([
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--doctest-modules",
                "--pyargs",
            ])
            .arg(module)
            .args(["--tb=no", "-q", "-rN", "--rootdir"])
            .arg(&doctests)
            .arg("-c")
            .arg(doctests.join("pytest.ini"))
            .arg("--confcutdir")
            .arg(&doctests)
            .arg("-p")
            .arg("conftest")
            .current_dir(work.path())
            .env("PYTHONPATH", &doctests)
            .env("SPARK_REMOTE", format!("sc://127.0.0.1:{port}"))
            .env("PYARROW_IGNORE_TIMEZONE", "1");
        let run = run_within(pytest, Duration::from_secs(600));
        assert!(!run.timed_out, "pytest {module} ran past 10 minutes");
        let text = run.stdout;
        let (passed, failed, skipped) = pytest_counts(&text);
        eprintln!("{module:<28} {passed:>6} {failed:>6} {skipped:>7} {floor:>6}");
        all_passed += passed;
        all_total += passed + failed;
        if passed < *floor {
            below.push(format!("{module}: {passed} passed, floor {floor}\n{text}"));
        }
    }
    eprintln!("all modules: {all_passed} of {all_total} passed");
    assert!(below.is_empty(), "below the floor:\n{}", below.join("\n"));
    drop(server);
}

/// Python worker processes (children of `parents`), from `/proc`.
fn python_children(parents: &[u32]) -> Vec<u32> {
    let mut children = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let ppid = crate::harness::parent_pid(pid);
        let is_python = crate::harness::process_args(pid)
            .and_then(|args| args.first().cloned())
            .is_some_and(|program| program.contains("python"));
        if ppid.is_some_and(|p| parents.contains(&p)) && is_python {
            children.push(pid);
        }
    }
    children
}

/// A job of a slow Python UDF: four tasks of 40 rows, a second per row.
const SLOW_JOB: &str = "import time\n\
     from pyspark.sql import SparkSession, functions as F\n\
     spark = SparkSession.builder.getOrCreate()\n\
     spark.addTag('slow')\n\
     slow = F.udf(lambda x: (time.sleep(1), x)[1], 'long')\n\
     try:\n    spark.range(0, 160, 1, 4).select(slow('id')).collect()\n    print('finished')\n\
     except Exception as e:\n    print(type(e).__name__, getattr(e, 'getCondition', lambda: None)())\n";

/// `Interrupt` cancels the operation's job and kills its tasks on the executors (their Python
/// workers with them), and a client killed mid-stream leaves nothing running once Spark's
/// detached timeout passes; the UI shows the tasks killed and the jobs failed.
#[test]
fn interrupted_and_abandoned_operations_leave_no_task_running() {
    let python = pyspark_python();
    let python_conf = format!("spark.pyspark.python={}", python.display());
    let mut server = Daemon::start(
        "connect-server-interrupt",
        &[
            "connect-server",
            "--master",
            "local-cluster[2,1,1024]",
            "--port",
            "0",
            "--conf",
            "spark.ui.port=0",
            "--conf",
            &python_conf,
            "--conf",
            "spark.connect.execute.manager.detachedTimeout=1s",
            "--conf",
            "spark.connect.execute.manager.maintenanceInterval=200ms",
        ],
    );
    let port = server.service_port("SparkConnectService");
    let ui = format!("http://127.0.0.1:{}", server.service_port("SparkUI"));
    let app_id = get_json(&format!("{ui}/api/v1/applications")).expect("applications")[0]["id"]
        .as_str()
        .expect("an application id")
        .to_string();
    let api = format!("{ui}/api/v1/applications/{app_id}");
    let running_job = || {
        get_json(&format!("{api}/jobs")).and_then(|jobs| {
            jobs.as_array()?.iter().find_map(|job| {
                (job["status"] == "RUNNING" && job["numActiveTasks"].as_u64()? > 0)
                    .then(|| job["jobId"].as_u64())
                    .flatten()
            })
        })
    };
    let job = |id: u64| get_json(&format!("{api}/jobs/{id}")).unwrap_or_default();
    let busy_workers = || python_children(&executor_pids(&app_id));
    let session = uuid_like();
    let remote = format!("sc://127.0.0.1:{port}/;session_id={session}");

    // 1. Interrupted by another client of the same session.
    let slow = Command::new(&python)
        .arg("-c")
        .arg(guarded(SLOW_JOB))
        .env("SPARK_REMOTE", &remote)
        .env("SPARK_HOME", std::env::temp_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the slow client");
    let mut first = None;
    wait_until("the slow job to run tasks", || {
        first = running_job();
        first.is_some()
    });
    let first = first.unwrap_or_default();
    wait_until("the executors' Python workers to start", || {
        !busy_workers().is_empty()
    });
    let interrupter = Command::new(&python)
        .arg("-c")
        .arg(guarded(
            "from pyspark.sql import SparkSession\n\
                 spark = SparkSession.builder.getOrCreate()\n\
                 print(len(spark.interruptTag('slow')))\n",
        ))
        .env("SPARK_REMOTE", &remote)
        .env("SPARK_HOME", std::env::temp_dir())
        .output()
        .expect("run the interrupting client");
    assert_eq!(String::from_utf8_lossy(&interrupter.stdout), "1\n");
    let output = slow.wait_with_output().expect("the slow client ends");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "SparkException OPERATION_CANCELED\n"
    );
    wait_until("the interrupted job to end", || {
        job(first)["status"] == "FAILED"
    });
    let ended = job(first);
    assert_eq!(ended["numActiveTasks"], 0, "{ended}");
    assert!(ended["numKilledTasks"].as_u64() > Some(0), "{ended}");
    // The tasks' Python workers were busy for 40 s each; killing the tasks ended them.
    wait_until("the killed tasks' Python workers to go", || {
        busy_workers().is_empty()
    });
    // The job names the PySpark action; the Connect tab shows the session and the operation
    // with its job.
    assert!(
        ended["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("collect")),
        "{ended}"
    );
    let tab = reqwest::blocking::get(format!("{ui}/connect/"))
        .and_then(|r| r.text())
        .expect("the Connect tab");
    for expected in [
        "Session Statistics (1)",
        session.as_str(),
        "CANCELED",
        &format!("/jobs/job/?id={first}\">{first}</a>"),
    ] {
        assert!(tab.contains(expected), "no {expected:?} in {tab}");
    }

    // 2. A client killed while its job runs.
    let mut doomed = Command::new(&python)
        .arg("-c")
        .arg(guarded(SLOW_JOB))
        .env("SPARK_REMOTE", format!("sc://127.0.0.1:{port}"))
        .env("SPARK_HOME", std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the doomed client");
    let mut second = None;
    wait_until("the second slow job to run tasks", || {
        second = running_job().filter(|id| *id != first);
        second.is_some()
    });
    let second = second.unwrap_or_default();
    wait_until("the executors' Python workers to start again", || {
        !busy_workers().is_empty()
    });
    doomed.kill().expect("kill the client");
    let _ = doomed.wait();
    wait_until("the abandoned job to be cancelled", || {
        job(second)["status"] == "FAILED"
    });
    wait_until("the abandoned tasks' Python workers to go", || {
        busy_workers().is_empty()
    });
    assert!(server.is_running());
    assert_eq!(server.terminate(), Some(0));
}

/// A random session id in UUID form (the client requires one).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let hex = format!("{:032x}", nanos ^ (u128::from(std::process::id()) << 64));
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The stage submissions of each job in an event log, in job order.
fn stages_per_job(events: &std::path::Path) -> Vec<usize> {
    let mut per_job: Vec<usize> = vec![];
    for event in crate::harness::event_log(events, "local-") {
        match event["Event"].as_str() {
            Some("SparkListenerJobStart") => per_job.push(0),
            Some("SparkListenerStageSubmitted") => {
                if let Some(last) = per_job.last_mut() {
                    *last += 1;
                }
            }
            _ => {}
        }
    }
    per_job
}

/// An iteration that caches each round's result over the previous round's (label
/// propagation, as PySpark users write it) gives the answers of the same loop without
/// caching, and every round after the first runs as many stages as the second: the lineage
/// the client sends doubles each round, but the cached rounds are neither planned nor run
/// again.
#[test]
fn cached_iterations_run_a_constant_number_of_stages() {
    let env = python_env();
    let run = |mode: &str, events: &std::path::Path| {
        let log_conf = format!("spark.eventLog.dir={}", events.display());
        let run = flint(
            &[
                "submit",
                "--master",
                "local[2]",
                "--conf",
                "spark.eventLog.enabled=true",
                "--conf",
                "spark.eventLog.compress=false",
                "--conf",
                &log_conf,
                &script("iterative.py"),
                "6",
                mode,
            ],
            &[(env[0].0, env[0].1.as_str())],
        );
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        run.stdout
            .lines()
            .filter(|l| l.starts_with("LEFT"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let (cached_events, plain_events) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cached = run("cache", cached_events.path());
    let plain = run("nocache", plain_events.path());
    assert_eq!(cached.len(), 6, "{cached:?}");
    assert_eq!(cached, plain, "caching changed the answers");
    let stages = stages_per_job(cached_events.path());
    assert_eq!(stages.len(), 6, "{stages:?}");
    assert!(
        stages[1..].iter().all(|n| *n == stages[1]),
        "rounds ran more stages as the lineage grew: {stages:?}"
    );
    let plain_stages = stages_per_job(plain_events.path());
    assert!(
        plain_stages[5] > 8 * stages[5],
        "without the cache each round recomputes the lineage: {plain_stages:?} against {stages:?}"
    );
}

/// With `spark.speculation`, a task slowed on purpose (a minute, on its first attempt) gets a
/// copy on the other executor once most of its stage has finished; the copy's result is used
/// and counted once (the event log marks it speculative), and the original is killed (the
/// event log says `TaskKilled`) instead of holding the job for its minute.
#[test]
fn a_straggler_is_speculated_and_counted_once() {
    let env = python_env();
    let work = tempfile::tempdir().unwrap();
    let events = work.path().join("events");
    std::fs::create_dir(&events).unwrap();
    let log_conf = format!("spark.eventLog.dir={}", events.display());
    let marker = work.path().join("slow-once").display().to_string();
    let run = flint(
        &[
            "submit",
            "--master",
            "local-cluster[2,1,1024]",
            "--conf",
            "spark.speculation=true",
            "--conf",
            "spark.eventLog.enabled=true",
            "--conf",
            "spark.eventLog.compress=false",
            "--conf",
            &log_conf,
            &script("straggler.py"),
            &marker,
        ],
        &[(env[0].0, env[0].1.as_str())],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ROWS 8 28"), "{}", run.stdout);
    let ends: Vec<(u64, String, bool)> = crate::harness::event_log(&events, "app-")
        .into_iter()
        .filter(|event| {
            event["Event"] == "SparkListenerTaskEnd" && event["Task Info"]["Index"] == 0
        })
        .map(|event| {
            (
                event["Task Info"]["Attempt"].as_u64().unwrap_or(99),
                event["Task End Reason"]["Reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                event["Task Info"]["Speculative"] == true,
            )
        })
        .collect();
    assert!(
        ends.contains(&(1, "Success".to_string(), true))
            && ends.contains(&(0, "TaskKilled".to_string(), false)),
        "row 0's attempts: {ends:?}\n{}",
        run.stderr
    );
}
