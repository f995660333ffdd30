//! The web UIs of a live standalone run, as users and tools see them: the application UI's
//! REST API for an application on a master and worker (driver and executor entries, log links
//! through the worker), `/metrics` on master, worker and driver, the master linking to the
//! application UI, every page loaded in headless Chromium with screenshots kept as artifacts,
//! and `flint history-server` serving the same application from its event log next to
//! damaged logs that must not take it down.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::{master_state, start_master, start_worker_with};
use crate::harness::{Daemon, get_json, runtime, wait_until};

fn get_text(url: &str) -> (u16, String) {
    let response = reqwest::blocking::get(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// Headless Chromium, found on the machine or installed from the system packages.
struct Browser {
    binary: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium if it is installed or `apt-get` can install it; `None` with the reason
    /// printed otherwise.
    fn find_or_install() -> Option<Browser> {
        let find = || {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .map(|name| Path::new("/usr/bin").join(name))
                .find(|path| path.exists())
        };
        let binary = match find() {
            Some(binary) => binary,
            None => {
                eprintln!("browser test: Chromium is missing; installing Debian's chromium");
                let install = || {
                    Command::new("apt-get")
                        .args(["install", "-y", "--no-install-recommends", "chromium"])
                        .env("DEBIAN_FRONTEND", "noninteractive")
                        .output()
                        .is_ok_and(|out| out.status.success())
                };
                let installed = install()
                    || (Command::new("apt-get")
                        .arg("update")
                        .output()
                        .is_ok_and(|out| out.status.success())
                        && install());
                match find() {
                    Some(binary) if installed => binary,
                    _ => {
                        eprintln!(
                            "SKIPPED browser checks: Chromium is not installed and `apt-get install chromium` \
                             failed (no root or no package registry)"
                        );
                        return None;
                    }
                }
            }
        };
        Some(Browser {
            binary,
            profile: tempfile::tempdir().ok()?,
        })
    }

    fn run(&self, extra: &[&str], url: &str) -> std::process::Output {
        Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .output()
            .expect("run chromium")
    }

    /// The page's DOM after the browser loaded and rendered it.
    fn dom(&self, url: &str) -> String {
        let out = self.run(&["--dump-dom"], url);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Saves a screenshot of the page to `path`.
    fn screenshot(&self, url: &str, path: &Path) {
        let arg = format!("--screenshot={}", path.display());
        let out = self.run(&[&arg, "--window-size=1400,1000"], url);
        assert!(
            path.exists(),
            "no screenshot of {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Where screenshots go: `$FLINT_TEST_ARTIFACTS`, else `test-artifacts/browser` in the target
/// directory.
fn artifacts_dir() -> PathBuf {
    let dir = match std::env::var_os("FLINT_TEST_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
            .join("test-artifacts/browser"),
    };
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Loads each `(name, url, expected text)` in the browser, checks the text is on the rendered
/// page and saves a screenshot `<name>.png`.
fn check_pages(browser: &Browser, pages: &[(&str, String, &str)]) {
    let dir = artifacts_dir();
    for (name, url, expected) in pages {
        let dom = browser.dom(url);
        assert!(dom.contains(expected), "{url} lacks {expected:?}: {dom}");
        browser.screenshot(url, &dir.join(format!("{name}.png")));
    }
    eprintln!("browser test: screenshots in {}", dir.display());
}

#[test]
fn live_cluster_uis_rest_metrics_browser_and_history() {
    let log_dir = tempfile::tempdir().unwrap();
    let (_master, port, master_ui) = start_master(0);
    let worker = start_worker_with(port, "2", "1g", &[]);
    let worker_ui = format!("http://127.0.0.1:{}", worker.service_port("WorkerUI"));
    wait_until("a worker", || master_state(&master_ui)["aliveworkers"] == 1);

    let runtime = runtime();
    let spark = runtime
        .block_on(
            flint::SparkSession::builder()
                .master(&format!("spark://127.0.0.1:{port}"))
                .app_name("web-ui-tour")
                .config("spark.executor.memory", "256m")
                .config("spark.sql.shuffle.partitions", "3")
                .config("spark.ui.port", "0")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.eventLog.enabled", "true")
                .config("spark.eventLog.dir", &log_dir.path().display().to_string())
                .create(),
        )
        .unwrap();
    let app_id = spark.app_id().to_string();
    let ui = spark.ui_web_url().expect("a UI").to_string();
    let api = format!("{ui}/api/v1/applications/{app_id}");
    // Three stages: the aggregation's map side, the sort's exchange, the result.
    let rows = runtime
        .block_on(async {
            spark
                .sql(
                    "SELECT id % 7 AS k, count(*) AS c FROM range(10000) \
                     GROUP BY id % 7 ORDER BY k",
                )
                .await
                .unwrap()
                .collect()
                .await
        })
        .unwrap();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 7);

    // The executor list: the driver's entry and the worker's executor, with log links that
    // the worker serves. The executor's task count follows its status updates, which may
    // arrive after the job's result: wait until it counts every task of the job.
    let stage_tasks = || -> u64 {
        let stages = get_json(&format!("{api}/stages")).unwrap();
        stages
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["numCompleteTasks"].as_u64().unwrap())
            .sum()
    };
    wait_until(
        "the executor's completed tasks to reach the stages'",
        || {
            let executors = get_json(&format!("{api}/executors")).unwrap();
            executors[1]["completedTasks"].as_u64() == Some(stage_tasks())
        },
    );
    let executors = get_json(&format!("{api}/executors")).unwrap();
    let executors = executors.as_array().unwrap();
    assert_eq!(executors.len(), 2, "{executors:?}");
    assert_eq!(executors[0]["id"], "driver");
    assert_eq!(executors[0]["totalCores"], 0);
    let executor = &executors[1];
    assert_eq!(executor["id"], "0");
    assert_eq!(executor["totalCores"], 2);
    assert_eq!(executor["isActive"], true);
    assert!(
        executor["hostPort"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let stages = get_json(&format!("{api}/stages")).unwrap();
    let tasks: u64 = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["numCompleteTasks"].as_u64().unwrap())
        .sum();
    assert_eq!(executor["completedTasks"], tasks, "{stages}");
    let stdout_link = executor["executorLogs"]["stderr"].as_str().unwrap();
    assert!(stdout_link.starts_with(&worker_ui), "{stdout_link}");
    let (status, log) = get_text(stdout_link);
    assert_eq!(status, 200);
    assert!(log.contains("Successfully registered with driver"), "{log}");

    // The query's operators carry the metrics the executor process measured: the generator's
    // 10000 rows and the 7 groups the query returned.
    let query = get_json(&format!("{api}/sql/0")).unwrap();
    assert_eq!(query["status"], "COMPLETED", "{query}");
    assert_eq!(query["successJobIds"], serde_json::json!([0]));
    let rows_of = |name: &str| -> Vec<String> {
        query["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["nodeName"] == name)
            .flat_map(|n| n["metrics"].as_array().unwrap().clone())
            .filter(|m| m["name"] == "number of output rows")
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(rows_of("LazyMemory"), ["10,000"], "{query}");
    let root = query["nodes"].as_array().unwrap().last().unwrap();
    assert_eq!(root["nodeId"], 0);
    let root_rows = root["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "number of output rows")
        .map(|m| m["value"].clone());
    assert_eq!(root_rows, Some(serde_json::json!("7")), "{query}");

    // The master links the running application to its UI.
    let (_, master_page) = get_text(&master_ui);
    assert!(
        master_page.contains(&format!("href=\"{ui}\"")),
        "{master_page}"
    );
    // Prometheus text on all three.
    let (_, metrics) = get_text(&format!("{master_ui}/metrics"));
    assert!(metrics.contains("\nmaster_aliveWorkers 1\n"), "{metrics}");
    assert!(metrics.contains("\nmaster_apps 1\n"), "{metrics}");
    let (_, metrics) = get_text(&format!("{worker_ui}/metrics"));
    assert!(metrics.contains("\nworker_executors 1\n"), "{metrics}");
    assert!(metrics.contains("\nworker_coresUsed 2\n"), "{metrics}");
    let (_, metrics) = get_text(&format!("{ui}/metrics"));
    assert!(
        metrics.contains(&format!(
            "executor_completedTasks_total{{application_id=\"{app_id}\",executor_id=\"0\"}} {tasks}"
        )),
        "{metrics}"
    );

    let browser = Browser::find_or_install();
    if let Some(browser) = &browser {
        check_pages(
            browser,
            &[
                ("master", master_ui.clone(), "web-ui-tour"),
                ("worker", worker_ui.clone(), &app_id),
                ("jobs", format!("{ui}/jobs/"), "SUCCEEDED"),
                ("job-0", format!("{ui}/jobs/job/?id=0"), "<svg"),
                ("stages", format!("{ui}/stages/"), "COMPLETE"),
                (
                    "stage-0",
                    format!("{ui}/stages/stage/?id=0&attempt=0"),
                    "Summary Metrics for",
                ),
                ("executors", format!("{ui}/executors/"), "stderr"),
                (
                    "environment",
                    format!("{ui}/environment/"),
                    "spark.app.name",
                ),
                ("sql", format!("{ui}/SQL/"), "COMPLETED"),
                (
                    "sql-0",
                    format!("{ui}/SQL/execution/?id=0"),
                    "number of output rows",
                ),
            ],
        );
    }
    spark.stop();

    // A history server over the log directory, with damaged logs next to the good one.
    std::fs::write(
        log_dir.path().join("app-garbage"),
        b"\x00not json at all\n{\"Event\":",
    )
    .unwrap();
    std::fs::write(
        log_dir.path().join("app-crashed.zstd.inprogress"),
        b"\x28\xb5\x2f\xfd\x00\x58truncated",
    )
    .unwrap();
    let log_dir_text = log_dir.path().display().to_string();
    let mut history = Daemon::start(
        "history-server",
        &[
            "history-server",
            "--log-dir",
            &log_dir_text,
            "--port",
            "0",
            "-h",
            "127.0.0.1",
        ],
    );
    let history_ui = format!(
        "http://127.0.0.1:{}",
        history.service_port("HistoryServerUI")
    );
    let apps = get_json(&format!("{history_ui}/api/v1/applications")).unwrap();
    let ids: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    for id in [app_id.as_str(), "app-garbage", "app-crashed"] {
        assert!(ids.contains(&id), "{id} missing from {apps}");
    }
    let replayed = get_json(&format!(
        "{history_ui}/api/v1/applications/{app_id}/executors"
    ))
    .unwrap();
    assert_eq!(replayed[1]["completedTasks"], tasks);
    let (status, page) = get_text(&format!("{history_ui}/history/app-garbage/jobs/"));
    assert_eq!(status, 200);
    assert!(page.contains("could not be read"), "{page}");
    let (_, list) = get_text(&history_ui);
    assert!(list.contains("Partly unreadable"), "{list}");
    assert!(history.is_running(), "{}", history.log());
    if let Some(browser) = &browser {
        check_pages(
            browser,
            &[
                ("history", history_ui.clone(), "web-ui-tour"),
                (
                    "history-jobs",
                    format!("{history_ui}/history/{app_id}/jobs/"),
                    "SUCCEEDED",
                ),
                (
                    "history-sql-0",
                    format!("{history_ui}/history/{app_id}/SQL/execution/?id=0"),
                    "number of output rows",
                ),
            ],
        );
    }
}
