//! The executor's task threads (Spark's `Executor.threadPool`, a cached thread pool): each
//! running task has a thread of its own with a single-threaded tokio runtime, and the thread
//! and its runtime are kept for later tasks instead of being made for every task (a thread
//! stack mapped and unmapped, a runtime's driver set up, for each task of each stage). A
//! thread idle for [`KEEP_ALIVE`] ends, as in Spark's pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// How long an idle task thread waits for another task before it ends (Spark: 60 s).
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// A task's work, run on a task thread with its runtime.
pub(crate) type TaskJob = Box<dyn FnOnce(&tokio::runtime::Runtime) + Send>;

/// An idle thread: its id and where to send its next job (`None` ends it).
struct IdleThread {
    id: ThreadId,
    jobs: mpsc::Sender<Option<TaskJob>>,
}

/// The executor's task threads.
pub(crate) struct TaskThreads {
    name: String,
    idle: Arc<Mutex<Vec<IdleThread>>>,
    closed: Arc<AtomicBool>,
}

impl TaskThreads {
    /// A pool whose threads are named `<name>-<n>`.
    pub(crate) fn new(name: &str) -> Self {
        TaskThreads {
            name: name.to_string(),
            idle: Arc::default(),
            closed: Arc::default(),
        }
    }

    /// Runs `job` on an idle task thread, or on a new one.
    pub(crate) fn run(&self, job: TaskJob) -> Result<(), String> {
        let mut job = job;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some(idle) = idle else { break };
            match idle.jobs.send(Some(job)) {
                Ok(()) => return Ok(()),
                // That thread ended meanwhile; try the next.
                Err(mpsc::SendError(returned)) => match returned {
                    Some(returned) => job = returned,
                    None => return Err("a task thread lost its task".into()),
                },
            }
        }
        self.spawn(job)
    }

    fn spawn(&self, job: TaskJob) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a task runtime: {e}"))?;
        let (jobs, next_job) = mpsc::channel();
        let idle = Arc::clone(&self.idle);
        let closed = Arc::clone(&self.closed);
        let own_jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("{}-task-thread", self.name))
            .spawn(move || serve(runtime, job, next_job, own_jobs, idle, closed))
            .map_err(|e| format!("cannot start a task thread: {e}"))?;
        drop(jobs);
        Ok(())
    }
}

impl Drop for TaskThreads {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        for idle in self
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = idle.jobs.send(None);
        }
    }
}

/// A task thread's life: run the first job, then wait for more until idle too long.
fn serve(
    runtime: tokio::runtime::Runtime,
    first: TaskJob,
    next_job: mpsc::Receiver<Option<TaskJob>>,
    own_jobs: mpsc::Sender<Option<TaskJob>>,
    idle: Arc<Mutex<Vec<IdleThread>>>,
    closed: Arc<AtomicBool>,
) {
    let me = std::thread::current().id();
    let mut job = first;
    loop {
        let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&runtime)));
        // Work the task spawned and cancelled on its way out is dropped now, not during the
        // next task (it may hold memory the next task would wait for).
        runtime.block_on(async {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        });
        // A task that panicked past its own guard may have left the runtime in any state.
        if finished.is_err() || closed.load(Ordering::SeqCst) {
            return;
        }
        idle.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(IdleThread {
                id: me,
                jobs: own_jobs.clone(),
            });
        job = loop {
            match next_job.recv_timeout(KEEP_ALIVE) {
                Ok(Some(job)) => break job,
                Ok(None) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
                    match idle.iter().position(|t| t.id == me) {
                        Some(position) => {
                            idle.remove(position);
                            return;
                        }
                        // Taken by a task about to send its job: wait for it.
                        None => continue,
                    }
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that reports its thread and `value` on `done`.
    fn report(done: &mpsc::Sender<(ThreadId, u32)>, value: u32) -> TaskJob {
        let done = done.clone();
        Box::new(move |runtime| {
            let value = runtime.block_on(async move { value });
            done.send((std::thread::current().id(), value)).unwrap();
        })
    }

    #[test]
    fn a_finished_tasks_thread_and_runtime_serve_the_next_task() {
        let threads = TaskThreads::new("test");
        let (done, finished) = mpsc::channel();
        threads.run(report(&done, 1)).unwrap();
        let (first, value) = finished.recv().unwrap();
        assert_eq!(value, 1);
        // Once the thread is idle again, the next task goes to it.
        while threads.idle.lock().unwrap().is_empty() {
            std::thread::yield_now();
        }
        threads.run(report(&done, 2)).unwrap();
        assert_eq!(finished.recv().unwrap(), (first, 2));
    }

    #[test]
    fn busy_threads_make_the_pool_grow() {
        let threads = TaskThreads::new("test");
        let (release, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let (started, thread_of) = mpsc::channel();
        for _ in 0..2 {
            let (wait, started) = (Arc::clone(&wait), started.clone());
            threads
                .run(Box::new(move |_| {
                    started.send(std::thread::current().id()).unwrap();
                    let _ = wait.lock().unwrap().recv();
                }))
                .unwrap();
        }
        let (a, b) = (thread_of.recv().unwrap(), thread_of.recv().unwrap());
        assert_ne!(a, b);
        release.send(()).unwrap();
        release.send(()).unwrap();
    }
}
