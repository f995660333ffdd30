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
        }
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
