use std::sync::Arc;

use async_trait::async_trait;
use flint_executor::{Executor, TaskDescription, TaskResult};

use crate::TaskLocality;
use crate::locality::{LocalityWaits, PreferredLocations};

/// Told once when a task is sent to an executor, with the executor's id and host and how
/// close to its input it is: the task starts then (Spark's `TaskStart`), not while it waits
/// for a free core.
pub type TaskLaunched = Box<dyn FnOnce(&str, &str, TaskLocality) + Send>;

/// Where a task would rather run, and where not.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    /// Where the task's input is: it waits for a free core there as its task set's
    /// `waits` allow (`spark.locality.wait` per level).
    pub prefer: PreferredLocations,
    /// An executor not to run on while there is another (a speculative copy's original's).
    pub avoid: Option<String>,
    /// The delay-scheduling timers of the task's task set; `None` waits for nothing.
    pub waits: Option<Arc<LocalityWaits>>,
}

impl Placement {
    /// The level a task placed so runs at on `executor_id` of `host`. As in Spark, a task
    /// preferring nothing runs PROCESS_LOCAL wherever it runs.
    pub fn locality_on(&self, executor_id: &str, host: &str) -> TaskLocality {
        if self.prefer.executor.as_deref() == Some(executor_id) || self.prefer.is_empty() {
            TaskLocality::ProcessLocal
        } else if self.prefer.hosts.iter().any(|h| h == host) {
            TaskLocality::NodeLocal
        } else {
            TaskLocality::Any
        }
    }
}

/// The seam between the task scheduler and wherever executors live (Spark's `SchedulerBackend`).
#[async_trait]
pub trait SchedulerBackend: Send + Sync + std::fmt::Debug {
    /// Task slots across all executors.
    fn total_cores(&self) -> usize;

    /// Why no task can run any more (the cluster removed the application), if so: task sets
    /// are aborted with it instead of retrying.
    fn dead_reason(&self) -> Option<String> {
        None
    }

    /// Runs a task on some executor, as `placement` would rather, calling `launched` when it
    /// is sent there, and returns the executor's id, host and the result.
    async fn run_task(
        &self,
        task: TaskDescription,
        launched: TaskLaunched,
        placement: Placement,
    ) -> (String, String, TaskResult);

    /// Asks the executor running a task to kill it (Spark's `killTask`); the task's status
    /// still arrives through `run_task`, as `TaskKilled`. Unknown or finished tasks are ignored.
    fn kill_task(&self, task_id: u64, reason: &str);

    /// Releases the executors.
    fn stop(&self);

    /// Deletes the files of a shuffle no job reads any more (an unpersisted cache) on every
    /// executor (Spark's `RemoveShuffle`).
    fn remove_shuffle(&self, shuffle_id: u32);
}

/// Local mode (Spark's `LocalSchedulerBackend`): one executor inside the driver process, with
/// the same serialized tasks and shuffle files as a cluster.
#[derive(Debug)]
pub struct LocalSchedulerBackend {
    executor: Arc<Executor>,
}

impl LocalSchedulerBackend {
    /// A backend over an in-process executor (id `driver`, host `localhost`).
    pub fn new(executor: Arc<Executor>) -> Self {
        Self { executor }
    }
}

#[async_trait]
impl SchedulerBackend for LocalSchedulerBackend {
    fn total_cores(&self) -> usize {
        self.executor.cores()
    }

    async fn run_task(
        &self,
        task: TaskDescription,
        launched: TaskLaunched,
        placement: Placement,
    ) -> (String, String, TaskResult) {
        // Everything is on the one executor.
        let locality = placement.locality_on(self.executor.executor_id(), "localhost");
        launched(self.executor.executor_id(), "localhost", locality);
        let result = self.executor.run_task(task).await;
        (
            self.executor.executor_id().to_string(),
            "localhost".to_string(),
            result,
        )
    }

    fn kill_task(&self, task_id: u64, reason: &str) {
        self.executor.kill_task(task_id, reason);
    }

    fn remove_shuffle(&self, shuffle_id: u32) {
        self.executor.remove_shuffle(shuffle_id);
    }

    fn stop(&self) {
        self.executor.stop();
    }
}
