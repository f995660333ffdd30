//! Where tasks would rather run (Spark's preferred locations and delay scheduling).
//!
//! - A partition reading cached blocks prefers the executor holding all of them
//!   (PROCESS_LOCAL), then any executor on that executor's host.
//! - A partition reading shuffle output prefers the hosts holding at least 20% of its bytes
//!   (Spark's `spark.shuffle.reduceLocality.enabled`, `getLocationsWithLargestOutputs`), when
//!   both sides have fewer than 1000 tasks; any executor there is NODE_LOCAL.
//! - Input files name no host: Flint reads local or shared file systems, whose blocks have
//!   no location (Spark drops the `localhost` such file systems report).
//!
//! A task set keeps one timer per level ([`LocalityWaits`]): its tasks wait for a core at a
//! level until `spark.locality.wait` has passed since the last task launched at that level or
//! a better one (since the task set started, at first); then they move to the next level.
//! So while local cores keep freeing up, tasks keep waiting for them; once none has for the
//! wait, the whole set runs anywhere.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::ExecutionPlan;
use flint_shuffle::ShuffleReaderExec;

use crate::{MapOutputTracker, TaskLocality};

/// A partition's preferred locations (Spark's `TaskLocation`s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferredLocations {
    /// The executor holding every cached block the partition reads.
    pub executor: Option<String>,
    /// Hosts holding a large share of the shuffle output it reads.
    pub hosts: Vec<String>,
}

impl PreferredLocations {
    /// True when the partition prefers nothing.
    pub fn is_empty(&self) -> bool {
        self.executor.is_none() && self.hosts.is_empty()
    }
}

/// The share of a reduce partition's bytes a host must hold to be preferred (Spark's
/// `REDUCER_PREF_LOCS_FRACTION`).
const REDUCER_PREF_LOCS_FRACTION: f64 = 0.2;
/// Above this many map or reduce tasks, shuffle reads prefer no host (Spark's
/// `SHUFFLE_PREF_MAP_THRESHOLD` and `SHUFFLE_PREF_REDUCE_THRESHOLD`).
const SHUFFLE_PREF_THRESHOLD: usize = 1000;

/// The preferred locations of each partition of a resolved stage plan: caches (`cache_ids`)
/// by executor, other shuffles by host when `reduce_locality` is on.
pub fn preferred_locations(
    plan: &Arc<dyn ExecutionPlan>,
    cache_ids: &HashSet<u32>,
    map_outputs: &MapOutputTracker,
    reduce_locality: bool,
) -> HashMap<u32, PreferredLocations> {
    // Per partition: the one executor holding its cached blocks (None once two differ), and
    // the bytes of shuffle output it reads by host.
    let mut holders: HashMap<u32, Option<(String, String)>> = HashMap::new();
    let mut bytes_by_host: HashMap<u32, BTreeMap<String, u64>> = HashMap::new();
    let _ = plan.apply(|node| {
        let Some(reader) = node.downcast_ref::<ShuffleReaderExec>() else {
            return Ok(TreeNodeRecursion::Continue);
        };
        let partitions = reader.partitions();
        if cache_ids.contains(&reader.shuffle_id()) {
            for (partition, blocks) in partitions.iter().enumerate() {
                for block in blocks {
                    let holder = holders
                        .entry(partition as u32)
                        .or_insert_with(|| Some((block.executor_id.clone(), block.host.clone())));
                    if holder.as_ref().map(|(id, _)| id.as_str()) != Some(&block.executor_id) {
                        *holder = None;
                    }
                }
            }
            return Ok(TreeNodeRecursion::Continue);
        }
        let Some(statuses) = map_outputs.statuses(reader.shuffle_id()) else {
            return Ok(TreeNodeRecursion::Continue);
        };
        if !reduce_locality
            || statuses.len() >= SHUFFLE_PREF_THRESHOLD
            || partitions.len() >= SHUFFLE_PREF_THRESHOLD
        {
            return Ok(TreeNodeRecursion::Continue);
        }
        let by_index: HashMap<u32, _> = statuses.iter().map(|s| (s.map_index, s)).collect();
        for (partition, blocks) in partitions.iter().enumerate() {
            let hosts = bytes_by_host.entry(partition as u32).or_default();
            for block in blocks {
                let bytes = by_index
                    .get(&block.map_index)
                    .and_then(|s| s.partition_lengths.get(block.reduce_id as usize))
                    .copied()
                    .unwrap_or(0);
                *hosts.entry(block.host.clone()).or_default() += bytes;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let mut preferred: HashMap<u32, PreferredLocations> = HashMap::new();
    for (partition, holder) in holders {
        if let Some((executor, host)) = holder {
            preferred.insert(
                partition,
                PreferredLocations {
                    executor: Some(executor),
                    hosts: vec![host],
                },
            );
        }
    }
    for (partition, hosts) in bytes_by_host {
        let total: u64 = hosts.values().sum();
        if total == 0 || preferred.contains_key(&partition) {
            continue;
        }
        let large: Vec<String> = hosts
            .into_iter()
            .filter(|(_, bytes)| *bytes as f64 / total as f64 >= REDUCER_PREF_LOCS_FRACTION)
            .map(|(host, _)| host)
            .collect();
        if !large.is_empty() {
            preferred.insert(
                partition,
                PreferredLocations {
                    executor: None,
                    hosts: large,
                },
            );
        }
    }
    preferred
}

/// One task set's delay-scheduling timers (Spark's `lastLocalityWaitResetTime` per level);
/// the backend applies its `spark.locality.wait`.
#[derive(Debug)]
pub struct LocalityWaits {
    /// The last launch at PROCESS_LOCAL (the task set's start at first).
    process_local: Mutex<Instant>,
    /// The last launch at NODE_LOCAL or PROCESS_LOCAL.
    node_local: Mutex<Instant>,
}

impl LocalityWaits {
    /// Timers of a task set starting now.
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            process_local: Mutex::new(now),
            node_local: Mutex::new(now),
        })
    }

    fn read(time: &Mutex<Instant>) -> Instant {
        *time.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Until when a task preferring an executor waits `wait` for a core on it.
    pub fn process_local_until(&self, wait: Duration) -> Instant {
        Self::read(&self.process_local) + wait
    }

    /// Until when a task waits for a core on a preferred host; a task preferring an executor
    /// comes to this level only after its wait for the executor.
    pub fn node_local_until(&self, wait: Duration, prefers_executor: bool) -> Instant {
        let node = Self::read(&self.node_local) + wait;
        if prefers_executor {
            node.max(self.process_local_until(wait) + wait)
        } else {
            node
        }
    }

    /// Records a launch at `level`: tasks waiting at that level (and worse) wait anew.
    pub fn launched(&self, level: TaskLocality) {
        let now = Instant::now();
        let reset = |time: &Mutex<Instant>| *time.lock().unwrap_or_else(|p| p.into_inner()) = now;
        match level {
            TaskLocality::ProcessLocal => {
                reset(&self.process_local);
                reset(&self.node_local);
            }
            TaskLocality::NodeLocal => reset(&self.node_local),
            TaskLocality::NoPref | TaskLocality::Any => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use flint_shuffle::{MapStatus, ShuffleBlock};

    fn status(map_index: u32, host: &str, lengths: Vec<u64>) -> MapStatus {
        MapStatus {
            map_index,
            map_id: u64::from(map_index),
            executor_id: format!("e{map_index}"),
            host: host.into(),
            port: 1,
            data_path: String::new(),
            index_path: String::new(),
            partition_lengths: lengths,
            records_written: 0,
            in_memory: false,
        }
    }

    fn block(status: &MapStatus, reduce_id: u32) -> ShuffleBlock {
        ShuffleBlock {
            map_index: status.map_index,
            map_id: status.map_id,
            reduce_id,
            executor_id: status.executor_id.clone(),
            host: status.host.clone(),
            port: status.port,
            data_path: String::new(),
            index_path: String::new(),
            in_memory: status.in_memory,
            size: 0,
        }
    }

    /// A reduce partition prefers the hosts with at least 20% of its bytes; a cached
    /// partition prefers the executor holding it, then its host.
    #[test]
    fn reduce_partitions_prefer_hosts_with_a_fifth_of_their_bytes() {
        let tracker = MapOutputTracker::default();
        tracker.register_shuffle(3, 3);
        let statuses = [
            status(0, "a", vec![90, 10]),
            status(1, "b", vec![5, 10]),
            status(2, "c", vec![5, 80]),
        ];
        for status in &statuses {
            assert!(tracker.register_map_output(3, status.clone(), 0));
        }
        let partitions: Vec<Vec<ShuffleBlock>> = (0..2)
            .map(|r| statuses.iter().map(|s| block(s, r)).collect())
            .collect();
        let reader: Arc<dyn ExecutionPlan> = Arc::new(ShuffleReaderExec::new(
            3,
            Arc::new(Schema::empty()),
            partitions.clone(),
        ));
        let preferred = preferred_locations(&reader, &HashSet::new(), &tracker, true);
        assert_eq!(preferred[&0].hosts, ["a"]);
        assert_eq!(preferred[&1].hosts, ["c"]);
        assert!(preferred_locations(&reader, &HashSet::new(), &tracker, false).is_empty());

        let cached = preferred_locations(&reader, &HashSet::from([3]), &tracker, true);
        assert!(
            cached.is_empty(),
            "blocks of three executors: no one holder"
        );
        let one: Arc<dyn ExecutionPlan> = Arc::new(ShuffleReaderExec::new(
            3,
            Arc::new(Schema::empty()),
            vec![vec![block(&statuses[1], 0)]],
        ));
        let cached = preferred_locations(&one, &HashSet::from([3]), &tracker, true);
        assert_eq!(
            cached[&0],
            PreferredLocations {
                executor: Some("e1".into()),
                hosts: vec!["b".into()],
            }
        );
    }

    /// A launch at a level restarts the wait at that level and worse ones.
    #[test]
    fn a_launch_restarts_the_wait_of_its_level() {
        let wait = Duration::from_secs(3);
        let waits = LocalityWaits::new();
        let node_before = waits.node_local_until(wait, false);
        assert!(waits.node_local_until(wait, true) >= node_before + wait);
        let process = waits.process_local_until(wait);
        waits.launched(TaskLocality::Any);
        assert_eq!(waits.process_local_until(wait), process);
        waits.launched(TaskLocality::NodeLocal);
        assert!(waits.node_local_until(wait, false) >= node_before);
        assert_eq!(waits.process_local_until(wait), process);
        waits.launched(TaskLocality::ProcessLocal);
        assert!(waits.process_local_until(wait) >= process);
    }
}
