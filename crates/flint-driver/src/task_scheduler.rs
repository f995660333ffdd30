use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pool::{Pools, SlotArbiter};
use crate::task_set_manager::{TaskSet, TaskSetFailure, TaskSetManager};
use crate::{ListenerBus, SchedulerBackend};
use flint_executor::TaskOutput;

/// Hands tasks of every running stage to free task slots (Spark's `TaskSchedulerImpl`); the
/// stages of all jobs of the application share the slots by `spark.scheduler.mode` (FIFO or
/// FAIR pools, [`crate::pool`]).
#[derive(Debug)]
pub struct TaskScheduler {
    backend: Arc<dyn SchedulerBackend>,
    slots: Arc<SlotArbiter>,
    max_task_failures: u32,
    next_task_id: AtomicU64,
    listener_bus: Arc<ListenerBus>,
    speculation: Option<Speculation>,
}

/// When a straggling task gets a second copy (Spark's `spark.speculation.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speculation {
    /// `spark.speculation.interval`: how often running tasks are looked at.
    pub interval: std::time::Duration,
    /// `spark.speculation.multiplier`: how many times the median a straggler has run.
    pub multiplier: f64,
    /// `spark.speculation.quantile`: the share of the stage's tasks that must have finished.
    pub quantile: f64,
    /// `spark.speculation.minTaskRuntime`: the least a straggler has run.
    pub min_task_runtime: std::time::Duration,
}

impl Speculation {
    /// The settings when `spark.speculation` is on.
    pub fn from_conf(conf: &flint_conf::SparkConf) -> Result<Option<Self>, flint_conf::ConfError> {
        use flint_conf::keys;
        if !conf.value(&keys::SPECULATION)? {
            return Ok(None);
        }
        Ok(Some(Self {
            interval: conf.value(&keys::SPECULATION_INTERVAL)?,
            multiplier: conf.value(&keys::SPECULATION_MULTIPLIER)?.0,
            quantile: conf.value(&keys::SPECULATION_QUANTILE)?.0,
            min_task_runtime: conf.value(&keys::SPECULATION_MIN_TASK_RUNTIME)?,
        }))
    }

    /// How long a task must have run to be speculated, given its stage's finished tasks'
    /// durations, or `None` while too few of the stage's `total` tasks have finished
    /// (Spark's `checkSpeculatableTasks`).
    pub fn threshold(
        &self,
        finished: &[std::time::Duration],
        total: usize,
    ) -> Option<std::time::Duration> {
        let needed = ((self.quantile * total as f64).floor() as usize).max(1);
        if finished.len() < needed {
            return None;
        }
        let mut sorted = finished.to_vec();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        Some(median.mul_f64(self.multiplier).max(self.min_task_runtime))
    }
}

impl TaskScheduler {
    /// A scheduler over `backend` that tries each task at most `max_task_failures` times and
    /// shares the slots by `pools`.
    pub fn new(
        backend: Arc<dyn SchedulerBackend>,
        max_task_failures: u32,
        listener_bus: Arc<ListenerBus>,
        pools: Pools,
    ) -> Self {
        let slots = SlotArbiter::new(backend.total_cores().max(1), pools);
        Self {
            backend,
            slots,
            max_task_failures: max_task_failures.max(1),
            next_task_id: AtomicU64::new(0),
            listener_bus,
            speculation: None,
        }
    }

    /// Runs copies of straggling tasks (`spark.speculation`).
    pub fn with_speculation(mut self, speculation: Option<Speculation>) -> Self {
        self.speculation = speculation;
        self
    }

    /// How stragglers are speculated, if they are.
    pub(crate) fn speculation(&self) -> Option<&Speculation> {
        self.speculation.as_ref()
    }

    /// Task slots across executors.
    pub fn total_cores(&self) -> usize {
        self.backend.total_cores()
    }

    /// Runs a stage attempt's tasks to completion, retrying failed tasks; returns the result
    /// tasks' outputs by partition (a map stage's outputs go to the tracker as tasks finish).
    pub(crate) async fn run_task_set(
        &self,
        task_set: TaskSet,
    ) -> Result<Vec<(u32, TaskOutput)>, TaskSetFailure> {
        TaskSetManager::new(task_set, self).run().await
    }

    /// The backend, for work outside scheduling (deleting a shuffle's files).
    pub fn backend_handle(&self) -> &Arc<dyn SchedulerBackend> {
        &self.backend
    }

    pub(crate) fn backend(&self) -> &Arc<dyn SchedulerBackend> {
        &self.backend
    }

    pub(crate) fn slots(&self) -> &Arc<SlotArbiter> {
        &self.slots
    }

    pub(crate) fn max_task_failures(&self) -> u32 {
        self.max_task_failures
    }

    pub(crate) fn next_task_id(&self) -> u64 {
        self.next_task_id.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn listener_bus(&self) -> &ListenerBus {
        &self.listener_bus
    }

    /// The bus, for work that outlives a borrow of the scheduler.
    pub(crate) fn shared_listener_bus(&self) -> Arc<ListenerBus> {
        Arc::clone(&self.listener_bus)
    }

    /// Stops the backend's executors.
    pub fn stop(&self) {
        self.backend.stop();
    }
}

#[cfg(test)]
mod speculation_tests {
    use std::time::Duration;

    use super::Speculation;

    /// Spark's rule: nothing before `quantile` of the tasks finished; then `multiplier`
    /// times the median of the finished ones, never under `minTaskRuntime`.
    #[test]
    fn stragglers_are_measured_against_the_median_of_finished_tasks() {
        let speculation = Speculation {
            interval: Duration::from_millis(100),
            multiplier: 1.5,
            quantile: 0.75,
            min_task_runtime: Duration::from_millis(100),
        };
        let ms = Duration::from_millis;
        assert_eq!(speculation.threshold(&[ms(400), ms(200)], 4), None);
        assert_eq!(
            speculation.threshold(&[ms(400), ms(200), ms(300)], 4),
            Some(ms(450))
        );
        assert_eq!(
            speculation.threshold(&[ms(10), ms(20), ms(30)], 4),
            Some(ms(100))
        );
    }
}
