//! `spark.authenticate`: with the shared secret on, every port of a cluster (master,
//! worker, shuffle service, driver, executor, web UIs, Spark Connect) refuses a peer that
//! does not prove it, logs one line naming the peer and acts on nothing it sent, while
//! applications (in-process, client-mode and cluster-mode PySpark) still run; the secret
//! shows on no command line, UI page or log.

use std::path::Path;
use std::time::Duration;

use flint_rpc::RpcSecurity;
use flint_rpc::deploy::master_client::MasterClient;
use flint_rpc::deploy::{DriverStatusRequest, RegisterWorkerRequest};

use crate::cluster::{spawn_master, start_worker_with};
use crate::harness::{
    Daemon, event_log, executor_pids_of, flint, process_args, runtime, tab_lines, wait_until,
};
use crate::pyspark::{pyspark_python, script};

const SECRET: &str = "flint-test-secret-7f3a9c";

/// The `--conf` arguments that turn authentication on with the secret in `file`.
fn auth_args(file: &Path) -> Vec<String> {
    vec![
        "--conf".into(),
        "spark.authenticate=true".into(),
        "--conf".into(),
        format!("spark.authenticate.secret.file={}", file.display()),
    ]
}

/// The HTTP status and body of a GET of `url` with optional basic credentials.
fn get_as(url: &str, credentials: Option<(&str, &str)>) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5));
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().expect("the UI answers");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// The master's `/json/` as someone who knows the secret.
fn master_json(ui: &str) -> serde_json::Value {
    let (_, body) = get_as(&format!("{ui}/json/"), Some(("admin", SECRET)));
    serde_json::from_str(&body).unwrap_or_default()
}

/// What a gRPC peer on `port` does with a driver-status request from a client proving
/// `security`: `Ok` when a handler answered (a worker, driver or block server saying it has
/// no such method), else `Err` with why not.
fn probe(port: u16, security: &RpcSecurity) -> Result<(), String> {
    runtime().block_on(async {
        let channel = flint_rpc::connect("127.0.0.1", port, Duration::from_secs(5), security)
            .await
            .map_err(|e| e.to_string())?;
        let answer = MasterClient::new(channel)
            .driver_status(DriverStatusRequest {
                driver_id: "driver-none".into(),
            })
            .await;
        // A refused connection ends before HTTP/2 starts: the call is cancelled.
        match answer {
            Ok(_) => Ok(()),
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unimplemented | tonic::Code::NotFound
                ) =>
            {
                Ok(())
            }
            Err(status) => Err(format!("{status:?}")),
        }
    })
}

/// The port of a "Successfully started service 'NAME' on port N." line in `log`.
fn logged_port(log: &str, service: &str) -> Option<u16> {
    let line = log
        .lines()
        .find(|l| l.contains(&format!("service '{service}' on port ")))?;
    line.trim_end_matches('.').rsplit(' ').next()?.parse().ok()
}

/// A driver on the master at `master_port` whose two one-core executors shuffle over the
/// network (host-local reads off, the shuffle service on).
fn network_shuffle_session(master_port: u16, name: &str) -> flint::Builder {
    flint::SparkSession::builder()
        .master(&format!("spark://127.0.0.1:{master_port}"))
        .app_name(name)
        .config("spark.cores.max", "2")
        .config("spark.executor.cores", "1")
        .config("spark.executor.memory", "256m")
        .config("spark.shuffle.service.enabled", "true")
        .config("spark.shuffle.readHostLocalDisk", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.port", "0")
        .config("spark.ui.showConsoleProgress", "false")
}

/// The driver's port, from the `--driver-url` of executor process `pid`.
fn driver_port_of(pid: u32) -> u16 {
    process_args(pid)
        .expect("the executor runs")
        .windows(2)
        .find(|w| w[0] == "--driver-url")
        .and_then(|w| w[1].rsplit(':').next()?.parse().ok())
        .expect("--driver-url")
}

/// What executor `id` of `app_id` wrote on stderr, under `worker`'s work directory.
fn executor_stderr(worker: &Daemon, app_id: &str, id: &str) -> String {
    std::fs::read_to_string(
        worker
            .dir()
            .join("work")
            .join(app_id)
            .join(id)
            .join("stderr"),
    )
    .unwrap_or_default()
}

/// Runs a query with a shuffle (`id % modulus` groups of `range(1000)`, counted and summed)
/// and checks its rows against arithmetic.
fn assert_grouped_sums_are_right(
    rt: &tokio::runtime::Runtime,
    spark: &flint::SparkSession,
    modulus: i64,
) {
    let rows = tab_lines(
        rt.block_on(async {
            spark
                .range(1000)
                .await?
                .create_or_replace_temp_view("numbers")?;
            spark
                .sql(&format!(
                    "SELECT id % {modulus} AS k, count(*) AS n, sum(id) AS s \
                     FROM numbers GROUP BY id % {modulus} ORDER BY k"
                ))
                .await?
                .collect()
                .await
        })
        .expect("the query runs"),
    );
    let expected: Vec<String> = (0..modulus)
        .map(|k| {
            let group = (0..1000).filter(|i| i % modulus == k);
            format!("{k}\t{}\t{}", group.clone().count(), group.sum::<i64>())
        })
        .collect();
    assert_eq!(rows, expected);
}

/// Authentication on a whole cluster: the application's shuffle crosses executors over the
/// network (host-local reads off), each port refuses plain and wrong-secret peers with one
/// logged line, a worker registration from a plain client is not acted on, and the secret
/// is on no executor command line, UI page or log.
#[test]
fn every_port_requires_the_secret_and_an_application_still_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("secret file");
    let auth = auth_args(&secret_file);
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();

    let master = spawn_master(0, "2s", &auth);
    let master_port = master.service_port("sparkMaster");
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    let mut worker_args = auth.clone();
    worker_args.extend([
        "--conf",
        "spark.shuffle.service.enabled=true",
        "--conf",
        "spark.shuffle.service.port=0",
    ]);
    let worker = start_worker_with(master_port, "2", "2g", &worker_args);
    wait_until("the worker to register", || {
        master_json(&ui)["aliveworkers"] == 1
    });

    let events = tempfile::tempdir().expect("event log dir");
    let rt = runtime();
    let builder = network_shuffle_session(master_port, "authenticated")
        .config("spark.authenticate", "true")
        .config("spark.authenticate.secret", SECRET)
        .config("spark.eventLog.enabled", "true")
        .config("spark.eventLog.compress", "false")
        .config("spark.eventLog.dir", &events.path().to_string_lossy());
    let spark = rt
        .block_on(builder.create())
        .expect("an authenticated driver registers");
    assert_grouped_sums_are_right(&rt, &spark, 5);

    // Every port of the running application and its cluster.
    let app_id = spark.app_id().to_string();
    let executors = executor_pids_of(&app_id, &[&worker]);
    assert_eq!(executors.len(), 2, "executors of {app_id}");
    let driver_port = driver_port_of(executors[0]);
    let executor_log = |id: &str| executor_stderr(&worker, &app_id, id);
    let executor_port = logged_port(&executor_log("0"), "FlightBlockTransferService")
        .expect("executor 0 logs its block transfer port");
    let ports = [
        ("master", master_port),
        ("worker", worker.service_port("sparkWorker")),
        (
            "shuffle service",
            worker.service_port("ExternalShuffleService"),
        ),
        ("driver", driver_port),
        ("executor", executor_port),
    ];
    let wrong = RpcSecurity::new(Some("not-the-secret".into()));
    let right = RpcSecurity::new(Some(SECRET.into()));
    for (role, port) in ports {
        let plain = probe(port, &RpcSecurity::none());
        assert!(
            plain.is_err(),
            "the {role} port {port} served a plain client"
        );
        let guessed = probe(port, &wrong);
        assert!(
            guessed
                .as_ref()
                .is_err_and(|e| e.contains("does not know the secret")),
            "the {role} port {port} with a wrong secret: {guessed:?}"
        );
        assert_eq!(probe(port, &right), Ok(()), "the {role} port {port}");
    }
    for (role, log) in [
        ("master", master.log()),
        ("worker", worker.log()),
        ("executor", executor_log("0")),
    ] {
        assert!(
            log.contains("Refused a connection from 127.0.0.1:"),
            "the {role} did not log the refusal:\n{log}"
        );
    }

    // A registration from a plain client reaches no handler.
    let forged = rt.block_on(async {
        let channel = flint_rpc::connect(
            "127.0.0.1",
            master_port,
            Duration::from_secs(5),
            &RpcSecurity::none(),
        )
        .await
        .map_err(|e| e.to_string())?;
        MasterClient::new(channel)
            .register_worker(RegisterWorkerRequest {
                worker_id: "worker-forged".into(),
                host: "127.0.0.1".into(),
                port: 1,
                cores: 64,
                memory_mib: 1 << 20,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|status| status.to_string())
    });
    assert!(forged.is_err(), "a forged registration was answered");
    let state = master_json(&ui);
    assert_eq!(state["aliveworkers"], 1, "{state}");
    assert!(!state.to_string().contains("worker-forged"));

    // The web UIs: nothing without the secret, everything with it.
    let driver_ui = spark.ui_web_url().expect("the driver UI runs").to_string();
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let pages = [
        format!("{ui}/json/"),
        format!("{worker_ui}/json/"),
        format!("{driver_ui}/api/v1/applications"),
        format!("{driver_ui}/api/v1/applications/{app_id}/environment"),
    ];
    for page in &pages {
        assert_eq!(get_as(page, None).0, 401, "{page} without credentials");
        assert_eq!(get_as(page, Some(("eve", "guess"))).0, 401, "{page}");
        let (status, body) = get_as(page, Some(("admin", SECRET)));
        assert_eq!(status, 200, "{page}");
        assert!(!body.contains(SECRET), "{page} shows the secret: {body}");
    }
    assert!(
        master
            .log()
            .contains("Refused a web request from 127.0.0.1:")
    );

    // The executors got the secret from their worker in their environment only.
    for pid in &executors {
        let args = process_args(*pid).unwrap_or_default().join(" ");
        assert!(!args.contains(SECRET), "executor command line: {args}");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            String::from_utf8_lossy(&environ).contains("_SPARK_AUTH_SECRET="),
            "executor {pid} got no secret in its environment"
        );
    }
    spark.stop();
    wait_until("the application to finish", || {
        master_json(&ui)["completedapps"]
            .as_array()
            .is_some_and(|apps| apps.iter().any(|a| a["state"] == "FINISHED"))
    });
    for (role, log) in [
        ("master", master.log()),
        ("worker", worker.log()),
        ("executor", executor_log("0")),
        ("executor", executor_log("1")),
    ] {
        assert!(!log.contains(SECRET), "the {role} logged the secret");
    }
    let logged: String = event_log(events.path(), "app-")
        .iter()
        .map(|event| event.to_string())
        .collect();
    assert!(!logged.contains(SECRET), "the event log holds the secret");
    assert!(logged.contains("spark.authenticate.secret"));
}

/// Runs a PySpark client against `remote` (`sc://...`) that prints `spark.range(n).count()`;
/// with `ca`, gRPC trusts that PEM file for TLS.
fn pyspark_count(python: &Path, remote: &str, n: u32, ca: Option<&Path>) -> std::process::Output {
    let mut command = std::process::Command::new(python);
    command
        .arg("-c")
        .arg(format!(
            "import faulthandler\nfaulthandler.dump_traceback_later(60, exit=True)\n\
             from pyspark.sql import SparkSession\n\
             spark = SparkSession.builder.getOrCreate()\n\
             print(spark.range({n}).count())\nspark.stop()\n"
        ))
        .env("SPARK_REMOTE", remote)
        .env("SPARK_HOME", std::env::temp_dir())
        .env_remove("SPARK_CONNECT_AUTHENTICATE_TOKEN");
    if let Some(ca) = ca {
        command.env("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", ca);
    }
    command.output().expect("run python")
}

/// PySpark on an authenticated cluster: a Connect client without the token is refused (one
/// logged line) and one with it is served; `flint submit app.py` in client mode hands its
/// script the token; a cluster-mode driver gets the secret from its worker.
#[test]
fn pyspark_proves_the_secret_as_its_bearer_token() {
    let python = pyspark_python();
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET).expect("secret file");
    let auth = auth_args(&secret_file);
    let auth: Vec<&str> = auth.iter().map(String::as_str).collect();

    let mut server_args = vec![
        "connect-server",
        "--master",
        "local[2]",
        "--port",
        "0",
        "--conf",
        "spark.ui.enabled=false",
    ];
    server_args.extend(&auth);
    let server = Daemon::start("connect-server", &server_args);
    let port = server.service_port("SparkConnectService");
    let refused = pyspark_count(&python, &format!("sc://localhost:{port}"), 10, None);
    assert_ne!(refused.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("UNAUTHENTICATED") || stderr.contains("Invalid authentication token"),
        "{stderr}"
    );
    assert!(
        server
            .log()
            .contains("Refused a Spark Connect request from"),
        "{}",
        server.log()
    );
    let served = pyspark_count(
        &python,
        &format!("sc://localhost:{port}/;token={SECRET}"),
        10,
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&served.stdout).trim(),
        "10",
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    drop(server);

    let master = spawn_master(0, "2s", &auth);
    let master_port = master.service_port("sparkMaster");
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    let worker = start_worker_with(master_port, "2", "2g", &auth);
    wait_until("the worker to register", || {
        master_json(&ui)["aliveworkers"] == 1
    });
    let url = format!("spark://127.0.0.1:{master_port}");
    let python_conf = format!("spark.pyspark.python={}", python.display());
    let hello = script("hello-spark.py");
    let submit = |mode: &str| {
        let mut args = vec![
            "submit",
            "--master",
            &url,
            "--deploy-mode",
            mode,
            "--executor-memory",
            "256m",
            "--driver-memory",
            "256m",
            "--conf",
            &python_conf,
        ];
        args.extend(&auth);
        args.push(&hello);
        flint(&args, &[])
    };
    let client_mode = submit("client");
    assert_eq!(client_mode.code, Some(0), "stderr: {}", client_mode.stderr);
    assert_eq!(client_mode.stdout.trim(), "500");

    let cluster_mode = submit("cluster");
    assert_eq!(
        cluster_mode.code,
        Some(0),
        "stderr: {}",
        cluster_mode.stderr
    );
    let driver_id = cluster_mode.stdout.trim().to_string();
    let status_args = |id: &str| {
        let mut args = vec!["submit", "--master", url.as_str()];
        args.extend(&auth);
        args.extend(["--status", id]);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    wait_until("the cluster-mode driver to finish", || {
        let args = status_args(&driver_id);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        flint(&args, &[]).stdout.trim() == "FINISHED"
    });
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    let (status, stdout) = get_as(
        &format!("{worker_ui}/logPage/?driverId={driver_id}&logType=stdout"),
        Some(("admin", SECRET)),
    );
    assert_eq!((status, stdout.trim()), (200, "500"));
    // Without the secret, --status is refused by the master.
    let plain = flint(&["submit", "--master", &url, "--status", &driver_id], &[]);
    assert_ne!(plain.code, Some(0));
    assert!(
        plain.stderr.contains("cannot reach the master")
            && plain.stderr.contains("spark.authenticate"),
        "{}",
        plain.stderr
    );
    for (role, log) in [("master", master.log()), ("worker", worker.log())] {
        assert!(!log.contains(SECRET), "the {role} logged the secret");
    }
}

/// A test CA and a certificate it signs for `localhost` and `127.0.0.1`, as PEM files in
/// `dir`; returns the `--conf` arguments that turn TLS on with them.
fn tls_args(dir: &Path) -> Vec<String> {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Flint test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate")
            .signed_by(&key, &ca)
            .expect("signed certificate");
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("PEM file");
        path.display().to_string()
    };
    let ca_file = write("ca.pem", ca.pem());
    let cert_file = write("cert.pem", certificate.pem());
    let key_file = write("key.pem", key.serialize_pem());
    [
        "spark.ssl.enabled=true".to_string(),
        format!("spark.ssl.certChain={cert_file}"),
        format!("spark.ssl.privateKey={key_file}"),
        format!("spark.ssl.trustStore={ca_file}"),
    ]
    .into_iter()
    .flat_map(|setting| ["--conf".to_string(), setting])
    .collect()
}

/// The HTTP status of an https GET of `path` on `127.0.0.1:port`, trusting `ca` (PEM),
/// with basic credentials; `Err` when TLS fails.
fn https_get(port: u16, path: &str, ca: &Path, user: &str, password: &str) -> Result<u16, String> {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    runtime().block_on(async {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(ca).map_err(|e| e.to_string())? {
            roots
                .add(certificate.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
        let config = tokio_rustls::rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
        let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, stream)
            .await
            .map_err(|e| e.to_string())?;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {credentials}\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no HTTP status in {answer:?}"))
    })
}

/// TLS with authentication on a whole cluster: the application runs with its shuffle over
/// TLS, a plain-text client is refused on every RPC and web port (one logged line each),
/// the UIs answer https, and PySpark reaches Connect over TLS with its token.
#[test]
fn tls_carries_a_whole_application_and_plain_text_is_refused() {
    let python = pyspark_python();
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET).expect("secret file");
    let mut args = auth_args(&secret_file);
    args.extend(tls_args(dir.path()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca = dir.path().join("ca.pem");

    let master = spawn_master(0, "2s", &args);
    let master_port = master.service_port("sparkMaster");
    let master_ui = master.service_port("MasterUI");
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    assert!(
        master
            .log()
            .contains(&format!("started at https://127.0.0.1:{master_ui}"))
    );
    let mut worker_args = args.clone();
    worker_args.extend([
        "--conf",
        "spark.shuffle.service.enabled=true",
        "--conf",
        "spark.shuffle.service.port=0",
    ]);
    let worker = start_worker_with(master_port, "2", "2g", &worker_args);
    worker.wait_for_line("Successfully registered with master");

    // A driver with the same settings, read as `flint submit` reads them.
    let mut builder = network_shuffle_session(master_port, "tls");
    for pair in args.chunks(2) {
        let (key, value) = pair[1].split_once('=').expect("KEY=VALUE");
        builder = builder.config(key, value);
    }
    let rt = runtime();
    let spark = rt
        .block_on(builder.create())
        .expect("a driver over TLS registers");
    assert_grouped_sums_are_right(&rt, &spark, 3);

    let app_id = spark.app_id().to_string();
    let executors = executor_pids_of(&app_id, &[&worker]);
    let driver_port = driver_port_of(executors[0]);
    let executor_log = executor_stderr(&worker, &app_id, "0");
    let executor_port = logged_port(&executor_log, "FlightBlockTransferService")
        .expect("executor 0 logs its block transfer port");
    let mut conf = flint_conf::SparkConf::new();
    for pair in args.chunks(2) {
        conf.set_pair(pair[1]).expect("KEY=VALUE");
    }
    let secured = RpcSecurity::from_conf(&conf).expect("the test's TLS settings");
    let plain_text = RpcSecurity::new(Some(SECRET.into()));
    for (role, port) in [
        ("master", master_port),
        ("worker", worker.service_port("sparkWorker")),
        (
            "shuffle service",
            worker.service_port("ExternalShuffleService"),
        ),
        ("driver", driver_port),
        ("executor", executor_port),
    ] {
        assert_eq!(probe(port, &secured), Ok(()), "the {role} port {port}");
        assert!(
            probe(port, &plain_text).is_err(),
            "the {role} port {port} served plain text"
        );
    }
    assert!(
        master.log().contains("TLS handshake failed"),
        "{}",
        master.log()
    );

    // The web UIs speak https only.
    let driver_ui: u16 = spark
        .ui_web_url()
        .expect("the driver UI runs")
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port");
    for (port, path) in [
        (master_ui, "/json/"),
        (worker.service_port("WorkerUI"), "/json/"),
        (driver_ui, "/api/v1/applications"),
    ] {
        assert_eq!(
            https_get(port, path, &ca, "admin", SECRET),
            Ok(200),
            "{port}{path}"
        );
        assert_eq!(
            https_get(port, path, &ca, "admin", "guess"),
            Ok(401),
            "{port}{path}"
        );
        let plain = get_as_plain(&format!("http://127.0.0.1:{port}{path}"));
        assert!(
            plain.is_none(),
            "{port}{path} answered plain http: {plain:?}"
        );
    }
    spark.stop();

    // `flint submit app.py` on the TLS cluster: its own Connect server talks to the script
    // over loopback.
    let url = format!("spark://127.0.0.1:{master_port}");
    let python_conf = format!("spark.pyspark.python={}", python.display());
    let hello = script("hello-spark.py");
    let mut submit = vec![
        "submit",
        "--master",
        &url,
        "--executor-memory",
        "256m",
        "--conf",
        &python_conf,
    ];
    submit.extend(&args);
    submit.push(&hello);
    let submitted = flint(&submit, &[]);
    assert_eq!(submitted.code, Some(0), "stderr: {}", submitted.stderr);
    assert_eq!(submitted.stdout.trim(), "500");

    // PySpark over TLS, trusting the test CA (gRPC reads it from this variable).
    let mut server_args = vec![
        "connect-server",
        "--master",
        "local[1]",
        "--port",
        "0",
        "--conf",
        "spark.ui.enabled=false",
    ];
    server_args.extend(&args);
    let server = Daemon::start("connect-server", &server_args);
    let port = server.service_port("SparkConnectService");
    let served = pyspark_count(
        &python,
        &format!("sc://localhost:{port}/;use_ssl=true;token={SECRET}"),
        7,
        Some(&ca),
    );
    assert_eq!(
        String::from_utf8_lossy(&served.stdout).trim(),
        "7",
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    // A plain-text gRPC client (PySpark's would retry for minutes).
    assert!(probe(port, &RpcSecurity::none()).is_err());
    assert!(
        server.log().contains("TLS handshake failed"),
        "{}",
        server.log()
    );
}

/// The status of a plain-http GET of `url`, `None` when the server does not answer it.
fn get_as_plain(url: &str) -> Option<u16> {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()
        .map(|response| response.status().as_u16())
}

/// The status of a `method` request of `url` as a proxy in front of the UIs sends it: proving
/// the secret (bearer token) and naming `user` in `X-Forwarded-User`, with `extra` headers;
/// redirects are not followed.
fn via_proxy(method: &str, url: &str, user: Option<&str>, extra: &[(&str, &str)]) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client.request(method, url).bearer_auth(SECRET);
    if let Some(user) = user {
        request = request.header("X-Forwarded-User", user);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().expect("the UI answers").status().as_u16()
}

/// `spark.acls.enable` on a master and a driver: view rights for the UIs and JSON, modify
/// rights for the kill links and `flint submit --kill`, for the user a trusted proxy names
/// (whoever holds the secret and names nobody is the cluster itself); kills from another
/// site are refused; the driver UI's kill link fails a running job and the master's kills a
/// running application, whose driver hears of it.
#[test]
fn acls_decide_who_sees_and_who_kills() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET).expect("secret file");
    let auth = auth_args(&secret_file);
    let mut args: Vec<&str> = auth.iter().map(String::as_str).collect();
    let worker_args = args.clone();
    args.extend([
        "--conf",
        "spark.acls.enable=true",
        "--conf",
        "spark.ui.view.acls=bob",
        "--conf",
        "spark.admin.acls=alice",
        "--conf",
        "spark.ui.proxyUserHeader=X-Forwarded-User",
    ]);
    let master = spawn_master(0, "2s", &args);
    let master_port = master.service_port("sparkMaster");
    let ui = format!("http://127.0.0.1:{}", master.service_port("MasterUI"));
    master.wait_for_line("I have been elected leader! New state: ALIVE");
    let _worker = start_worker_with(master_port, "1", "1g", &worker_args);
    wait_until("the worker to register", || {
        master_json(&ui)["aliveworkers"] == 1
    });

    // A proxy proves the secret and names the user it authenticated; the ACLs decide.
    let json = format!("{ui}/json/");
    assert_eq!(via_proxy("GET", &json, Some("bob"), &[]), 200);
    assert_eq!(via_proxy("GET", &json, Some("alice"), &[]), 200);
    assert_eq!(via_proxy("GET", &json, Some("eve"), &[]), 403);
    assert!(master.log().contains("User eve from 127.0.0.1:"));
    // Naming a user without the secret gets nowhere; the secret naming nobody is the cluster.
    let forged = reqwest::blocking::Client::new()
        .get(&json)
        .header("X-Forwarded-User", "alice")
        .send()
        .expect("the UI answers");
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(
        via_proxy("GET", &json, None, &[]),
        200,
        "the cluster itself"
    );
    assert_eq!(get_as(&json, Some(("anyone", SECRET))).0, 200);

    // A running application: viewers see it, only modifiers kill it.
    let rt = runtime();
    let spark = rt
        .block_on(
            flint::SparkSession::builder()
                .master(&format!("spark://127.0.0.1:{master_port}"))
                .app_name("killable")
                .config("spark.authenticate", "true")
                .config("spark.authenticate.secret", SECRET)
                .config("spark.cores.max", "1")
                .config("spark.executor.memory", "256m")
                .config("spark.ui.port", "0")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.acls.enable", "true")
                .config("spark.ui.view.acls", "bob")
                .config("spark.admin.acls", "alice")
                .config("spark.ui.proxyUserHeader", "X-Forwarded-User")
                .create(),
        )
        .expect("the driver registers");
    let app_id = spark.app_id().to_string();

    // The driver's UI: a running job's kill link needs modify rights, and fails the job.
    let driver_ui = spark.ui_web_url().expect("a driver UI").to_string();
    // A job that runs until it is killed (an aggregation yields between batches, so its
    // tasks see the kill).
    let endless = || {
        let spark = spark.clone();
        rt.spawn(async move {
            spark
                .range(1_000_000_000_000)
                .await?
                .create_or_replace_temp_view("a")?;
            spark
                .sql("SELECT sum(id % 7) FROM a")
                .await?
                .collect()
                .await
        })
    };
    // The newest RUNNING job or ACTIVE stage the driver's REST API lists.
    let running = |what: &str, status: &str, id: &str| {
        let api = format!("{driver_ui}/api/v1/applications/{app_id}/{what}");
        let mut found = None;
        wait_until(&format!("a running {what}"), || {
            let (_, body) = get_as(&api, Some(("admin", SECRET)));
            found = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|all| {
                    all.as_array()?
                        .iter()
                        .filter(|one| one["status"] == status)
                        .filter_map(|one| one[id].as_u64())
                        .max()
                });
            found.is_some()
        });
        found.unwrap_or_default()
    };
    let first = endless();
    let job_id = running("jobs", "RUNNING", "jobId");
    let (status, jobs_page) = get_as(&format!("{driver_ui}/jobs/"), Some(("admin", SECRET)));
    assert_eq!(status, 200);
    assert!(
        jobs_page.contains(&format!("/jobs/job/kill/?id={job_id}")),
        "{jobs_page}"
    );
    let jobs = format!("{driver_ui}/jobs/");
    assert_eq!(via_proxy("GET", &jobs, Some("bob"), &[]), 200);
    assert_eq!(
        via_proxy("GET", &jobs, Some("eve"), &[]),
        403,
        "eve may not look"
    );
    let kill_job = format!("{driver_ui}/jobs/job/kill/?id={job_id}");
    assert_eq!(via_proxy("POST", &kill_job, Some("bob"), &[]), 403);
    // A hostile page's form, posted with alice's credentials from another site.
    let evil = [("Origin", "https://evil.example")];
    assert_eq!(via_proxy("POST", &kill_job, Some("alice"), &evil), 403);
    let own_page = [("Sec-Fetch-Site", "same-origin")];
    assert_eq!(via_proxy("POST", &kill_job, Some("alice"), &own_page), 303);
    let failed = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), first).await })
        .expect("the killed job ends within 30 s")
        .expect("the job's task")
        .expect_err("a killed job fails");
    assert!(
        failed
            .to_string()
            .contains(&format!("Job {job_id} cancelled killed via the Web UI")),
        "{failed}"
    );
    // A stage's kill link fails the jobs that run it, in Spark's words.
    let second = endless();
    let stage_id = running("stages", "ACTIVE", "stageId");
    let kill_stage = format!("{driver_ui}/stages/stage/kill/?id={stage_id}");
    assert_eq!(via_proxy("POST", &kill_stage, Some("bob"), &[]), 403);
    assert_eq!(via_proxy("POST", &kill_stage, Some("alice"), &[]), 303);
    let failed = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), second).await })
        .expect("the killed job ends within 30 s")
        .expect("the job's task")
        .expect_err("a job whose stage was killed fails");
    assert!(
        failed
            .to_string()
            .contains("cancelled because killed via the Web UI"),
        "{failed}"
    );
    let (_, page) = get_as(&format!("{ui}/"), Some(("admin", SECRET)));
    assert!(page.contains(&format!("app/kill/?id={app_id}")), "{page}");
    let kill = format!("{ui}/app/kill/?id={app_id}&terminate=true");
    assert_eq!(
        via_proxy("POST", &kill, Some("bob"), &[]),
        403,
        "bob may only view"
    );
    assert_eq!(master_json(&ui)["activeapps"][0]["id"], app_id.as_str());
    assert_eq!(via_proxy("POST", &kill, Some("alice"), &[]), 303);
    wait_until("the application to be KILLED", || {
        master_json(&ui)["completedapps"]
            .as_array()
            .is_some_and(|apps| {
                apps.iter()
                    .any(|a| a["id"] == app_id.as_str() && a["state"] == "KILLED")
            })
    });
    assert!(
        master
            .log()
            .contains(&format!("Asked to kill application {app_id}"))
    );
    // The driver hears it, as from Spark's master: its next job fails with the reason.
    wait_until("the driver to hear of the kill", || {
        rt.block_on(async { spark.sql("SELECT 1").await?.collect().await })
            .is_err_and(|e| {
                e.to_string()
                    .contains("Master removed our application: KILLED")
            })
    });
    drop(spark);

    // `flint submit --kill` asks as SPARK_USER; the master checks its modify rights.
    let url = format!("spark://127.0.0.1:{master_port}");
    let kill_driver = |user: &str| {
        let mut args = vec!["submit", "--master", url.as_str()];
        args.extend(auth.iter().map(String::as_str));
        args.extend(["--kill", "driver-20990101000000-0000"]);
        flint(&args, &[("SPARK_USER", user)])
    };
    let refused = kill_driver("bob");
    assert_ne!(refused.code, Some(0));
    assert!(
        refused
            .stderr
            .contains("User bob is not authorized to kill driver"),
        "{}",
        refused.stderr
    );
    let allowed = kill_driver("alice");
    assert!(
        !allowed.stderr.contains("not authorized"),
        "{}",
        allowed.stderr
    );
}
