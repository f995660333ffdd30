//! Scheduling pools (Spark's `Pool`, `FIFOSchedulableBuilder`/`FairSchedulableBuilder` and
//! `FIFOSchedulingAlgorithm`/`FairSchedulingAlgorithm`): which waiting task set gets the next
//! free task slot.
//!
//! With `spark.scheduler.mode=FIFO` (the default) the task set of the earliest job, then of its
//! earliest stage, goes first. With `FAIR`, each job runs in the pool its
//! `spark.scheduler.pool` names (`default` when unset); pools come from the XML file
//! `spark.scheduler.allocation.file` (Spark's `fairscheduler.xml`: per pool `schedulingMode`,
//! `weight`, `minShare`), and a pool no file declares is made with Spark's defaults (FIFO,
//! weight 1, minShare 0). A slot goes to the pool below its `minShare`, else to the one with
//! the fewest running tasks per unit of `weight`; inside the pool, by its own mode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// The pool a job runs in when `spark.scheduler.pool` is unset.
pub const DEFAULT_POOL: &str = "default";

/// How a pool (or the application) orders what it schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulingMode {
    /// Earliest job first, then earliest stage.
    Fifo,
    /// Fewest running tasks first (per minShare, then per weight).
    Fair,
}

impl SchedulingMode {
    /// Spark's name of the mode, as the UI shows it.
    pub fn name(self) -> &'static str {
        match self {
            SchedulingMode::Fifo => "FIFO",
            SchedulingMode::Fair => "FAIR",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "FIFO" => Some(SchedulingMode::Fifo),
            "FAIR" => Some(SchedulingMode::Fair),
            _ => None,
        }
    }
}

/// A pool's settings (an element `<pool name="...">` of the allocation file).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Pool name.
    pub name: String,
    /// How the pool orders its own task sets.
    pub mode: SchedulingMode,
    /// Share of the slots relative to other pools once every pool has its minShare.
    pub weight: u32,
    /// Slots the pool gets before pools that already have theirs.
    pub min_share: u32,
}

impl PoolConfig {
    /// A pool with Spark's defaults.
    fn named(name: &str) -> Self {
        PoolConfig {
            name: name.to_string(),
            mode: SchedulingMode::Fifo,
            weight: 1,
            min_share: 0,
        }
    }
}

/// A bad scheduler setting or allocation file.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// `spark.scheduler.mode` is neither FIFO nor FAIR.
    #[error("invalid value \"{0}\" for spark.scheduler.mode: expected FIFO or FAIR")]
    Mode(String),
    /// The allocation file cannot be read.
    #[error("cannot read spark.scheduler.allocation.file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The allocation file is not the XML Spark reads.
    #[error("invalid spark.scheduler.allocation.file {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with its place.
        reason: String,
    },
}

/// The application's scheduling mode and declared pools.
#[derive(Debug, Clone)]
pub struct Pools {
    /// FIFO: one queue of task sets; FAIR: pools.
    pub mode: SchedulingMode,
    /// Declared pools (always including `default`), in file order.
    pub declared: Vec<PoolConfig>,
}

impl Default for Pools {
    fn default() -> Self {
        Pools {
            mode: SchedulingMode::Fifo,
            declared: vec![PoolConfig::named(DEFAULT_POOL)],
        }
    }
}

impl Pools {
    /// The pools `spark.scheduler.mode` and `spark.scheduler.allocation.file` describe.
    pub fn new(mode: &str, allocation_file: Option<&str>) -> Result<Self, PoolError> {
        let mode = SchedulingMode::parse(mode).ok_or_else(|| PoolError::Mode(mode.into()))?;
        let mut declared = match (mode, allocation_file) {
            (SchedulingMode::Fair, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| PoolError::Read {
                    path: path.into(),
                    source,
                })?;
                parse_allocations(&text).map_err(|reason| PoolError::Invalid {
                    path: path.into(),
                    reason,
                })?
            }
            _ => vec![],
        };
        if !declared.iter().any(|p| p.name == DEFAULT_POOL) {
            declared.insert(0, PoolConfig::named(DEFAULT_POOL));
        }
        Ok(Pools { mode, declared })
    }

    /// The settings of pool `name`: declared, or Spark's defaults.
    pub fn config(&self, name: &str) -> PoolConfig {
        self.declared
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .unwrap_or_else(|| PoolConfig::named(name))
    }
}

/// The pools of a `fairscheduler.xml` text.
fn parse_allocations(text: &str) -> Result<Vec<PoolConfig>, String> {
    let document = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let root = document.root_element();
    if root.tag_name().name() != "allocations" {
        return Err(format!(
            "the root element is <{}>, not <allocations>",
            root.tag_name().name()
        ));
    }
    let mut pools = vec![];
    for element in root.children().filter(|n| n.has_tag_name("pool")) {
        let name = element
            .attribute("name")
            .ok_or("a <pool> without a name attribute")?;
        let mut pool = PoolConfig::named(name);
        for setting in element.children().filter(|n| n.is_element()) {
            let value = setting.text().unwrap_or("").trim();
            let number = |what: &str| {
                value
                    .parse::<u32>()
                    .map_err(|_| format!("pool {name}: {what} \"{value}\" is not a whole number"))
            };
            match setting.tag_name().name() {
                "schedulingMode" => {
                    pool.mode = SchedulingMode::parse(value).ok_or_else(|| {
                        format!("pool {name}: schedulingMode \"{value}\" is neither FIFO nor FAIR")
                    })?
                }
                "weight" => pool.weight = number("weight")?,
                "minShare" => pool.min_share = number("minShare")?,
                other => return Err(format!("pool {name}: unknown setting <{other}>")),
            }
        }
        pools.push(pool);
    }
    Ok(pools)
}

/// Identifies one waiting or running task set: its pool, job and stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TaskSetKey {
    /// The pool its job runs in.
    pub pool: Arc<str>,
    /// Its job (earlier jobs first in FIFO order).
    pub job_id: u32,
    /// Its stage.
    pub stage_id: u32,
    /// Which attempt of the stage.
    pub stage_attempt: u32,
}

/// A task set's wish for slots: how many of its tasks wait for one, and where its slots go.
struct Demand {
    /// Which registration (two task sets may share a key).
    id: u64,
    key: TaskSetKey,
    wanted: usize,
    grant: mpsc::UnboundedSender<SlotPermit>,
}

#[derive(Default)]
struct ArbiterState {
    free: usize,
    next_id: u64,
    demands: Vec<Demand>,
    running_by_pool: HashMap<Arc<str>, usize>,
    running_by_set: HashMap<TaskSetKey, usize>,
}

/// The application's task slots, handed to the task sets that want them by the pools' rules.
pub(crate) struct SlotArbiter {
    pools: Pools,
    state: Mutex<ArbiterState>,
}

impl std::fmt::Debug for SlotArbiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotArbiter")
            .field("pools", &self.pools)
            .finish()
    }
}

/// One task slot, held while a task runs; dropping it frees the slot for the next task set.
pub(crate) struct SlotPermit {
    /// `None` once the slot went back by other means.
    arbiter: Option<Arc<SlotArbiter>>,
    key: TaskSetKey,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        if let Some(arbiter) = self.arbiter.take() {
            arbiter.release(&self.key);
        }
    }
}

/// A task set's line to the arbiter: it says how many tasks want a slot and receives the
/// slots granted to it. Dropping it withdraws what it still wants.
pub(crate) struct TaskSetSlots {
    arbiter: Arc<SlotArbiter>,
    id: u64,
    granted: mpsc::UnboundedReceiver<SlotPermit>,
}

impl TaskSetSlots {
    /// `tasks` more tasks of the task set wait for a slot.
    pub(crate) fn want(&self, tasks: usize) {
        let mut state = self.arbiter.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(demand) = state.demands.iter_mut().find(|d| d.id == self.id) {
            demand.wanted += tasks;
        }
        self.arbiter.dispatch(&mut state);
    }

    /// No task of the task set waits any more (it was cancelled).
    pub(crate) fn want_none(&self) {
        let mut state = self.arbiter.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(demand) = state.demands.iter_mut().find(|d| d.id == self.id) {
            demand.wanted = 0;
        }
    }

    /// The next slot granted to the task set.
    pub(crate) async fn next(&mut self) -> Option<SlotPermit> {
        self.granted.recv().await
    }
}

impl Drop for TaskSetSlots {
    fn drop(&mut self) {
        let mut state = self.arbiter.state.lock().unwrap_or_else(|p| p.into_inner());
        state.demands.retain(|d| d.id != self.id);
    }
}

impl SlotArbiter {
    pub(crate) fn new(slots: usize, pools: Pools) -> Arc<Self> {
        Arc::new(SlotArbiter {
            pools,
            state: Mutex::new(ArbiterState {
                free: slots,
                ..ArbiterState::default()
            }),
        })
    }

    /// Registers a task set that will want slots (see [`TaskSetSlots::want`]).
    pub(crate) fn register(self: &Arc<Self>, key: TaskSetKey) -> TaskSetSlots {
        let (grant, granted) = mpsc::unbounded_channel();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let id = state.next_id;
        state.next_id += 1;
        state.demands.push(Demand {
            id,
            key,
            wanted: 0,
            grant,
        });
        TaskSetSlots {
            arbiter: Arc::clone(self),
            id,
            granted,
        }
    }

    fn release(self: &Arc<Self>, key: &TaskSetKey) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.free += 1;
        decrement(&mut state.running_by_pool, &key.pool);
        decrement(&mut state.running_by_set, key);
        self.dispatch(&mut state);
    }

    /// Gives free slots to the task sets the rules pick, one slot at a time.
    fn dispatch(self: &Arc<Self>, state: &mut ArbiterState) {
        while state.free > 0 {
            let Some(index) = self.next_demand(state) else {
                return;
            };
            let demand = &mut state.demands[index];
            demand.wanted -= 1;
            let key = demand.key.clone();
            let permit = SlotPermit {
                arbiter: Some(Arc::clone(self)),
                key: key.clone(),
            };
            if let Err(mpsc::error::SendError(mut permit)) = demand.grant.send(permit) {
                // The task set is gone; its permit's drop would take the lock held here.
                permit.arbiter = None;
                demand.wanted = 0;
                continue;
            }
            state.free -= 1;
            *state
                .running_by_pool
                .entry(Arc::clone(&key.pool))
                .or_default() += 1;
            *state.running_by_set.entry(key).or_default() += 1;
        }
    }

    /// The index of the demand the rules serve next, if any task set wants a slot.
    fn next_demand(&self, state: &ArbiterState) -> Option<usize> {
        let wanting = || (0..state.demands.len()).filter(|&i| state.demands[i].wanted > 0);
        let fifo = |d: &Demand| (d.key.job_id, d.key.stage_id, d.key.stage_attempt);
        let pick = |indices: &mut dyn Iterator<Item = usize>, mode: SchedulingMode| {
            indices.min_by(|&a, &b| {
                let (a, b) = (&state.demands[a], &state.demands[b]);
                match mode {
                    SchedulingMode::Fifo => fifo(a).cmp(&fifo(b)),
                    SchedulingMode::Fair => {
                        let running =
                            |d: &Demand| state.running_by_set.get(&d.key).copied().unwrap_or(0);
                        running(a).cmp(&running(b)).then(fifo(a).cmp(&fifo(b)))
                    }
                }
            })
        };
        if self.pools.mode == SchedulingMode::Fifo {
            return pick(&mut wanting(), SchedulingMode::Fifo);
        }
        let mut pools: Vec<Arc<str>> = wanting()
            .map(|i| Arc::clone(&state.demands[i].key.pool))
            .collect();
        pools.sort();
        pools.dedup();
        let running = |p: &PoolConfig| {
            state
                .running_by_pool
                .get(p.name.as_str())
                .copied()
                .unwrap_or(0) as f64
        };
        let best = pools
            .iter()
            .map(|p| self.pools.config(p))
            .min_by(|a, b| fair_order(a, running(a), b, running(b)))?;
        let mut in_pool = wanting().filter(|&i| *state.demands[i].key.pool == *best.name);
        pick(&mut in_pool, best.mode)
    }
}

/// Spark's `FairSchedulingAlgorithm.comparator` between two pools: one below its minShare
/// first, then the lower running/minShare, then the lower running/weight, then the name.
fn fair_order(
    a: &PoolConfig,
    running_a: f64,
    b: &PoolConfig,
    running_b: f64,
) -> std::cmp::Ordering {
    let needy_a = running_a < a.min_share as f64;
    let needy_b = running_b < b.min_share as f64;
    let share_ratio = |running: f64, p: &PoolConfig| running / (p.min_share as f64).max(1.0);
    let weight_ratio =
        |running: f64, p: &PoolConfig| running / (p.weight as f64).max(f64::MIN_POSITIVE);
    let by_ratio = match (needy_a, needy_b) {
        (true, false) => return std::cmp::Ordering::Less,
        (false, true) => return std::cmp::Ordering::Greater,
        (true, true) => share_ratio(running_a, a).total_cmp(&share_ratio(running_b, b)),
        (false, false) => weight_ratio(running_a, a).total_cmp(&weight_ratio(running_b, b)),
    };
    by_ratio.then_with(|| a.name.cmp(&b.name))
}

fn decrement<K, Q>(counts: &mut HashMap<K, usize>, key: &Q)
where
    K: std::hash::Hash + Eq + std::borrow::Borrow<Q>,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pool: &str, job_id: u32, stage_id: u32) -> TaskSetKey {
        TaskSetKey {
            pool: Arc::from(pool),
            job_id,
            stage_id,
            stage_attempt: 0,
        }
    }

    #[test]
    fn reads_sparks_allocation_file() {
        let pools = parse_allocations(
            r#"<?xml version="1.0"?>
            <allocations>
              <pool name="production">
                <schedulingMode>FAIR</schedulingMode><weight>3</weight><minShare>2</minShare>
              </pool>
              <pool name="test"><weight>1</weight></pool>
            </allocations>"#,
        )
        .unwrap();
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].mode, SchedulingMode::Fair);
        assert_eq!((pools[0].weight, pools[0].min_share), (3, 2));
        assert_eq!(pools[1].mode, SchedulingMode::Fifo);
        assert!(parse_allocations("<allocations><pool/></allocations>").is_err());
        assert!(parse_allocations("<pools/>").is_err());
        assert!(
            parse_allocations(
                "<allocations><pool name='a'><weight>x</weight></pool></allocations>"
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn fifo_serves_the_earliest_job_first() {
        let arbiter = SlotArbiter::new(1, Pools::default());
        let mut first = arbiter.register(key("default", 5, 9));
        first.want(1);
        let held = first.next().await.unwrap();
        let mut later = arbiter.register(key("default", 7, 1));
        later.want(1);
        let mut earlier = arbiter.register(key("default", 6, 1));
        earlier.want(1);
        drop(held);
        let granted = earlier.next().await.unwrap();
        assert_eq!(granted.key.job_id, 6);
        assert!(later.granted.try_recv().is_err());
        drop(granted);
        assert_eq!(later.next().await.unwrap().key.job_id, 7);
    }

    #[test]
    fn fair_pools_share_slots_by_weight_after_min_shares() {
        let light = PoolConfig {
            weight: 1,
            ..PoolConfig::named("light")
        };
        let heavy = PoolConfig {
            weight: 3,
            ..PoolConfig::named("heavy")
        };
        // 1 running of weight 1 (ratio 1) against 2 of weight 3 (ratio 0.67): heavy first.
        assert!(fair_order(&heavy, 2.0, &light, 1.0).is_lt());
        // 3 of weight 3 (1.0) against 1 of weight 1 (1.0): a tie goes by name.
        assert!(fair_order(&heavy, 3.0, &light, 1.0).is_lt());
        assert!(fair_order(&heavy, 4.0, &light, 1.0).is_gt());
        let needy = PoolConfig {
            min_share: 2,
            ..PoolConfig::named("needy")
        };
        assert!(fair_order(&needy, 1.0, &light, 0.0).is_lt());
    }

    #[tokio::test]
    async fn fair_pools_get_slots_by_weight() {
        let pools = Pools {
            mode: SchedulingMode::Fair,
            declared: vec![
                PoolConfig {
                    weight: 1,
                    ..PoolConfig::named("light")
                },
                PoolConfig {
                    weight: 3,
                    ..PoolConfig::named("heavy")
                },
            ],
        };
        let arbiter = SlotArbiter::new(4, pools);
        // An earlier job holds every slot; as it ends, the slots go by weight.
        let mut earlier = arbiter.register(key("default", 0, 0));
        earlier.want(4);
        let mut first = vec![];
        for _ in 0..4 {
            first.push(earlier.next().await.unwrap());
        }
        let mut light = arbiter.register(key("light", 1, 1));
        let mut heavy = arbiter.register(key("heavy", 2, 2));
        light.want(100);
        heavy.want(100);
        drop(first);
        let mut held = vec![];
        for _ in 0..4 {
            tokio::select! {
                Some(p) = light.next() => held.push(p),
                Some(p) = heavy.next() => held.push(p),
            }
        }
        let of = |pool: &str| held.iter().filter(|p| &*p.key.pool == pool).count();
        assert_eq!((of("light"), of("heavy")), (1, 3));
    }

    #[tokio::test]
    async fn two_task_sets_of_one_stage_keep_their_own_demand() {
        let arbiter = SlotArbiter::new(1, Pools::default());
        let first = arbiter.register(key("default", 1, 1));
        let mut second = arbiter.register(key("default", 1, 1));
        drop(first);
        second.want(1);
        assert!(second.next().await.is_some());
    }

    #[tokio::test]
    async fn a_task_set_that_leaves_gives_its_slots_back() {
        let arbiter = SlotArbiter::new(2, Pools::default());
        let gone = arbiter.register(key("default", 1, 1));
        gone.want(2);
        assert_eq!(arbiter.state.lock().unwrap().free, 0);
        drop(gone);
        assert_eq!(arbiter.state.lock().unwrap().free, 2);
        let mut next = arbiter.register(key("default", 2, 1));
        next.want(1);
        assert!(next.next().await.is_some());
    }
}
