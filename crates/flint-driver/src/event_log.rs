//! The event log (Spark's `EventLoggingListener` and `EventLogFileWriters`): every listener
//! event as one JSON line in `<spark.eventLog.dir>/<app-id>[.zstd]`, named `….inprogress`
//! until the application ends; and [`replay`], which feeds a log back to a listener (the
//! history server's `ReplayListenerBus`).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::json_protocol::{event_from_json, event_to_json, log_start};
use crate::{SparkListener, SparkListenerEvent};

/// The suffix of a log still being written.
pub const IN_PROGRESS_SUFFIX: &str = ".inprogress";
/// The suffix of a zstd-compressed log (Spark's codec short name).
pub const ZSTD_SUFFIX: &str = ".zstd";

/// Why an event log cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// A log directory setting names something that is not a local directory.
    #[error("{0}")]
    Dir(String),
    /// The application's log exists already and `spark.eventLog.overwrite` is false.
    #[error("the event log {0} already exists (set spark.eventLog.overwrite=true to replace it)")]
    Exists(PathBuf),
    /// A codec other than zstd was asked for.
    #[error(
        "spark.eventLog.compression.codec: unsupported codec '{0}' (Flint writes zstd event logs)"
    )]
    Codec(String),
    /// A file could not be created, written, renamed or read.
    #[error("event log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How an application's event log is written.
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    /// `spark.eventLog.dir`, a local path (a `file:` URI is accepted).
    pub dir: String,
    /// `spark.eventLog.compress` with `spark.eventLog.compression.codec`: zstd or none.
    pub compress: bool,
    /// `spark.eventLog.overwrite`.
    pub overwrite: bool,
}

/// The local directory a `spark.eventLog.dir` or `spark.history.fs.logDirectory` value names:
/// a plain path or a `file:` URI; other schemes are refused.
pub fn local_log_dir(value: &str) -> Result<PathBuf, EventLogError> {
    let path = if let Some(rest) = value.strip_prefix("file://") {
        rest
    } else if let Some(rest) = value.strip_prefix("file:") {
        rest
    } else if let Some((scheme, _)) = value.split_once("://") {
        return Err(EventLogError::Dir(format!(
            "only local directories are supported, not {scheme}:// ({value})"
        )));
    } else {
        value
    };
    if path.is_empty() {
        return Err(EventLogError::Dir("the directory is empty".into()));
    }
    Ok(PathBuf::from(path))
}

enum LogOutput {
    Plain(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl LogOutput {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            LogOutput::Plain(out) => out,
            LogOutput::Zstd(out) => out,
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            LogOutput::Plain(mut out) => out.flush(),
            LogOutput::Zstd(out) => out.finish()?.flush(),
        }
    }
}

struct OpenLog {
    output: LogOutput,
    in_progress: PathBuf,
    complete: PathBuf,
}

/// Writes every event it hears to the application's event log; the file loses its
/// `.inprogress` suffix at `ApplicationEnd`. A write error is logged once and ends logging; the
/// application runs on.
pub struct EventLoggingListener {
    log: Mutex<Option<OpenLog>>,
}

impl std::fmt::Debug for EventLoggingListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoggingListener")
            .finish_non_exhaustive()
    }
}

impl EventLoggingListener {
    /// Creates `<dir>/<app_id>[.zstd].inprogress` and writes its first line.
    pub fn start(app_id: &str, config: &EventLogConfig) -> Result<Self, EventLogError> {
        let dir = local_log_dir(&config.dir)
            .map_err(|error| EventLogError::Dir(format!("spark.eventLog.dir: {error}")))?;
        if !dir.is_dir() {
            return Err(EventLogError::Dir(format!(
                "spark.eventLog.dir: log directory {} does not exist",
                dir.display()
            )));
        }
        let suffix = if config.compress { ZSTD_SUFFIX } else { "" };
        let complete = dir.join(format!("{app_id}{suffix}"));
        let in_progress = dir.join(format!("{app_id}{suffix}{IN_PROGRESS_SUFFIX}"));
        if !config.overwrite && (complete.exists() || in_progress.exists()) {
            return Err(EventLogError::Exists(complete));
        }
        let io = |source| EventLogError::Io {
            path: in_progress.clone(),
            source,
        };
        let file = BufWriter::new(File::create(&in_progress).map_err(io)?);
        let mut output = if config.compress {
            LogOutput::Zstd(zstd::stream::write::Encoder::new(file, 3).map_err(io)?)
        } else {
            LogOutput::Plain(file)
        };
        writeln!(output.writer(), "{}", log_start()).map_err(io)?;
        tracing::info!("Logging events to {}", in_progress.display());
        Ok(Self {
            log: Mutex::new(Some(OpenLog {
                output,
                in_progress,
                complete,
            })),
        })
    }

    fn write(log: &mut OpenLog, event: &SparkListenerEvent) -> std::io::Result<()> {
        let Some(json) = event_to_json(event) else {
            return Ok(());
        };
        let out = log.output.writer();
        writeln!(out, "{json}")?;
        // Readers of a running application's log see every finished job and stage.
        if matches!(
            event,
            SparkListenerEvent::JobEnd { .. }
                | SparkListenerEvent::StageCompleted { .. }
                | SparkListenerEvent::JobStart { .. }
                | SparkListenerEvent::SqlExecutionEnd { .. }
        ) {
            out.flush()?;
        }
        Ok(())
    }
}

impl SparkListener for EventLoggingListener {
    fn on_event(&self, event: &SparkListenerEvent) {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let Some(log) = guard.as_mut() else {
            return;
        };
        if let Err(error) = Self::write(log, event) {
            tracing::warn!(
                "Stopped writing the event log {}: {error}",
                log.in_progress.display()
            );
            guard.take();
            return;
        }
        if let SparkListenerEvent::ApplicationEnd { .. } = event
            && let Some(log) = guard.take()
        {
            let finished = log
                .output
                .finish()
                .and_then(|()| std::fs::rename(&log.in_progress, &log.complete));
            match finished {
                Ok(()) => tracing::info!("Event log written to {}", log.complete.display()),
                Err(error) => tracing::warn!(
                    "Cannot complete the event log {}: {error}",
                    log.in_progress.display()
                ),
            }
        }
    }
}

/// What replaying a log found: how many events it delivered and what it could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Events delivered to the listener.
    pub events: usize,
    /// One line per unreadable part: a bad line (with its number) or a damaged end.
    pub problems: Vec<String>,
}

/// Feeds every readable event of the log at `path` to `listener`, in order. A line that is
/// not a known event's JSON is skipped and noted, and a damaged or truncated end (a crashed
/// application's compressed log) ends the replay with a note; only a file that cannot be
/// opened is an error.
pub fn replay(path: &Path, listener: &dyn SparkListener) -> Result<ReplaySummary, EventLogError> {
    let file = File::open(path).map_err(|source| EventLogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = name.strip_suffix(IN_PROGRESS_SUFFIX).unwrap_or(name);
    let input: Box<dyn Read> = if base.ends_with(ZSTD_SUFFIX) {
        Box::new(
            zstd::stream::read::Decoder::new(file).map_err(|source| EventLogError::Io {
                path: path.to_path_buf(),
                source,
            })?,
        )
    } else {
        Box::new(file)
    };
    let mut summary = ReplaySummary::default();
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                summary
                    .problems
                    .push(format!("stopped after line {number}: {error}"));
                break;
            }
        }
        number += 1;
        if !line.ends_with(b"\n") {
            summary.problems.push(format!(
                "line {number} is cut short (the log ends mid-line)"
            ));
            break;
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(&line)
            .map_err(|e| e.to_string())
            .and_then(|value| event_from_json(&value).map_err(|e| e.to_string()));
        match parsed {
            Ok(Some(event)) => {
                listener.on_event(&event);
                summary.events += 1;
            }
            Ok(None) => {}
            Err(error) => summary.problems.push(format!("line {number}: {error}")),
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobResult;

    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>);

    impl SparkListener for Collect {
        fn on_event(&self, event: &SparkListenerEvent) {
            self.0.lock().unwrap().push(format!("{event:?}"));
        }
    }

    fn events() -> Vec<SparkListenerEvent> {
        vec![
            SparkListenerEvent::ApplicationStart {
                app_id: "local-1".into(),
                app_name: "t".into(),
                time: 1,
                user: "u".into(),
            },
            SparkListenerEvent::ExecutorMetricsUpdate {
                executor_id: "driver".into(),
                memory_used: 5,
            },
            SparkListenerEvent::JobEnd {
                job_id: 0,
                time: 2,
                result: JobResult::Succeeded,
            },
            SparkListenerEvent::ApplicationEnd { time: 3 },
        ]
    }

    fn write_log(dir: &Path, compress: bool) -> PathBuf {
        let config = EventLogConfig {
            dir: format!("file://{}", dir.display()),
            compress,
            overwrite: false,
        };
        let listener = EventLoggingListener::start("local-1", &config).unwrap();
        let suffix = if compress { ".zstd" } else { "" };
        assert!(dir.join(format!("local-1{suffix}.inprogress")).exists());
        for event in events() {
            listener.on_event(&event);
        }
        let path = dir.join(format!("local-1{suffix}"));
        assert!(path.exists());
        assert!(!dir.join(format!("local-1{suffix}.inprogress")).exists());
        path
    }

    #[test]
    fn logs_replay_compressed_or_not_without_heartbeats() {
        for compress in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = write_log(dir.path(), compress);
            let collect = Collect::default();
            let summary = replay(&path, &collect).unwrap();
            assert_eq!(summary.problems, Vec::<String>::new());
            assert_eq!(summary.events, 3);
            let expected: Vec<String> = events()
                .iter()
                .filter(|e| !matches!(e, SparkListenerEvent::ExecutorMetricsUpdate { .. }))
                .map(|e| format!("{e:?}"))
                .collect();
            assert_eq!(*collect.0.lock().unwrap(), expected);
        }
    }

    #[test]
    fn plain_logs_are_spark_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(write_log(dir.path(), false)).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("{\"Event\":\"SparkListenerLogStart\""),
            "{first}"
        );
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn damaged_logs_replay_what_they_can() {
        let dir = tempfile::tempdir().unwrap();
        // A bad line in the middle and a line cut short at the end.
        let plain = write_log(dir.path(), false);
        let text = std::fs::read_to_string(&plain).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(2, "{\"Event\": \"SparkListenerJobEnd\", \"Job ID\": }");
        let damaged = format!("{}\n{{\"Event\":\"SparkListenerAppl", lines.join("\n"));
        std::fs::write(&plain, damaged).unwrap();
        let collect = Collect::default();
        let summary = replay(&plain, &collect).unwrap();
        assert_eq!(summary.events, 3);
        assert_eq!(summary.problems.len(), 2, "{:?}", summary.problems);
        assert!(summary.problems[0].starts_with("line 3:"));
        assert!(summary.problems[1].contains("cut short"));

        // A compressed log cut in half (a crashed application's).
        let dir = tempfile::tempdir().unwrap();
        let compressed = write_log(dir.path(), true);
        let bytes = std::fs::read(&compressed).unwrap();
        std::fs::write(&compressed, &bytes[..bytes.len() / 2]).unwrap();
        let summary = replay(&compressed, &Collect::default()).unwrap();
        assert!(!summary.problems.is_empty());

        assert!(matches!(
            replay(&dir.path().join("missing"), &Collect::default()),
            Err(EventLogError::Io { .. })
        ));
    }

    #[test]
    fn log_dirs_are_local_paths() {
        assert_eq!(
            local_log_dir("file:///tmp/spark-events").unwrap(),
            PathBuf::from("/tmp/spark-events")
        );
        assert_eq!(
            local_log_dir("file:/tmp/x").unwrap(),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(local_log_dir("logs").unwrap(), PathBuf::from("logs"));
        let error = local_log_dir("hdfs://nn/logs").unwrap_err().to_string();
        assert!(error.contains("hdfs://"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let config = EventLogConfig {
            dir: dir.path().join("nope").display().to_string(),
            compress: false,
            overwrite: false,
        };
        let error = EventLoggingListener::start("a", &config).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
        let config = EventLogConfig {
            dir: dir.path().display().to_string(),
            ..config
        };
        drop(EventLoggingListener::start("a", &config).unwrap());
        assert!(matches!(
            EventLoggingListener::start("a", &config),
            Err(EventLogError::Exists(_))
        ));
    }
}
