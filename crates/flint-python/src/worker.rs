//! The Python worker processes of one executor (Spark's `PythonWorkerFactory`): started on
//! first use with the application's interpreter, kept in a pool and reused across tasks
//! (`spark.python.worker.reuse`, default true), one request at a time each. A worker runs
//! `worker.py`; it exits when its stdin closes, so workers end with their executor.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::ThreadId;

use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{Field, Schema};

use crate::{PythonError, PythonRunner, PythonUdf};

/// Flint's worker script, run by every Python worker.
pub const WORKER_SOURCE: &str = include_str!("worker.py");

/// Runs the script from an environment variable, so tracebacks name it and `ps` stays short.
const BOOTSTRAP: &str =
    "import os; exec(compile(os.environ.pop('FLINT_PYTHON_WORKER'), 'flint/worker.py', 'exec'))";

/// Idle workers of this process, by how they were started (interpreter and Python path).
static IDLE: LazyLock<Mutex<HashMap<PythonRunnerKey, Vec<PythonWorker>>>> =
    LazyLock::new(Mutex::default);

/// What makes two workers interchangeable: the interpreter and the Python path.
type PythonRunnerKey = (String, Vec<String>);

/// The worker each thread is waiting on, so a killed task can stop it.
static BUSY: LazyLock<Mutex<HashMap<ThreadId, Arc<Mutex<Child>>>>> = LazyLock::new(Mutex::default);

/// One Python worker process and the functions it has loaded.
struct PythonWorker {
    python: String,
    key: PythonRunnerKey,
    child: Arc<Mutex<Child>>,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    loaded: HashSet<u64>,
    /// The last lines the worker wrote to stderr (which still goes to the executor's log),
    /// for the error when it dies; `true` once its stderr has ended.
    stderr_tail: Arc<Mutex<(VecDeque<String>, bool)>>,
}

/// How many of a worker's last stderr lines its failure quotes.
const STDERR_TAIL_LINES: usize = 20;

/// The answer to one request: the result batches, or the function's exception.
type Answer = Result<Vec<RecordBatch>, PythonError>;

#[derive(serde::Serialize)]
struct Request<'a> {
    key: u64,
    has_command: bool,
    eval_type: i32,
    python_version: &'a str,
}

#[derive(serde::Deserialize)]
struct Status {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// The arguments of a call as the batch a worker takes: one column `_i` per argument, and
/// `rows` rows even without arguments.
pub fn arguments_batch(arrays: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch, PythonError> {
    named_arguments_batch(arrays, rows, &[])
}

/// [`arguments_batch`] of a call with keyword arguments: the column of an argument named
/// `k` is `=k`, which `worker.py` passes as `k=value`.
pub fn named_arguments_batch(
    arrays: Vec<ArrayRef>,
    rows: usize,
    names: &[String],
) -> Result<RecordBatch, PythonError> {
    let fields: Vec<Field> = arrays
        .iter()
        .enumerate()
        .map(|(i, array)| {
            let name = match names.get(i) {
                Some(keyword) if !keyword.is_empty() => format!("={keyword}"),
                _ => format!("_{i}"),
            };
            Field::new(name, array.data_type().clone(), true)
        })
        .collect();
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

/// Evaluates `udf` over `batch` (one column per argument) in a worker of this executor: a
/// value per row, or one value for an aggregate.
pub fn evaluate(udf: &PythonUdf, batch: &RecordBatch) -> Result<ArrayRef, PythonError> {
    let output = Schema::new(vec![Field::new("result", udf.output_type().clone(), true)]);
    let expected = if udf.eval_type().is_aggregate() {
        1
    } else {
        batch.num_rows()
    };
    let batches = run(udf, &output, &batch.schema(), std::slice::from_ref(batch))?;
    let column = match batches.as_slice() {
        [one] => one.column(0).clone(),
        _ => {
            return Err(PythonError::Exception(format!(
                "the worker answered {} batches for one",
                batches.len()
            )));
        }
    };
    if column.len() != expected {
        return Err(PythonError::Exception(format!(
            "the UDF returned {} rows for {} rows",
            column.len(),
            expected
        )));
    }
    if column.data_type() == udf.output_type() {
        Ok(column)
    } else {
        Ok(cast(&column, udf.output_type())?)
    }
}

/// Runs `udf`, a function of an iterator of batches to an iterator of batches
/// (`mapInPandas`, `mapInArrow`), over one partition's `batches` of `input` columns; its
/// answer has the columns of `output`.
pub fn map_partition(
    udf: &PythonUdf,
    input: &Schema,
    output: &Schema,
    batches: &[RecordBatch],
) -> Result<Vec<RecordBatch>, PythonError> {
    run(udf, output, input, batches)
}

/// Sends one request to a worker of this executor, waiting without holding up other tasks.
fn run(
    udf: &PythonUdf,
    output: &Schema,
    input: &Schema,
    batches: &[RecordBatch],
) -> Result<Vec<RecordBatch>, PythonError> {
    let run = || {
        let runner = udf.runner();
        let mut worker = checkout(runner)?;
        let thread = std::thread::current().id();
        lock(&BUSY).insert(thread, Arc::clone(&worker.child));
        let answer = worker.request(udf, output, input, batches);
        lock(&BUSY).remove(&thread);
        let answer = answer?;
        if runner.reuse_worker {
            checkin(worker);
        }
        answer
    };
    // A worker answers synchronously: on a multi-threaded runtime, let other tasks move off
    // this thread while it waits.
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

/// Kills the worker `thread` is waiting on, if any (its task was killed): the wait ends with
/// an error instead of lasting as long as the user's function.
pub fn interrupt(thread: ThreadId) {
    if let Some(child) = lock(&BUSY).get(&thread) {
        let _ = lock(child).kill();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn checkout(runner: &PythonRunner) -> Result<PythonWorker, PythonError> {
    let key = (runner.python.clone(), runner.python_path.clone());
    let reused = lock(&IDLE).get_mut(&key).and_then(Vec::pop);
    match reused {
        Some(worker) => Ok(worker),
        None => PythonWorker::start(runner),
    }
}

fn checkin(worker: PythonWorker) {
    lock(&IDLE)
        .entry(worker.key.clone())
        .or_default()
        .push(worker);
}

/// `PYTHONPATH` for a worker: the application's Python files first (an archive as it is, a
/// `.py` file through its directory, as Spark's `addPyFile` does), then what the executor had.
fn python_path(files: &[String]) -> Option<std::ffi::OsString> {
    if files.is_empty() {
        return None;
    }
    let mut entries: Vec<std::path::PathBuf> = Vec::new();
    for file in files {
        let path = std::path::Path::new(file);
        let entry = match path.extension().and_then(|e| e.to_str()) {
            Some("py") => path.parent().map(std::path::Path::to_path_buf),
            _ => Some(path.to_path_buf()),
        };
        if let Some(entry) = entry
            && !entries.contains(&entry)
        {
            entries.push(entry);
        }
    }
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        entries.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(entries).ok()
}

impl PythonWorker {
    fn start(runner: &PythonRunner) -> Result<Self, PythonError> {
        let python = runner.python.as_str();
        let mut command = Command::new(python);
        if let Some(path) = python_path(&runner.python_path) {
            command.env("PYTHONPATH", path);
        }
        let mut child = command
            .args(["-u", "-c", BOOTSTRAP])
            .env("FLINT_PYTHON_WORKER", WORKER_SOURCE)
            // User code runs here: it inherits no copy of the cluster's secret (though, as the
            // executor's own user, it could still read the executor's environment).
            .env_remove(flint_conf::AUTH_SECRET_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| PythonError::Spawn {
                python: python.to_string(),
                source,
            })?;
        let broken = || PythonError::Worker {
            python: python.to_string(),
            message: "no pipes to the worker".to_string(),
        };
        let stdin = child.stdin.take().ok_or_else(broken)?;
        let stdout = child.stdout.take().ok_or_else(broken)?;
        let stderr = child.stderr.take().ok_or_else(broken)?;
        let stderr_tail = Arc::new(Mutex::new((VecDeque::new(), false)));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                let mut tail = lock(&tail);
                if tail.0.len() == STDERR_TAIL_LINES {
                    tail.0.pop_front();
                }
                tail.0.push_back(line);
            }
            lock(&tail).1 = true;
        });
        tracing::info!(
            pid = child.id(),
            "Started Python worker {} ({python})",
            child.id()
        );
        Ok(PythonWorker {
            python: python.to_string(),
            key: (runner.python.clone(), runner.python_path.clone()),
            child: Arc::new(Mutex::new(child)),
            stdin: Some(BufWriter::new(stdin)),
            stdout: BufReader::new(stdout),
            loaded: HashSet::new(),
            stderr_tail,
        })
    }

    fn failed(&mut self, message: impl std::fmt::Display) -> PythonError {
        let exited = lock(&self.child).try_wait().ok().flatten();
        let status = match exited {
            Some(status) => {
                // What it said before dying (a missing module, a crash), once all is read.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
                while !lock(&self.stderr_tail).1 && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                let tail = lock(&self.stderr_tail);
                if tail.0.is_empty() {
                    format!(" (it exited: {status})")
                } else {
                    let said: Vec<&str> = tail.0.iter().map(String::as_str).collect();
                    format!(
                        " (it exited: {status}; its stderr ended with:\n{})",
                        said.join("\n")
                    )
                }
            }
            None => String::new(),
        };
        PythonError::Worker {
            python: self.python.clone(),
            message: format!("{message}{status}"),
        }
    }

    /// Sends one request; the outer error means the worker is broken and must go.
    fn request(
        &mut self,
        udf: &PythonUdf,
        output: &Schema,
        input: &Schema,
        batches: &[RecordBatch],
    ) -> Result<Answer, PythonError> {
        let has_command = !self.loaded.contains(&udf.key());
        let header = serde_json::to_vec(&Request {
            key: udf.key(),
            has_command,
            eval_type: udf.eval_type().code(),
            python_version: udf.python_version(),
        })
        .map_err(|e| self.failed(e))?;
        let mut output_schema = StreamWriter::try_new(Vec::new(), output)?;
        output_schema.finish()?;
        let output_schema = output_schema.into_inner()?;
        let mut arguments = StreamWriter::try_new(Vec::new(), input)?;
        for batch in batches {
            arguments.write(batch)?;
        }
        arguments.finish()?;
        let arguments = arguments.into_inner()?;

        let sent = (|| {
            let stdin = self
                .stdin
                .as_mut()
                .ok_or_else(|| std::io::Error::other("closed"))?;
            write_frame(stdin, &header)?;
            if has_command {
                write_frame(stdin, udf.command())?;
            }
            write_frame(stdin, &output_schema)?;
            write_frame(stdin, &arguments)?;
            stdin.flush()
        })();
        sent.map_err(|e| self.failed(format_args!("cannot send it a batch: {e}")))?;

        let status = read_frame(&mut self.stdout)
            .map_err(|e| self.failed(format_args!("no answer: {e}")))?;
        let status: Status =
            serde_json::from_slice(&status).map_err(|e| self.failed(format_args!("{e}")))?;
        if !status.ok {
            // The function may not have loaded; send it again next time.
            self.loaded.remove(&udf.key());
            let traceback = status
                .error
                .unwrap_or_else(|| "the worker gave no traceback".to_string());
            return Ok(Err(PythonError::Exception(traceback)));
        }
        self.loaded.insert(udf.key());
        let result = read_frame(&mut self.stdout)
            .map_err(|e| self.failed(format_args!("no result: {e}")))?;
        let reader = StreamReader::try_new(Cursor::new(result), None)?;
        Ok(reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(PythonError::from))
    }
}

impl Drop for PythonWorker {
    fn drop(&mut self) {
        // Closing stdin ends a healthy worker; one stuck in user code is killed.
        drop(self.stdin.take());
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn write_frame(out: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    let length =
        u32::try_from(data.len()).map_err(|_| std::io::Error::other("a batch of 4 GiB or more"))?;
    out.write_all(&length.to_be_bytes())?;
    out.write_all(data)
}

fn read_frame(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    input.read_exact(&mut length)?;
    let mut data = vec![0u8; u32::from_be_bytes(length) as usize];
    input.read_exact(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};

    /// A worker that dies at start (here: a "python" that says why on stderr and exits) fails
    /// with what it said, not only with its exit status.
    #[test]
    fn python_files_go_first_on_the_worker_path() {
        let path = python_path(&[
            "/apps/lib/helpers.py".into(),
            "/apps/deps.zip".into(),
            "/apps/lib/more.py".into(),
        ])
        .unwrap();
        let entries: Vec<_> = std::env::split_paths(&path).collect();
        assert_eq!(
            entries[..2],
            [
                std::path::PathBuf::from("/apps/lib"),
                std::path::PathBuf::from("/apps/deps.zip")
            ]
        );
        assert!(python_path(&[]).is_none());
    }

    #[test]
    fn a_dead_worker_s_error_quotes_its_stderr() {
        let script = std::env::temp_dir().join(format!("flint-dead-python-{}", std::process::id()));
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'pyarrow'\" >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let runner = PythonRunner {
            python: script.display().to_string(),
            reuse_worker: true,
            python_path: Vec::new(),
        };
        let mut worker = PythonWorker::start(&runner).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock(&worker.child).try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "the worker did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
        let error = worker.failed("no answer").to_string();
        drop(worker);
        let _ = std::fs::remove_file(&script);
        assert!(error.contains("exit status: 1"), "{error}");
        assert!(error.contains("No module named 'pyarrow'"), "{error}");
    }
}
