//! Dynamic allocation (Spark's `ExecutorAllocationManager` with its `ExecutorMonitor`): the
//! application asks the master for more executors while tasks wait, and gives back executors
//! that have been idle for `spark.dynamicAllocation.executorIdleTimeout`.
//!
//! What it knows comes from listener events (stages submitted, tasks started and ended,
//! executors added and removed). Every 100 ms it works out how many executors the waiting and
//! running tasks need, and:
//!
//! - while tasks have been waiting for `schedulerBacklogTimeout`, raises the target by 1, then
//!   by 2, 4, ... every `sustainedSchedulerBacklogTimeout` (Spark's exponential ramp), never
//!   above what the tasks need nor `maxExecutors`;
//! - when fewer are needed, lowers the target at once (not below `minExecutors`);
//! - asks the backend to kill executors idle for the timeout, as long as that leaves at least
//!   `minExecutors` and the target. An executor that holds map outputs nobody else serves is
//!   kept (`shuffleTracking.enabled`, when there is no shuffle service).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flint_conf::{ConfError, SparkConf, keys};

use crate::{MapOutputTracker, SparkListener, SparkListenerEvent, TaskEndReason};

/// How often targets and idle executors are looked at (Spark's 100 ms).
const INTERVAL: Duration = Duration::from_millis(100);

/// Dynamic allocation's settings, checked against each other.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationConfig {
    /// `spark.dynamicAllocation.minExecutors`.
    pub min_executors: u32,
    /// `spark.dynamicAllocation.maxExecutors` (unset: no limit).
    pub max_executors: u32,
    /// `spark.dynamicAllocation.initialExecutors` (at least the minimum).
    pub initial_executors: u32,
    /// `spark.dynamicAllocation.executorIdleTimeout`.
    pub executor_idle_timeout: Duration,
    /// `spark.dynamicAllocation.schedulerBacklogTimeout`.
    pub scheduler_backlog_timeout: Duration,
    /// `spark.dynamicAllocation.sustainedSchedulerBacklogTimeout`.
    pub sustained_scheduler_backlog_timeout: Duration,
    /// `spark.dynamicAllocation.executorAllocationRatio`.
    pub allocation_ratio: f64,
    /// Task slots of one executor (`spark.executor.cores`, 1 when unset as in Spark).
    pub tasks_per_executor: u32,
    /// Keep executors holding map outputs (`shuffleTracking.enabled` without a shuffle
    /// service), for this long after they went idle (`shuffleTracking.timeout`; `None`:
    /// as long as the outputs are registered).
    pub shuffle_tracking: Option<Option<Duration>>,
    /// Keep executors holding cached blocks for this long after they went idle
    /// (`cachedExecutorIdleTimeout`; `None`: as long as they hold any).
    pub cached_executor_idle_timeout: Option<Duration>,
}

impl AllocationConfig {
    /// The settings when `spark.dynamicAllocation.enabled`, else `None`; settings that
    /// contradict each other are refused with Spark's messages.
    pub fn from_conf(conf: &SparkConf) -> Result<Option<Self>, ConfError> {
        if !conf.value(&keys::DYN_ALLOCATION_ENABLED)? {
            return Ok(None);
        }
        let min_executors = conf.value(&keys::DYN_ALLOCATION_MIN_EXECUTORS)?;
        let max_executors = conf
            .optional(&keys::DYN_ALLOCATION_MAX_EXECUTORS)?
            .unwrap_or(u32::MAX);
        if max_executors == 0 {
            return Err(ConfError::Inconsistent(
                "spark.dynamicAllocation.maxExecutors cannot be 0!".into(),
            ));
        }
        if min_executors > max_executors {
            return Err(ConfError::Inconsistent(format!(
                "spark.dynamicAllocation.minExecutors ({min_executors}) must be less than or equal to spark.dynamicAllocation.maxExecutors ({max_executors})!"
            )));
        }
        let initial = conf.optional(&keys::DYN_ALLOCATION_INITIAL_EXECUTORS)?;
        if initial.is_some_and(|n| n < min_executors) {
            tracing::warn!(
                "spark.dynamicAllocation.initialExecutors less than minExecutors is invalid, ignoring its setting, please update your configs."
            );
        }
        let initial_executors = initial.unwrap_or(min_executors).max(min_executors);
        if initial_executors > max_executors {
            return Err(ConfError::Inconsistent(format!(
                "spark.dynamicAllocation.initialExecutors ({initial_executors}) must be at most spark.dynamicAllocation.maxExecutors ({max_executors})"
            )));
        }
        let shuffle_service = conf.value(&keys::SHUFFLE_SERVICE_ENABLED)?;
        let tracking = conf.value(&keys::DYN_ALLOCATION_SHUFFLE_TRACKING)?;
        if !shuffle_service && !tracking {
            return Err(ConfError::Inconsistent(
                "Dynamic allocation of executors requires one of: 1) the external shuffle service, spark.shuffle.service.enabled=true; 2) shuffle tracking, spark.dynamicAllocation.shuffleTracking.enabled=true".into(),
            ));
        }
        let backlog = conf.value(&keys::DYN_ALLOCATION_BACKLOG_TIMEOUT)?;
        Ok(Some(Self {
            min_executors,
            max_executors,
            initial_executors,
            executor_idle_timeout: conf.value(&keys::DYN_ALLOCATION_IDLE_TIMEOUT)?,
            scheduler_backlog_timeout: backlog,
            sustained_scheduler_backlog_timeout: conf
                .optional(&keys::DYN_ALLOCATION_SUSTAINED_BACKLOG_TIMEOUT)?
                .unwrap_or(backlog),
            allocation_ratio: conf.value(&keys::DYN_ALLOCATION_RATIO)?.0,
            tasks_per_executor: conf
                .optional(&keys::EXECUTOR_CORES)?
                .map_or(1, |cores| u32::try_from(cores).unwrap_or(u32::MAX)),
            shuffle_tracking: (!shuffle_service && tracking)
                .then(|| conf.optional(&keys::DYN_ALLOCATION_SHUFFLE_TRACKING_TIMEOUT))
                .transpose()?,
            cached_executor_idle_timeout: conf
                .optional(&keys::DYN_ALLOCATION_CACHED_IDLE_TIMEOUT)?,
        }))
    }
}

/// What dynamic allocation asks of the cluster (the standalone backend, in front of the
/// master).
pub trait AllocationClient: Send + Sync {
    /// Asks the master for `total` executors in all.
    fn request_total_executors(&self, total: u32);
    /// Asks for the executors among `ids` that are idle now to be killed, giving `reason`
    /// when they are removed; returns those that will be (no task is launched on them any
    /// more).
    fn kill_idle_executors(&self, ids: &[String], reason: &str) -> Vec<String>;
}

/// The figures `/metrics` shows (Spark's `ExecutorAllocationManagerSource`).
#[derive(Debug, Default)]
pub struct AllocationGauges {
    /// Executors wanted now (`numberTargetExecutors`).
    pub target: AtomicU64,
    /// Executors registered now, those being removed included (`numberAllExecutors`).
    pub all: AtomicU64,
    /// Executors asked to be killed and not gone yet (`numberExecutorsPendingToRemove`).
    pub pending_to_remove: AtomicU64,
    /// Executors the waiting and running tasks would fill (`numberMaxNeededExecutors`).
    pub max_needed: AtomicU64,
    /// How many the next ramp step adds (`numberExecutorsToAdd`).
    pub to_add: AtomicU64,
}

/// One stage attempt's tasks.
#[derive(Debug, Default)]
struct StageTasks {
    num_tasks: usize,
    /// Partitions started and not failed since.
    started: HashSet<u32>,
    running: usize,
}

/// One executor as the monitor sees it (Spark's `ExecutorMonitor.Tracker`).
#[derive(Debug)]
struct ExecutorTracker {
    running: usize,
    idle_since: Instant,
    pending_removal: bool,
    /// The cached blocks it holds (`rdd_<id>_<partition>`).
    cached_blocks: HashSet<String>,
}

/// What one look at the state decided.
#[derive(Debug, Default, PartialEq, Eq)]
struct Decision {
    request_total: Option<u32>,
    kill: Vec<String>,
}

/// The allocation state, changed by listener events and by the timer.
#[derive(Debug)]
struct AllocationState {
    config: AllocationConfig,
    stages: HashMap<(u32, u32), StageTasks>,
    executors: BTreeMap<String, ExecutorTracker>,
    target: u32,
    to_add: u32,
    /// When executors are added next, while tasks are backlogged.
    add_time: Option<Instant>,
    /// Until a stage is submitted or the idle timeout passes, the target is not lowered.
    initializing: bool,
    started: Instant,
}

impl AllocationState {
    fn new(config: AllocationConfig, now: Instant) -> Self {
        Self {
            target: config.initial_executors,
            config,
            stages: HashMap::new(),
            executors: BTreeMap::new(),
            to_add: 1,
            add_time: None,
            initializing: true,
            started: now,
        }
    }

    fn pending_tasks(&self) -> usize {
        self.stages
            .values()
            .map(|s| s.num_tasks.saturating_sub(s.started.len()))
            .sum()
    }

    fn running_tasks(&self) -> usize {
        self.stages.values().map(|s| s.running).sum()
    }

    /// Executors the waiting and running tasks would fill (Spark's
    /// `maxNumExecutorsNeededPerResourceProfile`).
    fn max_needed(&self) -> u32 {
        let tasks = (self.pending_tasks() + self.running_tasks()) as f64;
        let needed = (tasks * self.config.allocation_ratio
            / f64::from(self.config.tasks_per_executor))
        .ceil();
        needed.min(f64::from(u32::MAX)) as u32
    }

    fn backlogged(&mut self, now: Instant) {
        if self.add_time.is_none() {
            self.add_time = Some(now + self.config.scheduler_backlog_timeout);
        }
    }

    fn queue_empty(&mut self) {
        self.add_time = None;
        self.to_add = 1;
    }

    fn on_event(&mut self, event: &SparkListenerEvent, now: Instant) {
        match event {
            SparkListenerEvent::StageSubmitted { stage_info } => {
                self.initializing = false;
                self.stages.insert(
                    (stage_info.stage_id, stage_info.attempt),
                    StageTasks {
                        num_tasks: stage_info.num_tasks,
                        ..StageTasks::default()
                    },
                );
                if self.pending_tasks() > 0 {
                    self.backlogged(now);
                }
            }
            SparkListenerEvent::StageCompleted { stage_info } => {
                self.stages
                    .remove(&(stage_info.stage_id, stage_info.attempt));
                if self.pending_tasks() == 0 {
                    self.queue_empty();
                }
            }
            SparkListenerEvent::TaskStart {
                stage_id,
                stage_attempt,
                task_info,
            } => {
                if let Some(stage) = self.stages.get_mut(&(*stage_id, *stage_attempt)) {
                    stage.started.insert(task_info.index);
                    stage.running += 1;
                }
                if let Some(executor) = self.executors.get_mut(&task_info.executor_id) {
                    executor.running += 1;
                }
                if self.pending_tasks() == 0 {
                    self.queue_empty();
                }
            }
            SparkListenerEvent::TaskEnd {
                stage_id,
                stage_attempt,
                task_info,
                reason,
                ..
            } => {
                if let Some(stage) = self.stages.get_mut(&(*stage_id, *stage_attempt)) {
                    stage.running = stage.running.saturating_sub(1);
                    if *reason != TaskEndReason::Success {
                        // The partition runs again: it waits once more.
                        stage.started.remove(&task_info.index);
                        self.backlogged(now);
                    }
                }
                if let Some(executor) = self.executors.get_mut(&task_info.executor_id) {
                    executor.running = executor.running.saturating_sub(1);
                    if executor.running == 0 {
                        executor.idle_since = now;
                    }
                }
            }
            SparkListenerEvent::ExecutorAdded { executor_id, .. } if executor_id != "driver" => {
                tracing::info!(
                    executor_id,
                    "New executor {executor_id} has registered (new total is {})",
                    self.executors.len() + 1
                );
                self.executors.insert(
                    executor_id.clone(),
                    ExecutorTracker {
                        running: 0,
                        idle_since: now,
                        pending_removal: false,
                        cached_blocks: HashSet::new(),
                    },
                );
            }
            SparkListenerEvent::BlockUpdated {
                executor_id,
                block_id,
                storage_level,
                ..
            } => {
                if let Some(executor) = self.executors.get_mut(executor_id) {
                    if *storage_level == crate::cache::StorageLevel::NONE {
                        executor.cached_blocks.remove(block_id);
                    } else {
                        executor.cached_blocks.insert(block_id.clone());
                    }
                }
            }
            SparkListenerEvent::UnpersistRdd { rdd_id } => {
                let prefix = format!("rdd_{rdd_id}_");
                for executor in self.executors.values_mut() {
                    executor
                        .cached_blocks
                        .retain(|block| !block.starts_with(&prefix));
                }
            }
            SparkListenerEvent::ExecutorRemoved { executor_id, .. }
                if self.executors.remove(executor_id).is_some() =>
            {
                tracing::info!(
                    executor_id,
                    "Existing executor {executor_id} has been removed (new total is {})",
                    self.executors.len()
                );
            }
            _ => {}
        }
    }

    /// Spark's `addExecutors`: raises the target by the ramp's step, within what the tasks
    /// need and the maximum; the step doubles while every raise is taken whole.
    fn add_executors(&mut self, max_needed: u32) -> Option<u32> {
        if self.target >= self.config.max_executors {
            tracing::debug!(
                "Not adding executors because our current target total is already {} (limit {})",
                self.target,
                self.config.max_executors
            );
            self.to_add = 1;
            return None;
        }
        let old = self.target;
        let raised = self
            .target
            .saturating_add(self.to_add)
            .min(max_needed)
            .min(self.config.max_executors)
            .max(self.config.min_executors);
        let delta = raised.saturating_sub(old);
        if delta == 0 {
            self.to_add = 1;
            return None;
        }
        self.target = raised;
        tracing::info!(
            "Requesting {delta} new executor(s) because tasks are backlogged (new desired total will be {raised})"
        );
        self.to_add = if delta == self.to_add {
            self.to_add.saturating_mul(2)
        } else {
            1
        };
        Some(raised)
    }

    /// One look: a new target, if it changed, and the idle executors to give back.
    /// `holds_shuffle_outputs` are executors whose map outputs only they serve.
    fn decide(&mut self, now: Instant, holds_shuffle_outputs: &HashSet<String>) -> Decision {
        let mut decision = Decision::default();
        if self.initializing && now >= self.started + self.config.executor_idle_timeout {
            self.initializing = false;
        }
        let max_needed = self.max_needed();
        if self.initializing {
            // Wait for the first job before lowering the initial target.
        } else if max_needed < self.target {
            let old = self.target;
            self.target = max_needed.max(self.config.min_executors);
            self.to_add = 1;
            if self.target < old {
                tracing::info!(
                    "Lowering target number of executors to {} (previously {old}) because not all requested executors are actually needed",
                    self.target
                );
                decision.request_total = Some(self.target);
            }
        } else if self.add_time.is_some_and(|at| now >= at) {
            decision.request_total = self.add_executors(max_needed);
            self.add_time = Some(now + self.config.sustained_scheduler_backlog_timeout);
        }

        let timed_out: Vec<String> = self
            .executors
            .iter()
            .filter(|(id, e)| {
                if e.pending_removal || e.running > 0 {
                    return false;
                }
                let idle = now.saturating_duration_since(e.idle_since);
                // Spark's `ExecutorMonitor.updateTimeout`: an executor holding cached blocks
                // or (with shuffle tracking) map outputs has the shorter of those timeouts,
                // each unlimited when unset.
                let cached = !e.cached_blocks.is_empty();
                let shuffle =
                    self.config.shuffle_tracking.is_some() && holds_shuffle_outputs.contains(*id);
                let timeout = if cached || shuffle {
                    let cache_timeout = self.config.cached_executor_idle_timeout.filter(|_| cached);
                    let shuffle_timeout = self
                        .config
                        .shuffle_tracking
                        .flatten()
                        .filter(|_| shuffle)
                        .map(|timeout| timeout.max(self.config.executor_idle_timeout));
                    match cache_timeout.into_iter().chain(shuffle_timeout).min() {
                        Some(timeout) => timeout,
                        None => return false,
                    }
                } else {
                    self.config.executor_idle_timeout
                };
                idle >= timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        let existing = self
            .executors
            .values()
            .filter(|e| !e.pending_removal)
            .count() as u32;
        for id in timed_out {
            let left = existing - decision.kill.len() as u32;
            if left <= self.config.min_executors {
                tracing::debug!(
                    "Not removing idle executor {id} because there are only {left} executor(s) left (minimum number of executor limit {})",
                    self.config.min_executors
                );
            } else if left <= self.target {
                tracing::debug!(
                    "Not removing idle executor {id} because there are only {left} executor(s) left (number of executor target {})",
                    self.target
                );
            } else {
                decision.kill.push(id);
            }
        }
        decision
    }

    fn publish(&self, gauges: &AllocationGauges) {
        let pending_to_remove = self
            .executors
            .values()
            .filter(|e| e.pending_removal)
            .count();
        gauges
            .target
            .store(u64::from(self.target), Ordering::Relaxed);
        gauges
            .all
            .store(self.executors.len() as u64, Ordering::Relaxed);
        gauges
            .pending_to_remove
            .store(pending_to_remove as u64, Ordering::Relaxed);
        gauges
            .max_needed
            .store(u64::from(self.max_needed()), Ordering::Relaxed);
        gauges
            .to_add
            .store(u64::from(self.to_add), Ordering::Relaxed);
    }
}

/// Feeds listener events into the allocation state.
struct AllocationListener {
    state: Arc<Mutex<AllocationState>>,
}

impl SparkListener for AllocationListener {
    fn on_event(&self, event: &SparkListenerEvent) {
        lock(&self.state).on_event(event, Instant::now());
    }
}

fn lock(state: &Mutex<AllocationState>) -> std::sync::MutexGuard<'_, AllocationState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running dynamic allocation; dropping it stops it.
#[derive(Debug)]
pub struct ExecutorAllocationManager {
    gauges: Arc<AllocationGauges>,
    timer: tokio::task::JoinHandle<()>,
}

impl ExecutorAllocationManager {
    /// Asks `client` for the initial executors, follows the application's events on
    /// `listener_bus` and adjusts the executors every 100 ms until dropped. `map_outputs`
    /// says which executors hold map outputs (for shuffle tracking).
    pub fn start(
        config: AllocationConfig,
        client: Arc<dyn AllocationClient>,
        listener_bus: &crate::ListenerBus,
        map_outputs: Arc<MapOutputTracker>,
    ) -> Self {
        tracing::info!(
            "Dynamic allocation is enabled: between {} and {} executors, {} at first; idle executors go after {:?}",
            config.min_executors,
            if config.max_executors == u32::MAX {
                "unlimited".to_string()
            } else {
                config.max_executors.to_string()
            },
            config.initial_executors,
            config.executor_idle_timeout
        );
        let state = Arc::new(Mutex::new(AllocationState::new(config, Instant::now())));
        listener_bus.add_listener(Arc::new(AllocationListener {
            state: Arc::clone(&state),
        }));
        let gauges = Arc::new(AllocationGauges::default());
        let initial = lock(&state).target;
        client.request_total_executors(initial);
        let timer = tokio::spawn(run_timer(state, client, map_outputs, Arc::clone(&gauges)));
        Self { gauges, timer }
    }

    /// The figures `/metrics` shows.
    pub fn gauges(&self) -> Arc<AllocationGauges> {
        Arc::clone(&self.gauges)
    }
}

impl Drop for ExecutorAllocationManager {
    fn drop(&mut self) {
        self.timer.abort();
    }
}

async fn run_timer(
    state: Arc<Mutex<AllocationState>>,
    client: Arc<dyn AllocationClient>,
    map_outputs: Arc<MapOutputTracker>,
    gauges: Arc<AllocationGauges>,
) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let tracking = lock(&state).config.shuffle_tracking.is_some();
        let holders = if tracking {
            map_outputs.executors_with_outputs()
        } else {
            HashSet::new()
        };
        let (decision, idle_timeout) = {
            let mut state = lock(&state);
            let decision = state.decide(Instant::now(), &holders);
            (decision, state.config.executor_idle_timeout)
        };
        if let Some(total) = decision.request_total {
            client.request_total_executors(total);
        }
        if !decision.kill.is_empty() {
            let reason = format!(
                "Executor killed by driver: idle for {}s (spark.dynamicAllocation.executorIdleTimeout)",
                idle_timeout.as_secs_f64()
            );
            let killed = client.kill_idle_executors(&decision.kill, &reason);
            if !killed.is_empty() {
                tracing::info!(
                    "Executors {} removed due to idle timeout.",
                    killed.join(",")
                );
            }
            let mut state = lock(&state);
            for id in &killed {
                if let Some(executor) = state.executors.get_mut(id) {
                    executor.pending_removal = true;
                }
            }
        }
        lock(&state).publish(&gauges);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StageInfo, TaskInfo};

    fn config() -> AllocationConfig {
        AllocationConfig {
            min_executors: 0,
            max_executors: 10,
            initial_executors: 0,
            executor_idle_timeout: Duration::from_secs(60),
            scheduler_backlog_timeout: Duration::from_secs(1),
            sustained_scheduler_backlog_timeout: Duration::from_secs(1),
            allocation_ratio: 1.0,
            tasks_per_executor: 1,
            shuffle_tracking: None,
            cached_executor_idle_timeout: None,
        }
    }

    fn stage(stage_id: u32, num_tasks: usize) -> StageInfo {
        StageInfo {
            stage_id,
            attempt: 0,
            name: format!("stage {stage_id}"),
            num_tasks,
            parent_ids: vec![],
            submission_time: None,
            completion_time: None,
            failure_reason: None,
            rdd_infos: vec![],
        }
    }

    fn task(index: u32, executor: &str) -> TaskInfo {
        TaskInfo {
            task_id: u64::from(index),
            index,
            attempt: 0,
            launch_time: 0,
            finish_time: 0,
            executor_id: executor.into(),
            host: "h".into(),
            speculative: false,
            locality: crate::TaskLocality::NoPref,
        }
    }

    fn conf(pairs: &[(&str, &str)]) -> SparkConf {
        let mut conf = SparkConf::new();
        conf.set("spark.dynamicAllocation.enabled", "true");
        for (key, value) in pairs {
            conf.set(*key, *value);
        }
        conf
    }

    /// A backlog that lasts raises the target by 1, 2, 4 (Spark's ramp), capped by the
    /// maximum; when the tasks are done the target drops to the minimum at once.
    #[test]
    fn the_target_ramps_up_exponentially_and_drops_at_once() {
        let start = Instant::now();
        let mut state = AllocationState::new(config(), start);
        let none = HashSet::new();
        state.on_event(
            &SparkListenerEvent::StageSubmitted {
                stage_info: stage(0, 12),
            },
            start,
        );
        let at = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(state.decide(at(0), &none).request_total, None);
        let mut targets = vec![];
        for second in 1..=5 {
            targets.push(state.decide(at(second), &none).request_total);
        }
        assert_eq!(targets, [Some(1), Some(3), Some(7), Some(10), None]);
        state.on_event(
            &SparkListenerEvent::StageCompleted {
                stage_info: stage(0, 12),
            },
            at(6),
        );
        assert_eq!(state.decide(at(6), &none).request_total, Some(0));
    }

    /// Idle executors go after the timeout, but never below the minimum; busy ones and
    /// those holding map outputs under shuffle tracking stay.
    #[test]
    fn idle_executors_are_removed_down_to_the_minimum() {
        let start = Instant::now();
        let mut state = AllocationState::new(
            AllocationConfig {
                min_executors: 3,
                shuffle_tracking: Some(None),
                ..config()
            },
            start,
        );
        for id in ["1", "2", "3", "4"] {
            state.on_event(
                &SparkListenerEvent::ExecutorAdded {
                    executor_id: id.into(),
                    time: 0,
                    info: Default::default(),
                },
                start,
            );
        }
        state.on_event(
            &SparkListenerEvent::StageSubmitted {
                stage_info: stage(0, 1),
            },
            start,
        );
        state.on_event(
            &SparkListenerEvent::TaskStart {
                stage_id: 0,
                stage_attempt: 0,
                task_info: task(0, "2"),
            },
            start,
        );
        let holders: HashSet<String> = ["3".to_string()].into();
        let later = start + Duration::from_secs(61);
        // 1 and 4 are idle; 2 runs a task; 3 holds map outputs. Removing 1 leaves 3
        // executors, the minimum, so 4 stays.
        let decision = state.decide(later, &holders);
        assert_eq!(decision.kill, ["1"]);
        state.executors.get_mut("1").unwrap().pending_removal = true;
        assert!(state.decide(later, &holders).kill.is_empty());
    }

    /// An idle executor holding cached blocks stays while `cachedExecutorIdleTimeout` is
    /// unset, goes after it when set, and is an ordinary idle executor once its blocks are
    /// unpersisted.
    #[test]
    fn executors_holding_cached_blocks_stay_for_the_cached_timeout() {
        let start = Instant::now();
        let none = HashSet::new();
        let block = |executor: &str, level| SparkListenerEvent::BlockUpdated {
            executor_id: executor.into(),
            host_port: "h:1".into(),
            block_id: "rdd_7_0".into(),
            storage_level: level,
            memory_size: 10,
            disk_size: 0,
        };
        let idle_with_block = |cached_timeout| {
            let mut state = AllocationState::new(
                AllocationConfig {
                    cached_executor_idle_timeout: cached_timeout,
                    ..config()
                },
                start,
            );
            state.initializing = false;
            for id in ["1", "2"] {
                state.on_event(
                    &SparkListenerEvent::ExecutorAdded {
                        executor_id: id.into(),
                        time: 0,
                        info: Default::default(),
                    },
                    start,
                );
            }
            state.on_event(&block("1", crate::cache::StorageLevel::MEMORY_ONLY), start);
            state
        };
        let at = |secs| start + Duration::from_secs(secs);
        let mut kept = idle_with_block(None);
        assert_eq!(kept.decide(at(3600), &none).kill, ["2"]);
        kept.executors.get_mut("2").unwrap().pending_removal = true;
        assert!(kept.decide(at(3601), &none).kill.is_empty());
        kept.on_event(&SparkListenerEvent::UnpersistRdd { rdd_id: 7 }, at(3600));
        assert_eq!(kept.decide(at(3600), &none).kill, ["1"]);

        let mut timed = idle_with_block(Some(Duration::from_secs(120)));
        assert_eq!(timed.decide(at(61), &none).kill, ["2"]);
        timed.executors.get_mut("2").unwrap().pending_removal = true;
        assert!(timed.decide(at(100), &none).kill.is_empty());
        assert_eq!(timed.decide(at(121), &none).kill, ["1"]);
    }

    #[test]
    fn contradicting_settings_are_refused() {
        let refused = |pairs: &[(&str, &str)]| {
            AllocationConfig::from_conf(&conf(pairs))
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused(&[
                ("spark.dynamicAllocation.minExecutors", "3"),
                ("spark.dynamicAllocation.maxExecutors", "2")
            ])
            .contains("must be less than or equal to")
        );
        assert!(
            refused(&[("spark.dynamicAllocation.shuffleTracking.enabled", "false")])
                .contains("external shuffle service")
        );
        let config = AllocationConfig::from_conf(&conf(&[
            ("spark.dynamicAllocation.minExecutors", "2"),
            ("spark.dynamicAllocation.initialExecutors", "1"),
            ("spark.executor.cores", "4"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                config.initial_executors,
                config.tasks_per_executor,
                config.shuffle_tracking
            ),
            (2, 4, Some(None))
        );
        assert_eq!(
            AllocationConfig::from_conf(&SparkConf::new()).unwrap(),
            None
        );
    }
}
