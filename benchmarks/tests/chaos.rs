//! A short run of the chaos harness in CI: two faults of each kind (executor and worker
//! `kill -9`, master `kill -9` with recovery, executor `SIGSTOP`) on a real standalone
//! cluster, with TPC-H SF0.01; every answer right, no hang, nothing left behind.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn short_chaos_run_is_right_and_leaves_nothing() {
    let chaos = std::path::Path::new(env!("CARGO_BIN_EXE_chaos"));
    let flint = chaos.with_file_name("flint");
    assert!(
        flint.exists(),
        "the chaos harness needs {} (cargo build -p flint-cli, or cargo test --workspace)",
        flint.display()
    );
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(chaos)
        .args([
            "--scale-factor",
            "0.01",
            "--data",
            &data.path().display().to_string(),
            "--executor-kills",
            "2",
            "--worker-kills",
            "2",
            "--master-kills",
            "2",
            "--pauses",
            "2",
            "--pause-ms",
            "500",
            "--worker-memory-mib",
            "1024",
            "--hang-after-s",
            "120",
        ])
        .env("FLINT_BIN", &flint)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the chaos run took over 600 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let table = std::fs::read_to_string(out.path()).unwrap();
    assert!(status.success(), "{table}");
    assert!(table.contains("| all | 8 | "), "{table}");
    assert!(table.contains("master restarts: ALIVE after ["), "{table}");
}
